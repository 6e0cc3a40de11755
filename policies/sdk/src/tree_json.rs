//! Reading a syntax tree's JSON without overflowing the stack: a depth counted before anything
//! recurses, then serde_json without its recursion limit. One file serves the guest SDK (the
//! `ast` feature) and querygate's host, whose `sql.render` import includes it by path.

use serde::de::DeserializeOwned;

/// The deepest nesting of objects and arrays in `json`, counted without parsing it.
pub fn depth(json: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in json.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// `json` read as one `T`, with serde_json's recursion limit off: call it only on JSON whose
/// [`depth`] was checked, on a stack that fits that depth.
pub fn read_unbounded<T: DeserializeOwned>(json: &str) -> serde_json::Result<T> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    deserializer.disable_recursion_limit();
    let value = T::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}
