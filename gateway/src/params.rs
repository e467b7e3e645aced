//! Query-string parsing: raw query -> gRPC request, with an error that names
//! the parameter and says what is accepted.
//!
//! Parsed by hand rather than with axum's `Query` so that unknown or repeated
//! parameters and bad values get a precise message. Empty values (`?level=`)
//! count as absent; values are trimmed. Range checks the gRPC side also makes
//! (size, page, from <= to, interval) are repeated here for a fast error; the
//! gRPC side stays the authority.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use loglens_core::{Error, Level, Result};
use loglens_proto::query::{GetAnomaliesRequest, LogFilter, SearchRequest, SortOrder};
use loglens_proto::stats::{GetLedgerRequest, GetStatsRequest};

/// Parameters accepted by `GET /logs`.
pub const LOGS_PARAMS: &[&str] = &[
    "service_name",
    "level",
    "status_code",
    "anomaly",
    "from_timestamp",
    "to_timestamp",
    "q",
    "trace_id",
    "request_id",
    "page",
    "size",
    "cursor",
    "sort",
];

/// Parameters accepted by `GET /logs/anomalies`: those of `/logs` but `sort`
/// (anomalies come highest severity first), which is last in [`LOGS_PARAMS`].
pub const ANOMALIES_PARAMS: &[&str] = match LOGS_PARAMS.split_last() {
    Some((_sort, rest)) => rest,
    None => &[],
};

/// Parameters accepted by `GET /stats` and `GET /logs/stats`.
pub const STATS_PARAMS: &[&str] =
    &["from_timestamp", "to_timestamp", "service_name", "interval", "percentiles"];

/// Page size when `size` is absent.
pub const DEFAULT_SIZE: u32 = 20;
/// Largest accepted `size`.
pub const MAX_SIZE: u32 = 1000;
/// Smallest accepted histogram `interval`, in ms (the gRPC side's limit).
pub const MIN_INTERVAL_MS: i64 = 1000;

/// `GET /logs`: filters, sort and paging as a `Search` request.
pub fn search_request(raw: Option<&str>) -> Result<SearchRequest> {
    let mut p = Params::parse(raw, LOGS_PARAMS)?;
    let filter = filter(&mut p)?;
    let sort = p.take_with("sort", parse_sort)?.unwrap_or(SortOrder::NewestFirst);
    let (page, size, cursor) = paging(&mut p)?;
    Ok(SearchRequest { filter: Some(filter), sort: sort as i32, page, size, cursor })
}

/// `GET /logs/anomalies`: like [`search_request`] without `sort`; `anomaly`
/// may only be `true` and is always sent as `true`.
pub fn anomalies_request(raw: Option<&str>) -> Result<GetAnomaliesRequest> {
    let mut p = Params::parse(raw, ANOMALIES_PARAMS)?;
    let mut filter = filter(&mut p)?;
    if filter.anomaly == Some(false) {
        return Err(Error::invalid(
            "anomaly",
            "anomaly must be true on /logs/anomalies (it lists anomalous records only), got \"false\"",
        ));
    }
    filter.anomaly = Some(true);
    let (page, size, cursor) = paging(&mut p)?;
    Ok(GetAnomaliesRequest { filter: Some(filter), page, size, cursor })
}

/// `GET /stats`: time range, service, optional histogram and percentiles.
pub fn stats_request(raw: Option<&str>) -> Result<GetStatsRequest> {
    let mut p = Params::parse(raw, STATS_PARAMS)?;
    let (from_timestamp, to_timestamp) = time_range(&mut p)?;
    Ok(GetStatsRequest {
        from_timestamp,
        to_timestamp,
        service_name: p.take("service_name"),
        histogram_interval_ms: p.take_with("interval", parse_interval)?.unwrap_or(0),
        include_percentiles: p.take_with("percentiles", parse_bool)?.unwrap_or(false),
    })
}

/// `GET /ledger`: takes no parameters.
pub fn ledger_request(raw: Option<&str>) -> Result<GetLedgerRequest> {
    Params::parse(raw, &[])?;
    Ok(GetLedgerRequest {})
}

fn filter(p: &mut Params) -> Result<LogFilter> {
    let (from_timestamp, to_timestamp) = time_range(p)?;
    Ok(LogFilter {
        service_name: p.take("service_name"),
        level: p.take_with("level", |f, v| Level::parse(v, f).map(|l| l.as_str().to_owned()))?,
        status_code: p.take_with("status_code", |f, v| int_in_range(f, v, 100, 599))?,
        anomaly: p.take_with("anomaly", parse_bool)?,
        from_timestamp,
        to_timestamp,
        query: p.take("q"),
        trace_id: p.take("trace_id"),
        request_id: p.take("request_id"),
    })
}

fn paging(p: &mut Params) -> Result<(u32, u32, String)> {
    let page = p.take_with("page", parse_page)?.unwrap_or(1);
    let size = p.take_with("size", |f, v| int_in_range(f, v, 1, MAX_SIZE))?.unwrap_or(DEFAULT_SIZE);
    Ok((page, size, p.take("cursor").unwrap_or_default()))
}

fn time_range(p: &mut Params) -> Result<(Option<i64>, Option<i64>)> {
    let from = p.take_with("from_timestamp", parse_epoch_ms)?;
    let to = p.take_with("to_timestamp", parse_epoch_ms)?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Error::invalid(
            "from_timestamp",
            format!("from_timestamp must be <= to_timestamp, got {f} > {t}"),
        ));
    }
    Ok((from, to))
}

/// The query string as a map, checked for unknown and repeated names.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(raw: Option<&str>, accepted: &[&str]) -> Result<Params> {
        let mut map = HashMap::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !accepted.contains(&name.as_ref()) {
                return Err(Error::invalid(
                    name.as_ref(),
                    format!("unknown parameter {name:?}; accepted: {}", accepted.join(", ")),
                ));
            }
            if map.insert(name.to_string(), value.trim().to_owned()).is_some() {
                return Err(Error::invalid(
                    name.as_ref(),
                    format!("parameter {name:?} must be given at most once"),
                ));
            }
        }
        Ok(Params(map))
    }

    /// The trimmed value of `name`; empty counts as absent.
    fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).filter(|v| !v.is_empty())
    }

    /// The value of `name` parsed by `parse(name, value)`.
    fn take_with<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str, &str) -> Result<T>,
    ) -> Result<Option<T>> {
        self.take(name).map(|v| parse(name, &v)).transpose()
    }
}

fn int_in_range<T: FromStr + PartialOrd + Display + Copy>(
    field: &str,
    v: &str,
    min: T,
    max: T,
) -> Result<T> {
    match v.parse::<i128>() {
        Err(_) => Err(Error::invalid(
            field,
            format!("{field} must be an integer between {min} and {max}, got {v:?}"),
        )),
        Ok(n) => match v.parse::<T>() {
            Ok(t) if t >= min && t <= max => Ok(t),
            _ => Err(Error::invalid(
                field,
                format!("{field} must be between {min} and {max}, got {n}"),
            )),
        },
    }
}

fn parse_page(field: &str, v: &str) -> Result<u32> {
    match v.parse::<i128>() {
        Err(_) => Err(Error::invalid(field, format!("{field} must be an integer >= 1, got {v:?}"))),
        Ok(n) => match u32::try_from(n) {
            Ok(p) if p >= 1 => Ok(p),
            _ => Err(Error::invalid(
                field,
                format!("{field} must be an integer between 1 and {}, got {n}", u32::MAX),
            )),
        },
    }
}

fn parse_epoch_ms(field: &str, v: &str) -> Result<i64> {
    v.parse::<i64>().map_err(|_| {
        Error::invalid(
            field,
            format!("{field} must be an integer number of milliseconds since the epoch, got {v:?}"),
        )
    })
}

fn parse_bool(field: &str, v: &str) -> Result<bool> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(Error::invalid(field, format!("{field} must be true or false, got {v:?}")))
    }
}

fn parse_sort(field: &str, v: &str) -> Result<SortOrder> {
    match v.to_ascii_lowercase().as_str() {
        "newest" => Ok(SortOrder::NewestFirst),
        "oldest" => Ok(SortOrder::OldestFirst),
        "severity" => Ok(SortOrder::Severity),
        _ => Err(Error::invalid(
            field,
            format!("{field} must be one of newest, oldest, severity, got {v:?}"),
        )),
    }
}

/// Histogram bucket width: whole milliseconds (`60000`) or a number with a
/// unit `ms`, `s`, `m`, `h` or `d` (`30s`, `5m`, `1h`, `1d`).
fn parse_interval(field: &str, v: &str) -> Result<i64> {
    let bad = || {
        Error::invalid(
            field,
            format!(
                "{field} must be a whole number of milliseconds or a duration like 30s, 5m, 1h, 1d, got {v:?}"
            ),
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
    if ms < MIN_INTERVAL_MS {
        return Err(Error::invalid(
            field,
            format!("{field} must be at least 1s (1000 ms), got {ms} ms"),
        ));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl std::fmt::Debug>) -> (String, String) {
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
             &cursor=abc&sort=severity",
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
             from_timestamp, to_timestamp, q, trace_id, request_id, page, size, cursor, sort"
        );
        assert_eq!(err(anomalies_request(Some("sort=newest"))).0, "sort");
        assert_eq!(err(stats_request(Some("size=1"))).0, "size");
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
    fn stats_intervals_and_flags() {
        let r = stats_request(None).unwrap();
        assert_eq!(r, GetStatsRequest::default());
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
        assert_eq!(
            (r.service_name.as_deref(), r.from_timestamp, r.to_timestamp),
            (Some("api"), Some(1), Some(2))
        );
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
