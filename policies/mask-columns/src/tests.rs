use std::path::Path;

use querygate_policy::testing::{self, cases};

use super::*;

const SCHEMA: &str = "CREATE TABLE public.customers (id integer, name text, phone text, \
    \"Email\" text, score numeric(5,2));
    CREATE TABLE public.orders (id integer, customer_id integer, total numeric);";
const CONFIG: &str = r#"{"columns": {"customers": {"phone": {"keep_last": 4},
    "Email": {"hash": "md5"}, "score": "null"}}}"#;

fn evaluate(sql: &str) -> Verdict {
    MaskColumns::evaluate(
        &testing::statement_with_schema(sql, SCHEMA),
        &testing::context(CONFIG),
    )
}

fn rewritten(sql: &str) -> String {
    match evaluate(sql) {
        Verdict::Rewrite(sql) => sql,
        other => panic!("`{sql}`: expected a rewrite, got {other:?}"),
    }
}

fn rejected(sql: &str) -> String {
    match evaluate(sql) {
        Verdict::Reject(reason) => reason,
        other => panic!("`{sql}`: expected a rejection, got {other:?}"),
    }
}

const WRAPPED: &str = "(SELECT customers.id, customers.name, CASE WHEN length(customers.phone::TEXT) > 4 \
    THEN '***' || right(customers.phone::TEXT, 4) WHEN customers.phone IS NOT NULL THEN '***' END AS phone, \
    md5(customers.\"Email\"::TEXT) AS \"Email\", CAST(NULL AS NUMERIC(5,2)) AS score FROM customers)";

#[test]
fn cases_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    cases::run(
        &dir.join("../querygate.toml"),
        &dir.join("../schema.sql"),
        &dir.join("cases.toml"),
        &[("mask-columns", MaskColumns::evaluate)],
    );
}

#[test]
fn every_mask_and_the_table_order() {
    assert_eq!(
        rewritten("select phone from customers"),
        format!("SELECT phone FROM {WRAPPED} AS customers")
    );
}

#[test]
fn names_do_not_unmask() {
    for sql in [
        "select phone as remark from customers",
        "select * from customers",
        "select c.* from customers c",
        "select c from customers c",
        "select upper(phone) from customers",
        "select x from (select phone as x from customers) s",
        "with s as (select phone from customers) select * from s",
    ] {
        let sql_after = rewritten(sql);
        assert!(sql_after.contains(WRAPPED), "`{sql}` → {sql_after}");
        assert_eq!(
            sql_after.matches("FROM customers)").count(),
            1,
            "{sql_after}"
        );
    }
}

#[test]
fn statements_that_cannot_read_a_masked_column_are_left_alone() {
    assert_eq!(evaluate("select id, name from customers"), Verdict::Allow);
    assert_eq!(evaluate("select count(*) from customers"), Verdict::Allow);
    assert_eq!(evaluate("select * from orders"), Verdict::Allow);
    assert_eq!(evaluate("show search_path"), Verdict::Allow);
}

#[test]
fn predicates_on_masked_columns_are_rejected() {
    assert_eq!(
        rejected("select id from customers where phone like '555%'"),
        "column `phone` is masked, and using it in WHERE would reveal what the mask hides: \
         leave it out of WHERE (it can be read, masked, in the select list)"
    );
    assert!(rejected("select c.id from customers c where c.phone = ''").contains("`c.phone`"));
    assert!(
        rejected("select o.id from orders o join customers c on c.phone = o.id::text")
            .contains("JOIN … ON")
    );
    assert!(rejected("select count(*) from customers group by score").contains("GROUP BY"));
    assert!(rejected("select name from customers order by \"Email\"").contains("ORDER BY"));
    assert!(rejected("select phone as p from customers order by p").contains("`p`"));
    assert!(
        rejected("select name, count(*) from customers group by name having max(phone) > ''")
            .contains("HAVING")
    );
    assert!(
        rejected("with s as (select phone as x from customers) select * from s where x = ''")
            .contains("`x`")
    );
    assert!(rejected("select 1 from customers c where c::text like '%5%'").contains("whole row"));
    assert!(rejected("select 1 from customers join customers d using (phone)").contains("USING"));
    assert!(rejected("select 1 from customers natural join orders").contains("NATURAL"));
}

#[test]
fn other_tables_columns_of_the_same_name_are_fine_when_qualified() {
    let schema = "CREATE TABLE public.customers (id integer, phone text);
        CREATE TABLE public.shops (id integer, phone text);";
    let statement = testing::statement_with_schema(
        "select s.phone from shops s where s.phone like '555%'",
        schema,
    );
    let config = r#"{"columns": {"customers": {"phone": "null"}}}"#;
    assert_eq!(
        MaskColumns::evaluate(&statement, &testing::context(config)),
        Verdict::Allow
    );
}

#[test]
fn an_unknown_masked_table_is_rejected() {
    let statement = testing::statement("select phone from customers");
    let reason = match MaskColumns::evaluate(&statement, &testing::context(CONFIG)) {
        Verdict::Reject(reason) => reason,
        other => panic!("{other:?}"),
    };
    assert!(reason.contains("does not know its columns"), "{reason}");
}

#[test]
fn a_bad_config_rejects() {
    let config = r#"{"columns": {"customers": {"phone": {"keep": 4}}}}"#;
    let verdict = MaskColumns::evaluate(&testing::statement("select 1"), &testing::context(config));
    let Verdict::Reject(reason) = verdict else {
        panic!("{verdict:?}");
    };
    assert!(
        reason.starts_with("invalid policy config: unknown variant `keep`"),
        "{reason}"
    );
}
