SELECT h AS hour_of_day, count(ev.id) AS events
FROM generate_series(0, 23) AS h
LEFT JOIN events ev ON extract(hour FROM ev.created_at AT TIME ZONE 'UTC') = h
GROUP BY h
ORDER BY h