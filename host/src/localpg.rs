//! A throwaway local PostgreSQL server, for `querygate demo` and for tests.
//!
//! The server binaries are looked up on `PATH`, through `pg_config --bindir`, then in
//! `/usr/lib/postgresql/<highest version>/bin`. A pristine `initdb` data directory is made once
//! per machine, version and user (under the temp dir, published by an atomic rename) and
//! copied for each server, which takes a fraction of a second instead of a full `initdb`.
//! Each server lives in its own temp directory, listens on a Unix socket there (no port to
//! clash), optionally also on `127.0.0.1` with a free port and TLS, runs with `fsync=off`, and
//! trusts every local connection. PostgreSQL refuses to run as root, so when we are root every
//! command runs as the `postgres` user (`runuser`), which owns the directory.
//!
//! The server is stopped and its directory removed on drop. A small watchdog process does the
//! same if this process dies without dropping it (a panic with `abort`, a signal), so no server
//! outlives its owner.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{SystemTime, UNIX_EPOCH};

/// What a local server listens on.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also listen on `127.0.0.1` on a free port.
    pub tcp: bool,
    /// Enable TLS (implies `tcp`) with this certificate (chain) and key, both PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error(
        "postgresql server binaries (initdb, pg_ctl, postgres) were not found on PATH, through \
         `pg_config --bindir`, or in /usr/lib/postgresql/*/bin: install them, e.g. \
         `apt-get install postgresql-15`, or put their directory on PATH"
    )]
    NotInstalled,
    #[error(
        "running as root, and there is no `postgres` user to run PostgreSQL as (it refuses to \
         run as root): install the postgresql package, which creates that user, or run as an \
         unprivileged user"
    )]
    NoPostgresUser,
    // The io error is part of the message, not a `source`: printed as a chain it would repeat.
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("{what} failed: {output}")]
    Command { what: String, output: String },
    #[error("could not connect to the local server: {0}")]
    Connect(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalPgError {
    let what = what.into();
    move |error| LocalPgError::Io { what, error }
}

/// The OS user the server runs as, when we are root.
#[derive(Debug, Clone)]
struct RunAs {
    user: String,
    uid: u32,
    gid: u32,
}

/// A running (or stopped) throwaway server.
#[derive(Debug)]
pub struct LocalPostgres {
    bin: PathBuf,
    run_as: Option<RunAs>,
    root: tempfile::TempDir,
    port: u16,
    tcp: bool,
    tls: bool,
    running: bool,
    watchdog: Option<Child>,
}

impl LocalPostgres {
    /// A server on a Unix socket only.
    pub fn start() -> Result<LocalPostgres, LocalPgError> {
        LocalPostgres::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Result<LocalPostgres, LocalPgError> {
        let bin = find_bin_dir()?;
        let run_as = run_as()?;
        let template = template(&bin, run_as.as_ref())?;
        let root = tempfile::Builder::new()
            .prefix("querygate-pg-")
            .tempdir()
            .map_err(io("creating a temp directory"))?;
        copy_dir(&template.join("data"), &root.path().join("data"))?;
        if let Some((cert, key)) = &options.tls {
            for (from, to) in [(cert, "server.crt"), (key, "server.key")] {
                let to = root.path().join(to);
                std::fs::copy(from, &to).map_err(io(format!("copying {}", from.display())))?;
                set_mode(&to, 0o600)?;
            }
        }
        if let Some(user) = &run_as {
            chown_tree(root.path(), user)?;
        }
        let mut server = LocalPostgres {
            bin,
            run_as,
            root,
            port: 5432,
            tcp: options.tcp || options.tls.is_some(),
            tls: options.tls.is_some(),
            running: false,
            watchdog: None,
        };
        server.watchdog = server.spawn_watchdog().ok();
        let attempts = if server.tcp { 5 } else { 1 };
        for attempt in 1..=attempts {
            if server.tcp {
                server.port = free_port()?;
            }
            match server.start_server() {
                Ok(()) => return Ok(server),
                Err(e) if attempt < attempts && server.log().contains("could not bind") => {
                    let _ = e; // the port was taken meanwhile: try another
                }
                Err(e) => return Err(e),
            }
        }
        Err(LocalPgError::Command {
            what: "starting postgresql".into(),
            output: "no free port".into(),
        })
    }

    /// The directory holding the Unix socket (`host=` in a connection string).
    pub fn socket_dir(&self) -> &Path {
        self.root.path()
    }

    /// The port: of the TCP listener when there is one, and in the socket's file name.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A conninfo string for the Unix socket, e.g. `url("postgres", "postgres")`.
    pub fn url(&self, db: &str, user: &str) -> String {
        format!(
            "host={} port={} user={} dbname={}",
            quote(&self.socket_dir().display().to_string()),
            self.port,
            quote(user),
            quote(db)
        )
    }

    /// A `postgres://` URL to `localhost` over TCP, when the server listens on TCP.
    pub fn tcp_url(&self, db: &str, user: &str) -> Option<String> {
        self.tcp
            .then(|| format!("postgres://{user}@localhost:{}/{db}", self.port))
    }

    /// A connection as the `postgres` superuser, for setup SQL.
    pub async fn superuser_client(&self) -> Result<tokio_postgres::Client, LocalPgError> {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres", "postgres"), tokio_postgres::NoTls)
                .await
                .map_err(|e| LocalPgError::Connect(e.to_string()))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Stop the server (immediately: it is throwaway). Its data stays until drop.
    pub fn stop(&mut self) -> Result<(), LocalPgError> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        self.pg_ctl(&["-m", "immediate", "-w", "stop"], "stopping postgresql")
    }

    /// Stop the server if it runs, and start it again on the same socket and port.
    pub fn restart(&mut self) -> Result<(), LocalPgError> {
        self.stop()?;
        self.start_server()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("server.log")).unwrap_or_default()
    }

    fn start_server(&mut self) -> Result<(), LocalPgError> {
        let dir = self.root.path().display().to_string();
        let mut options = format!(
            "-k {} -p {} -c fsync=off -c full_page_writes=off -c synchronous_commit=off \
             -c listen_addresses={}",
            quote(&dir),
            self.port,
            if self.tcp { "'127.0.0.1'" } else { "''" }
        );
        if self.tls {
            let _ = write!(
                options,
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                quote(&format!("{dir}/server.crt")),
                quote(&format!("{dir}/server.key"))
            );
        }
        let log = format!("{dir}/server.log");
        self.pg_ctl(
            &["-l", &log, "-w", "-t", "60", "-o", &options, "start"],
            "starting postgresql",
        )?;
        self.running = true;
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str], what: &str) -> Result<(), LocalPgError> {
        let data = self.root.path().join("data");
        let mut command = command(&self.bin.join("pg_ctl"), self.run_as.as_ref());
        command.arg("-D").arg(&data).args(args);
        let output = command.output().map_err(io(what))?;
        if !output.status.success() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            return Err(LocalPgError::Command {
                what: what.into(),
                output: format!(
                    "{}{}\n{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ),
            });
        }
        Ok(())
    }

    /// Stops the server and removes its directory once this process is gone.
    fn spawn_watchdog(&self) -> std::io::Result<Child> {
        let root = quote(&self.root.path().display().to_string());
        let pidfile = quote(
            &self
                .root
                .path()
                .join("data/postmaster.pid")
                .display()
                .to_string(),
        );
        crate::watchdog::after_exit(&format!(
            "if [ -f {pidfile} ]; then kill -QUIT \"$(head -n 1 {pidfile})\" 2>/dev/null; sleep 1; fi; \
             rm -rf {root}"
        ))
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let _ = self.stop();
        // `root` (a TempDir) removes the directory when dropped after this.
    }
}

/// Single-quote for conninfo and for the shell `pg_ctl -o` goes through.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "'\\''"))
}

fn command(program: &Path, run_as: Option<&RunAs>) -> Command {
    let mut command = match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", &user.user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    };
    // Somewhere the server's user may enter, whatever our own working directory is.
    command.current_dir(std::env::temp_dir());
    command
}

fn has_server(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// Where `initdb`, `pg_ctl` and `postgres` are.
pub fn find_bin_dir() -> Result<PathBuf, LocalPgError> {
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_server(d))
    {
        return Ok(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, dir)| dir)
        .ok_or(LocalPgError::NotInstalled)
}

fn run_as() -> Result<Option<RunAs>, LocalPgError> {
    if !rustix::process::geteuid().is_root() {
        return Ok(None);
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => Ok(Some(RunAs {
            user: "postgres".into(),
            uid,
            gid,
        })),
        _ => Err(LocalPgError::NoPostgresUser),
    }
}

/// The cached pristine data directory (`<template>/data`) for this server version and user.
fn template(bin: &Path, run_as: Option<&RunAs>) -> Result<PathBuf, LocalPgError> {
    let out = Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .map_err(io("running postgres --version"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .nth(2)
        .unwrap_or("unknown")
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "_");
    let euid = rustix::process::geteuid().as_raw();
    let tmp = std::env::temp_dir();
    let dir = tmp.join(format!("querygate-pg-template-{version}-{euid}-w1"));
    if dir.join("data/PG_VERSION").is_file() {
        return Ok(dir);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let staging = tmp.join(format!(
        "querygate-pg-template-{version}-{euid}-w1.{}.{nanos}",
        std::process::id()
    ));
    std::fs::create_dir(&staging).map_err(io("creating the template directory"))?;
    set_mode(&staging, 0o700)?;
    if let Some(user) = run_as {
        chown_tree(&staging, user)?;
    }
    let output = command(&bin.join("initdb"), run_as)
        .arg("-D")
        .arg(staging.join("data"))
        .args([
            "--auth=trust",
            "--no-sync",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .arg("--wal-segsize=1") // 1 MB WAL segments instead of 16: less to copy per server
        .output()
        .map_err(io("running initdb"))?;
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(LocalPgError::Command {
            what: "initdb".into(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    if std::fs::rename(&staging, &dir).is_err() {
        // Another process published its template first; use that one.
        let _ = std::fs::remove_dir_all(&staging);
        if !dir.join("data/PG_VERSION").is_file() {
            return Err(LocalPgError::Command {
                what: "publishing the template data directory".into(),
                output: format!("{} is incomplete: remove it", dir.display()),
            });
        }
    }
    Ok(dir)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), LocalPgError> {
    std::fs::create_dir(to).map_err(io(format!("creating {}", to.display())))?;
    let mode = std::fs::metadata(from)
        .map_err(io(format!("reading {}", from.display())))?
        .permissions();
    std::fs::set_permissions(to, mode).map_err(io(format!("chmod {}", to.display())))?;
    for entry in std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))? {
        let entry = entry.map_err(io(format!("reading {}", from.display())))?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io("reading the template"))?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(io(format!("copying {}", entry.path().display())))?;
        }
    }
    Ok(())
}

fn chown_tree(path: &Path, user: &RunAs) -> Result<(), LocalPgError> {
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))
        .map_err(io(format!("chown {}", path.display())))?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).map_err(io(format!("reading {}", path.display())))? {
            let entry = entry.map_err(io(format!("reading {}", path.display())))?;
            chown_tree(&entry.path(), user)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), LocalPgError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {}", path.display())))
}

fn free_port() -> Result<u16, LocalPgError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("finding a free port"))?
        .port())
}

/// The sample HR database of `querygate demo`: the tables of `policies/schema.sql` (8
/// departments, 250 employees, 2,000 events over two tenants, `acme` and `globex`), generated
/// deterministically, plus a login role `querygate_reader` that may only read them. Re-running
/// it replaces the tables.
pub const DEMO_SQL: &str = include_str!("demo.sql");

/// Create the demo tables and rows ([`DEMO_SQL`]) in the database `client` is connected to.
pub async fn load_demo_data(client: &tokio_postgres::Client) -> Result<(), LocalPgError> {
    client
        .batch_execute(DEMO_SQL)
        .await
        .map_err(|e| LocalPgError::Command {
            what: "loading the demo data".into(),
            output: e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string()),
        })
}
