//! A message's bytes as a record, or the reason it is dead-lettered.

use loglens_core::record::normalize;
use loglens_core::{Error as CoreError, LogRecord, RawLog, RuleSet};
use loglens_kafka::wire;

/// Parses, validates, normalises and scores one message received at `now`
/// (ms since epoch). Messages larger than [`wire::MAX_RECORD_BYTES`] are
/// refused whole; the error names the offending field when there is one.
pub(crate) fn decode(payload: &[u8], now: i64, rules: &RuleSet) -> Result<LogRecord, CoreError> {
    if payload.len() > wire::MAX_RECORD_BYTES {
        return Err(CoreError::invalid(
            "",
            format!(
                "record is {} bytes; at most {} are accepted",
                payload.len(),
                wire::MAX_RECORD_BYTES
            ),
        ));
    }
    normalize(RawLog::from_json(payload)?, now, rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_accepts_valid_and_explains_bad() {
        let rules = RuleSet::default();
        let ok =
            decode(br#"{"service_name":"a","message":"m","status_code":503}"#, 1, &rules).unwrap();
        assert!(ok.anomaly);
        let e = decode(b"not json", 1, &rules).unwrap_err();
        assert!(e.to_string().starts_with("record is not valid JSON"), "{e}");
        let e = decode(br#"{"service_name":"a","message":"m","status_code":42}"#, 1, &rules)
            .unwrap_err();
        assert_eq!(e.field(), Some("status_code"));
        let big =
            format!(r#"{{"service_name":"a","message":"{}"}}"#, "x".repeat(wire::MAX_RECORD_BYTES));
        let e = decode(big.as_bytes(), 1, &rules).unwrap_err();
        assert!(e.to_string().contains("at most 262144"), "{e}");
        assert!(decode(b"", 1, &rules).is_err(), "an empty message is dead-lettered");
    }
}
