//! Runs `loglens bench` at a tiny size so it cannot rot. No timing asserts:
//! only that it finishes and reports every figure. Figure 4 starts its own
//! nisshi broker (`LOGLENS_NISSHI`, set by scripts/test, else on PATH).

use std::process::Command;

use serde_json::Value;

/// Every number in `v`, with its path.
fn numbers(v: &Value, path: &str, out: &mut Vec<(String, f64)>) {
    match v {
        Value::Number(n) => out.push((path.to_owned(), n.as_f64().unwrap_or(f64::NAN))),
        Value::Object(m) => m.iter().for_each(|(k, v)| numbers(v, &format!("{path}.{k}"), out)),
        Value::Array(a) => {
            a.iter().enumerate().for_each(|(i, v)| numbers(v, &format!("{path}[{i}]"), out))
        }
        _ => {}
    }
}

#[test]
fn tiny_run_reports_every_figure() {
    let (report, stderr) = bench_json(&[
        "--records",
        "2000",
        "--seed",
        "7",
        // A streamed query store of its own, a Kafka run on part of the data.
        "--query-records",
        "3000",
        "--kafka-records",
        "1500",
        "--rate",
        "2000",
        "--latency-seconds",
        "2",
        "--rss-seconds",
        "2",
        "--protocol-records",
        "3000",
    ]);

    assert_eq!(report["records"], 2000);
    assert_eq!(report["queries"]["latency"].as_object().map(|m| m.len()), Some(10), "{report}");
    assert!(report["queries"]["latency"]["UI_view_histogram_page"]["p99_ms"].is_f64(), "{report}");
    assert!(
        report["queries"]["latency"]["stats_histogram_pctl_new_shape"]["p99_ms"].is_f64(),
        "{report}"
    );
    assert_eq!(report["queries"]["records"], 3000, "{report}");
    assert_eq!(report["kafka"]["records"], 1500, "{report}");
    assert!(
        report["kafka"]["distinct_records"].as_u64().is_some_and(|d| d > 1400 && d <= 1500),
        "{report}"
    );
    // At the offered rate and at half of it.
    let rates: Vec<u64> = report["time_to_search"]
        .as_array()
        .expect("two runs")
        .iter()
        .map(|r| r["offered_records_per_s"].as_u64().unwrap())
        .collect();
    assert_eq!(rates, [2000, 1000], "{report}");
    assert!(report["time_to_search"][1]["records"].as_u64().is_some_and(|r| r >= 1000), "{report}");
    assert!(report["standalone_rss"]["accepted"].as_u64().is_some_and(|r| r >= 1000), "{report}");
    // Every drop-in protocol beside native, each with every record accepted.
    for key in ["native", "otlp_http", "es_bulk", "loki", "hec", "syslog_tcp"] {
        let p = &report["protocols"][key];
        assert_eq!(p["accepted"], 3000, "{key}: {report}");
        assert!(p["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{key}: {report}");
        assert!(p["ratio_to_native"].as_f64().is_some_and(|r| r > 0.0), "{key}: {report}");
    }
    for key in [
        "protocols",
        "parse",
        "raw_tantivy",
        "store_ingest",
        "kafka",
        "time_to_search",
        "index_size",
        "queries",
        "standalone_rss",
        "hardware",
    ] {
        assert!(report.get(key).is_some(), "missing {key} in {report}");
    }
    let mut all = Vec::new();
    numbers(&report, "", &mut all);
    assert!(all.len() > 20, "too few figures: {report}");
    for (path, v) in all {
        assert!(v > 0.0 && v.is_finite(), "{path} = {v} is not a positive figure");
    }
    assert!(stderr.contains("9 syslog TCP"), "figure 9 in the table: {stderr}");
    assert!(stderr.contains("store ingest"), "the table goes to stderr with --json: {stderr}");
}

/// Runs `loglens bench ARGS --json`; returns the JSON line it printed last
/// and its stderr (the table).
fn bench_json(args: &[&str]) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loglens"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .env_remove("LOGLENS_BENCH_DIR")
        .output()
        .expect("benchmark starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "benchmark {args:?} failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let report = serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON");
    (report, stderr.into_owned())
}

#[test]
fn the_partial_runs_report_their_figures() {
    let (k, _) = bench_json(&["--only-kafka", "--records", "1500", "--kafka-compression", "none"]);
    assert_eq!((k["records"].as_u64(), k["compression"].as_str()), (Some(1500), Some("none")));
    for figure in ["store_path", "raw_rdkafka", "end_to_end"] {
        assert!(k[figure]["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{figure}: {k}");
    }
    assert!(k["ratio_to_store"].as_f64().is_some_and(|r| r > 0.0), "{k}");
    assert!(k["processor_drain"]["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{k}");
    assert!(k["drain_ratio_to_store"].as_f64().is_some_and(|r| r > 0.0), "{k}");
    let (r, _) = bench_json(&[
        "--only-refresh",
        "--records",
        "1500",
        "--rate",
        "1000",
        "--latency-seconds",
        "2",
        "--min-refresh-interval-ms",
        "200",
    ]);
    assert_eq!(r["min_refresh_interval_ms"], 200, "{r}");
    assert!(r["store_ingest"]["records_per_s"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    assert_eq!(r["time_to_search"].as_array().map(Vec::len), Some(2), "{r}");
    assert!(r["time_to_search"][0]["p99_s"].is_f64(), "{r}");
}

#[test]
fn only_queries_times_each_query_with_and_without_the_caches() {
    let (q, _) = bench_json(&["--only-queries", "--records", "1500"]);
    assert_eq!(q["records"], 1500, "{q}");
    let runs = q["runs"].as_array().expect("runs");
    let caches: Vec<_> = runs
        .iter()
        .map(|r| (r["stats_cache_bytes"].as_u64(), r["block_cache_bytes"].as_u64()))
        .collect();
    assert_eq!(caches, [(Some(64 << 20), Some(64 << 20)), (Some(0), Some(0))], "{q}");
    for run in runs {
        assert!(run["open_s"].as_f64().is_some_and(|s| s > 0.0), "{run}");
        let rows = run["latency"].as_array().expect("latency rows");
        assert!(rows.iter().any(|r| r["query"] == "stats + histogram + pctl, new shape"), "{q}");
        for row in rows {
            assert!(row["p99_ms"].as_f64().is_some_and(|v| v > 0.0), "{row}");
        }
    }
    let off = ["--only-queries", "--records", "1500", "--stats-cache-mb", "0"];
    let (off, _) = bench_json(&[&off[..], &["--block-cache-mb", "0"]].concat());
    assert_eq!(off["runs"].as_array().map(Vec::len), Some(1), "{off}");
}

#[test]
fn the_tantivy_store_is_measured_when_asked_for() {
    let (q, stderr) = bench_json(&["--only-queries", "--records", "1500", "--store", "tantivy"]);
    assert_eq!(q["store"], "tantivy", "{q}");
    assert!(stderr.contains("store: tantivy"), "{stderr}");
    let rows = q["runs"][0]["latency"].as_array().expect("latency rows");
    assert!(rows.iter().all(|r| r["p99_ms"].as_f64().is_some_and(|v| v > 0.0)), "{q}");
    // The store path and Kafka end to end, the processor's store a Tantivy one.
    let (k, _) = bench_json(&[
        "--only-kafka",
        "--records",
        "1500",
        "--kafka-compression",
        "none",
        "--store",
        "tantivy",
    ]);
    assert_eq!(k["store"], "tantivy", "{k}");
    assert!(k["end_to_end"]["records_per_s"].as_f64().is_some_and(|v| v > 0.0), "{k}");
}
