//! The simulated services and what their logs look like.
//!
//! Five services, each with its own endpoints, median latency and error codes.
//! Levels are mostly INFO (about 80%), then DEBUG (6%), WARN (10%) and ERROR
//! (4%). Status codes follow the level: ERROR is mostly 5xx, WARN mostly 4xx
//! or a slow 2xx, INFO and DEBUG 2xx/3xx. Latency is log-normal around the
//! service's median, with a slow tail (about 1.5% of requests 8-40x slower).
//! Failed requests carry an error code. Users come from a pool of 5,000; each
//! record has a fresh request, trace and span id.

use std::collections::BTreeMap;

use rand::Rng;
use rand::rngs::StdRng;
use rand::{SeedableRng, seq::IndexedRandom};
use rand_distr::{Distribution, LogNormal};
use serde::Serialize;

struct Service {
    name: &'static str,
    median_ms: f64,
    operations: &'static [&'static str],
    client_errors: &'static [(u16, &'static str)],
    server_errors: &'static [(u16, &'static str)],
}

const SERVICES: &[Service] = &[
    Service {
        name: "auth-service",
        median_ms: 35.0,
        operations: &["POST /login", "POST /logout", "POST /token/refresh", "GET /session"],
        client_errors: &[
            (401, "INVALID_CREDENTIALS"),
            (403, "ACCOUNT_LOCKED"),
            (429, "RATE_LIMITED"),
        ],
        server_errors: &[(500, "TOKEN_SIGNING_FAILED"), (503, "IDP_UNAVAILABLE")],
    },
    Service {
        name: "payment-service",
        median_ms: 180.0,
        operations: &[
            "POST /payments",
            "POST /refunds",
            "GET /payments/{id}",
            "POST /payments/{id}/capture",
        ],
        client_errors: &[
            (402, "CARD_DECLINED"),
            (400, "INVALID_AMOUNT"),
            (409, "DUPLICATE_PAYMENT"),
        ],
        server_errors: &[
            (502, "GATEWAY_ERROR"),
            (504, "PROVIDER_TIMEOUT"),
            (500, "LEDGER_WRITE_FAILED"),
        ],
    },
    Service {
        name: "inventory-service",
        median_ms: 60.0,
        operations: &[
            "GET /items/{id}",
            "POST /reservations",
            "DELETE /reservations/{id}",
            "GET /stock",
        ],
        client_errors: &[(404, "ITEM_NOT_FOUND"), (409, "OUT_OF_STOCK")],
        server_errors: &[(500, "DB_DEADLOCK"), (503, "CACHE_UNAVAILABLE")],
    },
    Service {
        name: "user-service",
        median_ms: 45.0,
        operations: &[
            "GET /users/{id}",
            "PATCH /users/{id}",
            "POST /users",
            "GET /users/{id}/preferences",
        ],
        client_errors: &[(404, "USER_NOT_FOUND"), (422, "VALIDATION_FAILED")],
        server_errors: &[(500, "PROFILE_STORE_ERROR")],
    },
    Service {
        name: "api-gateway",
        median_ms: 25.0,
        operations: &[
            "GET /api/v1/orders",
            "POST /api/v1/checkout",
            "GET /api/v1/catalog",
            "GET /healthz",
        ],
        client_errors: &[(400, "BAD_REQUEST"), (404, "ROUTE_NOT_FOUND"), (429, "THROTTLED")],
        server_errors: &[(502, "UPSTREAM_BAD_GATEWAY"), (504, "UPSTREAM_TIMEOUT")],
    },
];

/// The service names the generator simulates.
pub fn service_names() -> Vec<&'static str> {
    SERVICES.iter().map(|s| s.name).collect()
}

/// One generated record, shaped like the JSON a service would emit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratedLog {
    /// RFC 3339 with milliseconds, UTC.
    pub timestamp: String,
    /// Emitting service.
    pub service_name: String,
    /// DEBUG, INFO, WARN or ERROR.
    pub level: &'static str,
    /// Human-readable line.
    pub message: String,
    /// HTTP status.
    pub status_code: u16,
    /// Request id, a UUID.
    pub request_id: String,
    /// User id.
    pub user_id: String,
    /// Latency, ms, rounded to 0.1.
    pub response_time_ms: f64,
    /// Present on failed requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Emitting host.
    pub host: String,
    /// Application trace id, 32 hex digits.
    pub trace_id: String,
    /// Application span id, 16 hex digits.
    pub span_id: String,
    /// What a Kubernetes log agent adds: namespace, pod, region, version.
    pub attributes: BTreeMap<&'static str, String>,
}

/// A reproducible source of records: the same seed gives the same records
/// for the same sequence of `now` values.
pub struct Generator {
    rng: StdRng,
    slow_tail: LogNormal<f64>,
}

impl Generator {
    /// A generator seeded with `seed`, or from entropy when `None`.
    pub fn new(seed: Option<u64>) -> Generator {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Generator { rng, slow_tail: LogNormal::new(0.0, 0.6).expect("valid log-normal parameters") }
    }

    fn hex(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits);
        for _ in 0..digits {
            s.push(char::from_digit(self.rng.random_range(0..16), 16).expect("digit below 16"));
        }
        s
    }

    /// A random (version 4) UUID in its usual text form.
    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!("{}-{}-4{}-a{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..])
    }

    /// The next record, stamped `now_ms` (UTC ms).
    pub fn next(&mut self, now_ms: i64) -> GeneratedLog {
        let svc = &SERVICES[self.rng.random_range(0..SERVICES.len())];
        let op = *svc.operations.choose(&mut self.rng).expect("every service has operations");
        let roll: f64 = self.rng.random();
        let level = match roll {
            r if r < 0.06 => "DEBUG",
            r if r < 0.86 => "INFO",
            r if r < 0.96 => "WARN",
            _ => "ERROR",
        };
        let latency = LogNormal::new(svc.median_ms.ln(), 0.5).expect("valid log-normal parameters");
        let mut rt = latency.sample(&mut self.rng);
        let slow = self.rng.random_bool(0.015) || (level == "WARN" && self.rng.random_bool(0.3));
        if slow {
            rt *= 8.0
                + 32.0 * self.rng.random::<f64>() * self.slow_tail.sample(&mut self.rng).min(1.0);
        }
        let (status, error_code) = match level {
            "ERROR" if self.rng.random_bool(0.7) => {
                let (s, c) = *svc.server_errors.choose(&mut self.rng).expect("server errors");
                (s, Some(c))
            }
            "ERROR" => {
                let (s, c) = *svc.client_errors.choose(&mut self.rng).expect("client errors");
                (s, Some(c))
            }
            "WARN" if !slow => {
                let (s, c) = *svc.client_errors.choose(&mut self.rng).expect("client errors");
                (s, Some(c))
            }
            _ => (
                *[200, 200, 200, 200, 201, 204, 304].choose(&mut self.rng).expect("statuses"),
                None,
            ),
        };
        let user = self.rng.random_range(1..=5000);
        let request_id = self.uuid();
        // Real services put ids in their messages; they make the message
        // vocabulary grow with the data, as it does in production.
        let message = match (level, error_code) {
            (_, Some(code)) => {
                format!("{op} failed with {status} {code} after {rt:.0}ms request {request_id}")
            }
            ("WARN", None) => {
                format!("{op} slow response {rt:.0}ms exceeds budget for user-{user}")
            }
            ("DEBUG", None) => {
                format!("{op} cache lookup completed in {:.1}ms key cart:{user}", rt / 10.0)
            }
            _ if self.rng.random_bool(0.3) => {
                format!("{op} completed with {status} in {rt:.0}ms order {}", self.hex(12))
            }
            _ => format!("{op} completed with {status} in {rt:.0}ms"),
        };
        let region =
            *["eu-west-1", "us-east-1", "ap-south-1"].choose(&mut self.rng).expect("regions");
        let ts = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        let track = if self.rng.random_bool(0.9) { "prod" } else { "canary" };
        let host = format!("{}-{}", svc.name, self.rng.random_range(0..4));
        let attributes = BTreeMap::from([
            ("k8s.namespace", format!("shop-{track}")),
            ("k8s.pod.name", format!("{host}-5d8f7b9c4-x2k{}", host.len() % 10)),
            ("cloud.region", region.to_owned()),
            ("service.version", format!("1.{}.{}", svc.name.len() % 7, status % 3)),
        ]);
        GeneratedLog {
            timestamp: ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            service_name: svc.name.to_owned(),
            level,
            message,
            status_code: status,
            request_id,
            user_id: format!("user-{user}"),
            response_time_ms: (rt * 10.0).round() / 10.0,
            error_code: error_code.map(str::to_owned),
            tags: vec![region.to_owned(), track.to_owned()],
            host,
            trace_id: self.hex(32),
            span_id: self.hex(16),
            attributes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn same_seed_same_records() {
        let mut a = Generator::new(Some(7));
        let mut b = Generator::new(Some(7));
        for i in 0..100 {
            assert_eq!(a.next(i), b.next(i));
        }
        assert_ne!(Generator::new(Some(8)).next(0), Generator::new(Some(7)).next(0));
    }

    #[test]
    fn distributions_are_realistic() {
        let mut g = Generator::new(Some(1));
        let n = 20_000;
        let logs: Vec<GeneratedLog> = (0..n).map(|i| g.next(1_700_000_000_000 + i)).collect();
        let mut levels: HashMap<&str, usize> = HashMap::new();
        for l in &logs {
            *levels.entry(l.level).or_default() += 1;
        }
        let share = |k: &str| levels.get(k).copied().unwrap_or(0) as f64 / n as f64;
        assert!((0.75..0.85).contains(&share("INFO")), "{levels:?}");
        assert!((0.07..0.13).contains(&share("WARN")), "{levels:?}");
        assert!((0.02..0.06).contains(&share("ERROR")), "{levels:?}");
        assert!((0.04..0.08).contains(&share("DEBUG")), "{levels:?}");
        let ok = logs.iter().filter(|l| l.status_code < 400).count() as f64 / n as f64;
        assert!(ok > 0.85, "mostly 2xx/3xx: {ok}");
        assert!(logs.iter().filter(|l| l.status_code >= 400).all(|l| l.error_code.is_some()));
        let slow = logs.iter().filter(|l| l.response_time_ms > 3000.0).count();
        assert!(
            slow > 0 && (slow as f64 / n as f64) < 0.05,
            "a slow tail, not a slow body: {slow}"
        );
        let services: std::collections::HashSet<&str> =
            logs.iter().map(|l| l.service_name.as_str()).collect();
        assert_eq!(services.len(), 5);
        let json = serde_json::to_string(&logs[0]).unwrap();
        assert!((250..600).contains(&json.len()), "about 400-byte records: {}", json.len());
    }
}
