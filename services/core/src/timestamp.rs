//! Every accepted timestamp form, normalised to UTC milliseconds since the epoch.
//!
//! Accepted: RFC 3339 / ISO 8601 strings with any offset (`Z`, `+02:00`,
//! `+0200`), with `T` or a space between date and time and any fraction;
//! a string without an offset is taken as UTC; a bare date is midnight UTC.
//! Epoch numbers (JSON integers, floats, or digit strings) in seconds,
//! milliseconds, microseconds or nanoseconds, told apart by magnitude:
//!
//! | absolute value        | unit         |
//! |-----------------------|--------------|
//! | < 10^11               | seconds      |
//! | < 10^14               | milliseconds |
//! | < 10^17               | microseconds |
//! | otherwise             | nanoseconds  |
//!
//! The result must lie in [`MIN_MS`, `MAX_MS`): 1970-01-01 up to (not
//! including) 2200-01-01 UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

/// Earliest accepted timestamp: 1970-01-01T00:00:00Z.
pub const MIN_MS: i64 = 0;
/// First timestamp no longer accepted: 2200-01-01T00:00:00Z.
pub const MAX_MS: i64 = 7_258_118_400_000;

/// What the accepted range is, for error messages.
pub const ACCEPTED: &str = "an RFC 3339 / ISO 8601 string (e.g. 2024-05-01T12:00:00.123Z) or \
    epoch seconds, milliseconds, microseconds or nanoseconds, between 1970-01-01 and 2199-12-31";

/// A timestamp as it arrived, before normalisation.
#[derive(Debug, Clone, PartialEq)]
pub enum TimestampInput {
    /// A string: RFC 3339 / ISO 8601, or digits of an epoch number.
    Text(String),
    /// A JSON integer: epoch in some unit.
    Int(i64),
    /// A JSON float: epoch in some unit, with a fraction.
    Float(f64),
}

impl<'de> Deserialize<'de> for TimestampInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = TimestampInput;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a timestamp string or an epoch number")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(TimestampInput::Text(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<Self::Value, E> {
                Ok(TimestampInput::Text(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                Ok(TimestampInput::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(TimestampInput::Float(v as f64), TimestampInput::Int))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
                Ok(TimestampInput::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Normalises `input` to UTC epoch milliseconds, or says why it cannot.
pub fn normalize(input: &TimestampInput) -> Result<i64> {
    let ms = match input {
        TimestampInput::Int(n) => Some(epoch_int_to_ms(*n)),
        TimestampInput::Float(f) => epoch_float_to_ms(*f),
        TimestampInput::Text(s) => parse_text(s.trim()),
    };
    match ms {
        Some(ms) if (MIN_MS..MAX_MS).contains(&ms) => Ok(ms),
        Some(_) => Err(out_of_range(input)),
        None => Err(Error::invalid(
            "timestamp",
            format!("timestamp {} is not understood: expected {ACCEPTED}", shown(input)),
        )),
    }
}

fn shown(input: &TimestampInput) -> String {
    match input {
        TimestampInput::Text(s) => {
            let cut: String = s.chars().take(64).collect();
            format!("{cut:?}")
        }
        TimestampInput::Int(n) => n.to_string(),
        TimestampInput::Float(f) => f.to_string(),
    }
}

fn out_of_range(input: &TimestampInput) -> Error {
    Error::invalid(
        "timestamp",
        format!(
            "timestamp {} is out of range: must be between 1970-01-01 and 2199-12-31",
            shown(input)
        ),
    )
}

/// Divisor from an epoch number to milliseconds, as a power of ten exponent
/// (negative means multiply), chosen by magnitude.
fn unit_exponent(abs: f64) -> i32 {
    if abs < 1e11 {
        -3 // seconds
    } else if abs < 1e14 {
        0 // milliseconds
    } else if abs < 1e17 {
        3 // microseconds
    } else {
        6 // nanoseconds
    }
}

fn epoch_int_to_ms(n: i64) -> i64 {
    match unit_exponent(n.unsigned_abs() as f64) {
        -3 => n.saturating_mul(1000),
        0 => n,
        3 => n.div_euclid(1000),
        _ => n.div_euclid(1_000_000),
    }
}

fn epoch_float_to_ms(f: f64) -> Option<i64> {
    if !f.is_finite() {
        return None;
    }
    let ms = match unit_exponent(f.abs()) {
        -3 => f * 1000.0,
        0 => f,
        3 => f / 1000.0,
        _ => f / 1_000_000.0,
    };
    // Out-of-range values saturate here and are rejected by the range check.
    Some(ms.floor() as i64)
}

fn parse_text(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let numeric = b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+'))
        && b.iter().any(u8::is_ascii_digit);
    // A date like 2024-05-01 is digits and dashes too: it has a dash after a digit.
    let looks_like_date = b.len() >= 8 && b[4] == b'-';
    if numeric && !looks_like_date {
        if let Ok(n) = s.parse::<i64>() {
            return Some(epoch_int_to_ms(n));
        }
        return s.parse::<f64>().ok().and_then(epoch_float_to_ms);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    // ISO 8601 variants: space separator, offsets without a colon, no offset (UTC).
    let with_t: String = s.replacen(' ', "T", 1);
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(&with_t, fmt) {
            return Some(dt.timestamp_millis());
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(&with_t, fmt) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_714_564_800_123; // 2024-05-01T12:00:00.123Z

    fn text(s: &str) -> Result<i64> {
        normalize(&TimestampInput::Text(s.into()))
    }

    #[test]
    fn rfc3339_with_any_offset() {
        assert_eq!(text("2024-05-01T12:00:00.123Z").unwrap(), MS);
        assert_eq!(text("2024-05-01T14:00:00.123+02:00").unwrap(), MS);
        assert_eq!(text("2024-05-01T07:30:00.123-04:30").unwrap(), MS);
        assert_eq!(text("2024-05-01t12:00:00.123z").unwrap(), MS);
        assert_eq!(text("2024-05-01T12:00:00.123456789Z").unwrap(), MS);
    }

    #[test]
    fn iso8601_variants() {
        assert_eq!(text("2024-05-01 12:00:00.123Z").unwrap(), MS);
        assert_eq!(text("2024-05-01T14:00:00.123+0200").unwrap(), MS);
        assert_eq!(text("2024-05-01T12:00:00.123").unwrap(), MS, "no offset is UTC");
        assert_eq!(text("2024-05-01 12:00:00.123").unwrap(), MS);
        assert_eq!(text("2024-05-01T12:00Z").unwrap(), MS - 123);
        assert_eq!(text("2024-05-01").unwrap(), MS - 12 * 3_600_000 - 123);
    }

    #[test]
    fn epoch_units_by_magnitude() {
        let int = |n: i64| normalize(&TimestampInput::Int(n)).unwrap();
        assert_eq!(int(1_714_564_800), MS - 123);
        assert_eq!(int(MS), MS);
        assert_eq!(int(MS * 1000 + 456), MS);
        assert_eq!(int(MS * 1_000_000 + 456_789), MS);
        let float = |f: f64| normalize(&TimestampInput::Float(f)).unwrap();
        assert_eq!(float(1_714_564_800.123), MS);
        assert_eq!(float(MS as f64 + 0.9), MS);
        assert_eq!(float((MS * 1000) as f64), MS);
        assert_eq!(float(MS as f64 * 1e6), MS);
    }

    #[test]
    fn epoch_digit_strings() {
        assert_eq!(text("1714564800").unwrap(), MS - 123);
        assert_eq!(text("1714564800.123").unwrap(), MS);
        assert_eq!(text("1714564800123").unwrap(), MS);
        assert_eq!(text("1714564800123000").unwrap(), MS);
        assert_eq!(text(" 1714564800123000000 ").unwrap(), MS);
    }

    #[test]
    fn unparseable_is_rejected_naming_the_field() {
        for bad in
            ["yesterday", "2024-13-01T00:00:00Z", "2024-05-01T25:00:00Z", "12:00", "1.2.3", "-", ""]
        {
            let e = text(bad).unwrap_err();
            assert_eq!(e.field(), Some("timestamp"), "{bad}");
            assert!(e.to_string().contains("RFC 3339"), "{e}");
        }
        assert!(normalize(&TimestampInput::Float(f64::NAN)).is_err());
    }

    #[test]
    fn out_of_range_is_rejected() {
        let e = normalize(&TimestampInput::Int(-5)).unwrap_err();
        assert!(e.to_string().contains("between 1970-01-01 and 2199-12-31"), "{e}");
        assert!(text("1969-12-31T23:59:59Z").is_err());
        assert!(text("2200-01-01T00:00:00Z").is_err());
        assert!(text("2199-12-31T23:59:59.999Z").is_ok());
        assert!(normalize(&TimestampInput::Float(1e30)).is_err());
        assert_eq!(normalize(&TimestampInput::Int(0)).unwrap(), 0);
    }

    #[test]
    fn deserializes_from_json_strings_and_numbers() {
        let v: Vec<TimestampInput> =
            serde_json::from_str(r#"["2024-05-01", 17, 1.5, 18446744073709551615]"#).unwrap();
        assert_eq!(v[0], TimestampInput::Text("2024-05-01".into()));
        assert_eq!(v[1], TimestampInput::Int(17));
        assert_eq!(v[2], TimestampInput::Float(1.5));
        assert!(matches!(v[3], TimestampInput::Float(_)));
    }
}
