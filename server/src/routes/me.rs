//! A logged-in visitor's history and favorites:
//! `GET|POST /api/v1/me/{history|favorites}`, `DELETE /api/v1/me/{list}/{exhibit}`.
//! Recognised exhibits are added to the history by `recognize` itself.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::require_visitor;
use crate::card::{ExhibitSummary, lang_param, summary};
use crate::error::{ApiError, ok};
use crate::state::AppState;
use crate::visitors::List;

fn list_param(name: &str) -> Result<List, ApiError> {
    match name {
        "history" => Ok(List::History),
        "favorites" => Ok(List::Favorites),
        _ => Err(ApiError::RouteNotFound),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    lang: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct Item {
    exhibit_id: String,
    /// Unix seconds when it was added.
    at: i64,
    /// Absent when the exhibit is no longer in the published collection
    /// (the entry is kept, not silently dropped).
    #[serde(skip_serializing_if = "Option::is_none")]
    exhibit: Option<ExhibitSummary>,
}

#[get("/api/v1/me/{list}")]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let which = list_param(&name)?;
    let lang = lang_param(query.lang.as_deref())?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::InvalidParameter { name: "limit", reason: "from 1 to 100".into() });
    }
    let visitor = require_visitor(&state, &req).await?;
    let (entries, total) = state.visitors.list(which, &visitor.openid, query.offset.unwrap_or(0), limit).await?;
    let catalog = state.catalog();
    let media = &state.settings.server.media_base_url;
    let items: Vec<Item> = entries
        .into_iter()
        .map(|e| Item {
            exhibit: catalog.exhibit(None, &e.exhibit).map(|(_, r)| summary(r, lang, media)),
            exhibit_id: e.exhibit,
            at: e.at,
        })
        .collect();
    Ok(ok(json!({ "items": items, "total": total })))
}

#[derive(Debug, Deserialize)]
pub struct AddBody {
    exhibit_id: String,
}

#[post("/api/v1/me/{list}")]
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
    body: Result<web::Json<AddBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let which = list_param(&name)?;
    let visitor = require_visitor(&state, &req).await?;
    let body = body.map_err(|e| ApiError::InvalidParameter {
        name: "body",
        reason: format!("expected {{\"exhibit_id\": \"...\"}}: {e}"),
    })?;
    let catalog = state.ready_catalog()?;
    if catalog.exhibit(None, &body.exhibit_id).is_none() {
        return Err(ApiError::ExhibitNotFound(body.exhibit_id.clone()));
    }
    state.visitors.add(which, &visitor.openid, &body.exhibit_id).await?;
    Ok(ok(json!({ "added": body.exhibit_id })))
}

#[delete("/api/v1/me/{list}/{exhibit}")]
pub async fn remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, exhibit) = path.into_inner();
    let which = list_param(&name)?;
    let visitor = require_visitor(&state, &req).await?;
    let removed = state.visitors.remove(which, &visitor.openid, &exhibit).await?;
    Ok(ok(json!({ "removed": removed })))
}
