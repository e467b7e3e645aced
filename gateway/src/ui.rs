//! The built-in web UI: `ui/dist` (built from `ui/` with `npm run build` and
//! committed) embedded into the binary, so serving it needs no network and
//! building the gateway needs no npm.
//!
//! `GET /` is the page for browsers (`Accept: text/html`; other clients get
//! the Elasticsearch cluster info there, see `receivers::es`): `index.html`,
//! never cached, as it names the current assets. `/assets/*` are Vite's
//! content-hashed files, cached for a year. The page learns gateway settings
//! from `<meta>` tags filled in here (the Jaeger URL for trace links).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::error::ApiError;

/// The files of `ui/dist`.
#[derive(RustEmbed)]
#[folder = "../ui/dist"]
struct Dist;

/// The placeholder in `ui/index.html` that [`index_html`] fills in.
const JAEGER_META: &str = r#"<meta name="loglens-jaeger-url" content="">"#;

/// `/assets/*`, for the gateway's router.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{*path}", get(asset))
}

/// The reply to a browser's `GET /`: `index` from [`index_html`].
pub(crate) fn page(index: &Bytes) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        index.clone(),
    )
        .into_response()
}

/// `index.html` with the gateway's settings in its `<meta>` tags.
pub(crate) fn index_html(jaeger_url: Option<&str>) -> Bytes {
    Bytes::from(index_text(jaeger_url))
}

fn index_text(jaeger_url: Option<&str>) -> String {
    let raw = Dist::get("index.html").map(|f| f.data.into_owned()).unwrap_or_default();
    let html = String::from_utf8_lossy(&raw).into_owned();
    match jaeger_url {
        Some(url) => html.replace(
            JAEGER_META,
            &format!(r#"<meta name="loglens-jaeger-url" content="{}">"#, escape_attr(url)),
        ),
        None => html,
    }
}

/// One content-hashed asset, cached for a year.
async fn asset(Path(path): Path<String>) -> Response {
    let Some(file) = Dist::get(&format!("assets/{path}")) else {
        return ApiError::from_code(
            loglens_core::ErrorCode::NotFound,
            format!("no UI asset /assets/{path}; the page loads the current ones from /"),
            None,
        )
        .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, content_type(&path)),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        Body::from(file.data.into_owned()),
    )
        .into_response()
}

/// The media type of a built file, by extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json" | "map") => "application/json",
        Some("woff2") => "font/woff2",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// `s` safe inside a double-quoted HTML attribute.
fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaeger_url_is_escaped_into_the_meta_tag() {
        let html = index_text(Some("http://j:16686/?a=1&b=\"x\""));
        assert!(
            html.contains(
                r#"<meta name="loglens-jaeger-url" content="http://j:16686/?a=1&amp;b=&quot;x&quot;">"#
            ),
            "{html}"
        );
        assert!(index_text(None).contains(JAEGER_META));
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("index-abc.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index-abc.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
