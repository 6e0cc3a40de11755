//! PostgreSQL values to JSON, decoded from the binary wire format.
//!
//! tokio-postgres always asks the server for binary results, and the statement must run as the
//! policies approved it (no wrapping it in a query that casts to text). So every value is
//! decoded here from its binary form, by type OID for built-in types and by the type's kind
//! (array, range, multirange, domain, enum, composite) for the rest, recursively:
//!
//! | PostgreSQL | JSON |
//! |---|---|
//! | `bool` | `true` / `false` |
//! | `int2`, `int4`, `int8`, `oid`, `xid`, `cid`, `xid8`, `reg*` (as the OID) | number |
//! | `float4`, `float8` | number; `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | `numeric` | string, exact (`"12.50"`, `"NaN"`, `"Infinity"`) |
//! | `money` | string with two decimals (`"-1234.56"`; locale symbols not applied) |
//! | text types, `name`, `"char"`, `xml`, enums, `citext`, `void` | string |
//! | `date`, `timestamp`, `timestamptz` | ISO 8601 (`2024-05-01`, `2024-05-01T10:30:00.5`, `…Z` in UTC), `"infinity"`, `"-infinity"`; BC years as astronomical (`-0043-03-15`) |
//! | `time`, `timetz`, `interval`, `uuid`, `inet`, `cidr`, `macaddr[8]`, `bit`, `varbit`, `pg_lsn`, `tid`, geometric types, `tsvector`, `pg_snapshot`, `jsonpath` | PostgreSQL's text form (interval in the default `postgres` style) |
//! | `json`, `jsonb` | the JSON value itself |
//! | `bytea` | base64 string (standard alphabet, padded) |
//! | arrays (any element type, any number of dimensions, NULL elements) | nested arrays (lower bounds dropped) |
//! | ranges | `{"lower", "upper", "lower_inc", "upper_inc"}` (`null` bound = unbounded), `{"empty": true}` |
//! | multiranges | array of ranges |
//! | composite types | object by field name; anonymous `record`s: array of values |
//! | `hstore` | object of string (or null) values |
//! | anything else | `{"type": "<name>", "base64": "<raw binary value>"}` |
//!
//! `null` means SQL NULL and nothing else. A value that cannot be decoded (which would be a
//! bug) is returned in the tagged base64 form rather than failing the statement. Types without
//! any binary output function (only `aclitem` among the built-ins) are refused by the server
//! itself; the executor's error then says to cast the column to text.

mod container;
mod scalar;
mod time;

use base64::Engine;
use serde_json::{Value, json};
use tokio_postgres::types::{FromSql, Kind, Type};

/// The raw bytes of one column of a row, whatever its type.
pub(crate) struct Raw<'a>(pub Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A value's bytes did not have the shape its type promised.
#[derive(Debug)]
pub(crate) struct Malformed;

/// One value (or SQL NULL) as JSON. Never fails.
pub(crate) fn to_json(ty: &Type, raw: Option<&[u8]>) -> Value {
    match raw {
        None => Value::Null,
        Some(raw) => decode(ty, raw).unwrap_or_else(|_| tagged(&type_name(ty), raw)),
    }
}

fn decode(ty: &Type, raw: &[u8]) -> Result<Value, Malformed> {
    if ty.oid() == scalar::RECORD_ARRAY {
        return container::array(&Type::RECORD, raw); // a pseudo-type to tokio-postgres
    }
    match ty.kind() {
        Kind::Array(elem) => return container::array(elem, raw),
        Kind::Range(elem) => return container::range(elem, raw),
        Kind::Multirange(elem) => return container::multirange(elem, raw),
        Kind::Domain(base) => return decode(base, raw),
        Kind::Composite(fields) => return container::composite(fields, raw),
        Kind::Enum(_) => return Ok(text(raw)),
        _ => {}
    }
    if let Some(value) = scalar::decode(ty.oid(), raw) {
        return value;
    }
    if ty.oid() == scalar::RECORD {
        return container::record(raw);
    }
    match ty.name() {
        "citext" => Ok(text(raw)),
        "hstore" => container::hstore(raw),
        _ => Ok(tagged(&type_name(ty), raw)),
    }
}

/// A value decoded by OID alone (fields of anonymous records carry only their OID).
fn decode_oid(oid: u32, raw: Option<&[u8]>) -> Value {
    match Type::from_oid(oid) {
        Some(ty) => to_json(&ty, raw),
        None => match raw {
            None => Value::Null,
            Some(raw) => tagged(&format!("oid {oid}"), raw),
        },
    }
}

fn text(raw: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(raw).into_owned())
}

fn base64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The form of a value querygate has no decoder for.
fn tagged(type_name: &str, raw: &[u8]) -> Value {
    json!({ "type": type_name, "base64": base64(raw) })
}

/// The name shown in a result's column header: `int4`, `text[]`, `myschema.mood`.
pub(crate) fn type_name(ty: &Type) -> String {
    let base = match ty.kind() {
        Kind::Array(elem) => return format!("{}[]", type_name(elem)),
        _ => ty.name(),
    };
    match ty.schema() {
        "pg_catalog" | "public" | "" => base.to_string(),
        schema => format!("{schema}.{base}"),
    }
}

/// Reads big-endian fields off a value's bytes.
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub fn new(raw: &'a [u8]) -> Reader<'a> {
        Reader(raw)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        self.bytes(N)?.try_into().map_err(|_| Malformed)
    }

    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.array::<1>()?[0])
    }
    pub fn i16(&mut self) -> Result<i16, Malformed> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub fn u16(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Result<i32, Malformed> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Result<i64, Malformed> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub fn f64(&mut self) -> Result<f64, Malformed> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// A length-prefixed value: `-1` is NULL.
    pub fn value(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        match self.i32()? {
            -1 => Ok(None),
            n if n >= 0 => Ok(Some(self.bytes(n as usize)?)),
            _ => Err(Malformed),
        }
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Fail unless every byte was read.
    pub fn done<T>(&self, value: T) -> Result<T, Malformed> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(Malformed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_is_only_sql_null() {
        assert_eq!(to_json(&Type::TEXT, None), Value::Null);
        assert_eq!(to_json(&Type::TEXT, Some(b"")), json!(""));
        assert_eq!(to_json(&Type::VOID, Some(b"")), json!(""));
    }

    #[test]
    fn malformed_and_unknown_values_are_tagged_not_dropped() {
        assert_eq!(
            to_json(&Type::INT4, Some(&[1, 2])),
            json!({"type": "int4", "base64": "AQI="})
        );
        let custom = Type::new("geometry".into(), 99999, Kind::Simple, "public".into());
        assert_eq!(
            to_json(&custom, Some(&[0xff])),
            json!({"type": "geometry", "base64": "/w=="})
        );
    }

    #[test]
    fn type_names() {
        assert_eq!(type_name(&Type::INT4_ARRAY), "int4[]");
        let enum_ty = Type::new("mood".into(), 99998, Kind::Enum(vec![]), "app".into());
        assert_eq!(type_name(&enum_ty), "app.mood");
    }
}
