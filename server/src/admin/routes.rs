//! `/api/v1/admin/...` handlers (see the module docs of [`crate::admin`]).

use std::path::{Path, PathBuf};

use actix_multipart::form::bytes::Bytes;
use actix_multipart::form::tempfile::TempFile;
use actix_multipart::form::{MultipartCollect, MultipartForm, MultipartFormConfig};
use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, get, post, web};
use builder_protocol::{Event, Failure, FailureKind, JobKind, ValidationReport};
use recognizer::bundle::{self, LangText, valid_museum_id};
use serde::Deserialize;
use serde_json::json;

use super::registry::RegistryError;
use super::scope::{MuseumScope, OperatorScope};
use crate::error::{ApiError, ok};
use crate::routes::JsonObject;
use crate::state::AppState;

fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::InvalidId(id) => ApiError::InvalidParameter {
            name: "id",
            reason: format!("`{id}`: 1-64 ASCII letters, digits, '-' or '_', and not `_all` or `tmp`"),
        },
        RegistryError::Exists(id) => ApiError::MuseumExists(id),
        RegistryError::NotFound(id) => ApiError::MuseumNotFound(id),
        other => ApiError::Internal(other.into()),
    }
}

fn museum_root(state: &AppState, museum: &str) -> Result<PathBuf, ApiError> {
    bundle::museum_root(state.bundle_root(), museum).map_err(|e| ApiError::Internal(e.into()))
}

/// JSON bodies are extracted as `Result` so that the key is checked before
/// the body: a caller without a valid key learns nothing from a 400.
fn body_error(e: actix_web::Error) -> ApiError {
    ApiError::InvalidParameter { name: "body", reason: e.to_string() }
}

/// Largest optional JSON body (they hold a field or two).
const OPTIONAL_BODY_LIMIT: usize = 64 * 1024;

/// An optional JSON body: none (or only whitespace) is `T::default()`; one
/// that is sent must be valid, or the request is refused (a field of the
/// wrong type is never silently ignored).
async fn optional_json<T: serde::de::DeserializeOwned + Default>(payload: web::Payload) -> Result<T, ApiError> {
    let body = payload
        .to_bytes_limited(OPTIONAL_BODY_LIMIT)
        .await
        .map_err(|_| ApiError::InvalidParameter {
            name: "body",
            reason: format!("larger than {OPTIONAL_BODY_LIMIT} bytes"),
        })?
        .map_err(|e| ApiError::InvalidParameter { name: "body", reason: e.to_string() })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body)
        .map_err(|e| e.to_string())
        .and_then(crate::routes::object)
        .map_err(|reason| ApiError::InvalidParameter { name: "body", reason })
}

#[derive(Debug, Deserialize)]
pub struct CreateMuseum {
    id: String,
    #[serde(default)]
    name: LangText,
    #[serde(default, deserialize_with = "crate::routes::present")]
    default_lang: Option<String>,
}

#[post("/api/v1/admin/museums")]
pub async fn create_museum(
    state: web::Data<AppState>,
    _operator: OperatorScope,
    body: Result<JsonObject<CreateMuseum>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map_err(body_error)?.into_inner();
    if let Some(lang) = &body.default_lang
        && !recognizer::bundle::valid_lang_tag(lang)
    {
        return Err(ApiError::InvalidParameter { name: "default_lang", reason: "a language tag (BCP 47)".into() });
    }
    let st = state.clone();
    let (profile, key) =
        blocking(move || st.registry.create(&body.id, body.name, body.default_lang)).await?.map_err(registry_error)?;
    tracing::info!(museum = %profile.id, "museum created");
    Ok(ok(json!({
        "museum": {
            "id": profile.id,
            "name": profile.name,
            "default_lang": profile.default_lang,
            "created_at": profile.created_at,
        },
        "api_key": key,
        "key_id": profile.keys.first().map(|k| k.id.clone()),
        "note": "the key is shown only now; store it safely",
    })))
}

/// The museum's profile (cached; a `stat` on the blocking pool).
async fn scope_profile(state: &web::Data<AppState>, museum: &str) -> Result<super::registry::MuseumProfile, ApiError> {
    let (st, id) = (state.clone(), museum.to_owned());
    blocking(move || st.registry.museum(&id))
        .await?
        .map_err(registry_error)?
        .ok_or(ApiError::MuseumNotFound(museum.to_owned()))
}

/// A profile as the API shows it: key ids, never their hashes.
async fn profile_json(state: &AppState, p: &super::registry::MuseumProfile) -> serde_json::Value {
    let running = state.jobs.running(&p.id).await;
    let root = bundle::museum_root(state.bundle_root(), &p.id).ok();
    let published = match root {
        Some(r) => blocking(move || bundle::current_version(&r).ok().flatten()).await.ok().flatten(),
        None => None,
    };
    let loaded = state.catalog().museum(&p.id).map(|b| b.version().to_owned());
    let dir = state.registry.museum_dir(&p.id);
    let logo = blocking(move || super::console::has_logo(&dir)).await.unwrap_or(false);
    json!({
        "id": p.id,
        "name": p.name,
        "default_lang": p.default_lang,
        "created_at": p.created_at,
        "keys": p.keys.iter().map(|k| json!({ "id": k.id, "created_at": k.created_at, "label": k.label })).collect::<Vec<_>>(),
        "published_version": published,
        "serving_version": loaded,
        "running_job": running,
        "logo_url": logo.then(|| super::console::logo_url(&p.id)),
    })
}

#[get("/api/v1/admin/museums")]
pub async fn list_museums(state: web::Data<AppState>, _operator: OperatorScope) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let museums = blocking(move || st.registry.list()).await?.map_err(registry_error)?;
    let mut out = Vec::with_capacity(museums.len());
    for p in &museums {
        out.push(profile_json(&state, p).await);
    }
    Ok(ok(json!({ "museums": out })))
}

#[get("/api/v1/admin/museums/{museum}")]
pub async fn get_museum(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    museum: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let profile = scope_profile(&state, &museum).await?;
    Ok(ok(profile_json(&state, &profile).await))
}

#[derive(Debug, Deserialize, Default)]
pub struct NewKey {
    #[serde(default, deserialize_with = "crate::routes::present")]
    label: Option<String>,
}

#[post("/api/v1/admin/museums/{museum}/keys")]
pub async fn create_key(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    museum: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let label = optional_json::<NewKey>(body).await?.label;
    let st = state.clone();
    let (entry, key) = blocking(move || st.registry.add_key(&museum, label)).await?.map_err(registry_error)?;
    Ok(ok(json!({ "api_key": key, "key_id": entry.id, "note": "the key is shown only now; store it safely" })))
}

#[delete("/api/v1/admin/museums/{museum}/keys/{key_id}")]
pub async fn revoke_key(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (museum, key_id) = path.into_inner();
    let st = state.clone();
    let revoked = blocking(move || st.registry.revoke_key(&museum, &key_id)).await?.map_err(registry_error)?;
    Ok(ok(json!({ "revoked": revoked })))
}

/// An import's upload: the records (CSV or JSON) and optionally a zip of images.
#[derive(Debug, MultipartForm)]
#[multipart(deny_unknown_fields, duplicate_field = "deny")]
struct ImportForm {
    records: TempFile,
    images: Option<TempFile>,
}

/// One exhibit's change: its record (JSON, at most 1 MiB), its images, and
/// audio guides (the record's `audio` names each by its file name).
#[derive(Debug, MultipartForm)]
#[multipart(deny_unknown_fields, duplicate_field = "deny")]
struct ChangeForm {
    #[multipart(limit = "1MiB")]
    record: Bytes,
    image: Vec<TempFile>,
    audio: Vec<TempFile>,
}

/// Size limits of the admin uploads (from the settings).
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// An import's whole body (records and zip).
    pub import: usize,
    /// A single exhibit's change (record and images).
    pub change: usize,
}

/// Reads a multipart form under the limits its route was configured with
/// (`limit` is for the error message), streaming file parts to disk.
async fn read_form<T: MultipartCollect + 'static>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    MultipartForm::<T>::from_request(req, &mut payload.into_inner())
        .await
        .map(MultipartForm::into_inner)
        .map_err(|e| crate::routes::recognize::multipart_error(&e, limit))
}

/// A stored file part: (part name, the client's file name, its path).
type Saved = (String, Option<String>, PathBuf);

/// Moves an uploaded part into `dir` as `{n}-{part}[.ext]`: a name of our
/// choosing (the client's file name only hints the extension).
async fn keep(part: &str, n: usize, upload: TempFile, dir: &Path) -> Result<Saved, ApiError> {
    let ext = upload
        .file_name
        .as_deref()
        .and_then(|f| Path::new(f).extension())
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|e| e.to_ascii_lowercase());
    let path = dir.join(format!("{n}-{}{}", sanitize(part), ext.map(|e| format!(".{e}")).unwrap_or_default()));
    let target = path.clone();
    let file = upload.file;
    // A rename where the temporary file is on the same filesystem, else a copy.
    blocking(move || match file.persist(&target) {
        Ok(_) => Ok(()),
        Err(e) => std::fs::copy(e.file.path(), &target).map(drop),
    })
    .await?
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((part.to_owned(), upload.file_name, path))
}

/// Removes what a refused upload left behind: a refused request leaves no trace.
async fn discard(dir: &Path) {
    if let Err(e) = tokio::fs::remove_dir_all(dir).await {
        tracing::warn!(dir = %dir.display(), error = %e, "could not remove a refused upload");
    }
}

/// Runs file work (the registry's profiles, bundle listings) on the
/// blocking pool, never on an async worker.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    web::block(work).await.map_err(|e| ApiError::Internal(e.into()))
}

fn sanitize(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').take(32).collect()
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"))
}

#[derive(Debug, Deserialize)]
struct IiifImport {
    iiif: Vec<String>,
}

/// Starts an import: multipart with `records` (CSV or JSON) and optionally
/// `images` (a zip), or JSON `{"iiif": [manifest URLs]}`. Answers the job;
/// its result is the validation report.
/// `POST /api/v1/admin/museums/{museum}/imports`
pub async fn create_import(
    state: web::Data<AppState>,
    scope: MuseumScope,
    req: HttpRequest,
    museum: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = state.registry.museum_dir(&museum).join("imports").join(&id);
    // A refused upload leaves no trace.
    let started = async {
        let args = import_args(&state, &req, payload, &museum, &dir).await?;
        state.jobs.start_with_id(&museum, JobKind::Import, args, id, scope.by()).await
    };
    let job = match started.await {
        Ok(job) => job,
        Err(e) => {
            discard(&dir).await;
            return Err(e);
        }
    };
    Ok(ok(json!({ "import_id": job.id, "job": job })))
}

/// Saves the upload under `dir/upload` and says how `index-builder import` is to read it.
async fn import_args(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    museum: &str,
    dir: &Path,
) -> Result<Vec<String>, ApiError> {
    let upload = dir.join("upload");
    tokio::fs::create_dir_all(&upload).await.map_err(|e| ApiError::Internal(e.into()))?;
    let mut args = vec!["import".into(), "--museum".into(), museum.to_owned()];
    if is_json(req) {
        let bytes =
            payload.to_bytes_limited(256 * 1024).await.map_err(|_| ApiError::UploadTooLarge { limit: 256 * 1024 })?;
        let body: IiifImport = serde_json::from_slice(&bytes.map_err(|e| ApiError::BadMultipart(e.to_string()))?)
            .map_err(|e| e.to_string())
            .and_then(crate::routes::object)
            .map_err(|e| ApiError::InvalidParameter {
                name: "body",
                reason: format!("expected {{\"iiif\": [URLs]}}: {e}"),
            })?;
        if body.iiif.is_empty() || body.iiif.len() > 10_000 {
            return Err(ApiError::InvalidParameter { name: "iiif", reason: "1 to 10000 manifest URLs".into() });
        }
        // As documented: http(s) URIs (RFC 3986), each of them.
        if let Some(bad) = body
            .iiif
            .iter()
            .find(|u| !(u.starts_with("http://") || u.starts_with("https://")) || !super::uri::is_uri(u))
        {
            return Err(ApiError::InvalidParameter {
                name: "iiif",
                reason: format!("`{}` is not an http(s) URL", bad.chars().take(200).collect::<String>()),
            });
        }
        for url in body.iiif {
            args.extend(["--iiif".into(), url]);
        }
    } else {
        let form: ImportForm = read_form(req, payload, state.settings.admin.max_import_bytes).await?;
        let records = keep("records", 0, form.records, &upload).await?;
        let mut path = records.2.clone();
        // The builder tells CSV from JSON by extension.
        if path.extension().is_none_or(|e| e != "csv" && e != "json") {
            let sniffed =
                tokio::fs::read(&path).await.ok().and_then(|b| b.iter().find(|c| !c.is_ascii_whitespace()).copied());
            let renamed = path.with_extension(if sniffed == Some(b'[') { "json" } else { "csv" });
            tokio::fs::rename(&path, &renamed).await.map_err(|e| ApiError::Internal(e.into()))?;
            path = renamed;
        }
        args.extend(["--records".into(), path.display().to_string()]);
        if let Some(zip) = form.images {
            let (_, _, zip) = keep("images", 1, zip, &upload).await?;
            args.extend(["--zip".into(), zip.display().to_string()]);
        }
    }
    for host in &state.settings.admin.allow_hosts {
        args.extend(["--allow-host".into(), host.clone()]);
    }
    args.extend(["--out".into(), dir.join("staged").display().to_string()]);
    Ok(args)
}

#[get("/api/v1/admin/museums/{museum}/imports/{id}")]
pub async fn get_import(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (museum, id) = path.into_inner();
    if !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::ImportNotFound(id));
    }
    let dir = state.registry.museum_dir(&museum).join("imports").join(&id);
    let report = tokio::fs::read(dir.join("staged/report.json"))
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<ValidationReport>(&b).ok());
    // Another museum's job is not this museum's import, whatever its id.
    let job = state.jobs.get(&id).await.filter(|j| j.museum == museum && j.kind == JobKind::Import);
    if report.is_none() && job.is_none() {
        return Err(ApiError::ImportNotFound(id));
    }
    Ok(ok(json!({ "import_id": id, "report": report, "job": job })))
}

#[derive(Debug, Deserialize)]
pub struct BuildBody {
    import_id: String,
    /// Refuse the build past this share of rejected records (default 0).
    #[serde(default)]
    max_error_ratio: f64,
    /// Publish when built (default true).
    #[serde(default, deserialize_with = "crate::routes::present")]
    publish: Option<bool>,
}

#[post("/api/v1/admin/museums/{museum}/builds")]
pub async fn create_build(
    state: web::Data<AppState>,
    scope: MuseumScope,
    museum: web::Path<String>,
    body: Result<JsonObject<BuildBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map_err(body_error)?.into_inner();
    if !body.import_id.chars().all(|c| c.is_ascii_hexdigit()) || body.import_id.is_empty() {
        return Err(ApiError::ImportNotFound(body.import_id));
    }
    if !(0.0..=1.0).contains(&body.max_error_ratio) {
        return Err(ApiError::InvalidParameter { name: "max_error_ratio", reason: "from 0 to 1".into() });
    }
    let staged = state.registry.museum_dir(&museum).join("imports").join(&body.import_id).join("staged");
    if !staged.join("report.json").is_file() {
        return Err(ApiError::ImportNotFound(body.import_id));
    }
    let mut args: Vec<String> = vec![
        "build".into(),
        "--museum".into(),
        museum.to_string(),
        "--staged".into(),
        staged.display().to_string(),
        "--bundles".into(),
        state.bundle_root().display().to_string(),
        "--max-error-ratio".into(),
        body.max_error_ratio.to_string(),
    ];
    args.extend(store_args(&state));
    if body.publish == Some(false) {
        args.push("--no-publish".into());
    }
    let job = state.jobs.start(&museum, JobKind::Build, args, scope.by()).await?;
    Ok(ok(json!({ "job": job })))
}

#[get("/api/v1/admin/museums/{museum}/jobs/{job}")]
pub async fn get_job(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (museum, id) = path.into_inner();
    match state.jobs.get(&id).await {
        Some(job) if job.museum == museum => Ok(ok(job)),
        _ => Err(ApiError::JobNotFound(id)),
    }
}

#[get("/api/v1/admin/museums/{museum}/versions")]
pub async fn list_versions(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    museum: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let root = museum_root(&state, &museum)?;
    let (versions, published) =
        blocking(move || Ok::<_, recognizer::Error>((bundle::list_versions(&root)?, bundle::current_version(&root)?)))
            .await?
            .map_err(|e| ApiError::Internal(e.into()))?;
    let serving = state.catalog().museum(&museum).map(|b| b.version().to_owned());
    let (root, dir, listed) = (museum_root(&state, &museum)?, state.registry.museum_dir(&museum), versions.clone());
    let details = blocking(move || super::console::version_details(&root, &dir, &listed)).await?;
    Ok(ok(json!({ "versions": versions, "published": published, "serving": serving, "details": details })))
}

#[derive(Debug, Deserialize, Default)]
pub struct VersionBody {
    #[serde(default, deserialize_with = "crate::routes::present")]
    version: Option<String>,
}

/// How long a quick builder command (publish, rollback, gc, validate)
/// waits for a builder working on the museum outside this server (an
/// operator's CLI) before the request gives up.
const QUICK_LOCK_WAIT_S: &str = "10";

/// Runs a quick `index-builder` command to its end (publishing and gc are
/// renames and deletes; the builder stays the only writer of bundles) and
/// returns its result event. A failure becomes the API's error: internal
/// ones opaque (logged), the rest with the builder's message, which names
/// no server path.
async fn run_builder(state: &AppState, args: &[String]) -> Result<Event, ApiError> {
    let out = tokio::process::Command::new(state.jobs.builder())
        .args(args)
        .args(["--json", "--lock-wait", QUICK_LOCK_WAIT_S])
        .stdin(std::process::Stdio::null())
        // A request dropped mid-way (the client gone) stops the command too;
        // publishing is a rename, so it is done or not done.
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot run {}: {e}", state.jobs.builder().display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().filter_map(Event::from_line).rfind(Event::is_final);
    match last {
        Some(Event::Failed(f)) => Err(builder_failure(f, &out.stderr)),
        Some(event) if out.status.success() => Ok(event),
        _ => Err(ApiError::Internal(anyhow::anyhow!(
            "index-builder {} exited with {} without a result: {}",
            args.first().map_or("", String::as_str),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

fn builder_failure(f: Failure, stderr: &[u8]) -> ApiError {
    match f.kind {
        FailureKind::Internal => {
            ApiError::Internal(anyhow::anyhow!("{} ({})", f.message, String::from_utf8_lossy(stderr).trim()))
        }
        _ => ApiError::LifecycleRefused(f.public_message().to_owned()),
    }
}

fn lifecycle_args(state: &AppState, command: &str, museum: &str) -> Vec<String> {
    let mut args = vec![
        command.into(),
        "--museum".into(),
        museum.into(),
        "--bundles".into(),
        state.bundle_root().display().to_string(),
    ];
    args.extend(store_args(state));
    args
}

/// With `bundles.store`, the builder publishes there too.
fn store_args(state: &AppState) -> Vec<String> {
    match state.settings.bundles.store.as_str() {
        "" => Vec::new(),
        url => vec!["--store".into(), url.into()],
    }
}

/// Publishes `version` (publish) or the one before the current, or the one named (rollback).
async fn switch(
    state: &AppState,
    museum: &str,
    command: &str,
    version: Option<String>,
    by: &str,
) -> Result<HttpResponse, ApiError> {
    let root = museum_root(state, museum)?;
    if let Some(v) = &version {
        let known = blocking(move || bundle::list_versions(&root)).await?.map_err(|e| ApiError::Internal(e.into()))?;
        if !known.contains(v) {
            return Err(ApiError::VersionNotFound(v.clone()));
        }
    }
    let mut args = lifecycle_args(state, command, museum);
    args.extend(version);
    // Held like a job, so no build or change of this museum starts meanwhile.
    match state.jobs.exclusive(museum, run_builder(state, &args)).await? {
        Event::Published { version, .. } => {
            let entry = super::audit::Entry {
                at: super::audit::now(),
                by: by.to_owned(),
                action: super::audit::Action::Published,
                version: version.clone(),
            };
            let dir = state.registry.museum_dir(museum);
            // Best effort: the version is published whether or not its line is written.
            if let Err(e) = blocking(move || super::audit::append(&dir, &[entry])).await {
                tracing::warn!(error = %e, "version history not recorded");
            }
            Ok(ok(json!({ "published": version })))
        }
        other => Err(ApiError::Internal(anyhow::anyhow!("index-builder {command} answered {other:?}"))),
    }
}

#[post("/api/v1/admin/museums/{museum}/publish")]
pub async fn publish(
    state: web::Data<AppState>,
    scope: MuseumScope,
    museum: web::Path<String>,
    body: Result<JsonObject<VersionBody>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let version = body.map_err(body_error)?.into_inner().version;
    let version = version.ok_or(ApiError::InvalidParameter { name: "version", reason: "required".into() })?;
    switch(&state, &museum, "publish", Some(version), scope.by()).await
}

#[post("/api/v1/admin/museums/{museum}/rollback")]
pub async fn rollback(
    state: web::Data<AppState>,
    scope: MuseumScope,
    museum: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    switch(&state, &museum, "rollback", optional_json::<VersionBody>(body).await?.version, scope.by()).await
}

#[derive(Debug, Deserialize, Default)]
pub struct GcBody {
    #[serde(default, deserialize_with = "crate::routes::present")]
    keep: Option<usize>,
}

/// Most versions `gc` may be asked to keep.
const MAX_KEEP: usize = 1000;

#[post("/api/v1/admin/museums/{museum}/gc")]
pub async fn gc(
    state: web::Data<AppState>,
    _operator: OperatorScope,
    museum: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !valid_museum_id(&museum) {
        return Err(ApiError::MuseumNotFound(museum.into_inner()));
    }
    let asked = optional_json::<GcBody>(body).await?.keep;
    let keep = asked.unwrap_or(state.settings.admin.keep_versions);
    if keep == 0 || asked.is_some_and(|k| k > MAX_KEEP) {
        return Err(ApiError::InvalidParameter {
            name: "keep",
            reason: format!("from 1 to {MAX_KEEP} (the published version is always kept)"),
        });
    }
    let mut args = lifecycle_args(&state, "gc", &museum);
    args.extend(["--keep".into(), keep.to_string()]);
    // The version this server serves may not be the published one (a newer
    // one it refused): it stays.
    if let Some(serving) = state.catalog().museum(&museum).map(|b| b.version().to_owned()) {
        args.extend(["--protect".into(), serving]);
    }
    match state.jobs.exclusive(&museum, run_builder(&state, &args)).await? {
        Event::Collected { removed, kept, .. } => Ok(ok(json!({ "removed": removed, "kept": kept }))),
        other => Err(ApiError::Internal(anyhow::anyhow!("index-builder gc answered {other:?}"))),
    }
}

/// Adds or replaces one exhibit: multipart `record` (the record as JSON; its
/// `id` is the path's) and one or more image files (any other field names),
/// which become the record's images when it names none.
/// `PUT /api/v1/admin/museums/{museum}/exhibits/{id}`
pub async fn upsert_exhibit(
    state: web::Data<AppState>,
    scope: MuseumScope,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (museum, id) = path.into_inner();
    let dir = state.registry.museum_dir(&museum).join("changes").join(uuid::Uuid::new_v4().simple().to_string());
    // A refused change leaves no trace.
    let started = async {
        match upsert_args(&state, &req, payload, &museum, &id, &dir).await? {
            Ok(args) => state.jobs.start(&museum, JobKind::Upsert, args, scope.by()).await,
            Err(why) => {
                discard(&dir).await;
                Ok(state.jobs.refused(&museum, JobKind::Upsert, why, scope.by()).await)
            }
        }
    };
    let job = match started.await {
        Ok(job) => job,
        Err(e) => {
            discard(&dir).await;
            return Err(e);
        }
    };
    Ok(ok(json!({ "job": job })))
}

/// What `openapi.json` says of an upserted record, checked before anything
/// runs (400 with the reason): the path's id spelled as ids are, a
/// non-blank `accession_number`, and a `title` of one or more non-blank
/// texts. The builder's own checks (the images above all: there, decodable,
/// large enough) are the job's, which fails with its reasons.
fn check_record(record: &serde_json::Map<String, serde_json::Value>, id: &str) -> Result<(), ApiError> {
    let invalid = |reason: String| ApiError::InvalidParameter { name: "record", reason };
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ApiError::InvalidParameter {
            name: "id",
            reason: format!("`{id}`: ASCII letters, digits, '-', '_' and '.' only"),
        });
    }
    if record.get("id").is_some_and(|v| v.as_str() != Some(id)) {
        return Err(invalid(format!("its id must be `{id}`, as in the URL")));
    }
    let non_blank = |v: &serde_json::Value| v.as_str().is_some_and(|s| s.chars().any(|c| !c.is_whitespace()));
    if !record.get("accession_number").is_some_and(non_blank) {
        return Err(invalid("missing accession_number (a non-blank string)".into()));
    }
    match record.get("title").and_then(|t| t.as_object()) {
        Some(title) if !title.is_empty() && title.values().all(non_blank) => Ok(()),
        _ => Err(invalid("missing title (an object of one or more non-blank texts by language)".into())),
    }
}

/// Saves the record, its images and audio guides under `dir`, checks what
/// the API document says of them ([`check_record`]), and says how
/// `index-builder upsert` is to read them. A change to a published exhibit
/// keeps what it does not replace (`--keep-media`): the images when it sends
/// and names none (a text edit), the audio guides of languages it does not name.
async fn upsert_args(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    museum: &str,
    id: &str,
    dir: &Path,
) -> Result<Result<Vec<String>, String>, ApiError> {
    tokio::fs::create_dir_all(dir).await.map_err(|e| ApiError::Internal(e.into()))?;
    let form: ChangeForm = read_form(req, payload, state.settings.server.max_upload_bytes * 8).await?;
    // Names no earlier change used: a published exhibit's files are named
    // by the change that sent them, and a name the record gives that is not
    // a file of this change means the published one.
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let mut images = Vec::with_capacity(form.image.len());
    for (n, image) in form.image.into_iter().enumerate() {
        images.push(keep(&format!("image-{tag}"), n, image, dir).await?);
    }
    let mut audio = Vec::with_capacity(form.audio.len());
    for (n, file) in form.audio.into_iter().enumerate() {
        audio.push(keep(&format!("audio-{tag}"), n, file, dir).await?);
    }
    let mut record: serde_json::Value = serde_json::from_slice(&form.record.data)
        .map_err(|e| ApiError::InvalidParameter { name: "record", reason: format!("not JSON: {e}") })?;
    let Some(obj) = record.as_object_mut() else {
        return Err(ApiError::InvalidParameter { name: "record", reason: "must be a JSON object".into() });
    };
    check_record(obj, id)?;
    obj.insert("id".into(), json!(id));
    obj.insert("museum".into(), json!(museum));
    if let Err(why) = name_audio(obj, &audio)? {
        return Ok(Err(why));
    }
    let file_name = |(_, _, p): &Saved| p.file_name().map(|f| f.to_string_lossy().into_owned());
    let uploaded: Vec<String> = images.iter().filter_map(file_name).collect();
    let names_images = obj.get("images").and_then(|v| v.as_array()).is_some_and(|a| !a.is_empty());
    // No images named or sent: a published exhibit keeps its own (a new one
    // is refused by the builder, which says so).
    if !names_images && uploaded.is_empty() {
        obj.insert("images".into(), json!([]));
    } else if !names_images {
        obj.insert("images".into(), json!(uploaded));
    }
    let records = dir.join("records.json");
    tokio::fs::write(&records, serde_json::to_vec(&json!([record])).unwrap_or_default())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut args = lifecycle_args(state, "upsert", museum);
    args.extend(["--records".into(), records.display().to_string(), "--images".into(), dir.display().to_string()]);
    // What a served exhibit keeps is decided by the builder, under the
    // museum's lock, against the version the change starts from.
    args.push("--keep-media".into());
    Ok(Ok(args))
}

/// Points the record's `audio` entries that name an uploaded `audio` part
/// (by the client's file name) at the file as saved; every uploaded guide
/// must be named by a language (else the reason: the change is refused as
/// a failed job), and a record naming a file that was not sent is the
/// builder's to refuse (it checks every audio file).
fn name_audio(
    record: &mut serde_json::Map<String, serde_json::Value>,
    saved: &[Saved],
) -> Result<Result<(), String>, ApiError> {
    let invalid = |reason: &str| ApiError::InvalidParameter { name: "record", reason: reason.to_owned() };
    let map = match record.get_mut("audio") {
        None if saved.is_empty() => return Ok(Ok(())),
        None => {
            record.insert("audio".into(), json!({}));
            record.get_mut("audio").and_then(|v| v.as_object_mut()).ok_or_else(|| invalid("no audio map"))?
        }
        Some(serde_json::Value::Object(map)) if map.values().all(serde_json::Value::is_string) => map,
        Some(_) => return Err(invalid("its `audio` must map languages to file names")),
    };
    for (_, client_name, path) in saved {
        let sent = client_name.clone().unwrap_or_default();
        let stored = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let langs: Vec<String> =
            map.iter().filter(|(_, v)| v.as_str() == Some(sent.as_str())).map(|(k, _)| k.clone()).collect();
        if langs.is_empty() || sent.is_empty() {
            return Ok(Err(format!(
                "audio file `{}` was sent but the record names it for no language: give its language in `audio`, e.g. {{\"en\": \"{}\"}}",
                sent.chars().take(64).collect::<String>(),
                sent.chars().take(64).collect::<String>()
            )));
        }
        for lang in langs {
            map.insert(lang, json!(stored));
        }
    }
    Ok(Ok(()))
}

/// `DELETE /api/v1/admin/museums/{museum}/exhibits/{id}`
pub async fn delete_exhibit(
    state: web::Data<AppState>,
    scope: MuseumScope,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (museum, id) = path.into_inner();
    let served = state.catalog();
    if served.museum(&museum).and_then(|b| b.exhibit(&id)).is_none() {
        return Err(ApiError::ExhibitNotFound(id));
    }
    let mut args = lifecycle_args(&state, "delete", &museum);
    args.extend(["--exhibit".into(), id]);
    let job = state.jobs.start(&museum, JobKind::Delete, args, scope.by()).await?;
    Ok(ok(json!({ "job": job })))
}

#[derive(Debug, Deserialize)]
pub struct AnalyticsQuery {
    top: Option<usize>,
}

#[get("/api/v1/admin/museums/{museum}/analytics")]
pub async fn analytics(
    state: web::Data<AppState>,
    _scope: MuseumScope,
    museum: web::Path<String>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    let top = query.top.unwrap_or(20);
    if !(1..=1000).contains(&top) {
        return Err(ApiError::InvalidParameter { name: "top", reason: "from 1 to 1000".into() });
    }
    Ok(ok(state.analytics.report(&museum, top).await?))
}

/// The admin routes; the two upload routes with their size limits.
pub fn configure(cfg: &mut web::ServiceConfig, limits: UploadLimits) {
    let form = |total: usize| MultipartFormConfig::default().total_limit(total).memory_limit(1 << 20);
    cfg.service(
        web::resource("/api/v1/admin/museums/{museum}/imports")
            .app_data(form(limits.import))
            .route(web::post().to(create_import))
            .default_service(web::to(crate::routes::ops::unrouted)),
    )
    .service(
        web::resource("/api/v1/admin/museums/{museum}/exhibits/{id}")
            .app_data(form(limits.change))
            .route(web::get().to(super::console::exhibit))
            .route(web::put().to(upsert_exhibit))
            .route(web::delete().to(delete_exhibit))
            .default_service(web::to(crate::routes::ops::unrouted)),
    )
    .service(
        web::resource("/api/v1/admin/museums/{museum}/try")
            .route(web::post().to(super::console::try_photo))
            .default_service(web::to(crate::routes::ops::unrouted)),
    )
    .service(
        web::resource("/api/v1/admin/museums/{museum}/logo")
            .app_data(form(super::console::MAX_LOGO_BYTES + 64 * 1024))
            .route(web::put().to(super::console::put_logo))
            .default_service(web::to(crate::routes::ops::unrouted)),
    )
    .service(super::console::health)
    .service(super::console::get_logo)
    .service(create_museum)
    .service(list_museums)
    .service(get_museum)
    .service(create_key)
    .service(revoke_key)
    .service(get_import)
    .service(create_build)
    .service(get_job)
    .service(list_versions)
    .service(publish)
    .service(rollback)
    .service(gc)
    .service(analytics);
}
