SELECT a.name, b.name AS colleague, a.hired_on
FROM employees a
JOIN employees b ON a.hired_on = b.hired_on AND a.id < b.id
ORDER BY a.hired_on