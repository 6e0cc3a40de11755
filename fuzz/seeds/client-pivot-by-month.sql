SELECT date_trunc('month', created_at)::date AS month,
       count(*) FILTER (WHERE payload->>'client' = 'web') AS web,
       count(*) FILTER (WHERE payload->>'client' = 'ios') AS ios,
       count(*) FILTER (WHERE payload->>'client' = 'android') AS android
FROM events
GROUP BY 1
ORDER BY 1