//! `mask-columns` through `querygate serve`, on the demo data: the value that comes back is the
//! masked one, an alias does not unmask it, and a filter on it is refused.

use crate::serve::{
    audit_lines, call, connect, demo_postgres, error_text, structured, write_config,
};
use crate::support::policies;
use rmcp::model::ProtocolVersion;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn masked_columns_come_back_masked_whatever_they_are_called() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &pg, false, "");
    let text = std::fs::read_to_string(&config).expect("read config");
    let policy = format!(
        "[[policy]]\nname = \"mask-columns\"\npath = \"{}/mask_columns.wasm\"\n\
         [policy.config.columns.employees]\nssn = {{ keep_last = 4 }}\nsalary = \"null\"\n\
         email = {{ hash = \"md5\" }}\n\n",
        policies().display()
    );
    std::fs::write(&config, policy + &text).expect("write config");
    let audit = dir.path().join("audit.jsonl");
    let client = connect(&config, &audit, ProtocolVersion::V_2025_06_18).await;

    let admin = pg.superuser_client().await.expect("superuser");
    let row = admin
        .query_one("SELECT ssn, email FROM employees WHERE id = 7", &[])
        .await
        .expect("the real values");
    let (ssn, email): (String, String) = (row.get(0), row.get(1));
    let masked_ssn = format!("***{}", &ssn[ssn.len() - 4..]);
    let hashed_email = md5_hex(&admin, &email).await;

    for sql in [
        "SELECT name, ssn, salary, email FROM employees WHERE id = 7",
        "SELECT name, ssn AS remark, salary AS pay, email AS contact FROM employees WHERE id = 7",
        "SELECT s.name, s.a, s.b, s.c FROM (SELECT name, ssn AS a, salary AS b, email AS c FROM employees WHERE id = 7) s",
        "WITH staff AS (SELECT * FROM employees) SELECT name, ssn, salary, email FROM staff WHERE id = 7",
    ] {
        let result = call(&client, "query", json!({"database": "hr", "sql": sql})).await;
        let out = structured(&result);
        assert_eq!(out["rewritten_by"], json!(["mask-columns"]), "{sql}");
        let row = &out["rows"][0];
        assert_eq!(row[1], json!(masked_ssn), "{sql}: {out}");
        assert_eq!(row[2], json!(null), "{sql}: {out}");
        assert_eq!(row[3], json!(hashed_email), "{sql}: {out}");
        assert_ne!(row[1], json!(ssn));
    }
    let result = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "SELECT row_to_json(e) AS r FROM employees e WHERE id = 7"}),
    )
    .await;
    let row = &structured(&result)["rows"][0][0];
    assert_eq!(row["ssn"], json!(masked_ssn), "{row}");
    assert_eq!(row["salary"], json!(null), "{row}");

    // Filtering on a masked column is refused, with the reason.
    let result = call(
        &client,
        "query",
        json!({"database": "hr", "sql": format!("SELECT name FROM employees WHERE ssn = '{ssn}'")}),
    )
    .await;
    let message = error_text(&result);
    assert!(
        message.contains(
            "rejected by policy `mask-columns`: column `ssn` is masked, and using it in WHERE"
        ),
        "{message}"
    );
    let result = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "SELECT name, salary AS pay FROM employees ORDER BY pay DESC LIMIT 3"}),
    )
    .await;
    assert!(error_text(&result).contains("ORDER BY"));

    // Columns that are not masked read as they are, and the statement is not touched.
    let result = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "SELECT name FROM employees WHERE id = 7"}),
    )
    .await;
    assert_eq!(structured(&result)["rewritten_by"], json!([]));

    client.cancel().await.expect("close");
    let lines = audit_lines(&audit);
    let rejected = lines
        .iter()
        .find(|line| line["outcome"] == "rejected")
        .expect("an audit line for the refused filter");
    assert_eq!(rejected["rejected_by"], "mask-columns");
    assert!(lines.iter().any(|line| {
        line["outcome"] == "executed"
            && line["final_sql"]
                .as_str()
                .is_some_and(|sql| sql.contains("right(employees.ssn::TEXT, 4)"))
    }));
}

/// PostgreSQL's md5 of `text`, as the policy's mask computes it.
async fn md5_hex(admin: &tokio_postgres::Client, text: &str) -> String {
    admin
        .query_one("SELECT md5($1::text)", &[&text])
        .await
        .expect("md5")
        .get(0)
}
