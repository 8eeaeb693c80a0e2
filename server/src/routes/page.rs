//! The two web pages, embedded in the binary (no build step, no separate
//! web server): the visitor page (`GET /`, `server/web/`) and the museum
//! console (`GET /console`, `server/console/`, with its one vendored
//! library, uPlot, under `vendor/`). With `server.web_dir` set
//! (development), the files are read from that folder (the visitor page's)
//! or its sibling `console/` on each request instead, so edits show
//! without a rebuild.
//!
//! Both pages talk to the same JSON API a mini-program or `curl` uses: the
//! console holds the admin key in script and sends it as a bearer header,
//! so it has no cookie to forge (no CSRF) and no privileged path of its own.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use crate::state::AppState;

/// One embedded file: (URL name, content type, bytes).
type File = (&'static str, &'static str, &'static [u8]);

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The visitor page's files.
const VISITOR: &[File] = &[
    ("index.html", HTML, include_bytes!("../../web/index.html")),
    ("app.js", JS, include_bytes!("../../web/app.js")),
    ("photo.js", JS, include_bytes!("../../web/photo.js")),
    ("app.css", CSS, include_bytes!("../../web/app.css")),
];

/// The console's files.
const CONSOLE: &[File] = &[
    ("index.html", HTML, include_bytes!("../../console/index.html")),
    ("console.js", JS, include_bytes!("../../console/console.js")),
    // The visitor page's, so "Try a photo" sends what a visitor's browser sends.
    ("photo.js", JS, include_bytes!("../../web/photo.js")),
    ("console.css", CSS, include_bytes!("../../console/console.css")),
    ("vendor/uPlot.iife.min.js", JS, include_bytes!("../../console/vendor/uPlot.iife.min.js")),
    ("vendor/uPlot.min.css", CSS, include_bytes!("../../console/vendor/uPlot.min.css")),
];

/// Scripts and styles only from this origin; pictures and audio also from
/// a CDN (`media_base_url`) and from the page's own resized photo (`blob:`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' https: data: blob:; media-src 'self' https: blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The console's: as strict, and no form posts anywhere (every call is a
/// `fetch` with the key in a header).
pub const CONSOLE_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' https: data: blob:; media-src 'self' https: blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

#[get("/")]
pub async fn index(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    serve(&state, &req, Page::Visitor, "index.html").await
}

#[get("/{file:(app\\.js|app\\.css|photo\\.js)}")]
pub async fn asset(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    serve(&state, &req, Page::Visitor, &file).await
}

#[get("/console")]
pub async fn console(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    serve(&state, &req, Page::Console, "index.html").await
}

#[get("/console/{file:.*}")]
pub async fn console_asset(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let name = if file.is_empty() { "index.html" } else { file.as_str() };
    serve(&state, &req, Page::Console, name).await
}

#[derive(Debug, Clone, Copy)]
enum Page {
    Visitor,
    Console,
}

async fn serve(state: &AppState, req: &HttpRequest, page: Page, name: &str) -> HttpResponse {
    let (files, csp) = match page {
        Page::Visitor => (VISITOR, CONTENT_SECURITY_POLICY),
        Page::Console => (CONSOLE, CONSOLE_CONTENT_SECURITY_POLICY),
    };
    // Only the embedded names resolve, on disk too: no path from the URL
    // reaches the file system.
    let Some(&(name, content_type, embedded)) = files.iter().find(|(n, _, _)| *n == name) else {
        return HttpResponse::NotFound().finish();
    };
    let dir = state.settings.server.web_dir.as_ref().map(|dir| match page {
        Page::Console if name != "photo.js" => dir.parent().unwrap_or(dir).join("console"),
        _ => dir.clone(),
    });
    let body = match dir {
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
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if fresh { response.finish() } else { response.content_type(content_type).body(body) }
}
