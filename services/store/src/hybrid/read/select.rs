//! Which records of a snapshot a filter selects. Message words, a host and
//! a tag (and a service beside them) go to the postings, which give the
//! sealed rows holding every one (and count them when nothing else is
//! asked, [`postings_decide`]); every other condition is decided from
//! block headers (time range, tenant and service dictionaries, attribute
//! keys), then the blocks' filters of exact values, then the columns the
//! filter names, cheapest first. Id-like message words
//! (`postings::is_id_word`) are not in the postings: the blocks' filters
//! rule blocks out, and the message column decides, last. A filter of only
//! tenant, service, level, anomaly and a time range is counted from the
//! header's groups alone in a block the range covers and with no deleted
//! row ([`Candidate::counted`]). The open block is checked with
//! [`Filter::matches`], the reference the rest must agree with.

use std::cell::OnceCell;
use std::ops::Range;
use std::sync::Arc;

use loglens_core::query::tokenize;
use loglens_core::{Filter, Level, LogRecord};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::super::block::{Block, BlockError, Column, Group, Header};
use super::super::bloom::Field;
use super::super::deleted::rows_in;
use super::super::postings::{
    HOST, ID_LOW32, MAX_TERM_BYTES, PostingsFields, SERVICE, TAGS, Words, is_id_word,
};
use super::super::snapshot::Snapshot;
use super::text;
use crate::tantivy::backend;
use crate::tantivy::schema::{ID_BUCKET, SEQ};
use crate::{Error, Result};

/// The rows of one block a filter selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Selection {
    /// Every row of a block of this many.
    All(usize),
    /// These rows, ascending.
    Rows(Vec<u32>),
}

impl Selection {
    /// Rows selected.
    pub fn len(&self) -> usize {
        match self {
            Selection::All(n) => *n,
            Selection::Rows(rows) => rows.len(),
        }
    }

    /// Whether no row is selected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let (all, rows) = match self {
            Selection::All(n) => (0..*n, &[][..]),
            Selection::Rows(rows) => (0..0, &rows[..]),
        };
        all.chain(rows.iter().map(|&r| r as usize))
    }
}

/// What a block's header left undecided: the conditions its columns must
/// settle besides those that always need a column.
#[derive(Debug, Clone, Copy)]
struct Undecided {
    /// The time range does not cover the block.
    time: bool,
    /// The tenant's code, when the block has other tenants too.
    tenant: Option<u16>,
    /// The service's code, when the block has other services too.
    service: Option<u16>,
}

/// The filter's tenant and service as codes of a block's dictionaries;
/// `None` where the filter names none.
#[derive(Debug, Clone, Copy)]
struct Codes {
    tenant: Option<u16>,
    service: Option<u16>,
}

/// A block that may hold matches, by its header, its filter and the words.
pub(super) struct Candidate<'a> {
    /// The block.
    pub block: &'a Arc<Block>,
    undecided: Undecided,
    /// The block's rows the postings select (ascending seqs), when they
    /// were asked.
    words: Option<&'a [u64]>,
    /// The block's matches as its header's groups count them, one entry
    /// per group with any; `None` unless the groups decide the filter
    /// there: no condition but tenant, service, level, anomaly and a time
    /// range covering the block, and no deleted row in it.
    pub counted: Option<Vec<Counted>>,
    /// Whether the block's rows the postings select are unknown: they were
    /// asked only for other blocks' (see [`Plan::within`]).
    pub words_unknown: bool,
}

/// The matching rows of one header [`Group`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Counted {
    /// Index into the header's groups.
    pub group: usize,
    /// Code into the header's services.
    pub service: u16,
    pub level: Level,
    /// Matching rows, at least one.
    pub rows: u64,
    /// Of which anomalous.
    pub anomalies: u64,
    /// The group's time range (of all its rows, matching or not).
    pub min_timestamp: i64,
    pub max_timestamp: i64,
}

impl Candidate<'_> {
    /// Whether every timestamp of the block lies in the filter's range.
    pub fn covered(&self) -> bool {
        !self.undecided.time
    }

    /// The block's matches, when its header counted them.
    pub fn total(&self) -> Option<u64> {
        self.counted.as_ref().map(|c| c.iter().map(|g| g.rows).sum())
    }
}

/// One filter over one snapshot.
pub(super) struct Plan<'a> {
    snap: &'a Snapshot,
    filter: &'a Filter,
    /// The sealed records' seqs whose message holds every word and that
    /// have every exact value `posted` names, ascending; `None` when the
    /// postings were not asked (no word, host or tag).
    words: Option<Vec<u64>>,
    /// The filter's exact values the postings decided in `words`.
    posted: Posted,
    /// The query's id-like words, which the postings do not hold: the
    /// blocks' filters and message columns decide them.
    id_words: Vec<String>,
    /// Whether the filter has no condition but tenant, service, level,
    /// anomaly and time range, which a block's groups can decide.
    groups_decide: bool,
    /// For a filter the postings decide ([`postings_decide`]): the sealed
    /// matches they counted, and the seq ranges of the blocks whose rows
    /// they gave, when only some blocks' (`None`: every block's).
    postings: Option<(u64, Option<Vec<Range<u64>>>)>,
}

/// Which of a filter's exact values the postings decided (as terms).
#[derive(Debug, Clone, Copy, Default)]
struct Posted {
    service: bool,
    host: bool,
    tag: bool,
}

impl<'a> Plan<'a> {
    /// Asks the postings for the words' rows (when there are words).
    pub fn new(
        snap: &'a Snapshot,
        analyzer: &mut TextAnalyzer,
        filter: &'a Filter,
    ) -> Result<Plan<'a>> {
        Plan::within(snap, analyzer, filter, None)
    }

    /// As [`Plan::new`]; when the postings decide the filter
    /// ([`postings_decide`]) they count the sealed matches
    /// ([`Plan::postings_total`]), and when `blocks` names seq ranges of
    /// blocks they give only those blocks' rows; the others' candidates are
    /// marked [`Candidate::words_unknown`].
    pub fn within(
        snap: &'a Snapshot,
        analyzer: &mut TextAnalyzer,
        filter: &'a Filter,
        blocks: Option<Vec<Range<u64>>>,
    ) -> Result<Plan<'a>> {
        // Destructured so that a new filter field does not go unnoticed:
        // each is decided by `header_allows`, `filter_allows` or `select`.
        // The groups decide those marked "groups".
        let Filter {
            service_name: _, // groups
            level: _,        // groups
            status_code,
            anomaly: _,        // groups
            from_timestamp: _, // groups, when the range covers the block
            to_timestamp: _,   // groups, when the range covers the block
            query,
            trace_id,
            request_id,
            host,
            user_id,
            error_code,
            tag,
            anomaly_reason,
            attributes,
            tenant: _, // groups
        } = filter;
        let (mut words, mut postings, mut posted) = (None, None, Posted::default());
        let fields = postings_fields(snap)?;
        let Words { mut terms, ids: id_words } =
            query.as_deref().map_or(Words::default(), |q| fields.words(analyzer, q));
        // Hosts and tags are in most blocks: the postings rule blocks in,
        // not only out. A service is a header's to decide, unless the
        // postings are asked anyway.
        for (field, want, flag) in
            [(fields.host, host, &mut posted.host), (fields.tags, tag, &mut posted.tag)]
        {
            if let Some(term) = want.as_deref().and_then(|v| PostingsFields::term(field, v)) {
                terms.push(term);
                *flag = true;
            }
        }
        if let Some(term) = filter
            .service_name
            .as_deref()
            .and_then(|v| PostingsFields::term(fields.service, v).filter(|_| !terms.is_empty()))
        {
            terms.push(term);
            posted.service = true;
        }
        if let Some(query) = PostingsFields::all_of(terms) {
            // (`postings_decide` finds id-like words with the core's
            // tokenizer, which cuts as this one does; checked again here.)
            let decide = postings_decide(snap, filter) && id_words.is_empty();
            // Deciding, the postings count every block's matches and give
            // the rows of `blocks`; else only the rows of blocks the time
            // range meets are wanted, and no count.
            let mut blocks = blocks.filter(|_| decide);
            let wanted = match &mut blocks {
                Some(b) => {
                    b.sort_by_key(|r| r.start);
                    Some(b.clone())
                }
                None if !decide => in_time_range(snap, filter),
                None => None,
            };
            let hits = WordHits {
                open_first: snap.open.first_seq,
                blocks: wanted.as_deref(),
                count: decide,
            };
            let (count, mut seqs) = snap.postings.search(&*query, &hits).map_err(backend)?;
            seqs.sort_unstable();
            seqs.dedup();
            words = Some(seqs);
            postings = decide.then_some((count, blocks));
        }
        let groups_decide = words.is_none()
            && id_words.is_empty()
            && status_code.is_none()
            && [trace_id, request_id, host, user_id, error_code, tag, anomaly_reason]
                .iter()
                .all(|v| v.is_none())
            && attributes.is_empty();
        Ok(Plan { snap, filter, words, posted, id_words, groups_decide, postings })
    }

    /// The sealed matches the postings counted, when they decide the
    /// filter ([`postings_decide`]).
    pub fn postings_total(&self) -> Option<u64> {
        self.postings.as_ref().map(|(count, _)| *count)
    }

    /// The blocks that may hold a match, oldest first.
    pub fn candidates(&self) -> Vec<Candidate<'_>> {
        let mut out = Vec::new();
        for block in self.snap.blocks.iter() {
            let h = block.header();
            let words_unknown = self
                .postings
                .as_ref()
                .and_then(|(_, known)| known.as_ref())
                .is_some_and(|known| !known.iter().any(|r| r.start == h.first_seq));
            let words = match &self.words {
                Some(_) if words_unknown => None,
                None => None,
                Some(all) => {
                    let seqs = &all[within(all, h.seqs())];
                    if seqs.is_empty() {
                        continue;
                    }
                    Some(seqs)
                }
            };
            let Some((undecided, codes)) = self.header_allows(h) else { continue };
            if self.filter_allows(block) {
                let counted = self.counted(h, undecided, codes);
                out.push(Candidate { block, undecided, words, counted, words_unknown });
            }
        }
        out
    }

    /// The matches of each group of the block, when the groups decide the
    /// filter there (see [`Candidate::counted`]).
    fn counted(&self, h: &Header, undecided: Undecided, codes: Codes) -> Option<Vec<Counted>> {
        if !self.groups_decide || undecided.time || self.deleted_count(h.seqs()) > 0 {
            return None;
        }
        let f = self.filter;
        let matching = |g: &&Group| {
            codes.tenant.is_none_or(|t| g.tenant == t)
                && codes.service.is_none_or(|s| g.service == s)
                && f.level.is_none_or(|l| g.level == l)
        };
        let counted =
            h.groups.iter().enumerate().filter(|(_, g)| matching(g)).filter_map(|(i, g)| {
                let (rows, anomalies) = match f.anomaly {
                    None => (g.rows, g.anomalies),
                    Some(true) => (g.anomalies, g.anomalies),
                    Some(false) => (g.rows - g.anomalies, 0),
                };
                (rows > 0).then_some(Counted {
                    group: i,
                    service: g.service,
                    level: g.level,
                    rows: u64::from(rows),
                    anomalies: u64::from(anomalies),
                    min_timestamp: g.min_timestamp,
                    max_timestamp: g.max_timestamp,
                })
            });
        Some(counted.collect())
    }

    /// What the header leaves to the columns, and the filter's codes in its
    /// dictionaries; `None` when no record of the block can match.
    fn header_allows(&self, h: &Header) -> Option<(Undecided, Codes)> {
        let f = self.filter;
        if f.from_timestamp.is_some_and(|from| h.max_timestamp < from)
            || f.to_timestamp.is_some_and(|to| h.min_timestamp > to)
        {
            return None;
        }
        let time = f.from_timestamp.is_some_and(|from| h.min_timestamp < from)
            || f.to_timestamp.is_some_and(|to| h.max_timestamp > to);
        let code = |dict: &[String], want: &Option<String>| -> Option<Option<u16>> {
            let Some(want) = want else { return Some(None) };
            Some(Some(dict.iter().position(|v| v == want)? as u16))
        };
        let codes = Codes {
            tenant: code(&h.tenants, &f.tenant)?,
            service: code(&h.services, &f.service_name)?,
        };
        if f.attributes.iter().any(|(k, _)| h.attribute(k).is_none()) {
            return None;
        }
        // A code is left to the column only when the block has other values.
        let undecided = Undecided {
            time,
            tenant: codes.tenant.filter(|_| h.tenants.len() > 1),
            service: codes.service.filter(|_| h.services.len() > 1),
        };
        Some((undecided, codes))
    }

    /// Whether the block's filter of exact values may hold every exact
    /// value and id-like word the filter asks for.
    fn filter_allows(&self, block: &Block) -> bool {
        let f = self.filter;
        let exact = [
            (Field::TraceId, &f.trace_id),
            (Field::RequestId, &f.request_id),
            (Field::Host, &f.host),
            (Field::UserId, &f.user_id),
            (Field::ErrorCode, &f.error_code),
            (Field::Tag, &f.tag),
            (Field::AnomalyReason, &f.anomaly_reason),
        ];
        exact
            .iter()
            .all(|(field, want)| want.as_deref().is_none_or(|v| block.may_contain(*field, v)))
            && f.attributes.iter().all(|(k, v)| block.may_contain(Field::Attribute(k), v))
            && self.id_words.iter().all(|w| block.may_contain(Field::Word, w))
    }

    /// How many seqs of `range` were deleted.
    pub fn deleted_count(&self, range: Range<u64>) -> u64 {
        self.snap.deleted.range_cardinality(range)
    }

    /// Whether `seq` was deleted.
    pub fn is_deleted(&self, seq: u64) -> bool {
        self.snap.deleted.contains(seq)
    }

    /// The rows of a candidate block that match: the words' rows (or every
    /// row) less the deleted ones, narrowed by each condition its header
    /// left open, one column at a time, cheapest first, until none is left.
    /// The level, anomaly and time columns are kept in `columns` for the
    /// caller.
    pub fn select(&self, c: &Candidate<'_>, columns: &BlockColumns<'_>) -> Result<Selection> {
        let f = self.filter;
        let (block, h) = (c.block, c.block.header());
        let any_deleted = self.deleted_count(h.seqs()) > 0;
        // What the postings decided is in `c.words` already.
        let service = c.undecided.service.filter(|_| !self.posted.service);
        let host = f.host.as_deref().filter(|_| !self.posted.host);
        let tag = f.tag.as_deref().filter(|_| !self.posted.tag);
        let any_column = c.undecided.time
            || c.undecided.tenant.is_some()
            || service.is_some()
            || f.level.is_some()
            || f.status_code.is_some()
            || f.anomaly.is_some()
            || [host, f.trace_id.as_deref(), f.request_id.as_deref(), f.user_id.as_deref()]
                .iter()
                .any(|v| v.is_some())
            || f.error_code.is_some()
            || tag.is_some()
            || f.anomaly_reason.is_some()
            || !f.attributes.is_empty()
            || !self.id_words.is_empty();
        if !any_column && c.words.is_none() && !any_deleted {
            return Ok(Selection::All(h.rows));
        }
        let row = |seq: u64| (seq - h.first_seq) as usize;
        let mut keep = match c.words {
            None => vec![true; h.rows],
            Some(seqs) => {
                let mut keep = vec![false; h.rows];
                for &s in seqs {
                    keep[row(s)] = true;
                }
                keep
            }
        };
        for s in rows_in(&self.snap.deleted, h.seqs()) {
            keep[row(s)] = false;
        }
        let mut left = keep.iter().filter(|k| **k).count();
        let err = |e: BlockError| block_error(block, e);
        if let Some(want) = f.level
            && left > 0
        {
            left = narrow(&mut keep, columns.levels()?, |l| *l == want);
        }
        if let Some(want) = f.anomaly
            && left > 0
        {
            left = narrow(&mut keep, columns.anomalies()?, |(a, _)| *a == want);
        }
        if let Some(want) = f.status_code
            && left > 0
        {
            left = narrow(&mut keep, block.status_codes().map_err(err)?, |s| *s == Some(want));
        }
        for (column, code) in [(Column::Tenant, c.undecided.tenant), (Column::Service, service)] {
            if let Some(want) = code
                && left > 0
            {
                left = narrow(&mut keep, block.codes(column).map_err(err)?, |c| *c == want);
            }
        }
        if c.undecided.time && left > 0 {
            let (from, to) =
                (f.from_timestamp.unwrap_or(i64::MIN), f.to_timestamp.unwrap_or(i64::MAX));
            left = narrow(&mut keep, columns.timestamps()?, |t| (from..=to).contains(t));
        }
        for (column, want) in [
            (Column::Host, host),
            (Column::UserId, f.user_id.as_deref()),
            (Column::ErrorCode, f.error_code.as_deref()),
        ] {
            if let Some(want) = want
                && left > 0
            {
                left = text::narrow_text(block, column, &mut keep, want)?;
            }
        }
        for (column, want) in [(Column::TraceId, &f.trace_id), (Column::RequestId, &f.request_id)] {
            if let Some(want) = want.as_deref()
                && left > 0
            {
                left = text::narrow_id(block, column, &mut keep, want)?;
            }
        }
        for (column, want) in
            [(Column::Tags, tag), (Column::AnomalyReasons, f.anomaly_reason.as_deref())]
        {
            if let Some(want) = want
                && left > 0
            {
                left = text::narrow_list(block, column, &mut keep, want)?;
            }
        }
        for (key, want) in &f.attributes {
            if left > 0 {
                // As `Filter::matches` compares: the value's text.
                left = narrow(&mut keep, block.attribute_is(key, want).map_err(err)?, |is| *is);
            }
        }
        // The message column is the largest: read last, for the rows left.
        if !self.id_words.is_empty() && left > 0 {
            left = text::narrow_words(block, &mut keep, &self.id_words)?;
        }
        if left == h.rows {
            return Ok(Selection::All(h.rows));
        }
        let rows = keep.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i as u32).collect();
        Ok(Selection::Rows(rows))
    }

    /// The open block's matching records with their seqs, in seq order.
    pub fn open(&self) -> Vec<(u64, &'a LogRecord)> {
        let open = &self.snap.open;
        open.records
            .iter()
            .enumerate()
            .map(|(i, r)| (open.first_seq + i as u64, r))
            .filter(|(seq, r)| !self.is_deleted(*seq) && self.filter.matches(r))
            .collect()
    }
}

/// A block's column that could not be read, as a store error.
pub(super) fn block_error(block: &Block, e: BlockError) -> Error {
    Error::Backend(format!("block of seqs from {}: {e}", block.header().first_seq))
}

/// The columns of one block that both a filter and what reads its matches
/// (sort keys, stats) may need, each decoded at most once.
pub(super) struct BlockColumns<'b> {
    block: &'b Block,
    timestamps: OnceCell<Vec<i64>>,
    levels: OnceCell<Vec<Level>>,
    anomalies: OnceCell<Vec<(bool, u8)>>,
}

impl<'b> BlockColumns<'b> {
    /// Nothing decoded yet.
    pub fn new(block: &'b Block) -> BlockColumns<'b> {
        BlockColumns {
            block,
            timestamps: OnceCell::new(),
            levels: OnceCell::new(),
            anomalies: OnceCell::new(),
        }
    }

    /// Every row's timestamp.
    pub fn timestamps(&self) -> Result<&[i64]> {
        once(&self.timestamps, || self.block.timestamps().map_err(|e| block_error(self.block, e)))
    }

    /// Every row's level.
    pub fn levels(&self) -> Result<&[Level]> {
        once(&self.levels, || self.block.levels().map_err(|e| block_error(self.block, e)))
    }

    /// Every row's anomaly flag and severity.
    pub fn anomalies(&self) -> Result<&[(bool, u8)]> {
        once(&self.anomalies, || self.block.anomalies().map_err(|e| block_error(self.block, e)))
    }
}

/// The cell's value, made by `make` the first time.
fn once<T>(cell: &OnceCell<Vec<T>>, make: impl FnOnce() -> Result<Vec<T>>) -> Result<&[T]> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = make()?;
    Ok(cell.get_or_init(|| v))
}

/// Clears `keep` where `values` fails `pred`; the rows still kept.
pub(super) fn narrow<T>(
    keep: &mut [bool],
    values: impl AsRef<[T]>,
    pred: impl Fn(&T) -> bool,
) -> usize {
    let mut left = 0;
    for (k, v) in keep.iter_mut().zip(values.as_ref()) {
        *k = *k && pred(v);
        left += usize::from(*k);
    }
    left
}

/// Whether the postings alone count the filter's sealed matches: message
/// words (none id-like: `postings::is_id_word`), a host or a tag (at least
/// one of them, each short enough to be a term), a service beside them,
/// and nothing else (not even a time range)
/// but a tenant, when every sealed block of `snap` holds that tenant's
/// records only (one tenant's store, the usual case: the REST and gRPC
/// reads always name a tenant).
pub(super) fn postings_decide(snap: &Snapshot, f: &Filter) -> bool {
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
    } = f;
    let term = |v: &Option<String>| v.as_deref().is_none_or(|v| v.len() <= MAX_TERM_BYTES);
    (query.is_some() || host.is_some() || tag.is_some())
        && query.as_deref().is_none_or(|q| !tokenize(q).any(|w| is_id_word(&w)))
        && [service_name, host, tag].into_iter().all(term)
        && level.is_none()
        && status_code.is_none()
        && anomaly.is_none()
        && from_timestamp.is_none()
        && to_timestamp.is_none()
        && [trace_id, request_id, user_id, error_code, anomaly_reason].iter().all(|v| v.is_none())
        && attributes.is_empty()
        && tenant.as_deref().is_none_or(|t| {
            snap.blocks.iter().all(|b| matches!(&b.header().tenants[..], [only] if only == t))
        })
}

/// The postings' field handles, by name from the snapshot's own schema.
pub(super) fn postings_fields(snap: &Snapshot) -> Result<PostingsFields> {
    let schema = snap.postings.schema();
    let field = |name: &str| {
        schema
            .get_field(name)
            .map_err(|e| Error::Backend(format!("postings schema has no {name}: {e}")))
    };
    Ok(PostingsFields {
        message: field("message")?,
        service: field(SERVICE)?,
        host: field(HOST)?,
        tags: field(TAGS)?,
        seq: field(SEQ)?,
        id_bucket: field(ID_BUCKET)?,
        id_low32: field(ID_LOW32)?,
    })
}

/// The sealed records (seq before `open_first`) holding every word: their
/// number and their seqs, only those within `blocks` when given. The open
/// block's are left out: it is checked record by record. Deleted rows have
/// no postings (see [`Snapshot`]), so the count is of live rows.
struct WordHits<'b> {
    open_first: u64,
    /// Ascending, without overlap.
    blocks: Option<&'b [Range<u64>]>,
    /// Whether segments whose seqs are not wanted are counted all the same
    /// (else the count is of the wanted seqs only).
    count: bool,
}

impl WordHits<'_> {
    /// Whether the seqs of a segment holding seqs `lo..=hi` are wanted.
    fn wants(&self, lo: u64, hi: u64) -> bool {
        lo < self.open_first
            && self.blocks.is_none_or(|b| b.iter().any(|r| r.start <= hi && lo < r.end))
    }

    fn wants_seq(&self, seq: u64) -> bool {
        self.blocks.is_none_or(|b| {
            b.get(b.partition_point(|r| r.end <= seq)).is_some_and(|r| r.start <= seq)
        })
    }
}

/// The seq ranges of the sealed blocks the filter's time range meets,
/// adjacent blocks' joined, ascending; `None` without a time range or when
/// it meets every block.
fn in_time_range(snap: &Snapshot, f: &Filter) -> Option<Vec<Range<u64>>> {
    if f.from_timestamp.is_none() && f.to_timestamp.is_none() {
        return None;
    }
    let (from, to) = (f.from_timestamp.unwrap_or(i64::MIN), f.to_timestamp.unwrap_or(i64::MAX));
    let mut out: Vec<Range<u64>> = Vec::new();
    let mut all = true;
    for h in snap.blocks.iter().map(|b| b.header()) {
        if h.max_timestamp < from || h.min_timestamp > to {
            all = false;
            continue;
        }
        match out.last_mut() {
            Some(last) if last.end == h.first_seq => last.end = h.seqs().end,
            _ => out.push(h.seqs()),
        }
    }
    (!all).then_some(out)
}

impl Collector for WordHits<'_> {
    type Fruit = (u64, Vec<u64>);
    type Child = Unused;

    fn for_segment(&self, _: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<Unused> {
        Ok(Unused)
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<(u64, Vec<u64>)>) -> tantivy::Result<(u64, Vec<u64>)> {
        let count = fruits.iter().map(|(n, _)| n).sum();
        Ok((count, fruits.into_iter().flat_map(|(_, seqs)| seqs).collect()))
    }

    /// A segment wholly sealed whose rows are not wanted is only counted,
    /// when counting (for one word and no deletion, its document
    /// frequency), else skipped; any other
    /// is walked, each live document's seq read.
    fn collect_segment(
        &self,
        weight: &dyn Weight,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<(u64, Vec<u64>)> {
        let column = reader.fast_fields().u64(SEQ)?;
        let (lo, hi) = (column.min_value(), column.max_value());
        if reader.num_docs() == 0 {
            return Ok((0, Vec::new()));
        }
        if hi < self.open_first && !self.wants(lo, hi) {
            let count = if self.count { u64::from(weight.count(reader)?) } else { 0 };
            return Ok((count, Vec::new()));
        }
        let alive = reader.alive_bitset();
        let (mut count, mut seqs) = (0, Vec::new());
        weight.for_each_no_score(reader, &mut |docs| {
            for &doc in docs {
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                if let Some(seq) = column.first(doc).filter(|s| *s < self.open_first) {
                    count += 1;
                    if self.wants_seq(seq) {
                        seqs.push(seq);
                    }
                }
            }
        })?;
        Ok((count, seqs))
    }
}

/// Unused: [`WordHits`] walks each segment itself (`collect_segment`);
/// Tantivy asks for a child all the same.
struct Unused;

impl SegmentCollector for Unused {
    type Fruit = (u64, Vec<u64>);

    fn collect(&mut self, _: DocId, _: Score) {}

    fn harvest(self) -> (u64, Vec<u64>) {
        (0, Vec::new())
    }
}

/// The positions of `seqs` (ascending) within `range`.
fn within(seqs: &[u64], range: Range<u64>) -> Range<usize> {
    seqs.partition_point(|s| *s < range.start)..seqs.partition_point(|s| *s < range.end)
}
