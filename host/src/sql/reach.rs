//! The guard's catalog check: everything a statement can reach must be known to have no side
//! effect.
//!
//! It is an allow-list resolved through the [`Catalog`], not a list of bad names. A function
//! call is allowed only if every function PostgreSQL could resolve the name to (in the named
//! schema, or in every schema on the effective search path, `pg_catalog` first) is one of:
//! a built-in that the audit found free of side effects ([`super::functions`]); a member of an
//! extension named in `[guard] allow_extensions`; or listed in `[guard] allow_functions`.
//! Every candidate, not only the one PostgreSQL would pick: which one it picks depends on
//! argument types querygate does not infer, and an overload added beside a built-in
//! (`public.lower(integer)`) must not slip through under the built-in's name.
//!
//! An operator is checked through the function it runs, resolved the same way. A view, and a
//! table with row-level security policies, columns of user types or a foreign-data wrapper, is
//! checked through what it reaches, recursively. A cast to a type is checked through the user
//! functions using that type runs (input/output, casts, comparisons, domain checks). A name the
//! catalog does not know is refused, never assumed safe.

use super::catalog::{Catalog, Origin, Reach, Source};
use super::functions::{is_builtin_function, is_builtin_operator, side_effect};

/// Deepest chain of views over views followed; deeper is refused.
const MAX_REACH_DEPTH: usize = 32;

/// Why the guard refuses something a statement reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachRefusal {
    /// What is refused and why, for the user.
    pub message: String,
    /// The function the catalog does not know, when that is the reason (`schema.name`, or
    /// `name` as written): it may have been created since the catalog was loaded.
    pub unknown_function: Option<String>,
}

impl ReachRefusal {
    fn new(message: String) -> Self {
        ReachRefusal {
            message,
            unknown_function: None,
        }
    }

    /// The same refusal, met through something else: `wrap` says what, around the message.
    fn within(mut self, wrap: impl FnOnce(&str) -> String) -> Self {
        self.message = wrap(&self.message);
        self
    }
}

impl Catalog {
    /// Whether calling `schema.name` (or `name` along the search path) is allowed.
    pub fn check_function(&self, schema: Option<&str>, name: &str) -> Result<(), ReachRefusal> {
        if let Some(why) = side_effect(name) {
            return Err(ReachRefusal::new(format!(
                "function `{}` is not allowed: it {why}",
                name.to_lowercase()
            )));
        }
        let schemas = match schema {
            Some(schema) => vec![schema],
            None => self.effective_path(),
        };
        let mut found = false;
        for schema in schemas {
            let qualified = format!("{schema}.{name}");
            if self.guard.allow_functions.contains(&qualified) {
                found = true;
                continue;
            }
            if is_builtin_function(schema, name) {
                found = true;
            }
            for origin in self
                .functions
                .get(&(schema.to_string(), name.to_string()))
                .into_iter()
                .flatten()
            {
                found = true;
                match origin {
                    Origin::Extension(extension) => {
                        if !self.guard.allow_extensions.contains(extension) {
                            return Err(ReachRefusal::new(format!(
                                "function `{qualified}` belongs to extension `{extension}`, which \
                                 is not allowed: allow it with `[guard] allow_extensions = \
                                 [\"{extension}\"]` if its functions are free of side effects"
                            )));
                        }
                    }
                    Origin::User => {
                        return Err(ReachRefusal::new(format!(
                            "function `{qualified}` is not known to be free of side effects: \
                             allow it with `[guard] allow_functions = [\"{qualified}\"]` if it is"
                        )));
                    }
                    Origin::UnauditedBuiltIn => {
                        return Err(ReachRefusal::new(format!(
                            "function `{qualified}` is a built-in of this PostgreSQL version \
                             that querygate has not audited ({} were): allow it with \
                             `[guard] allow_functions = [\"{qualified}\"]` if it is free of side \
                             effects",
                            super::functions::AUDITED_VERSIONS
                        )));
                    }
                }
            }
        }
        if found {
            return Ok(());
        }
        let shown = match schema {
            Some(schema) => format!("{schema}.{name}"),
            None => name.to_string(),
        };
        Err(ReachRefusal {
            message: format!(
                "unknown function `{shown}`: {}",
                match self.source {
                    Source::Database => "it is not in the database's catalog",
                    Source::SchemaFile =>
                        "it is neither a PostgreSQL built-in nor in the schema file",
                    Source::BuiltIns =>
                        "it is not a PostgreSQL built-in, and without a schema querygate cannot see \
                     what it does: pass the `pg_dump --schema-only` file with `--schema`, or \
                     allow it with `[guard] allow_functions = [\"schema.name\"]`",
                }
            ),
            unknown_function: Some(shown),
        })
    }

    /// Whether using operator `symbol` (`OPERATOR(schema.symbol)` when `schema` is given) is
    /// allowed: every operator of that name on the path runs an allowed function.
    pub fn check_operator(&self, schema: Option<&str>, symbol: &str) -> Result<(), ReachRefusal> {
        let schemas = match schema {
            Some(schema) => vec![schema],
            None => self.effective_path(),
        };
        let mut found = false;
        for schema in schemas {
            if is_builtin_operator(schema, symbol) {
                found = true;
            }
            for (fschema, fname) in self
                .operators
                .get(&(schema.to_string(), symbol.to_string()))
                .into_iter()
                .flatten()
            {
                found = true;
                self.check_function(Some(fschema), fname).map_err(|why| {
                    why.within(|why| format!("operator `{schema}.{symbol}` runs {why}"))
                })?;
            }
        }
        if found {
            Ok(())
        } else {
            Err(ReachRefusal::new(format!(
                "unknown operator `{symbol}`: {}",
                match self.source {
                    Source::Database => "it is not in the database's catalog",
                    Source::SchemaFile =>
                        "it is neither a PostgreSQL built-in nor in the schema file",
                    Source::BuiltIns =>
                        "it is not a PostgreSQL built-in, and without a schema querygate cannot \
                         see what it runs: pass the `pg_dump --schema-only` file with `--schema`",
                }
            )))
        }
    }

    /// Whether using type `name` (a cast, a column) is allowed: every user function it runs is.
    pub fn check_type(&self, schema: Option<&str>, name: &str) -> Result<(), ReachRefusal> {
        self.check_type_at(schema, name, 0)
    }

    /// Whether reading relation `name` is allowed: everything it reaches is.
    pub fn check_relation(&self, schema: Option<&str>, name: &str) -> Result<(), ReachRefusal> {
        self.check_relation_at(schema, name, 0)
    }

    fn check_type_at(
        &self,
        schema: Option<&str>,
        name: &str,
        depth: usize,
    ) -> Result<(), ReachRefusal> {
        let schemas = match schema {
            Some(schema) => vec![schema],
            None => self.effective_path(),
        };
        for schema in schemas {
            if let Some(reach) = self.types.get(&(schema.to_string(), name.to_string())) {
                for what in reach {
                    self.check_reach(what, depth + 1).map_err(|why| {
                        why.within(|why| format!("type `{schema}.{name}` runs {why}"))
                    })?;
                }
            }
        }
        Ok(())
    }

    fn check_relation_at(
        &self,
        schema: Option<&str>,
        name: &str,
        depth: usize,
    ) -> Result<(), ReachRefusal> {
        // A relation resolves to the first schema on the path that has it.
        let found = match schema {
            Some(schema) => self
                .reaches
                .get(&(schema.to_string(), name.to_string()))
                .map(|r| (schema, r)),
            None => self.effective_path().into_iter().find_map(|schema| {
                self.reaches
                    .get(&(schema.to_string(), name.to_string()))
                    .map(|r| (schema, r))
            }),
        };
        let Some((schema, reach)) = found else {
            return Ok(());
        };
        for what in reach {
            self.check_reach(what, depth + 1).map_err(|why| {
                why.within(|why| format!("relation `{schema}.{name}` reaches {why}"))
            })?;
        }
        Ok(())
    }

    fn check_reach(&self, what: &Reach, depth: usize) -> Result<(), ReachRefusal> {
        if depth > MAX_REACH_DEPTH {
            return Err(ReachRefusal::new(format!(
                "views nested more than {MAX_REACH_DEPTH} levels deep, which the guard does not follow"
            )));
        }
        match what {
            Reach::Function { schema, name } => self.check_function(schema.as_deref(), name),
            Reach::Operator { schema, symbol } => self.check_operator(schema.as_deref(), symbol),
            Reach::Type { schema, name } => self.check_type_at(schema.as_deref(), name, depth),
            Reach::Relation { schema, name } => {
                self.check_relation_at(schema.as_deref(), name, depth)
            }
        }
    }
}
