//! Museums and their exhibits: `GET /api/v1/museums`,
//! `GET /api/v1/museums/{id}/exhibits?q=&page=&page_size=&lang=`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use recognizer::ExhibitRecord;
use serde::{Deserialize, Serialize};

use crate::card::{ExhibitSummary, View, lang_param, pick};
use crate::error::{ApiError, ok};
use crate::state::AppState;

pub const MAX_PAGE_SIZE: usize = 50;

#[derive(Debug, Serialize)]
struct Museum {
    id: String,
    /// The museum's name in the requested language (from its admin profile), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// The language visitors get when they ask for none (its admin profile's).
    #[serde(skip_serializing_if = "Option::is_none")]
    default_lang: Option<String>,
    /// The languages its records have titles in, most used first.
    languages: Vec<String>,
    exhibits: usize,
    /// Galleries in the requested language, in first-seen order.
    galleries: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
}

#[get("/api/v1/museums")]
pub async fn list_museums(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<LangQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = View::new(&state, &req, lang_param(query.lang.as_deref())?);
    let catalog = state.ready_catalog()?;
    let mut museums: Vec<Museum> = Vec::new();
    for (id, bundle) in catalog.iter() {
        let chain = view.chain(id);
        let profile = state.registry.museum(id).ok().flatten();
        let name = profile.as_ref().and_then(|p| pick(&p.name, &chain)).map(|(_, n)| n.to_owned());
        let mut museum = Museum {
            id: id.clone(),
            name,
            default_lang: view.museum_default(id),
            languages: catalog.languages(id).to_vec(),
            exhibits: 0,
            galleries: Vec::new(),
        };
        for record in bundle.exhibits() {
            museum.exhibits += 1;
            if let Some((_, g)) = pick(&record.gallery, &chain)
                && !museum.galleries.iter().any(|have| have == g)
            {
                museum.galleries.push(g.to_owned());
            }
        }
        museums.push(museum);
    }
    Ok(ok(serde_json::json!({ "museums": museums })))
}

#[derive(Debug, Deserialize)]
pub struct ExhibitsQuery {
    q: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
    pub lang: Option<String>,
}

#[derive(Debug, Serialize)]
struct Page {
    items: Vec<ExhibitSummary>,
    page: usize,
    page_size: usize,
    total: usize,
}

fn number(name: &'static str, value: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(v) = value else { return Ok(default) };
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::InvalidParameter { name, reason: format!("a whole number from 1 to {max}") }),
    }
}

#[get("/api/v1/museums/{id}/exhibits")]
pub async fn list_exhibits(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<ExhibitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = View::new(&state, &req, lang_param(query.lang.as_deref())?);
    let page = number("page", query.page.as_deref(), 1, 100_000)?;
    let page_size = number("page_size", query.page_size.as_deref(), 20, MAX_PAGE_SIZE)?;
    let q = query.q.as_deref().unwrap_or("");
    if q.chars().count() > 100 {
        return Err(ApiError::InvalidParameter { name: "q", reason: "at most 100 characters".into() });
    }
    let catalog = state.ready_catalog()?;
    let bundle = catalog.museum(&id).ok_or_else(|| ApiError::MuseumNotFound(id.to_string()))?;
    let offset = (page - 1) * page_size;
    // No words: the collection in catalog order; else ranked, best first.
    let (found, total): (Vec<&ExhibitRecord>, usize) = match q.trim().is_empty() {
        true => (bundle.exhibits().iter().skip(offset).take(page_size).collect(), bundle.exhibits().len()),
        false => {
            // Off the async workers: a long pasted query costs milliseconds.
            let (c, museum, words) = (catalog.clone(), id.to_string(), q.to_owned());
            let hits = web::block(move || c.search(&museum).map(|index| index.search(&words, page_size, offset)))
                .await
                .map_err(|e| ApiError::Internal(e.into()))?
                .ok_or_else(|| ApiError::MuseumNotFound(id.to_string()))?
                .map_err(|e| ApiError::Internal(e.into()))?;
            (hits.ids.iter().filter_map(|(id, _)| bundle.exhibit(id)).collect(), hits.total)
        }
    };
    let items = found.into_iter().map(|e| view.summary(bundle, e)).collect();
    Ok(ok(Page { items, page, page_size, total }))
}
