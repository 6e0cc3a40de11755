//! What querygate knows about tables and their columns, for policies.
//!
//! Without a database (`querygate check --schema FILE`) the catalog comes from `CREATE TABLE`
//! statements as `pg_dump --schema-only` writes them; everything else in such a file (SET,
//! ALTER, sequences, comments, functions) is skipped. With a database it is loaded from the
//! server's catalog. Unqualified names are looked up along a search path (`public` by default),
//! as PostgreSQL does.

use super::SqlError;
use serde::Serialize;
use sqlparser::ast::{CreateTable, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::HashMap;

/// A column of a relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub data_type: String,
}

/// Relations and their columns, keyed by (schema, name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    relations: HashMap<(String, String), Vec<Column>>,
    search_path: Vec<String>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            relations: HashMap::new(),
            search_path: vec!["public".to_string()],
        }
    }
}

impl Catalog {
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

    /// Read `CREATE TABLE` statements from a schema dump.
    pub fn from_schema_sql(text: &str) -> Result<Catalog, SqlError> {
        let mut catalog = Catalog::default();
        for (line, chunk) in statements(text)? {
            if !is_create_table(&chunk) {
                continue;
            }
            let parsed =
                Parser::parse_sql(&PostgreSqlDialect {}, &chunk).map_err(|e| SqlError::Schema {
                    message: format!("CREATE TABLE starting at line {line}: {e}"),
                })?;
            for statement in parsed {
                if let Statement::CreateTable(CreateTable { name, columns, .. }) = statement {
                    let mut parts: Vec<String> = name
                        .0
                        .iter()
                        .map(|p| match p.as_ident() {
                            Some(ident) => super::facts::fold(ident),
                            None => p.to_string(),
                        })
                        .collect();
                    let table = parts.pop().unwrap_or_default();
                    let schema = parts.pop().unwrap_or_else(|| "public".to_string());
                    let columns = columns
                        .iter()
                        .map(|c| Column {
                            name: super::facts::fold(&c.name),
                            data_type: c.data_type.to_string().to_lowercase(),
                        })
                        .collect();
                    catalog.insert(&schema, &table, columns);
                }
            }
        }
        Ok(catalog)
    }
}

/// Split a script into statements with sqlparser's tokenizer (so quotes, dollar quotes and
/// comments are respected), each with the line it starts on.
fn statements(text: &str) -> Result<Vec<(u64, String)>, SqlError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| SqlError::Schema {
            message: e.to_string(),
        })?;
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start_line = None;
    for token in tokens {
        if token.token == Token::SemiColon {
            if let Some(line) = start_line.take() {
                out.push((line, std::mem::take(&mut current)));
            }
            current.clear();
            continue;
        }
        if start_line.is_none() && !matches!(token.token, Token::Whitespace(_)) {
            start_line = Some(token.span.start.line);
        }
        current.push_str(&token.token.to_string());
    }
    if let Some(line) = start_line {
        out.push((line, current));
    }
    Ok(out)
}

fn is_create_table(chunk: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, chunk).tokenize() else {
        return false;
    };
    let mut words = tokens.iter().filter_map(|t| match t {
        Token::Word(w) => Some(w.keyword),
        _ => None,
    });
    if words.next() != Some(Keyword::CREATE) {
        return false;
    }
    words
        .take_while(|k| *k != Keyword::NoKeyword)
        .any(|k| k == Keyword::TABLE)
}
