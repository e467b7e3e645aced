//! Placeholder: the es routes are added here.

use crate::handlers::AppState;

/// The routes of this protocol.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
}
