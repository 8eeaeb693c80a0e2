//! Structured logging with `tracing`; request ids come from `tracing-actix-web`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
use tracing_actix_web::RequestId;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; `APP_LOG_FORMAT=json` switches to JSON lines.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if std::env::var("APP_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already installed (tests start several apps in one process): keep the first.
    let _ = result;
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `f` as if serving request `id` (error bodies built inside carry it).
pub fn with_request_id<R>(id: String, f: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, f)
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Serves the request with its id (from `TracingLogger`, which must wrap
/// this) in scope, so `ApiError` bodies include it as they are built, and
/// adds the `x-request-id` header to every response, so a visitor's bug
/// report can be matched with the server's logs.
pub async fn request_id_scope<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let Some(id) = req.extensions().get::<RequestId>().map(ToString::to_string) else {
        return next.call(req).await;
    };
    let header = HeaderValue::from_str(&id).ok();
    match REQUEST_ID.scope(id.clone(), next.call(req)).await {
        Ok(mut res) => {
            if let Some(value) = header {
                res.headers_mut().insert(X_REQUEST_ID, value);
            }
            Ok(res)
        }
        // An error no inner service turned into a response (the request is
        // gone): render it now, with the id, for the dispatcher to send.
        Err(e) => {
            let mut response = with_request_id(id, || HttpResponse::from_error(e));
            if let Some(value) = header {
                response.headers_mut().insert(X_REQUEST_ID, value);
            }
            let cause = response.error().map(ToString::to_string).unwrap_or_default();
            Err(InternalError::from_response(cause, response).into())
        }
    }
}
