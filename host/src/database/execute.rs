//! One statement, from prepare to the last row: the portal, the row and byte caps, and the
//! `ROLLBACK` pipelined behind the rows.

use super::value::{self, Raw};
use super::{Database, DbError, Done, Session};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

/// A result column: its name and PostgreSQL type (`int4`, `text[]`, `myschema.mood`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultColumn {
    pub name: String,
    pub type_name: String,
}

/// One row as compact JSON text: `[value, …]`.
#[derive(Debug, Clone)]
pub struct RowJson(pub Box<RawValue>);

impl PartialEq for RowJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// Which cap stopped a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    /// There were more than `max_rows` rows.
    MaxRows,
    /// The next row would have taken the values past `max_bytes` of JSON.
    MaxBytes,
}

/// The rows of one statement, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    pub columns: Vec<ResultColumn>,
    pub rows: Vec<Vec<Value>>,
    /// Each row of `rows` as compact JSON text, written once while streaming (its length is
    /// what the byte cap counts), so an answer can carry the rows as text without writing
    /// them again.
    #[serde(skip)]
    pub rows_json: Vec<RowJson>,
    pub row_count: usize,
    /// True when rows were left out because of `max_rows` or `max_bytes`.
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_by: Option<Truncation>,
    pub elapsed_ms: f64,
}

impl Database {
    /// Run one statement read-only, under this database's limits.
    pub async fn execute(&self, sql: &str) -> Result<QueryResult, DbError> {
        let started = Instant::now();
        let (max_rows, max_bytes) = (self.max_rows, self.max_bytes);
        let mut result = self
            .run(async move |session: Session<'_>| stream(session, sql, max_rows, max_bytes).await)
            .await?;
        result.elapsed_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        Ok(result)
    }

    /// As [`Database::execute`], only if the catalog is still the one `freshness` (the stamp
    /// of the catalog the statement was decided on) describes; otherwise nothing runs and the
    /// error says the catalog changed ([`DbError::is_stale_catalog`]). No extra round trip:
    /// the check goes with the session limits.
    pub async fn execute_fresh(&self, sql: &str, freshness: &str) -> Result<QueryResult, DbError> {
        let Some(check) = super::catalog::freshness_check(freshness) else {
            return self.execute(sql).await;
        };
        let started = Instant::now();
        let (max_rows, max_bytes) = (self.max_rows, self.max_bytes);
        let mut result = self
            .run_checked(Some(&check), async move |session: Session<'_>| {
                stream(session, sql, max_rows, max_bytes).await
            })
            .await?;
        result.elapsed_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        Ok(result)
    }
}

async fn stream(
    session: Session<'_>,
    sql: &str,
    max_rows: usize,
    max_bytes: usize,
) -> Result<Done<QueryResult>, DbError> {
    let statement = session.prepare(sql).await?;
    let columns: Vec<ResultColumn> = statement
        .columns()
        .iter()
        .map(|c| ResultColumn {
            name: c.name().to_string(),
            type_name: value::type_name(c.type_()),
        })
        .collect();
    if !statement.params().is_empty() {
        return Err(DbError::Parameters {
            count: statement.params().len(),
        });
    }
    let portal = session
        .tx
        .bind(&statement, &[])
        .await
        .map_err(|e| session.error(&e))?;
    // `max_rows` is below i32::MAX (checked with the configuration).
    let fetch = i32::try_from(max_rows + 1).unwrap_or(i32::MAX);
    let rows = session
        .tx
        .query_portal_raw(&portal, fetch)
        .await
        .map_err(|e| session.error(&e))?;
    let Session {
        tx,
        trip,
        database,
        timeout_ms,
        ..
    } = session;
    let error = |e: &tokio_postgres::Error| match trip.get() {
        Some(t) => DbError::Oversized {
            size: t.size,
            limit: t.limit,
        },
        None => super::error::from_driver(database, timeout_ms, e),
    };

    // Send ROLLBACK now, behind the Execute: it is answered right after the last row.
    let mut rollback = pin!(tx.rollback());
    let mut rolled_back = None;
    poll_fn(|cx| {
        if let Poll::Ready(r) = rollback.as_mut().poll(cx) {
            rolled_back = Some(r);
        }
        Poll::Ready(())
    })
    .await;

    let mut out = QueryResult {
        columns,
        rows: Vec::new(),
        rows_json: Vec::new(),
        row_count: 0,
        truncated: false,
        truncated_by: None,
        elapsed_ms: 0.0,
    };
    let mut bytes = 0usize;
    let mut rows = pin!(rows);
    while let Some(row) = rows.next().await {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                if trip.get().is_some_and(|t| t.row) {
                    out.truncate(Truncation::MaxBytes);
                    return Ok(Done::Dirty(out));
                }
                return Err(error(&e));
            }
        };
        if out.rows.len() == max_rows {
            out.truncate(Truncation::MaxRows); // the one extra row fetched to know
            continue;
        }
        let values: Vec<Value> = statement
            .columns()
            .iter()
            .enumerate()
            .map(|(i, column)| match row.try_get::<_, Raw<'_>>(i) {
                Ok(raw) => value::to_json(column.type_(), raw.0),
                // Cannot happen (`Raw` accepts every type); still, never a silent null.
                Err(e) => serde_json::json!({
                    "type": value::type_name(column.type_()),
                    "error": e.to_string(),
                }),
            })
            .collect();
        let json = serde_json::value::to_raw_value(&values).map_err(|e| DbError::Encode {
            message: e.to_string(),
        })?;
        let size = values_len(&json, values.len());
        if bytes + size > max_bytes {
            out.truncate(Truncation::MaxBytes);
            return Ok(Done::Dirty(out));
        }
        bytes += size;
        out.rows.push(values);
        out.rows_json.push(RowJson(json));
        out.row_count += 1;
    }
    match rolled_back {
        Some(r) => r,
        None => rollback.await,
    }
    .map_err(|e| error(&e))?;
    Ok(Done::Clean(out))
}

impl QueryResult {
    fn truncate(&mut self, by: Truncation) {
        self.truncated = true;
        self.truncated_by = Some(by);
    }
}

/// Bytes of the values' JSON in a row's compact JSON `[v1,v2,…]` of `columns` values: the
/// row less its brackets and commas.
fn values_len(row: &RawValue, columns: usize) -> usize {
    row.get().len().saturating_sub(columns.max(1) + 1)
}
