//! `row-limit`: every query returns at most `max_rows` rows.
//!
//! The outermost query (the one whose rows are returned) is bounded: without a LIMIT it gets
//! `LIMIT max_rows`; a literal LIMIT or `FETCH FIRST n ROWS ONLY` above `max_rows` is lowered to
//! it; one at or below it is left alone. A count that is not a literal number (`LIMIT $1`,
//! `LIMIT 10 + 5`) is rejected rather than replaced, because replacing it would silently change
//! what the query means; `FETCH … WITH TIES` (which may return more than n rows) and `PERCENT`
//! are rejected for the same reason. `LIMIT ALL` and `LIMIT NULL` mean no limit and are replaced.
//! EXPLAIN and SHOW are allowed unchanged: they return no table rows.

use querygate_policy::sqlparser::ast::{self, Expr, LimitClause, Query, Value};
use querygate_policy::{Context, Policy, Statement, StatementExt, StatementKind, Verdict};
use serde::Deserialize;

/// `[policy.config]` of `row-limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The most rows a query may return. Default 1000.
    #[serde(default = "default_max_rows")]
    max_rows: u64,
}

fn default_max_rows() -> u64 {
    1000
}

/// The `row-limit` policy.
pub struct RowLimit;

impl Policy for RowLimit {
    fn evaluate(statement: &Statement, context: &Context) -> Verdict {
        let config: Config = match querygate_policy::config(context) {
            Ok(config) => config,
            Err(reason) => return Verdict::Reject(reason),
        };
        if config.max_rows == 0 {
            return Verdict::Reject("invalid policy config: `max_rows` must be at least 1".into());
        }
        if statement.kind != StatementKind::Query {
            return Verdict::Allow;
        }
        if statement.ast_json.is_empty() {
            return bound_text(statement, config.max_rows);
        }
        // The common cases, decided on a few members of the tree's JSON without building the
        // tree (several times cheaper in the guest), with the verdict the tree edit would give.
        if let Some(tail) = read_tail(&statement.ast_json) {
            if tail.ends_at_order_by() {
                return Verdict::Rewrite(format!("{} LIMIT {}", statement.sql, config.max_rows));
            }
            if tail.fetch.is_null()
                && !tail.limit_clause.is_null()
                && statement.limit.is_some_and(|rows| rows <= config.max_rows)
            {
                // A literal LIMIT within bounds, and no FETCH: left alone.
                return Verdict::Allow;
            }
        }
        let mut tree = match statement.ast() {
            Ok(tree) => tree,
            Err(reason) => return Verdict::Reject(reason),
        };
        let ast::Statement::Query(query) = &mut tree else {
            return Verdict::Reject("row-limit: a query statement has no query".into());
        };
        match bound(query, config.max_rows) {
            Ok(()) => querygate_policy::ast::rewrite(statement, &tree),
            Err(reason) => Verdict::Reject(reason),
        }
    }
}

querygate_policy::export_policy!(RowLimit);

/// The outermost query's clauses that its rendering writes after ORDER BY. Each must be there
/// (a missing member fails the read); the rest of the tree is skipped unread.
#[derive(Deserialize)]
struct Tail {
    limit_clause: serde_json::Value,
    fetch: serde_json::Value,
    settings: serde_json::Value,
    locks: serde_json::Value,
    for_clause: serde_json::Value,
    format_clause: serde_json::Value,
    pipe_operators: serde_json::Value,
}

#[derive(Deserialize)]
enum TopLevel {
    Query(Tail),
}

/// The outermost query's tail, when the tree is a query and has every member [`Tail`] reads.
fn read_tail(ast_json: &str) -> Option<Tail> {
    match serde_json::from_str::<TopLevel>(ast_json) {
        Ok(TopLevel::Query(tail)) => Some(tail),
        Err(_) => None,
    }
}

impl Tail {
    /// Whether the query's rendering ends with its ORDER BY (or its body): no LIMIT, OFFSET,
    /// FETCH, SETTINGS, locking, FOR, FORMAT or pipe operator. Then `LIMIT n` appended to the
    /// canonical SQL is exactly the rendering of the tree with that LIMIT set.
    fn ends_at_order_by(&self) -> bool {
        let empty = |member: &serde_json::Value| member.as_array().is_some_and(Vec::is_empty);
        self.limit_clause.is_null()
            && self.fetch.is_null()
            && self.settings.is_null()
            && empty(&self.locks)
            && self.for_clause.is_null()
            && self.format_clause.is_null()
            && empty(&self.pipe_operators)
    }
}

/// A query only PostgreSQL's grammar could read has no tree to edit: a literal LIMIT within
/// bounds is kept, anything else is wrapped, `SELECT * FROM (…) AS row_limited LIMIT max`.
fn bound_text(statement: &Statement, max: u64) -> Verdict {
    match statement.limit {
        Some(limit) if limit <= max => Verdict::Allow,
        _ => Verdict::Rewrite(format!(
            "SELECT * FROM ({}\n) AS row_limited LIMIT {max}",
            statement.sql
        )),
    }
}

/// Makes `query` return at most `max` rows, or says why that cannot be done faithfully.
fn bound(query: &mut Query, max: u64) -> Result<(), String> {
    if let Some(fetch) = &mut query.fetch {
        if fetch.percent {
            return Err(format!(
                "`FETCH FIRST … PERCENT` cannot be bounded: use `LIMIT n` with n at most {max}"
            ));
        }
        if fetch.with_ties {
            return Err(format!(
                "`FETCH … WITH TIES` can return more rows than asked for: use `ROWS ONLY` or \
                 `LIMIT n` with n at most {max}"
            ));
        }
        // `FETCH FIRST ROW ONLY` (no quantity) is one row.
        if let Some(quantity) = &mut fetch.quantity {
            clamp(quantity, max)?;
        }
    }
    match &mut query.limit_clause {
        Some(LimitClause::LimitOffset {
            limit: Some(limit), ..
        })
        | Some(LimitClause::OffsetCommaLimit { limit, .. }) => {
            if is_null(limit) {
                *limit = number(max);
                Ok(())
            } else {
                clamp(limit, max)
            }
        }
        // LIMIT ALL, or only an OFFSET.
        Some(LimitClause::LimitOffset {
            limit: limit @ None,
            ..
        }) => {
            if query.fetch.is_none() {
                *limit = Some(number(max));
            }
            Ok(())
        }
        None => {
            if query.fetch.is_none() {
                query.limit_clause = Some(LimitClause::LimitOffset {
                    limit: Some(number(max)),
                    offset: None,
                    limit_by: Vec::new(),
                });
            }
            Ok(())
        }
    }
}

/// Lowers a literal row count above `max` to `max`; refuses anything but a literal.
fn clamp(count: &mut Expr, max: u64) -> Result<(), String> {
    let literal = match count {
        Expr::Value(value) => match &value.value {
            Value::Number(digits, _) => digits.parse::<u64>().ok(),
            _ => None,
        },
        _ => None,
    };
    match literal {
        Some(rows) if rows <= max => Ok(()),
        Some(_) => {
            *count = number(max);
            Ok(())
        }
        None => Err(format!(
            "the row count `{count}` is not a literal number: write `LIMIT n` with n at most {max}"
        )),
    }
}

fn is_null(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(value) if value.value == Value::Null)
}

fn number(rows: u64) -> Expr {
    Expr::value(Value::Number(rows.to_string(), false))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::path::Path;

    use querygate_policy::testing::{self, cases};

    use super::*;

    fn evaluate(sql: &str, config: &str) -> Verdict {
        RowLimit::evaluate(&testing::statement(sql), &testing::context(config))
    }

    fn rewritten(sql: &str) -> String {
        match evaluate(sql, r#"{"max_rows": 100}"#) {
            Verdict::Rewrite(sql) => sql,
            other => panic!("`{sql}`: expected a rewrite, got {other:?}"),
        }
    }

    fn rejected(sql: &str) -> String {
        match evaluate(sql, r#"{"max_rows": 100}"#) {
            Verdict::Reject(reason) => reason,
            other => panic!("`{sql}`: expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn cases_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        cases::run(
            &dir.join("../querygate.toml"),
            &dir.join("../schema.sql"),
            &dir.join("cases.toml"),
            &[("row-limit", RowLimit::evaluate)],
        );
    }

    #[test]
    fn appending_the_limit_renders_what_the_tree_edit_renders() {
        for sql in [
            "select * from t",
            "select a, count(*) from t group by a order by 2 desc",
            "select 1 union all select 2 order by 1",
            "with x as (select * from t limit 5) select * from x",
            "select * from (select * from t limit 5) s",
            "values (1), (2)",
            "select * from t where a in (select b from u order by b limit 3)",
        ] {
            let statement = testing::statement(sql);
            assert!(
                read_tail(&statement.ast_json).is_some_and(|t| t.ends_at_order_by()),
                "{sql}"
            );
            let mut tree = statement.ast().expect("tree");
            let ast::Statement::Query(query) = &mut tree else {
                panic!("{sql} is a query")
            };
            bound(query, 100).expect("bounded");
            assert_eq!(rewritten(sql), tree.to_string(), "{sql}");
        }
        for sql in [
            "select * from t limit 5",
            "select * from t offset 5",
            "select * from t fetch first 5 rows only",
            "select * from t limit null",
        ] {
            let statement = testing::statement(sql);
            assert!(
                !read_tail(&statement.ast_json).is_some_and(|t| t.ends_at_order_by()),
                "{sql}"
            );
        }
        assert!(read_tail("{\"Query\":{}}").is_none());
        assert!(read_tail("not json").is_none());
        // A literal LIMIT within bounds is allowed on the same few members; the tree edit
        // agrees.
        for sql in [
            "select * from t limit 5",
            "select * from t order by a limit 100 offset 3",
        ] {
            assert_eq!(
                evaluate(sql, r#"{"max_rows": 100}"#),
                Verdict::Allow,
                "{sql}"
            );
            let statement = testing::statement(sql);
            let mut tree = statement.ast().expect("tree");
            let ast::Statement::Query(query) = &mut tree else {
                panic!("{sql} is a query")
            };
            bound(query, 100).expect("bounded");
            assert_eq!(tree.to_string(), statement.sql, "{sql}");
        }
    }

    #[test]
    fn the_default_is_a_thousand_rows() {
        assert_eq!(
            evaluate("select * from t", "{}"),
            Verdict::Rewrite("SELECT * FROM t LIMIT 1000".into())
        );
    }

    #[test]
    fn a_limit_at_the_maximum_is_allowed_and_one_above_is_lowered() {
        assert_eq!(
            evaluate("select * from t limit 100", r#"{"max_rows": 100}"#),
            Verdict::Allow
        );
        assert_eq!(
            rewritten("select * from t limit 101"),
            "SELECT * FROM t LIMIT 100"
        );
    }

    #[test]
    fn offsets_and_limit_all_keep_their_offset() {
        assert_eq!(
            rewritten("select * from t offset 5"),
            "SELECT * FROM t LIMIT 100 OFFSET 5"
        );
        // sqlparser's rendering drops `LIMIT ALL`, which PostgreSQL's tree keeps: the statement
        // runs as written, and is bounded as text.
        assert_eq!(
            rewritten("select * from t limit all offset 5"),
            "SELECT * FROM (select * from t limit all offset 5\n) AS row_limited LIMIT 100"
        );
        assert_eq!(
            rewritten("select * from t limit null"),
            "SELECT * FROM t LIMIT 100"
        );
    }

    #[test]
    fn fetch_first_is_bounded_like_limit() {
        assert_eq!(
            rewritten("select * from t fetch first 500 rows only"),
            "SELECT * FROM t FETCH FIRST 100 ROWS ONLY"
        );
        assert_eq!(
            evaluate("select * from t fetch first row only", "{}"),
            Verdict::Allow
        );
        assert!(
            rejected("select * from t order by a fetch first 5 rows with ties")
                .contains("WITH TIES")
        );
    }

    #[test]
    fn a_count_that_is_not_a_literal_is_rejected() {
        for sql in [
            "select * from t limit 10 + 5",
            "select * from t limit '5'",
            "select * from t limit (select 5)",
        ] {
            assert!(rejected(sql).contains("is not a literal number"), "{sql}");
        }
        assert!(rejected("select * from t limit 1e3").contains("`1e3`"));
    }

    #[test]
    fn only_the_outermost_query_is_bounded() {
        assert_eq!(
            rewritten("select * from (select * from t limit 5000) s"),
            "SELECT * FROM (SELECT * FROM t LIMIT 5000) s LIMIT 100"
        );
        assert_eq!(
            rewritten("select a from t union all select a from u"),
            "SELECT a FROM t UNION ALL SELECT a FROM u LIMIT 100"
        );
    }

    #[test]
    fn explain_and_show_are_allowed() {
        assert_eq!(evaluate("explain select * from t", "{}"), Verdict::Allow);
        assert_eq!(evaluate("show search_path", "{}"), Verdict::Allow);
    }

    #[test]
    fn a_bad_config_rejects_every_statement() {
        let Verdict::Reject(reason) = evaluate("select 1", r#"{"max_row": 5}"#) else {
            panic!("expected a rejection");
        };
        assert!(
            reason.starts_with("invalid policy config: unknown field `max_row`"),
            "{reason}"
        );
        assert_eq!(
            evaluate("select 1", r#"{"max_rows": 0}"#),
            Verdict::Reject("invalid policy config: `max_rows` must be at least 1".into())
        );
    }
}
