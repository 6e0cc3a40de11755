//! The audit log's hash chain: each line ends with `"prev"`, the sha256 (hex) of the line before
//! it as written (without its newline); the first line of a new log has [`GENESIS`]. Deleting,
//! editing or reordering a line breaks the chain at the line after it. Removing lines from the
//! end cannot be seen from the file alone: keep the last line's hash elsewhere (shipping the log
//! does) to detect that.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::Path;

/// `prev` of a log's first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record with its link to the line before.
#[derive(Serialize)]
pub(super) struct Chained<'a, R: Serialize> {
    #[serde(flatten)]
    pub record: &'a R,
    pub prev: &'a str,
}

/// The hex sha256 of one line's bytes.
pub fn hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

/// The hash of the file's last line ([`GENESIS`] for an empty file), read from the end.
pub(super) fn last_line_hash(file: &mut std::fs::File) -> std::io::Result<String> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    // `tail` holds the file from `pos` to its end; `end` is where the last line ends, before
    // any final newlines.
    let (mut tail, mut pos, mut end) = (Vec::new(), len, len);
    while pos > 0 {
        let start = pos.saturating_sub(CHUNK);
        let mut chunk = vec![0; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        pos = start;
        while end > pos && tail[(end - pos - 1) as usize] == b'\n' {
            end -= 1;
        }
        let body = &tail[..(end - pos) as usize];
        if let Some(newline) = body.iter().rposition(|b| *b == b'\n') {
            return Ok(hash(&body[newline + 1..]));
        }
    }
    // No newline before the last line: it is the file's first (or the file is empty).
    let body = &tail[..end as usize];
    Ok(if body.is_empty() {
        GENESIS.to_string()
    } else {
        hash(body)
    })
}

/// What `querygate audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    /// Lines checked.
    pub lines: usize,
    /// The first line's `prev` when it is not [`GENESIS`]: the log continues one rotated away.
    pub continues_from: Option<String>,
    /// The hash of the last line (to keep, to detect lines removed from the end later).
    pub last: String,
}

/// Where the chain breaks, and how.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct Break {
    pub line: usize,
    pub problem: String,
}

/// Check every link of the log at `path`.
pub fn verify(path: &Path) -> Result<Result<Verified, Break>, std::io::Error> {
    let reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut expected: Option<String> = None;
    let mut continues_from = None;
    let mut lines = 0;
    for (index, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        let number = index + 1;
        let broken = |problem: String| {
            Ok(Err(Break {
                line: number,
                problem,
            }))
        };
        let prev = match serde_json::from_slice::<serde_json::Value>(&line) {
            Ok(record) => match record.get("prev").and_then(|p| p.as_str()) {
                Some(prev) => prev.to_string(),
                None => {
                    return broken("the record has no `prev` (not a chained audit line)".into());
                }
            },
            Err(e) => return broken(format!("not a JSON record ({e})")),
        };
        match &expected {
            None if prev != GENESIS => continues_from = Some(prev),
            None => {}
            Some(expected) if *expected != prev => {
                return broken(format!(
                    "`prev` is {prev}, but the line before hashes to {expected}: a line was \
                     removed, edited or inserted between lines {} and {number}",
                    number - 1
                ));
            }
            Some(_) => {}
        }
        expected = Some(hash(&line));
        lines = number;
    }
    Ok(Ok(Verified {
        lines,
        continues_from,
        last: expected.unwrap_or_else(|| GENESIS.to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_chain(path: &Path, records: &[&str]) {
        let mut prev = GENESIS.to_string();
        let mut file = std::fs::File::create(path).expect("create");
        for record in records {
            let line = format!("{{\"r\":\"{record}\",\"prev\":\"{prev}\"}}");
            prev = hash(line.as_bytes());
            writeln!(file, "{line}").expect("write");
        }
    }

    #[test]
    fn a_removed_or_edited_line_breaks_the_chain_where_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        write_chain(&path, &["a", "b", "c", "d"]);
        let Ok(Ok(verified)) = verify(&path) else {
            panic!("an intact chain verifies")
        };
        assert_eq!(verified.lines, 4);
        assert_eq!(verified.continues_from, None);
        let mut file = std::fs::File::open(&path).expect("open");
        assert_eq!(last_line_hash(&mut file).expect("reads"), verified.last);

        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3])).expect("w");
        let Ok(Err(broken)) = verify(&path) else {
            panic!("a removed line is found")
        };
        assert_eq!(broken.line, 2);

        let edited = lines[1].replace("\"b\"", "\"B\"");
        std::fs::write(
            &path,
            format!("{}\n{edited}\n{}\n{}\n", lines[0], lines[2], lines[3]),
        )
        .expect("w");
        let Ok(Err(broken)) = verify(&path) else {
            panic!("an edited line is found")
        };
        assert_eq!(broken.line, 3);

        // A rotated log: its first line continues a chain from elsewhere.
        std::fs::write(&path, format!("{}\n{}\n", lines[2], lines[3])).expect("w");
        let Ok(Ok(verified)) = verify(&path) else {
            panic!("a rotated log verifies")
        };
        assert!(verified.continues_from.is_some());
    }

    #[test]
    fn the_last_line_is_found_across_chunks_and_without_a_final_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let long = "x".repeat(200_000);
        for (text, last) in [
            (String::new(), None),
            ("one".to_string(), Some("one")),
            ("one\n".to_string(), Some("one")),
            (format!("{long}\n{long}y\n\n"), Some("long-y")),
            (format!("a\n{long}z"), Some("long-z")),
        ] {
            std::fs::write(&path, &text).expect("write");
            let mut file = std::fs::File::open(&path).expect("open");
            let expected = match last {
                None => GENESIS.to_string(),
                Some("long-y") => hash(format!("{long}y").as_bytes()),
                Some("long-z") => hash(format!("{long}z").as_bytes()),
                Some(line) => hash(line.as_bytes()),
            };
            assert_eq!(last_line_hash(&mut file).expect("reads"), expected);
        }
    }
}
