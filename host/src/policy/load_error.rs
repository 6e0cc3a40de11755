//! What to do about a component that does not load. wasmtime's message names the technical
//! cause ("no export `evaluate` found"); [`advice`] names what the component lacks or asks for
//! (an import querygate does not provide, a WIT version it does not speak, more memory at start
//! than the cap) and the step that fixes it.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT package this host speaks.
pub const WIT_PACKAGE: &str = "querygate:policy@0.1.1";

/// The interfaces of [`WIT_PACKAGE`] a component may import, at this version or an earlier
/// 0.1.z (wasmtime's linker matches semver-compatible versions).
const POLICY_INTERFACES: &[(&str, u32)] = &[("types", 0), ("sql", 1)];

/// Import namespaces the sandbox links: WASI 0.2 (with an empty context) and the policy world.
const PROVIDED: &[&str] = &[
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:random/",
    "wasi:sockets/",
];

/// The step that makes a component loadable, given wasmtime's `message` and, when it parsed,
/// the component.
pub fn advice(engine: &Engine, component: Option<&Component>, message: &str) -> String {
    if message.contains("attempted to parse a wasm module with a component parser") {
        return "it is a core WebAssembly module, not a component: build Rust policies for \
                wasm32-wasip2 (not wasm32-unknown-unknown or wasip1), or use `querygate policy build`"
            .to_string();
    }
    if let Some(advice) = memory(message) {
        return advice;
    }
    if let Some(component) = component {
        let unknown: Vec<String> = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .filter(|name| !provided(name))
            .collect();
        if let Some(other) = unknown
            .iter()
            .find(|name| name.starts_with("querygate:policy/"))
        {
            return format!(
                "it was built against `{other}`, and this querygate speaks {WIT_PACKAGE}: rebuild \
                 it against this querygate's wit/ (`querygate policy new` writes a copy)"
            );
        }
        if !unknown.is_empty() {
            let names = unknown
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return format!(
                "it imports {names}, which the sandbox does not provide (it links WASI 0.2 without \
                 HTTP, and {WIT_PACKAGE}): build it without them (StarlingMonkey JavaScript: \
                 `-d http fetch-event`, or componentize-qjs `--sync`)"
            );
        }
    }
    if message.contains("no export `evaluate`") {
        return format!(
            "it does not export `evaluate`: build it from the `policy` world of wit/ \
             ({WIT_PACKAGE})"
        );
    }
    format!(
        "build it from the `policy` world of wit/ ({WIT_PACKAGE}), as `querygate policy build` does"
    )
}

fn provided(name: &str) -> bool {
    name == "log"
        || policy_interface(name)
        || PROVIDED
            .iter()
            .any(|prefix| name.starts_with(prefix) && name.contains("@0.2."))
}

/// `querygate:policy/<interface>@0.1.z` for an interface this host has had since 0.1.z or earlier.
fn policy_interface(name: &str) -> bool {
    let Some((interface, version)) = name
        .strip_prefix("querygate:policy/")
        .and_then(|rest| rest.split_once("@0.1."))
    else {
        return false;
    };
    let Ok(patch) = version.parse::<u32>() else {
        return false;
    };
    let current: u32 = WIT_PACKAGE
        .rsplit('.')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    POLICY_INTERFACES
        .iter()
        .any(|&(known, since)| known == interface && since <= patch && patch <= current)
}

/// "memory has a minimum byte size of N which exceeds the limit of 0xM bytes" (pooling allocator).
fn memory(message: &str) -> Option<String> {
    let rest = message.split("minimum byte size of ").nth(1)?;
    let (minimum, rest) = rest.split_once(' ')?;
    let limit = rest
        .split("exceeds the limit of ")
        .nth(1)?
        .split(' ')
        .next()?;
    let minimum: u64 = minimum.parse().ok()?;
    let limit = match limit.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => limit.parse().ok()?,
    };
    let mib = |bytes: u64| bytes.div_ceil(1024 * 1024);
    Some(format!(
        "its memory starts at {} MiB, more than the {} MiB a policy may use \
         (`policy_memory_mib` in [limits]): raise the limit, or build it with a smaller initial memory",
        mib(minimum),
        mib(limit)
    ))
}

#[cfg(test)]
mod tests {
    use crate::policy::{PolicyLimits, PolicySpec, Runtime};

    fn load(wat: &str) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.wat");
        std::fs::write(&path, wat).expect("write");
        let runtime = Runtime::new(PolicyLimits::default(), None).expect("runtime");
        let spec = PolicySpec {
            name: "p".into(),
            path,
            sha256: None,
            config: serde_json::Value::Null,
            mode: Default::default(),
        };
        runtime
            .load(&spec)
            .map(|_| ())
            .expect_err("does not load")
            .to_string()
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        let error = load("(module)");
        assert!(
            error.contains("it is a core WebAssembly module, not a component"),
            "{error}"
        );
    }

    #[test]
    fn an_import_the_sandbox_lacks_is_named() {
        let error = load("(component (import \"wasi:http/types@0.2.0\" (instance)))");
        assert!(
            error
                .contains("it imports `wasi:http/types@0.2.0`, which the sandbox does not provide"),
            "{error}"
        );
        assert!(!error.contains("Build it for"), "{error}");
    }

    #[test]
    fn another_wit_version_is_named() {
        let error = load("(component (import \"querygate:policy/types@0.2.0\" (instance)))");
        assert!(
            error.contains(
                "it was built against `querygate:policy/types@0.2.0`, and this querygate speaks \
                 querygate:policy@0.1.1"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_later_patch_version_is_named() {
        let error = load("(component (import \"querygate:policy/sql@0.1.2\" (instance)))");
        assert!(
            error.contains("it was built against `querygate:policy/sql@0.1.2`"),
            "{error}"
        );
    }

    #[test]
    fn imports_of_earlier_patch_versions_are_provided() {
        // Only the missing export is left to complain about: 0.1.0's types and 0.1.1's sql link.
        for import in ["querygate:policy/types@0.1.0", "querygate:policy/sql@0.1.1"] {
            let error = load(&format!("(component (import \"{import}\" (instance)))"));
            assert!(
                error.contains("it does not export `evaluate`"),
                "{import}: {error}"
            );
        }
        // `sql` did not exist in 0.1.0.
        assert!(!super::policy_interface("querygate:policy/sql@0.1.0"));
    }

    #[test]
    fn a_component_without_evaluate_says_so() {
        let error = load("(component)");
        assert!(error.contains("it does not export `evaluate`"), "{error}");
    }

    #[test]
    fn a_memory_minimum_over_the_cap_is_named() {
        // 2000 pages of 64 KiB = 125 MiB at start, against the default cap of 64 MiB.
        let error =
            load("(component (core module $m (memory 2000)) (core instance (instantiate $m)))");
        assert!(
            error.contains("its memory starts at 125 MiB, more than the 64 MiB a policy may use"),
            "{error}"
        );
    }
}
