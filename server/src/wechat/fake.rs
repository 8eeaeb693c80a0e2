//! A local stand-in for the WeChat server API (`api.weixin.qq.com`), which
//! cannot be reached from development machines or CI.
//!
//! It speaks the documented protocol of the two calls the backend makes:
//! - `GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`
//!   answers `{openid, session_key[, unionid]}` as `text/plain` (as WeChat
//!   does), or `{errcode, errmsg}`: 40013 invalid appid, 40125 invalid secret,
//!   41008 missing code, 40029 invalid/expired code (codes live 5 minutes),
//!   40163 code already used;
//! - `POST /cgi-bin/stable_token` with `{grant_type: client_credential, appid,
//!   secret, force_refresh}` answers `{access_token, expires_in}`: the same
//!   token while more than 5 minutes of it are left, unless `force_refresh`;
//!   40002 bad grant type.
//!
//! Control routes under `/fake/` play the client side and inject faults:
//! `POST /fake/login` (what `wx.login()` does: a fresh one-time code, JSON
//! `{"user": "alice"}` picks whose), `POST /fake/fail` (`{"api":
//! "jscode2session", "errcode": -1, "times": 2}`: the next answers fail so,
//! e.g. -1 busy, 45011 rate limit, 40226 high-risk user), `GET /fake/stats`
//! (calls per API).

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// How long a `wx.login()` code stays valid.
pub const CODE_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct FakeOptions {
    pub appid: String,
    pub secret: String,
    /// `expires_in` of issued access tokens (7200 on the real platform).
    pub token_expires_in: u64,
    /// A non-forced `stable_token` call returns the current token unless it
    /// expires within this many seconds (300 on the real platform).
    pub renew_within: u64,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self { appid: "wx-demo-appid".into(), secret: "demo-secret".into(), token_expires_in: 7200, renew_within: 300 }
    }
}

#[derive(Debug)]
struct Code {
    user: String,
    issued: Instant,
    used: bool,
}

#[derive(Debug, Default)]
struct FakeState {
    codes: HashMap<String, Code>,
    token: Option<(String, Instant)>,
    failures: HashMap<String, VecDeque<i64>>,
    calls: HashMap<&'static str, u64>,
}

#[derive(Debug)]
struct Fake {
    options: FakeOptions,
    state: Mutex<FakeState>,
}

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

fn error(errcode: i64) -> serde_json::Value {
    let errmsg = match errcode {
        -1 => "system error",
        40002 => "invalid grant_type",
        40013 => "invalid appid",
        40029 => "invalid code",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40226 => "high risk user",
        41008 => "missing code",
        45011 => "api minute-quota reach limit  mustslower  retry next minute",
        _ => "error",
    };
    json!({ "errcode": errcode, "errmsg": format!("{errmsg}, rid: {}", random_token(4)) })
}

/// WeChat sends this API's JSON as text/plain.
fn text_json(v: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body(v.to_string())
}

#[derive(Debug, Deserialize)]
struct Code2SessionQuery {
    appid: Option<String>,
    secret: Option<String>,
    js_code: Option<String>,
    grant_type: Option<String>,
}

async fn jscode2session(fake: web::Data<Fake>, q: web::Query<Code2SessionQuery>) -> HttpResponse {
    let mut st = fake.state();
    *st.calls.entry("jscode2session").or_default() += 1;
    if let Some(errcode) = st.failures.get_mut("jscode2session").and_then(VecDeque::pop_front) {
        return text_json(error(errcode));
    }
    if q.appid.as_deref() != Some(fake.options.appid.as_str()) {
        return text_json(error(40013));
    }
    if q.secret.as_deref() != Some(fake.options.secret.as_str()) {
        return text_json(error(40125));
    }
    if q.grant_type.as_deref() != Some("authorization_code") {
        return text_json(error(40002));
    }
    let Some(code) = q.js_code.as_deref().filter(|c| !c.is_empty()) else { return text_json(error(41008)) };
    let Some(entry) = st.codes.get_mut(code) else { return text_json(error(40029)) };
    if entry.issued.elapsed() > CODE_TTL {
        return text_json(error(40029));
    }
    if entry.used {
        return text_json(error(40163));
    }
    entry.used = true;
    // The same user always gets the same openid for this app.
    let openid = format!("o{}", &hex::encode(Sha256::digest(format!("{}:{}", fake.options.appid, entry.user)))[..27]);
    text_json(json!({ "openid": openid, "session_key": random_token(16) }))
}

#[derive(Debug, Deserialize)]
struct StableTokenBody {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    force_refresh: bool,
}

async fn stable_token(fake: web::Data<Fake>, body: web::Json<StableTokenBody>) -> HttpResponse {
    let mut st = fake.state();
    *st.calls.entry("stable_token").or_default() += 1;
    if let Some(errcode) = st.failures.get_mut("stable_token").and_then(VecDeque::pop_front) {
        return HttpResponse::Ok().json(error(errcode));
    }
    if body.grant_type.as_deref() != Some("client_credential") {
        return HttpResponse::Ok().json(error(40002));
    }
    if body.appid.as_deref() != Some(fake.options.appid.as_str()) {
        return HttpResponse::Ok().json(error(40013));
    }
    if body.secret.as_deref() != Some(fake.options.secret.as_str()) {
        return HttpResponse::Ok().json(error(40125));
    }
    let ttl = Duration::from_secs(fake.options.token_expires_in);
    let renew = Duration::from_secs(fake.options.renew_within);
    let valid = st.token.as_ref().filter(|(_, issued)| issued.elapsed() + renew < ttl && !body.force_refresh);
    let (token, issued) = match valid {
        Some((t, issued)) => (t.clone(), *issued),
        None => {
            let fresh = (random_token(32), Instant::now());
            st.token = Some(fresh.clone());
            fresh
        }
    };
    let left = ttl.saturating_sub(issued.elapsed()).as_secs();
    HttpResponse::Ok().json(json!({ "access_token": token, "expires_in": left }))
}

#[derive(Debug, Deserialize)]
struct LoginBody {
    user: Option<String>,
}

async fn fake_login(fake: web::Data<Fake>, body: Option<web::Json<LoginBody>>) -> HttpResponse {
    let user = body.and_then(|b| b.into_inner().user).unwrap_or_else(|| "visitor".into());
    let code = random_token(16);
    fake.state().codes.insert(code.clone(), Code { user, issued: Instant::now(), used: false });
    HttpResponse::Ok().json(json!({ "code": code }))
}

#[derive(Debug, Deserialize)]
struct FailBody {
    api: String,
    errcode: i64,
    #[serde(default = "one")]
    times: usize,
}

fn one() -> usize {
    1
}

async fn fake_fail(fake: web::Data<Fake>, body: web::Json<FailBody>) -> HttpResponse {
    let mut st = fake.state();
    let q = st.failures.entry(body.api.clone()).or_default();
    q.extend(std::iter::repeat_n(body.errcode, body.times));
    HttpResponse::Ok().json(json!({ "queued": q.len() }))
}

async fn fake_stats(fake: web::Data<Fake>) -> HttpResponse {
    let st = fake.state();
    HttpResponse::Ok().json(json!({
        "jscode2session": st.calls.get("jscode2session").copied().unwrap_or(0),
        "stable_token": st.calls.get("stable_token").copied().unwrap_or(0),
    }))
}

/// Serves the fake on `listener` until the returned server is stopped or dropped.
pub fn serve(listener: TcpListener, options: FakeOptions) -> std::io::Result<Server> {
    let fake = web::Data::new(Fake { options, state: Mutex::new(FakeState::default()) });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(fake.clone())
            .route("/sns/jscode2session", web::get().to(jscode2session))
            .route("/cgi-bin/stable_token", web::post().to(stable_token))
            .route("/fake/login", web::post().to(fake_login))
            .route("/fake/fail", web::post().to(fake_fail))
            .route("/fake/stats", web::get().to(fake_stats))
    })
    .workers(1)
    .listen(listener)?
    .run())
}
