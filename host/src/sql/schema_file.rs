//! Reading a `pg_dump --schema-only` file into a [`Catalog`] (`querygate check --schema FILE`):
//! `CREATE TABLE` through sqlparser; `CREATE FUNCTION`, `CREATE VIEW`, `CREATE DOMAIN`,
//! `CREATE OPERATOR`, `CREATE EXTENSION` and `CREATE POLICY` through PostgreSQL's grammar
//! ([`super::postgres`]); everything else in such a file (SET, ALTER, sequences, comments) is
//! skipped.

use super::catalog::{Catalog, Column, Source};
use super::names::{fold, idents};
use sqlparser::ast::{CreateTable, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// Why a schema file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schema file: {message}")]
pub struct SchemaError {
    pub message: String,
}

impl Catalog {
    /// Read `CREATE TABLE`, `CREATE FUNCTION`, `CREATE VIEW`, `CREATE OPERATOR` and
    /// `CREATE EXTENSION` statements from a schema dump.
    pub fn from_schema_sql(text: &str) -> Result<Catalog, SchemaError> {
        let mut catalog = Catalog::default();
        catalog.set_source(Source::SchemaFile);
        for (line, chunk) in statements(text)? {
            if !is_create_table(&chunk) {
                #[cfg(feature = "grammar")]
                super::postgres::read_schema_statement(&chunk, &mut catalog).map_err(
                    |message| SchemaError {
                        message: format!("statement starting at line {line}: {message}"),
                    },
                )?;
                continue;
            }
            let parsed =
                Parser::parse_sql(&PostgreSqlDialect {}, &chunk).map_err(|e| SchemaError {
                    message: format!("CREATE TABLE starting at line {line}: {e}"),
                })?;
            for statement in parsed {
                if let Statement::CreateTable(CreateTable { name, columns, .. }) = statement {
                    let mut parts = idents(&name);
                    let table = parts.pop().unwrap_or_default();
                    let schema = parts.pop().unwrap_or_else(|| "public".to_string());
                    let columns = columns
                        .iter()
                        .map(|c| Column {
                            name: fold(&c.name),
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
fn statements(text: &str) -> Result<Vec<(u64, String)>, SchemaError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| SchemaError {
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
