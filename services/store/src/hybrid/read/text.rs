//! Exact-match checks on a block's text, id and list columns without a
//! `String` a row: the column is decompressed once and read in place with
//! the codec's own readers (`Block::texts` and `Block::lists` copy every
//! value out, most of a filter's time on a common host or tag); and the
//! check of id-like message words, which the postings leave to the blocks.

use tantivy::tokenizer::TextAnalyzer;

use super::super::block::{Block, Column};
use super::super::columns::{self, IdCell, IdColumn, Reader};
use super::super::postings::message_analyzer;
use super::select::block_error;
use crate::{Error, Result};

/// Clears `keep` where row's value of a host, user id or error code
/// column is not `want`; returns the rows still kept.
pub(super) fn narrow_text(
    block: &Block,
    column: Column,
    keep: &mut [bool],
    want: &str,
) -> Result<usize> {
    let raw = raw(block, column)?;
    let equal = read(block, column, &raw, |r, rows| columns::strings_equal(r, rows, want))?;
    Ok(super::select::narrow(keep, equal, |e| *e))
}

/// The same for a request or trace id column: `want` is written as the
/// codec writes an id and the cells compared, so a canonical UUID or hex
/// id matches its bytes and any other text matches itself.
pub(super) fn narrow_id(
    block: &Block,
    column: Column,
    keep: &mut [bool],
    want: &str,
) -> Result<usize> {
    let mut one = IdColumn::default();
    one.push(Some(want));
    let mut written = Vec::new();
    one.write_to(&mut written);
    let wanted = columns::ids(&mut Reader::new(&written), 1)
        .map_err(|e| Error::Backend(format!("an id filter does not encode: {e}")))?;
    let raw = raw(block, column)?;
    let cells: Vec<IdCell<'_>> = read(block, column, &raw, columns::ids)?;
    Ok(super::select::narrow(keep, cells, |c| *c == wanted[0]))
}

/// The same for tags or anomaly reasons: rows with `want` among their
/// items.
pub(super) fn narrow_list(
    block: &Block,
    column: Column,
    keep: &mut [bool],
    want: &str,
) -> Result<usize> {
    let raw = raw(block, column)?;
    let contain = read(block, column, &raw, |r, rows| columns::lists_contain(r, rows, want))?;
    Ok(super::select::narrow(keep, contain, |c| *c))
}

/// Clears `keep` where the row's message lacks a word of `words` (id-like
/// words, `postings::is_id_word`, which the postings leave to the blocks'
/// filters) as the postings' tokenizer cuts it; returns the rows still
/// kept. Only kept rows are looked at.
pub(super) fn narrow_words(block: &Block, keep: &mut [bool], words: &[String]) -> Result<usize> {
    let raw = raw(block, Column::Message)?;
    let messages = read(block, Column::Message, &raw, columns::strings)?;
    let (mut analyzer, mut folded) = (message_analyzer(), String::new());
    let mut left = 0;
    for (k, m) in keep.iter_mut().zip(&messages) {
        if *k {
            *k = m.is_some_and(|m| holds(m, words, &mut analyzer, &mut folded));
            left += usize::from(*k);
        }
    }
    Ok(left)
}

/// Whether `message` has every word of `words` (lower-case, as the
/// tokenizer gives them). An ASCII message's words are ASCII and each lies
/// in its lower-cased text: one without them all as substrings is passed
/// over without cutting it into words (most rows of a block its filter
/// let through hold none).
fn holds(
    message: &str,
    words: &[String],
    analyzer: &mut TextAnalyzer,
    folded: &mut String,
) -> bool {
    if message.is_ascii() {
        folded.clear();
        folded.push_str(message);
        folded.make_ascii_lowercase();
        if !words.iter().all(|w| folded.contains(w.as_str())) {
            return false;
        }
    }
    let mut missing: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut stream = analyzer.token_stream(message);
    while let Some(t) = stream.next() {
        missing.retain(|w| *w != t.text);
        if missing.is_empty() {
            return true;
        }
    }
    missing.is_empty()
}

/// A fixed column's bytes, decompressed (or as the frame cache keeps them).
fn raw(block: &Block, column: Column) -> Result<std::sync::Arc<Vec<u8>>> {
    block.frame(column).map_err(|e| block_error(block, e))
}

/// `raw` read to its end by `decode` for every row of `block`.
fn read<'a, T>(
    block: &Block,
    column: Column,
    raw: &'a [u8],
    decode: impl FnOnce(&mut Reader<'a>, usize) -> Result<T, columns::Malformed>,
) -> Result<T> {
    let mut r = Reader::new(raw);
    let malformed = |detail| {
        block_error(
            block,
            super::super::block::BlockError::Malformed { part: column.name().to_owned(), detail },
        )
    };
    let v = decode(&mut r, block.rows()).map_err(malformed)?;
    r.finish().map_err(malformed)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use loglens_core::{Level, LogRecord};
    use tantivy::directory::OwnedBytes;

    use super::*;

    /// Records whose ids, hosts and tags come in every form the codec
    /// writes apart (UUIDs, 32 and 16 hex digits, other text), each also in
    /// capitals, so a check that is not exact keeps a wrong row. (Blooms
    /// skip most such blocks in a search; these checks are what decides
    /// when they cannot.)
    fn records() -> Vec<LogRecord> {
        let ids = [
            "0123abcd-4567-89ef-0123-456789abcdef",
            "0123ABCD-4567-89EF-0123-456789ABCDEF",
            "0123abcd456789ef0123456789abcdef",
            "0123ABCD456789EF0123456789ABCDEF",
            "0123abcd456789ef",
            "0123ABCD456789EF",
            "req-1",
            "REQ-1",
            "",
        ];
        let hosts = ["node-1", "node-10", "Node-1", ""];
        let tags = ["ß-tag", "ß", "web", "WEB"];
        (0..40usize)
            .map(|i| LogRecord {
                id: format!("r{i}"),
                timestamp: 1_767_225_600_000 + i as i64,
                service_name: "svc".into(),
                level: Level::Info,
                message: String::new(),
                status_code: None,
                request_id: (i % 10 != 9).then(|| ids[i % ids.len()].to_owned()),
                user_id: None,
                response_time_ms: None,
                error_code: None,
                tags: (0..i % 3).map(|j| tags[(i + j) % tags.len()].to_owned()).collect(),
                host: (i % 5 != 4).then(|| hosts[i % hosts.len()].to_owned()),
                trace_id: Some(ids[(i * 7) % ids.len()].to_owned()),
                span_id: None,
                anomaly: false,
                severity_score: 0,
                anomaly_reasons: Vec::new(),
                attributes: Default::default(),
                ingested_at: 1_767_225_600_000,
                tenant: "t".into(),
            })
            .collect()
    }

    #[test]
    fn every_check_keeps_exactly_the_rows_whose_value_is_wanted() {
        let records = records();
        let block =
            Block::parse(OwnedBytes::new(super::super::super::block::encode(0, &records).unwrap()))
                .unwrap();
        let mut wants: Vec<String> = records
            .iter()
            .flat_map(|r| {
                let mut v: Vec<String> = r.tags.clone();
                v.extend(r.request_id.clone());
                v.extend(r.trace_id.clone());
                v.extend(r.host.clone());
                v
            })
            .collect();
        let near: Vec<String> = wants
            .iter()
            .flat_map(|w| [w.to_uppercase(), w.to_lowercase(), format!("{w} "), w.replace('-', "")])
            .chain(w_prefixes(&wants))
            .collect();
        wants.extend(near);
        wants.sort();
        wants.dedup();
        type Field = fn(&LogRecord) -> Vec<Option<&str>>;
        let checks: [(Column, Field); 4] = [
            (Column::Host, |r| vec![r.host.as_deref()]),
            (Column::RequestId, |r| vec![r.request_id.as_deref()]),
            (Column::TraceId, |r| vec![r.trace_id.as_deref()]),
            (Column::Tags, |r| r.tags.iter().map(|t| Some(t.as_str())).collect()),
        ];
        for want in &wants {
            for (column, field) in checks {
                let mut keep = vec![true; records.len()];
                // Row 3 is left out already: it must stay out.
                keep[3] = false;
                let left = match column {
                    Column::Host => narrow_text(&block, column, &mut keep, want),
                    Column::Tags => narrow_list(&block, column, &mut keep, want),
                    _ => narrow_id(&block, column, &mut keep, want),
                }
                .unwrap();
                let expected: Vec<bool> = records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| i != 3 && field(r).contains(&Some(want.as_str())))
                    .collect();
                assert_eq!(keep, expected, "{} = {want:?}", column.name());
                assert_eq!(left, expected.iter().filter(|k| **k).count());
            }
        }
    }

    fn w_prefixes(wants: &[String]) -> Vec<String> {
        wants
            .iter()
            .filter_map(|w| w.char_indices().nth(1).map(|(i, _)| w[..i].to_owned()))
            .collect()
    }
}
