//! The built-in deny list of functions with side effects.
//!
//! PostgreSQL folds unquoted names to lower case and finds built-ins in `pg_catalog` whether or
//! not the call names that schema. The guard is stricter than name resolution: it compares the
//! last part of the name case-insensitively (so `"PG_SLEEP"` and `pg_catalog."pg_sleep"` are both
//! refused) and ignores the schema (so `public.nextval`, which could be a wrapper, is refused
//! too). Refusing a harmless user function that shares a name is the price of never letting a
//! disguised built-in through.

/// How an entry matches a lower-cased function name.
enum Match {
    Exact(&'static str),
    Prefix(&'static str),
    Suffix(&'static str),
}

use Match::{Exact, Prefix, Suffix};

/// Each entry: what it matches and what the function does, completing "it …".
const DENIED: &[(Match, &str)] = &[
    (Prefix("pg_sleep"), "sleeps while holding a connection"),
    (Exact("pg_cancel_backend"), "signals another server process"),
    (
        Exact("pg_terminate_backend"),
        "signals another server process",
    ),
    (Exact("pg_signal_backend"), "signals another server process"),
    (Exact("pg_reload_conf"), "signals the server"),
    (Exact("pg_rotate_logfile"), "signals the server"),
    (
        Exact("pg_log_backend_memory_contexts"),
        "signals another server process",
    ),
    (Prefix("pg_read_"), "reads server files"),
    (Prefix("pg_ls_"), "lists server directories"),
    (Exact("pg_stat_file"), "reads server file metadata"),
    (Prefix("pg_file_"), "writes server files"),
    (Exact("pg_logdir_ls"), "lists server directories"),
    (
        Prefix("lo_"),
        "reads or writes large objects or server files",
    ),
    (Exact("loread"), "reads large objects"),
    (Exact("lowrite"), "writes large objects"),
    (Prefix("dblink"), "connects to other databases"),
    (Prefix("postgres_fdw_"), "manages foreign connections"),
    (Exact("set_config"), "changes session settings"),
    (Exact("nextval"), "advances a sequence"),
    (Exact("setval"), "changes a sequence"),
    (Prefix("pg_advisory_"), "takes or releases advisory locks"),
    (Prefix("pg_try_advisory_"), "takes advisory locks"),
    (Exact("pg_notify"), "sends notifications"),
    (Exact("pg_switch_wal"), "controls the write-ahead log"),
    (
        Exact("pg_create_restore_point"),
        "controls the write-ahead log",
    ),
    (Prefix("pg_backup_"), "controls backups"),
    (Exact("pg_start_backup"), "controls backups"),
    (Exact("pg_stop_backup"), "controls backups"),
    (Prefix("pg_wal_replay_"), "controls recovery"),
    (Exact("pg_promote"), "promotes a standby server"),
    (Suffix("_replication_slot"), "manages replication slots"),
    (Prefix("pg_replication_"), "controls replication"),
    (Prefix("pg_logical_"), "controls logical replication"),
    (Exact("txid_current"), "assigns a transaction id"),
    (Exact("pg_current_xact_id"), "assigns a transaction id"),
    (Prefix("pg_stat_reset"), "resets statistics"),
    (Exact("pg_stat_statements_reset"), "resets statistics"),
    (Exact("pg_import_system_collations"), "creates collations"),
    (Exact("pg_truncate_visibility_map"), "changes table storage"),
    (Exact("gin_clean_pending_list"), "changes index storage"),
    (Prefix("brin_"), "changes index storage"),
    (Prefix("binary_upgrade_"), "changes system catalogs"),
    (
        Prefix("query_to_xml"),
        "runs SQL given as text, out of the guard's sight",
    ),
    (
        Prefix("cursor_to_xml"),
        "reads a cursor, out of the guard's sight",
    ),
    (
        Prefix("table_to_xml"),
        "reads a table named by text, out of the policies' sight",
    ),
    (
        Prefix("schema_to_xml"),
        "reads tables named by text, out of the policies' sight",
    ),
    (
        Prefix("database_to_xml"),
        "reads every table, out of the policies' sight",
    ),
];

/// Why calling `name` is refused, if it is.
pub(crate) fn side_effect(name: &str) -> Option<&'static str> {
    let name = name.to_lowercase();
    DENIED.iter().find_map(|(pattern, why)| {
        let hit = match pattern {
            Exact(exact) => name == *exact,
            Prefix(prefix) => name.starts_with(prefix),
            Suffix(suffix) => name.ends_with(suffix),
        };
        hit.then_some(*why)
    })
}

#[cfg(test)]
mod tests {
    use super::side_effect;

    #[test]
    fn denies_built_ins_with_side_effects_in_any_case() {
        for name in [
            "pg_sleep",
            "PG_SLEEP_FOR",
            "Pg_Terminate_Backend",
            "lo_import",
            "lo_from_bytea",
            "dblink_exec",
            "set_config",
            "nextval",
            "setval",
            "pg_advisory_lock",
            "pg_try_advisory_xact_lock",
            "pg_notify",
            "pg_read_file",
            "pg_ls_dir",
            "pg_switch_wal",
            "pg_create_logical_replication_slot",
            "txid_current",
            "query_to_xml",
        ] {
            assert!(side_effect(name).is_some(), "{name} should be denied");
        }
    }

    #[test]
    fn leaves_read_only_functions_alone() {
        for name in [
            "count",
            "lower",
            "now",
            "current_setting",
            "currval",
            "generate_series",
            "pg_typeof",
            "jsonb_build_object",
            "logged_in_users",
            "txid_current_if_assigned",
        ] {
            assert_eq!(side_effect(name), None, "{name} should be allowed");
        }
    }
}
