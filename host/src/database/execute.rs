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
    /// The snapshot at which the catalog's freshness check found the catalog unchanged (when
    /// the statement carried one): the same catalog may be stamped with it.
    #[serde(skip)]
    pub catalog_snapshot: Option<String>,
}

impl Database {
    /// Run one statement read-only, under this database's limits.
    pub async fn execute(&self, sql: &str) -> Result<QueryResult, DbError> {
        self.execute_decided(sql, None, "").await
    }

    /// As [`Database::execute`], told how many rows the statement can return at most
    /// (`row_bound`: its outermost literal LIMIT, from the analysis). A statement bounded
    /// within `max_rows` needs no server-side row cap of ours, so it takes two round trips
    /// instead of four (see [`Database::run_pipelined`]). The bound is only a choice of road:
    /// whatever it says, no more than `max_rows` rows and `max_bytes` bytes are ever returned.
    pub async fn execute_bounded(
        &self,
        sql: &str,
        row_bound: Option<u64>,
    ) -> Result<QueryResult, DbError> {
        self.execute_decided(sql, row_bound, "").await
    }

    /// A statement as the pipeline decided it: its row bound picks the road, and its
    /// catalog's stamp (`freshness`, empty for none) is checked in the first round trip; if
    /// the catalog changed, nothing runs and the error says so
    /// ([`DbError::is_stale_catalog`]).
    pub async fn execute_decided(
        &self,
        sql: &str,
        row_bound: Option<u64>,
        freshness: &str,
    ) -> Result<QueryResult, DbError> {
        let started = Instant::now();
        let (max_rows, max_bytes) = (self.max_rows, self.max_bytes);
        let check = super::catalog::freshness_check(freshness);
        let bounded = row_bound.is_some_and(|n| n <= max_rows as u64);
        let mut result = if bounded {
            self.run_pipelined(sql, check.as_deref(), max_rows, max_bytes)
                .await?
        } else {
            self.run_checked(check.as_deref(), async move |session: Session<'_>| {
                stream(session, sql, max_rows, max_bytes).await
            })
            .await?
        };
        result.elapsed_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        Ok(result)
    }

    /// The two-round-trip road for a statement whose LIMIT already bounds its rows:
    /// 1. `BEGIN READ ONLY; SET LOCAL …` (our own text, simple protocol) and the statement's
    ///    Parse/Describe, sent together;
    /// 2. Bind/Execute of the statement and `ROLLBACK`, sent together; the rows stream in and
    ///    the ROLLBACK is answered right after the last one.
    ///
    /// Nothing waits for `BEGIN` before the Parse goes out, and Parse runs nothing. The
    /// Execute is only sent once `BEGIN` has succeeded, so the statement never runs outside
    /// the read-only transaction; every connection is also opened with
    /// `default_transaction_read_only = on` ([`super::connect`]). Types the driver does not
    /// know are looked up during the Parse round trip, before any row arrives.
    async fn run_pipelined(
        &self,
        sql: &str,
        precondition: Option<&str>,
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<QueryResult, DbError> {
        let wait = self.statement_timeout();
        let deadline = wait + super::DEADLINE_GRACE;
        let mut fresh = false;
        loop {
            let mut lease = self.pool.lease(wait, fresh).await?;
            let reused = lease.reused();
            let Some(conn) = lease.conn() else {
                return Err(super::internal(&self.name));
            };
            let begin = begin_sql(
                self.timeout_ms,
                conn.checks_client,
                &self.application_name_sql(),
                precondition,
            );
            let client = &conn.client;
            let trip = conn.trip.clone();
            let error = |e: &tokio_postgres::Error| match trip.get() {
                Some(t) => DbError::Oversized {
                    size: t.size,
                    limit: t.limit,
                },
                None => super::error::from_driver(&self.name, self.timeout_ms, e),
            };
            let opened = async {
                let (begun, prepared) =
                    tokio::join!(biased; client.simple_query(&begin), client.prepare(sql));
                (begun, prepared)
            };
            let (begun, prepared) = match tokio::time::timeout(deadline, opened).await {
                Ok(answers) => answers,
                Err(_) => {
                    return Err(DbError::Timeout {
                        timeout_ms: self.timeout_ms,
                    });
                }
            };
            let observed = match begun {
                Ok(answers) => super::last_value(&answers),
                Err(e) if reused && !fresh && super::went_away(&e) => {
                    // A pooled connection that died while idle: nothing ran; try a new one.
                    self.pool.discard_idle();
                    fresh = true;
                    continue;
                }
                Err(e) => return Err(error(&e)),
            };
            let statement = prepared.map_err(|e| error(&e))?;
            if !statement.params().is_empty() {
                return Err(DbError::Parameters {
                    count: statement.params().len(),
                });
            }
            let rows = async {
                let query = client.query_raw(&statement, std::iter::empty::<i32>());
                let end = self.rollback_sql();
                let rollback = client.batch_execute(&end);
                let caps = Caps {
                    max_rows,
                    max_bytes,
                    trip: &trip,
                };
                read_rows(query, rollback, &statement, caps, &error).await
            };
            return match tokio::time::timeout(deadline, rows).await {
                Ok(Ok(Done::Clean(mut result))) => {
                    lease.release();
                    result.catalog_snapshot = observed;
                    Ok(result)
                }
                Ok(Ok(Done::Dirty(result))) => Ok(result),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(DbError::Timeout {
                    timeout_ms: self.timeout_ms,
                }),
            };
        }
    }
}

/// The caps a result is read under.
#[derive(Clone, Copy)]
struct Caps<'a> {
    max_rows: usize,
    max_bytes: usize,
    trip: &'a super::wire_limit::Trip,
}

/// `BEGIN READ ONLY`, the transaction's limits and querygate's own `precondition` (the
/// catalog's freshness check), as one simple-protocol message.
fn begin_sql(
    timeout_ms: u64,
    checks_client: bool,
    application_name: &str,
    precondition: Option<&str>,
) -> String {
    let mut sql = format!("BEGIN READ ONLY; SET LOCAL statement_timeout = {timeout_ms}");
    if checks_client {
        sql.push_str("; SET LOCAL client_connection_check_interval = 1000");
    }
    sql.push_str(application_name);
    if let Some(precondition) = precondition {
        sql.push_str("; ");
        sql.push_str(precondition);
    }
    sql
}

/// Send `query` (Bind/Execute) and then `rollback` before reading anything, then stream the
/// rows under the caps and wait for the ROLLBACK. `Clean` only when every row was read and
/// the ROLLBACK succeeded; a stop part-way leaves the connection to be discarded.
async fn read_rows<Q, R>(
    query: Q,
    rollback: R,
    statement: &tokio_postgres::Statement,
    caps: Caps<'_>,
    error: &impl Fn(&tokio_postgres::Error) -> DbError,
) -> Result<Done<QueryResult>, DbError>
where
    Q: Future<Output = Result<tokio_postgres::RowStream, tokio_postgres::Error>>,
    R: Future<Output = Result<(), tokio_postgres::Error>>,
{
    let mut query = pin!(query);
    let mut rollback = pin!(rollback);
    // One poll each sends both requests (the driver sends on the first poll), in order.
    let mut answered = (None, None);
    poll_fn(|cx| {
        if let Poll::Ready(r) = query.as_mut().poll(cx) {
            answered.0 = Some(r);
        }
        if let Poll::Ready(r) = rollback.as_mut().poll(cx) {
            answered.1 = Some(r);
        }
        Poll::Ready(())
    })
    .await;
    let rows = match answered.0 {
        Some(r) => r,
        None => query.await,
    }
    .map_err(|e| error(&e))?;
    let mut out = QueryResult::new(columns(statement));
    let mut bytes = 0usize;
    let mut rows = pin!(rows);
    while let Some(row) = rows.next().await {
        let row = match row {
            Ok(row) => row,
            // A single row too large for the wire limit: the rows before it, truncated.
            Err(_) if caps.trip.get().is_some_and(|t| t.row) => {
                out.truncate(Truncation::MaxBytes);
                return Ok(Done::Dirty(out));
            }
            Err(e) => return Err(error(&e)),
        };
        if out.rows.len() == caps.max_rows {
            // More rows than the bound said: stop reading, discard the connection.
            out.truncate(Truncation::MaxRows);
            return Ok(Done::Dirty(out));
        }
        if !out.push(statement, &row, &mut bytes, caps.max_bytes)? {
            return Ok(Done::Dirty(out));
        }
    }
    match answered.1 {
        Some(r) => r,
        None => rollback.await,
    }
    .map_err(|e| error(&e))?;
    Ok(Done::Clean(out))
}

fn columns(statement: &tokio_postgres::Statement) -> Vec<ResultColumn> {
    statement
        .columns()
        .iter()
        .map(|c| ResultColumn {
            name: c.name().to_string(),
            type_name: value::type_name(c.type_()),
        })
        .collect()
}

async fn stream(
    session: Session<'_>,
    sql: &str,
    max_rows: usize,
    max_bytes: usize,
) -> Result<Done<QueryResult>, DbError> {
    let statement = session.prepare(sql).await?;
    let columns = columns(&statement);
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
        rollback: end,
        observed,
        ..
    } = session;
    let error = |e: &tokio_postgres::Error| match trip.get() {
        Some(t) => DbError::Oversized {
            size: t.size,
            limit: t.limit,
        },
        None => super::error::from_driver(database, timeout_ms, e),
    };

    // Send ROLLBACK (with the session reset) now, behind the Execute: it is answered right
    // after the last row.
    let mut rollback = Box::pin(tx.batch_execute(&end));
    let mut rolled_back = None;
    poll_fn(|cx| {
        if let Poll::Ready(r) = rollback.as_mut().poll(cx) {
            rolled_back = Some(r);
        }
        Poll::Ready(())
    })
    .await;

    let mut out = QueryResult::new(columns);
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
        if !out.push(&statement, &row, &mut bytes, max_bytes)? {
            return Ok(Done::Dirty(out));
        }
    }
    let ended = match rolled_back {
        Some(r) => r,
        None => rollback.as_mut().await,
    };
    drop(rollback);
    ended.map_err(|e| error(&e))?;
    super::ended_by_our_rollback(tx);
    out.catalog_snapshot = observed.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(Done::Clean(out))
}

impl QueryResult {
    fn new(columns: Vec<ResultColumn>) -> QueryResult {
        QueryResult {
            columns,
            rows: Vec::new(),
            rows_json: Vec::new(),
            row_count: 0,
            truncated: false,
            truncated_by: None,
            elapsed_ms: 0.0,
            catalog_snapshot: None,
        }
    }

    /// Add `row` as JSON, unless it would take the values past `max_bytes` (counted in
    /// `bytes`): then mark the result truncated and say `false`.
    fn push(
        &mut self,
        statement: &tokio_postgres::Statement,
        row: &tokio_postgres::Row,
        bytes: &mut usize,
        max_bytes: usize,
    ) -> Result<bool, DbError> {
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
        if *bytes + size > max_bytes {
            self.truncate(Truncation::MaxBytes);
            return Ok(false);
        }
        *bytes += size;
        self.rows.push(values);
        self.rows_json.push(RowJson(json));
        self.row_count += 1;
        Ok(true)
    }

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
