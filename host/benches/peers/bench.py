"""querygate against peer MCP servers for PostgreSQL, through three MCP clients (issue 10).

Started by ./run, which installs what it needs first. Starts one throwaway PostgreSQL 15 on
127.0.0.1 (a free port, password authentication), loads the `bench` table, and makes a read-only
login role that every server uses. Then, for each client (bare JSON-RPC, the TypeScript SDK, the
Python SDK), one driver process starts all three servers and calls them in interleaved rounds, so
that whatever else the machine does lands on every server alike: a warm-up, then N iterations per
query, each query bounded to BUDGET_S seconds. Prints p50 / p90 per cell, querygate / best peer
per client and query against the issue's targets, querygate's own split (`timings`), the floor of
an MCP call that does nothing, and what validating structured content costs each SDK; writes all
samples as JSON under target/bench-peers/.

Driver spec (JSON, argv): {"servers": [{"name", "command", "args", "env", "stderr"}],
  "phases": [{"label", "warmup", "iterations", "budget_s", "expect"?,
              "calls": {server name: {"tool", "arguments"} | {"method": "ping"}}}]}
Driver output: {"client", "servers": {name: {"protocol", "serverInfo"}},
  "phases": {label: {server name: {"ms": [...], "timings": {key: [...]}, "contentItems",
                                   "answerChars", "sample", "expectedFound", "validateMs"?: [...]}}}}
"""

import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
QUERYGATE = Path(os.environ.get("QUERYGATE_BIN", ROOT / "target/release/querygate"))
TOOLBOX = HERE / "node_modules/@toolbox-sdk/server-linux-x64/bin/toolbox"
REFERENCE = HERE / "node_modules/@modelcontextprotocol/server-postgres/dist/index.js"
OUT_DIR = ROOT / "target/bench-peers"

POINT = "SELECT * FROM bench WHERE id = 42"
# The same row with a LIMIT: querygate's bounded road (two round trips instead of four).
POINT_LIMIT = "SELECT * FROM bench WHERE id = 42 LIMIT 1"
ROWS_1000 = "SELECT * FROM bench ORDER BY id LIMIT 1000"
# (label, SQL, warm-up rounds, iterations); each phase also stops after BUDGET_S seconds.
QUERIES = [
    ("point", POINT, 30, 300),
    ("point L1", POINT_LIMIT, 30, 300),
    ("1000 rows", ROWS_1000, 10, 100),
]
# Text every answer must contain: row 42's SKU, and the last row's.
EXPECT = {"point": "SKU-000042", "point L1": "SKU-000042", "1000 rows": "SKU-001000"}
FLOOR = ("floor", 30, 300)
BUDGET_S = float(os.environ.get("BUDGET_S", 60))
# The targets: querygate p50 / best peer p50.
TARGETS = {"point": 1.0, "point L1": 1.0, "1000 rows": 0.5}

SCHEMA = """
CREATE TABLE bench (
    id          integer PRIMARY KEY,
    sku         text NOT NULL,
    name        text NOT NULL,
    quantity    integer NOT NULL,
    price       numeric(10, 2) NOT NULL,
    weight_kg   numeric(8, 3),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz,
    active      boolean NOT NULL,
    notes       text
);
INSERT INTO bench
SELECT g,
       'SKU-' || lpad(g::text, 6, '0'),
       'item number ' || g,
       (g * 7) % 500,
       round((g * 1.37) % 1000, 2),
       CASE WHEN g % 5 = 0 THEN NULL ELSE round((g * 0.113) % 50, 3) END,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '37 minutes',
       CASE WHEN g % 3 = 0 THEN NULL ELSE timestamptz '2026-06-01 00:00:00+00' + g * interval '11 minutes' END,
       g % 4 <> 0,
       CASE WHEN g % 2 = 0 THEN 'note for item ' || g ELSE NULL END
FROM generate_series(1, 10000) AS g;
ANALYZE bench;
"""


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throwaway PostgreSQL 15 on 127.0.0.1; the superuser only over its unix socket."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="querygate-peers-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.password = secrets.token_hex(12)
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_postgres:
            shutil.chown(self.dir, "postgres")
        self.as_postgres = as_postgres
        sh(*as_postgres, PG_BIN / "initdb", "-D", self.data, "--auth-local=trust",
           "--auth-host=scram-sha-256", "--no-sync", "-U", "postgres", stdout=subprocess.DEVNULL)
        opts = f"-k {self.dir} -c listen_addresses=127.0.0.1 -c port={self.port} -c fsync=off"
        sh(*as_postgres, PG_BIN / "pg_ctl", "-D", self.data, "-w", "-l", self.dir / "log",
           "-o", opts, "start", stdout=subprocess.DEVNULL)

    def psql(self, sql: str, db: str = "postgres"):
        sh(PG_BIN / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-p", str(self.port),
           "-U", "postgres", "-d", db, "-c", sql, stdout=subprocess.DEVNULL)

    def load(self):
        self.psql("CREATE DATABASE bench")
        self.psql(SCHEMA, db="bench")
        # The role every server logs in as: may read `bench` and nothing else, read-only by default.
        self.psql(
            f"CREATE ROLE bench_reader LOGIN PASSWORD '{self.password}';"
            "ALTER ROLE bench_reader SET default_transaction_read_only = on;"
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;"
            "GRANT USAGE ON SCHEMA public TO bench_reader;"
            "GRANT SELECT ON bench TO bench_reader;",
            db="bench",
        )

    def url(self) -> str:
        return f"postgres://bench_reader:{self.password}@127.0.0.1:{self.port}/bench"

    def stop(self):
        subprocess.run([*self.as_postgres, PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def servers(pg: Postgres, logs: Path) -> list[dict]:
    """The three servers: how to start each, and how each takes a SQL statement."""
    base_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    found = [
        {
            "name": "querygate",
            "command": str(QUERYGATE),
            "args": ["serve", "--database", f"bench={pg.url()}"],
            "env": base_env,
            "query": lambda sql: {"tool": "query", "arguments": {"database": "bench", "sql": sql}},
            "floor": {"tool": "list_databases", "arguments": {}},
        },
        {
            "name": "reference",
            "command": shutil.which("node") or "node",
            "args": [str(REFERENCE), pg.url()],
            "env": base_env,
            "query": lambda sql: {"tool": "query", "arguments": {"sql": sql}},
        },
    ]
    if TOOLBOX.exists():
        found.append({
            "name": "toolbox",
            "command": str(TOOLBOX),
            # The npm package's bin/run.js only spawns this binary with inherited stdio; it is
            # started directly so that no idle Node process sits beside it.
            "args": ["--prebuilt", "postgres", "--stdio", "--disable-version-check"],
            "env": {**base_env, "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(pg.port),
                    "POSTGRES_DATABASE": "bench", "POSTGRES_USER": "bench_reader",
                    "POSTGRES_PASSWORD": pg.password},
            "query": lambda sql: {"tool": "execute_sql", "arguments": {"sql": sql}},
        })
    else:
        print(f"MCP Toolbox left out: {TOOLBOX} is missing (its optional dependency did not install)",
              file=sys.stderr)
    for s in found:
        s["stderr"] = str(logs / f"{s['name']}.stderr.log")
    return found


def spec(found: list[dict]) -> dict:
    phases = [
        {"label": label, "warmup": warmup, "iterations": n, "budget_s": BUDGET_S, "expect": EXPECT[label],
         "calls": {s["name"]: s["query"](sql) for s in found}}
        for label, sql, warmup, n in QUERIES
    ]
    label, warmup, n = FLOOR
    # The floor of an MCP round trip on each server (`ping`), and of a querygate tool call that
    # neither decides nor touches the database.
    phases.append({"label": label, "warmup": warmup, "iterations": n, "budget_s": BUDGET_S,
                   "calls": {s["name"]: {"method": "ping"} for s in found}})
    phases.append({"label": "list_databases", "warmup": warmup, "iterations": n, "budget_s": BUDGET_S,
                   "calls": {"querygate": found[0]["floor"]}})
    return {
        "servers": [{k: s[k] for k in ("name", "command", "args", "env", "stderr")} for s in found],
        "phases": phases,
    }


CLIENTS = [
    ("bare JSON-RPC", lambda spec: ["node", str(HERE / "driver.mjs"), "bare", spec]),
    ("TypeScript SDK", lambda spec: ["node", str(HERE / "driver.mjs"), "sdk", spec]),
    ("Python SDK", lambda spec: [str(HERE / ".venv/bin/python"), str(HERE / "driver.py"), spec]),
]


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def check_answers(client: str, result: dict):
    """Every server must have answered with the rows asked for, not an empty or truncated text."""
    for label in EXPECT:
        for name, cell in result["phases"][label].items():
            if not cell["expectedFound"]:
                raise SystemExit(f"{client}: {name}'s {label} answer lacks {EXPECT[label]}: {cell['sample'][:200]!r}")
    for name, cell in result["phases"]["1000 rows"].items():
        # 1,000 rows of ten columns are well over 100,000 characters in any of the three renderings.
        if cell["answerChars"] < 100_000:
            raise SystemExit(f"{client}: {name}'s 1,000-row answer is only {cell['answerChars']} characters")


def report(results: list[dict], names: list[str]) -> dict:
    summary = {"clients": {}}
    print(f"\n{'client':<22} {'query':<10}" + "".join(f" {n + ' p50/p90 ms':>22}" for n in names)
          + f" {'qg / best peer':<17} target")
    for result in results:
        client = result["client"]
        out = summary["clients"][client] = {}
        for label, _, _, _ in QUERIES:
            cells = result["phases"][label]
            row = {n: {"p50": pct(c["ms"], 0.5), "p90": pct(c["ms"], 0.9), "n": len(c["ms"])}
                   for n, c in cells.items()}
            peers = {n: v["p50"] for n, v in row.items() if n != "querygate"}
            best = min(peers, key=peers.get)
            ratio = row["querygate"]["p50"] / peers[best]
            verdict = "met" if ratio <= TARGETS[label] else "MISSED"
            out[label] = {"cells": row, "best_peer": best, "ratio": ratio, "target": TARGETS[label],
                          "met": ratio <= TARGETS[label]}
            cols = "".join(
                f" {row[n]['p50']:>9.3f} / {row[n]['p90']:>8.3f}" if n in row else f" {'-':>20}" for n in names)
            print(f"{client:<22} {label:<10}{cols} {ratio:>6.2f}× {best:<9} ≤{TARGETS[label]:.1f} {verdict}")
    print("\nquerygate's own split (server p50s from `timings`) and the floors, p50 ms:")
    print(f"{'client':<22} {'query':<10} {'decide':>8} {'execute':>8} {'rest':>8}   {'validate (SDK)':>14}")
    for result in results:
        client = result["client"]
        out = summary["clients"][client]
        for label, _, _, _ in QUERIES:
            cell = result["phases"][label]["querygate"]
            decide = statistics.median(cell["timings"].get("decide_ms", [float("nan")]))
            execute = statistics.median(cell["timings"].get("execute_ms", [float("nan")]))
            total = out[label]["cells"]["querygate"]["p50"]
            validate = {n: statistics.median(c["validateMs"]) for n, c in result["phases"][label].items()
                        if c.get("validateMs")}
            out[label]["querygate_split"] = {"decide_ms": decide, "execute_ms": execute,
                                             "rest_ms": total - decide - execute}
            out[label]["validate_ms"] = validate
            v = f"{validate['querygate']:.3f}" if "querygate" in validate else "none"
            print(f"{client:<22} {label:<10} {decide:>8.3f} {execute:>8.3f} {total - decide - execute:>8.3f}"
                  f"   {v:>14}")
        floor = {n: pct(c["ms"], 0.5) for n, c in result["phases"]["floor"].items()}
        list_db = pct(result["phases"]["list_databases"]["querygate"]["ms"], 0.5)
        out["floor"] = {"ping_p50": floor, "querygate_list_databases_p50": list_db}
        pings = ", ".join(f"{n} {v:.3f}" for n, v in floor.items())
        print(f"{client:<22} floors: querygate list_databases {list_db:.3f}; ping {pings}")
    print("\nanswers (last call, each client alike): content items / characters of text")
    first = results[0]
    for label, _, _, _ in QUERIES:
        cells = first["phases"][label]
        print(f"  {label:<10} " + "; ".join(f"{n} {c['contentItems']} / {c['answerChars']}" for n, c in cells.items()))
    return summary


def main():
    for path, what in ((QUERYGATE, "querygate (cargo build --release)"), (REFERENCE, "npm ci")):
        if not path.exists():
            raise SystemExit(f"{path} is missing: run ./run, which does {what}")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    logs = OUT_DIR / f"logs-{stamp}"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pg = Postgres()
    try:
        pg.load()
        found = servers(pg, logs)
        spec_json = json.dumps(spec(found))
        results = []
        for client, argv in CLIENTS:
            t0 = time.monotonic()
            run = subprocess.run(argv(spec_json), capture_output=True, text=True, timeout=6 * BUDGET_S + 120,
                                 cwd=HERE)
            if run.returncode != 0:
                raise SystemExit(f"{client} driver failed ({run.returncode}):\n{run.stderr[-4000:]}\n"
                                 f"server logs: {logs}")
            result = json.loads(run.stdout.strip().splitlines()[-1])
            check_answers(client, result)
            results.append(result)
            print(f"{client}: done in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    finally:
        pg.stop()
    names = [s["name"] for s in found]
    summary = report(results, names)
    load = os.getloadavg()
    summary.update({
        "when": stamp, "seconds": time.monotonic() - started, "loadavg": load, "cpus": os.cpu_count(),
        "queries": {label: sql for label, sql, _, _ in QUERIES},
        "querygate_bin": {"path": str(QUERYGATE),
                          "built": datetime.fromtimestamp(QUERYGATE.stat().st_mtime, timezone.utc).isoformat()},
        "servers": results[0]["servers"], "raw": results,
    })
    path = OUT_DIR / f"{stamp}.json"
    path.write_text(json.dumps(summary, indent=1))
    shutil.copyfile(path, OUT_DIR / "latest.json")
    print(f"\n{time.monotonic() - started:.0f} s in all; load average {load[0]:.2f} on {os.cpu_count()} CPUs "
          f"(figures on a busy machine are noisy); samples in {path}")


if __name__ == "__main__":
    main()
