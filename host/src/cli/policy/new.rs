//! `querygate policy new NAME --lang rust|js|python`: a project that builds and passes its cases.
//!
//! The templates live in `policies/templates/`, the SDKs in `policies/sdk/` (Rust) and
//! `policies/sdk-js/` (JavaScript); all are compiled into the binary, so a project is made the
//! same way inside or outside querygate's repository. The SDK is vendored into the project
//! (`vendor/querygate-policy/` for Rust, `querygate.js`), with the WIT it was written against
//! (`wit/policy.wit`): the project builds with nothing but its toolchain, and keeps building
//! against the same contract when querygate moves on.

use super::Lang;
use super::build::{COMPONENTIZE_PY, COMPONENTIZE_QJS};
use crate::cli::Exit;
use anyhow::Context as _;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The policy's name: lower-case letters, digits and `-`, starting with a letter.
    #[arg(value_name = "NAME")]
    name: String,
    /// The language to write it in.
    #[arg(long, value_enum)]
    lang: Lang,
    /// The directory to create [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

macro_rules! repo_file {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../", $path))
    };
}

const WIT: &str = repo_file!("wit/policy.wit");

const COMMON: &[(&str, &str)] = &[
    (
        "cases.toml",
        repo_file!("policies/templates/common/cases.toml.in"),
    ),
    (
        "querygate.toml",
        repo_file!("policies/templates/common/querygate.toml.in"),
    ),
    (
        "README.md",
        repo_file!("policies/templates/common/README.md.in"),
    ),
    (
        ".gitignore",
        repo_file!("policies/templates/common/gitignore.in"),
    ),
    ("wit/policy.wit", WIT),
];

const RUST: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        repo_file!("policies/templates/rust/Cargo.toml.in"),
    ),
    (
        "src/lib.rs",
        repo_file!("policies/templates/rust/src/lib.rs"),
    ),
    // The versions the SDK is tested with; cargo drops the entries this project does not use.
    ("Cargo.lock", repo_file!("policies/Cargo.lock")),
    (
        "vendor/querygate-policy/Cargo.toml",
        repo_file!("policies/templates/rust/sdk.Cargo.toml.in"),
    ),
    (
        "vendor/querygate-policy/src/config.rs",
        repo_file!("policies/sdk/src/config.rs"),
    ),
    (
        "vendor/querygate-policy/src/log.rs",
        repo_file!("policies/sdk/src/log.rs"),
    ),
    (
        "vendor/querygate-policy/src/statement.rs",
        repo_file!("policies/sdk/src/statement.rs"),
    ),
    (
        "vendor/querygate-policy/src/ast.rs",
        repo_file!("policies/sdk/src/ast.rs"),
    ),
    (
        "vendor/querygate-policy/src/tree_json.rs",
        repo_file!("policies/sdk/src/tree_json.rs"),
    ),
];

/// The SDK's lib.rs; its native test helpers (`testing`) need querygate's source and stay out.
const RUST_SDK_LIB: &str = repo_file!("policies/sdk/src/lib.rs");
const RUST_SDK_TESTING: &str =
    "#[cfg(all(feature = \"testing\", not(target_arch = \"wasm32\")))]\npub mod testing;\n";

const RUST_SDK_TESTING_DOC: &str = "//! - `testing` (native only): [`testing`].\n";

const JS: &[(&str, &str)] = &[
    ("policy.js", repo_file!("policies/templates/js/policy.js")),
    (
        "package.json",
        repo_file!("policies/templates/js/package.json.in"),
    ),
    ("querygate.js", repo_file!("policies/sdk-js/querygate.js")),
];

const PYTHON: &[(&str, &str)] = &[
    ("app.py", repo_file!("policies/templates/python/app.py")),
    (
        "requirements.txt",
        repo_file!("policies/templates/python/requirements.txt"),
    ),
    ("querygate.py", repo_file!("policies/sdk-py/querygate.py")),
];

pub fn run(args: &NewArgs) -> anyhow::Result<Exit> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_some()) {
        anyhow::bail!(
            "`{}` already exists and is not empty: choose another NAME or --dir",
            dir.display()
        );
    }
    for (path, text) in files(&args.name, args.lang) {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    let shown = dir.display();
    let (lang, first) = match args.lang {
        Lang::Rust => ("Rust", format!("querygate policy build {shown}")),
        Lang::Js => ("JavaScript", format!("npm install --prefix {shown}")),
        Lang::Python => (
            "Python",
            format!(
                "python3 -m venv {shown}/.venv && {shown}/.venv/bin/pip install -r {shown}/requirements.txt"
            ),
        ),
    };
    println!(
        "created a {lang} policy in {shown}\n\nnext:\n  {first}\n  querygate policy test {shown}"
    );
    Ok(Exit::Success)
}

/// Every file of a new project, with the placeholders filled in.
fn files(name: &str, lang: Lang) -> Vec<(&'static str, String)> {
    let (label, source, toolchain, notes) = match lang {
        Lang::Rust => (
            "Rust",
            "src/lib.rs",
            "cargo build --release --target wasm32-wasip2",
            "- `vendor/querygate-policy/`: the guest SDK (typed statement and context, \
             `querygate_policy::config`, verdicts), vendored at the version of the querygate that \
             created this project. Its `ast` feature gives the syntax tree for rewrites.\n",
        ),
        Lang::Js => (
            "JavaScript",
            "policy.js",
            "componentize-qjs --sync (QuickJS), from `npm install`",
            "- `querygate.js`: the SDK (types as JSDoc, `definePolicy`, `config`, `allow`/`rewrite`/\
             `reject`, `log`). Import every module at the top of `policy.js`: a policy has no files \
             at evaluation time.\n",
        ),
        Lang::Python => (
            "Python",
            "app.py",
            "componentize-py componentize app, from `.venv` (requirements.txt)",
            "- `querygate.py`: the SDK (the `Policy` base class, `config`, `allow`/`rewrite`/\
             `reject`, `log`; the typed statement and context are the generated `wit_world` \
             bindings). Import every module at the top of `app.py`: a policy has no files at \
             evaluation time. componentize-py builds are not byte-reproducible: re-pin the \
             sha256 after every build.\n",
        ),
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{wit_version}}", wit_version())
            .replace("{{sdk_version}}", env!("CARGO_PKG_VERSION"))
            .replace("{{componentize_qjs}}", COMPONENTIZE_QJS)
            .replace("{{componentize_py}}", COMPONENTIZE_PY)
            .replace("{{lang}}", label)
            .replace("{{source}}", source)
            .replace("{{toolchain}}", toolchain)
            .replace("{{notes}}", notes)
    };
    let specific = match lang {
        Lang::Rust => RUST,
        Lang::Js => JS,
        Lang::Python => PYTHON,
    };
    let mut files: Vec<(&'static str, String)> = COMMON
        .iter()
        .chain(specific)
        .map(|(path, text)| (*path, fill(text)))
        .collect();
    if lang == Lang::Rust {
        files.push((
            "vendor/querygate-policy/src/lib.rs",
            RUST_SDK_LIB
                .replace(RUST_SDK_TESTING, "")
                .replace(RUST_SDK_TESTING_DOC, ""),
        ));
    }
    files
}

/// The version of the WIT package, `0.1.1` in `package querygate:policy@0.1.1;`.
pub fn wit_version() -> &'static str {
    WIT.lines()
        .find_map(|line| line.trim().strip_prefix("package querygate:policy@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .unwrap_or("unknown")
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "invalid policy name `{name}`: use lower-case letters, digits and `-`, starting with a \
             letter (it names the crate, the component and the policy in querygate.toml)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_sdk_leaves_out_its_native_test_helpers() {
        assert!(RUST_SDK_LIB.contains(RUST_SDK_TESTING));
        assert!(RUST_SDK_LIB.contains(RUST_SDK_TESTING_DOC));
        let files = files("p", Lang::Rust);
        let (_, lib) = files
            .iter()
            .find(|(path, _)| *path == "vendor/querygate-policy/src/lib.rs")
            .expect("lib.rs");
        assert!(!lib.contains("pub mod testing"), "{lib}");
        assert!(!lib.contains("[`testing`]"), "{lib}");
        assert!(
            lib.contains("path: \"../../wit\""),
            "the SDK finds wit/ two levels up"
        );
    }

    #[test]
    fn every_placeholder_is_filled() {
        for lang in [Lang::Rust, Lang::Js, Lang::Python] {
            for (path, text) in files("p", lang) {
                let placeholder = text.match_indices("{{").find(|(at, _)| {
                    text[at + 2..].split_once("}}").is_some_and(|(key, _)| {
                        !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                });
                assert!(placeholder.is_none(), "{path}: {placeholder:?}");
            }
        }
        assert_eq!(wit_version(), "0.1.1");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("pii-guard2").is_ok());
        for bad in ["", "Pii", "2x", "a_b", "a-", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
