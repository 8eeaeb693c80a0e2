//! `POST /api/v1/recognize`: the photo in multipart field `file` (as
//! `wx.uploadFile` sends it), optional text fields `museum` and `lang`.

use actix_multipart::form::bytes::Bytes;
use actix_multipart::form::{MultipartForm, MultipartFormConfig};
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use recognizer::{Decision, ExhibitKey, Recognition};
use serde::Serialize;

use std::time::Duration;

use super::auth::{client_ip, optional_visitor};
use crate::card::{View, lang_param};
use crate::error::{ApiError, ok};
use crate::routes::exhibits::ExhibitDetail;
use crate::sessions::Session;
use crate::state::{AppState, Catalog};
use crate::visitors::List;

/// What `wx.uploadFile` sends: the photo in `file`, `formData` fields as
/// text parts. Other fields are ignored (apps add their own); a repeated
/// field keeps its last value.
#[derive(Debug, MultipartForm)]
#[multipart(duplicate_field = "replace")]
struct UploadForm {
    file: Option<Bytes>,
    museum: Option<Bytes>,
    lang: Option<Bytes>,
}

/// What the upload carried.
#[derive(Debug, Default)]
pub struct Upload {
    pub file: Option<web::Bytes>,
    pub museum: Option<String>,
    pub lang: Option<String>,
}

/// Longest accepted text field.
const MAX_TEXT_FIELD: usize = 256;

/// The form's limits: the whole body (photo and fields) at most
/// `max_upload_bytes`, all of it in memory (the photo is decoded from memory).
pub fn form_config(max_upload_bytes: usize) -> MultipartFormConfig {
    MultipartFormConfig::default().total_limit(max_upload_bytes).memory_limit(max_upload_bytes)
}

/// The multipart extractor's errors as the API's.
pub fn multipart_error(e: &actix_web::Error, limit: usize) -> ApiError {
    use actix_multipart::MultipartError as M;
    match e.as_error::<M>() {
        Some(M::ContentTypeMissing | M::ContentTypeParse | M::ContentTypeIncompatible) => ApiError::NotMultipart,
        Some(M::Payload(actix_web::error::PayloadError::Overflow)) => ApiError::UploadTooLarge { limit },
        // A part that could not be stored (disk full, temp folder gone) is the server's fault.
        Some(M::Field { name, source }) if source.as_response_error().status_code().is_server_error() => {
            ApiError::Internal(anyhow::anyhow!("storing upload part `{name}`: {source}"))
        }
        Some(M::MissingField(part)) => {
            ApiError::InvalidParameter { name: "form field", reason: format!("missing part `{part}`") }
        }
        Some(M::UnknownField(part)) => ApiError::InvalidParameter {
            name: "form field",
            reason: format!("unknown part `{}`", part.chars().take(64).collect::<String>()),
        },
        Some(M::DuplicateField(part)) => {
            ApiError::InvalidParameter { name: "form field", reason: format!("part `{part}` sent twice") }
        }
        Some(other) => ApiError::BadMultipart(other.to_string()),
        None => ApiError::BadMultipart(e.to_string()),
    }
}

/// A multipart text field: at most [`MAX_TEXT_FIELD`] bytes of UTF-8, trimmed.
pub fn text_part(part: Option<Bytes>, name: &'static str) -> Result<Option<String>, ApiError> {
    let Some(part) = part else { return Ok(None) };
    if part.data.len() > MAX_TEXT_FIELD {
        return Err(ApiError::InvalidParameter { name: "form field", reason: format!("`{name}` is too long") });
    }
    String::from_utf8(part.data.to_vec())
        .map(|s| Some(s.trim().to_owned()))
        .map_err(|_| ApiError::InvalidParameter { name, reason: "not UTF-8".into() })
}

pub async fn read_upload(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<Upload, ApiError> {
    let form = MultipartForm::<UploadForm>::from_request(req, &mut payload.into_inner())
        .await
        .map_err(|e| multipart_error(&e, limit))?
        .into_inner();
    Ok(Upload {
        museum: text_part(form.museum, "museum")?.filter(|s| !s.is_empty()),
        lang: text_part(form.lang, "lang")?,
        file: form.file.map(|f| f.data),
    })
}

#[derive(Debug, Serialize)]
struct Alternative {
    id: String,
    museum: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail: Option<String>,
    score: f32,
}

#[derive(Debug, Serialize)]
pub struct RecognizeData {
    /// matched | ambiguous | no_match
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exhibit: Option<ExhibitDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f32>,
    /// Cosine similarity of the photo with the matched exhibit's best image.
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
    /// RANSAC inliers supporting the match (0: matched on similarity alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    inliers: Option<u32>,
    /// Other exhibits the photo could show, best first.
    alternatives: Vec<Alternative>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tips: Vec<&'static str>,
    bundle_version: String,
    cached: bool,
    timings_ms: recognizer::recognize::Timings,
}

#[post("/api/v1/recognize")]
pub async fn recognize(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Who is asking decides the rate limit: a visitor by session, else the IP.
    let visitor = optional_visitor(&state, &req).await?;
    let limits = &state.settings.limits;
    match &visitor {
        Some(v) => state.limiter.check("recognize-visitor", &v.openid, limits.visitor_recognize_per_minute).await?,
        None => {
            let ip = client_ip(&state, &req);
            state.limiter.check("recognize-ip", &ip, limits.anonymous_recognize_per_minute).await?
        }
    }
    let upload_timeout = Duration::from_millis(limits.upload_timeout_ms);
    let upload =
        tokio::time::timeout(upload_timeout, read_upload(&req, payload, state.settings.server.max_upload_bytes))
            .await
            .map_err(|_| ApiError::UploadTimeout)??;
    let file = upload.file.ok_or(ApiError::MissingFile)?;
    if file.is_empty() {
        return Err(ApiError::EmptyFile);
    }
    let view = View::new(&state, &req, lang_param(upload.lang.as_deref())?);
    let museum = upload.museum;
    let catalog = state.ready_catalog()?;
    // Scoped to the museum the visitor is in, or across every museum.
    let bundles = match &museum {
        Some(m) => vec![catalog.museum(m).ok_or_else(|| ApiError::MuseumNotFound(m.clone()))?.clone()],
        None => catalog.bundles(),
    };

    // The photo (up to 16 MB) is hashed once, off the async workers: now for
    // the cache key when the cache is on, else after recognition if nothing
    // matched (the analytics of missed photos).
    let photo = std::sync::Arc::new(file);
    let sha = match state.cache.enabled() {
        true => {
            let p = photo.clone();
            Some(web::block(move || recognizer::sha256_bytes(&p)).await.map_err(|e| ApiError::Internal(e.into()))?)
        }
        false => None,
    };
    let key = sha
        .as_deref()
        .map(|sha| state.cache.key(&recognizer::recognize::scope_label(&bundles), museum.as_deref(), sha));
    if let Some(key) = &key {
        if let Some(hit) = state.cache.get(key).await {
            state.metrics.cache.with_label_values(&["hit"]).inc();
            remember(&state, &catalog, visitor.as_ref(), &hit).await;
            return Ok(ok(render(&catalog, &hit, &view, museum.as_deref(), true)));
        }
        state.metrics.cache.with_label_values(&["miss"]).inc();
    }

    let (recognition, sha) = on_queue(&state, bundles, photo, sha).await?;
    let status = recognition.decision.status();
    tracing::info!(
        status,
        best = recognition.candidates.first().map(|c| tracing::field::display(&c.exhibit)),
        embed_ms = recognition.timings.embed_ms,
        verify_ms = recognition.timings.verify_ms,
        "recognized"
    );
    state.metrics.observe_stages(&recognition.timings);
    state.metrics.outcomes.with_label_values(&[status]).inc();
    // Best-effort writes, concurrently: one Redis round trip of waiting, not three.
    let cache_put = async {
        if let Some(key) = &key {
            state.cache.put(key, &recognition).await;
        }
    };
    futures_util::future::join3(
        cache_put,
        remember(&state, &catalog, visitor.as_ref(), &recognition),
        state.analytics.record(museum.as_deref(), &recognition, sha.as_deref()),
    )
    .await;
    Ok(ok(render(&catalog, &recognition, &view, museum.as_deref(), false)))
}

/// Recognises `photo` across `bundles` behind the bounded queue (503 when
/// full), one recognition per core at most, within the configured timeout;
/// also answers the photo's sha256 when it was given one (`sha`) or nothing
/// matched (the analytics of missed photos).
pub async fn on_queue(
    state: &web::Data<AppState>,
    bundles: Vec<std::sync::Arc<recognizer::Bundle>>,
    photo: std::sync::Arc<web::Bytes>,
    sha: Option<String>,
) -> Result<(Recognition, Option<String>), ApiError> {
    let permit = state.queue.clone().try_acquire_owned().map_err(|_| ApiError::Busy)?;
    let span = tracing::Span::current();
    let worker_state = state.clone();
    let running = state.running.clone();
    let job = async move {
        // Wait for a core; a request that times out meanwhile costs no CPU.
        let run = running.acquire_owned().await.map_err(|e| ApiError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || {
            // The permits are held until the work ends, even if the request
            // timed out: the queue bounds CPU work, not waiting clients.
            let _permits = (permit, run);
            let r = span.in_scope(|| worker_state.recognizer.recognize_across(&bundles, &photo));
            let missed = r.as_ref().is_ok_and(|r| matches!(r.decision, Decision::NoMatch { .. }));
            let sha = sha.or_else(|| missed.then(|| recognizer::sha256_bytes(&photo)));
            r.map(|r| (r, sha))
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))
    };
    tokio::time::timeout(Duration::from_millis(state.settings.limits.recognize_timeout_ms), job)
        .await
        .map_err(|_| ApiError::Timeout)??
        .map_err(ApiError::from_recognition)
}

/// A logged-in visitor's matched exhibit goes into their history. History is
/// a convenience: failing to record it must not fail the answer.
async fn remember(state: &AppState, catalog: &Catalog, visitor: Option<&Session>, r: &Recognition) {
    if let (Some(v), Decision::Matched { exhibit, .. }) = (visitor, &r.decision)
        && let Err(e) = state
            .visitors
            .add(List::History, &v.openid, exhibit, super::me::resolver(&super::me::legacy_museum(state, catalog)))
            .await
    {
        tracing::warn!(error = %e, "could not record history");
    }
}

/// Renders with the bundles the recognition ran on, even if others were published since.
pub fn render(catalog: &Catalog, r: &Recognition, view: &View, museum: Option<&str>, cached: bool) -> RecognizeData {
    // Every exhibit is looked up in the museum it came from.
    let lookup = |key: &ExhibitKey| catalog.exhibit(key).map(|(b, e)| view.summary(b, e));
    let (exhibit, confidence, reason) = match &r.decision {
        Decision::Matched { exhibit, confidence } => {
            (catalog.exhibit(exhibit).map(|(b, e)| ExhibitDetail::new(view, b, e)), Some(*confidence), None)
        }
        Decision::Ambiguous { .. } => (None, None, Some("several_exhibits_fit")),
        Decision::NoMatch { reason } => (
            None,
            None,
            Some(match reason {
                recognizer::recognize::NoMatchReason::EmptyCollection => "empty_collection",
                recognizer::recognize::NoMatchReason::LowSimilarity => "not_recognised",
            }),
        ),
    };
    let shown = match &r.decision {
        Decision::Matched { exhibit, .. } => Some(exhibit),
        _ => None,
    };
    let best = shown.and_then(|key| r.candidates.iter().find(|c| c.exhibit == *key));
    // An ambiguous answer's exhibits come first among the alternatives (each
    // with its museum), then the rest of the shortlist.
    let fits: &[ExhibitKey] = match &r.decision {
        Decision::Ambiguous { exhibits } => exhibits,
        _ => &[],
    };
    let score_of = |key: &ExhibitKey| r.candidates.iter().find(|c| c.exhibit == *key).map_or(0.0, |c| c.score);
    let alternatives = fits
        .iter()
        .chain(r.candidates.iter().map(|c| &c.exhibit).filter(|k| !fits.contains(k)))
        .filter(|k| shown != Some(*k))
        .take(fits.len().max(3))
        .filter_map(|key| {
            lookup(key).map(|summary| Alternative {
                id: key.id.clone(),
                museum: key.museum.clone(),
                title: summary.title,
                thumbnail: summary.thumbnail,
                score: score_of(key),
            })
        })
        .collect();
    RecognizeData {
        status: r.decision.status(),
        exhibit,
        confidence,
        score: best.map(|c| c.score),
        inliers: best.map(|c| c.inliers),
        alternatives,
        reason,
        tips: if matches!(r.decision, Decision::Matched { .. }) { Vec::new() } else { view.tips(museum) },
        bundle_version: r.bundle_version.clone(),
        cached,
        timings_ms: r.timings.clone(),
    }
}
