//! Exhibit records as cards.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

use crate::card::{card, parse_lang};
use crate::error::{ApiError, ok};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

#[get("/api/v1/exhibits/{id}")]
pub async fn get_exhibit(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<LangQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = parse_lang(query.lang.as_deref())
        .ok_or_else(|| ApiError::InvalidParameter { name: "lang", reason: "use zh or en".into() })?;
    let bundle = state.bundle().ok_or(ApiError::NotReady)?;
    let record = bundle.exhibit(&id).ok_or_else(|| ApiError::ExhibitNotFound(id.into_inner()))?;
    Ok(ok(card(record, lang)))
}
