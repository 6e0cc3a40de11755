//! PostgreSQL for the tests: a throwaway local server ([`querygate::localpg`]) or, when
//! `QUERYGATE_TEST_DATABASE_URL` is set, that database (the tests create and replace the demo
//! tables and a few test types in it, so point it at a scratch database).
//!
//! Missing server binaries fail the test with the command that installs them; nothing is
//! skipped silently.

use querygate::database::{Database, DatabaseConfig};
use querygate::localpg::{self, LocalPostgres, Options};
use std::sync::OnceLock;

/// Types some tests need on top of the demo tables.
const FIXTURES: &str = r#"
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS hstore;
DROP TYPE IF EXISTS qg_mood, qg_pair, qg_outer CASCADE;
DROP DOMAIN IF EXISTS qg_positive CASCADE;
CREATE TYPE qg_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE qg_pair AS (n integer, label text);
CREATE TYPE qg_outer AS (pair qg_pair, tags text[]);
CREATE DOMAIN qg_positive AS integer CHECK (VALUE > 0);
"#;

/// Start a local server, or fail the test saying how to install PostgreSQL.
pub fn start(options: Options) -> LocalPostgres {
    match LocalPostgres::start_with(options) {
        Ok(server) => server,
        Err(e) => panic!("cannot start a local PostgreSQL for the tests: {e}"),
    }
}

/// The database most tests share: demo data and fixtures loaded once per process.
pub fn shared_url() -> &'static str {
    static SHARED: OnceLock<(Option<LocalPostgres>, String)> = OnceLock::new();
    let (_, url) = SHARED.get_or_init(|| {
        // Set up on a thread of its own: the caller may be inside a tokio runtime.
        std::thread::spawn(|| {
            let (server, url) = match std::env::var("QUERYGATE_TEST_DATABASE_URL") {
                Ok(url) => (None, url),
                Err(_) => {
                    let server = start(Options::default());
                    let url = server.url("postgres", "postgres");
                    (Some(server), url)
                }
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let client = connect(&url).await;
                localpg::load_demo_data(&client)
                    .await
                    .expect("demo data loads");
                client.batch_execute(FIXTURES).await.expect("fixtures load");
            });
            (server, url)
        })
        .join()
        .expect("setting up the shared database")
    });
    url
}

/// A plain tokio-postgres connection (for setup and for checking what the executor did).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// An executor on `url` with default limits, adjusted by `tweak`.
pub fn database(url: &str, tweak: impl FnOnce(&mut DatabaseConfig)) -> Database {
    let mut config = DatabaseConfig::new("test", url);
    tweak(&mut config);
    Database::new(config).expect("valid database config")
}
