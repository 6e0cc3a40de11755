//! The fuzz targets' properties (`fuzz/oracles.rs`) on stable Rust, as CI runs them: every
//! seed (`fuzz/seeds`), every corpus entry, and a fixed number of mutations of them, from a
//! fixed random seed so a failure reproduces. The real fuzzing, guided by coverage, is
//! `fuzz/run` (see the README).

#[path = "../../fuzz/oracles.rs"]
mod fuzzing;

/// Mutations per target in one run.
const MUTATIONS: usize = 10_000;

/// Fragments that matter to SQL lexing and to the guard.
const DICTIONARY: &[&str] = &[
    ";",
    "/*",
    "*/",
    "--",
    "\n",
    "\r",
    "'",
    "''",
    "\"",
    "$$",
    "$a$",
    "E'\\'",
    "\\",
    "U&'",
    "UESCAPE",
    "(",
    ")",
    ",",
    "::",
    "SELECT ",
    " FROM ",
    "WITH ",
    "DELETE FROM t",
    "UPDATE t SET a = 1",
    "COMMIT",
    "BEGIN",
    "SET ",
    "EXPLAIN ANALYZE ",
    "FOR UPDATE",
    "INTO x",
    "pg_sleep(1)",
    "nextval('s')",
    "$1",
    "\u{0}",
    "\u{FFFD}",
    " UNION SELECT 1",
    "LIMIT 1",
];

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let root = crate::support::repo().to_path_buf();
    let mut seeds = Vec::new();
    let dir = root.join("fuzz/seeds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for file in files {
        seeds.push(std::fs::read(&file).expect("seed reads"));
    }
    for corpus in ["legit.sql", "forbidden.sql"] {
        for (_, sql) in crate::corpus::entries(corpus) {
            seeds.push(sql.into_bytes());
        }
    }
    assert!(seeds.len() > 400, "only {} seeds", seeds.len());
    seeds
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 => {
                let word = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                data.splice(at..at, word.iter().copied());
            }
            1 if !data.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(data.len());
                data.drain(at.min(end)..end);
            }
            2 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.splice(at..at, other[from..].iter().copied());
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn run(target: fn(&[u8])) {
    let seeds = seeds();
    for seed in &seeds {
        target(seed);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..MUTATIONS {
        let input = mutate(&mut rng, &seeds);
        target(&input);
    }
}

#[test]
fn fuzz_analysis_over_seeds_and_mutations() {
    run(fuzzing::analysis);
}

#[test]
fn fuzz_differential_over_seeds_and_mutations() {
    run(fuzzing::differential);
}
