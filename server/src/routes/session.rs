//! `POST /api/v1/session`: log in with the `code` from `wx.login()`;
//! `DELETE /api/v1/session`: log out.

use actix_web::{HttpRequest, HttpResponse, delete, post, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::{bearer_token, client_ip};
use crate::error::{ApiError, ok};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct LoginBody {
    code: String,
}

#[post("/api/v1/session")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Result<super::JsonObject<LoginBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map_err(|e| ApiError::InvalidParameter {
        name: "body",
        reason: format!("expected {{\"code\": \"...\"}}: {e}"),
    })?;
    let code = body.code.trim();
    if code.is_empty() || code.chars().count() > 128 {
        return Err(ApiError::InvalidParameter { name: "code", reason: "the code from wx.login() is required".into() });
    }
    let ip = client_ip(&state, &req);
    state.limiter.check("login", &ip, state.settings.limits.login_per_minute).await?;
    let identity = state.wechat.code2session(code).await?;
    let openid = identity.openid.clone();
    let token = state.sessions.create(identity).await?;
    tracing::info!(openid = %openid, "visitor logged in");
    // openid is the visitor's id for this app; session_key never leaves the server.
    Ok(ok(json!({ "token": token, "expires_in": state.sessions.ttl_s, "openid": openid })))
}

#[delete("/api/v1/session")]
pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = bearer_token(&req).ok_or(ApiError::LoginRequired)?;
    // A token that names no session (forged, expired, already logged out) is
    // refused like on every other route that takes one.
    if !state.sessions.delete(token).await? {
        return Err(ApiError::SessionInvalid);
    }
    Ok(ok(json!({ "logged_out": true })))
}
