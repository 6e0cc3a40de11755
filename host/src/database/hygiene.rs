//! Session hygiene: nothing that outlives a transaction stays on a pooled connection.
//!
//! ROLLBACK undoes what a statement did inside its transaction, but not everything: session
//! advisory locks, dblink's named connections and postgres_fdw's cached connections outlive it.
//! The guard refuses every function known to create such state; this is defence in depth.
//! After every call that ends clean, before the connection goes back to the pool, querygate
//! sends `pg_advisory_unlock_all()` and, where the extensions are installed, closes dblink's
//! named connections and postgres_fdw's connections.
//!
//! They are sent without waiting for their answers: each goes out on the connection at once,
//! ahead of whatever the connection does next, so the happy path gains no round trip, and the
//! server runs them before the next statement on that connection. Each is a simple query of
//! its own, so one that fails does not skip the others. A connection that broke meanwhile fails
//! its next `BEGIN` and is replaced.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

/// Releases every session-level advisory lock of this session (it is free of other effects).
const UNLOCK: &str = "SELECT pg_catalog.pg_advisory_unlock_all()";

/// The statements sent after every call, beyond [`UNLOCK`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Reset {
    statements: Vec<String>,
}

impl Reset {
    /// What closes the connections of dblink and postgres_fdw installed in these schemas.
    pub fn for_extensions(dblink: Option<&str>, postgres_fdw: Option<&str>) -> Reset {
        let quote = |schema: &str| format!("\"{}\"", schema.replace('"', "\"\""));
        let mut statements = Vec::new();
        if let Some(schema) = dblink {
            let s = quote(schema);
            statements.push(format!(
                "SELECT {s}.dblink_disconnect(c) FROM pg_catalog.unnest({s}.dblink_get_connections()) AS c"
            ));
        }
        if let Some(schema) = postgres_fdw {
            statements.push(format!(
                "SELECT {}.postgres_fdw_disconnect_all()",
                quote(schema)
            ));
        }
        Reset { statements }
    }

    /// Every statement, in the order sent.
    pub fn statements(&self) -> impl Iterator<Item = &str> {
        std::iter::once(UNLOCK).chain(self.statements.iter().map(String::as_str))
    }
}

/// Send `reset` on `client` without waiting for the answers. tokio-postgres writes a request
/// to its connection when the request's future is first polled, and drops the answer of a
/// request whose future is gone.
pub(crate) fn send_reset(client: &tokio_postgres::Client, reset: &Reset) {
    let mut cx = Context::from_waker(Waker::noop());
    for sql in reset.statements() {
        let sent = pin!(client.batch_execute(sql));
        let _ = sent.poll(&mut cx);
    }
}
