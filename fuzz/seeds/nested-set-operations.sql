(SELECT name FROM departments WHERE tenant_id = 'acme' UNION SELECT name FROM departments WHERE id > 6)
EXCEPT
SELECT name FROM departments WHERE name = 'Legal'
ORDER BY 1