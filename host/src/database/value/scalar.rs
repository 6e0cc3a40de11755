//! Built-in base types, by OID: numbers, text, bytes, network addresses, geometry, and the
//! small system types. Dates and times are in [`super::time`].

use super::{Malformed, Reader, base64, text, time};
use serde_json::{Number, Value};
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

pub(super) const RECORD: u32 = 2249;
pub(super) const RECORD_ARRAY: u32 = 2287;

/// `None` when the OID is not a built-in base type handled here.
pub(super) fn decode(oid: u32, raw: &[u8]) -> Option<Result<Value, Malformed>> {
    let mut r = Reader::new(raw);
    let r = &mut r;
    let value = match oid {
        16 => r.u8().map(|b| Value::Bool(b != 0)),
        17 => Ok(Value::String(base64(r.rest()))),
        18 => r.u8().map(pg_char),
        // text, varchar, bpchar, name, unknown, xml, refcursor, pg_node_tree
        25 | 1043 | 1042 | 19 | 705 | 142 | 1790 | 194 => Ok(text(r.rest())),
        21 => r.i16().map(Value::from),
        23 => r.i32().map(Value::from),
        20 => r.i64().map(Value::from),
        // oid, xid, cid, regproc, regprocedure, regoper, regoperator, regclass, regtype,
        // regconfig, regdictionary, regnamespace, regrole, regcollation
        26 | 28 | 29 | 24 | 2202 | 2203 | 2204 | 2205 | 2206 | 3734 | 3769 | 4089 | 4096 | 4191 => {
            r.u32().map(Value::from)
        }
        5069 => r.u64().map(Value::from),
        700 => r.array::<4>().map(|b| {
            float(
                f32::from_be_bytes(b).to_string(),
                f64::from(f32::from_be_bytes(b)),
            )
        }),
        701 => r.f64().map(|f| float(f.to_string(), f)),
        1700 => numeric(r).map(Value::String),
        790 => r.i64().map(|cents| Value::String(money(cents))),
        114 => Ok(json(r.rest(), "json")),
        3802 => r.u8().and_then(|version| match version {
            1 => Ok(json(r.rest(), "jsonb")),
            _ => Err(Malformed),
        }),
        4072 => r.u8().and_then(|version| match version {
            1 => Ok(text(r.rest())),
            _ => Err(Malformed),
        }),
        2950 => r.array::<16>().map(|b| Value::String(uuid(&b))),
        2278 => Ok(Value::String(String::new())), // void
        1082 | 1083 | 1114 | 1184 | 1186 | 1266 => time::decode(oid, r).map(Value::String),
        869 | 650 => inet(r).map(Value::String),
        829 => r.bytes(6).map(|b| Value::String(mac(b))),
        774 => r.bytes(8).map(|b| Value::String(mac(b))),
        1560 | 1562 => bits(r).map(Value::String),
        3220 => r
            .u64()
            .map(|lsn| Value::String(format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff))),
        27 => (|| Ok(Value::String(format!("({},{})", r.u32()?, r.u16()?))))(),
        2970 | 5038 => snapshot(r).map(Value::String),
        3614 => tsvector(r).map(Value::String),
        600 | 601 | 602 | 603 | 604 | 628 | 718 => geometry(oid, r).map(Value::String),
        _ => return None,
    };
    Some(value.and_then(|v| r.done(v)))
}

/// JSON text as its value; text that serde_json cannot hold (numbers beyond f64) is tagged.
fn json(raw: &[u8], type_name: &str) -> Value {
    match serde_json::from_slice(raw) {
        Ok(value) => value,
        Err(_) => serde_json::json!({ "type": type_name, "text": String::from_utf8_lossy(raw) }),
    }
}

/// A float as a JSON number when finite. `shortest` is the shortest text that reads back as
/// the same value of the original width, so `0.1::float4` is `0.1`, not `0.10000000149011612`.
fn float(shortest: String, wide: f64) -> Value {
    if wide.is_nan() {
        return Value::String("NaN".into());
    }
    if wide.is_infinite() {
        return Value::String(if wide > 0.0 { "Infinity" } else { "-Infinity" }.into());
    }
    shortest
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(shortest), Value::Number)
}

/// `"char"`: one byte; non-ASCII bytes as PostgreSQL prints them (`\ooo`).
fn pg_char(b: u8) -> Value {
    Value::String(match b {
        0 => String::new(),
        1..=127 => char::from(b).to_string(),
        _ => format!("\\{b:03o}"),
    })
}

/// The exact decimal text of a binary `numeric`: base-10000 digits, a weight, a display scale.
fn numeric(r: &mut Reader<'_>) -> Result<String, Malformed> {
    let ndigits = r.i16()?;
    let weight = i32::from(r.i16()?);
    let sign = r.u16()?;
    let dscale = usize::from(r.u16()?);
    let digits = (0..ndigits.max(0))
        .map(|_| r.i16())
        .collect::<Result<Vec<_>, _>>()?;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return Err(Malformed),
    }
    if digits.iter().any(|d| !(0..10000).contains(d)) {
        return Err(Malformed);
    }
    let digit = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        let _ = write!(out, "{}", digit(0));
        for i in 1..=weight {
            let _ = write!(out, "{:04}", digit(i));
        }
    }
    if dscale > 0 {
        let mut fraction = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit(i));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = i128::from(cents).abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn uuid(b: &[u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `inet` / `cidr`: family, prefix bits, is-cidr flag, address length, address.
fn inet(r: &mut Reader<'_>) -> Result<String, Malformed> {
    let family = r.u8()?;
    let bits = r.u8()?;
    let is_cidr = r.u8()? != 0;
    let len = r.u8()?;
    let addr = r.bytes(usize::from(len))?;
    let (text, max) = match (family, addr.len()) {
        (2, 4) => (
            Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string(),
            32,
        ),
        (3, 16) => {
            let octets: [u8; 16] = addr.try_into().map_err(|_| Malformed)?;
            (Ipv6Addr::from(octets).to_string(), 128)
        }
        _ => return Err(Malformed),
    };
    Ok(if is_cidr || bits != max {
        format!("{text}/{bits}")
    } else {
        text
    })
}

fn bits(r: &mut Reader<'_>) -> Result<String, Malformed> {
    let len = usize::try_from(r.i32()?).map_err(|_| Malformed)?;
    let bytes = r.bytes(len.div_ceil(8))?;
    Ok((0..len)
        .map(|i| {
            if bytes[i / 8] & (0x80 >> (i % 8)) != 0 {
                '1'
            } else {
                '0'
            }
        })
        .collect())
}

/// `pg_snapshot` / `txid_snapshot`: `xmin:xmax:xip,…`.
fn snapshot(r: &mut Reader<'_>) -> Result<String, Malformed> {
    let n = r.i32()?;
    let xmin = r.u64()?;
    let xmax = r.u64()?;
    let xips = (0..n.max(0))
        .map(|_| r.u64().map(|x| x.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!("{xmin}:{xmax}:{}", xips.join(",")))
}

/// `tsvector`: `'lexeme':1A,2 'other'`.
fn tsvector(r: &mut Reader<'_>) -> Result<String, Malformed> {
    let count = r.i32()?;
    let mut out = Vec::new();
    for _ in 0..count.max(0) {
        let rest = r.rest();
        let end = rest.iter().position(|b| *b == 0).ok_or(Malformed)?;
        let lexeme = String::from_utf8_lossy(&rest[..end])
            .replace('\\', "\\\\")
            .replace('\'', "''");
        *r = Reader::new(&rest[end + 1..]);
        let mut item = format!("'{lexeme}'");
        let positions = r.u16()?;
        for i in 0..positions {
            let p = r.u16()?;
            let weight = match p >> 14 {
                3 => "A",
                2 => "B",
                1 => "C",
                _ => "",
            };
            let _ = write!(
                item,
                "{}{}{weight}",
                if i == 0 { ":" } else { "," },
                p & 0x3fff
            );
        }
        out.push(item);
    }
    Ok(out.join(" "))
}

/// Geometric types in PostgreSQL's text form.
fn geometry(oid: u32, r: &mut Reader<'_>) -> Result<String, Malformed> {
    let point = |r: &mut Reader<'_>| -> Result<String, Malformed> {
        Ok(format!("({},{})", pg_float(r.f64()?), pg_float(r.f64()?)))
    };
    let points = |r: &mut Reader<'_>, n: i32| -> Result<String, Malformed> {
        let list = (0..n.max(0))
            .map(|_| point(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(list.join(","))
    };
    Ok(match oid {
        600 => point(r)?,
        601 => format!("[{}]", points(r, 2)?),
        603 => points(r, 2)?,
        602 => {
            let closed = r.u8()? != 0;
            let n = r.i32()?;
            let (open, close) = if closed { ('(', ')') } else { ('[', ']') };
            format!("{open}{}{close}", points(r, n)?)
        }
        604 => {
            let n = r.i32()?;
            format!("({})", points(r, n)?)
        }
        628 => format!(
            "{{{},{},{}}}",
            pg_float(r.f64()?),
            pg_float(r.f64()?),
            pg_float(r.f64()?)
        ),
        718 => {
            let center = point(r)?;
            format!("<{center},{}>", pg_float(r.f64()?))
        }
        _ => return Err(Malformed),
    })
}

/// A float8 as PostgreSQL prints it (shortest exact digits; exponent form outside 1e-4..1e15).
pub(super) fn pg_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..15).contains(&exp) {
        let e_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{e_sign}{:02}", exp.abs());
    }
    let body = if exp < 0 {
        format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            format!("{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            format!("{}.{}", &digits[..int_len], &digits[int_len..])
        }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [ndigits, weight] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        for x in [sign, dscale] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_text_is_exact() {
        let n = |b: Vec<u8>| numeric(&mut Reader::new(&b)).expect("valid");
        assert_eq!(n(numeric_bytes(2, 0, 0, 2, &[12, 5000])), "12.50");
        assert_eq!(n(numeric_bytes(1, -1, 0x4000, 5, &[10])), "-0.00100");
        assert_eq!(n(numeric_bytes(1, 2, 0, 0, &[1])), "100000000");
        assert_eq!(n(numeric_bytes(0, 0, 0, 3, &[])), "0.000");
        assert_eq!(n(numeric_bytes(0, 0, 0xC000, 0, &[])), "NaN");
    }

    #[test]
    fn floats_print_like_postgres() {
        assert_eq!(pg_float(1e20), "1e+20");
        assert_eq!(pg_float(1.5e-5), "1.5e-05");
        assert_eq!(pg_float(123456789012345.0), "123456789012345");
        assert_eq!(pg_float(1e15), "1e+15");
        assert_eq!(pg_float(0.0001), "0.0001");
        assert_eq!(pg_float(-2.5), "-2.5");
        assert_eq!(pg_float(0.0), "0");
    }
}
