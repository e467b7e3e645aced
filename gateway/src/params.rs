//! Query strings: one serde struct per route, deriving both `Deserialize`
//! (what is parsed) and `IntoParams` (what `/openapi.json` documents), read
//! by the [`Params`] extractor; [`crate::convert`] turns them into gRPC
//! requests.
//!
//! Unknown and repeated parameters are refused, values are trimmed and an
//! empty value (`?level=`) counts as absent. Every error names the parameter
//! and says what is accepted. Range checks the gRPC side also makes (size,
//! page, from <= to, interval) are repeated here for a fast error; the gRPC
//! side stays the authority.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use loglens_core::level::ACCEPTED_LEVELS;
use loglens_core::query::{DEFAULT_SIZE, MAX_SIZE, MIN_HISTOGRAM_INTERVAL_MS};
use loglens_core::{Error, Level, Result, StatusCode};
use loglens_proto::query::SortOrder;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use utoipa::IntoParams;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

use crate::error::ApiError;

/// Declares a query struct whose exact-match filters, the same on every
/// route (`trace_id` through `tenant`), are written once here and go where
/// the struct says `..filters`. Field order is the order `parse` reads and
/// `/openapi.json` lists the parameters in.
macro_rules! with_filters {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$head_meta:meta])* pub $head:ident: $head_ty:ty,)*
            ..filters,
            $($(#[$tail_meta:meta])* pub $tail:ident: $tail_ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$head_meta])* pub $head: $head_ty,)*
            /// Exact trace id.
            pub trace_id: Option<String>,
            /// Exact request id.
            pub request_id: Option<String>,
            /// Exact host.
            #[param(example = "web-3")]
            pub host: Option<String>,
            /// Exact user id.
            pub user_id: Option<String>,
            /// Exact error code.
            #[param(example = "E_TIMEOUT")]
            pub error_code: Option<String>,
            /// Only records carrying this tag (one of their `tags`, exact).
            pub tag: Option<String>,
            /// Only records an anomaly rule of this id fired on (one of their
            /// `anomaly_reasons`, e.g. `slow_response`).
            pub anomaly_reason: Option<String>,
            /// Attribute filters, written `attr.<key>=<value>` (e.g.
            /// `attr.k8s.namespace=prod`): exact match on the value as text,
            /// repeatable, all must hold.
            #[param(rename = "attr.<key>", value_type = Option<String>, example = "prod")]
            pub attr: Option<AttrFilters>,
            /// Only this tenant's records. Keys without the `admin` scope always see
            /// only their own tenant (naming another is refused with 403); an admin
            /// key sees every tenant when this is absent.
            #[param(example = "payments")]
            pub tenant: Option<String>,
            $($(#[$tail_meta])* pub $tail: $tail_ty,)*
        }
    };
}

with_filters! {
    /// Query parameters of `GET /logs`.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct LogsQuery {
        /// Exact service name.
        #[param(example = "auth-service")]
        pub service_name: Option<String>,
        /// Level; case-insensitive, WARNING is WARN.
        #[param(inline)]
        pub level: Option<LevelParam>,
        /// HTTP status code.
        #[param(inline)]
        pub status_code: Option<StatusParam>,
        /// Only anomalies (`true`) or only normal records (`false`).
        pub anomaly: Option<bool>,
        /// Inclusive lower bound, ms since the epoch.
        #[param(value_type = Option<i64>, example = 1714564800000_i64)]
        pub from_timestamp: Option<EpochMs>,
        /// Inclusive upper bound, ms since the epoch; must be >= `from_timestamp`.
        #[param(value_type = Option<i64>)]
        pub to_timestamp: Option<EpochMs>,
        /// Full text on `message`: every word must occur (case-insensitive).
        #[param(example = "connection refused")]
        pub q: Option<String>,
        ..filters,
        /// 1-based page; ignored when `cursor` is set.
        #[param(inline)]
        pub page: Option<Page>,
        /// Records per page.
        #[param(inline)]
        pub size: Option<Size>,
        /// `next_cursor` of a previous reply with the same filters and sort.
        pub cursor: Option<String>,
        /// Order of the records; `newest` when absent.
        #[param(inline)]
        pub sort: Option<SortParam>,
    }
}

with_filters! {
    /// Query parameters of `GET /logs/anomalies`: those of `/logs` but `sort`
    /// (anomalies come highest severity first), and `anomaly` may only be `true`.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct AnomaliesQuery {
        /// Exact service name.
        pub service_name: Option<String>,
        /// Level; case-insensitive, WARNING is WARN.
        #[param(inline)]
        pub level: Option<LevelParam>,
        /// HTTP status code.
        #[param(inline)]
        pub status_code: Option<StatusParam>,
        /// Only `true` is accepted (this route lists anomalies only).
        #[param(value_type = Option<bool>)]
        pub anomaly: Option<AnomalyOnly>,
        /// Inclusive lower bound, ms since the epoch.
        #[param(value_type = Option<i64>)]
        pub from_timestamp: Option<EpochMs>,
        /// Inclusive upper bound, ms since the epoch; must be >= `from_timestamp`.
        #[param(value_type = Option<i64>)]
        pub to_timestamp: Option<EpochMs>,
        /// Full text on `message`: every word must occur (case-insensitive).
        pub q: Option<String>,
        ..filters,
        /// 1-based page; ignored when `cursor` is set.
        #[param(inline)]
        pub page: Option<Page>,
        /// Records per page.
        #[param(inline)]
        pub size: Option<Size>,
        /// `next_cursor` of a previous reply with the same filters.
        pub cursor: Option<String>,
    }
}

with_filters! {
    /// Query parameters of `GET /stats` and `GET /logs/stats`: the filters of
    /// `GET /logs` (counted are the records a search with them would find),
    /// then the histogram and percentile switches.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct StatsQuery {
        /// Exact service name.
        #[param(example = "auth-service")]
        pub service_name: Option<String>,
        /// Level; case-insensitive, WARNING is WARN.
        #[param(inline)]
        pub level: Option<LevelParam>,
        /// HTTP status code.
        #[param(inline)]
        pub status_code: Option<StatusParam>,
        /// Only anomalies (`true`) or only normal records (`false`).
        pub anomaly: Option<bool>,
        /// Inclusive lower bound, ms since the epoch.
        #[param(value_type = Option<i64>)]
        pub from_timestamp: Option<EpochMs>,
        /// Inclusive upper bound, ms since the epoch; must be >= `from_timestamp`.
        #[param(value_type = Option<i64>)]
        pub to_timestamp: Option<EpochMs>,
        /// Full text on `message`: every word must occur (case-insensitive).
        #[param(example = "connection refused")]
        pub q: Option<String>,
        ..filters,
        /// Histogram bucket width, at least 1s: whole milliseconds (`60000`) or a
        /// number with a unit `ms`, `s`, `m`, `h`, `d` (`30s`, `5m`, `1h`, `1d`).
        /// Adds `histogram` to the reply.
        #[param(value_type = Option<String>, pattern = r"^[0-9]+(ms|s|m|h|d)?$", example = "5m")]
        pub interval: Option<Interval>,
        /// Add `response_time_percentiles` (p50/p95/p99 per service).
        #[param(default = false)]
        pub percentiles: Option<bool>,
    }
}

with_filters! {
    /// Query parameters of `GET /logs/tail`: the filters of `/logs`, without
    /// time bounds, paging or sort (a live stream has none), plus where to resume.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    pub struct TailQuery {
        /// Exact service name.
        #[param(example = "auth-service")]
        pub service_name: Option<String>,
        /// Level; case-insensitive, WARNING is WARN.
        #[param(inline)]
        pub level: Option<LevelParam>,
        /// HTTP status code.
        #[param(inline)]
        pub status_code: Option<StatusParam>,
        /// Only anomalies (`true`) or only normal records (`false`).
        pub anomaly: Option<bool>,
        /// Full text on `message`: every word must occur (case-insensitive).
        pub q: Option<String>,
        ..filters,
        /// Resume right after this event id, for clients that cannot send the
        /// `Last-Event-ID` header (which wins when both are given).
        pub last_event_id: Option<String>,
    }
}

/// `GET /ledger` takes no parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// Extracts `T` from the query string (see [`parse`]); a refused query is a
/// 400 naming the parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Params<T>, ApiError> {
        Ok(Params(parse(parts.uri.query())?))
    }
}

/// Reads the query string `raw` (without `?`) into the struct `T`: names
/// are checked in query order (unknown or repeated ones refused), then
/// non-empty trimmed values are deserialized in `T`'s field order.
pub fn parse<T: DeserializeOwned>(raw: Option<&str>) -> Result<T> {
    let pairs = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(name, value)| (name.into_owned(), value.trim().to_owned()))
        .collect();
    T::deserialize(QueryDeserializer { pairs }).map_err(|e| Error::invalid(e.field, e.message))
}

/// `level`: a [`Level`] in any case, `WARNING` for `WARN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LevelParam(pub Level);

impl TryFrom<String> for LevelParam {
    type Error = String;
    fn try_from(v: String) -> Result<LevelParam, String> {
        Level::parse(&v, "level")
            .map(LevelParam)
            .map_err(|_| format!("must be one of {ACCEPTED_LEVELS} (case-insensitive), got {v:?}"))
    }
}

impl utoipa::PartialSchema for LevelParam {
    fn schema() -> RefOr<Schema> {
        let mut names = Vec::new();
        for l in Level::ALL {
            names.push(l.as_str());
            if l == Level::Warn {
                names.push("WARNING");
            }
        }
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("Accepted `level` values (case-insensitive; WARNING is WARN)."))
            .enum_values(Some(names))
            .into()
    }
}

impl utoipa::ToSchema for LevelParam {}

/// `status_code`: an HTTP status, checked by [`StatusCode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct StatusParam(pub StatusCode);

impl TryFrom<String> for StatusParam {
    type Error = String;
    fn try_from(v: String) -> Result<StatusParam, String> {
        let (min, max) = (StatusCode::MIN, StatusCode::MAX);
        let n: i128 = v
            .parse()
            .map_err(|_| format!("must be an integer between {min} and {max}, got {v:?}"))?;
        i64::try_from(n)
            .ok()
            .and_then(|n| StatusCode::new(n).ok())
            .map(StatusParam)
            .ok_or_else(|| format!("must be between {min} and {max}, got {n}"))
    }
}

impl utoipa::PartialSchema for StatusParam {
    fn schema() -> RefOr<Schema> {
        integer(i64::from(StatusCode::MIN), i64::from(StatusCode::MAX), None)
    }
}

impl utoipa::ToSchema for StatusParam {}

/// `size`: records per page, 1 to [`MAX_SIZE`]; [`DEFAULT_SIZE`] when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Size(pub u32);

impl Default for Size {
    fn default() -> Size {
        Size(DEFAULT_SIZE)
    }
}

impl TryFrom<String> for Size {
    type Error = String;
    fn try_from(v: String) -> Result<Size, String> {
        let n: i128 = v
            .parse()
            .map_err(|_| format!("must be an integer between 1 and {MAX_SIZE}, got {v:?}"))?;
        match u32::try_from(n) {
            Ok(s) if (1..=MAX_SIZE).contains(&s) => Ok(Size(s)),
            _ => Err(format!("must be between 1 and {MAX_SIZE}, got {n}")),
        }
    }
}

impl utoipa::PartialSchema for Size {
    fn schema() -> RefOr<Schema> {
        integer(1, i64::from(MAX_SIZE), Some(DEFAULT_SIZE))
    }
}

impl utoipa::ToSchema for Size {}

/// `page`: 1-based page number; 1 when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Page(pub u32);

impl Default for Page {
    fn default() -> Page {
        Page(1)
    }
}

impl TryFrom<String> for Page {
    type Error = String;
    fn try_from(v: String) -> Result<Page, String> {
        let n: i128 = v.parse().map_err(|_| format!("must be an integer >= 1, got {v:?}"))?;
        match u32::try_from(n) {
            Ok(p) if p >= 1 => Ok(Page(p)),
            _ => Err(format!("must be an integer between 1 and {}, got {n}", u32::MAX)),
        }
    }
}

impl utoipa::PartialSchema for Page {
    fn schema() -> RefOr<Schema> {
        integer(1, i64::from(u32::MAX), Some(1))
    }
}

impl utoipa::ToSchema for Page {}

/// `from_timestamp` / `to_timestamp`: ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EpochMs(pub i64);

impl TryFrom<String> for EpochMs {
    type Error = String;
    fn try_from(v: String) -> Result<EpochMs, String> {
        v.parse().map(EpochMs).map_err(|_| {
            format!("must be an integer number of milliseconds since the epoch, got {v:?}")
        })
    }
}

/// `anomaly` on `/logs/anomalies`: only `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AnomalyOnly;

impl TryFrom<String> for AnomalyOnly {
    type Error = String;
    fn try_from(v: String) -> Result<AnomalyOnly, String> {
        match parse_bool(&v)? {
            true => Ok(AnomalyOnly),
            false => Err("must be true on /logs/anomalies (it lists anomalous records only), \
                 got \"false\""
                .to_owned()),
        }
    }
}

/// Accepted `sort` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String")]
#[schema(rename_all = "lowercase")]
pub enum SortParam {
    /// Newest first (default).
    Newest,
    /// Oldest first.
    Oldest,
    /// Highest severity first, then newest.
    Severity,
}

/// Case-insensitive.
impl TryFrom<String> for SortParam {
    type Error = String;
    fn try_from(v: String) -> Result<SortParam, String> {
        match v.to_ascii_lowercase().as_str() {
            "newest" => Ok(SortParam::Newest),
            "oldest" => Ok(SortParam::Oldest),
            "severity" => Ok(SortParam::Severity),
            _ => Err(format!("must be one of newest, oldest, severity, got {v:?}")),
        }
    }
}

impl From<SortParam> for SortOrder {
    fn from(s: SortParam) -> SortOrder {
        match s {
            SortParam::Newest => SortOrder::NewestFirst,
            SortParam::Oldest => SortOrder::OldestFirst,
            SortParam::Severity => SortOrder::Severity,
        }
    }
}

/// `interval`: histogram bucket width in ms, at least
/// [`MIN_HISTOGRAM_INTERVAL_MS`]. Whole milliseconds (`60000`) or a number
/// with a unit `ms`, `s`, `m`, `h` or `d` (`30s`, `5m`, `1h`, `1d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Interval(pub i64);

impl TryFrom<String> for Interval {
    type Error = String;
    fn try_from(v: String) -> Result<Interval, String> {
        let bad = || {
            format!(
                "must be a whole number of milliseconds or a duration like 30s, 5m, 1h, 1d, got {v:?}"
            )
        };
        let lower = v.to_ascii_lowercase();
        let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
        let (digits, unit) = lower.split_at(split);
        let unit_ms: i64 = match unit {
            "" | "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let n: i64 = digits.parse().map_err(|_| bad())?;
        let ms = n.checked_mul(unit_ms).ok_or_else(bad)?;
        if ms < MIN_HISTOGRAM_INTERVAL_MS {
            return Err(format!(
                "must be at least {}s ({MIN_HISTOGRAM_INTERVAL_MS} ms), got {ms} ms",
                MIN_HISTOGRAM_INTERVAL_MS / 1000
            ));
        }
        Ok(Interval(ms))
    }
}

/// An integer parameter schema with inclusive bounds and a default.
fn integer(min: i64, max: i64, default: Option<u32>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(min))
        .maximum(Some(max))
        .default(default.map(Into::into))
        .into()
}

fn parse_bool(v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("must be true or false, got {v:?}"))
    }
}

/// Why a query string was refused. A value's error is the message after the
/// parameter's name (`must be ...`); the deserializer adds the name.
#[derive(Debug)]
struct QueryError {
    field: String,
    message: String,
}

impl de::Error for QueryError {
    fn custom<M: fmt::Display>(message: M) -> QueryError {
        QueryError { field: String::new(), message: message.to_string() }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryError {}

/// The field of a query struct that takes every `attr.<key>=<value>`.
const ATTR: &str = "attr";

/// Moves every `attr.<key>=<value>` pair into one `attr` pair holding them
/// all as JSON (read back by [`AttrFilters`]); a pair with an empty value
/// filters nothing and is dropped, like every empty parameter.
fn gather_attr_filters(pairs: Vec<(String, String)>) -> Result<Vec<(String, String)>, QueryError> {
    let mut rest = Vec::with_capacity(pairs.len());
    let mut filters: Vec<(String, String)> = Vec::new();
    for (name, value) in pairs {
        if name == ATTR {
            return Err(QueryError {
                field: name,
                message: "attribute filters are written attr.<key>=<value>".into(),
            });
        }
        match name.strip_prefix("attr.") {
            Some("") => {
                return Err(QueryError {
                    field: name,
                    message: "attribute filters are written attr.<key>=<value>; the key is empty"
                        .into(),
                });
            }
            Some(key) if !value.is_empty() => filters.push((key.to_owned(), value)),
            Some(_) => {}
            None => rest.push((name, value)),
        }
    }
    if !filters.is_empty() {
        let json = serde_json::to_string(&filters).unwrap_or_default();
        rest.push((ATTR.to_owned(), json));
    }
    Ok(rest)
}

/// Every `attr.<key>=<value>` of a query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AttrFilters(pub Vec<(String, String)>);

impl TryFrom<String> for AttrFilters {
    type Error = String;
    fn try_from(v: String) -> Result<AttrFilters, String> {
        serde_json::from_str(&v)
            .map(AttrFilters)
            .map_err(|_| "attribute filters are written attr.<key>=<value>".to_owned())
    }
}

/// A query string as decoded `(name, value)` pairs, read as a struct.
struct QueryDeserializer {
    pairs: Vec<(String, String)>,
}

impl<'de> de::Deserializer<'de> for QueryDeserializer {
    type Error = QueryError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, QueryError> {
        Err(de::Error::custom("query parameters are read into a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, QueryError> {
        if fields.contains(&ATTR) {
            self.pairs = gather_attr_filters(self.pairs)?;
        }
        let mut seen: Vec<&str> = Vec::new();
        for (name, _) in &self.pairs {
            let problem = if !fields.contains(&name.as_str()) {
                {
                    let accepted: Vec<&str> =
                        fields.iter().map(|f| if *f == ATTR { "attr.<key>" } else { f }).collect();
                    format!("unknown parameter {name:?}; accepted: {}", accepted.join(", "))
                }
            } else if seen.contains(&name.as_str()) {
                format!("parameter {name:?} must be given at most once")
            } else {
                seen.push(name);
                continue;
            };
            return Err(QueryError { field: name.clone(), message: problem });
        }
        let mut pairs: Vec<(String, String)> =
            self.pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        // Errors in field order, whatever the order of the query string.
        pairs.sort_by_key(|(name, _)| fields.iter().position(|f| f == name));
        visitor.visit_map(Pairs { pairs: pairs.into_iter(), value: None })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The pairs as a map; a value's error gets its parameter's name.
struct Pairs {
    pairs: std::vec::IntoIter<(String, String)>,
    value: Option<(String, String)>,
}

impl<'de> MapAccess<'de> for Pairs {
    type Error = QueryError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, QueryError> {
        let Some((name, value)) = self.pairs.next() else { return Ok(None) };
        let key = seed.deserialize(name.as_str().into_deserializer())?;
        self.value = Some((name, value));
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, QueryError> {
        let (name, value) =
            self.value.take().ok_or_else(|| de::Error::custom("value read before its name"))?;
        seed.deserialize(Value(value))
            .map_err(|e| QueryError { message: format!("{name} {}", e.message), field: name })
    }
}

/// One parameter value: a string, `Some` for an `Option`, and `true` or
/// `false` (any case) for a `bool`.
struct Value(String);

impl<'de> de::Deserializer<'de> for Value {
    type Error = QueryError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_string(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_some(self)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_bool(parse_bool(&self.0).map_err(de::Error::custom)?)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, QueryError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use loglens_proto::query::{GetAnomaliesRequest, LogFilter, SearchRequest};
    use loglens_proto::stats::GetStatsRequest;

    use super::*;

    fn search_request(raw: Option<&str>) -> Result<SearchRequest> {
        parse::<LogsQuery>(raw).and_then(SearchRequest::try_from)
    }

    fn anomalies_request(raw: Option<&str>) -> Result<GetAnomaliesRequest> {
        parse::<AnomaliesQuery>(raw).and_then(GetAnomaliesRequest::try_from)
    }

    fn stats_request(raw: Option<&str>) -> Result<GetStatsRequest> {
        parse::<StatsQuery>(raw).and_then(GetStatsRequest::try_from)
    }

    fn err(r: Result<impl fmt::Debug>) -> (String, String) {
        let e = r.unwrap_err();
        (e.field().unwrap_or_default().to_owned(), e.to_string())
    }

    #[test]
    fn search_defaults_are_newest_first_page_1_size_20() {
        for raw in [None, Some(""), Some("size=&page=")] {
            let r = search_request(raw).unwrap();
            assert_eq!(r.sort, SortOrder::NewestFirst as i32);
            assert_eq!((r.page, r.size, r.cursor.as_str()), (1, 20, ""));
            assert_eq!(r.filter, Some(LogFilter::default()));
        }
    }

    #[test]
    fn search_maps_every_parameter() {
        let r = search_request(Some(
            "service_name=auth-service&level=warning&status_code=503&anomaly=TRUE&from_timestamp=100\
             &to_timestamp=200&q=connection+refused&trace_id=t1&request_id=r%201&page=3&size=1000\
             &cursor=abc&sort=severity&host=web-3&user_id=u%2042&error_code=E_PAY&tag=canary\
             &anomaly_reason=slow_response",
        ))
        .unwrap();
        let f = r.filter.unwrap();
        assert_eq!(f.service_name.as_deref(), Some("auth-service"));
        assert_eq!(f.level.as_deref(), Some("WARN"), "level is sent canonical");
        assert_eq!(f.status_code, Some(503));
        assert_eq!(f.anomaly, Some(true));
        assert_eq!((f.from_timestamp, f.to_timestamp), (Some(100), Some(200)));
        assert_eq!(f.query.as_deref(), Some("connection refused"));
        assert_eq!(f.trace_id.as_deref(), Some("t1"));
        assert_eq!(f.request_id.as_deref(), Some("r 1"));
        assert_eq!(
            [
                f.host.as_deref(),
                f.user_id.as_deref(),
                f.error_code.as_deref(),
                f.tag.as_deref(),
                f.anomaly_reason.as_deref()
            ],
            [Some("web-3"), Some("u 42"), Some("E_PAY"), Some("canary"), Some("slow_response")]
        );
        assert_eq!((r.page, r.size, r.cursor.as_str()), (3, 1000, "abc"));
        assert_eq!(r.sort, SortOrder::Severity as i32);
        assert_eq!(
            search_request(Some("sort=oldest")).unwrap().sort,
            SortOrder::OldestFirst as i32
        );
    }

    #[test]
    fn bad_values_name_the_parameter_and_what_is_accepted() {
        let cases: &[(&str, &str, &str)] = &[
            ("size=5000", "size", "size must be between 1 and 1000, got 5000"),
            ("size=0", "size", "size must be between 1 and 1000, got 0"),
            ("size=-3", "size", "size must be between 1 and 1000, got -3"),
            ("size=ten", "size", "size must be an integer between 1 and 1000, got \"ten\""),
            ("page=abc", "page", "page must be an integer >= 1, got \"abc\""),
            ("page=1.5", "page", "page must be an integer >= 1, got \"1.5\""),
            ("page=0", "page", "page must be an integer between 1 and 4294967295, got 0"),
            ("anomaly=yes", "anomaly", "anomaly must be true or false, got \"yes\""),
            ("status_code=99", "status_code", "status_code must be between 100 and 599, got 99"),
            (
                "status_code=x",
                "status_code",
                "status_code must be an integer between 100 and 599, got \"x\"",
            ),
            (
                "from_timestamp=yesterday",
                "from_timestamp",
                "from_timestamp must be an integer number of milliseconds since the epoch, got \"yesterday\"",
            ),
            (
                "from_timestamp=5&to_timestamp=3",
                "from_timestamp",
                "from_timestamp must be <= to_timestamp, got 5 > 3",
            ),
            ("sort=random", "sort", "sort must be one of newest, oldest, severity, got \"random\""),
            ("size=1&size=2", "size", "parameter \"size\" must be given at most once"),
        ];
        for (raw, field, message) in cases {
            assert_eq!(
                err(search_request(Some(raw))),
                (field.to_string(), message.to_string()),
                "{raw}"
            );
        }
        let (field, message) = err(search_request(Some("level=fatal")));
        assert_eq!(field, "level");
        assert!(
            message.contains("DEBUG, INFO, WARN (or WARNING), ERROR")
                && message.contains("\"fatal\"")
        );
    }

    #[test]
    fn unknown_parameters_list_the_accepted_ones() {
        let (field, message) = err(search_request(Some("sevice_name=a")));
        assert_eq!(field, "sevice_name");
        assert_eq!(
            message,
            "unknown parameter \"sevice_name\"; accepted: service_name, level, status_code, anomaly, \
             from_timestamp, to_timestamp, q, trace_id, request_id, host, user_id, error_code, tag, anomaly_reason, \
             attr.<key>, tenant, page, size, cursor, sort"
        );
        assert_eq!(err(anomalies_request(Some("sort=newest"))).0, "sort");
        assert_eq!(err(stats_request(Some("size=1"))).0, "size");
        assert_eq!(
            err(parse::<NoQuery>(Some("partition=1"))),
            ("partition".to_owned(), "unknown parameter \"partition\"; accepted: ".to_owned())
        );
        assert_eq!(parse::<NoQuery>(Some("")).unwrap(), NoQuery {});
    }

    #[test]
    fn names_are_checked_before_values_in_query_order() {
        assert_eq!(err(search_request(Some("size=abc&sevice_name=a"))).0, "sevice_name");
        assert_eq!(err(search_request(Some("size=abc&size=5"))).0, "size");
        assert_eq!(
            err(search_request(Some("size=&size=5"))).1,
            "parameter \"size\" must be given at most once"
        );
        let r = search_request(Some("level=+error+&service_name=%20api")).unwrap();
        let f = r.filter.unwrap();
        assert_eq!((f.level.as_deref(), f.service_name.as_deref()), (Some("ERROR"), Some("api")));
    }

    #[test]
    fn documented_parameters_are_the_parsed_ones() {
        fn documented<P: IntoParams>() -> String {
            P::into_params(|| None).into_iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
        }
        fn parsed<T: DeserializeOwned + fmt::Debug>() -> String {
            let message = parse::<T>(Some("not_a_parameter=1")).unwrap_err().to_string();
            message.split_once("accepted: ").unwrap().1.to_owned()
        }
        assert_eq!(documented::<LogsQuery>(), parsed::<LogsQuery>());
        assert_eq!(documented::<AnomaliesQuery>(), parsed::<AnomaliesQuery>());
        assert_eq!(documented::<StatsQuery>(), parsed::<StatsQuery>());
    }

    #[test]
    fn anomalies_force_anomaly_true_and_reject_false() {
        let r = anomalies_request(Some("service_name=api&size=5&cursor=c")).unwrap();
        let f = r.filter.unwrap();
        assert_eq!((f.anomaly, f.service_name.as_deref()), (Some(true), Some("api")));
        assert_eq!((r.page, r.size, r.cursor.as_str()), (1, 5, "c"));
        assert!(anomalies_request(Some("anomaly=true")).is_ok());
        assert_eq!(err(anomalies_request(Some("anomaly=false"))).0, "anomaly");
    }

    #[test]
    fn stats_take_the_filters_of_logs() {
        let raw = "service_name=auth-service&level=warning&status_code=503&anomaly=TRUE\
                   &from_timestamp=100&to_timestamp=200&q=connection+refused&trace_id=t1\
                   &request_id=r%201&host=h&user_id=u&error_code=e&tag=t&anomaly_reason=a\
                   &attr.k8s.namespace=prod&attr.canary=true";
        let stats = stats_request(Some(raw)).unwrap();
        let search = search_request(Some(raw)).unwrap();
        assert_eq!(stats.filter, search.filter, "the same filter as GET /logs");
        let f = stats.filter.unwrap();
        assert_eq!(
            (f.level.as_deref(), f.query.as_deref()),
            (Some("WARN"), Some("connection refused"))
        );
        assert_eq!(
            f.attributes,
            [
                ("k8s.namespace".to_owned(), "prod".to_owned()),
                ("canary".to_owned(), "true".to_owned())
            ]
            .into()
        );
        for bad in [
            "level=fatal",
            "status_code=99",
            "status_code=x",
            "anomaly=yes",
            "from_timestamp=5&to_timestamp=3",
            "attr.=x",
            "attr=x",
        ] {
            assert_eq!(err(stats_request(Some(bad))), err(search_request(Some(bad))), "{bad}");
        }
        assert_eq!(
            err(stats_request(Some("sevice_name=a"))).1,
            "unknown parameter \"sevice_name\"; accepted: service_name, level, status_code, anomaly, \
             from_timestamp, to_timestamp, q, trace_id, request_id, host, user_id, error_code, tag, anomaly_reason, \
             attr.<key>, tenant, interval, percentiles"
        );
    }

    #[test]
    fn stats_intervals_and_flags() {
        let r = stats_request(None).unwrap();
        assert_eq!(
            r,
            GetStatsRequest { filter: Some(LogFilter::default()), ..GetStatsRequest::default() }
        );
        for (v, ms) in [
            ("60000", 60_000),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("1D", 86_400_000),
            ("1500ms", 1500),
        ] {
            assert_eq!(
                stats_request(Some(&format!("interval={v}"))).unwrap().histogram_interval_ms,
                ms,
                "{v}"
            );
        }
        let r = stats_request(Some(
            "percentiles=true&service_name=api&from_timestamp=1&to_timestamp=2",
        ))
        .unwrap();
        assert!(r.include_percentiles);
        let f = r.filter.unwrap();
        assert_eq!(
            (f.service_name.as_deref(), f.from_timestamp, f.to_timestamp),
            (Some("api"), Some(1), Some(2))
        );
        assert_eq!((r.service_name, r.from_timestamp, r.to_timestamp), (None, None, None));
        for bad in ["5x", "m", "-5s", "1.5h", "99999999999999999999d"] {
            let (field, message) = err(stats_request(Some(&format!("interval={bad}"))));
            assert_eq!(field, "interval");
            assert!(message.contains("like 30s, 5m, 1h, 1d"), "{bad}: {message}");
        }
        assert_eq!(
            err(stats_request(Some("interval=500"))).1,
            "interval must be at least 1s (1000 ms), got 500 ms"
        );
        assert_eq!(
            err(stats_request(Some("percentiles=1"))).1,
            "percentiles must be true or false, got \"1\""
        );
    }
}
