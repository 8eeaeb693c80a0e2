//! The one table of API errors: stable code, numeric `errcode`, HTTP status
//! and `Retry-After`, declared once in [`api_errors!`] below, which generates
//! the enum, its mapping and [`ALL_CODES`] (the list tests and `openapi.json`
//! are checked against).
//!
//! Mini-program clients check `errcode` in the body (the WeChat convention);
//! proxies and monitoring read the HTTP status. Both are fixed per error here.
//! 5xx bodies are opaque: their messages are fixed texts, and the cause
//! (upstream answers, OpenCV/ONNX/FAISS failures, I/O) is logged with the
//! request id instead.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// One row of the error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// Stable string code (`error` in the body); never renamed.
    pub code: &'static str,
    /// Numeric code (`errcode` in the body); never renumbered. Its first
    /// digit is the HTTP status class.
    pub errcode: i32,
    pub status: StatusCode,
}

/// Declares every API error once: its variant (with its `thiserror`
/// message), stable code, errcode, HTTP status and, where the client should
/// come back later, `Retry-After` (fixed seconds, or a `u64` field).
///
/// 5xx messages must not interpolate fields: their `errmsg` reaches the
/// client (a test checks it); put the cause in a `#[source]` field instead.
macro_rules! api_errors {
    ($(
        $(#[$attr:meta])*
        $variant:ident $(( $($tuple:tt)* ))? $({ $($named:tt)* })?
            => $code:literal, $errcode:literal, $status:ident
            $(, retry_after = $secs:literal)? $(, retry_after_field = $field:ident)?;
    )*) => {
        #[derive(Debug, thiserror::Error)]
        pub enum ApiError {
            $( $(#[$attr])* $variant $(( $($tuple)* ))? $({ $($named)* })?, )*
        }

        /// Every error of the API, in table order.
        pub const ALL_CODES: &[ErrorCode] = &[
            $( ErrorCode { code: $code, errcode: $errcode, status: StatusCode::$status }, )*
        ];

        impl ApiError {
            /// This error's row of the table.
            pub fn error_code(&self) -> ErrorCode {
                match self {
                    $( Self::$variant { .. } => ErrorCode { code: $code, errcode: $errcode, status: StatusCode::$status }, )*
                }
            }

            /// Seconds for the `Retry-After` header, for errors worth retrying later.
            pub fn retry_after(&self) -> Option<u64> {
                match self {
                    $( Self::$variant { $($field,)? .. } => api_errors!(@retry $($secs)? $(field $field)?), )*
                }
            }
        }
    };
    (@retry) => { None };
    (@retry $secs:literal) => { Some($secs) };
    (@retry field $field:ident) => { Some(u64::from(*$field)) };
}

api_errors! {
    #[error("expected multipart/form-data with the photo in field `file`")]
    NotMultipart => "not_multipart", 40010, UNSUPPORTED_MEDIA_TYPE;
    #[error("malformed multipart body: {0}")]
    BadMultipart(String) => "bad_multipart", 40011, BAD_REQUEST;
    #[error("no `file` field in the upload")]
    MissingFile => "missing_file", 40012, BAD_REQUEST;
    #[error("the uploaded file is empty")]
    EmptyFile => "empty_file", 40013, BAD_REQUEST;
    #[error("upload is larger than {limit} bytes")]
    UploadTooLarge { limit: usize } => "upload_too_large", 40014, PAYLOAD_TOO_LARGE;
    #[error("the file is not an image we can read: {0}")]
    InvalidImage(String) => "invalid_image", 40015, UNPROCESSABLE_ENTITY;
    #[error("image is {width}x{height} pixels, more than {max_pixels}")]
    ImageTooLarge { width: u32, height: u32, max_pixels: u64 } => "image_too_large", 40016, PAYLOAD_TOO_LARGE;
    #[error("image is {width}x{height} pixels; at least {min_side} px on each side is needed")]
    ImageTooSmall { width: u32, height: u32, min_side: u32 } => "image_too_small", 40017, UNPROCESSABLE_ENTITY;
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String } => "invalid_parameter", 40018, BAD_REQUEST;
    #[error("the login code is invalid or expired; call wx.login() again")]
    LoginCodeInvalid => "login_code_invalid", 40019, BAD_REQUEST;
    #[error("the login code was already used; call wx.login() again")]
    LoginCodeUsed => "login_code_used", 40020, BAD_REQUEST;
    #[error("log in first: send `Authorization: Bearer <token>` from POST /api/v1/session")]
    LoginRequired => "login_required", 40100, UNAUTHORIZED;
    #[error("the session token is unknown or expired; log in again")]
    SessionInvalid => "session_invalid", 40101, UNAUTHORIZED;
    #[error("send an admin key: `Authorization: Bearer <key>`")]
    AdminKeyRequired => "admin_key_required", 40102, UNAUTHORIZED;
    #[error("WeChat refused this login (high-risk user)")]
    LoginRefused => "login_refused", 40300, FORBIDDEN;
    #[error("this key may not do that: museum keys reach only their own museum, operator routes need the operator key")]
    AdminForbidden => "admin_forbidden", 40301, FORBIDDEN;
    #[error("the admin API is off (no operator key configured)")]
    AdminDisabled => "admin_disabled", 40302, FORBIDDEN;
    #[error("no exhibit with id `{0}`")]
    ExhibitNotFound(String) => "exhibit_not_found", 40400, NOT_FOUND;
    #[error("no such route")]
    RouteNotFound => "route_not_found", 40401, NOT_FOUND;
    #[error("no museum with id `{0}`")]
    MuseumNotFound(String) => "museum_not_found", 40402, NOT_FOUND;
    #[error("no job `{0}`")]
    JobNotFound(String) => "job_not_found", 40403, NOT_FOUND;
    #[error("no import `{0}`")]
    ImportNotFound(String) => "import_not_found", 40404, NOT_FOUND;
    #[error("no bundle version `{0}`")]
    VersionNotFound(String) => "version_not_found", 40405, NOT_FOUND;
    #[error("museum `{0}` serves no media file of that name")]
    MediaNotFound(String) => "media_not_found", 40406, NOT_FOUND;
    #[error("museum `{0}` has no published version yet: import records and build one first")]
    NotPublished(String) => "not_published", 40407, NOT_FOUND;
    #[error("museum `{0}` has no logo")]
    LogoNotFound(String) => "logo_not_found", 40408, NOT_FOUND;
    /// A documented route called with a method it does not take; `Allow` lists those it does.
    #[error("this route does not take that method; it takes {allow}")]
    MethodNotAllowed { allow: String } => "method_not_allowed", 40500, METHOD_NOT_ALLOWED;
    #[error("the upload took too long")]
    UploadTimeout => "upload_timeout", 40800, REQUEST_TIMEOUT;
    #[error("museum `{0}` exists already")]
    MuseumExists(String) => "museum_exists", 40900, CONFLICT;
    #[error("museum `{museum}` is busy with job {job}; wait for it to finish")]
    JobConflict { museum: String, job: String } => "job_conflict", 40901, CONFLICT;
    #[error("{0}")]
    LifecycleRefused(String) => "lifecycle_refused", 40902, CONFLICT;
    #[error("too many requests; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 } => "rate_limited", 42900, TOO_MANY_REQUESTS,
        retry_after_field = retry_after_s;
    #[error("WeChat is rate-limiting logins; retry in a minute")]
    WechatRateLimited => "wechat_rate_limited", 42901, TOO_MANY_REQUESTS, retry_after = 60;
    /// A bug or an unexpected failure of ours (I/O, a panicked task, ...).
    #[error("internal error")]
    Internal(#[source] anyhow::Error) => "internal", 50000, INTERNAL_SERVER_ERROR;
    /// The recognizer failed at run time (OpenCV, ONNX Runtime, FAISS, a
    /// bundle read): the photo itself was fine.
    #[error("recognition failed; retry in a moment")]
    RecognitionFailed(#[source] recognizer::Error) => "recognition_failed", 50001, INTERNAL_SERVER_ERROR;
    #[error("WeChat could not be reached or is busy; retry in a moment")]
    WechatUnavailable => "wechat_unavailable", 50200, BAD_GATEWAY, retry_after = 1;
    /// WeChat refused one of our calls (wrong appid/secret, ...); its answer is logged.
    #[error("WeChat answered an error")]
    WechatError(#[source] crate::wechat::WechatError) => "wechat_error", 50201, BAD_GATEWAY;
    #[error("no recognition index is loaded yet")]
    NotReady => "not_ready", 50300, SERVICE_UNAVAILABLE, retry_after = 1;
    #[error("too many photos are being recognised; retry in a moment")]
    Busy => "busy", 50301, SERVICE_UNAVAILABLE, retry_after = 1;
    #[error("the session store is unavailable; retry in a moment")]
    StoreUnavailable => "store_unavailable", 50302, SERVICE_UNAVAILABLE, retry_after = 1;
    #[error("recognition took too long; retry in a moment")]
    Timeout => "timeout", 50400, GATEWAY_TIMEOUT;
}

impl ApiError {
    /// A recognizer failure: only what is wrong with the photo is the
    /// client's error; everything else failed on our side.
    pub fn from_recognition(e: recognizer::Error) -> Self {
        match e {
            recognizer::Error::InvalidImage { reason } => ApiError::InvalidImage(reason),
            recognizer::Error::ImageTooLarge { width, height, max_pixels } => {
                ApiError::ImageTooLarge { width, height, max_pixels }
            }
            recognizer::Error::ImageTooSmall { width, height, min_side } => {
                ApiError::ImageTooSmall { width, height, min_side }
            }
            other => ApiError::RecognitionFailed(other),
        }
    }
}

impl From<crate::wechat::WechatError> for ApiError {
    fn from(e: crate::wechat::WechatError) -> Self {
        use crate::wechat::WechatError as W;
        match e {
            W::InvalidCode => ApiError::LoginCodeInvalid,
            W::CodeUsed => ApiError::LoginCodeUsed,
            W::HighRisk => ApiError::LoginRefused,
            W::RateLimited => ApiError::WechatRateLimited,
            e @ (W::Busy { .. } | W::Unreachable(_)) => {
                tracing::warn!(error = %e, "wechat unavailable");
                ApiError::WechatUnavailable
            }
            // Logged (with the request id) when the response is built.
            e @ W::Rejected { .. } => ApiError::WechatError(e),
        }
    }
}

/// The envelope every answer uses: `{errcode, errmsg, data}` or, on error,
/// `{errcode, errmsg, error, request_id}`.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    pub errcode: i32,
    pub errmsg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A successful answer.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        errcode: 0,
        errmsg: "ok".into(),
        data: Some(data),
        error: None,
        request_id: None,
    })
}

/// An error and its causes, `: `-separated, for the logs.
struct Chain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.error_code().status
    }

    fn error_response(&self) -> HttpResponse {
        let ErrorCode { code, errcode, status } = self.error_code();
        // Set by `telemetry::request_id_scope` around every request.
        let request_id = crate::telemetry::request_id();
        // 5xx messages are fixed texts (see `api_errors!`); what went wrong stays here.
        if let Some(cause) = std::error::Error::source(self) {
            let id = request_id.as_deref().unwrap_or("-");
            if status.is_server_error() {
                tracing::error!(request_id = id, error = code, cause = %Chain(cause), "request failed");
            } else {
                tracing::debug!(request_id = id, error = code, cause = %Chain(cause), "request refused");
            }
        }
        let mut response = HttpResponse::build(status);
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        if let Self::MethodNotAllowed { allow } = self
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            response.insert_header((header::ALLOW, value));
        }
        response.json(Envelope::<()> { errcode, errmsg: self.to_string(), data: None, error: Some(code), request_id })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use actix_web::body::MessageBody;

    use super::*;

    /// One of each variant, with fields that must never reach a 5xx body.
    fn one_of_each() -> Vec<ApiError> {
        let leak = || "LEAK-upstream-detail".to_owned();
        vec![
            ApiError::NotMultipart,
            ApiError::BadMultipart(leak()),
            ApiError::MissingFile,
            ApiError::EmptyFile,
            ApiError::UploadTooLarge { limit: 1 },
            ApiError::InvalidImage(leak()),
            ApiError::ImageTooLarge { width: 1, height: 1, max_pixels: 1 },
            ApiError::ImageTooSmall { width: 1, height: 1, min_side: 1 },
            ApiError::InvalidParameter { name: "x", reason: leak() },
            ApiError::LoginCodeInvalid,
            ApiError::LoginCodeUsed,
            ApiError::LoginRequired,
            ApiError::SessionInvalid,
            ApiError::AdminKeyRequired,
            ApiError::LoginRefused,
            ApiError::AdminForbidden,
            ApiError::AdminDisabled,
            ApiError::ExhibitNotFound(leak()),
            ApiError::RouteNotFound,
            ApiError::MuseumNotFound(leak()),
            ApiError::JobNotFound(leak()),
            ApiError::ImportNotFound(leak()),
            ApiError::VersionNotFound(leak()),
            ApiError::MediaNotFound(leak()),
            ApiError::NotPublished(leak()),
            ApiError::LogoNotFound(leak()),
            ApiError::MethodNotAllowed { allow: "GET, POST".into() },
            ApiError::UploadTimeout,
            ApiError::MuseumExists(leak()),
            ApiError::JobConflict { museum: leak(), job: leak() },
            ApiError::LifecycleRefused(leak()),
            ApiError::RateLimited { retry_after_s: 7 },
            ApiError::WechatRateLimited,
            ApiError::Internal(anyhow::anyhow!(leak())),
            ApiError::RecognitionFailed(recognizer::Error::Runtime(leak())),
            ApiError::WechatUnavailable,
            ApiError::WechatError(crate::wechat::WechatError::Rejected { errcode: 40013, errmsg: leak() }),
            ApiError::NotReady,
            ApiError::Busy,
            ApiError::StoreUnavailable,
            ApiError::Timeout,
        ]
    }

    #[test]
    fn codes_and_errcodes_are_unique_and_errcodes_match_their_status_class() {
        let mut codes = HashSet::new();
        let mut errcodes = HashSet::new();
        for c in ALL_CODES {
            assert!(codes.insert(c.code), "duplicate code {c:?}");
            assert!(errcodes.insert(c.errcode), "duplicate errcode {c:?}");
            assert_eq!(c.errcode / 10000, i32::from(c.status.as_u16() / 100), "{c:?}");
            assert!(c.status.is_client_error() || c.status.is_server_error(), "{c:?}");
        }
    }

    #[test]
    fn the_samples_cover_the_whole_table() {
        let sampled: Vec<ErrorCode> = one_of_each().iter().map(ApiError::error_code).collect();
        assert_eq!(sampled, ALL_CODES, "one_of_each() must list every variant, in table order");
    }

    /// Clients depend on these: never change one.
    #[test]
    fn published_codes_are_stable() {
        let expected: &[(&str, i32, u16)] = &[
            ("not_multipart", 40010, 415),
            ("bad_multipart", 40011, 400),
            ("missing_file", 40012, 400),
            ("empty_file", 40013, 400),
            ("upload_too_large", 40014, 413),
            ("invalid_image", 40015, 422),
            ("image_too_large", 40016, 413),
            ("image_too_small", 40017, 422),
            ("invalid_parameter", 40018, 400),
            ("login_code_invalid", 40019, 400),
            ("login_code_used", 40020, 400),
            ("login_required", 40100, 401),
            ("session_invalid", 40101, 401),
            ("admin_key_required", 40102, 401),
            ("login_refused", 40300, 403),
            ("admin_forbidden", 40301, 403),
            ("admin_disabled", 40302, 403),
            ("exhibit_not_found", 40400, 404),
            ("route_not_found", 40401, 404),
            ("museum_not_found", 40402, 404),
            ("job_not_found", 40403, 404),
            ("import_not_found", 40404, 404),
            ("version_not_found", 40405, 404),
            ("method_not_allowed", 40500, 405),
            ("upload_timeout", 40800, 408),
            ("museum_exists", 40900, 409),
            ("job_conflict", 40901, 409),
            ("lifecycle_refused", 40902, 409),
            ("rate_limited", 42900, 429),
            ("wechat_rate_limited", 42901, 429),
            ("internal", 50000, 500),
            ("wechat_unavailable", 50200, 502),
            ("wechat_error", 50201, 502),
            ("not_ready", 50300, 503),
            ("busy", 50301, 503),
            ("store_unavailable", 50302, 503),
            ("timeout", 50400, 504),
        ];
        for &(code, errcode, status) in expected {
            let row = ALL_CODES.iter().find(|c| c.code == code).unwrap_or_else(|| panic!("{code} is gone"));
            assert_eq!((row.errcode, row.status.as_u16()), (errcode, status), "{code}");
        }
    }

    #[test]
    fn openapi_error_schema_lists_exactly_the_table() {
        let doc: serde_json::Value = serde_json::from_str(crate::routes::ops::OPENAPI).unwrap();
        let documented: Vec<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
            .as_array()
            .expect("Error.error has an enum")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let table: Vec<&str> = ALL_CODES.iter().map(|c| c.code).collect();
        assert_eq!(documented, table, "server/openapi.json's Error.error enum must equal ALL_CODES, in order");
    }

    fn body(e: &ApiError) -> (u16, Option<String>, serde_json::Value) {
        let response = e.error_response();
        let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
        let status = response.status().as_u16();
        let bytes = match response.into_body().try_into_bytes() {
            Ok(b) => b,
            Err(_) => panic!("error bodies are built whole"),
        };
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn server_errors_are_opaque_and_client_errors_explain() {
        for e in one_of_each() {
            let (status, _, body) = body(&e);
            let c = e.error_code();
            assert_eq!(
                (status, body["errcode"].as_i64(), body["error"].as_str()),
                (c.status.as_u16(), Some(i64::from(c.errcode)), Some(c.code))
            );
            let errmsg = body["errmsg"].as_str().unwrap();
            assert!(!errmsg.is_empty(), "{e:?}");
            if c.status.is_server_error() {
                assert!(!body.to_string().contains("LEAK"), "5xx bodies are opaque: {body}");
            }
        }
        let (_, _, body) = body(&ApiError::MuseumNotFound("m-x".into()));
        assert!(body["errmsg"].as_str().unwrap().contains("m-x"), "{body}");
    }

    #[test]
    fn retry_after_is_sent_where_the_table_says() {
        let with: Vec<(&str, Option<String>)> =
            one_of_each().iter().map(|e| (e.error_code().code, body(e).1)).filter(|(_, r)| r.is_some()).collect();
        let expected = [
            ("rate_limited", Some("7".to_owned())),
            ("wechat_rate_limited", Some("60".to_owned())),
            ("wechat_unavailable", Some("1".to_owned())),
            ("not_ready", Some("1".to_owned())),
            ("busy", Some("1".to_owned())),
            ("store_unavailable", Some("1".to_owned())),
        ];
        assert_eq!(with, expected);
    }

    #[test]
    fn method_not_allowed_says_which_methods_the_route_takes() {
        let response = ApiError::MethodNotAllowed { allow: "GET, DELETE".into() }.error_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers().get(header::ALLOW).unwrap(), "GET, DELETE");
        let (_, _, body) = body(&ApiError::MethodNotAllowed { allow: "GET".into() });
        assert_eq!((body["errcode"].as_i64(), body["error"].as_str()), (Some(40500), Some("method_not_allowed")));
    }

    #[test]
    fn only_undecodable_photos_are_the_clients_fault() {
        let code = |e| ApiError::from_recognition(e).error_code().code;
        assert_eq!(code(recognizer::Error::InvalidImage { reason: "x".into() }), "invalid_image");
        assert_eq!(code(recognizer::Error::ImageTooSmall { width: 1, height: 1, min_side: 2 }), "image_too_small");
        assert_eq!(code(recognizer::Error::Runtime("opencv: x".into())), "recognition_failed");
        assert_eq!(code(recognizer::Error::Faiss("x".into())), "recognition_failed");
    }

    #[test]
    fn the_request_id_in_scope_goes_into_the_body() {
        let e = ApiError::NotReady;
        let (_, _, scoped) = crate::telemetry::with_request_id("req-42".into(), || body(&e));
        assert_eq!(scoped["request_id"], "req-42");
        assert!(body(&e).2.get("request_id").is_none());
    }
}
