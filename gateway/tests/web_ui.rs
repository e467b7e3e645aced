//! The built-in web UI: a browser's `GET /` and `/assets/*` come from
//! `ui/dist` embedded in the gateway, beside the JSON routes.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Reply, send};
use loglens_gateway::{GatewayConfig, app};

async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// GET as a browser navigating to a page sends it.
async fn browse(app: &Router, uri: &str) -> Reply {
    let req = Request::get(uri)
        .header(header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .body(Body::empty())
        .unwrap();
    send(app, req).await
}

/// An app whose gRPC side is never reached: the UI needs none.
fn ui_app(jaeger_url: Option<&str>) -> Router {
    app(&GatewayConfig {
        grpc_endpoint: "http://127.0.0.1:9".into(),
        jaeger_url: jaeger_url.map(str::to_owned),
        ..GatewayConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn root_serves_the_page_and_assets_are_cached_for_a_year() {
    let app = ui_app(None);
    let page = browse(&app, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header(header::CONTENT_TYPE).starts_with("text/html"), "{:?}", page.headers);
    assert_eq!(page.header(header::CACHE_CONTROL), "no-cache");
    let html = page.text();
    assert!(html.contains("<title>loglens</title>"), "{html}");

    // The page names its script; that asset is served as JavaScript with a
    // long cache lifetime (its name changes with its content).
    let src = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("index.html loads a script");
    assert!(src.starts_with("/assets/") && src.ends_with(".js"), "{src}");
    let js = get(&app, src).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.header(header::CONTENT_TYPE).starts_with("text/javascript"), "{:?}", js.headers);
    assert_eq!(js.header(header::CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert!(js.body.len() > 1000);
}

#[tokio::test]
async fn unknown_paths_keep_the_json_404_and_api_clients_keep_root() {
    let app = ui_app(None);
    // Elasticsearch clients (no text/html in Accept) still get cluster info at /.
    let es = get(&app, "/").await;
    assert_eq!(es.status, StatusCode::OK);
    assert_eq!(es.json()["version"]["number"], "8.19.0");
    for path in ["/nope", "/logs/nope", "/assets/missing.js", "/index.html"] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.header(header::CONTENT_TYPE).starts_with("application/json"), "{path}");
        assert_eq!(r.json()["error"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn jaeger_url_reaches_the_page() {
    let html = browse(&ui_app(Some("http://jaeger:16686/")), "/").await.text();
    assert!(
        html.contains(r#"<meta name="loglens-jaeger-url" content="http://jaeger:16686">"#),
        "{html}"
    );
    let bad =
        app(&GatewayConfig { jaeger_url: Some("jaeger:16686".into()), ..GatewayConfig::default() });
    assert!(bad.unwrap_err().to_string().contains("jaeger_url"));
}
