//! Who is calling: the session behind `Authorization: Bearer <token>`, and
//! the client IP used for anonymous rate limits.

use actix_web::HttpRequest;

use crate::error::ApiError;
use crate::sessions::Session;
use crate::state::AppState;

pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The caller's session if a token is sent; a token that is unknown or
/// expired is an error (the client should log in again), not anonymity.
pub async fn optional_visitor(state: &AppState, req: &HttpRequest) -> Result<Option<Session>, ApiError> {
    let Some(token) = bearer_token(req) else { return Ok(None) };
    state.sessions.get(token).await?.map(Some).ok_or(ApiError::SessionInvalid)
}

pub async fn require_visitor(state: &AppState, req: &HttpRequest) -> Result<Session, ApiError> {
    optional_visitor(state, req).await?.ok_or(ApiError::LoginRequired)
}

/// The client's IP: the TCP peer, or the proxy-reported one when configured to trust it.
pub fn client_ip(state: &AppState, req: &HttpRequest) -> String {
    if state.settings.limits.trust_forwarded_for
        && let Some(ip) = req.connection_info().realip_remote_addr()
    {
        return ip.to_owned();
    }
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}
