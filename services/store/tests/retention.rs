//! Retention on the embedded backends, the Tantivy store and the hybrid:
//! whole UTC days past the window are removed from search and stats, their
//! disk space is freed, newer days are untouched, and neither a restart nor
//! a WAL replay brings them back. Each behaviour is a function over a
//! [`Kind`], run for both by `both!`; the Tantivy store's segment merge and
//! stats cache are checked on their own at the end.
//!
//! Records are stamped relative to the real clock (today and the days
//! before), because the pass a store runs at open reads the real clock.
//! `LOGLENS_RETENTION_RECORDS_PER_DAY` (default 2000) scales the data set,
//! to measure a pass on more records.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use loglens_core::record::normalize;
use loglens_core::{
    Filter, LogRecord, RawLog, RuleSet, SearchRequest, Sort, StatsRequest, TimestampInput,
};
use loglens_store::hybrid::{BLOCK_ROWS, HybridStore};
use loglens_store::tantivy::{RetentionReport, TantivyStore};
use loglens_store::{LogStore, Result, StoreOptions, TenantRetention};

const DAY: i64 = 86_400_000;

/// Which embedded store a test runs on.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Tantivy,
    Hybrid,
}

/// An open embedded store, with the calls beyond [`LogStore`] the tests
/// need; derefs to the store.
enum Store {
    Tantivy(TantivyStore),
    Hybrid(HybridStore),
}

impl Store {
    async fn try_open(kind: Kind, dir: &Path, options: StoreOptions) -> Result<Store> {
        Ok(match kind {
            Kind::Tantivy => Store::Tantivy(TantivyStore::open(dir, options).await?),
            Kind::Hybrid => Store::Hybrid(HybridStore::open(dir, options).await?),
        })
    }

    async fn open(kind: Kind, dir: &Path, options: StoreOptions) -> Store {
        Store::try_open(kind, dir, options).await.expect("open")
    }

    async fn apply_retention(&self, now_ms: i64) -> Result<Option<RetentionReport>> {
        match self {
            Store::Tantivy(s) => s.apply_retention(now_ms).await,
            Store::Hybrid(s) => s.apply_retention(now_ms).await,
        }
    }

    async fn abort(&self) -> Result<()> {
        match self {
            Store::Tantivy(s) => s.abort().await,
            Store::Hybrid(s) => s.abort().await,
        }
    }
}

impl std::ops::Deref for Store {
    type Target = dyn LogStore;

    fn deref(&self) -> &(dyn LogStore + 'static) {
        match self {
            Store::Tantivy(s) => s,
            Store::Hybrid(s) => s,
        }
    }
}

/// Runs each listed behaviour on both stores, as `tantivy_<name>` and
/// `hybrid_<name>`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod tantivy {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Kind::Tantivy).await;
                }
            )*
        }
        mod hybrid {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Kind::Hybrid).await;
                }
            )*
        }
    };
}

both!(
    retention_removes_whole_expired_days_and_frees_their_space,
    a_replayed_record_of_an_expired_day_is_deleted_again,
    zero_retention_days_is_a_config_error,
    a_short_tenant_override_removes_a_day_the_global_window_keeps,
    a_long_tenant_override_keeps_a_day_the_global_window_removes,
    overrides_set_after_open_apply_at_the_next_pass,
);

fn per_day() -> usize {
    std::env::var("LOGLENS_RETENTION_RECORDS_PER_DAY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Midnight (UTC) starting today.
fn today() -> i64 {
    let now =
        SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64;
    now.div_euclid(DAY) * DAY
}

/// Test-sized options with retention; nothing committed in the background
/// for an hour, so each `refresh` makes exactly one segment.
fn options(retention_days: Option<u32>) -> StoreOptions {
    StoreOptions {
        refresh_interval_ms: 3_600_000,
        min_refresh_interval_ms: 0,
        indexing_threads: 1,
        indexing_memory_bytes: 32 << 20,
        retention_days,
        ..StoreOptions::default()
    }
}

/// `n` records spread evenly over the UTC day starting at `day`, from a
/// few services and levels, with `tag` in every message.
fn day_of_records(day: i64, n: usize, tag: &str) -> Vec<LogRecord> {
    let services = ["api-gateway", "auth-service", "payment-service"];
    let levels = ["INFO", "INFO", "WARN", "ERROR"];
    (0..n)
        .map(|i| {
            let raw = RawLog {
                timestamp: Some(TimestampInput::Int(day + (i as i64) * (DAY / n as i64))),
                service_name: Some(services[i % services.len()].into()),
                level: Some(levels[i % levels.len()].into()),
                message: Some(format!(
                    "{tag} request {i} served for user-{} from host-{}",
                    i % 97,
                    i % 7
                )),
                status_code: Some(if i % 10 == 0 { 503 } else { 200 }),
                request_id: Some(format!("{tag}-req-{i}")),
                response_time_ms: Some((i % 500) as f64 + 0.5),
                ..RawLog::default()
            };
            normalize(raw, day, &RuleSet::default()).expect("test record is valid")
        })
        .collect()
}

async fn total(store: &dyn LogStore, from: Option<i64>, to: Option<i64>) -> u64 {
    let filter = Filter { from_timestamp: from, to_timestamp: to, ..Filter::default() };
    let req =
        SearchRequest::new(filter, Sort::NewestFirst, None, Some(1), None).expect("valid request");
    store.search(&req).await.expect("search").total
}

/// Records in the UTC day starting at `day`.
async fn day_total(store: &dyn LogStore, day: i64) -> u64 {
    total(store, Some(day), Some(day + DAY - 1)).await
}

async fn stats_total(store: &dyn LogStore, from: Option<i64>, to: Option<i64>) -> u64 {
    let filter = Filter { from_timestamp: from, to_timestamp: to, ..Filter::default() };
    let req = StatsRequest { filter, ..StatsRequest::default() };
    store.stats(&req).await.expect("stats").total_logs
}

/// Bytes of every file under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("readable directory")
        .map(|e| {
            let e = e.expect("directory entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() { disk_bytes(&e.path()) } else { meta.len() }
        })
        .sum()
}

async fn retention_removes_whole_expired_days_and_frees_their_space(kind: Kind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    // On the hybrid a day fills whole blocks, which the pass drops.
    let (n, data_dir) = match kind {
        Kind::Tantivy => (per_day(), tmp.path().join("index")),
        Kind::Hybrid => (per_day().div_ceil(BLOCK_ROWS) * BLOCK_ROWS, tmp.path().join("blocks")),
    };
    let today = today();
    let days: Vec<i64> = (0..5).rev().map(|back| today - back * DAY).collect();
    let store = Store::open(kind, tmp.path(), options(Some(2))).await;
    // One commit per day, as a day's records arrive over that day.
    for (i, day) in days.iter().enumerate() {
        store.index(day_of_records(*day, n, &format!("day{i}"))).await.expect("index");
        store.refresh().await.expect("refresh");
    }
    let all = 5 * n as u64;
    assert_eq!(total(&*store, None, None).await, all);
    assert_eq!(stats_total(&*store, None, None).await, all);
    let before = disk_bytes(&data_dir);

    // Noon today with 2 days: today, yesterday and the day before stay
    // (the day before ended 36 h ago); the two oldest days go.
    let now = today + DAY / 2;
    let started = Instant::now();
    let report =
        store.apply_retention(now).await.expect("retention").expect("retention is configured");
    let took = started.elapsed();
    assert_eq!(report.cutoff_ms, Some(days[2]));
    assert!(report.tenant_cutoffs.is_empty());
    assert_eq!(report.removed, 2 * n as u64);
    let after = disk_bytes(&data_dir);
    let removed = report.removed;
    eprintln!(
        "retention pass over {all} records in 5 one-day segments: removed {removed} in {took:?}"
    );
    eprintln!("{} {before} -> {after} bytes", data_dir.display());

    for (i, day) in days.iter().enumerate() {
        let want = if i < 2 { 0 } else { n as u64 };
        assert_eq!(day_total(&*store, *day).await, want, "records of day {i}");
        assert_eq!(
            stats_total(&*store, Some(*day), Some(day + DAY - 1)).await,
            want,
            "stats of day {i}"
        );
    }
    let kept = 3 * n as u64;
    assert_eq!(total(&*store, None, None).await, kept);
    assert_eq!(stats_total(&*store, None, None).await, kept);
    // A word only the expired days' messages hold matches nothing now.
    let old_words = Filter { query: Some("day0".into()), ..Filter::default() };
    let req = SearchRequest::new(old_words, Sort::NewestFirst, None, Some(10), None)
        .expect("valid request");
    assert_eq!(store.search(&req).await.expect("search").total, 0);
    // The two days had segments (blocks) of their own: those are gone from
    // disk.
    assert!(after * 10 < before * 7, "data should shrink to about 3/5: {before} -> {after} bytes");

    // A second pass at the same clock has nothing to do.
    let again = store.apply_retention(now).await.expect("retention").expect("configured");
    assert_eq!(again.removed, 0);

    // A late record for an expired day is accepted and searchable until the
    // next pass removes it.
    let late = day_of_records(days[0], 1, "late");
    store.index(late).await.expect("index late record");
    store.refresh().await.expect("refresh");
    assert_eq!(day_total(&*store, days[0]).await, 1);
    let late_pass = store.apply_retention(now).await.expect("retention").expect("configured");
    assert_eq!(late_pass.removed, 1);
    assert_eq!(day_total(&*store, days[0]).await, 0);

    // The deletes are committed: a restart (here without retention, so no
    // pass runs at open) does not bring the days back.
    store.close().await.expect("close");
    let reopened = Store::open(kind, tmp.path(), options(None)).await;
    assert_eq!(total(&*reopened, None, None).await, kept);
    assert_eq!(day_total(&*reopened, days[0]).await, 0);
    assert_eq!(day_total(&*reopened, days[1]).await, 0);
    assert_eq!(day_total(&*reopened, days[4]).await, n as u64);
    assert!(reopened.apply_retention(now).await.expect("no retention").is_none());
    reopened.close().await.expect("close");
}

#[tokio::test]
async fn a_segment_mixing_days_is_rewritten_without_the_expired_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let n = per_day();
    let today = today();
    let store = TantivyStore::open(tmp.path(), options(Some(1))).await.expect("open");
    // Five days in one batch: one segment holding all of them.
    let records: Vec<LogRecord> = (0..5)
        .flat_map(|back| day_of_records(today - back * DAY, n, &format!("back{back}")))
        .collect();
    store.index(records).await.expect("index");
    store.refresh().await.expect("refresh");
    let index_dir = tmp.path().join("index");
    let before = disk_bytes(&index_dir);

    // One day at noon: today and yesterday stay, three days (60%) go.
    let started = Instant::now();
    let report =
        store.apply_retention(today + DAY / 2).await.expect("retention").expect("configured");
    let took = started.elapsed();
    assert_eq!(report.removed, 3 * n as u64);
    assert_eq!(report.merged_segments, 1, "the mostly deleted segment is rewritten");
    let after = disk_bytes(&index_dir);
    let removed = report.removed;
    eprintln!(
        "one mixed segment of {} records: removed {removed} in {took:?} (with the merge)",
        5 * n
    );
    eprintln!("index {before} -> {after} bytes");
    assert_eq!(total(&store, None, None).await, 2 * n as u64);
    assert_eq!(day_total(&store, today - DAY).await, n as u64);
    assert_eq!(day_total(&store, today - 2 * DAY).await, 0);
    assert!(after * 10 < before * 7, "index should shrink to about 2/5: {before} -> {after} bytes");
    store.close().await.expect("close");
}

async fn a_replayed_record_of_an_expired_day_is_deleted_again(kind: Kind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let today = today();
    let store = Store::open(kind, tmp.path(), options(Some(2))).await;
    // Acknowledged (in the WAL) but never committed to the index: a crash
    // leaves them to the replay at the next open.
    store.index(day_of_records(today - 10 * DAY, 50, "old")).await.expect("index");
    store.index(day_of_records(today, 50, "new")).await.expect("index");
    store.abort().await.expect("crash");

    // The open replays both days and its retention pass (real clock)
    // deletes the expired one again.
    let reopened = Store::open(kind, tmp.path(), options(Some(2))).await;
    assert_eq!(day_total(&*reopened, today - 10 * DAY).await, 0);
    assert_eq!(day_total(&*reopened, today).await, 50);
    reopened.close().await.expect("close");

    // Nothing left to replay: without retention the old day stays gone.
    let third = Store::open(kind, tmp.path(), options(None)).await;
    assert_eq!(total(&*third, None, None).await, 50);
    third.close().await.expect("close");
}

async fn zero_retention_days_is_a_config_error(kind: Kind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Err(err) = Store::try_open(kind, tmp.path(), options(Some(0))).await else {
        panic!("0 days is refused");
    };
    assert!(err.to_string().contains("retention_days must be >= 1"), "{err}");
}

/// A day of `tenant`'s records (see [`day_of_records`]).
fn tenant_day(tenant: &str, day: i64, n: usize) -> Vec<LogRecord> {
    let mut records = day_of_records(day, n, tenant);
    for r in &mut records {
        r.assign_tenant(tenant);
    }
    records
}

/// Records of `tenant` in the UTC day starting at `day`.
async fn tenant_day_total(store: &dyn LogStore, tenant: &str, day: i64) -> u64 {
    let filter = Filter {
        tenant: Some(tenant.into()),
        from_timestamp: Some(day),
        to_timestamp: Some(day + DAY - 1),
        ..Filter::default()
    };
    let req = SearchRequest::new(filter, Sort::NewestFirst, None, Some(1), None).expect("valid");
    store.search(&req).await.expect("search").total
}

fn overrides(pairs: &[(&str, u32)]) -> TenantRetention {
    TenantRetention::new(pairs.iter().map(|(t, d)| (t.to_string(), *d)).collect())
}

async fn a_short_tenant_override_removes_a_day_the_global_window_keeps(kind: Kind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (n, today) = (200, today());
    let old = today - 5 * DAY;
    let options =
        StoreOptions { tenant_retention: overrides(&[("short", 1)]), ..options(Some(30)) };
    let store = Store::open(kind, tmp.path(), options).await;
    let mut records = Vec::new();
    for tenant in ["short", "other"] {
        records.extend(tenant_day(tenant, old, n));
        records.extend(tenant_day(tenant, today, n));
    }
    records.extend(day_of_records(old, n, "default"));
    store.index(records).await.expect("index");
    store.refresh().await.expect("refresh");

    let now = today + DAY / 2;
    let report = store.apply_retention(now).await.expect("retention").expect("configured");
    assert_eq!(report.removed, n as u64, "only short's old day");
    assert_eq!(report.cutoff_ms, Some(today - 30 * DAY));
    assert_eq!(report.tenant_cutoffs, BTreeMap::from([("short".to_owned(), today - DAY)]));
    assert_eq!(tenant_day_total(&*store, "short", old).await, 0);
    assert_eq!(tenant_day_total(&*store, "short", today).await, n as u64);
    assert_eq!(tenant_day_total(&*store, "other", old).await, n as u64, "30 days keep it");
    assert_eq!(tenant_day_total(&*store, "default", old).await, n as u64);
    assert_eq!(total(&*store, None, None).await, 4 * n as u64);
    store.close().await.expect("close");
}

async fn a_long_tenant_override_keeps_a_day_the_global_window_removes(kind: Kind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (n, today) = (200, today());
    let old = today - 5 * DAY;
    let options = StoreOptions { tenant_retention: overrides(&[("long", 30)]), ..options(Some(1)) };
    let store = Store::open(kind, tmp.path(), options).await;
    let mut records = Vec::new();
    for tenant in ["long", "other"] {
        records.extend(tenant_day(tenant, old, n));
        records.extend(tenant_day(tenant, today, n));
    }
    records.extend(day_of_records(old, n, "default"));
    store.index(records).await.expect("index");
    store.refresh().await.expect("refresh");

    let report =
        store.apply_retention(today + DAY / 2).await.expect("retention").expect("configured");
    assert_eq!(report.removed, 2 * n as u64, "other's and default's old day");
    assert_eq!(tenant_day_total(&*store, "long", old).await, n as u64, "30 days keep it");
    assert_eq!(tenant_day_total(&*store, "other", old).await, 0);
    assert_eq!(tenant_day_total(&*store, "default", old).await, 0);
    assert_eq!(tenant_day_total(&*store, "other", today).await, n as u64);
    // Stats agree: only long's old day is left before today.
    assert_eq!(stats_total(&*store, None, Some(today - 1)).await, n as u64);
    store.close().await.expect("close");
}

async fn overrides_set_after_open_apply_at_the_next_pass(kind: Kind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (n, today) = (100, today());
    let old = today - 5 * DAY;
    let tenants = TenantRetention::default();
    let options = StoreOptions { tenant_retention: tenants.clone(), ..options(None) };
    let store = Store::open(kind, tmp.path(), options).await;
    let mut records = tenant_day("a", old, n);
    records.extend(tenant_day("b", old, n));
    store.index(records).await.expect("index");
    store.refresh().await.expect("refresh");
    let now = today + DAY / 2;
    assert!(store.apply_retention(now).await.expect("pass").is_none(), "nothing set");

    // The key file reloads: tenant "a" now keeps 2 days, everyone else
    // still forever.
    tenants.set(BTreeMap::from([("a".to_owned(), 2)]));
    let report = store.apply_retention(now).await.expect("pass").expect("an override is set");
    assert_eq!((report.removed, report.cutoff_ms), (n as u64, None));
    assert_eq!(tenant_day_total(&*store, "a", old).await, 0);
    assert_eq!(tenant_day_total(&*store, "b", old).await, n as u64);
    store.close().await.expect("close");
}

/// Stats over whole segments are answered from the per-segment cache on
/// the next request of the same shape, and never stale: a deletion, a range
/// that cuts a segment, or another filter computes afresh.
#[tokio::test]
async fn stats_reuse_whole_segments_and_never_go_stale() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let today = today();
    let store = TantivyStore::open(tmp.path(), options(Some(3))).await.expect("open");
    // One segment of three days, big enough to be cached (4,096 records)
    // before and after the deletion.
    let days = [today - 4 * DAY, today - DAY, today];
    let records: Vec<LogRecord> =
        days.iter().flat_map(|&d| day_of_records(d, 2200, "cached")).collect();
    let want_auth = |records: &[LogRecord], from: i64| {
        records.iter().filter(|r| r.service_name == "auth-service" && r.timestamp >= from).count()
    };
    let (auth_all, auth_kept) = (want_auth(&records, 0), want_auth(&records, today - DAY));
    store.index(records).await.expect("index");
    store.refresh().await.expect("refresh");

    let stats = |from: i64, to: i64, service: Option<&str>| {
        let filter = Filter {
            from_timestamp: Some(from),
            to_timestamp: Some(to),
            service_name: service.map(str::to_owned),
            ..Filter::default()
        };
        let req = StatsRequest {
            filter,
            histogram_interval_ms: Some(3_600_000),
            include_percentiles: true,
        };
        let store = &store;
        async move { store.stats(&req).await.expect("stats") }
    };
    let (from, to) = (today - 5 * DAY, today + DAY);
    let first = stats(from, to, None).await;
    assert_eq!((first.total_logs, first.error_count), (6600, 1650));
    assert_eq!(store.stats_cache_hits(), 0);
    // The same shape with a later end ("the last N days" refreshed).
    let again = stats(from, to + 60_000, None).await;
    assert_eq!(store.stats_cache_hits(), 1, "the covered segment is reused");
    assert_eq!(again, first);

    // A range cutting the segment is computed, not served from the cache.
    let one_day = stats(today - DAY, today - 1, None).await;
    assert_eq!((one_day.total_logs, one_day.error_count), (2200, 550));
    assert_eq!(one_day.histogram.len(), 24);
    assert_eq!(store.stats_cache_hits(), 1);

    // Another filter is another shape.
    let auth = stats(from, to, Some("auth-service")).await;
    assert_eq!(auth.total_logs as usize, auth_all);
    assert_eq!(auth.services.len(), 1);
    assert_eq!(store.stats_cache_hits(), 1);

    // Retention deletes the oldest day (a third of the segment, which is
    // not rewritten): the segment's cached result must not be used.
    let report = store.apply_retention(today + DAY / 2).await.expect("retention").expect("on");
    assert_eq!((report.removed, report.merged_segments), (2200, 0));
    let after = stats(from, to, None).await;
    assert_eq!((after.total_logs, after.error_count), (4400, 1100));
    assert_eq!(after.histogram.len(), 48);
    let auth = stats(from, to, Some("auth-service")).await;
    assert_eq!(auth.total_logs as usize, auth_kept);
    assert_eq!(store.stats_cache_hits(), 1, "a deletion makes a new key");
    assert_eq!(stats(from, to, None).await, after);
    assert_eq!(store.stats_cache_hits(), 2);
    store.close().await.expect("close");
}

/// The hybrid's deleted-rows log forgets the rows of the blocks a
/// retention pass drops: it is written afresh then, not only at open.
#[tokio::test]
async fn hybrid_retention_rewrites_the_deleted_rows_log_without_dropped_blocks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("deleted");
    let log_bytes = || std::fs::metadata(&log).expect("the deleted-rows log").len();
    // Its magic, then per append a 12-byte frame header and 8 bytes a row.
    let (magic, frame) = (8, 12);
    let today = today();
    let old = day_of_records(today - 5 * DAY, BLOCK_ROWS, "old");
    let store = Store::open(Kind::Hybrid, tmp.path(), options(Some(2))).await;
    // One sealed block for the old day, one for today.
    store.index(old.clone()).await.expect("index");
    store.index(day_of_records(today, BLOCK_ROWS, "new")).await.expect("index");
    // The same 100 old records again: upserts, so their first rows (in the
    // old day's block) are marked deleted, and logged at the refresh.
    store.index(old[..100].to_vec()).await.expect("index");
    store.refresh().await.expect("refresh");
    assert_eq!(log_bytes(), magic + frame + 100 * 8);
    assert_eq!(total(&*store, None, None).await, 2 * BLOCK_ROWS as u64);

    // The old day's block goes whole (its rows expired or deleted); its
    // 100 logged rows lie below the new floor and leave the log. The 100
    // re-sent rows, in the open block, are marked and logged.
    let report = store.apply_retention(today + DAY / 2).await.expect("retention").expect("set");
    assert_eq!(report.removed, BLOCK_ROWS as u64);
    assert_eq!(log_bytes(), magic + frame + 100 * 8, "rows of the dropped block still logged");
    assert_eq!(total(&*store, None, None).await, BLOCK_ROWS as u64);
    store.close().await.expect("close");

    let reopened = Store::open(Kind::Hybrid, tmp.path(), options(None)).await;
    assert_eq!(total(&*reopened, None, None).await, BLOCK_ROWS as u64);
    assert_eq!(day_total(&*reopened, today - 5 * DAY).await, 0);
    assert_eq!(log_bytes(), magic + frame + 100 * 8);
    reopened.close().await.expect("close");
}
