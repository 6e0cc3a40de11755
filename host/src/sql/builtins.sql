-- The audit of PostgreSQL's built-in functions that `builtins.tsv` is generated from.
--
-- Regenerate (against each supported PostgreSQL version; the rows are merged, one line per name,
-- a name refused by any version stays refused):
--   scripts/audit-builtins postgresql://…  > host/src/sql/builtins.tsv
--
-- Every function and operator initdb creates (`pg_catalog`, `information_schema`; oids below 16384, the
-- first normal object id) is listed with a verdict: `-` when no overload of the name has a side
-- effect, otherwise what it does, completing "it …". The rules, in order:
--   1. names that are always refused, whatever their volatility (the guard's fixed deny list);
--   2. text executors: built-ins that run SQL, or read relations, named by text (out of the
--      guard's and the policies' sight);
--   3. out-of-transaction state and connections: what survives ROLLBACK;
--   4. VOLATILE built-ins are refused unless listed as read-only below after review: PostgreSQL
--      marks every function that changes state VOLATILE, so a new VOLATILE built-in is refused
--      until someone reads it;
--   5. functions that cannot be called from a query (triggers, handlers, `internal` arguments)
--      are refused: nothing legitimate names them.
\pset format unaligned
\pset tuples_only on
\pset fieldsep '\t'
WITH builtin AS (
    SELECT n.nspname::text AS schema, p.proname::text AS name, p.provolatile, p.prokind,
           p.prorettype::regtype::text AS returns,
           'internal'::regtype = ANY (p.proargtypes::oid[]) AS takes_internal
    FROM pg_catalog.pg_proc p
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE p.oid < 16384 AND n.nspname IN ('pg_catalog', 'information_schema')
),
verdict AS (
    SELECT schema, name,
    CASE
      -- 2. text executors
      WHEN name IN ('query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema')
        THEN 'runs SQL given as text, out of the guard''s sight'
      WHEN name IN ('cursor_to_xml', 'cursor_to_xmlschema')
        THEN 'reads a cursor, out of the guard''s sight'
      WHEN name IN ('ts_stat') THEN 'runs SQL given as text, out of the guard''s sight'
      WHEN name = 'ts_rewrite' THEN 'runs SQL given as text (the query form), out of the guard''s sight'
      WHEN name IN ('table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema')
        THEN 'reads a table named by text, out of the policies'' sight'
      WHEN name IN ('schema_to_xml', 'schema_to_xmlschema', 'schema_to_xml_and_xmlschema')
        THEN 'reads tables named by text, out of the policies'' sight'
      WHEN name IN ('database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema')
        THEN 'reads every table, out of the policies'' sight'
      -- 1 and 3. state that survives ROLLBACK, connections, signals, files
      WHEN name LIKE 'pg\_sleep%' THEN 'sleeps while holding a connection'
      WHEN name IN ('pg_cancel_backend', 'pg_terminate_backend', 'pg_signal_backend',
                    'pg_log_backend_memory_contexts') THEN 'signals another server process'
      WHEN name IN ('pg_reload_conf', 'pg_rotate_logfile', 'pg_rotate_logfile_old') THEN 'signals the server'
      WHEN name LIKE 'pg\_read\_%' OR name IN ('pg_stat_file', 'pg_current_logfile',
             'pg_hba_file_rules', 'pg_ident_file_mappings', 'pg_show_all_file_settings')
        THEN 'reads server files'
      WHEN name LIKE 'pg\_ls\_%' THEN 'lists server directories'
      WHEN name LIKE 'lo\_%' OR name IN ('loread', 'lowrite')
        THEN 'reads or writes large objects or server files'
      WHEN name IN ('set_config', 'setseed') THEN 'changes session state'
      WHEN name IN ('nextval', 'setval') THEN 'changes a sequence, which ROLLBACK does not undo'
      WHEN name LIKE 'pg\_advisory\_%' OR name LIKE 'pg\_try\_advisory\_%'
        THEN 'takes or releases advisory locks, which can outlive the transaction'
      WHEN name = 'pg_notify' THEN 'sends notifications'
      WHEN name IN ('pg_switch_wal', 'pg_create_restore_point') THEN 'controls the write-ahead log'
      WHEN name LIKE 'pg\_backup\_%' THEN 'controls backups'
      WHEN name LIKE 'pg\_wal\_replay\_%' OR name = 'pg_promote' THEN 'controls recovery'
      WHEN name LIKE '%replication\_slot%' OR name LIKE 'pg\_logical\_%'
        THEN 'manages replication slots or logical decoding'
      WHEN name LIKE 'pg\_replication\_origin\_%' THEN 'manages replication origins'
      WHEN name IN ('txid_current', 'pg_current_xact_id') THEN 'assigns a transaction id'
      WHEN name LIKE 'pg\_stat\_reset%' OR name IN ('pg_stat_clear_snapshot', 'pg_stat_force_next_flush')
        THEN 'resets or flushes statistics'
      WHEN name = 'pg_export_snapshot' THEN 'exports a snapshot to other sessions'
      WHEN name IN ('pg_import_system_collations') THEN 'creates collations'
      WHEN name IN ('gin_clean_pending_list') OR name LIKE 'brin\_%' THEN 'changes index storage'
      WHEN name LIKE 'binary\_upgrade\_%' OR name IN ('pg_nextoid', 'pg_stop_making_pinned_objects',
             'pg_extension_config_dump') THEN 'changes system catalogs'
      -- 5. not callable from a query
      WHEN returns IN ('trigger', 'event_trigger', 'language_handler', 'fdw_handler',
                       'index_am_handler', 'table_am_handler', 'tsm_handler')
        THEN 'is a trigger or handler, not a function for queries'
      WHEN takes_internal AND prokind = 'f' AND returns = 'internal'
        THEN 'is an internal support function, not a function for queries'
      -- 4. VOLATILE built-ins reviewed as read-only (PostgreSQL 15)
      WHEN provolatile = 'v' AND name NOT IN (
             'clock_timestamp', 'timeofday', 'random', 'gen_random_uuid', 'currval', 'lastval',
             'current_query', 'pg_blocking_pids', 'pg_safe_snapshot_blocking_pids',
             'pg_isolation_test_session_is_blocked', 'pg_collation_actual_version',
             'pg_database_collation_actual_version', 'pg_control_checkpoint', 'pg_control_init',
             'pg_control_recovery', 'pg_control_system', 'pg_current_wal_flush_lsn',
             'pg_current_wal_insert_lsn', 'pg_current_wal_lsn', 'pg_database_size',
             'pg_indexes_size', 'pg_relation_size', 'pg_table_size', 'pg_total_relation_size',
             'pg_tablespace_size', 'pg_is_in_recovery', 'pg_is_wal_replay_paused',
             'pg_get_wal_replay_pause_state', 'pg_jit_available', 'pg_last_committed_xact',
             'pg_last_wal_receive_lsn', 'pg_last_wal_replay_lsn', 'pg_last_xact_replay_timestamp',
             'pg_lock_status', 'pg_notification_queue_usage', 'pg_partition_ancestors',
             'pg_partition_tree', 'pg_prepared_xact', 'pg_sequence_last_value',
             'pg_stat_have_stats', 'pg_xact_commit_timestamp', 'pg_xact_commit_timestamp_origin',
             'pg_xact_status', 'txid_status', 'pg_get_multixact_members',
             'pg_get_wal_resource_managers', 'pg_get_shmem_allocations',
             'pg_get_backend_memory_contexts', 'pg_stat_get_recovery_prefetch', 'currtid2')
           AND name NOT LIKE 'pg\_stat\_get\_xact\_%'
        THEN 'is VOLATILE and not reviewed as free of side effects'
      ELSE '-'
    END AS why
    FROM builtin
)
SELECT 'function', schema, name, COALESCE(min(why) FILTER (WHERE why <> '-'), '-')
FROM verdict
GROUP BY schema, name
UNION ALL
-- Built-in operators: every one runs a built-in function, none of them on the list above
-- (checked by the last column: `-` when no operator of that name runs a refused function).
SELECT 'operator', n.nspname::text, o.oprname::text,
       COALESCE(min(v.why) FILTER (WHERE v.why <> '-'), '-')
FROM pg_catalog.pg_operator o
JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
JOIN verdict v ON v.name = p.proname::text
WHERE o.oid < 16384
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
