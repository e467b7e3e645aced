//! Search: the filter as a Tantivy query, exact sorting by fast-field
//! tuples, and cursors.

use std::ops::Bound;

use loglens_core::{Filter, Level, LogRecord, SearchRequest, SearchResult, Sort, StatusCode};
use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value as _};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DateTime, DocAddress, DocId, Order, Searcher, SegmentReader, TantivyDocument, Term};

use super::backend;
use super::schema::{
    ANOMALY, Fields, INGESTED_AT, LEVEL, REQUEST_ID_HASH, RESPONSE_TIME, SEQ, SERVICE, SEVERITY,
    STATUS_CODE, TIMESTAMP, TRACE_ID_HASH, id_hash,
};
use super::stored;
use crate::shared::cursor::{Position, SortKey, filter_fingerprint};
use crate::{Error, Result};

/// The filter as one query: every condition must hold.
pub(crate) fn filter_query(
    fields: &Fields,
    analyzer: &mut TextAnalyzer,
    filter: &Filter,
) -> Box<dyn Query> {
    // Destructured so that a new filter field does not go unnoticed here.
    let Filter {
        service_name,
        level,
        status_code,
        anomaly,
        from_timestamp,
        to_timestamp,
        query,
        trace_id,
        request_id,
        host,
        user_id,
        error_code,
        tag,
        anomaly_reason,
        attributes,
        tenant,
    } = filter;
    let mut must: Vec<Box<dyn Query>> = Vec::new();
    let mut term = |t: Term| must.push(Box::new(TermQuery::new(t, IndexRecordOption::Basic)));
    // Every read (search, cursor pages, stats) goes through here: one
    // tenant never sees another's records.
    if let Some(t) = tenant {
        term(fields.tenant_term(t));
    }
    for (field, value) in [
        (fields.service_name, service_name),
        (fields.host, host),
        (fields.user_id, user_id),
        (fields.error_code, error_code),
        (fields.tags, tag),
        (fields.anomaly_reasons, anomaly_reason),
    ] {
        if let Some(v) = value {
            term(Term::from_field_text(field, v));
        }
    }
    // Fast-only hash columns: a term query on them is a column scan.
    for (field, value) in [(fields.trace_id, trace_id), (fields.request_id, request_id)] {
        if let Some(v) = value {
            term(Term::from_field_u64(field, id_hash(v)));
        }
    }
    if let Some(l) = level {
        term(Term::from_field_text(fields.level, l.as_str()));
    }
    if let Some(s) = status_code {
        term(Term::from_field_u64(fields.status_code, u64::from(*s)));
    }
    if let Some(a) = anomaly {
        term(Term::from_field_u64(fields.anomaly, u64::from(*a)));
    }
    for (k, v) in attributes {
        term(fields.attribute_term(k, v));
    }
    if let Some(q) = query {
        // Every word must occur; the index's own analyzer splits the words.
        let mut stream = analyzer.token_stream(q);
        while let Some(token) = stream.next() {
            term(Term::from_field_text(fields.message, &token.text));
        }
    }
    if from_timestamp.is_some() || to_timestamp.is_some() {
        let bound = |ms: &Option<i64>| match ms {
            Some(ms) => Bound::Included(date_term(fields.timestamp, *ms)),
            None => Bound::Unbounded,
        };
        must.push(Box::new(RangeQuery::new(bound(from_timestamp), bound(to_timestamp))));
    }
    match must.len() {
        0 => Box::new(AllQuery),
        1 => must.remove(0),
        _ => Box::new(BooleanQuery::intersection(must)),
    }
}

fn date_term(field: Field, ms: i64) -> Term {
    Term::from_field_date(field, DateTime::from_timestamp_millis(ms))
}

impl SortKey {
    fn new(severity: Option<u64>, timestamp: Option<DateTime>, seq: Option<u64>) -> SortKey {
        SortKey {
            severity: severity.map_or(0, |s| s.min(u64::from(u8::MAX)) as u8),
            timestamp: timestamp.map_or(0, DateTime::into_timestamp_millis),
            seq: seq.unwrap_or(0),
        }
    }

    /// Records strictly after this key in `sort` order.
    fn after(&self, fields: &Fields, sort: Sort) -> Box<dyn Query> {
        let desc = sort != Sort::OldestFirst;
        let beyond = |t: Term| -> Box<dyn Query> {
            Box::new(if desc {
                RangeQuery::new(Bound::Unbounded, Bound::Excluded(t))
            } else {
                RangeQuery::new(Bound::Excluded(t), Bound::Unbounded)
            })
        };
        let equal = |t: Term| -> Box<dyn Query> {
            Box::new(RangeQuery::new(Bound::Included(t.clone()), Bound::Included(t)))
        };
        let ts = date_term(fields.timestamp, self.timestamp);
        let seq = Term::from_field_u64(fields.seq, self.seq);
        let keys = match sort {
            Sort::NewestFirst | Sort::OldestFirst => vec![ts, seq],
            Sort::Severity => {
                vec![Term::from_field_u64(fields.severity_score, u64::from(self.severity)), ts, seq]
            }
        };
        // (k1 beyond) or (k1 equal and k2 beyond) or ...
        let any = (0..keys.len())
            .map(|i| -> Box<dyn Query> {
                let mut all: Vec<Box<dyn Query>> = keys[..i].iter().cloned().map(equal).collect();
                all.push(beyond(keys[i].clone()));
                if all.len() == 1 {
                    all.remove(0)
                } else {
                    Box::new(BooleanQuery::intersection(all))
                }
            })
            .collect();
        Box::new(BooleanQuery::union(any))
    }
}

/// The first byte of this store's cursors ([`Position`]).
const CURSOR_VERSION: u8 = 1;

/// Runs the request: `total` counts the filter's matches; the page holds up
/// to `size` records after the cursor (or after `offset`), in order.
pub(crate) fn search(
    searcher: &Searcher,
    fields: &Fields,
    mut analyzer: TextAnalyzer,
    req: &SearchRequest,
) -> Result<SearchResult> {
    let filter = filter_fingerprint(&req.filter);
    let cursor = req
        .cursor
        .as_deref()
        .map(|c| Position::decode(c, CURSOR_VERSION, req.sort, filter))
        .transpose()?;
    let base = filter_query(fields, &mut analyzer, &req.filter);
    let after = cursor.map(|c| c.key.after(fields, req.sort));
    // One more than asked, to know whether another page follows.
    let size = req.size as usize;
    let top = TopDocs::with_limit(size + 1).and_offset(req.offset());
    let time = |order| (SortByStaticFastValue::<DateTime>::for_field(TIMESTAMP), order);
    let seq = |order| (SortByStaticFastValue::<u64>::for_field(SEQ), order);
    let (total, mut hits): (usize, Vec<(SortKey, DocAddress)>) = match req.sort {
        Sort::NewestFirst | Sort::OldestFirst if req.offset() == 0 => {
            let order = if req.sort == Sort::NewestFirst { Order::Desc } else { Order::Asc };
            let top = top.order_by((time(order), seq(order)));
            let total = searcher.search(&*base, &Count).map_err(backend)?;
            let from = cursor.map(|c| c.key.timestamp);
            let hits = in_windows(
                searcher,
                fields.timestamp,
                &req.filter,
                from,
                order,
                size + 1,
                |window| {
                    let mut all = vec![base.box_clone(), window];
                    all.extend(after.as_ref().map(|a| a.box_clone()));
                    searcher.search(&BooleanQuery::intersection(all), &top).map_err(backend)
                },
            )?;
            (total, hits.into_iter().map(|((t, s), a)| (SortKey::new(None, t, s), a)).collect())
        }
        Sort::NewestFirst | Sort::OldestFirst => {
            let order = if req.sort == Sort::NewestFirst { Order::Desc } else { Order::Asc };
            let (total, hits) =
                run(searcher, base, after, top.order_by((time(order), seq(order))))?;
            (total, hits.into_iter().map(|((t, s), a)| (SortKey::new(None, t, s), a)).collect())
        }
        Sort::Severity => {
            let sev = (SortByStaticFastValue::<u64>::for_field(SEVERITY), Order::Desc);
            let (total, hits) = run(
                searcher,
                base,
                after,
                top.order_by((sev, time(Order::Desc), seq(Order::Desc))),
            )?;
            (total, hits.into_iter().map(|((v, t, s), a)| (SortKey::new(v, t, s), a)).collect())
        }
    };
    let next_cursor = (hits.len() > size).then(|| {
        hits.truncate(size);
        hits.last()
            .map(|(key, _)| Position { sort: req.sort, filter, key: *key }.encode(CURSOR_VERSION))
    });
    let logs =
        hits.iter().map(|(_, addr)| load(searcher, fields, *addr)).collect::<Result<Vec<_>>>()?;
    Ok(SearchResult {
        total: total as u64,
        page: req.page,
        size: req.size,
        logs,
        next_cursor: next_cursor.flatten(),
    })
}

/// The smallest and largest timestamp in the index, from the columns'
/// statistics (no scan); `None` when it is empty.
fn time_span(searcher: &Searcher) -> Result<Option<(i64, i64)>> {
    let mut span: Option<(i64, i64)> = None;
    for segment in searcher.segment_readers() {
        if segment.num_docs() == 0 {
            continue;
        }
        let column = segment.fast_fields().date(TIMESTAMP).map_err(backend)?;
        let (lo, hi) = (
            column.min_value().into_timestamp_millis(),
            column.max_value().into_timestamp_millis(),
        );
        span = Some(span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
    }
    Ok(span)
}

/// A page in time order without scoring every match: `page` runs the query
/// restricted to a time window that starts at the cursor's timestamp (or
/// the filter's bound, or the index's newest/oldest record) and reaches
/// back (`Desc`) or forward (`Asc`); while it returns fewer than `want`
/// hits and the window does not yet cover the whole range, the window
/// grows eightfold. Every record outside a window sorts after every record
/// inside it, so a window with `want` hits holds exactly the page.
///
/// Without this, the newest 20 of an unfiltered index (or the page after a
/// cursor deep into it) collected every record: 25-100 ms at 1M records
/// and ten times that at 10M (issue 6's benchmark).
fn in_windows<T>(
    searcher: &Searcher,
    timestamp: Field,
    filter: &Filter,
    cursor_ms: Option<i64>,
    order: Order,
    want: usize,
    mut page: impl FnMut(Box<dyn Query>) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let Some((oldest, newest)) = time_span(searcher)? else { return Ok(Vec::new()) };
    let desc = order == Order::Desc;
    // Where the walk starts and the far end it may reach.
    let (start, end) = if desc {
        let start = [Some(newest), filter.to_timestamp, cursor_ms]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(newest);
        (start, filter.from_timestamp.map_or(oldest, |f| f.max(oldest)))
    } else {
        let start = [Some(oldest), filter.from_timestamp, cursor_ms]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(oldest);
        (start, filter.to_timestamp.map_or(newest, |t| t.min(newest)))
    };
    if (desc && start < end) || (!desc && start > end) {
        return Ok(Vec::new());
    }
    // First guess: the span `want` records would cover if evenly spread,
    // times four.
    let docs = searcher.num_docs().max(1) as u128;
    let guess =
        (newest.abs_diff(oldest) as u128 * want as u128 * 4 / docs).min(i64::MAX as u128) as i64;
    let mut width = guess.max(1_000);
    loop {
        let (lo, hi, whole) = if desc {
            let lo = start.saturating_sub(width);
            (lo.max(end), start, lo <= end)
        } else {
            let hi = start.saturating_add(width);
            (start, hi.min(end), hi >= end)
        };
        let window = RangeQuery::new(
            Bound::Included(date_term(timestamp, lo)),
            Bound::Included(date_term(timestamp, hi)),
        );
        let hits = page(Box::new(window))?;
        if hits.len() >= want || whole {
            return Ok(hits);
        }
        width = width.saturating_mul(8);
    }
}

/// Counts `base` and collects `top` from `base` and `after`, in one pass
/// when there is no cursor.
fn run<C: Collector>(
    searcher: &Searcher,
    base: Box<dyn Query>,
    after: Option<Box<dyn Query>>,
    top: C,
) -> Result<(usize, C::Fruit)> {
    match after {
        None => searcher.search(&*base, &(Count, top)).map_err(backend),
        Some(after) => {
            let total = searcher.search(&*base, &Count).map_err(backend)?;
            let page = BooleanQuery::intersection(vec![base, after]);
            Ok((total, searcher.search(&page, &top).map_err(backend)?))
        }
    }
}

/// The stored record of a hit, its column fields read from the fast
/// columns when the doc store left them out ([`stored::encode_for_index`]).
fn load(searcher: &Searcher, fields: &Fields, addr: DocAddress) -> Result<LogRecord> {
    let doc: TantivyDocument = searcher.doc(addr).map_err(backend)?;
    let bytes = doc
        .get_first(fields.record)
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| Error::Backend("stored document has no record".into()))?;
    stored::decode_with(bytes, || columns(searcher.segment_reader(addr.segment_ord), addr.doc_id))
        .map_err(|e| Error::Backend(format!("stored record does not decode: {e}")))
}

/// The column fields of document `doc`.
fn columns(segment: &SegmentReader, doc: DocId) -> std::result::Result<stored::Columns, String> {
    let fast = segment.fast_fields();
    let err = |e: tantivy::TantivyError| e.to_string();
    let missing = |name: &str| format!("document {doc} has no {name}");
    let date = |name: &str| -> std::result::Result<i64, String> {
        let v = fast.date(name).map_err(err)?.first(doc).ok_or_else(|| missing(name))?;
        Ok(v.into_timestamp_millis())
    };
    let u64_of = |name: &str| -> std::result::Result<Option<u64>, String> {
        Ok(fast.u64(name).map_err(err)?.first(doc))
    };
    let text = |name: &str| -> std::result::Result<String, String> {
        let column = fast.str(name).map_err(err)?.ok_or_else(|| missing(name))?;
        let ord = column.term_ords(doc).next().ok_or_else(|| missing(name))?;
        let mut out = String::new();
        column.ord_to_str(ord, &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    };
    let status_code = match u64_of(STATUS_CODE)? {
        None => None,
        Some(c) => Some(StatusCode::try_from(c).map_err(|e| format!("status_code: {e}"))?),
    };
    Ok(stored::Columns {
        timestamp: date(TIMESTAMP)?,
        ingested_at: date(INGESTED_AT)?,
        service_name: text(SERVICE)?,
        level: Level::parse(&text(LEVEL)?, LEVEL).map_err(|e| e.to_string())?,
        status_code,
        response_time_ms: fast.f64(RESPONSE_TIME).map_err(err)?.first(doc),
        severity_score: u8::try_from(u64_of(SEVERITY)?.ok_or_else(|| missing(SEVERITY))?)
            .map_err(|e| format!("{SEVERITY}: {e}"))?,
        anomaly: u64_of(ANOMALY)?.ok_or_else(|| missing(ANOMALY))? == 1,
        request_id_key: u64_of(REQUEST_ID_HASH)?,
        trace_id_key: u64_of(TRACE_ID_HASH)?,
    })
}
