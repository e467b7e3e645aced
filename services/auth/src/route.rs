//! What each entry point needs: the one table of gRPC paths and REST routes
//! to [`Need`]s, pure so it is tested without a server.

use crate::{Need, Scope};

/// What a gRPC call to `path` (`/package.Service/Method`) needs.
/// `grpc.health.v1` is open; reflection needs any valid key; every other
/// path (unknown ones too) needs a key, so nothing new is open by accident.
pub fn grpc_need(path: &str) -> Need {
    let service = path.trim_start_matches('/').split_once('/').map_or(path, |(s, _)| s);
    match service {
        "grpc.health.v1.Health" => Need::Open,
        "logs.ingest.v1.IngestService" | "opentelemetry.proto.collector.logs.v1.LogsService" => {
            Need::Scope(Scope::Ingest)
        }
        "logs.query.v1.QueryService" => Need::Scope(Scope::Query),
        // GetLedger too: a tenant's key sees its own tenant's row only.
        "logs.stats.v1.StatsService" => Need::Scope(Scope::Query),
        _ => Need::AnyKey,
    }
}

/// Whether `path` is one of the Elasticsearch API routes (whose clients
/// need a `Basic` challenge to send their credentials).
pub fn is_elasticsearch_path(path: &str) -> bool {
    path.starts_with("/_") || path.ends_with("/_bulk")
}

/// What the REST request `method path` needs. `browser` says the client
/// asked for HTML (`Accept: text/html`): `/` then is the web UI's page,
/// otherwise it is Elasticsearch's info route.
pub fn rest_need(method: &str, path: &str, browser: bool) -> Need {
    let open_prefix = ["/assets/", "/docs/", "/redoc/"];
    match path {
        "/health" | "/docs" | "/redoc" | "/openapi.json" | "/favicon.ico" => Need::Open,
        // Splunk's HEC health check takes no token.
        "/services/collector/health" | "/services/collector/health/1.0" => Need::Open,
        "/" if browser => Need::Open,
        "/" => Need::Scope(Scope::Ingest),
        "/logs" if method.eq_ignore_ascii_case("POST") => Need::Scope(Scope::Ingest),
        "/logs" | "/logs/stats" | "/logs/anomalies" | "/logs/tail" | "/stats" | "/ledger" => {
            Need::Scope(Scope::Query)
        }
        "/metrics" => Need::Scope(Scope::Admin),
        "/v1/logs" | "/loki/api/v1/push" => Need::Scope(Scope::Ingest),
        p if p.starts_with("/services/collector") => Need::Scope(Scope::Ingest),
        p if is_elasticsearch_path(p) => Need::Scope(Scope::Ingest),
        p if open_prefix.iter().any(|o| p.starts_with(o)) => Need::Open,
        _ => Need::AnyKey,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_paths() {
        let s = |x| Need::Scope(x);
        assert_eq!(grpc_need("/grpc.health.v1.Health/Check"), Need::Open);
        assert_eq!(grpc_need("/grpc.health.v1.Health/Watch"), Need::Open);
        assert_eq!(grpc_need("/logs.ingest.v1.IngestService/Ingest"), s(Scope::Ingest));
        assert_eq!(
            grpc_need("/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
            s(Scope::Ingest)
        );
        assert_eq!(grpc_need("/logs.query.v1.QueryService/Tail"), s(Scope::Query));
        assert_eq!(grpc_need("/logs.stats.v1.StatsService/GetStats"), s(Scope::Query));
        assert_eq!(grpc_need("/logs.stats.v1.StatsService/GetLedger"), s(Scope::Query));
        assert_eq!(
            grpc_need("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Need::AnyKey
        );
        assert_eq!(grpc_need("/x.Y/Z"), Need::AnyKey);
        assert_eq!(grpc_need(""), Need::AnyKey);
    }

    #[test]
    fn rest_routes() {
        let s = |x| Need::Scope(x);
        assert_eq!(rest_need("GET", "/health", false), Need::Open);
        assert_eq!(rest_need("GET", "/", true), Need::Open);
        assert_eq!(rest_need("GET", "/", false), s(Scope::Ingest));
        assert_eq!(rest_need("GET", "/assets/app.js", false), Need::Open);
        assert_eq!(rest_need("GET", "/logs", false), s(Scope::Query));
        assert_eq!(rest_need("POST", "/logs", false), s(Scope::Ingest));
        assert_eq!(rest_need("GET", "/logs/tail", true), s(Scope::Query));
        assert_eq!(rest_need("GET", "/metrics", false), s(Scope::Admin));
        assert_eq!(rest_need("GET", "/ledger", false), s(Scope::Query));
        assert_eq!(rest_need("POST", "/my-index/_bulk", false), s(Scope::Ingest));
        assert_eq!(rest_need("GET", "/_license", false), s(Scope::Ingest));
        assert_eq!(rest_need("POST", "/services/collector/event", false), s(Scope::Ingest));
        assert_eq!(rest_need("GET", "/services/collector/health", false), Need::Open);
        assert_eq!(rest_need("GET", "/nope", true), Need::AnyKey);
    }
}
