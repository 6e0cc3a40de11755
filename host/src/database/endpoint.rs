//! Where a connection string points, for comparing servers rather than connecting: the hosts
//! and ports, the database, the user, and whether it carries a password.
//!
//! `querygate config` uses it to spot another MCP server reaching the same database as
//! querygate (an ungated path beside the gate), and to refuse writing a password into a
//! client's configuration. Comparison is lenient on purpose, since a false alarm costs a
//! glance and a missed one an open door: host names compare case-insensitively, every name for
//! this machine (`localhost`, `127.0.0.1`, `::1`, a unix-socket directory, Docker's
//! `host.docker.internal`, no host at all) is one host, a missing port is 5432, a missing
//! database is the user's name (libpq's default), and a database known on neither side matches.

use super::conninfo;
use std::fmt;

/// libpq's default port.
const DEFAULT_PORT: u16 = 5432;

/// The one name given to every way of saying "this machine".
const LOCAL: &str = "localhost";

/// The servers, database and user a connection string names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `(host, port)` pairs, hosts normalised (lowercase; this machine as `localhost`).
    pub servers: Vec<(String, u16)>,
    pub dbname: Option<String>,
    pub user: Option<String>,
    /// A password is written in the string itself (userinfo, `password=` or `?password=`).
    pub has_password: bool,
}

impl Endpoint {
    /// Read a `postgres://` URL or a `key=value` conninfo string. Errors never quote it.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        // The keys querygate takes out before tokio-postgres sees the string (it knows none).
        let split = conninfo::split(
            url,
            &["sslmode", "sslrootcert", "sslcert", "sslkey", "passfile"],
        )?;
        let pg: tokio_postgres::Config = split
            .rest
            .parse()
            .map_err(|e| format!("not a PostgreSQL connection string ({e})"))?;
        let hosts: Vec<String> = pg
            .get_hosts()
            .iter()
            .map(|host| match host {
                tokio_postgres::config::Host::Tcp(name) => normalise_host(name),
                tokio_postgres::config::Host::Unix(_) => LOCAL.to_string(),
            })
            .collect();
        let hosts = if hosts.is_empty() {
            vec![LOCAL.to_string()]
        } else {
            hosts
        };
        let ports = pg.get_ports();
        let servers = hosts
            .into_iter()
            .enumerate()
            .map(|(i, host)| {
                let port = match ports {
                    [] => DEFAULT_PORT,
                    [one] => *one,
                    many => many.get(i).copied().unwrap_or(DEFAULT_PORT),
                };
                (host, port)
            })
            .collect();
        Ok(Endpoint {
            servers,
            dbname: pg.get_dbname().map(str::to_string),
            user: pg.get_user().map(str::to_string),
            has_password: pg.get_password().is_some(),
        })
    }

    /// From separate settings, as servers configured by environment variables take them
    /// (`POSTGRES_HOST`, `POSTGRES_PORT`, …). An unreadable port is taken as the default.
    pub fn from_parts(
        host: Option<&str>,
        port: Option<&str>,
        dbname: Option<&str>,
        user: Option<&str>,
    ) -> Endpoint {
        let host = host
            .filter(|h| !h.trim().is_empty())
            .map_or_else(|| LOCAL.to_string(), normalise_host);
        let port = port
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(DEFAULT_PORT);
        let text = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_string);
        Endpoint {
            servers: vec![(host, port)],
            dbname: text(dbname),
            user: text(user),
            has_password: false,
        }
    }

    /// The database libpq would connect to: the one named, else the user's name.
    fn database(&self) -> Option<&str> {
        self.dbname.as_deref().or(self.user.as_deref())
    }

    /// Whether both reach the same database on the same server (see the module doc for how
    /// lenient that is).
    pub fn same_database(&self, other: &Endpoint) -> bool {
        let same_server = self.servers.iter().any(|s| other.servers.contains(s));
        let same_db = match (self.database(), other.database()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        };
        same_server && same_db
    }
}

/// `host:port/database`: never the user or the password.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (host, port)) in self.servers.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{host}:{port}")?;
        }
        write!(f, "/{}", self.database().unwrap_or("?"))
    }
}

fn normalise_host(host: &str) -> String {
    let host = host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let loopback_v4 = host.starts_with("127.") && host.split('.').count() == 4;
    if host.is_empty()
        || host.starts_with('/')
        || loopback_v4
        || matches!(
            host.as_str(),
            "localhost" | "::1" | "0:0:0:0:0:0:0:1" | "host.docker.internal"
        )
    {
        LOCAL.to_string()
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Endpoint {
        Endpoint::parse(url).expect("valid")
    }

    #[test]
    fn urls_and_conninfo_give_host_port_database_and_password() {
        let e = parse("postgres://reader:s3cret@DB.example:6543/hr?sslmode=verify-full");
        assert_eq!(e.servers, vec![("db.example".to_string(), 6543)]);
        assert_eq!(e.dbname.as_deref(), Some("hr"));
        assert!(e.has_password);
        assert_eq!(e.to_string(), "db.example:6543/hr");
        let e = parse("host=/var/run/postgresql user=reader password='x'");
        assert_eq!(e.servers, vec![("localhost".to_string(), 5432)]);
        assert!(e.has_password);
        assert!(parse("postgresql://u@h/db?password=x").has_password);
        assert!(!parse("postgres://u@h/db?passfile=/home/u/.pgpass").has_password);
    }

    #[test]
    fn every_name_for_this_machine_is_one_host_and_defaults_fill_in() {
        let a = parse("postgresql://localhost/hr");
        for same in [
            "postgres://u@127.0.0.1:5432/hr",
            "postgres://u@[::1]/HR",
            "postgresql://host.docker.internal:5432/hr",
            "host=/tmp dbname=hr",
            "postgres:///hr",
            "postgres://hr@localhost",
        ] {
            assert!(a.same_database(&parse(same)), "{same}");
        }
        for other in [
            "postgres://u@localhost:5433/hr",
            "postgres://u@db.example/hr",
            "postgres://u@localhost/finance",
        ] {
            assert!(!a.same_database(&parse(other)), "{other}");
        }
        let parts = Endpoint::from_parts(Some("127.0.0.1"), Some("5432"), Some("hr"), None);
        assert!(a.same_database(&parts));
        // Nothing known about the database on either side: same server is enough.
        assert!(parse("postgres://h/").same_database(&Endpoint::from_parts(
            Some("h"),
            None,
            None,
            None
        )));
    }

    #[test]
    fn errors_never_quote_the_string() {
        let e = Endpoint::parse("postgres://u:hunter2@h:notaport/db").expect_err("bad port");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
