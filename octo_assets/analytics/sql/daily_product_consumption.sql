-- One row per product display name for the day. A reading belongs to the agreement whose
-- [valid_from, valid_to) holds the day (valid_to NULL = open; zero-length agreements hold
-- nothing). Readings that no agreement covers are kept under a NULL display name, so the
-- day's kWh here always equals the half-hourly table's.
WITH covering_agreement AS (
    SELECT meterpoint_id, product_id
    FROM agreement
    WHERE agreement_valid_from <= $reading_date
      AND (agreement_valid_to IS NULL OR $reading_date < agreement_valid_to)
    -- overlapping agreements are a source error (a check reports them); count each reading once
    QUALIFY row_number() OVER (
        PARTITION BY meterpoint_id ORDER BY agreement_valid_from DESC, agreement_id DESC
    ) = 1
),
-- a meterpoint has one product on a day: total its readings first, then group the meterpoints
meterpoint_day AS (
    SELECT meterpoint_id, sum(consumption_kwh) AS consumption_kwh, count(*) AS reading_count
    FROM readings
    GROUP BY meterpoint_id
)
SELECT
    $reading_date::DATE                 AS reading_date,
    p.display_name                      AS product_display_name,
    count(*)                            AS meterpoint_count,
    sum(m.consumption_kwh)              AS consumption_kwh,
    sum(m.reading_count)::BIGINT        AS reading_count
FROM meterpoint_day AS m
LEFT JOIN covering_agreement AS c USING (meterpoint_id)
LEFT JOIN product AS p USING (product_id)
GROUP BY p.display_name
ORDER BY product_display_name NULLS LAST
