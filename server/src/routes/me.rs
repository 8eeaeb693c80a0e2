//! A logged-in visitor's history and favorites:
//! `GET|POST /api/v1/me/{history|favorites}`, `DELETE /api/v1/me/{list}/{exhibit}`.
//! Recognised exhibits are added to the history by `recognize` itself.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::require_visitor;
use crate::card::{ExhibitSummary, View, lang_param};
use crate::error::{ApiError, ok};
use crate::state::{AppState, Catalog};
use crate::visitors::List;
use recognizer::ExhibitKey;

fn list_param(name: &str) -> Result<List, ApiError> {
    match name {
        "history" => Ok(List::History),
        "favorites" => Ok(List::Favorites),
        _ => Err(ApiError::RouteNotFound),
    }
}

/// Largest `offset` of a list page (as documented in `openapi.json`).
const MAX_OFFSET: usize = 100_000;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    lang: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct Item {
    exhibit_id: String,
    /// The museum the exhibit belongs to (ids are unique within a museum);
    /// empty for an entry from before lists recorded museums whose exhibit
    /// no published museum has any more.
    museum: String,
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
    let view = View::new(&state, &req, lang_param(query.lang.as_deref())?);
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::InvalidParameter { name: "limit", reason: "from 1 to 100".into() });
    }
    let offset = query.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::InvalidParameter { name: "offset", reason: format!("from 0 to {MAX_OFFSET}") });
    }
    let visitor = require_visitor(&state, &req).await?;
    let catalog = state.catalog();
    let resolve = legacy_museum(&state, &catalog);
    let (entries, total) = state.visitors.list(which, &visitor.openid, offset, limit, resolver(&resolve)).await?;
    let items: Vec<Item> = entries
        .into_iter()
        .map(|e| {
            // An old entry no museum published when it was moved: shown with
            // the museum that publishes its id now, if one does.
            let key = match e.exhibit.museum.is_empty() {
                true => match museum_of(&catalog, &e.exhibit.id) {
                    Some(m) => ExhibitKey::new(m, e.exhibit.id),
                    None => e.exhibit,
                },
                false => e.exhibit,
            };
            Item {
                exhibit: catalog.exhibit(&key).map(|(b, r)| view.summary(b, r)),
                exhibit_id: key.id,
                museum: key.museum,
                at: e.at,
            }
        })
        .collect();
    Ok(ok(json!({ "items": items, "total": total })))
}

/// The museum a list entry written before lists recorded museums (a bare
/// id) belongs to: the published museum that has the id (the first by id
/// if several do, as those lists were shown).
fn museum_of(catalog: &Catalog, id: &str) -> Option<String> {
    catalog.museums_with(id).next().cloned()
}

/// [`museum_of`] as the visitor store's resolver for moving a legacy list,
/// only while every published museum is loaded.
pub fn legacy_museum<'a>(state: &AppState, catalog: &'a Catalog) -> Option<impl Fn(&str) -> Option<String> + 'a> {
    state.catalog_complete().then_some(move |id: &str| museum_of(catalog, id))
}

pub fn resolver<F: Fn(&str) -> Option<String>>(f: &Option<F>) -> crate::visitors::Resolver<'_> {
    f.as_ref().map(|f| f as &dyn Fn(&str) -> Option<String>)
}

#[derive(Debug, Deserialize)]
pub struct AddBody {
    exhibit_id: String,
    /// Needed when several museums use the id.
    #[serde(default, deserialize_with = "super::present")]
    museum: Option<String>,
}

#[post("/api/v1/me/{list}")]
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
    body: Result<super::JsonObject<AddBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let which = list_param(&name)?;
    let visitor = require_visitor(&state, &req).await?;
    let body = body.map_err(|e| ApiError::InvalidParameter {
        name: "body",
        reason: format!("expected {{\"exhibit_id\": \"...\", \"museum\": \"...\"}}: {e}"),
    })?;
    let catalog = state.ready_catalog()?;
    let key = catalog.resolve(body.museum.as_deref(), &body.exhibit_id)?;
    state.visitors.add(which, &visitor.openid, &key, resolver(&legacy_museum(&state, &catalog))).await?;
    Ok(ok(json!({ "added": key.id, "museum": key.museum })))
}

#[derive(Debug, Deserialize)]
pub struct RemoveQuery {
    /// The exhibit's museum; without it, the id is removed whatever its museum.
    museum: Option<String>,
}

#[delete("/api/v1/me/{list}/{exhibit}")]
pub async fn remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<RemoveQuery>,
) -> Result<HttpResponse, ApiError> {
    let (name, exhibit) = path.into_inner();
    let which = list_param(&name)?;
    let visitor = require_visitor(&state, &req).await?;
    let catalog = state.catalog();
    let museum = query.museum.as_deref().filter(|m| !m.is_empty());
    let removed = state
        .visitors
        .remove(which, &visitor.openid, museum, &exhibit, resolver(&legacy_museum(&state, &catalog)))
        .await?;
    Ok(ok(json!({ "removed": removed })))
}
