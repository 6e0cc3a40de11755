SELECT jsonb_path_query_first(payload, '$.session') AS session, jsonb_path_exists(payload, '$.ip') AS has_ip
FROM events
WHERE id < 10