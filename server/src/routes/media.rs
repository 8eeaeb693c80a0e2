//! `GET /media/{museum}/{file}`: the pictures and audio guides of the
//! version a museum serves (see `recognizer::bundle::MediaIndex`).
//!
//! A file name is its content's sha256, so a URL never changes meaning:
//! answers are `immutable` for a year, with a strong ETag (the hash) for
//! `If-None-Match`, and `Range` for audio players that seek. Only names in
//! the served version's media table resolve; anything else (another
//! museum's file, a path with `..`, a file of an older version) is a 404.

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, route, web};

use crate::error::ApiError;
use crate::state::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[route("/media/{museum}/{file}", method = "GET", method = "HEAD")]
pub async fn media(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (museum, file) = path.into_inner();
    let catalog = state.catalog();
    let not_found = || ApiError::MediaNotFound(museum.clone());
    let bundle = catalog.museum(&museum).ok_or_else(not_found)?;
    let (path, entry) = bundle.media.path(&bundle.dir, &file).ok_or_else(not_found)?;
    let etag = format!("\"{}\"", entry.sha256);
    let fresh = super::not_modified(&req, &etag);
    let mut response = if fresh {
        HttpResponse::NotModified().finish()
    } else {
        let named = NamedFile::open_async(&path).await.map_err(|e| {
            // Listed but missing: the version on disk is damaged.
            tracing::error!(museum, file, error = %e, "a media file of the served version is missing");
            not_found()
        })?;
        let content_type = entry.content_type.parse().unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
        named
            .set_content_type(content_type)
            .disable_content_disposition()
            .use_etag(false)
            .use_last_modified(false)
            .into_response(&req)
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A CDN or another origin's page may show these.
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Ok(response)
}
