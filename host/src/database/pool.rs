//! A small connection pool whose one rule is: a connection goes back only when it is known
//! clean.
//!
//! A [`Lease`] is clean only if its holder says so ([`Lease::release`]) after a statement ran
//! to completion and its transaction was rolled back. An error, a timeout, a result stopped
//! half-way, or the holder's future being dropped (the MCP request was cancelled) all leave it
//! unclean, and the connection is discarded: its socket is closed, never reused. Connections
//! are opened lazily, so a database that is down at start-up costs nothing until it is used.
//! Idle connections that died meanwhile (server restart) are skipped; see
//! [`super::Database`] for the retry that covers the race.

use super::DbError;
use super::connect::{Conn, Connector};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

pub(crate) struct Pool {
    pub connector: Connector,
    size: usize,
    slots: Semaphore,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub fn new(connector: Connector, size: usize) -> Pool {
        Pool {
            connector,
            size,
            slots: Semaphore::new(size),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait up to `wait` for a free slot, then take an idle connection (unless `fresh`) or
    /// open a new one.
    pub async fn lease(&self, wait: Duration, fresh: bool) -> Result<Lease<'_>, DbError> {
        let permit = match tokio::time::timeout(wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(DbError::Busy {
                    database: self.connector.database.clone(),
                    pool_size: self.size,
                });
            }
        };
        let reused = if fresh {
            None
        } else {
            let mut idle = self.idle();
            loop {
                match idle.pop() {
                    Some(conn) if conn.client.is_closed() => conn.discard(),
                    other => break other,
                }
            }
        };
        let (conn, reused) = match reused {
            Some(conn) => (conn, true),
            None => {
                let conn = self
                    .connector
                    .connect()
                    .await
                    .map_err(|message| DbError::Connect {
                        database: self.connector.database.clone(),
                        message,
                    })?;
                (conn, false)
            }
        };
        Ok(Lease {
            pool: self,
            conn: Some(conn),
            reused,
            clean: false,
            _permit: permit,
        })
    }

    /// Forget every idle connection (after one turned out dead: the others likely are too).
    pub fn discard_idle(&self) {
        for conn in self.idle().drain(..) {
            conn.discard();
        }
    }

    /// Connections currently idle in the pool.
    pub fn idle_count(&self) -> usize {
        self.idle().len()
    }
}

/// One connection, held for one unit of work.
pub(crate) struct Lease<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
    reused: bool,
    clean: bool,
    _permit: SemaphorePermit<'p>,
}

impl Lease<'_> {
    /// The connection. Always present until the lease is dropped.
    pub fn conn(&mut self) -> Option<&mut Conn> {
        self.conn.as_mut()
    }

    /// Whether the connection came from the idle list (and may have died since).
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// The work finished and its transaction was rolled back: the connection may be reused.
    pub fn release(mut self) {
        self.clean = true;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.clean && !conn.client.is_closed() {
                self.pool.idle().push(conn);
            } else {
                conn.discard();
            }
        }
    }
}
