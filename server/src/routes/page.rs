//! The visitor web page: `GET /` and its script and style, embedded in the
//! binary (no build step, no separate web server). With `server.web_dir`
//! set (development), the files are read from that folder on each request
//! instead, so edits show without a rebuild.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use crate::state::AppState;

/// The page's files: (URL name, content type, embedded bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../../web/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../web/app.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../web/app.css")),
];

/// Scripts and styles only from this origin; pictures and audio also from
/// a CDN (`media_base_url`) and from the page's own resized photo (`blob:`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' https: data: blob:; media-src 'self' https: blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

#[get("/")]
pub async fn index(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    serve(&state, &req, "index.html").await
}

#[get("/{file:(app\\.js|app\\.css)}")]
pub async fn asset(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    serve(&state, &req, &file).await
}

async fn serve(state: &AppState, req: &HttpRequest, name: &str) -> HttpResponse {
    let Some(&(_, content_type, embedded)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return HttpResponse::NotFound().finish();
    };
    let body = match &state.settings.server.web_dir {
        Some(dir) => match tokio::fs::read(dir.join(name)).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(file = name, error = %e, "web_dir: serving the embedded copy");
                embedded.to_vec()
            }
        },
        None => embedded.to_vec(),
    };
    let etag = format!("\"{}\"", &recognizer::sha256_bytes(&body)[..16]);
    let fresh = super::not_modified(req, &etag);
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, etag))
        // Revalidated each time (cheap: 304), so a new release shows at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if fresh { response.finish() } else { response.content_type(content_type).body(body) }
}
