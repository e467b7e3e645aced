//! A message's bytes as a record, or the reason it is dead-lettered.

use loglens_core::{Error as CoreError, Normalized, RawLog, RuleSet};
use loglens_kafka::wire;

/// Parses, validates, normalises and scores one message of `tenant` (from
/// its header, see [`wire::tenant`]; never from the JSON) received at `now`
/// (ms since epoch), and adds it to `out` as the tenant's record, so its id
/// is the one the ingest role gave it. Messages larger than
/// [`wire::MAX_RECORD_BYTES`] are refused whole; the error names the
/// offending field when there is one.
pub(crate) fn decode_into(
    payload: &[u8],
    tenant: &str,
    now: i64,
    rules: &RuleSet,
    out: &mut Normalized,
) -> Result<(), CoreError> {
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
    out.push(RawLog::from_json(payload)?, now, rules, tenant)
}

/// [`decode_into`] of one message, as its record.
#[cfg(test)]
pub(crate) fn decode(
    payload: &[u8],
    tenant: &str,
    now: i64,
    rules: &RuleSet,
) -> Result<loglens_core::LogRecord, CoreError> {
    let mut out = Normalized::default();
    decode_into(payload, tenant, now, rules, &mut out)?;
    Ok(out.into_records().pop().expect("one record"))
}

#[cfg(test)]
mod tests {
    use loglens_core::LogRecord;
    use loglens_core::record::normalize;

    use super::*;

    #[test]
    fn decode_accepts_valid_and_explains_bad() {
        let rules = RuleSet::default();
        let d = "default";
        let ok = decode(br#"{"service_name":"a","message":"m","status_code":503}"#, d, 1, &rules)
            .unwrap();
        assert!(ok.anomaly);
        let e = decode(b"not json", d, 1, &rules).unwrap_err();
        assert!(e.to_string().starts_with("record is not valid JSON"), "{e}");
        let e = decode(br#"{"service_name":"a","message":"m","status_code":42}"#, d, 1, &rules)
            .unwrap_err();
        assert_eq!(e.field(), Some("status_code"));
        let big =
            format!(r#"{{"service_name":"a","message":"{}"}}"#, "x".repeat(wire::MAX_RECORD_BYTES));
        let e = decode(big.as_bytes(), d, 1, &rules).unwrap_err();
        assert!(e.to_string().contains("at most 262144"), "{e}");
        assert!(decode(b"", d, 1, &rules).is_err(), "an empty message is dead-lettered");
    }

    /// The ingest role's side: normalise, assign the caller's tenant, encode.
    fn sent(raw: RawLog, tenant: &str) -> (LogRecord, Vec<u8>) {
        let mut r = normalize(raw, 7, &RuleSet::default()).unwrap();
        r.assign_tenant(tenant);
        let bytes = wire::encode(&r);
        (r, bytes)
    }

    fn raw() -> RawLog {
        RawLog {
            timestamp: Some(loglens_core::TimestampInput::Int(1_714_564_800_123)),
            service_name: Some("pay".into()),
            message: Some("card declined".into()),
            level: Some("error".into()),
            status_code: Some(502),
            extra: serde_json::json!({"region": "eu"}).as_object().cloned().unwrap(),
            ..RawLog::default()
        }
    }

    #[test]
    fn ids_and_tenants_survive_the_kafka_hop() {
        let rules = RuleSet::default();
        for tenant in ["acme", "default"] {
            let (sent, bytes) = sent(raw(), tenant);
            let mut got = decode(&bytes, tenant, 9, &rules).unwrap();
            assert_eq!((got.id.as_str(), got.tenant.as_str()), (sent.id.as_str(), tenant));
            assert_eq!(got.ingested_at, 9, "the processor's clock, not the ingest role's");
            got.ingested_at = sent.ingested_at;
            assert_eq!(got, sent, "the rest is the same record");
        }
        let (acme, _) = sent(raw(), "acme");
        let (default, _) = sent(raw(), "default");
        assert_ne!(acme.id, default.id, "the same record of two tenants is two records");
    }

    #[test]
    fn a_tenant_key_in_the_json_is_only_an_attribute() {
        let rules = RuleSet::default();
        let payload = br#"{"service_name":"a","message":"m","tenant":"evil"}"#;
        let r = decode(payload, "acme", 1, &rules).unwrap();
        assert_eq!(r.tenant, "acme");
        assert_eq!(r.attributes.get("tenant"), Some(&loglens_core::AttrValue::from("evil")));
        let r = decode(payload, "default", 1, &rules).unwrap();
        assert_eq!(r.tenant, "default", "not the payload's tenant");
        // Sent by the ingest role with that attribute, it comes back the same.
        let mut with = raw();
        with.extra.insert("tenant".into(), "evil".into());
        let (sent, bytes) = sent(with, "acme");
        assert!(String::from_utf8_lossy(&bytes).contains(r#""tenant":"evil""#));
        let got = decode(&bytes, "acme", 1, &rules).unwrap();
        assert_eq!((got.tenant.as_str(), &got.id), ("acme", &sent.id));
    }
}
