//! The backend-neutral query model: what a search, an anomaly query or a
//! stats request asks, validated once here, translated by each store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::level::Level;
use crate::record::LogRecord;
use crate::status::StatusCode;

/// Largest page size.
pub const MAX_SIZE: u32 = 1000;
/// Page size when none is given.
pub const DEFAULT_SIZE: u32 = 20;
/// Smallest histogram bucket width, ms.
pub const MIN_HISTOGRAM_INTERVAL_MS: i64 = 1000;
/// Most histogram buckets one stats request may produce.
pub const MAX_HISTOGRAM_BUCKETS: i64 = 10_000;

/// Conditions a record must all meet (AND). `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Exact service name.
    pub service_name: Option<String>,
    /// Exact level.
    pub level: Option<Level>,
    /// Exact HTTP status.
    pub status_code: Option<StatusCode>,
    /// Anomalous or not.
    pub anomaly: Option<bool>,
    /// Inclusive lower bound, UTC ms.
    pub from_timestamp: Option<i64>,
    /// Inclusive upper bound, UTC ms.
    pub to_timestamp: Option<i64>,
    /// Full text on `message`: every word must occur, case-insensitive.
    pub query: Option<String>,
    /// Exact application trace id.
    pub trace_id: Option<String>,
    /// Exact request id.
    pub request_id: Option<String>,
    /// Exact host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Exact user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Exact error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Records carrying this tag (exact, one of the record's `tags`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Records an anomaly rule of this id fired on (one of the record's
    /// `anomaly_reasons`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly_reason: Option<String>,
    /// Exact attribute values, all of them (AND): key and the value as text
    /// (numbers and booleans as JSON writes them, see
    /// [`crate::AttrValue`]'s `Display`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<(String, String)>,
    /// Only this tenant's records; `None` means every tenant's. Set from
    /// the caller's key by the query role, never from a request alone (an
    /// `admin` key may name one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl Filter {
    /// Checks the time range is ordered; empty strings
    /// become `None`.
    pub fn validated(mut self) -> Result<Filter> {
        for f in [
            &mut self.service_name,
            &mut self.query,
            &mut self.trace_id,
            &mut self.request_id,
            &mut self.host,
            &mut self.user_id,
            &mut self.error_code,
            &mut self.tag,
            &mut self.anomaly_reason,
            &mut self.tenant,
        ] {
            if f.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *f = None;
            }
        }
        if let Some(t) = &self.tenant {
            crate::tenant::validate("tenant", t)?;
        }
        if let (Some(from), Some(to)) = (self.from_timestamp, self.to_timestamp)
            && from > to
        {
            return Err(Error::invalid(
                "from_timestamp",
                format!("from_timestamp must be <= to_timestamp, got {from} > {to}"),
            ));
        }
        if self.attributes.len() > crate::attributes::MAX_ATTRIBUTES {
            return Err(Error::invalid(
                "attributes",
                format!(
                    "at most {} attribute filters, got {}",
                    crate::attributes::MAX_ATTRIBUTES,
                    self.attributes.len()
                ),
            ));
        }
        for (k, v) in &self.attributes {
            if k.is_empty() || k.len() > crate::attributes::MAX_KEY_BYTES {
                return Err(Error::invalid(
                    "attributes",
                    format!(
                        "attribute filter keys must be 1 to {} bytes, got {}",
                        crate::attributes::MAX_KEY_BYTES,
                        k.len()
                    ),
                ));
            }
            if v.len() > crate::attributes::MAX_VALUE_BYTES {
                return Err(Error::invalid(
                    crate::attributes::field_name(k),
                    format!(
                        "attribute filter values must be at most {} bytes, got {}",
                        crate::attributes::MAX_VALUE_BYTES,
                        v.len()
                    ),
                ));
            }
        }
        self.attributes.sort();
        self.attributes.dedup();
        Ok(self)
    }

    /// Whether `r` meets every condition; used where a store has no index to
    /// ask, e.g. `Tail`. Full text follows [`tokenize`].
    pub fn matches(&self, r: &LogRecord) -> bool {
        fn eq(want: &Option<String>, have: &str) -> bool {
            want.as_deref().is_none_or(|w| w == have)
        }
        fn eq_opt(want: &Option<String>, have: &Option<String>) -> bool {
            want.as_deref().is_none_or(|w| have.as_deref() == Some(w))
        }
        eq(&self.service_name, &r.service_name)
            && eq(&self.tenant, &r.tenant)
            && self.level.is_none_or(|l| l == r.level)
            && self.status_code.is_none_or(|s| r.status_code == Some(s))
            && self
                .attributes
                .iter()
                .all(|(k, v)| r.attributes.get(k).is_some_and(|a| a.to_string() == *v))
            && self.anomaly.is_none_or(|a| a == r.anomaly)
            && self.from_timestamp.is_none_or(|f| r.timestamp >= f)
            && self.to_timestamp.is_none_or(|t| r.timestamp <= t)
            && eq_opt(&self.trace_id, &r.trace_id)
            && eq_opt(&self.request_id, &r.request_id)
            && eq_opt(&self.host, &r.host)
            && eq_opt(&self.user_id, &r.user_id)
            && eq_opt(&self.error_code, &r.error_code)
            && self.tag.as_deref().is_none_or(|t| r.tags.iter().any(|have| have == t))
            && self
                .anomaly_reason
                .as_deref()
                .is_none_or(|a| r.anomaly_reasons.iter().any(|have| have == a))
            && self.query.as_deref().is_none_or(|q| {
                let words: Vec<String> = tokenize(&r.message).collect();
                tokenize(q).all(|w| words.contains(&w))
            })
    }
}

/// Splits text into lower-case words the way the full-text index does: runs
/// of alphanumeric characters, lower-cased one character at a time; words of
/// 40 bytes or more are dropped.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() < 40)
        .map(|w| w.chars().flat_map(char::to_lowercase).collect())
}

/// Result order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Newest timestamp first.
    #[default]
    NewestFirst,
    /// Oldest timestamp first.
    OldestFirst,
    /// Highest severity first, then newest.
    Severity,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// What to match.
    pub filter: Filter,
    /// In which order.
    pub sort: Sort,
    /// 1-based page; ignored when `cursor` is set.
    pub page: u32,
    /// 1..=[`MAX_SIZE`].
    pub size: u32,
    /// Opaque, store-specific continuation from a previous result.
    pub cursor: Option<String>,
}

impl SearchRequest {
    /// Validates page and size (`None` picks the defaults) and the filter.
    pub fn new(
        filter: Filter,
        sort: Sort,
        page: Option<u32>,
        size: Option<u32>,
        cursor: Option<String>,
    ) -> Result<Self> {
        let page = page.unwrap_or(1);
        if page == 0 {
            return Err(Error::invalid("page", "page must be >= 1, got 0"));
        }
        let size = size.unwrap_or(DEFAULT_SIZE);
        if !(1..=MAX_SIZE).contains(&size) {
            return Err(Error::invalid(
                "size",
                format!("size must be between 1 and {MAX_SIZE}, got {size}"),
            ));
        }
        if page.saturating_sub(1).saturating_mul(size) > 1_000_000 {
            return Err(Error::invalid(
                "page",
                format!(
                    "page * size must be at most 1000000 (use cursor for deeper pages), got page {page}"
                ),
            ));
        }
        let cursor = cursor.filter(|c| !c.is_empty());
        Ok(SearchRequest { filter: filter.validated()?, sort, page, size, cursor })
    }

    /// The anomaly query: `anomaly = true`, highest severity first.
    pub fn anomalies(
        mut filter: Filter,
        page: Option<u32>,
        size: Option<u32>,
        cursor: Option<String>,
    ) -> Result<Self> {
        filter.anomaly = Some(true);
        SearchRequest::new(filter, Sort::Severity, page, size, cursor)
    }

    /// Results to skip before the page starts (0 with a cursor).
    pub fn offset(&self) -> usize {
        if self.cursor.is_some() { 0 } else { (self.page as usize - 1) * self.size as usize }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Every record matching the filter (not just this page).
    pub total: u64,
    /// The page asked for.
    pub page: u32,
    /// The size asked for.
    pub size: u32,
    /// This page, in the requested order.
    pub logs: Vec<LogRecord>,
    /// Continues after the last record of this page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// A validated stats request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsRequest {
    /// Which records to aggregate: the same conditions, validated the same
    /// way, as a search's.
    pub filter: Filter,
    /// Bucket width of the time histogram, ms; `None`: no histogram.
    pub histogram_interval_ms: Option<i64>,
    /// Whether to compute p50/p95/p99 response time per service.
    pub include_percentiles: bool,
}

impl StatsRequest {
    /// Validates the filter (as [`Filter::validated`]) and the histogram
    /// interval against the time range.
    pub fn validated(mut self) -> Result<Self> {
        self.filter = self.filter.validated()?;
        if let Some(i) = self.histogram_interval_ms {
            if i < MIN_HISTOGRAM_INTERVAL_MS {
                return Err(Error::invalid(
                    "interval",
                    format!(
                        "histogram interval must be at least {MIN_HISTOGRAM_INTERVAL_MS} ms, got {i}"
                    ),
                ));
            }
            if let (Some(from), Some(to)) = (self.filter.from_timestamp, self.filter.to_timestamp)
                && (to - from) / i >= MAX_HISTOGRAM_BUCKETS
            {
                return Err(Error::invalid(
                    "interval",
                    format!(
                        "histogram would have more than {MAX_HISTOGRAM_BUCKETS} buckets: widen the interval or narrow the range"
                    ),
                ));
            }
        }
        Ok(self)
    }
}

/// One time bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramBucket {
    /// Bucket start, UTC ms, a multiple of the interval.
    pub start: i64,
    /// Records in the bucket.
    pub count: u64,
    /// Anomalous records in the bucket.
    pub anomaly_count: u64,
    /// ERROR records in the bucket.
    pub error_count: u64,
    /// Records in the bucket per level (upper-case names, as
    /// [`Stats::levels`]); only levels with records appear, and the counts
    /// add up to `count`.
    #[serde(default)]
    pub levels: BTreeMap<String, u64>,
}

/// Response-time percentiles of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median, ms.
    pub p50: f64,
    /// 95th percentile, ms.
    pub p95: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Records that had a response time.
    pub count: u64,
}

/// Aggregates over the matching records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Matching records.
    pub total_logs: u64,
    /// Records per service.
    pub services: BTreeMap<String, u64>,
    /// Records per level (upper-case names).
    pub levels: BTreeMap<String, u64>,
    /// Records with `anomaly = true`.
    pub anomaly_count: u64,
    /// Records with level ERROR.
    pub error_count: u64,
    /// Time histogram, oldest bucket first; empty unless asked for.
    pub histogram: Vec<HistogramBucket>,
    /// Per service; empty unless asked for.
    pub response_time_percentiles: BTreeMap<String, Percentiles>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RawLog, normalize};
    use crate::rules::RuleSet;

    fn record() -> LogRecord {
        let raw = RawLog {
            service_name: Some("api-gateway".into()),
            message: Some("Upstream TIMEOUT after 3000ms (retrying)".into()),
            level: Some("ERROR".into()),
            status_code: Some(504),
            request_id: Some("req-7".into()),
            host: Some("web-3".into()),
            user_id: Some("u-42".into()),
            error_code: Some("E_TIMEOUT".into()),
            tags: Some(vec!["edge".into(), "retry".into()]),
            ..RawLog::default()
        };
        normalize(raw, 1_000, &RuleSet::default()).unwrap()
    }

    #[test]
    fn filter_matches_each_condition() {
        let r = record();
        assert!(Filter::default().matches(&r));
        let yes = [
            Filter { service_name: Some("api-gateway".into()), ..Filter::default() },
            Filter { level: Some(Level::Error), ..Filter::default() },
            Filter { status_code: StatusCode::new(504).ok(), ..Filter::default() },
            Filter { anomaly: Some(true), ..Filter::default() },
            Filter { from_timestamp: Some(1_000), to_timestamp: Some(1_000), ..Filter::default() },
            Filter { query: Some("timeout RETRYING".into()), ..Filter::default() },
            Filter { request_id: Some("req-7".into()), ..Filter::default() },
            Filter { host: Some("web-3".into()), ..Filter::default() },
            Filter { user_id: Some("u-42".into()), ..Filter::default() },
            Filter { error_code: Some("E_TIMEOUT".into()), ..Filter::default() },
            Filter { tag: Some("retry".into()), ..Filter::default() },
            Filter { anomaly_reason: Some("error_level".into()), ..Filter::default() },
        ];
        for f in yes {
            assert!(f.matches(&r), "{f:?}");
        }
        let no = [
            Filter { service_name: Some("api".into()), ..Filter::default() },
            Filter { level: Some(Level::Warn), ..Filter::default() },
            Filter { status_code: StatusCode::new(500).ok(), ..Filter::default() },
            Filter { anomaly: Some(false), ..Filter::default() },
            Filter { from_timestamp: Some(1_001), ..Filter::default() },
            Filter { to_timestamp: Some(999), ..Filter::default() },
            Filter { query: Some("timeout missing".into()), ..Filter::default() },
            Filter { host: Some("web-30".into()), ..Filter::default() },
            Filter { user_id: Some("U-42".into()), ..Filter::default() },
            Filter { error_code: Some("E_TIME".into()), ..Filter::default() },
            Filter { tag: Some("retr".into()), ..Filter::default() },
            Filter { anomaly_reason: Some("slow_response".into()), ..Filter::default() },
            Filter { query: Some("time".into()), ..Filter::default() },
            Filter { trace_id: Some("t".into()), ..Filter::default() },
        ];
        for f in no {
            assert!(!f.matches(&r), "{f:?}");
        }
    }

    #[test]
    fn search_request_bounds() {
        let ok =
            SearchRequest::new(Filter::default(), Sort::default(), None, None, Some(String::new()))
                .unwrap();
        assert_eq!((ok.page, ok.size, ok.cursor), (1, 20, None));
        let e = SearchRequest::new(Filter::default(), Sort::default(), None, Some(5000), None)
            .unwrap_err();
        assert_eq!(e.to_string(), "size must be between 1 and 1000, got 5000");
        assert_eq!(e.field(), Some("size"));
        let e = SearchRequest::new(Filter::default(), Sort::default(), None, Some(0), None)
            .unwrap_err();
        assert_eq!(e.field(), Some("size"));
        let e = SearchRequest::new(Filter::default(), Sort::default(), Some(0), None, None)
            .unwrap_err();
        assert_eq!(e.field(), Some("page"));
        let e =
            SearchRequest::new(Filter::default(), Sort::default(), Some(100_000), Some(1000), None)
                .unwrap_err();
        assert!(e.to_string().contains("use cursor"), "{e}");
        let f = Filter { from_timestamp: Some(5), to_timestamp: Some(4), ..Filter::default() };
        let e = SearchRequest::new(f, Sort::default(), None, None, None).unwrap_err();
        assert_eq!(e.field(), Some("from_timestamp"));
        let r = SearchRequest::new(Filter::default(), Sort::default(), Some(3), Some(10), None)
            .unwrap();
        assert_eq!(r.offset(), 20);
        let a = SearchRequest::anomalies(Filter::default(), None, None, None).unwrap();
        assert_eq!((a.filter.anomaly, a.sort), (Some(true), Sort::Severity));
    }

    #[test]
    fn stats_request_bounds() {
        let e = StatsRequest { histogram_interval_ms: Some(10), ..StatsRequest::default() }
            .validated()
            .unwrap_err();
        assert_eq!(e.to_string(), "histogram interval must be at least 1000 ms, got 10");
        let e = StatsRequest {
            filter: Filter {
                from_timestamp: Some(0),
                to_timestamp: Some(100_000_000),
                ..Filter::default()
            },
            histogram_interval_ms: Some(1000),
            ..StatsRequest::default()
        }
        .validated()
        .unwrap_err();
        assert!(e.to_string().contains("more than 10000 buckets"), "{e}");
        let filter = Filter {
            service_name: Some(" ".into()),
            query: Some("timeout".into()),
            level: Some(Level::Error),
            ..Filter::default()
        };
        let ok = StatsRequest { filter, ..StatsRequest::default() }.validated().unwrap();
        assert_eq!(
            (ok.filter.service_name, ok.filter.query.as_deref(), ok.filter.level),
            (None, Some("timeout"), Some(Level::Error)),
            "the filter is validated as a search's"
        );
        let filter = Filter { from_timestamp: Some(5), to_timestamp: Some(4), ..Filter::default() };
        let e = StatsRequest { filter, ..StatsRequest::default() }.validated().unwrap_err();
        assert_eq!(e.field(), Some("from_timestamp"));
        let filter = Filter { attributes: vec![(String::new(), "v".into())], ..Filter::default() };
        let e = StatsRequest { filter, ..StatsRequest::default() }.validated().unwrap_err();
        assert_eq!(e.field(), Some("attributes"));
    }

    #[test]
    fn tokenizer_lowercases_and_splits() {
        let w: Vec<String> = tokenize("Hello, WORLD! user_id=42").collect();
        assert_eq!(w, ["hello", "world", "user", "id", "42"]);
        let long = format!("{} {}", "a".repeat(39), "b".repeat(40));
        assert_eq!(
            tokenize(&long).collect::<Vec<_>>(),
            ["a".repeat(39)],
            "40 bytes and more are dropped"
        );
        assert_eq!(
            tokenize("ΟΔΟΣ").collect::<Vec<_>>(),
            ["οδοσ"],
            "per-character lower case, as the index"
        );
    }
}
