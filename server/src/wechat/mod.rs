//! The WeChat server API, as a mini-program backend calls it.
//!
//! Only two calls are needed: `jscode2session` (login: the one-time `code`
//! from `wx.login()` for the visitor's `openid` and `session_key`) and
//! `stable_token` (the app's `access_token`). Both answer HTTP 200 with
//! `errcode`/`errmsg` on failure; `jscode2session` even sends its JSON as
//! `text/plain`, so bodies are parsed whatever their content type. The base URL
//! is configurable: development and tests point it at [`fake`].

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

pub mod fake;
pub mod token;

/// A secret (the app secret, the operator key): `secrecy`'s string, which
/// never prints (Debug shows `[REDACTED]`) and is zeroed when dropped; read
/// it with `ExposeSecret::expose_secret` where it is used.
pub type Secret = secrecy::SecretString;

/// What `jscode2session` returns for a valid code. `session_key` stays on the server.
#[derive(Clone, Deserialize, Serialize)]
pub struct Code2Session {
    pub openid: String,
    pub session_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
}

impl std::fmt::Debug for Code2Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code2Session").field("openid", &self.openid).finish_non_exhaustive()
    }
}

#[derive(Clone, Deserialize)]
pub struct AccessToken {
    pub access_token: String,
    pub expires_in: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// WeChat's documented error codes, and what reaching it cost.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    #[error("the login code is invalid or expired (40029)")]
    InvalidCode,
    #[error("the login code was already used (40163)")]
    CodeUsed,
    #[error("WeChat rate-limited the app (45011)")]
    RateLimited,
    #[error("WeChat refused a high-risk user (40226)")]
    HighRisk,
    #[error("WeChat is busy (-1), still after {attempts} attempts")]
    Busy { attempts: u32 },
    #[error("WeChat answered errcode {errcode}: {errmsg}")]
    Rejected { errcode: i64, errmsg: String },
    #[error("WeChat could not be reached: {0}")]
    Unreachable(String),
}

impl WechatError {
    fn from_errcode(errcode: i64, errmsg: String) -> Self {
        match errcode {
            40029 => Self::InvalidCode,
            40163 => Self::CodeUsed,
            45011 => Self::RateLimited,
            40226 => Self::HighRisk,
            -1 => Self::Busy { attempts: 1 },
            _ => Self::Rejected { errcode, errmsg },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WechatSettings {
    /// `https://api.weixin.qq.com` in production; the fake server's URL in development.
    pub base_url: String,
    pub appid: String,
    pub secret: Secret,
    /// Extra attempts when WeChat answers -1 (busy) or cannot be reached.
    pub retries: u32,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    settings: WechatSettings,
}

impl WechatClient {
    pub fn new(settings: WechatSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(settings.timeout_ms)).build()?;
        Ok(Self { http, settings })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url.trim_end_matches('/'))
    }

    /// Exchanges a `wx.login()` code for the visitor's identity.
    pub async fn code2session(&self, code: &str) -> Result<Code2Session, WechatError> {
        let s = &self.settings;
        let query = [
            ("appid", s.appid.as_str()),
            ("secret", s.secret.expose_secret()),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ];
        self.call(|| self.http.get(self.url("/sns/jscode2session")).query(&query)).await
    }

    /// The app's access token (`force_refresh: false` returns the current one while valid).
    pub async fn stable_token(&self, force_refresh: bool) -> Result<AccessToken, WechatError> {
        let s = &self.settings;
        let body = serde_json::json!({
            "grant_type": "client_credential",
            "appid": s.appid,
            "secret": s.secret.expose_secret(),
            "force_refresh": force_refresh,
        });
        self.call(|| self.http.post(self.url("/cgi-bin/stable_token")).json(&body)).await
    }

    /// Sends a request, retrying (bounded, with backoff) while WeChat is busy or unreachable.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, WechatError> {
        let attempts = self.settings.retries + 1;
        let mut last = WechatError::Busy { attempts };
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(4))).await;
            }
            match self.once::<T>(request()).await {
                Ok(v) => return Ok(v),
                Err(WechatError::Busy { .. }) => last = WechatError::Busy { attempts: attempt + 1 },
                Err(e @ WechatError::Unreachable(_)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn once<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, WechatError> {
        let response = request.send().await.map_err(|e| WechatError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| WechatError::Unreachable(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(WechatError::Unreachable(format!("HTTP {status}")));
        }
        let unreadable =
            |e: serde_json::Error| WechatError::Rejected { errcode: 0, errmsg: format!("unreadable answer: {e}") };
        // `errcode` is absent or 0 on success, non-zero on failure.
        let answer: serde_json::Value = serde_json::from_slice(&body).map_err(unreadable)?;
        let errcode = answer.get("errcode").and_then(serde_json::Value::as_i64).unwrap_or(0);
        if errcode != 0 {
            let errmsg = answer.get("errmsg").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
            return Err(WechatError::from_errcode(errcode, errmsg));
        }
        serde_json::from_value(answer).map_err(unreadable)
    }
}
