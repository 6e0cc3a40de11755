use super::*;

fn ok(sql: &str) -> Analysis {
    analyze(sql, &Catalog::default(), &SqlLimits::default())
        .unwrap_or_else(|e| panic!("`{sql}` should pass: {e}"))
}

fn refused(sql: &str) -> SqlError {
    match analyze(sql, &Catalog::default(), &SqlLimits::default()) {
        Ok(a) => panic!("`{sql}` should be refused, got `{}`", a.sql),
        Err(e) => e,
    }
}

#[test]
fn canonical_sql_is_the_rendering_of_the_tree() {
    assert_eq!(ok("select  *  from employees where id=1").sql, "SELECT * FROM employees WHERE id = 1");
}

#[test]
fn smoke_refusals() {
    assert!(matches!(refused("delete from t"), SqlError::Guard { .. }));
    assert!(matches!(refused("select 1; select 2"), SqlError::NotOneStatement { count: 2 }));
    assert!(matches!(refused("select pg_sleep(1)"), SqlError::Guard { .. }));
}

#[test]
fn a_megabyte_flat_expression_is_analysed_without_overflowing_the_stack() {
    let sql = format!("SELECT {}1", "1+".repeat(512 * 1024));
    let limits = SqlLimits {
        max_sql_bytes: 2 * 1024 * 1024,
        ..SqlLimits::default()
    };
    // Run on a thread with a small stack, like a tokio worker: the analysis must grow its own.
    let result = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || analyze(&sql, &Catalog::default(), &limits).map(|a| a.sql.len()))
        .expect("spawn")
        .join()
        .expect("analysis must not crash the thread");
    assert_eq!(result, Err(SqlError::TooDeep { limit: MAX_TREE_DEPTH }));
}

#[test]
fn a_long_union_chain_is_refused_cleanly() {
    let sql = vec!["SELECT 1"; 12_000].join(" UNION ALL ");
    let result = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || analyze(&sql, &Catalog::default(), &SqlLimits::default()))
        .expect("spawn")
        .join()
        .expect("analysis must not crash the thread");
    assert_eq!(result, Err(SqlError::TooDeep { limit: MAX_TREE_DEPTH }));
}
