//! The pipeline as the server runs it: one configured database with its cached catalog, and
//! deciding on a statement for it, reloading the catalog once when the statement names a
//! relation or function the cached catalog does not know.

use super::Pipeline;
use crate::chain::{Context, Decision};
use crate::database::{Database, DbError};
use crate::sql::Catalog;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// One configured database and what querygate knows of its tables.
pub struct DatabaseEntry {
    pub db: Database,
    catalog: RwLock<Option<(Arc<Catalog>, Instant)>>,
    guard: crate::sql::GuardSettings,
    /// The `[[database]]` it was opened from, when it came from a configuration: a reload
    /// carries the entry over (pool, cached catalog) when it is unchanged.
    pub source: Option<crate::database::DatabaseConfig>,
    /// A later snapshot at which the database found the cached catalog unchanged, with that
    /// catalog's key: see [`DatabaseEntry::stamp`].
    observed: std::sync::Mutex<Option<(String, String)>>,
}

impl DatabaseEntry {
    pub fn new(db: Database) -> Self {
        DatabaseEntry {
            db,
            catalog: RwLock::new(None),
            guard: crate::sql::GuardSettings::default(),
            source: None,
            observed: std::sync::Mutex::new(None),
        }
    }

    /// Trust what `[guard]` allows when deciding on this database's statements.
    pub fn with_guard(mut self, guard: crate::sql::GuardSettings) -> Self {
        self.guard = guard;
        self
    }

    /// Remember the `[[database]]` this entry was opened from.
    pub fn with_source(mut self, source: crate::database::DatabaseConfig) -> Self {
        self.source = Some(source);
        self
    }

    /// What the guard trusts on this database.
    pub fn guard(&self) -> &crate::sql::GuardSettings {
        &self.guard
    }

    /// Forget the catalog: the database says it changed.
    pub async fn forget_catalog(&self) {
        *self.catalog.write().await = None;
        *self.observed() = None;
    }

    fn observed(&self) -> std::sync::MutexGuard<'_, Option<(String, String)>> {
        self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stamp (`snapshot|key`) to check a decision's catalog with: its own, or the same
    /// key at the latest snapshot the database found it unchanged. Without this, any write
    /// anywhere in the cluster after the catalog was loaded would make every later call
    /// recompute the key on the server (about 2 ms).
    pub fn stamp(&self, freshness: &str) -> String {
        let Some((_, key)) = freshness.split_once('|') else {
            return freshness.to_string();
        };
        match &*self.observed() {
            Some((seen_key, snapshot)) if seen_key == key => format!("{snapshot}|{key}"),
            _ => freshness.to_string(),
        }
    }

    /// The database found the catalog of `freshness` unchanged at `snapshot`.
    pub fn observe(&self, freshness: &str, snapshot: Option<&str>) {
        if let (Some((_, key)), Some(snapshot)) = (freshness.split_once('|'), snapshot) {
            *self.observed() = Some((key.to_string(), snapshot.to_string()));
        }
    }

    /// The catalog, loaded on first use; reloaded when `stale` and older than a second.
    async fn catalog(&self, stale: bool) -> Result<Arc<Catalog>, DbError> {
        if let Some((catalog, loaded)) = &*self.catalog.read().await
            && (!stale || loaded.elapsed() < Duration::from_secs(1))
        {
            return Ok(catalog.clone());
        }
        let mut catalog = self.db.load_catalog().await?;
        catalog.set_guard(self.guard.clone());
        let catalog = Arc::new(catalog);
        *self.catalog.write().await = Some((catalog.clone(), Instant::now()));
        Ok(catalog)
    }
}

/// Why no decision could be made.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The catalog could not be loaded from the database.
    #[error(transparent)]
    Catalog(#[from] DbError),
    /// The thread deciding failed (a bug: deciding does not panic on any input).
    #[error("the policy pipeline failed: {0}")]
    Crashed(String),
}

impl Pipeline {
    /// Decide on `sql` for `entry`, on its cached catalog, refreshing the catalog once if the
    /// statement names a relation or function it does not know. Deciding runs off the async
    /// workers (the policies are synchronous).
    pub async fn decide_on(
        &self,
        entry: &DatabaseEntry,
        sql: &str,
        context: Context,
    ) -> Result<Decision, DecideError> {
        let decided = self.decide_refreshing(entry, sql, &context).await;
        crate::telemetry::decided(&context.tool, &decided);
        decided
    }

    async fn decide_refreshing(
        &self,
        entry: &DatabaseEntry,
        sql: &str,
        context: &Context,
    ) -> Result<Decision, DecideError> {
        // Text that can never pass (empty, too large, NUL, replaced bytes) is refused without
        // a trip to the database for the catalog.
        if crate::sql::check_raw_text(sql, self.sql_limits()).is_err() {
            return Ok(self.decide(sql, &Catalog::default(), context));
        }
        let mut catalog = entry.catalog(false).await?;
        let mut refreshed = false;
        loop {
            let pipeline = self.clone();
            let (sql_owned, ctx, cat) = (sql.to_string(), context.clone(), catalog.clone());
            // The decision's spans belong to the call's trace, on whichever thread decides.
            let trace = crate::telemetry::carry();
            let decision = tokio::task::spawn_blocking(move || {
                trace.run(|| pipeline.decide(&sql_owned, &cat, &ctx))
            })
            .await
            .map_err(|e| DecideError::Crashed(e.to_string()))?;
            if decision.unknown_relations.is_empty() || refreshed {
                return Ok(decision);
            }
            refreshed = true;
            catalog = entry.catalog(true).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a write elsewhere in the cluster, the database answers a later snapshot at which
    /// the catalog was still the same; later checks of that catalog use it, so the server does
    /// not recompute the catalog's key on every call. Another catalog keeps its own stamp.
    #[test]
    fn a_stamp_takes_the_latest_snapshot_seen_for_the_same_catalog() {
        let config = crate::database::DatabaseConfig::new("t", "postgres://u@localhost/d");
        let entry = DatabaseEntry::new(Database::new(config).expect("valid config"));
        assert_eq!(entry.stamp("10:10:|k1"), "10:10:|k1");
        entry.observe("10:10:|k1", Some("12:12:"));
        assert_eq!(entry.stamp("10:10:|k1"), "12:12:|k1");
        assert_eq!(entry.stamp("10:10:|k2"), "10:10:|k2");
        entry.observe("no stamp", Some("13:13:"));
        entry.observe("10:10:|k1", None);
        assert_eq!(entry.stamp("10:10:|k1"), "12:12:|k1");
        assert_eq!(
            entry.stamp(""),
            "",
            "a catalog without a stamp is not checked"
        );
    }
}
