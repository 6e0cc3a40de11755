//! `fault`: a policy for the host's tests, which misbehaves in the way its configuration asks.
//! Never deploy it.
//!
//! `{"mode": …}` selects the behaviour:
//! - answers: `allow`; `reject` with `reason` (default `fault: rejected`; an empty reason is
//!   passed through, to test that the host refuses it); `rewrite` with `sql`, returned verbatim
//!   (a DELETE, two statements, garbage); `render` with `sql` as a syntax tree's JSON, rendered by
//!   the host (`sql.render`) into the rewrite, or rejected with `render: <reason>`.
//! - resource abuse: `loop` (never returns); `spin` (`ms` milliseconds, or `iterations` rounds,
//!   of busy work, then allow: the deadline's "obeyed" side); `sleep` (`ms` milliseconds,
//!   default an hour, blocked in the host's clock, then allow); `counter` (rejects with
//!   `counter: N`, N the evaluations this instance has seen: always 1 with fresh instances); `memory-bomb` (allocates and touches 1 MiB blocks until
//!   allocation fails; if the host lets allocation fail rather than trapping, rejects with
//!   `memory-bomb: allocation failed after N MiB`); `allocate` (`bytes`, touched, then allow: the
//!   memory cap's "obeyed" side); `stack` (unbounded recursion with frames in linear memory,
//!   which overflows the guest's own stack); `native-stack` (recursion with frames in wasm
//!   locals, `iterations` deep, default unbounded, which overflows the engine's stack for wasm
//!   code); `trap` (panics, which traps);
//!   `log-flood` (`count` log calls and `count` lines each on stdout and stderr, of `size` bytes,
//!   default 1000 × 64 KiB, then allow).
//! - sandbox probes, answering `Reject` with a short, stable description of what the guest saw:
//!   `read-file` (`read-file: denied: <error kind>` or `read-file: allowed: N bytes` for
//!   `/etc/passwd`), `env` (`env: N variables`), `clock` (`clock: zero`, `clock: before-epoch` or
//!   `clock: real`, after the wall clock), `random` (`random: distinct` when two std hash seeds
//!   differ, else `random: constant`), `network` (`network: denied: <error kind>` or
//!   `network: connected` for TCP to 127.0.0.1:5432).

use std::hash::BuildHasher;
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use querygate_policy::{Context, Policy, Statement, Verdict};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    mode: String,
    sql: Option<String>,
    reason: Option<String>,
    count: Option<u64>,
    size: Option<usize>,
    iterations: Option<u64>,
    ms: Option<u64>,
    bytes: Option<usize>,
}

/// The `fault` policy.
pub struct Fault;

impl Policy for Fault {
    fn evaluate(_statement: &Statement, context: &Context) -> Verdict {
        let config: Config = match querygate_policy::config(context) {
            Ok(config) => config,
            Err(reason) => return Verdict::Reject(reason),
        };
        match config.mode.as_str() {
            "allow" => Verdict::Allow,
            "reject" => Verdict::Reject(config.reason.unwrap_or_else(|| "fault: rejected".into())),
            "rewrite" => match config.sql {
                Some(sql) => Verdict::Rewrite(sql),
                None => Verdict::Reject("fault: mode `rewrite` needs `sql`".into()),
            },
            // The host's `sql.render` import on `sql` as the tree's JSON: the rendering is the
            // rewrite, and an error rejects with `render: <the host's reason>`.
            "render" => match querygate_policy::render(config.sql.as_deref().unwrap_or_default()) {
                Ok(sql) => Verdict::Rewrite(sql),
                Err(error) => Verdict::Reject(format!("render: {error}")),
            },
            "loop" => endless(),
            "spin" => {
                match config.ms {
                    Some(ms) => spin_for(std::time::Duration::from_millis(ms)),
                    None => spin(config.iterations.unwrap_or(1_000_000)),
                }
                Verdict::Allow
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_millis(
                    config.ms.unwrap_or(3_600_000),
                ));
                Verdict::Allow
            }
            "counter" => Verdict::Reject(format!("counter: {}", bump_counter())),
            "memory-bomb" => memory_bomb(),
            "allocate" => {
                allocate(config.bytes.unwrap_or(1 << 20));
                Verdict::Allow
            }
            "stack" => Verdict::Reject(format!("stack: returned {}", recurse(0))),
            "native-stack" => {
                let value = native_recurse(0, config.iterations.unwrap_or(u64::MAX));
                Verdict::Reject(format!("native-stack: returned {value}"))
            }
            "trap" => panic!("fault: trap requested"),
            "log-flood" => {
                log_flood(
                    config.count.unwrap_or(1000),
                    config.size.unwrap_or(64 * 1024),
                );
                Verdict::Allow
            }
            "read-file" => Verdict::Reject(read_file()),
            "env" => Verdict::Reject(format!("env: {} variables", std::env::vars_os().count())),
            "clock" => Verdict::Reject(clock()),
            "random" => Verdict::Reject(random()),
            "network" => Verdict::Reject(network()),
            other => Verdict::Reject(format!("fault: unknown mode `{other}`")),
        }
    }
}

querygate_policy::export_policy!(Fault);

fn endless() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

fn spin(iterations: u64) {
    let mut counter = 0u64;
    for _ in 0..iterations {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Busy work until `duration` has passed on the monotonic clock.
fn spin_for(duration: std::time::Duration) {
    let start = std::time::Instant::now();
    let mut counter = 0u64;
    while start.elapsed() < duration {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// A global that counts evaluations: it stays at 1 when every evaluation gets a fresh instance.
fn bump_counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::SeqCst) + 1
}

fn memory_bomb() -> Verdict {
    const BLOCK: usize = 1 << 20;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = Vec::new();
        if block.try_reserve_exact(BLOCK).is_err() || blocks.try_reserve(1).is_err() {
            let held = blocks.len();
            drop(blocks);
            return Verdict::Reject(format!("memory-bomb: allocation failed after {held} MiB"));
        }
        block.resize(BLOCK, 1);
        blocks.push(black_box(block));
    }
}

fn allocate(bytes: usize) {
    let block = vec![1u8; bytes];
    black_box(&block);
}

/// Recursion that neither ends nor can be turned into a loop.
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    if black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1).wrapping_add(black_box(frame[15]))
}

/// Recursion whose frames live in wasm locals, not in linear memory: it exhausts the engine's
/// own stack for wasm code. `limit` comes from the configuration, so it cannot be folded away,
/// and the non-associative combination keeps it from becoming a loop.
fn native_recurse(depth: u64, limit: u64) -> u64 {
    if depth >= limit {
        return depth;
    }
    native_recurse(depth + 1, limit).rotate_left(3) ^ depth
}

fn log_flood(count: u64, size: usize) {
    let message = "x".repeat(size);
    for _ in 0..count {
        querygate_policy::log::info(&message);
        println!("{message}");
        eprintln!("{message}");
    }
}

fn read_file() -> String {
    match std::fs::read_to_string("/etc/passwd") {
        Ok(text) => format!("read-file: allowed: {} bytes", text.len()),
        Err(error) => format!("read-file: denied: {:?}", error.kind()),
    }
}

fn clock() -> String {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(elapsed) if elapsed.is_zero() => "clock: zero".into(),
        Ok(elapsed) => format!("clock: real ({} s since the epoch)", elapsed.as_secs()),
        Err(_) => "clock: before-epoch".into(),
    }
}

fn random() -> String {
    let first = std::collections::hash_map::RandomState::new().hash_one(0u8);
    let second = std::collections::hash_map::RandomState::new().hash_one(0u8);
    if first == second {
        "random: constant".into()
    } else {
        "random: distinct".into()
    }
}

fn network() -> String {
    match std::net::TcpStream::connect("127.0.0.1:5432") {
        Ok(_) => "network: connected".into(),
        Err(error) => format!("network: denied: {:?}", error.kind()),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use querygate_policy::testing;

    use super::*;

    fn evaluate(config: &str) -> Verdict {
        Fault::evaluate(&testing::statement("select 1"), &testing::context(config))
    }

    #[test]
    fn answers_as_configured() {
        assert_eq!(evaluate(r#"{"mode": "allow"}"#), Verdict::Allow);
        assert_eq!(
            evaluate(r#"{"mode": "reject", "reason": ""}"#),
            Verdict::Reject(String::new())
        );
        assert_eq!(
            evaluate(r#"{"mode": "reject"}"#),
            Verdict::Reject("fault: rejected".into())
        );
        assert_eq!(
            evaluate(r#"{"mode": "rewrite", "sql": "DELETE FROM t; SELECT 1"}"#),
            Verdict::Rewrite("DELETE FROM t; SELECT 1".into())
        );
        assert_eq!(
            evaluate(r#"{"mode": "nope"}"#),
            Verdict::Reject("fault: unknown mode `nope`".into())
        );
    }

    #[test]
    fn bounded_work_finishes() {
        assert_eq!(
            evaluate(r#"{"mode": "spin", "iterations": 1000}"#),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(r#"{"mode": "allocate", "bytes": 4096}"#),
            Verdict::Allow
        );
        assert_eq!(
            evaluate(r#"{"mode": "log-flood", "count": 2, "size": 8}"#),
            Verdict::Allow
        );
    }

    #[test]
    fn probes_describe_what_they_saw() {
        let Verdict::Reject(env) = evaluate(r#"{"mode": "env"}"#) else {
            panic!()
        };
        assert!(
            env.starts_with("env: ") && env.ends_with(" variables"),
            "{env}"
        );
        let Verdict::Reject(clock) = evaluate(r#"{"mode": "clock"}"#) else {
            panic!()
        };
        assert!(clock.starts_with("clock: real"), "{clock}");
        let Verdict::Reject(random) = evaluate(r#"{"mode": "random"}"#) else {
            panic!()
        };
        assert_eq!(random, "random: distinct");
        let Verdict::Reject(file) = evaluate(r#"{"mode": "read-file"}"#) else {
            panic!()
        };
        assert!(file.starts_with("read-file: "), "{file}");
    }
}
