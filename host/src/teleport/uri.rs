//! `teleport://clusters/<cluster>/databases/<name>?dbName=<db>&dbUser=<user>`: read strictly
//! for a database to serve ([`TeleportUri::parse`]), leniently for a database a client names
//! ([`TeleportUri::is_named_by`]), through the one reader of the form.

use std::fmt;

/// The URI scheme of Teleport databases.
pub const SCHEME: &str = "teleport://";

/// One Teleport database as `tsh mcp db start` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeleportUri {
    pub cluster: String,
    /// The database's name in Teleport (`tsh db ls`).
    pub database: String,
    /// `dbName`: the database on the PostgreSQL server.
    pub db_name: String,
    /// `dbUser`: the PostgreSQL role Teleport connects as.
    pub db_user: String,
}

impl TeleportUri {
    /// Whether `text` is meant as a Teleport URI (and should be parsed as one).
    pub fn is_teleport(text: &str) -> bool {
        text.trim_start()
            .get(..SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
    }

    /// Parse `teleport://clusters/<cluster>/databases/<name>?dbName=<db>&dbUser=<user>`.
    pub fn parse(text: &str) -> Result<TeleportUri, String> {
        let parts = Parts::parse(text)?;
        let missing = |what: &str| {
            format!(
                "`{text}` has no {what}: querygate needs both dbName and dbUser, as in {FORM} \
                 (`tsh mcp db config --db-user … --db-name …` writes them)"
            )
        };
        let db_name = parts.db_name.ok_or_else(|| missing("dbName"))?;
        let db_user = parts.db_user.ok_or_else(|| missing("dbUser"))?;
        Ok(TeleportUri {
            cluster: parts.cluster,
            database: parts.database,
            db_name,
            db_user,
        })
    }

    /// Whether `text` names this database: a Teleport URI with the same cluster and database,
    /// whose dbName and dbUser, where given, are this one's. (A client may name a database by
    /// the URI `teleport_list_databases` showed, or by a shorter one.)
    pub fn is_named_by(&self, text: &str) -> bool {
        Parts::parse(text).is_ok_and(|parts| {
            parts.cluster == self.cluster
                && parts.database == self.database
                && parts.db_name.is_none_or(|v| v == self.db_name)
                && parts.db_user.is_none_or(|v| v == self.db_user)
        })
    }
}

const FORM: &str = "teleport://clusters/<cluster>/databases/<name>?dbName=<db>&dbUser=<user>";

/// A Teleport URI read leniently: dbName and dbUser may be missing (not empty).
struct Parts {
    cluster: String,
    database: String,
    db_name: Option<String>,
    db_user: Option<String>,
}

impl Parts {
    fn parse(text: &str) -> Result<Parts, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| format!("`{text}` is not a Teleport database URI ({e}); write {FORM}"))?;
        if url.scheme() != "teleport" || url.host_str() != Some("clusters") {
            return Err(format!(
                "`{text}` is not a Teleport database URI: write {FORM}"
            ));
        }
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| {
                s.map(|segment| percent_decode(segment).unwrap_or_else(|| segment.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let (cluster, database) = match segments.as_slice() {
            [cluster, kind, database]
                if kind == "databases" && !cluster.is_empty() && !database.is_empty() =>
            {
                (cluster.clone(), database.clone())
            }
            _ => {
                return Err(format!(
                    "`{text}` does not name a cluster and a database: write {FORM}"
                ));
            }
        };
        let (mut db_name, mut db_user) = (None, None);
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "dbName" => db_name = Some(value.into_owned()),
                "dbUser" => db_user = Some(value.into_owned()),
                other => {
                    return Err(format!(
                        "`{text}` has the unknown parameter `{other}`: only dbName and dbUser \
                         are understood, as in {FORM}"
                    ));
                }
            }
        }
        Ok(Parts {
            cluster,
            database,
            db_name: db_name.filter(|v| !v.is_empty()),
            db_user: db_user.filter(|v| !v.is_empty()),
        })
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl fmt::Display for TeleportUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut url = url::Url::parse("teleport://clusters").map_err(|_| fmt::Error)?;
        url.path_segments_mut().map_err(|_| fmt::Error)?.extend([
            self.cluster.as_str(),
            "databases",
            self.database.as_str(),
        ]);
        url.query_pairs_mut()
            .append_pair("dbName", &self.db_name)
            .append_pair("dbUser", &self.db_user);
        f.write_str(url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_may_name_a_database_by_a_full_or_shorter_uri() {
        let Ok(uri) = TeleportUri::parse(
            "teleport://clusters/prod/databases/hr%20db?dbName=hr&dbUser=reader",
        ) else {
            panic!("a full URI parses")
        };
        assert_eq!(uri.database, "hr db");
        for named in [
            "teleport://clusters/prod/databases/hr%20db?dbName=hr&dbUser=reader",
            " TELEPORT://clusters/prod/databases/hr%20db ",
            "teleport://clusters/prod/databases/hr%20db?dbUser=reader",
            "teleport://clusters/prod/databases/hr%20db?dbName=",
        ] {
            assert!(uri.is_named_by(named), "{named}");
        }
        for other in [
            "teleport://clusters/prod/databases/hr",
            "teleport://clusters/dev/databases/hr%20db",
            "teleport://clusters/prod/databases/hr%20db?dbUser=writer",
            "teleport://clusters/prod/databases/hr%20db?dbName=hr&role=x",
            "querygate://databases/hr",
            "not a uri",
        ] {
            assert!(!uri.is_named_by(other), "{other}");
        }
        let Err(error) = TeleportUri::parse("teleport://clusters/prod/databases/hr?dbName=hr")
        else {
            panic!("a database to serve needs dbUser")
        };
        assert!(error.contains("has no dbUser"), "{error}");
    }
}
