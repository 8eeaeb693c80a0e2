//! Museums and their exhibits: `GET /api/v1/museums`,
//! `GET /api/v1/museums/{id}/exhibits?q=&page=&page_size=&lang=`.

use actix_web::{HttpResponse, get, web};
use recognizer::ExhibitRecord;
use recognizer::bundle::LangText;
use serde::{Deserialize, Serialize};

use crate::card::{ExhibitSummary, lang_param, summary};
use crate::error::{ApiError, ok};
use crate::state::AppState;

pub const MAX_PAGE_SIZE: usize = 50;

#[derive(Debug, Serialize)]
struct Museum {
    id: String,
    /// The museum's name in the requested language (from its admin profile), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    exhibits: usize,
    /// Galleries in the requested language, in first-seen order.
    galleries: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
}

#[get("/api/v1/museums")]
pub async fn list_museums(state: web::Data<AppState>, query: web::Query<LangQuery>) -> Result<HttpResponse, ApiError> {
    let lang = lang_param(query.lang.as_deref())?;
    let catalog = state.ready_catalog()?;
    let mut museums: Vec<Museum> = Vec::new();
    for (id, bundle) in catalog.iter() {
        let name = state.registry.museum(id).ok().flatten().and_then(|p| crate::card::pick(&p.name, lang));
        let mut museum = Museum { id: id.clone(), name, exhibits: 0, galleries: Vec::new() };
        for record in bundle.exhibits() {
            museum.exhibits += 1;
            if let Some(g) = crate::card::pick(&record.gallery, lang)
                && !museum.galleries.contains(&g)
            {
                museum.galleries.push(g);
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

/// What a search looks in: title, maker, period, culture and accession
/// number, in every language the record has, lowercased, one field a line
/// (a query word holds no newline, so no match spans two fields). Built
/// once per exhibit when its bundle is loaded.
pub fn search_text(record: &ExhibitRecord) -> String {
    let texts = |t: &LangText| t.values().map(|s| s.to_lowercase()).collect::<Vec<_>>();
    let mut fields = texts(&record.title);
    fields.extend(texts(&record.maker));
    fields.extend(texts(&record.period));
    fields.extend(texts(&record.culture));
    fields.push(record.accession_number.to_lowercase());
    fields.join("\n")
}

/// Case-insensitive match of every word of `q` (lowercased) in an exhibit's [`search_text`].
pub fn matches(text: &str, words: &[String]) -> bool {
    words.iter().all(|w| text.contains(w.as_str()))
}

#[get("/api/v1/museums/{id}/exhibits")]
pub async fn list_exhibits(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ExhibitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = lang_param(query.lang.as_deref())?;
    let page = number("page", query.page.as_deref(), 1, 100_000)?;
    let page_size = number("page_size", query.page_size.as_deref(), 20, MAX_PAGE_SIZE)?;
    let q = query.q.as_deref().unwrap_or("");
    if q.chars().count() > 100 {
        return Err(ApiError::InvalidParameter { name: "q", reason: "at most 100 characters".into() });
    }
    let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    let catalog = state.ready_catalog()?;
    let bundle = catalog.museum(&id).ok_or_else(|| ApiError::MuseumNotFound(id.to_string()))?;
    let texts = catalog.search_texts(&id).unwrap_or_default();
    let found: Vec<&ExhibitRecord> =
        bundle.exhibits().iter().zip(texts).filter(|(_, t)| matches(t, &words)).map(|(e, _)| e).collect();
    let media = &state.settings.server.media_base_url;
    let items = found.iter().skip((page - 1) * page_size).take(page_size).map(|e| summary(e, lang, media)).collect();
    Ok(ok(Page { items, page, page_size, total: found.len() }))
}
