//! Who may call an admin route, decided once for every route under
//! `/api/v1/admin` before any handler (or body extractor) runs, so a new
//! route cannot forget the check:
//!
//! - `/api/v1/admin/museums/{museum}/...`: that museum's key or the
//!   operator's, and the museum must exist (checked after the key, so a key
//!   learns nothing about other museums); a few routes ([`OPERATOR_ONLY`])
//!   need the operator's;
//! - everything else under `/api/v1/admin`: the operator's key.
//!
//! Handlers take the outcome as an extractor ([`MuseumScope`],
//! [`OperatorScope`]); without the middleware in front they answer 500,
//! never unchecked.

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use secrecy::ExposeSecret;

use super::registry::Principal;
use crate::error::ApiError;
use crate::routes::auth::bearer_token;
use crate::state::AppState;

const ADMIN: &str = "/api/v1/admin";
const MUSEUMS: &str = "/api/v1/admin/museums/";

/// Routes under a museum that only the operator may call (the part after
/// `/museums/{museum}`).
pub const OPERATOR_ONLY: &[&str] = &["/gc"];

/// What the middleware decided for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Operator,
    /// A museum route, by a caller allowed to act for the museum.
    Museum {
        museum: String,
        operator: bool,
        /// Who acts, as the versions' history records it.
        by: String,
    },
}

/// The admin key's principal: the operator, or the museum its key belongs to.
fn principal(state: &AppState, req: &HttpRequest) -> Result<Principal, ApiError> {
    let operator = state.settings.admin.operator_key.expose_secret();
    if operator.is_empty() {
        return Err(ApiError::AdminDisabled);
    }
    let key = bearer_token(req).ok_or(ApiError::AdminKeyRequired)?;
    state.registry.authenticate(key, operator).ok_or(ApiError::AdminKeyRequired)
}

fn decide(state: &AppState, req: &HttpRequest) -> Result<Scope, ApiError> {
    let principal = principal(state, req)?;
    let is_operator = principal == Principal::Operator;
    let Some(rest) = req.path().strip_prefix(MUSEUMS) else {
        return if is_operator { Ok(Scope::Operator) } else { Err(ApiError::AdminForbidden) };
    };
    let (museum, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match &principal {
        Principal::Operator => {}
        // Its key was just found in the museum's profile: the museum exists.
        Principal::Museum(m) if m == museum && !OPERATOR_ONLY.contains(&tail) => {
            let by = bearer_token(req).map(|key| state.registry.describe_key(museum, key)).unwrap_or_default();
            return Ok(Scope::Museum { museum: museum.to_owned(), operator: false, by });
        }
        Principal::Museum(_) => return Err(ApiError::AdminForbidden),
    }
    // Ids are plain ASCII: a percent-encoded segment names no museum.
    match state.registry.profile(museum) {
        Ok(Some(_)) => Ok(Scope::Museum { museum: museum.to_owned(), operator: is_operator, by: "operator".into() }),
        Ok(None) => Err(ApiError::MuseumNotFound(museum.to_owned())),
        Err(e) => Err(ApiError::Internal(e.into())),
    }
}

/// The middleware: decides the scope of every admin request.
pub async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    let is_admin = path.strip_prefix(ADMIN).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if is_admin {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
        let scope = decide(&state, req.request())?;
        req.extensions_mut().insert(scope);
    }
    next.call(req).await
}

fn decided(req: &HttpRequest) -> Result<Scope, ApiError> {
    req.extensions()
        .get::<Scope>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("admin route {} outside the scope middleware", req.path())))
}

/// The caller may act for the museum in the path (its own key, or the
/// operator), and the museum exists.
#[derive(Debug, Clone)]
pub struct MuseumScope {
    museum: String,
    by: String,
}

impl MuseumScope {
    pub fn museum(&self) -> &str {
        &self.museum
    }

    /// Who acts: `operator`, or the museum key's id and label.
    pub fn by(&self) -> &str {
        &self.by
    }
}

impl FromRequest for MuseumScope {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match decided(req) {
            Ok(Scope::Museum { museum, by, .. }) => Ok(Self { museum, by }),
            Ok(Scope::Operator) => Err(ApiError::Internal(anyhow::anyhow!("{} has no museum", req.path()))),
            Err(e) => Err(e),
        })
    }
}

/// The caller holds the operator key.
#[derive(Debug, Clone, Copy)]
pub struct OperatorScope;

impl FromRequest for OperatorScope {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match decided(req) {
            Ok(Scope::Operator | Scope::Museum { operator: true, .. }) => Ok(Self),
            Ok(Scope::Museum { .. }) => Err(ApiError::AdminForbidden),
            Err(e) => Err(e),
        })
    }
}
