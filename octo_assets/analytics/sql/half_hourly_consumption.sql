-- One row per half hour of the day: how many meterpoints reported, and their total kWh.
-- Grouping by the UTC instant keeps the two 01:00s of a clocks-back day apart. A meterpoint
-- has at most one reading per half hour (the readings' key, checked before they are
-- published), so counting readings counts meterpoints, without the cost of a DISTINCT.
SELECT
    interval_start_utc,
    interval_start_local,
    $reading_date::DATE                 AS reading_date,
    count(*)                            AS meterpoint_count,
    sum(consumption_kwh)                AS consumption_kwh,
    count(*)                            AS reading_count
FROM readings
GROUP BY interval_start_utc, interval_start_local
ORDER BY interval_start_utc
