//! What querygate knows about a database: tables and their columns, for policies; and, for the
//! guard, the functions, operators, types and views a statement can reach, where each comes
//! from, and what the configuration trusts (`[guard]`, see [`super::reach`]).
//!
//! Without a database (`querygate check --schema FILE`) the catalog comes from a
//! `pg_dump --schema-only` file ([`super::schema_file`]): `CREATE TABLE`, `CREATE FUNCTION`,
//! `CREATE VIEW`, `CREATE OPERATOR` and `CREATE EXTENSION` (whose members come from the
//! checked-in list of the extensions PostgreSQL ships); everything else in such a file (SET,
//! ALTER, sequences, comments) is skipped. With a database it is loaded from the server's
//! catalog. Unqualified names are looked up along a search path (`public` by default), as
//! PostgreSQL does.

use serde::Serialize;
use std::collections::HashMap;

/// A column of a relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub data_type: String,
}

/// Where a function comes from, which decides whether the guard trusts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Created by initdb but missing from querygate's audit (a newer PostgreSQL).
    UnauditedBuiltIn,
    /// A member of this extension.
    Extension(String),
    /// Created by a user: only trusted when listed in `[guard] allow_functions`.
    User,
}

/// Something that running a view, a row-level security policy, a type or an operator makes
/// PostgreSQL run or read. Names are as PostgreSQL's catalog or the schema file gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Function {
        schema: Option<String>,
        name: String,
    },
    Operator {
        schema: Option<String>,
        symbol: String,
    },
    Type {
        schema: Option<String>,
        name: String,
    },
    Relation {
        schema: Option<String>,
        name: String,
    },
}

/// Where the catalog's functions, operators and views come from: what the guard can know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Source {
    /// Nothing beyond PostgreSQL's built-ins (no database, no schema file).
    #[default]
    BuiltIns,
    /// A `pg_dump --schema-only` file.
    SchemaFile,
    /// The database's own catalog.
    Database,
}

/// `[guard]`: what the guard trusts beyond PostgreSQL's built-ins that are free of side
/// effects.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardSettings {
    /// Functions trusted by name, `schema.name` (as PostgreSQL folds it: lower case unless
    /// created with a quoted name).
    pub allow_functions: Vec<String>,
    /// Extensions whose member functions and operators are trusted.
    pub allow_extensions: Vec<String>,
}

impl GuardSettings {
    /// Say what is wrong with the settings, if anything.
    pub fn check(&self) -> Result<(), String> {
        for entry in &self.allow_functions {
            match entry.split_once('.') {
                Some((schema, name)) if !schema.is_empty() && !name.is_empty() => {}
                _ => {
                    return Err(format!(
                        "`[guard] allow_functions` entry `{entry}` must name its schema: write `schema.name`"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A relation key or a function key: (schema, name).
type Key = (String, String);

/// Relations and their columns, keyed by (schema, name); and what the guard resolves names to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    relations: HashMap<Key, Vec<Column>>,
    search_path: Vec<String>,
    pub(super) source: Source,
    pub(super) functions: HashMap<Key, Vec<Origin>>,
    /// User and extension operators by (schema, symbol): each one's function, (schema, name).
    pub(super) operators: HashMap<Key, Vec<Key>>,
    /// What using a type runs (user I/O, cast, comparison and domain check functions).
    pub(super) types: HashMap<Key, Vec<Reach>>,
    /// What reading a relation runs: a view's definition, row-level security policies,
    /// columns of user types, a foreign table's wrapper.
    pub(super) reaches: HashMap<Key, Vec<Reach>>,
    /// Installed extensions: (name, schema).
    pub(super) extensions: Vec<Key>,
    pub(super) guard: GuardSettings,
    /// What identifies the state of the database's catalog this was loaded from (see
    /// `database::catalog`); empty when not loaded from a database.
    pub freshness: String,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            relations: HashMap::new(),
            search_path: vec!["public".to_string()],
            source: Source::BuiltIns,
            functions: HashMap::new(),
            operators: HashMap::new(),
            types: HashMap::new(),
            reaches: HashMap::new(),
            extensions: Vec::new(),
            guard: GuardSettings::default(),
            freshness: String::new(),
        }
    }
}

impl Catalog {
    /// Say where the functions, operators and views come from.
    pub fn set_source(&mut self, source: Source) {
        self.source = source;
    }

    /// Trust what `[guard]` allows.
    pub fn set_guard(&mut self, guard: GuardSettings) {
        self.guard = guard;
    }

    /// The `[guard]` settings in force.
    pub fn guard(&self) -> &GuardSettings {
        &self.guard
    }

    /// Add a function that is not one of PostgreSQL's audited built-ins.
    pub fn insert_function(&mut self, schema: &str, name: &str, origin: Origin) {
        let origins = self
            .functions
            .entry((schema.to_string(), name.to_string()))
            .or_default();
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }

    /// Add a user or extension operator and the function it runs.
    pub fn insert_operator(&mut self, schema: &str, symbol: &str, function: (&str, &str)) {
        let key = (function.0.to_string(), function.1.to_string());
        let functions = self
            .operators
            .entry((schema.to_string(), symbol.to_string()))
            .or_default();
        if !functions.contains(&key) {
            functions.push(key);
        }
    }

    /// Record that using type `schema.name` reaches `what`.
    pub fn insert_type_reach(&mut self, schema: &str, name: &str, what: Reach) {
        push_unique(
            self.types
                .entry((schema.to_string(), name.to_string()))
                .or_default(),
            what,
        );
    }

    /// Record that reading relation `schema.name` reaches `what`.
    pub fn insert_relation_reach(&mut self, schema: &str, name: &str, what: Reach) {
        push_unique(
            self.reaches
                .entry((schema.to_string(), name.to_string()))
                .or_default(),
            what,
        );
    }

    /// Record an installed extension.
    pub fn insert_extension(&mut self, name: &str, schema: &str) {
        let key = (name.to_string(), schema.to_string());
        if !self.extensions.contains(&key) {
            self.extensions.push(key);
        }
    }

    /// The schema an extension is installed in, if it is.
    pub fn extension_schema(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
    }

    /// The schemas searched for unqualified names, in order, with `pg_catalog` first unless
    /// the search path places it (as PostgreSQL does).
    pub(super) fn effective_path(&self) -> Vec<&str> {
        let mut path: Vec<&str> = Vec::with_capacity(self.search_path.len() + 1);
        if !self.search_path.iter().any(|s| s == "pg_catalog") {
            path.push("pg_catalog");
        }
        path.extend(self.search_path.iter().map(String::as_str));
        path
    }

    /// Add or replace a relation.
    pub fn insert(&mut self, schema: &str, name: &str, columns: Vec<Column>) {
        self.relations
            .insert((schema.to_string(), name.to_string()), columns);
    }

    /// Set the schemas searched for unqualified names, in order.
    pub fn set_search_path(&mut self, schemas: Vec<String>) {
        self.search_path = schemas;
    }

    /// Number of relations known.
    pub fn len(&self) -> usize {
        self.relations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.relations.is_empty()
    }

    /// The columns of `schema.name`, or of `name` along the search path.
    pub fn columns(&self, schema: Option<&str>, name: &str) -> Option<&[Column]> {
        let lookup = |schema: &str| {
            self.relations
                .get(&(schema.to_string(), name.to_string()))
                .map(Vec::as_slice)
        };
        match schema {
            Some(schema) => lookup(schema),
            None => self.search_path.iter().find_map(|s| lookup(s)),
        }
    }
}

fn push_unique(list: &mut Vec<Reach>, what: Reach) {
    if !list.contains(&what) {
        list.push(what);
    }
}
