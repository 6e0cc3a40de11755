SELECT date_trunc('day', created_at) AS day, count(*) AS n,
       avg(count(*)) OVER (ORDER BY date_trunc('day', created_at) ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS avg_7d
FROM events
GROUP BY 1
ORDER BY 1