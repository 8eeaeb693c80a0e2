//! The one table of API errors: stable code, numeric `errcode`, HTTP status.
//!
//! Mini-program clients check `errcode` in the body (the WeChat convention);
//! proxies and monitoring read the HTTP status. Both are fixed per error here.
//! 5xx bodies are opaque; their cause is logged with the request id.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("expected multipart/form-data with the photo in field `file`")]
    NotMultipart,
    #[error("malformed multipart body: {0}")]
    BadMultipart(String),
    #[error("no `file` field in the upload")]
    MissingFile,
    #[error("the uploaded file is empty")]
    EmptyFile,
    #[error("upload is larger than {limit} bytes")]
    UploadTooLarge { limit: usize },
    #[error("the file is not an image we can read: {0}")]
    InvalidImage(String),
    #[error("image is {width}x{height} pixels, more than {max_pixels}")]
    ImageTooLarge { width: u32, height: u32, max_pixels: u64 },
    #[error("image is {width}x{height} pixels; at least {min_side} px on each side is needed")]
    ImageTooSmall { width: u32, height: u32, min_side: u32 },
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    #[error("no such route")]
    RouteNotFound,
    #[error("no exhibit with id `{0}`")]
    ExhibitNotFound(String),
    #[error("no recognition index is loaded yet")]
    NotReady,
    #[error("too many photos are being recognised; retry in a moment")]
    Busy,
    #[error("too many requests; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("log in first: send `Authorization: Bearer <token>` from POST /api/v1/session")]
    LoginRequired,
    #[error("the session token is unknown or expired; log in again")]
    SessionInvalid,
    #[error("the login code is invalid or expired; call wx.login() again")]
    LoginCodeInvalid,
    #[error("the login code was already used; call wx.login() again")]
    LoginCodeUsed,
    #[error("WeChat refused this login (high-risk user)")]
    LoginRefused,
    #[error("WeChat is rate-limiting logins; retry in a minute")]
    WechatRateLimited,
    #[error("WeChat could not be reached or is busy; retry in a moment")]
    WechatUnavailable,
    #[error("WeChat answered an error: {0}")]
    WechatError(String),
    #[error("the session store is unavailable; retry in a moment")]
    StoreUnavailable,
    #[error("the upload took too long")]
    UploadTimeout,
    #[error("recognition took too long; retry in a moment")]
    Timeout,
    #[error("no museum with id `{0}`")]
    MuseumNotFound(String),
    #[error("send an admin key: `Authorization: Bearer <key>`")]
    AdminKeyRequired,
    #[error("this key may not do that: museum keys reach only their own museum, operator routes need the operator key")]
    AdminForbidden,
    #[error("the admin API is off (no operator key configured)")]
    AdminDisabled,
    #[error("museum `{0}` exists already")]
    MuseumExists(String),
    #[error("museum `{museum}` is busy with job {job}; wait for it to finish")]
    JobConflict { museum: String, job: String },
    #[error("no job `{0}`")]
    JobNotFound(String),
    #[error("no import `{0}`")]
    ImportNotFound(String),
    #[error("no bundle version `{0}`")]
    VersionNotFound(String),
    #[error("{0}")]
    LifecycleRefused(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// (stable code, errcode, HTTP status). Never renumber: clients depend on these.
    pub fn parts(&self) -> (&'static str, i32, StatusCode) {
        use ApiError::*;
        match self {
            NotMultipart => ("not_multipart", 40010, StatusCode::UNSUPPORTED_MEDIA_TYPE),
            BadMultipart(_) => ("bad_multipart", 40011, StatusCode::BAD_REQUEST),
            MissingFile => ("missing_file", 40012, StatusCode::BAD_REQUEST),
            EmptyFile => ("empty_file", 40013, StatusCode::BAD_REQUEST),
            UploadTooLarge { .. } => ("upload_too_large", 40014, StatusCode::PAYLOAD_TOO_LARGE),
            InvalidImage(_) => ("invalid_image", 40015, StatusCode::UNPROCESSABLE_ENTITY),
            ImageTooLarge { .. } => ("image_too_large", 40016, StatusCode::PAYLOAD_TOO_LARGE),
            ImageTooSmall { .. } => ("image_too_small", 40017, StatusCode::UNPROCESSABLE_ENTITY),
            InvalidParameter { .. } => ("invalid_parameter", 40018, StatusCode::BAD_REQUEST),
            LoginCodeInvalid => ("login_code_invalid", 40019, StatusCode::BAD_REQUEST),
            LoginCodeUsed => ("login_code_used", 40020, StatusCode::BAD_REQUEST),
            LoginRequired => ("login_required", 40100, StatusCode::UNAUTHORIZED),
            SessionInvalid => ("session_invalid", 40101, StatusCode::UNAUTHORIZED),
            LoginRefused => ("login_refused", 40300, StatusCode::FORBIDDEN),
            ExhibitNotFound(_) => ("exhibit_not_found", 40400, StatusCode::NOT_FOUND),
            MuseumNotFound(_) => ("museum_not_found", 40402, StatusCode::NOT_FOUND),
            UploadTimeout => ("upload_timeout", 40800, StatusCode::REQUEST_TIMEOUT),
            RateLimited { .. } => ("rate_limited", 42900, StatusCode::TOO_MANY_REQUESTS),
            WechatRateLimited => ("wechat_rate_limited", 42901, StatusCode::TOO_MANY_REQUESTS),
            WechatUnavailable => ("wechat_unavailable", 50200, StatusCode::BAD_GATEWAY),
            WechatError(_) => ("wechat_error", 50201, StatusCode::BAD_GATEWAY),
            StoreUnavailable => ("store_unavailable", 50302, StatusCode::SERVICE_UNAVAILABLE),
            Timeout => ("timeout", 50400, StatusCode::GATEWAY_TIMEOUT),
            RouteNotFound => ("route_not_found", 40401, StatusCode::NOT_FOUND),
            NotReady => ("not_ready", 50300, StatusCode::SERVICE_UNAVAILABLE),
            Busy => ("busy", 50301, StatusCode::SERVICE_UNAVAILABLE),
            AdminKeyRequired => ("admin_key_required", 40102, StatusCode::UNAUTHORIZED),
            AdminForbidden => ("admin_forbidden", 40301, StatusCode::FORBIDDEN),
            AdminDisabled => ("admin_disabled", 40302, StatusCode::FORBIDDEN),
            MuseumExists(_) => ("museum_exists", 40900, StatusCode::CONFLICT),
            JobConflict { .. } => ("job_conflict", 40901, StatusCode::CONFLICT),
            LifecycleRefused(_) => ("lifecycle_refused", 40902, StatusCode::CONFLICT),
            JobNotFound(_) => ("job_not_found", 40403, StatusCode::NOT_FOUND),
            ImportNotFound(_) => ("import_not_found", 40404, StatusCode::NOT_FOUND),
            VersionNotFound(_) => ("version_not_found", 40405, StatusCode::NOT_FOUND),
            Internal(_) => ("internal", 50000, StatusCode::INTERNAL_SERVER_ERROR),
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
            e @ W::Rejected { .. } => {
                tracing::error!(error = %e, "wechat rejected a call (check appid/secret)");
                ApiError::WechatError(e.to_string())
            }
        }
    }
}

impl From<recognizer::Error> for ApiError {
    fn from(e: recognizer::Error) -> Self {
        match e {
            recognizer::Error::InvalidImage { reason } => ApiError::InvalidImage(reason),
            recognizer::Error::ImageTooLarge { width, height, max_pixels } => {
                ApiError::ImageTooLarge { width, height, max_pixels }
            }
            recognizer::Error::ImageTooSmall { width, height, min_side } => {
                ApiError::ImageTooSmall { width, height, min_side }
            }
            other => ApiError::Internal(other.into()),
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

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().2
    }

    fn error_response(&self) -> HttpResponse {
        let (code, errcode, status) = self.parts();
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error");
        }
        let mut response = HttpResponse::build(status);
        match self {
            ApiError::Busy | ApiError::NotReady | ApiError::StoreUnavailable | ApiError::WechatUnavailable => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            ApiError::RateLimited { retry_after_s } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_s)));
            }
            ApiError::WechatRateLimited => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("60")));
            }
            _ => {}
        }
        // The request id is filled in by `routes::attach_request_id`.
        response.json(Envelope::<()> {
            errcode,
            errmsg: self.to_string(),
            data: None,
            error: Some(code),
            request_id: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_match_their_class() {
        let all = [
            ApiError::NotMultipart,
            ApiError::BadMultipart(String::new()),
            ApiError::MissingFile,
            ApiError::EmptyFile,
            ApiError::UploadTooLarge { limit: 1 },
            ApiError::InvalidImage(String::new()),
            ApiError::ImageTooLarge { width: 1, height: 1, max_pixels: 1 },
            ApiError::ImageTooSmall { width: 1, height: 1, min_side: 1 },
            ApiError::InvalidParameter { name: "x", reason: String::new() },
            ApiError::ExhibitNotFound(String::new()),
            ApiError::RouteNotFound,
            ApiError::NotReady,
            ApiError::Busy,
            ApiError::RateLimited { retry_after_s: 1 },
            ApiError::LoginRequired,
            ApiError::SessionInvalid,
            ApiError::LoginCodeInvalid,
            ApiError::LoginCodeUsed,
            ApiError::LoginRefused,
            ApiError::WechatRateLimited,
            ApiError::WechatUnavailable,
            ApiError::WechatError(String::new()),
            ApiError::StoreUnavailable,
            ApiError::UploadTimeout,
            ApiError::Timeout,
            ApiError::MuseumNotFound(String::new()),
            ApiError::AdminKeyRequired,
            ApiError::AdminForbidden,
            ApiError::AdminDisabled,
            ApiError::MuseumExists(String::new()),
            ApiError::JobConflict { museum: String::new(), job: String::new() },
            ApiError::JobNotFound(String::new()),
            ApiError::ImportNotFound(String::new()),
            ApiError::VersionNotFound(String::new()),
            ApiError::LifecycleRefused(String::new()),
            ApiError::Internal(anyhow::anyhow!("x")),
        ];
        let mut codes = std::collections::HashSet::new();
        let mut errcodes = std::collections::HashSet::new();
        for e in &all {
            let (code, errcode, status) = e.parts();
            assert!(codes.insert(code) && errcodes.insert(errcode), "duplicate for {e:?}");
            assert_eq!(errcode / 10000, i32::from(status.as_u16() / 100), "{e:?}");
        }
    }
}
