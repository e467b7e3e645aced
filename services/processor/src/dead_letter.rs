//! What goes to the dead-letter topic: messages that cannot become a record
//! and records the store refuses for good, each with the field at fault,
//! the reason and where it came from (the original bytes, key, tenant and
//! `traceparent` headers travel untouched).

use std::borrow::Cow;

use loglens_core::{Error as CoreError, Normalized, RuleSet};
use loglens_kafka::wire;
use loglens_store::Refused;

use crate::batch::Pending;
use crate::decode::decode_into;

/// A message of a batch bound for the dead-letter topic, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadLetter {
    /// Its position in the batch.
    pub(crate) position: usize,
    /// The offending field; empty when the record as a whole is bad.
    pub(crate) field: String,
    /// Why it is dead-lettered.
    pub(crate) reason: String,
    /// The tenant it is counted under; `None` when its tenant header is bad.
    pub(crate) tenant: Option<String>,
}

impl DeadLetter {
    /// The letter of the message at `position`, refused with `e`.
    fn of(position: usize, e: &CoreError, tenant: Option<&str>) -> DeadLetter {
        DeadLetter {
            position,
            field: e.field().unwrap_or_default().to_owned(),
            reason: e.to_string(),
            tenant: tenant.map(str::to_owned),
        }
    }

    /// The headers of its dead-letter message, given the record itself:
    /// the reason, the field and the source (with the record's line when its
    /// message held several), then the message's own tenant and
    /// `traceparent` headers as they came (so a replay keeps them). The
    /// letter's payload is the record's bytes; a replay of it is a message
    /// of one record, so it carries no format header.
    pub(crate) fn headers<'a>(&self, m: &'a Pending) -> Vec<(&'static str, Cow<'a, [u8]>)> {
        let mut headers = vec![
            (wire::DLQ_REASON, Cow::Owned(self.reason.clone().into_bytes())),
            (wire::DLQ_FIELD, Cow::Owned(self.field.clone().into_bytes())),
            (wire::DLQ_SOURCE_TOPIC, Cow::Borrowed(m.message.topic.as_bytes())),
            (wire::DLQ_SOURCE_PARTITION, Cow::Owned(m.message.partition.to_string().into_bytes())),
            (wire::DLQ_SOURCE_OFFSET, Cow::Owned(m.message.offset.to_string().into_bytes())),
        ];
        if let Some(line) = m.line {
            headers.push((wire::DLQ_SOURCE_LINE, Cow::Owned(line.to_string().into_bytes())));
        }
        if let Some(t) = &m.message.tenant {
            headers.push((wire::TENANT, Cow::Borrowed(t.as_slice())));
        }
        if let Some(tp) = &m.message.traceparent {
            headers.push((wire::TRACEPARENT, Cow::Borrowed(tp.as_slice())));
        }
        headers
    }
}

/// Decodes a batch received at `now`: the records to index (each the
/// tenant's of its header) with their positions in the batch, and the
/// ones to dead-letter (a message whose format header is refused whole,
/// field `format`; a bad tenant header before the record is read, field
/// `tenant`).
pub(crate) fn sort(batch: &[Pending], now: i64, rules: &RuleSet) -> (Decoded, Vec<DeadLetter>) {
    let mut records = Decoded::with_capacity(batch.len());
    let mut letters = Vec::new();
    for (position, m) in batch.iter().enumerate() {
        if let Some(reason) = &m.message.bad_format {
            let tenant = m.tenant().ok().map(str::to_owned);
            letters.push(DeadLetter {
                position,
                field: "format".into(),
                reason: reason.clone(),
                tenant,
            });
            continue;
        }
        records.decode(m, position, now, rules, &mut letters);
    }
    (records, letters)
}

/// The records of a batch to index, as [`sort`] decoded them.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// The batch position of each record.
    pub positions: Vec<usize>,
    /// The records, fresh from normalisation (their ids their content's).
    pub records: Normalized,
}

impl Decoded {
    /// None yet, with room for `n` records.
    fn with_capacity(n: usize) -> Decoded {
        Decoded { positions: Vec::with_capacity(n), records: Normalized::with_capacity(n) }
    }

    /// Each record with its batch position.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &loglens_core::LogRecord)> {
        self.positions.iter().copied().zip(self.records.records())
    }

    /// The records of `batch` at `positions` (each one [`sort`] decoded at
    /// `now`), decoded again: the same records, since decoding depends on
    /// the message, `now` and `rules` alone. A retry sends these rather
    /// than a copy of every record kept from the first attempt.
    pub(crate) fn again(
        batch: &[Pending],
        positions: Vec<usize>,
        now: i64,
        rules: &RuleSet,
    ) -> (Decoded, Vec<DeadLetter>) {
        let mut out = Decoded::with_capacity(positions.len());
        let mut letters = Vec::new();
        for position in positions {
            // Never a letter: the first decode of the same bytes succeeded.
            // Were one to fail, the record is dead-lettered, not dropped.
            out.decode(&batch[position], position, now, rules, &mut letters);
        }
        (out, letters)
    }

    /// Adds the record of message `m` (at `position`), the tenant's of its
    /// header, or its dead letter to `letters`.
    fn decode(
        &mut self,
        m: &Pending,
        position: usize,
        now: i64,
        rules: &RuleSet,
        letters: &mut Vec<DeadLetter>,
    ) {
        match m.tenant() {
            Ok(tenant) => match decode_into(m.payload(), tenant, now, rules, &mut self.records) {
                Ok(()) => self.positions.push(position),
                Err(e) => letters.push(DeadLetter::of(position, &e, Some(tenant))),
            },
            Err(e) => letters.push(DeadLetter::of(position, &e, None)),
        }
    }
}

/// The records a store refused for good, as dead letters. `positions[i]` is
/// the batch position of the `i`th record handed to the store.
pub(crate) fn refused(positions: &[usize], refused: Vec<Refused>) -> Vec<DeadLetter> {
    refused
        .into_iter()
        .map(|r| DeadLetter {
            position: positions[r.position],
            field: r.field.unwrap_or_default(),
            reason: format!("store refused: {}", r.reason),
            tenant: Some(r.record.tenant),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::batch::Message;
    use crate::batch::tests::{message, source};

    fn with_payload(offset: i64, payload: &[u8]) -> Pending {
        with(Message { payload: payload.to_vec(), ..source(2, offset) })
    }

    fn with(message: Message) -> Pending {
        Pending::whole(Arc::new(message))
    }

    #[test]
    fn sorts_records_from_letters_by_position() {
        let batch = [
            with_payload(10, br#"{"service_name":"a","message":"m"}"#),
            with_payload(11, b"not json"),
            with_payload(12, br#"{"service_name":"a","message":"m","status_code":42}"#),
            with_payload(13, br#"{"service_name":"b","message":"n"}"#),
        ];
        let (records, letters) = sort(&batch, 1, &RuleSet::default());
        let kept: Vec<(usize, &str)> =
            records.iter().map(|(i, r)| (i, r.service_name.as_str())).collect();
        assert_eq!(kept, [(0, "a"), (3, "b")]);
        assert_eq!(letters.len(), 2);
        assert_eq!((letters[0].position, letters[0].field.as_str()), (1, ""));
        assert!(letters[0].reason.starts_with("record is not valid JSON"), "{}", letters[0].reason);
        assert_eq!((letters[1].position, letters[1].field.as_str()), (2, "status_code"));
    }

    fn with_tenant(offset: i64, tenant: Option<&[u8]>, payload: &[u8]) -> Message {
        Message {
            tenant: tenant.map(<[u8]>::to_vec),
            payload: payload.to_vec(),
            ..source(2, offset)
        }
    }

    fn text(headers: &[(&str, Cow<'_, [u8]>)]) -> Vec<String> {
        headers.iter().map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v))).collect()
    }

    #[test]
    fn headers_name_reason_field_and_source() {
        let letter = DeadLetter {
            position: 0,
            field: "level".into(),
            reason: "bad level".into(),
            tenant: None,
        };
        let m = message(2, 41);
        assert_eq!(
            text(&letter.headers(&m)),
            [
                "loglens.dlq.reason=bad level",
                "loglens.dlq.field=level",
                "loglens.dlq.source.topic=t",
                "loglens.dlq.source.partition=2",
                "loglens.dlq.source.offset=41",
            ]
        );
    }

    #[test]
    fn a_record_of_a_message_of_several_names_its_line() {
        let letter =
            DeadLetter { position: 0, field: String::new(), reason: "r".into(), tenant: None };
        let m = Pending {
            line: Some(3),
            ..with(Message { tenant: Some(b"acme".to_vec()), ..source(2, 41) })
        };
        assert_eq!(
            text(&letter.headers(&m))[4..],
            [
                "loglens.dlq.source.offset=41".to_owned(),
                "loglens.dlq.source.line=3".to_owned(),
                "loglens.tenant=acme".to_owned(),
            ]
        );
    }

    #[test]
    fn a_message_of_an_unknown_format_is_dead_lettered_whole() {
        let bad = with(Message {
            bad_format: Some(
                r#"the loglens.format header must be ndjson or absent, got "x""#.into(),
            ),
            ..with_tenant(5, Some(b"acme"), br#"{"service_name":"a","message":"m"}"#)
        });
        let good = with_payload(6, br#"{"service_name":"a","message":"m"}"#);
        let (records, letters) = sort(&[bad, good], 1, &RuleSet::default());
        assert_eq!(records.positions.clone(), [1]);
        let got: Vec<(usize, &str, Option<&str>)> =
            letters.iter().map(|l| (l.position, l.field.as_str(), l.tenant.as_deref())).collect();
        assert_eq!(got, [(0, "format", Some("acme"))]);
        assert!(letters[0].reason.ends_with(r#"got "x""#), "{}", letters[0].reason);
    }

    #[test]
    fn letters_keep_the_original_tenant_and_traceparent_headers() {
        let m = with(Message {
            traceparent: Some(b"00-tp".to_vec()),
            ..with_tenant(41, Some(&[b'a', 0xff]), b"{}")
        });
        let letter =
            DeadLetter { position: 0, field: "tenant".into(), reason: "r".into(), tenant: None };
        let h = letter.headers(&m);
        assert_eq!(h.len(), 7);
        assert_eq!(
            (h[5].0, &*h[5].1),
            ("loglens.tenant", &[b'a', 0xff][..]),
            "the bytes as they came"
        );
        assert_eq!((h[6].0, &*h[6].1), ("traceparent", &b"00-tp"[..]));
    }

    #[test]
    fn tenants_come_from_the_header_and_bad_ones_are_dead_lettered() {
        let ok = br#"{"service_name":"a","message":"m","tenant":"evil"}"#;
        let batch = [
            with(with_tenant(0, None, ok)),
            with(with_tenant(1, Some(b"acme"), ok)),
            with(with_tenant(2, Some(b"not a tenant"), ok)),
            with(with_tenant(3, Some(&[0xc3, 0x28]), ok)),
            with(with_tenant(4, Some(b""), ok)),
            with(with_tenant(5, Some(b"acme"), b"not json")),
            with(with_tenant(6, Some(b"bad/name"), b"not json")),
        ];
        let (records, letters) = sort(&batch, 1, &RuleSet::default());
        let kept: Vec<(usize, &str)> =
            records.iter().map(|(i, r)| (i, r.tenant.as_str())).collect();
        assert_eq!(kept, [(0, "default"), (1, "acme")], "never the payload's \"tenant\"");
        assert_ne!(records.records.records()[0].id, records.records.records()[1].id);
        let got: Vec<(usize, &str, Option<&str>)> =
            letters.iter().map(|l| (l.position, l.field.as_str(), l.tenant.as_deref())).collect();
        assert_eq!(
            got,
            [
                (2, "tenant", None),
                (3, "tenant", None),
                (4, "tenant", None),
                (5, "", Some("acme")),
                (6, "tenant", None),
            ]
        );
        assert!(letters[0].reason.starts_with("tenant must be 1 to 64"), "{}", letters[0].reason);
        assert!(letters[1].reason.contains("must be UTF-8"), "{}", letters[1].reason);
    }

    #[test]
    fn refused_records_map_back_to_batch_positions() {
        let (records, _) = sort(
            &[with(with_tenant(0, Some(b"acme"), br#"{"service_name":"a","message":"m"}"#))],
            1,
            &RuleSet::default(),
        );
        let record = records.records.records()[0].clone();
        let letters = refused(
            &[4, 7, 9],
            vec![
                Refused {
                    position: 1,
                    field: Some("message".into()),
                    reason: "400 document_parsing_exception".into(),
                    record: record.clone(),
                },
                Refused { position: 2, field: None, reason: "too big".into(), record },
            ],
        );
        assert_eq!(
            letters,
            [
                DeadLetter {
                    position: 7,
                    field: "message".into(),
                    reason: "store refused: 400 document_parsing_exception".into(),
                    tenant: Some("acme".into()),
                },
                DeadLetter {
                    position: 9,
                    field: String::new(),
                    reason: "store refused: too big".into(),
                    tenant: Some("acme".into()),
                },
            ]
        );
    }
}
