//! `GET /api/v1/exhibits/{id}`: an exhibit's card with related exhibits.

use actix_web::{HttpRequest, HttpResponse, get, web};
use recognizer::{Bundle, ExhibitRecord};
use serde::Serialize;

use crate::card::{ExhibitCard, ExhibitSummary, View, lang_param};
use crate::error::{ApiError, ok};
use crate::state::AppState;
use serde::Deserialize;

const RELATED: usize = 4;

#[derive(Debug, Serialize)]
pub struct ExhibitDetail {
    #[serde(flatten)]
    card: ExhibitCard,
    related_exhibits: Vec<ExhibitSummary>,
}

impl ExhibitDetail {
    /// The exhibit's card with its related exhibits.
    pub fn new(view: &View, bundle: &Bundle, record: &ExhibitRecord) -> Self {
        let related_exhibits = related(bundle, record).into_iter().map(|e| view.summary(bundle, e)).collect();
        Self { card: view.card(bundle, record), related_exhibits }
    }
}

/// The record's own `related` list first, then exhibits of the same museum
/// sharing its gallery, period or object type.
pub fn related<'a>(bundle: &'a Bundle, record: &ExhibitRecord) -> Vec<&'a ExhibitRecord> {
    let mut out: Vec<&ExhibitRecord> = record.related.iter().filter_map(|id| bundle.exhibit(id)).collect();
    let shares = |e: &ExhibitRecord| {
        (!record.gallery.is_empty() && e.gallery == record.gallery)
            || (!record.period.is_empty() && e.period == record.period)
            || (record.object_type.is_some() && e.object_type == record.object_type)
    };
    for e in bundle.exhibits() {
        if out.len() >= RELATED {
            break;
        }
        if e.id != record.id && e.museum == record.museum && shares(e) && !out.iter().any(|o| o.id == e.id) {
            out.push(e);
        }
    }
    out.truncate(RELATED);
    out
}

#[derive(Debug, Deserialize)]
pub struct ExhibitQuery {
    lang: Option<String>,
    /// The museum whose exhibit this is (ids are unique within a museum).
    museum: Option<String>,
}

#[get("/api/v1/exhibits/{id}")]
pub async fn get_exhibit(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<ExhibitQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = View::new(&state, &req, lang_param(query.lang.as_deref())?);
    let catalog = state.ready_catalog()?;
    let key = catalog.resolve(query.museum.as_deref(), &id)?;
    let (bundle, record) = catalog.exhibit(&key).ok_or_else(|| ApiError::ExhibitNotFound(id.into_inner()))?;
    Ok(ok(ExhibitDetail::new(&view, bundle, record)))
}
