//! Admin routes the museum console (`/console`) is built on, open to any
//! client with the key like the rest of the admin API (the console has no
//! route of its own): one exhibit's stored record, "try a photo" with what
//! the recognizer saw, the collection's health, the museum's logo, and the
//! versions' details.
//!
//! Everything here reads: the served bundle, the museum's profile folder,
//! the bundles' manifests. Trying a photo runs behind the recognition
//! queue like a visitor's, and counts nowhere (no analytics, no history,
//! no cache).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use actix_multipart::form::MultipartForm;
use actix_multipart::form::tempfile::TempFile;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use recognizer::bundle::{self, BundleManifest};
use recognizer::{Bundle, Candidate, Crop, Decision};
use serde::Serialize;
use serde_json::json;

use super::audit::{self, Action};
use super::scope::MuseumScope;
use crate::card::{View, lang_param};
use crate::error::{ApiError, ok};
use crate::routes::recognize::{on_queue, render};
use crate::state::AppState;

/// Largest logo accepted.
pub const MAX_LOGO_BYTES: usize = 512 * 1024;

/// A catalog image with fewer ORB keypoints than this gives geometric
/// verification little to hold on to (images are described by up to 500).
pub const FEW_KEYPOINTS: usize = 150;

fn served(state: &AppState, museum: &str) -> Result<std::sync::Arc<Bundle>, ApiError> {
    state.catalog().museum(museum).cloned().ok_or_else(|| ApiError::NotPublished(museum.to_owned()))
}

/// `GET /api/v1/admin/museums/{museum}/exhibits/{id}`: the exhibit's record
/// as stored (every language), with its media's URLs, from the served version.
pub async fn exhibit(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (museum, id) = path.into_inner();
    let bundle = served(&state, &museum)?;
    let record = bundle.exhibit(&id).ok_or_else(|| ApiError::ExhibitNotFound(id.clone()))?;
    let view = View::new(&state, &req, lang_param(None)?);
    let url = |name: &str| format!("{}/{museum}/{name}", view.media_base());
    let media = bundle.media.exhibits.get(&id);
    let images: Vec<_> = media
        .map(|m| {
            m.images
                .iter()
                .map(|r| json!({ "source": r.source, "display_url": url(&r.display), "thumbnail_url": url(&r.thumbnail) }))
                .collect()
        })
        .unwrap_or_default();
    let audio: BTreeMap<&String, String> =
        media.map(|m| m.audio.iter().map(|(lang, name)| (lang, url(name))).collect()).unwrap_or_default();
    Ok(ok(json!({
        "version": bundle.version(),
        "record": record,
        "media": { "images": images, "audio": audio },
    })))
}

/// A tried photo: the photo and the answer's language, nothing else (the
/// museum is the path's).
#[derive(Debug, MultipartForm)]
#[multipart(deny_unknown_fields, duplicate_field = "deny")]
struct TryForm {
    file: Option<actix_multipart::form::bytes::Bytes>,
    lang: Option<actix_multipart::form::bytes::Bytes>,
}

/// One shortlisted exhibit as the console shows it.
#[derive(Debug, Serialize)]
struct Shortlisted {
    id: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail: Option<String>,
    score: f32,
    inliers: u32,
    /// Inliers this exhibit needs to count as seen (its own bar, if look-alikes raised it).
    inlier_bar: u32,
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    crop: Option<u32>,
}

/// `POST /api/v1/admin/museums/{museum}/try`: multipart `file` (and `lang`),
/// as a visitor sends it. Answers what the visitor would get (`answer`,
/// the recognize route's data) and what the recognizer saw (`diagnostics`:
/// the shortlist with similarity and inliers against each exhibit's bar,
/// the calibrated thresholds, the photo's windows and which one matched).
pub async fn try_photo(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    req: HttpRequest,
    museum: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Limited like a visitor's recognition, by the museum trying.
    let limits = &state.settings.limits;
    state.limiter.check("try-museum", &museum, limits.visitor_recognize_per_minute).await?;
    let upload_timeout = std::time::Duration::from_millis(limits.upload_timeout_ms);
    let limit = state.settings.server.max_upload_bytes;
    let read = MultipartForm::<TryForm>::from_request(&req, &mut payload.into_inner());
    let form = tokio::time::timeout(upload_timeout, read)
        .await
        .map_err(|_| ApiError::UploadTimeout)?
        .map_err(|e| crate::routes::recognize::multipart_error(&e, limit))?
        .into_inner();
    let file = form.file.ok_or(ApiError::MissingFile)?.data;
    if file.is_empty() {
        return Err(ApiError::EmptyFile);
    }
    let lang = crate::routes::recognize::text_part(form.lang, "lang")?;
    let view = View::new(&state, &req, lang_param(lang.as_deref())?);
    let catalog = state.ready_catalog()?;
    let bundle = catalog.museum(&museum).cloned().ok_or_else(|| ApiError::NotPublished(museum.to_string()))?;
    let (recognition, _) = on_queue(&state, vec![bundle.clone()], std::sync::Arc::new(file), None).await?;
    let answer = render(&catalog, &recognition, &view, Some(&museum), false);
    let cal = &bundle.manifest.calibration;
    let settings = state.recognizer.settings();
    let crops: Vec<Crop> = settings.crops.iter().chain(&settings.more_crops).copied().collect();
    let candidates: Vec<Shortlisted> = recognition
        .candidates
        .iter()
        .map(|c: &Candidate| {
            let summary = bundle.exhibit(&c.exhibit.id).map(|e| view.summary(&bundle, e));
            Shortlisted {
                id: c.exhibit.id.clone(),
                title: summary.as_ref().map_or_else(|| c.exhibit.id.clone(), |s| s.title.clone()),
                thumbnail: summary.and_then(|s| s.thumbnail),
                score: c.score,
                inliers: c.inliers,
                inlier_bar: cal.min_inliers_for(&c.exhibit.id),
                image: c.image.clone(),
                crop: c.crop,
            }
        })
        .collect();
    let best = recognition.candidates.first();
    let decided_by = match (&recognition.decision, best) {
        (Decision::Matched { .. }, Some(c)) if c.inliers >= cal.min_inliers_for(&c.exhibit.id) => "inliers",
        (Decision::Matched { .. }, Some(c)) if c.inliers > 0 => "inlier_lead",
        (Decision::Matched { .. }, _) => "similarity",
        _ => "none",
    };
    Ok(ok(json!({
        "answer": answer,
        "diagnostics": {
            "version": bundle.version(),
            "calibration": {
                "accept_score": cal.accept_score,
                "accept_margin": cal.accept_margin,
                "unknown_p50": cal.unknown_p50,
                "min_inliers": cal.min_inliers,
                "inlier_lead": cal.inlier_lead,
            },
            "closer_look": recognition.closer_look,
            "crops": crops.iter().map(|c| json!({ "left": c.left, "top": c.top, "width": c.width, "height": c.height })).collect::<Vec<_>>(),
            "candidates": candidates,
            "decided_by": decided_by,
        },
    })))
}

/// One thing that makes an exhibit hard to recognise, and what would help.
#[derive(Debug, Serialize, PartialEq)]
pub struct Problem {
    /// `look_alike`, `few_keypoints` or `single_view`.
    pub kind: &'static str,
    pub detail: String,
    pub advice: &'static str,
    /// The other exhibits involved (look-alikes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub with: Vec<String>,
}

/// What the calibration and the catalog's images (`views`: the exhibit's
/// entries in `bundle.vectors`) say about one exhibit.
pub fn problems(bundle: &Bundle, id: &str, views: &[usize]) -> Vec<Problem> {
    let cal = &bundle.manifest.calibration;
    let mut out = Vec::new();
    let confusers = cal.confusers_of(id);
    if !confusers.is_empty() {
        out.push(Problem {
            kind: "look_alike",
            detail: format!(
                "Simulated photos of {} matched this exhibit's keypoints, so a photo of it must reach {} inliers instead of {}.",
                confusers.join(", "),
                cal.min_inliers_for(id),
                cal.min_inliers
            ),
            advice: "Add a photo that shows what sets it apart (a detail, its label, another side). If they are copies of one work, say so in their descriptions.",
            with: confusers.to_vec(),
        });
    }
    if let Some(local) = &bundle.local {
        for &i in views {
            let n = local.keypoints_of(i);
            if n < FEW_KEYPOINTS {
                out.push(Problem {
                    kind: "few_keypoints",
                    detail: format!(
                        "Image {} has only {n} keypoints (a textured image has up to 500): plain, smooth, dark or blurred surfaces leave geometric verification little to hold on to.",
                        bundle.vectors[i].image
                    ),
                    advice: "Add a sharper, closer photo in even light that shows texture, decoration or an inscription.",
                    with: Vec::new(),
                });
            }
        }
    }
    if views.len() == 1 {
        out.push(Problem {
            kind: "single_view",
            detail: "The catalog has one image of it: a visitor standing elsewhere sees another side.".into(),
            advice: "Add photos from other angles (for objects in the round, every side a visitor sees) and one closer up of its most distinctive part.",
            with: Vec::new(),
        });
    }
    out
}

/// `GET /api/v1/admin/museums/{museum}/health`: the exhibits of the served
/// version that are hard to recognise, why, and what would help.
#[get("/api/v1/admin/museums/{museum}/health")]
pub async fn health(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    req: HttpRequest,
    museum: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let bundle = served(&state, &museum)?;
    let view = View::new(&state, &req, lang_param(None)?);
    let b = bundle.clone();
    let found: Vec<(String, Vec<Problem>)> = web::block(move || {
        // Each exhibit's views, in one pass over the catalog's images.
        let mut views: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, v) in b.vectors.iter().enumerate() {
            views.entry(v.exhibit.as_str()).or_default().push(i);
        }
        b.exhibits()
            .iter()
            .map(|e| (e.id.clone(), problems(&b, &e.id, views.get(e.id.as_str()).map_or(&[], Vec::as_slice))))
            .collect()
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let mut counts: BTreeMap<&str, usize> =
        ["look_alike", "few_keypoints", "single_view"].into_iter().map(|k| (k, 0)).collect();
    let mut findings = Vec::new();
    for (id, problems) in found.into_iter().filter(|(_, p)| !p.is_empty()) {
        // Exhibits with each kind of problem (an exhibit counted once per kind).
        let kinds: std::collections::BTreeSet<&str> = problems.iter().map(|p| p.kind).collect();
        for kind in kinds {
            *counts.entry(kind).or_default() += 1;
        }
        let summary = bundle.exhibit(&id).map(|e| view.summary(&bundle, e));
        findings.push(json!({
            "id": id,
            "title": summary.as_ref().map_or(id.as_str(), |s| s.title.as_str()),
            "thumbnail": summary.as_ref().and_then(|s| s.thumbnail.clone()),
            "problems": problems,
        }));
    }
    // The exhibits with most to fix first (a stable order otherwise).
    findings.sort_by_key(|f| std::cmp::Reverse(f["problems"].as_array().map_or(0, Vec::len)));
    let cal = &bundle.manifest.calibration;
    Ok(ok(json!({
        "version": bundle.version(),
        "exhibits": bundle.exhibits().len(),
        "images": bundle.vectors.len(),
        "calibration": { "simulated_top1": cal.simulated_top1, "queries": cal.queries },
        "counts": counts,
        "findings": findings,
    })))
}

/// The logo upload: one part, `logo`.
#[derive(Debug, MultipartForm)]
#[multipart(deny_unknown_fields, duplicate_field = "deny")]
struct LogoForm {
    logo: TempFile,
}

/// Where a museum's logo is kept (its type is read from its first bytes).
const LOGO_FILE: &str = "logo";

/// The content type of a logo's bytes: PNG, JPEG, WebP or GIF (no SVG: it can carry script).
pub fn logo_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [0xff, 0xd8, 0xff, ..] => Some("image/jpeg"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        _ => None,
    }
}

/// `PUT /api/v1/admin/museums/{museum}/logo`: multipart `logo`, a PNG, JPEG,
/// WebP or GIF of at most 512 KiB, replacing any logo before it.
pub async fn put_logo(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    req: HttpRequest,
    museum: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let form = MultipartForm::<LogoForm>::from_request(&req, &mut payload.into_inner())
        .await
        .map_err(|e| crate::routes::recognize::multipart_error(&e, MAX_LOGO_BYTES))?
        .into_inner();
    let dir = state.registry.museum_dir(&museum);
    let file = form.logo.file;
    web::block(move || {
        let bytes = std::fs::read(file.path()).map_err(|e| ApiError::Internal(e.into()))?;
        if bytes.is_empty() {
            return Err(ApiError::EmptyFile);
        }
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(ApiError::UploadTooLarge { limit: MAX_LOGO_BYTES });
        }
        if logo_type(&bytes).is_none() {
            return Err(ApiError::InvalidImage("a logo is a PNG, JPEG, WebP or GIF image".into()));
        }
        // Replaced by rename, as profiles are: a reader sees the old logo or the new one.
        super::registry::write_atomic(&dir.join(LOGO_FILE), &bytes).map_err(|e| ApiError::Internal(e.into()))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(ok(json!({ "logo_url": logo_url(&museum) })))
}

/// Where visitors and the console get a museum's logo.
pub fn logo_url(museum: &str) -> String {
    format!("/api/v1/museums/{museum}/logo")
}

/// Whether the museum has a logo.
pub fn has_logo(museum_dir: &Path) -> bool {
    museum_dir.join(LOGO_FILE).is_file()
}

/// `GET /api/v1/museums/{id}/logo` (public): the museum's logo.
#[get("/api/v1/museums/{id}/logo")]
pub async fn get_logo(
    state: web::Data<AppState>,
    req: HttpRequest,
    museum: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !bundle::valid_museum_id(&museum) {
        return Err(ApiError::LogoNotFound(museum.into_inner()));
    }
    let path = state.registry.museum_dir(&museum).join(LOGO_FILE);
    let bytes = tokio::fs::read(&path).await.map_err(|_| ApiError::LogoNotFound(museum.to_string()))?;
    let content_type = logo_type(&bytes).ok_or_else(|| ApiError::LogoNotFound(museum.to_string()))?;
    let etag = format!("\"{}\"", &recognizer::sha256_bytes(&bytes)[..32]);
    if crate::routes::not_modified(&req, &etag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::ETAG, etag))
        // It can change (a new upload): revalidated, cheaply.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes))
}

/// Each version's counts, model, calibration and history (who made it,
/// when and by whom it was last published), newest first.
pub fn version_details(museum_root: &Path, museum_dir: &Path, versions: &[String]) -> Vec<serde_json::Value> {
    let history = audit::read(museum_dir);
    let mut made: HashMap<&str, &audit::Entry> = HashMap::new();
    let mut published: HashMap<&str, &audit::Entry> = HashMap::new();
    for e in &history {
        match e.action {
            Action::Built | Action::Changed => made.insert(&e.version, e),
            Action::Published => published.insert(&e.version, e),
        };
    }
    let mut out: Vec<(String, serde_json::Value)> = versions
        .iter()
        .filter_map(|v| {
            let path = museum_root.join("versions").join(v).join(bundle::MANIFEST);
            let manifest: BundleManifest = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
            let cal = &manifest.calibration;
            let made = made.get(v.as_str());
            let last = published.get(v.as_str());
            let value = json!({
                "version": v,
                "created_at": manifest.created_at.to_rfc3339(),
                "created_by": made.map(|e| e.by.clone()),
                "change": made.map(|e| if e.action == Action::Built { "build" } else { "change" }),
                "exhibits": manifest.counts.exhibits,
                "vectors": manifest.counts.vectors,
                "model": manifest.model.id,
                "calibration": {
                    "queries": cal.queries,
                    "simulated_top1": cal.simulated_top1,
                    "accept_score": cal.accept_score,
                    "min_inliers": cal.min_inliers,
                    "genuine_p50": cal.genuine_p50,
                    "unknown_p95": cal.unknown_p95,
                },
                "published_at": last.map(|e| e.at.clone()),
                "published_by": last.map(|e| e.by.clone()),
            });
            Some((manifest.created_at.to_rfc3339(), value))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0));
    out.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logos_are_told_by_their_first_bytes_and_svg_is_refused() {
        assert_eq!(logo_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(logo_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(logo_type(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(logo_type(b"GIF89a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(logo_type(b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>"), None);
        assert_eq!(logo_type(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(logo_type(b""), None);
    }
}
