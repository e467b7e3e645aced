//! API keys on the REST side: a middleware that finds the caller's key
//! (`Authorization: Bearer`, `Basic` with the key as password for
//! Elasticsearch clients, `Splunk` for HEC, or the web UI's `loglens_key`
//! cookie), checks it against the route's scope
//! ([`loglens_auth::rest_need`]) and answers 401 / 403 / 429 with the usual
//! JSON error body, or runs the route with the [`Principal`] in the
//! request's extensions.
//!
//! The key travels on to the gRPC backend as `authorization: Bearer <key>`
//! on every call the route makes (so a separate query or ingest role checks
//! it too), whether or not this gateway checks keys itself.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use loglens_auth::{Authenticator, Denied, Need, Principal};

use crate::error::ApiError;

/// The client's address, for rate-limiting failed attempts per address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::Accepted>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::Accepted>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

tokio::task_local! {
    /// The caller's key as an `authorization` value for the gRPC calls of
    /// the current request.
    static FORWARD: Option<HeaderValue>;
    /// The authenticated caller of the current request.
    static PRINCIPAL: Option<Principal>;
}

/// The `authorization` value to forward on gRPC calls made now, if the
/// caller sent a key.
pub(crate) fn forwarded() -> Option<HeaderValue> {
    FORWARD.try_with(Clone::clone).ok().flatten()
}

/// Runs `f` with `value` as the forwarded credential (the tail stream
/// re-opens its gRPC call after the request's middleware returned).
pub(crate) async fn with_forwarded<F: Future>(value: Option<HeaderValue>, f: F) -> F::Output {
    FORWARD.scope(value, f).await
}

/// The authenticated caller of the request being handled, when keys are
/// checked: for code the gateway calls in process (the node's ingest).
pub fn current_principal() -> Option<Principal> {
    PRINCIPAL.try_with(Clone::clone).ok().flatten()
}

/// The key a request carries, if any: `Authorization` first (a value in
/// no accepted scheme is kept as is, so it is refused as invalid), then
/// the `loglens_key` cookie.
fn credential(request: &Request) -> Option<String> {
    if let Some(v) = request.headers().get(header::AUTHORIZATION) {
        return Some(
            v.to_str()
                .ok()
                .and_then(loglens_auth::parse_authorization)
                .unwrap_or_else(|| "-".into()),
        );
    }
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(loglens_auth::credential_from_cookie)
}

fn wants_html(request: &Request) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// The reply to a refused request.
fn refusal(denied: &Denied, path: &str) -> Response {
    let (status, code) = match denied {
        Denied::Missing | Denied::Invalid => {
            (StatusCode::UNAUTHORIZED, loglens_core::ErrorCode::Unauthenticated.as_str())
        }
        Denied::Forbidden { .. } => {
            (StatusCode::FORBIDDEN, loglens_core::ErrorCode::PermissionDenied.as_str())
        }
        Denied::RateLimited { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, loglens_core::ErrorCode::ResourceExhausted.as_str())
        }
    };
    let mut e = ApiError::new(status, code, denied.to_string());
    e.retry_after = denied.retry_after_secs();
    let mut res = e.into_response();
    if status == StatusCode::UNAUTHORIZED {
        let h = res.headers_mut();
        h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"loglens\""));
        if loglens_auth::is_elasticsearch_path(path) || path == "/" {
            h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"loglens\""));
        }
    }
    res
}

/// The middleware; `auth` is `None` when keys are not checked here.
pub(crate) async fn guard(
    State(auth): State<Option<Arc<Authenticator>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let key = credential(&request);
    let forward = key
        .as_deref()
        .filter(|k| *k != "-")
        .and_then(|k| HeaderValue::from_str(&format!("Bearer {k}")).ok());
    let mut principal = None;
    if let Some(auth) = auth {
        let path = request.uri().path().to_owned();
        let need = loglens_auth::rest_need(request.method().as_str(), &path, wants_html(&request));
        if need != Need::Open {
            let peer = request.extensions().get::<ConnectInfo<Peer>>().map(|c| c.0.0.ip());
            match auth.check(peer, key.as_deref(), need) {
                Ok(p) => principal = p,
                Err(denied) => return refusal(&denied, &path),
            }
        }
        if let Some(p) = &principal {
            request.extensions_mut().insert(p.clone());
        }
    }
    PRINCIPAL.scope(principal, FORWARD.scope(forward, next.run(request))).await
}
