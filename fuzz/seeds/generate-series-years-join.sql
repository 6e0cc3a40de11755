SELECT y::date AS year, count(e.id) AS hires
FROM generate_series(DATE '2012-01-01', DATE '2024-01-01', INTERVAL '1 year') AS y
LEFT JOIN employees e ON date_trunc('year', e.hired_on) = y
GROUP BY y
ORDER BY y