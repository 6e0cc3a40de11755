//! Dates, times and intervals from their binary form (microseconds and days since
//! 2000-01-01, PostgreSQL's epoch) to text.
//!
//! Dates and timestamps are ISO 8601 (`T` separator; `timestamptz` in UTC with `Z`), with
//! PostgreSQL's `infinity` / `-infinity`. Years before 1 AD are astronomical (1 BC is `0000`)
//! and years past 9999 carry a `+`, as ISO 8601's expanded form does; the proleptic Gregorian
//! calendar is PostgreSQL's too. Fractions of a second drop trailing zeros, as PostgreSQL does.
//! `time`, `timetz` and `interval` use PostgreSQL's own text forms (interval in the default
//! `IntervalStyle = postgres`).

use super::{Malformed, Reader};
use std::fmt::Write;

const USECS_PER_DAY: i64 = 86_400_000_000;
/// Days from 1970-01-01 to 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

pub(super) fn decode(oid: u32, r: &mut Reader<'_>) -> Result<String, Malformed> {
    Ok(match oid {
        1082 => match r.i32()? {
            i32::MAX => "infinity".into(),
            i32::MIN => "-infinity".into(),
            days => date(i64::from(days)),
        },
        1114 | 1184 => match r.i64()? {
            i64::MAX => "infinity".into(),
            i64::MIN => "-infinity".into(),
            usecs => {
                let days = usecs.div_euclid(USECS_PER_DAY);
                let time = clock(usecs.rem_euclid(USECS_PER_DAY));
                let zone = if oid == 1184 { "Z" } else { "" };
                format!("{}T{time}{zone}", date(days))
            }
        },
        1083 => clock(r.i64()?),
        1266 => {
            let time = clock(r.i64()?);
            format!("{time}{}", zone(r.i32()?))
        }
        1186 => {
            let usecs = r.i64()?;
            let days = r.i32()?;
            let months = r.i32()?;
            interval(usecs, days, months)
        }
        _ => return Err(Malformed),
    })
}

/// Days since 2000-01-01 as `YYYY-MM-DD` (H. Hinnant's civil-from-days).
fn date(days: i64) -> String {
    let z = days + PG_EPOCH_DAYS + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year = match year {
        0..=9999 => format!("{year:04}"),
        y if y > 9999 => format!("+{y}"),
        y => format!("-{:04}", -y),
    };
    format!("{year}-{month:02}-{day:02}")
}

/// Microseconds since midnight as `HH:MM:SS[.ffffff]`.
fn clock(usecs: i64) -> String {
    let secs = usecs / 1_000_000;
    let mut out = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    fraction(&mut out, usecs % 1_000_000);
    out
}

/// `.ffffff` without trailing zeros; nothing for zero.
fn fraction(out: &mut String, usecs: i64) {
    if usecs != 0 {
        let digits = format!("{:06}", usecs.abs());
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// A `timetz` zone, stored as seconds west of UTC: `+02`, `-03:30`, `+05:45:10`.
fn zone(west: i32) -> String {
    let total = west.unsigned_abs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let sign = if west <= 0 { '+' } else { '-' };
    let mut out = format!("{sign}{hours:02}");
    if minutes != 0 || seconds != 0 {
        let _ = write!(out, ":{minutes:02}");
    }
    if seconds != 0 {
        let _ = write!(out, ":{seconds:02}");
    }
    out
}

/// PostgreSQL's `EncodeInterval` for `IntervalStyle = postgres`:
/// `1 year 2 mons -3 days +04:05:06.5`.
fn interval(usecs: i64, days: i32, months: i32) -> String {
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    for (value, unit) in [
        (i64::from(months / 12), "year"),
        (i64::from(months % 12), "mon"),
        (i64::from(days), "day"),
    ] {
        if value == 0 {
            continue;
        }
        let _ = write!(
            out,
            "{}{}{value} {unit}{}",
            if is_zero { "" } else { " " },
            if is_before && value > 0 { "+" } else { "" },
            if value != 1 { "s" } else { "" }
        );
        is_before = value < 0;
        is_zero = false;
    }
    let hours = usecs / 3_600_000_000;
    let minutes = usecs / 60_000_000 % 60;
    let seconds = usecs / 1_000_000 % 60;
    let micros = usecs % 1_000_000;
    if is_zero || usecs != 0 {
        let minus = hours < 0 || minutes < 0 || seconds < 0 || micros < 0;
        let _ = write!(
            out,
            "{}{}{:02}:{:02}:{:02}",
            if is_zero { "" } else { " " },
            if minus {
                "-"
            } else if is_before {
                "+"
            } else {
                ""
            },
            hours.unsigned_abs(),
            minutes.unsigned_abs(),
            seconds.unsigned_abs()
        );
        fraction(&mut out, micros);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_across_eras() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(59), "2000-02-29");
        assert_eq!(date(-730_485), "0000-01-01"); // 1 BC
        assert_eq!(date(2_914_695), "9980-03-01");
        assert_eq!(date(-730_119), "0001-01-01");
    }

    #[test]
    fn intervals_match_postgres() {
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(
            interval(3_723_500_000, 3, 14),
            "1 year 2 mons 3 days 01:02:03.5"
        );
        assert_eq!(interval(-60_000_000, -1, 0), "-1 days -00:01:00");
        assert_eq!(interval(60_000_000, -1, 0), "-1 days +00:01:00");
        assert_eq!(interval(0, 1, -1), "-1 mons +1 day");
    }

    #[test]
    fn zones() {
        assert_eq!(zone(-7200), "+02");
        assert_eq!(zone(12_600), "-03:30");
        assert_eq!(zone(0), "+00");
    }
}
