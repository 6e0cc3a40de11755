//! Values made of other values: arrays, ranges, multiranges, composite types, anonymous
//! records, `hstore`. Each element is decoded by its own type, recursively.

use super::{Malformed, Reader, decode_oid, to_json};
use serde_json::{Map, Value, json};
use tokio_postgres::types::{Field, Type};

/// Deeper than PostgreSQL allows (`MAXDIM` is 6): a guard against malformed input only.
const MAX_DIMS: i32 = 16;

/// `ndim`, a has-NULLs flag, the element OID, `(length, lower bound)` per dimension, then the
/// elements in row-major order, each length-prefixed.
pub(super) fn array(elem: &Type, raw: &[u8]) -> Result<Value, Malformed> {
    let mut r = Reader::new(raw);
    let ndim = r.i32()?;
    let _has_nulls = r.i32()?;
    let _elem_oid = r.u32()?;
    if !(0..=MAX_DIMS).contains(&ndim) {
        return Err(Malformed);
    }
    let mut dims = Vec::new();
    for _ in 0..ndim {
        let len = usize::try_from(r.i32()?).map_err(|_| Malformed)?;
        let _lower_bound = r.i32()?;
        dims.push(len);
    }
    if dims.is_empty() {
        return r.done(Value::Array(Vec::new()));
    }
    // Every element takes at least its four-byte length.
    let total = dims
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(*d))
        .ok_or(Malformed)?;
    if total > r.len() / 4 {
        return Err(Malformed);
    }
    let mut elements = Vec::with_capacity(total);
    for _ in 0..total {
        elements.push(to_json(elem, r.value()?));
    }
    let mut elements = elements.into_iter();
    let value = nest(&dims, &mut elements);
    r.done(value)
}

fn nest(dims: &[usize], elements: &mut impl Iterator<Item = Value>) -> Value {
    match dims.split_first() {
        Some((len, [])) => Value::Array(elements.take(*len).collect()),
        Some((len, inner)) => Value::Array((0..*len).map(|_| nest(inner, elements)).collect()),
        None => Value::Array(Vec::new()),
    }
}

const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;

/// A flags byte, then each finite bound, length-prefixed.
pub(super) fn range(elem: &Type, raw: &[u8]) -> Result<Value, Malformed> {
    let mut r = Reader::new(raw);
    let value = range_from(elem, &mut r)?;
    r.done(value)
}

fn range_from(elem: &Type, r: &mut Reader<'_>) -> Result<Value, Malformed> {
    let flags = r.u8()?;
    if flags & RANGE_EMPTY != 0 {
        return Ok(json!({ "empty": true }));
    }
    let mut bound = |infinite: bool| -> Result<Value, Malformed> {
        if infinite {
            return Ok(Value::Null);
        }
        match r.value()? {
            Some(raw) => Ok(to_json(elem, Some(raw))),
            None => Err(Malformed),
        }
    };
    let lower = bound(flags & RANGE_LB_INF != 0)?;
    let upper = bound(flags & RANGE_UB_INF != 0)?;
    Ok(json!({
        "lower": lower,
        "upper": upper,
        "lower_inc": flags & RANGE_LB_INC != 0,
        "upper_inc": flags & RANGE_UB_INC != 0,
    }))
}

/// A count, then each range, length-prefixed.
pub(super) fn multirange(elem: &Type, raw: &[u8]) -> Result<Value, Malformed> {
    let mut r = Reader::new(raw);
    let count = r.u32()?;
    let mut ranges = Vec::new();
    for _ in 0..count {
        let bytes = r.value()?.ok_or(Malformed)?;
        ranges.push(range(elem, bytes)?);
    }
    r.done(Value::Array(ranges))
}

/// A field count, then per field its type OID and its length-prefixed value.
/// Each field's type OID and value (`None` for NULL).
type Fields<'a> = Vec<(u32, Option<&'a [u8]>)>;

fn fields(raw: &[u8]) -> Result<Fields<'_>, Malformed> {
    let mut r = Reader::new(raw);
    let count = r.i32()?;
    if count < 0 || count as usize > r.len() / 8 {
        return Err(Malformed);
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let oid = r.u32()?;
        out.push((oid, r.value()?));
    }
    r.done(out)
}

/// A named composite type: an object by field name, each field decoded by its declared type.
pub(super) fn composite(declared: &[Field], raw: &[u8]) -> Result<Value, Malformed> {
    let values = fields(raw)?;
    if values.len() != declared.len() {
        return Err(Malformed);
    }
    let mut object = Map::new();
    for (field, (_, value)) in declared.iter().zip(values) {
        object.insert(field.name().to_string(), to_json(field.type_(), value));
    }
    Ok(Value::Object(object))
}

/// An anonymous `record` (`ROW(…)`): an array, each field decoded by the OID it carries.
pub(super) fn record(raw: &[u8]) -> Result<Value, Malformed> {
    Ok(Value::Array(
        fields(raw)?
            .into_iter()
            .map(|(oid, value)| decode_oid(oid, value))
            .collect(),
    ))
}

/// `hstore`: a count, then length-prefixed keys and (nullable) values.
pub(super) fn hstore(raw: &[u8]) -> Result<Value, Malformed> {
    let mut r = Reader::new(raw);
    let count = r.i32()?;
    let mut object = Map::new();
    for _ in 0..count.max(0) {
        let key = r.value()?.ok_or(Malformed)?;
        let value = r.value()?;
        object.insert(
            String::from_utf8_lossy(key).into_owned(),
            value.map_or(Value::Null, |v| {
                Value::String(String::from_utf8_lossy(v).into_owned())
            }),
        );
    }
    r.done(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int4_array(dims: &[(i32, i32)], elements: &[Option<i32>]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(dims.len() as i32).to_be_bytes());
        v.extend_from_slice(&1i32.to_be_bytes());
        v.extend_from_slice(&23u32.to_be_bytes());
        for (len, lb) in dims {
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(&lb.to_be_bytes());
        }
        for e in elements {
            match e {
                Some(x) => {
                    v.extend_from_slice(&4i32.to_be_bytes());
                    v.extend_from_slice(&x.to_be_bytes());
                }
                None => v.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        v
    }

    #[test]
    fn arrays_nest_by_dimension_and_keep_nulls() {
        let raw = int4_array(&[(2, 1), (2, 1)], &[Some(1), None, Some(3), Some(4)]);
        assert_eq!(
            array(&Type::INT4, &raw).expect("valid"),
            json!([[1, null], [3, 4]])
        );
        assert_eq!(
            array(&Type::INT4, &int4_array(&[], &[])).expect("valid"),
            json!([])
        );
        let lying = int4_array(&[(1000, 1)], &[Some(1)]);
        assert!(array(&Type::INT4, &lying).is_err());
    }

    #[test]
    fn ranges_show_bounds_and_inclusivity() {
        let mut raw = vec![RANGE_LB_INC | RANGE_UB_INF];
        raw.extend_from_slice(&4i32.to_be_bytes());
        raw.extend_from_slice(&5i32.to_be_bytes());
        assert_eq!(
            range(&Type::INT4, &raw).expect("valid"),
            json!({"lower": 5, "upper": null, "lower_inc": true, "upper_inc": false})
        );
        assert_eq!(
            range(&Type::INT4, &[RANGE_EMPTY]).expect("valid"),
            json!({"empty": true})
        );
    }
}
