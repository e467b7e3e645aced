//! API keys on the gRPC server: a tower layer that checks the
//! `authorization` metadata of every call against the method's scope
//! ([`loglens_auth::grpc_need`]) and answers UNAUTHENTICATED,
//! PERMISSION_DENIED or RESOURCE_EXHAUSTED with the reason, or passes the
//! call on with the [`loglens_auth::Principal`] in its extensions. The
//! refusal is a plain gRPC status, so gRPC-web clients get it too.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use loglens_auth::{Authenticator, Denied, parse_authorization};
use loglens_core::error::RETRY_AFTER_METADATA_KEY;
use tonic::transport::server::TcpConnectInfo;

/// Checks keys when there is an [`Authenticator`]; passes everything
/// through without one (auth off).
#[derive(Clone, Default)]
pub struct AuthLayer(pub Option<Arc<Authenticator>>);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, auth: self.0.clone() }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Option<Arc<Authenticator>>,
}

/// The gRPC status of a refusal.
pub fn refusal(denied: &Denied) -> tonic::Status {
    let mut status = match denied {
        Denied::Missing | Denied::Invalid => tonic::Status::unauthenticated(denied.to_string()),
        Denied::Forbidden { .. } => tonic::Status::permission_denied(denied.to_string()),
        Denied::RateLimited { .. } => tonic::Status::resource_exhausted(denied.to_string()),
    };
    if let Some(secs) = denied.retry_after_secs() {
        status.metadata_mut().insert(RETRY_AFTER_METADATA_KEY, secs.into());
    }
    status
}

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(auth) = &self.auth {
            let need = loglens_auth::grpc_need(request.uri().path());
            let peer = request
                .extensions()
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr)
                .map(|a| a.ip());
            // A value that is no accepted scheme is checked as is, so it is
            // refused as invalid rather than missing.
            let credential = request.headers().get(http::header::AUTHORIZATION).map(|v| {
                v.to_str().ok().and_then(parse_authorization).unwrap_or_else(|| "-".into())
            });
            match auth.check(peer, credential.as_deref(), need) {
                Ok(Some(principal)) => {
                    request.extensions_mut().insert(principal);
                }
                Ok(None) => {}
                Err(denied) => {
                    tracing::debug!(path = %request.uri().path(), reason = denied.label(), "grpc call refused");
                    let response = refusal(&denied).into_http::<R>();
                    return Box::pin(async move { Ok(response) });
                }
            }
        }
        let future = self.inner.call(request);
        Box::pin(future)
    }
}
