//! What goes to the dead-letter topic: messages that cannot become a record
//! and records the store refuses for good, each with the field at fault,
//! the reason and where it came from (the original bytes and key travel
//! untouched).

use loglens_core::{LogRecord, RuleSet};
use loglens_kafka::wire;
use loglens_store::Refused;

use crate::batch::Pending;
use crate::decode::decode;

/// A message of a batch bound for the dead-letter topic, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadLetter {
    /// Its position in the batch.
    pub(crate) position: usize,
    /// The offending field; empty when the record as a whole is bad.
    pub(crate) field: String,
    /// Why it is dead-lettered.
    pub(crate) reason: String,
}

impl DeadLetter {
    /// The headers of its dead-letter message, given the message itself.
    pub(crate) fn headers(&self, m: &Pending) -> [(&'static str, String); 5] {
        [
            (wire::DLQ_REASON, self.reason.clone()),
            (wire::DLQ_FIELD, self.field.clone()),
            (wire::DLQ_SOURCE_TOPIC, m.topic.clone()),
            (wire::DLQ_SOURCE_PARTITION, m.partition.to_string()),
            (wire::DLQ_SOURCE_OFFSET, m.offset.to_string()),
        ]
    }
}

/// Decodes a batch received at `now`: the records to index, each with its
/// position in the batch, and the messages to dead-letter.
pub(crate) fn sort(
    batch: &[Pending],
    now: i64,
    rules: &RuleSet,
) -> (Vec<(usize, LogRecord)>, Vec<DeadLetter>) {
    let mut records = Vec::with_capacity(batch.len());
    let mut letters = Vec::new();
    for (position, m) in batch.iter().enumerate() {
        match decode(&m.payload, now, rules) {
            Ok(r) => records.push((position, r)),
            Err(e) => letters.push(DeadLetter {
                position,
                field: e.field().unwrap_or_default().to_owned(),
                reason: e.to_string(),
            }),
        }
    }
    (records, letters)
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
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::message;

    fn with_payload(offset: i64, payload: &[u8]) -> Pending {
        Pending { payload: payload.to_vec(), ..message(2, offset) }
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
            records.iter().map(|(i, r)| (*i, r.service_name.as_str())).collect();
        assert_eq!(kept, [(0, "a"), (3, "b")]);
        assert_eq!(letters.len(), 2);
        assert_eq!((letters[0].position, letters[0].field.as_str()), (1, ""));
        assert!(letters[0].reason.starts_with("record is not valid JSON"), "{}", letters[0].reason);
        assert_eq!((letters[1].position, letters[1].field.as_str()), (2, "status_code"));
    }

    #[test]
    fn headers_name_reason_field_and_source() {
        let letter = DeadLetter { position: 0, field: "level".into(), reason: "bad level".into() };
        let h = letter.headers(&message(2, 41));
        assert_eq!(
            h.map(|(k, v)| format!("{k}={v}")),
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
    fn refused_records_map_back_to_batch_positions() {
        let (records, _) = sort(
            &[with_payload(0, br#"{"service_name":"a","message":"m"}"#)],
            1,
            &RuleSet::default(),
        );
        let record = records[0].1.clone();
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
                },
                DeadLetter {
                    position: 9,
                    field: String::new(),
                    reason: "store refused: too big".into()
                },
            ]
        );
    }
}
