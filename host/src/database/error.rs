//! What can go wrong between querygate and PostgreSQL, worded for the person who has to act.
//!
//! Server errors keep their SQLSTATE, message, detail and hint. Connection failures name the
//! configured database, never its URL (which may hold a password). A statement timeout is its
//! own variant, so callers and users can tell "too slow" from "wrong".

use std::fmt;
use tokio_postgres::error::SqlState;

/// An error the server reported for a statement, as PostgreSQL worded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The five-character SQLSTATE code, e.g. `42P01`.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character position in the statement, when the server gave one.
    pub position: Option<u32>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, "; detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

/// Why a database call failed. Every variant means the statement produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The `[[database]]` entry cannot be used as written.
    #[error("database `{database}`: {message}")]
    Config { database: String, message: String },
    /// No connection could be opened (server down, refused, TLS or authentication failure).
    #[error("could not connect to `{database}`: {message}")]
    Connect { database: String, message: String },
    /// The connection broke while a statement was running.
    #[error("lost the connection to `{database}`: {message}")]
    ConnectionLost { database: String, message: String },
    /// Every pooled connection stayed busy for the whole wait.
    #[error("all {pool_size} connections to `{database}` are busy (pool_size); try again")]
    Busy { database: String, pool_size: usize },
    /// The statement ran longer than `statement_timeout_ms` and was canceled.
    #[error("canceled after the {} statement timeout (statement_timeout_ms)", duration(*timeout_ms))]
    Timeout { timeout_ms: u64 },
    /// PostgreSQL refused or failed the statement.
    #[error("{0}")]
    Server(ServerError),
    /// A row could not be written as JSON (not expected: every value maps to a JSON value).
    #[error("could not write a row as JSON: {message}")]
    Encode { message: String },
    /// The server sent one protocol message (not a row) larger than querygate will buffer.
    #[error("the server sent a {size}-byte message, more than the {limit}-byte limit")]
    Oversized { size: usize, limit: usize },
    /// The statement has `$1`-style placeholders, and there are no values to bind.
    #[error(
        "the statement has {count} parameter placeholder(s) (`$1`, …) and no values: write the \
         values into the statement"
    )]
    Parameters { count: usize },
    /// `explain`'s plan did not fit in `max_bytes`.
    #[error("the plan is larger than max_bytes ({max_bytes} bytes of JSON)")]
    PlanTooLarge { max_bytes: usize },
    /// `describe_table` was asked about something that is not a visible relation.
    #[error("no table or view `{table}` is visible to this role")]
    NotFound { table: String },
}

impl DbError {
    /// The catalog changed since the statement was decided, so it did not run (see
    /// `Database::execute_decided`).
    pub fn is_stale_catalog(&self) -> bool {
        matches!(self, DbError::Server(e)
            if e.code == "22P02" && e.message.contains(super::catalog::STALE_CATALOG))
    }

    /// The SQLSTATE of a server error.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Server(e) => Some(&e.code),
            DbError::Timeout { .. } => Some(SqlState::QUERY_CANCELED.code()),
            _ => None,
        }
    }
}

/// `30 s`, `100 ms`, `1.5 s`.
fn duration(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else if ms >= 1000 {
        format!("{} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// Turn a driver error raised while a statement (or our own catalog query) ran into a
/// [`DbError`]. `timeout_ms` is the statement timeout in force, to recognise its cancellation.
pub(crate) fn from_driver(database: &str, timeout_ms: u64, e: &tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        if *db.code() == SqlState::QUERY_CANCELED && db.message().contains("statement timeout") {
            return DbError::Timeout { timeout_ms };
        }
        let mut server = server_error(db);
        if *db.code() == SqlState::UNDEFINED_FUNCTION
            && db.message().starts_with("no binary output function")
            && server.hint.is_none()
        {
            // tokio-postgres always asks for binary results; the few types without a binary
            // form (e.g. `aclitem`) have to be cast in the statement.
            server.hint = Some("cast the column to text, e.g. `relacl::text`".to_string());
        }
        return DbError::Server(server);
    }
    DbError::ConnectionLost {
        database: database.to_string(),
        message: driver_message(e),
    }
}

pub(crate) fn server_error(db: &tokio_postgres::error::DbError) -> ServerError {
    use tokio_postgres::error::ErrorPosition;
    ServerError {
        code: db.code().code().to_string(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        hint: db.hint().map(str::to_string),
        position: match db.position() {
            Some(ErrorPosition::Original(p)) => Some(*p),
            _ => None,
        },
    }
}

/// A driver error's text with its causes, for connection failures. tokio-postgres never puts
/// the password in its messages; neither does this.
pub(crate) fn driver_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return server_error(db).to_string();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_names_the_setting() {
        let e = DbError::Timeout { timeout_ms: 30_000 };
        assert_eq!(
            e.to_string(),
            "canceled after the 30 s statement timeout (statement_timeout_ms)"
        );
        assert_eq!(
            DbError::Timeout { timeout_ms: 100 }.to_string(),
            "canceled after the 100 ms statement timeout (statement_timeout_ms)"
        );
    }

    #[test]
    fn server_error_keeps_sqlstate_detail_and_hint() {
        let e = DbError::Server(ServerError {
            code: "25006".into(),
            message: "cannot execute INSERT in a read-only transaction".into(),
            detail: None,
            hint: Some("use a replica".into()),
            position: None,
        });
        assert_eq!(
            e.to_string(),
            "cannot execute INSERT in a read-only transaction (SQLSTATE 25006); hint: use a replica"
        );
        assert_eq!(e.sqlstate(), Some("25006"));
    }
}
