//! The open part of a record: `attributes`, a flat map of dotted keys to
//! scalar values (string, integer, float, bool) for everything a sender has
//! beyond the 13 known fields (Kubernetes labels, file paths, ECS fields,
//! OpenTelemetry resource attributes...).
//!
//! Input may nest: objects are flattened to dotted keys (`{"k8s":{"pod":"a"}}`
//! becomes `k8s.pod = "a"`), arrays are kept as their JSON text, `null`s are
//! skipped (an absent value). Bounds, each a rejection naming the key, never
//! a silent drop: at most [`MAX_ATTRIBUTES`] per record, keys of 1 to
//! [`MAX_KEY_BYTES`] bytes without control characters, string values of at
//! most [`MAX_VALUE_BYTES`] bytes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most attributes on one record.
pub const MAX_ATTRIBUTES: usize = 256;
/// Longest attribute key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Longest attribute value (string, or an array's JSON text), in bytes.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number that fits in 64 bits.
    Int(i64),
    /// Any other number (finite).
    Float(f64),
    /// Text, including arrays kept as JSON text.
    Str(String),
}

impl fmt::Display for AttrValue {
    /// The value as filters compare it: strings as they are, numbers and
    /// booleans as JSON writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Bool(b) => b.fmt(f),
            AttrValue::Int(i) => i.fmt(f),
            AttrValue::Float(x) => serde_json::Number::from_f64(*x)
                .map_or_else(|| x.to_string(), |n| n.to_string())
                .fmt(f),
            AttrValue::Str(s) => f.write_str(s),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> AttrValue {
        AttrValue::Str(s.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> AttrValue {
        AttrValue::Str(s)
    }
}

impl From<i64> for AttrValue {
    fn from(i: i64) -> AttrValue {
        AttrValue::Int(i)
    }
}

impl From<bool> for AttrValue {
    fn from(b: bool) -> AttrValue {
        AttrValue::Bool(b)
    }
}

/// A record's attributes, sorted by key.
pub type Attributes = BTreeMap<String, AttrValue>;

/// The `field` an attribute error names: `attributes.<key>`.
pub fn field_name(key: &str) -> String {
    format!("attributes.{key}")
}

/// Adds `value` under `key`, flattening objects into dotted keys; arrays
/// become their JSON text and `null`s are skipped. A key given twice (e.g.
/// `a.b` and `{"a":{"b":..}}`) keeps the later value.
pub fn insert_json(out: &mut Attributes, key: String, value: serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            out.insert(key, AttrValue::Bool(b));
        }
        Value::Number(n) => {
            let v = match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => AttrValue::Int(i),
                (None, Some(f)) => AttrValue::Float(f),
                (None, None) => AttrValue::Str(n.to_string()),
            };
            out.insert(key, v);
        }
        Value::String(s) => {
            out.insert(key, AttrValue::Str(s));
        }
        Value::Array(_) => {
            out.insert(key, AttrValue::Str(value.to_string()));
        }
        Value::Object(map) => {
            for (k, v) in map {
                let nested = if key.is_empty() { k } else { format!("{key}.{k}") };
                insert_json(out, nested, v);
            }
        }
    }
}

/// Flattens a JSON object into attributes (see [`insert_json`]).
pub fn from_json_map(map: serde_json::Map<String, serde_json::Value>) -> Attributes {
    let mut out = Attributes::new();
    for (k, v) in map {
        insert_json(&mut out, k, v);
    }
    out
}

/// A record's attributes from raw input: the explicit `attributes` object,
/// then every unknown field (which wins on a clash), flattened; not yet
/// checked against the bounds (see [`validate`]).
pub fn merge(
    explicit: Option<serde_json::Map<String, serde_json::Value>>,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Attributes {
    let mut out = explicit.map(from_json_map).unwrap_or_default();
    for (k, v) in extra {
        insert_json(&mut out, k, v);
    }
    out
}

/// Checks the bounds of the module docs; the error names the key.
pub fn validate(attrs: &Attributes) -> Result<()> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(Error::invalid(
            "attributes",
            format!("attributes must have at most {MAX_ATTRIBUTES} keys, got {}", attrs.len()),
        ));
    }
    for (key, value) in attrs {
        if key.is_empty() {
            return Err(Error::invalid("attributes", "attribute keys must not be empty"));
        }
        if key.len() > MAX_KEY_BYTES {
            let shown: String = key.chars().take(40).collect();
            return Err(Error::invalid(
                "attributes",
                format!(
                    "attribute key {shown:?}... is {} bytes; keys must be at most {MAX_KEY_BYTES}",
                    key.len()
                ),
            ));
        }
        if key.chars().any(char::is_control) {
            return Err(Error::invalid(
                field_name(key),
                format!("attribute key {key:?} must not contain control characters"),
            ));
        }
        match value {
            AttrValue::Str(s) if s.len() > MAX_VALUE_BYTES => {
                return Err(Error::invalid(
                    field_name(key),
                    format!(
                        "attribute {key} must be at most {MAX_VALUE_BYTES} bytes, got {}",
                        s.len()
                    ),
                ));
            }
            AttrValue::Float(f) if !f.is_finite() => {
                return Err(Error::invalid(
                    field_name(key),
                    format!("attribute {key} must be a finite number, got {f}"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_objects_flatten_to_dotted_keys() {
        let v = json!({
            "k8s": {"pod": {"name": "api-1"}, "namespace": "prod"},
            "retries": 3, "ratio": 0.5, "cached": true, "ports": [80, 443], "gone": null,
            "log.file.path": "/var/log/a.log"
        });
        let serde_json::Value::Object(map) = v else { unreachable!() };
        let a = from_json_map(map);
        assert_eq!(a["k8s.pod.name"], AttrValue::Str("api-1".into()));
        assert_eq!(a["k8s.namespace"], AttrValue::Str("prod".into()));
        assert_eq!(a["retries"], AttrValue::Int(3));
        assert_eq!(a["ratio"], AttrValue::Float(0.5));
        assert_eq!(a["cached"], AttrValue::Bool(true));
        assert_eq!(a["ports"], AttrValue::Str("[80,443]".into()));
        assert_eq!(a["log.file.path"], AttrValue::Str("/var/log/a.log".into()));
        assert!(!a.contains_key("gone"));
        assert_eq!(a.len(), 7);
    }

    #[test]
    fn values_print_as_filters_compare_them() {
        assert_eq!(AttrValue::Int(3).to_string(), "3");
        assert_eq!(AttrValue::Float(0.5).to_string(), "0.5");
        assert_eq!(AttrValue::Bool(false).to_string(), "false");
        assert_eq!(AttrValue::Str("x y".into()).to_string(), "x y");
    }

    #[test]
    fn serde_keeps_the_scalar_types() {
        let a: Attributes = serde_json::from_str(r#"{"s":"1","i":1,"f":1.5,"b":true}"#).unwrap();
        assert_eq!(a["s"], AttrValue::Str("1".into()));
        assert_eq!(a["i"], AttrValue::Int(1));
        assert_eq!(a["f"], AttrValue::Float(1.5));
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"b":true,"f":1.5,"i":1,"s":"1"}"#);
    }

    #[test]
    fn bounds_are_rejections_naming_the_key() {
        let mut a = Attributes::new();
        a.insert("big".into(), AttrValue::Str("x".repeat(MAX_VALUE_BYTES + 1)));
        let e = validate(&a).unwrap_err();
        assert_eq!(e.field(), Some("attributes.big"));
        assert!(e.to_string().contains("at most 32768 bytes"), "{e}");

        let mut a = Attributes::new();
        a.insert("k".repeat(MAX_KEY_BYTES + 1), AttrValue::Int(1));
        let e = validate(&a).unwrap_err();
        assert!(e.to_string().contains("keys must be at most 256"), "{e}");

        let a: Attributes =
            (0..=MAX_ATTRIBUTES).map(|i| (format!("k{i}"), AttrValue::Int(1))).collect();
        let e = validate(&a).unwrap_err();
        assert_eq!(e.to_string(), "attributes must have at most 256 keys, got 257");

        let mut a = Attributes::new();
        a.insert("bad\nkey".into(), AttrValue::Int(1));
        assert!(validate(&a).is_err());

        let ok: Attributes =
            (0..MAX_ATTRIBUTES).map(|i| (format!("k{i}"), AttrValue::Int(1))).collect();
        assert!(validate(&ok).is_ok());
    }
}
