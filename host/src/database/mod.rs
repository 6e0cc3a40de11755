//! The executor: runs a statement that already passed the guard and the policy chain on
//! PostgreSQL, under limits, and turns the rows into JSON.
//!
//! Every statement runs the same way, on a pooled connection:
//! `BEGIN READ ONLY` → `SET LOCAL statement_timeout` (and, on PostgreSQL 14+,
//! `client_connection_check_interval`, so a query whose client went away stops within a
//! second) → the statement through the **extended protocol only** (prepare, bind a portal,
//! execute it for at most `max_rows + 1` rows; the simple protocol, which runs several
//! statements, is never used for user SQL) → rows streamed into JSON under a row cap and a byte
//! cap → `ROLLBACK`, always, in one message with what releases state that outlives a
//! transaction ([`hygiene`]). A statement decided on a cached catalog carries that catalog's
//! stamp, checked with the `SET LOCAL`s in the same round trip: if the catalog changed, the
//! transaction aborts before the statement runs (`Database::execute_decided`). Only then does the
//! connection go back to the pool; after an
//! error, a timeout, a result stopped half-way or a dropped future it is discarded
//! ([`pool`]). A reused connection that turns out dead at `BEGIN` (the server restarted) is
//! replaced once, transparently: nothing of the statement ran yet.
//!
//! Limits:
//! - `max_rows`: the portal is executed for `max_rows + 1` rows, so the server computes no more
//!   than that and `truncated` is exact (exactly `max_rows` rows is not truncated).
//! - `max_bytes`: counted on the JSON of the values returned (what the client receives). A row
//!   that would go over the cap is not returned; the result stops there, `truncated`, and the
//!   connection is discarded rather than drained.
//! - A single huge value (`repeat('x', 500000000)`): a data row can only be received whole, so
//!   the socket is read through [`wire_limit`], which refuses any row message larger than
//!   `8 × max_bytes + 64 KiB` on the wire before buffering it (the factor covers encodings
//!   whose JSON is smaller than their wire form). The result is then the rows before it,
//!   `truncated`; memory stays bounded by that limit whatever the server sends.
//! - `statement_timeout_ms`: enforced by the server; a client-side deadline 2 s later covers a
//!   server that stops answering.
//!
//! Values map to JSON as [`value`] documents.

mod catalog;
mod config;
mod connect;
mod conninfo;
mod endpoint;
mod error;
mod execute;
mod hygiene;
mod pool;
mod tls;
mod value;
mod wire_limit;

pub use catalog::{ColumnInfo, ForeignKey, TableDescription, TableInfo};
pub use config::{DatabaseConfig, SslMode};
pub use endpoint::Endpoint;
pub use error::{DbError, ServerError};
pub use execute::{QueryResult, ResultColumn, RowJson, Truncation};

use crate::teleport::{TeleportSettings, Tunnel};
use connect::Connector;
use pool::Pool;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_postgres::{Row, Statement, Transaction, types::ToSql};
use wire_limit::{Limits, Trip};

/// Extra time the client waits past the statement timeout before giving up on the server.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// One configured database: its limits and its connection pool.
pub struct Database {
    name: String,
    timeout_ms: u64,
    max_rows: usize,
    max_bytes: usize,
    pool: Pool,
    /// What is sent after every call on a connection before it is reused: see [`hygiene`].
    reset: std::sync::RwLock<hygiene::Reset>,
    /// `; SET LOCAL application_name = 'querygate/<client>'` once the client is known
    /// ([`Database::set_client`]), sent with every transaction's limits.
    application_name: std::sync::RwLock<String>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .field("statement_timeout_ms", &self.timeout_ms)
            .field("max_rows", &self.max_rows)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Check the configuration and read certificate files. Opens no connection: a server that
    /// is down at start-up is only an error when a statement needs it.
    pub fn new(config: DatabaseConfig) -> Result<Database, DbError> {
        Database::open(config, &TeleportSettings::default())
    }

    /// As [`Database::new`], with how to run `tsh` for `teleport://` databases (whose tunnel is
    /// started by the first statement, not here).
    pub fn open(config: DatabaseConfig, teleport: &TeleportSettings) -> Result<Database, DbError> {
        let resolved = config.resolve()?;
        let tunnel = resolved
            .teleport
            .map(|uri| Arc::new(Tunnel::new(uri, teleport.clone())));
        let tls = tls::plan(&resolved.tls).map_err(|message| DbError::Config {
            database: config.name.clone(),
            message,
        })?;
        let row = config.max_bytes.saturating_mul(8).saturating_add(64 * 1024);
        let connector = Connector {
            database: config.name.clone(),
            pg: resolved.pg,
            tls,
            passfile: resolved.passfile,
            tunnel,
            limits: Limits {
                row,
                other: row.max(16 * 1024 * 1024),
            },
        };
        Ok(Database {
            name: config.name,
            timeout_ms: config.statement_timeout_ms,
            max_rows: config.max_rows,
            max_bytes: config.max_bytes,
            pool: Pool::new(connector, config.pool_size),
            reset: std::sync::RwLock::new(hygiene::Reset::default()),
            application_name: std::sync::RwLock::new(String::new()),
        })
    }

    /// Name the MCP client in the server's own views: every later transaction sets
    /// `application_name` to `querygate/<client>` (printable ASCII, at most 63 bytes, as
    /// PostgreSQL keeps it), so `pg_stat_activity` and pgaudit can be joined with querygate's
    /// audit log.
    pub fn set_client(&self, client: &str) {
        let name: String = format!("querygate/{client}")
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '\'' && c != '\\' || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .take(63)
            .collect();
        let sql = format!("; SET LOCAL application_name = '{name}'");
        if *self
            .application_name
            .read()
            .unwrap_or_else(|e| e.into_inner())
            != sql
        {
            *self
                .application_name
                .write()
                .unwrap_or_else(|e| e.into_inner()) = sql;
        }
    }

    /// The `SET LOCAL application_name` fragment, or nothing before the client is known.
    fn application_name_sql(&self) -> String {
        self.application_name
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database name on the server (`dbname`; the user name when none is given).
    pub fn dbname(&self) -> &str {
        let pg = &self.pool.connector.pg;
        pg.get_dbname().or(pg.get_user()).unwrap_or("")
    }

    /// The role querygate connects as (empty when the url leaves it to the OS user).
    pub fn user(&self) -> &str {
        self.pool.connector.pg.get_user().unwrap_or("")
    }

    /// The Teleport tunnel of a `teleport://` database.
    pub fn teleport(&self) -> Option<&Arc<Tunnel>> {
        self.pool.connector.tunnel.as_ref()
    }

    /// Where the server is, without credentials: `db.internal:5432`,
    /// `/run/postgresql/.s.PGSQL.5432`, several comma-separated when the url lists several;
    /// the URI for a Teleport database.
    pub fn location(&self) -> String {
        if let Some(tunnel) = self.teleport() {
            return tunnel.uri().to_string();
        }
        let pg = &self.pool.connector.pg;
        let ports = pg.get_ports();
        let count = pg.get_hosts().len().max(pg.get_hostaddrs().len());
        (0..count)
            .map(|i| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                match (pg.get_hosts().get(i), pg.get_hostaddrs().get(i)) {
                    (Some(tokio_postgres::config::Host::Unix(dir)), _) => {
                        dir.join(format!(".s.PGSQL.{port}")).display().to_string()
                    }
                    (Some(tokio_postgres::config::Host::Tcp(host)), _) => format!("{host}:{port}"),
                    (None, Some(ip)) => format!("{ip}:{port}"),
                    (None, None) => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Connections currently idle in the pool (for tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.pool.idle_count()
    }

    /// `EXPLAIN (FORMAT JSON) <sql>`: the plan, never executed (the guard refuses ANALYZE).
    pub async fn explain(&self, sql: &str) -> Result<serde_json::Value, DbError> {
        self.explain_fresh(sql, "").await
    }

    /// As [`Database::explain`], only if the catalog is still the one `freshness` describes
    /// (planning folds functions labelled IMMUTABLE: see [`Database::execute_decided`]).
    pub async fn explain_fresh(
        &self,
        sql: &str,
        freshness: &str,
    ) -> Result<serde_json::Value, DbError> {
        let result = self
            // One row: a plan.
            .execute_decided(&format!("EXPLAIN (FORMAT JSON) {sql}"), Some(1), freshness)
            .await?;
        if result.truncated {
            return Err(DbError::PlanTooLarge {
                max_bytes: self.max_bytes,
            });
        }
        Ok(result
            .rows
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next())
            .unwrap_or(serde_json::Value::Null))
    }

    /// Run `work` in a read-only transaction on a pooled connection, under the deadline.
    async fn run<T>(
        &self,
        work: impl AsyncFnOnce(Session<'_>) -> Result<Done<T>, DbError>,
    ) -> Result<T, DbError> {
        self.run_checked(None, work).await
    }

    /// As [`Database::run`], with `precondition`, a statement of querygate's own, sent with
    /// the session limits (in the same round trip as the first statement): when it fails, the
    /// transaction is aborted and nothing of `work` runs.
    async fn run_checked<T>(
        &self,
        precondition: Option<&str>,
        work: impl AsyncFnOnce(Session<'_>) -> Result<Done<T>, DbError>,
    ) -> Result<T, DbError> {
        let wait = self.statement_timeout();
        let mut work = Some(work);
        let mut fresh = false;
        loop {
            let mut lease = self.pool.lease(wait, fresh).await?;
            let reused = lease.reused();
            let Some(conn) = lease.conn() else {
                return Err(internal(&self.name));
            };
            let trip = conn.trip.clone();
            let checks_client = conn.checks_client;
            let deadline = self.statement_timeout() + DEADLINE_GRACE;
            let begin = conn.client.build_transaction().read_only(true).start();
            let tx = match tokio::time::timeout(deadline, begin).await {
                Ok(Ok(tx)) => tx,
                Ok(Err(e)) if reused && !fresh && went_away(&e) => {
                    // A pooled connection that died while idle: replace it (and its siblings).
                    self.pool.discard_idle();
                    fresh = true;
                    continue;
                }
                Ok(Err(e)) => return Err(error::from_driver(&self.name, self.timeout_ms, &e)),
                Err(_) => {
                    return Err(DbError::Timeout {
                        timeout_ms: self.timeout_ms,
                    });
                }
            };
            let Some(work) = work.take() else {
                return Err(internal(&self.name));
            };
            let session = Session {
                tx,
                database: &self.name,
                timeout_ms: self.timeout_ms,
                checks_client,
                timeout_sent: AtomicBool::new(false),
                trip,
                precondition,
                application_name: self.application_name_sql(),
                rollback: self.rollback_sql(),
                observed: std::sync::Mutex::new(None),
            };
            let outcome = match tokio::time::timeout(deadline, work(session)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(DbError::Timeout {
                    timeout_ms: self.timeout_ms,
                }),
            };
            return match outcome {
                Ok(Done::Clean(value)) => {
                    lease.release();
                    Ok(value)
                }
                Ok(Done::Dirty(value)) => Ok(value),
                Err(e) => Err(e),
            };
        }
    }
}

impl Database {
    /// The message that ends every call: `ROLLBACK` and what releases state that outlives a
    /// transaction ([`hygiene`]).
    fn rollback_sql(&self) -> String {
        self.reset
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .rollback_sql()
    }
}

/// The first column of the last row in a simple-protocol answer: what querygate's own check
/// (the last statement of the message it ends) answered.
fn last_value(answers: &[tokio_postgres::SimpleQueryMessage]) -> Option<String> {
    answers.iter().rev().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    })
}

/// The connection is gone: closed, broken, or the server shutting down (SQLSTATE class 08,
/// 57P01–57P03). Safe to retry on another connection only because nothing ran yet.
fn went_away(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => code.code().starts_with("08") || code.code().starts_with("57P"),
    }
}

/// A state the code rules out (a lease without a connection, work run twice).
fn internal(database: &str) -> DbError {
    DbError::ConnectionLost {
        database: database.to_string(),
        message: "internal error: no connection".into(),
    }
}

/// How a unit of work left its connection.
enum Done<T> {
    /// Finished and rolled back ([`Session::finish`]): the connection may be reused.
    Clean(T),
    /// Stopped part-way: the connection is discarded.
    Dirty(T),
}

/// A read-only transaction on one connection, for one unit of work.
struct Session<'a> {
    tx: Transaction<'a>,
    database: &'a str,
    timeout_ms: u64,
    checks_client: bool,
    timeout_sent: AtomicBool,
    trip: Arc<Trip>,
    precondition: Option<&'a str>,
    /// [`Database::set_client`]'s fragment.
    application_name: String,
    /// What ends the transaction ([`Database::rollback_sql`]).
    rollback: String,
    /// The snapshot the catalog's freshness check answered, when it ran.
    observed: std::sync::Mutex<Option<String>>,
}

impl Session<'_> {
    /// The `SET LOCAL`s that go before the first statement (pipelined with it).
    fn set_local(&self) -> String {
        let mut sql = format!("SET LOCAL statement_timeout = {}", self.timeout_ms);
        if self.checks_client {
            sql.push_str("; SET LOCAL client_connection_check_interval = 1000");
        }
        sql.push_str(&self.application_name);
        if let Some(precondition) = self.precondition {
            sql.push_str("; ");
            sql.push_str(precondition);
        }
        sql
    }

    async fn limits_sent(&self) -> Result<(), tokio_postgres::Error> {
        if self.timeout_sent.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let answers = self.tx.simple_query(&self.set_local()).await?;
        *self.observed.lock().unwrap_or_else(|e| e.into_inner()) = last_value(&answers);
        Ok(())
    }

    fn error(&self, e: &tokio_postgres::Error) -> DbError {
        match self.trip.get() {
            Some(t) => DbError::Oversized {
                size: t.size,
                limit: t.limit,
            },
            None => error::from_driver(self.database, self.timeout_ms, e),
        }
    }

    /// Prepare `sql` (extended protocol), after the session limits.
    async fn prepare(&self, sql: &str) -> Result<Statement, DbError> {
        // `biased`: the SET LOCAL must be sent first; both go out before either answer.
        let (set, prepared) = tokio::join!(biased; self.limits_sent(), self.tx.prepare(sql));
        set.map_err(|e| self.error(&e))?;
        prepared.map_err(|e| self.error(&e))
    }

    /// Run one of querygate's own catalog queries with bound parameters.
    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, DbError> {
        let statement = self.prepare(sql).await?;
        self.tx
            .query(&statement, params)
            .await
            .map_err(|e| self.error(&e))
    }

    /// Roll back (and reset the session) and hand the connection back clean.
    async fn finish<T>(self, value: T) -> Result<Done<T>, DbError> {
        let Session {
            tx,
            database,
            timeout_ms,
            rollback,
            ..
        } = self;
        tx.batch_execute(&rollback)
            .await
            .map_err(|e| error::from_driver(database, timeout_ms, &e))?;
        ended_by_our_rollback(tx);
        Ok(Done::Clean(value))
    }
}

/// Our own `ROLLBACK` (sent with the session reset) ended `tx`: forget the handle, whose drop
/// would send a second one. The handle owns nothing but a borrow of the client.
fn ended_by_our_rollback(tx: Transaction<'_>) {
    std::mem::forget(tx);
}
