//! libpg_query's JSON output, which the `pg_query` crate does not expose: the C library is
//! linked in through that crate, and these are its own declarations (`pg_query.h`). The only
//! unsafe code in querygate: two C calls and one read of the string they return (see
//! [`parse_json`]).

// The crate builds and links the static library these symbols live in.
extern crate pg_query;
use std::os::raw::{c_char, c_int};

#[repr(C)]
pub struct PgQueryError {
    pub message: *mut c_char,
    pub funcname: *mut c_char,
    pub filename: *mut c_char,
    pub lineno: c_int,
    pub cursorpos: c_int,
    pub context: *mut c_char,
}

#[repr(C)]
pub struct PgQueryParseResult {
    pub parse_tree: *mut c_char,
    pub stderr_buffer: *mut c_char,
    pub error: *mut PgQueryError,
}

unsafe extern "C" {
    pub fn pg_query_parse(input: *const c_char) -> PgQueryParseResult;
    pub fn pg_query_free_parse_result(result: PgQueryParseResult);
}

/// PostgreSQL's parse tree of `sql` as libpg_query writes it in JSON: every node of every
/// kind, its type as the key (`{"SelectStmt": {…}}`), fields that hold their default value
/// left out.
///
/// Runs on a stack grown to fit the text ([`pg_stack_for`]): libpg_query writes its JSON by
/// recursing once per tree level, without a depth check of its own, and a flat chain such as
/// `1+1+…` is one level per operator.
pub fn parse_json(sql: &str) -> Result<String, String> {
    let stack = pg_stack_for(sql.len());
    stacker::maybe_grow(stack, stack, || parse_json_here(sql))
}

/// Stack that libpg_query needs to parse `len` bytes and write their tree as JSON, whatever
/// the text. A tree has at most one level per byte; measured on x86_64 (release), the JSON
/// writer takes 110–150 bytes of stack per level of `1+1+…` (two bytes of text per level).
/// 512 bytes per byte keeps a wide margin for other shapes and builds. Stack that is not
/// touched costs nothing, and a statement of ordinary size needs no new stack at all.
pub fn pg_stack_for(len: usize) -> usize {
    1024 * 1024 + len * 512
}

fn parse_json_here(sql: &str) -> Result<String, String> {
    use std::ffi::{CStr, CString};
    let input = CString::new(sql)
        .map_err(|e| format!("the text holds a NUL byte at {}", e.nul_position()))?;
    // SAFETY: `input` is a NUL-terminated string that outlives the call; the result is read
    // before it is handed back to libpg_query, exactly once, to be freed.
    unsafe {
        let result = pg_query_parse(input.as_ptr());
        let out =
            if !result.error.is_null() {
                let error = &*result.error;
                let message = if error.message.is_null() {
                    "an error without a message".into()
                } else {
                    CStr::from_ptr(error.message).to_string_lossy()
                };
                Err(if error.cursorpos > 0 {
                    format!("{message} (at character {})", error.cursorpos)
                } else {
                    message.into_owned()
                })
            } else if result.parse_tree.is_null() {
                Err("libpg_query returned no tree".to_string())
            } else {
                CStr::from_ptr(result.parse_tree).to_str().map(str::to_owned).map_err(|_| {
                "a string in it holds bytes that are not UTF-8: write such bytes as a bytea \
                 literal ('\\xff'::bytea)"
                    .to_string()
            })
            };
        pg_query_free_parse_result(result);
        out
    }
}
