-- Agreements active on :as_of_date, as the brief defines it: started strictly before
-- the date, and open-ended or ending strictly after it. One row per agreement.
SELECT
    $as_of_date::DATE      AS as_of_date,
    a.agreement_id,
    a.meterpoint_id,
    p.display_name         AS product_display_name,
    p.is_variable          AS product_is_variable,
    a.product_id,
    a.account_id,
    a.agreement_valid_from,
    a.agreement_valid_to
FROM agreement AS a
LEFT JOIN product AS p USING (product_id)
WHERE a.agreement_valid_from < $as_of_date
  AND (a.agreement_valid_to IS NULL OR a.agreement_valid_to > $as_of_date)
ORDER BY a.agreement_id
