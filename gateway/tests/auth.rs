//! The REST gateway's key check, driven with `oneshot` against the fake
//! gRPC backend: refusals with the JSON error body and challenges, open
//! routes, the cookie, and routes that pass once the key has the scope.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Backend, send};
use loglens_auth::{Authenticator, KeyFile, Limits, NewKey, Scope};
use loglens_gateway::{GatewayConfig, InProcess, app_with};

fn key(path: &std::path::Path, name: &str, scope: Scope) -> String {
    let new = NewKey::generate(name, "t", vec![scope]).unwrap();
    KeyFile::append(path, new.entry).unwrap();
    new.secret
}

fn get(path: &str, auth: Option<String>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn routes_need_a_key_with_their_scope() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.toml");
    let query = key(&file, "q", Scope::Query);
    let ingest = key(&file, "i", Scope::Ingest);
    let auth: Arc<Authenticator> = Authenticator::load(&file, Limits::default()).unwrap();
    let cfg = GatewayConfig {
        grpc_endpoint: format!("http://{}", backend.addr),
        ..GatewayConfig::default()
    };
    let app = app_with(&cfg, InProcess { auth: Some(auth), ..InProcess::default() }).unwrap();

    let r = send(&app, get("/stats", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "unauthenticated");
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer realm=\"loglens\"");

    let r = send(&app, get("/stats", Some(format!("Bearer {ingest}")))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["message"], "the API key lacks the query scope this endpoint needs");

    let r = send(&app, get("/stats", Some(format!("Bearer {query}")))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());

    let cookie = Request::get("/stats")
        .header(header::COOKIE, format!("theme=dark; loglens_key={query}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, cookie).await.status, StatusCode::OK);

    let r = send(&app, get("/metrics", Some(format!("Bearer {query}")))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = send(&app, get("/_license", Some("Token nonsense".into()))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = r.headers.get_all(header::WWW_AUTHENTICATE).iter().collect();
    assert!(challenges.iter().any(|c| c.to_str().unwrap().starts_with("Basic")), "{challenges:?}");

    assert_eq!(send(&app, get("/health", None)).await.status, StatusCode::OK);
    assert_eq!(send(&app, get("/openapi.json", None)).await.status, StatusCode::OK);
}
