//! `function-allowlist`: a statement may call only allow-listed functions.
//!
//! Every function call counts, wherever it is (select list, WHERE, ORDER BY, subqueries, table
//! functions in FROM). Names are compared lower-cased; a `pg_catalog.` prefix is ignored, any
//! other schema must be listed as written (`public.my_fn`). querygate's built-in guard already
//! refuses functions with side effects; this policy narrows what remains to what a deployment
//! means to offer. Without a configured list, [`DEFAULT_FUNCTIONS`] applies: read-only aggregate,
//! window, math, string, date and JSON functions, but not `generate_series` (a cheap way to make
//! the server do unbounded work) nor catalog or session functions (`version()`, `current_user`).

use querygate_policy::{Context, FunctionCall, Policy, Statement, Verdict};
use serde::Deserialize;

/// The functions allowed when the configuration lists none.
#[rustfmt::skip]
pub const DEFAULT_FUNCTIONS: &[&str] = &[
    // aggregates
    "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or", "every",
    "bit_and", "bit_or", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
    "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_r2", "regr_count",
    "percentile_cont", "percentile_disc", "mode", "json_agg", "jsonb_agg", "json_object_agg",
    "jsonb_object_agg",
    // window functions
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    // conditionals
    "coalesce", "nullif", "greatest", "least",
    // math
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "mod", "div", "power", "sqrt", "cbrt",
    "exp", "ln", "log", "log10", "sign", "width_bucket",
    // strings
    "length", "char_length", "character_length", "octet_length", "lower", "upper", "initcap",
    "trim", "btrim", "ltrim", "rtrim", "lpad", "rpad", "left", "right", "substr", "substring",
    "concat", "concat_ws", "replace", "split_part", "strpos", "position", "starts_with", "reverse",
    "format", "regexp_replace", "regexp_match", "regexp_like", "string_to_array",
    "array_to_string", "to_char", "to_number",
    // dates and times
    "now", "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp",
    "date_trunc", "date_part", "date_bin", "extract", "age", "make_date", "make_time",
    "make_timestamp", "make_timestamptz", "make_interval", "to_date", "to_timestamp",
    "justify_days", "justify_hours", "justify_interval", "isfinite",
    // JSON
    "to_json", "to_jsonb", "row_to_json", "json_build_object", "jsonb_build_object",
    "json_build_array", "jsonb_build_array", "json_extract_path", "json_extract_path_text",
    "jsonb_extract_path", "jsonb_extract_path_text", "json_array_length", "jsonb_array_length",
    "json_typeof", "jsonb_typeof", "json_array_elements", "jsonb_array_elements",
    "json_array_elements_text", "jsonb_array_elements_text", "json_each", "jsonb_each",
    "json_each_text", "jsonb_each_text", "json_object_keys", "jsonb_object_keys",
    // arrays
    "array_length", "cardinality", "unnest", "array_position", "array_remove", "array_append",
    "array_prepend", "array_cat",
];

/// `[policy.config]` of `function-allowlist`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The allowed functions, replacing the default list: `count`, or `schema.name`.
    functions: Option<Vec<String>>,
}

/// The `function-allowlist` policy.
pub struct FunctionAllowlist;

impl Policy for FunctionAllowlist {
    fn evaluate(statement: &Statement, context: &Context) -> Verdict {
        let config: Config = match querygate_policy::config(context) {
            Ok(config) => config,
            Err(reason) => return Verdict::Reject(reason),
        };
        let allowed: Vec<String> = match &config.functions {
            Some(functions) => functions.iter().map(|name| normalize(name)).collect(),
            None => DEFAULT_FUNCTIONS
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
        };
        let mut refused: Vec<String> = Vec::new();
        for call in &statement.functions {
            let name = written(call);
            if !allowed.contains(&normalize(&name)) && !refused.contains(&name) {
                refused.push(name);
            }
        }
        match refused.as_slice() {
            [] => Verdict::Allow,
            [one] => Verdict::Reject(format!(
                "function `{one}` is not on this deployment's list of allowed functions: write \
                 the query without it"
            )),
            several => Verdict::Reject(format!(
                "functions {} are not on this deployment's list of allowed functions: write the \
                 query without them",
                several
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

querygate_policy::export_policy!(FunctionAllowlist);

/// The call as written: `now`, `pg_catalog.now`, `public.my_fn`.
fn written(call: &FunctionCall) -> String {
    match &call.schema {
        Some(schema) => format!("{schema}.{}", call.name),
        None => call.name.clone(),
    }
}

/// Lower-cased, without a `pg_catalog.` prefix: the form both the list and calls compare in.
fn normalize(name: &str) -> String {
    let name = name.trim().to_lowercase();
    match name.strip_prefix("pg_catalog.") {
        Some(name) => name.to_owned(),
        None => name,
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::path::Path;

    use querygate_policy::testing::{self, cases};

    use super::*;

    fn evaluate(sql: &str, config: &str) -> Verdict {
        // The built-in guard refuses user functions it is not told to trust.
        let statement = testing::statement_trusting(sql, &["public.mask", "evil.mask"]);
        FunctionAllowlist::evaluate(&statement, &testing::context(config))
    }

    #[test]
    fn cases_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        cases::run(
            &dir.join("../querygate.toml"),
            &dir.join("../schema.sql"),
            &dir.join("cases.toml"),
            &[("function-allowlist", FunctionAllowlist::evaluate)],
        );
    }

    #[test]
    fn the_default_list_allows_analytics_and_refuses_the_rest() {
        let sql = "select count(*), round(avg(x), 2), date_trunc('day', t), \
                   jsonb_build_object('a', 1), row_number() over () from t";
        assert_eq!(evaluate(sql, "{}"), Verdict::Allow);
        assert_eq!(
            evaluate("select version()", "{}"),
            Verdict::Reject(
                "function `version` is not on this deployment's list of allowed functions: \
                 write the query without it"
                    .into()
            )
        );
        assert!(matches!(
            evaluate("select * from generate_series(1, 10)", "{}"),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn a_configured_list_replaces_the_default() {
        let config = r#"{"functions": ["COUNT", "pg_catalog.lower", "public.mask"]}"#;
        assert_eq!(
            evaluate("select count(*), lower(a), public.mask(b) from t", config),
            Verdict::Allow
        );
        let Verdict::Reject(reason) = evaluate("select sum(a), upper(b), sum(c) from t", config)
        else {
            panic!("expected a rejection");
        };
        assert!(
            reason.starts_with("functions `sum`, `upper` are not"),
            "{reason}"
        );
    }

    #[test]
    fn pg_catalog_is_ignored_other_schemas_are_not() {
        let config = r#"{"functions": ["count", "mask"]}"#;
        assert_eq!(
            evaluate("select pg_catalog.count(*) from t", config),
            Verdict::Allow
        );
        let Verdict::Reject(reason) = evaluate("select evil.mask(a) from t", config) else {
            panic!("expected a rejection");
        };
        assert!(reason.contains("`evil.mask`"), "{reason}");
    }

    #[test]
    fn an_empty_list_allows_no_function() {
        assert_eq!(
            evaluate("select a from t", r#"{"functions": []}"#),
            Verdict::Allow
        );
        assert!(matches!(
            evaluate("select count(*) from t", r#"{"functions": []}"#),
            Verdict::Reject(_)
        ));
    }
}
