//! Session hygiene: nothing that outlives a transaction stays on a pooled connection.
//!
//! ROLLBACK undoes what a statement did inside its transaction, but not everything: session
//! advisory locks, dblink's named connections and postgres_fdw's cached connections outlive it.
//! The guard refuses every function known to create such state; this is defence in depth.
//! After every call that ends clean, before the connection goes back to the pool, querygate
//! sends `pg_advisory_unlock_all()` and, where the extensions are installed, closes dblink's
//! named connections and postgres_fdw's connections.
//!
//! They go in the same message as the `ROLLBACK` that ends every call ([`Reset::rollback_sql`]),
//! so the happy path gains no round trip, and the answer that proves the `ROLLBACK` proves them
//! too: a connection goes back to the pool only when both succeeded, and is discarded otherwise.

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

impl Reset {
    /// `ROLLBACK` and every reset statement, as one simple-protocol message: it ends the
    /// transaction and releases what outlives it in the round trip the `ROLLBACK` takes anyway,
    /// and its answer proves both. Should any part fail, the rest is skipped and the message
    /// fails, and the connection is discarded.
    pub fn rollback_sql(&self) -> String {
        std::iter::once("ROLLBACK")
            .chain(self.statements())
            .collect::<Vec<_>>()
            .join("; ")
    }
}
