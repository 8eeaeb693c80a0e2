//! The museum admin API end to end: a museum onboards a collection with bad
//! records, builds it with progress, publishes while visitors keep getting
//! answers, adds an exhibit that is recognised within seconds, rolls back,
//! and cannot touch another museum. Real model, FAISS, Redis, HTTP and the
//! real `index-builder` binary for jobs; a local HTTP server plays the
//! museum's image host (with a redirect into the cloud metadata range).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use actix_web::{App, HttpResponse, HttpServer, web};
use reqwest::Method;
use serde_json::{Value, json};

/// The museum's own web server: images, a redirect to the metadata address, a IIIF manifest.
fn image_host() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let manifest_base = base.clone();
    let server = HttpServer::new(move || {
        let manifest_base = manifest_base.clone();
        App::new()
            .route(
                "/img/{id}.jpg",
                web::get().to(|id: web::Path<String>| async move { HttpResponse::Ok().body(jpeg(&id)) }),
            )
            .route(
                "/redirect",
                web::get().to(|| async {
                    HttpResponse::Found()
                        .insert_header(("location", "http://169.254.169.254/latest/meta-data/"))
                        .finish()
                }),
            )
            .route(
                "/iiif/obj-8/manifest",
                web::get().to(move || {
                    let base = manifest_base.clone();
                    async move {
                        HttpResponse::Ok().json(json!({
                            "@context": "http://iiif.io/api/presentation/3/context.json",
                            "id": format!("{base}/iiif/obj-8/manifest"),
                            "type": "Manifest",
                            "label": { "en": ["Celadon bowl"], "zh": ["青瓷碗"] },
                            "metadata": [{ "label": { "en": ["Accession number"] }, "value": { "none": ["IIIF-8"] } }],
                            "items": [{ "id": "c1", "type": "Canvas", "items": [{ "type": "AnnotationPage", "items": [
                                { "type": "Annotation", "motivation": "painting",
                                  "body": { "id": format!("{base}/img/pd-008.jpg"), "type": "Image" } }]}]}]
                        }))
                    }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    base
}

async fn recognise(base: &str, id: &str, museum: Option<&str>) -> Value {
    let fields: Vec<(&str, &str)> = museum.map(|m| vec![("museum", m)]).unwrap_or_default();
    let (status, body) = upload(base, photo_of(id, 3), &fields).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_museum_onboards_builds_publishes_under_load_adds_and_rolls_back() {
    let app = TestApp::spawn(AppOptions::default().admin().with(|s| {
        s.admin.allow_hosts = vec!["127.0.0.1".into()];
        s.redis.cache_ttl_s = 0;
    }))
    .await;
    let (base, bundles) = (app.address.clone(), app.bundles());
    let host = image_host();
    let admin = |path: &str| format!("{base}/api/v1/admin{path}");

    // The operator creates the museum; its key is shown once.
    let (status, body) = call_json(
        Method::POST,
        &admin("/museums"),
        Some(OPERATOR_KEY),
        Some(json!({ "id": "m-a", "name": { "en": "Museum A" } })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let key = body["data"]["api_key"].as_str().unwrap().to_owned();
    let (status, body) =
        call_json(Method::POST, &admin("/museums"), Some(OPERATOR_KEY), Some(json!({ "id": "m-a" }))).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("museum_exists")));

    // A collection with deliberately bad records: JSON records + a zip of images + URL images.
    let mut records: Vec<Value> = museum_fixtures::records()[..6]
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap();
            v.as_object_mut().unwrap().remove("museum");
            v["images"] = json!([format!("{}.jpg", r.id)]);
            v
        })
        .collect();
    let bad = |id: &str, accession: &str, title: Value, image: &str| json!({ "id": id, "accession_number": accession, "title": title, "images": [image] });
    records.push(bad("bad-notitle", "B-1", json!({}), "pd-001.jpg"));
    records.push(bad("bad-dup", records[0]["accession_number"].as_str().unwrap(), json!({"en": "Dup"}), "pd-002.jpg"));
    records.push(bad("bad-missing", "B-3", json!({"en": "Missing"}), "nothing.jpg"));
    records.push(bad("bad-small", "B-4", json!({"en": "Small"}), "tiny.png"));
    records.push(bad("bad-metadata", "B-5", json!({"en": "SSRF"}), "http://169.254.169.254/latest/meta-data/x.jpg"));
    records.push(bad("bad-redirect", "B-6", json!({"en": "Redirect"}), &format!("{host}/redirect")));
    records.push(bad("url-ok", "U-7", json!({"en": "From the museum's server"}), &format!("{host}/img/pd-007.jpg")));
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    let names: Vec<String> = (1..=6).map(|i| format!("pd-00{i}")).collect();
    for n in &names {
        files.push((Box::leak(format!("{n}.jpg").into_boxed_str()), jpeg(n)));
    }
    // Audio guides travel in the zip with the images.
    for r in &museum_fixtures::records()[..6] {
        for (lang, name) in &r.audio {
            files.push((Box::leak(name.clone().into_boxed_str()), museum_fixtures::audio_guide(&r.id, lang)));
        }
    }
    let mut tiny = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(10, 10).write_to(&mut tiny, image::ImageFormat::Png).unwrap();
    files.push(("tiny.png", tiny.into_inner()));
    let form = reqwest::multipart::Form::new()
        .part(
            "records",
            reqwest::multipart::Part::bytes(serde_json::to_vec(&records).unwrap()).file_name("records.json"),
        )
        .part("images", reqwest::multipart::Part::bytes(collection_zip(&files)).file_name("images.zip"));
    let body = send_form(Method::POST, &admin("/museums/m-a/imports"), &key, form).await;
    assert_eq!(body["errcode"], 0, "{body}");
    let import_id = body["data"]["import_id"].as_str().unwrap().to_owned();
    let (job, _) = wait_job(&base, "m-a", &key, &import_id).await;
    assert_eq!(job["state"], "succeeded", "{job}");

    // The report: a verdict for every record, with reasons.
    let (status, body) =
        call_json(Method::GET, &admin(&format!("/museums/m-a/imports/{import_id}")), Some(&key), None).await;
    assert_eq!(status, 200);
    let report = &body["data"]["report"];
    assert_eq!(
        (report["total"].as_u64(), report["accepted"].as_u64(), report["rejected"].as_u64()),
        (Some(13), Some(7), Some(6)),
        "{report}"
    );
    let reasons = |id: &str| -> String {
        let v = report["records"].as_array().unwrap().iter().find(|v| v["id"] == id).unwrap();
        v["reasons"]
            .as_array()
            .map(|r| r.iter().map(|x| x.as_str().unwrap()).collect::<Vec<_>>().join("; "))
            .unwrap_or_default()
    };
    assert!(reasons("bad-notitle").contains("missing title"), "{report}");
    assert!(reasons("bad-dup").contains("duplicate accession"), "{report}");
    assert!(reasons("bad-missing").contains("nothing.jpg"), "{report}");
    assert!(reasons("bad-small").contains("too small"), "{report}");
    assert!(
        reasons("bad-metadata").contains("unreachable URL") && reasons("bad-metadata").contains("internal"),
        "{report}"
    );
    assert!(reasons("bad-redirect").contains("internal"), "the redirect target is checked too: {report}");
    assert_eq!(reasons("url-ok"), "", "{report}");

    // Past the error ratio the operator allows, the build is refused...
    let (status, body) =
        call_json(Method::POST, &admin("/museums/m-a/builds"), Some(&key), Some(json!({ "import_id": import_id })))
            .await;
    assert_eq!(status, 200, "{body}");
    let (job, _) = wait_job(&base, "m-a", &key, body["data"]["job"]["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "failed");
    assert!(job["error"].as_str().unwrap().contains("above the allowed ratio"), "{job}");
    // ...and within it, built with progress and published.
    let (_, body) = call_json(
        Method::POST,
        &admin("/museums/m-a/builds"),
        Some(&key),
        Some(json!({ "import_id": import_id, "max_error_ratio": 0.5 })),
    )
    .await;
    let (job, stages) = wait_job(&base, "m-a", &key, body["data"]["job"]["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(stages.iter().any(|s| s == "embedding" || s == "calibrating"), "progress seen: {stages:?}");
    assert_eq!(job["validation"]["rejected"], 6);
    let v1 = job["result"]["version"].as_str().unwrap().to_owned();
    wait_serving(&base, &key, "m-a", &v1).await;

    // Scoped to the museum, its exhibits are recognised; across all museums,
    // an exhibit both museums hold is ambiguous, and the other museum's own is matched.
    let scoped = recognise(&base, "pd-003", Some("m-a")).await;
    assert_eq!(
        (scoped["status"].as_str(), scoped["exhibit"]["museum"].as_str()),
        (Some("matched"), Some("m-a")),
        "{scoped}"
    );
    assert_eq!(recognise(&base, "pd-007", Some("m-a")).await["exhibit"]["id"], "url-ok", "URL image indexed");
    assert_eq!(recognise(&base, "pd-003", None).await["status"], "ambiguous");
    let other = recognise(&base, "pd-015", None).await;
    assert_eq!(
        (other["exhibit"]["id"].as_str(), other["exhibit"]["museum"].as_str()),
        (Some("pd-015"), Some(DEMO)),
        "{other}"
    );
    // Scoped, nothing of another museum is ever answered.
    let scoped_other = recognise(&base, "pd-015", Some("m-a")).await;
    assert_ne!(scoped_other["exhibit"]["id"], "pd-015", "{scoped_other}");
    let alternatives = scoped_other["alternatives"].as_array().unwrap();
    assert!(alternatives.iter().all(|a| a["museum"] == "m-a"), "{scoped_other}");
    // The imported audio guide is served with the card.
    let (_, card) =
        call_json(Method::GET, &format!("{base}/api/v1/exhibits/pd-006?museum=m-a&lang=ja"), None, None).await;
    let audio = card["data"]["audio_url"].as_str().unwrap_or_else(|| panic!("{card}")).to_owned();
    let response = reqwest::get(&audio).await.unwrap();
    assert_eq!((response.status().as_u16(), response.headers()["content-type"].to_str().unwrap()), (200, "audio/wav"));
    assert_eq!(response.bytes().await.unwrap(), museum_fixtures::audio_guide("pd-006", "ja"));

    // One exhibit added: recognised within seconds, without a full rebuild.
    let record = json!({ "accession_number": "A-12", "title": { "en": "Added later" } });
    let form = reqwest::multipart::Form::new()
        .text("record", record.to_string())
        .part("image", reqwest::multipart::Part::bytes(jpeg("pd-012")).file_name("front.jpg"));
    let added_at = Instant::now();
    let body = send_form(Method::PUT, &admin("/museums/m-a/exhibits/pd-012"), &key, form).await;
    assert_eq!(body["errcode"], 0, "{body}");
    let (job, _) = wait_job(&base, "m-a", &key, body["data"]["job"]["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let v2 = job["result"]["version"].as_str().unwrap().to_owned();
    wait_serving(&base, &key, "m-a", &v2).await;
    let added = recognise(&base, "pd-012", Some("m-a")).await;
    let seconds = added_at.elapsed().as_secs_f64();
    assert_eq!(added["exhibit"]["id"], "pd-012", "{added}");
    assert_eq!(added["exhibit"]["title"], "Added later");
    // The others keep their media (same URLs, still served).
    let (_, again) =
        call_json(Method::GET, &format!("{base}/api/v1/exhibits/pd-006?museum=m-a&lang=ja"), None, None).await;
    assert_eq!(
        (again["data"]["audio_url"].as_str(), &again["data"]["images"]),
        (Some(audio.as_str()), &card["data"]["images"])
    );
    assert_eq!(reqwest::get(&audio).await.unwrap().status(), 200);
    println!("exhibit added -> recognised in {seconds:.1} s");
    assert!(seconds < 30.0, "{seconds}");
    // A bad single record is refused at once, with its reasons.
    let form = reqwest::multipart::Form::new().text("record", json!({ "title": { "en": "x" } }).to_string());
    let body = send_form(Method::PUT, &admin("/museums/m-a/exhibits/no-images"), &key, form).await;
    assert_eq!(body["error"], "invalid_parameter", "{body}");
    assert!(body["errmsg"].as_str().unwrap().contains("accession_number"), "{body}");

    // Publishes under load: visitors keep getting answers, not one request fails.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for client in 0..2 {
        let (base, stop, sent, failed) = (base.clone(), stop.clone(), sent.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            let photo = photo_of(if client == 0 { "pd-001" } else { "pd-004" }, 9);
            let scope: Vec<(&str, &str)> = if client == 0 { vec![("museum", "m-a")] } else { vec![] };
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = upload(&base, photo.clone(), &scope).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed during publish: {status} {body}");
                }
            }
        }));
    }
    for (i, version) in [&v1, &v2, &v1, &v2].into_iter().enumerate() {
        let (status, body) =
            call_json(Method::POST, &admin("/museums/m-a/publish"), Some(&key), Some(json!({ "version": version })))
                .await;
        assert_eq!(status, 200, "publish {i}: {body}");
        wait_serving(&base, &key, "m-a", version).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("{sent} recognitions during 4 publishes, {failed} failed");
    assert!(sent >= 4, "{sent}");
    assert_eq!(failed, 0);

    // A corrupt or mismatched bundle is refused; the previous one keeps serving.
    let versions = bundles.join("m-a/versions");
    copy_tree(&versions.join(&v2), &versions.join("zz-corrupt"));
    std::fs::write(versions.join("zz-corrupt/index.faiss"), b"garbage").unwrap();
    copy_tree(&versions.join(&v2), &versions.join("zz-model"));
    let manifest_path = versions.join("zz-model/manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["model"]["dim"] = json!(512);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    for bad in ["zz-corrupt", "zz-model"] {
        let (status, _) =
            call_json(Method::POST, &admin("/museums/m-a/publish"), Some(&key), Some(json!({ "version": bad }))).await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (_, body) = call_json(Method::GET, &admin("/museums/m-a/versions"), Some(&key), None).await;
        assert_eq!(
            (body["data"]["published"].as_str(), body["data"]["serving"].as_str()),
            (Some(bad), Some(v2.as_str()))
        );
        assert_eq!(recognise(&base, "pd-012", Some("m-a")).await["exhibit"]["id"], "pd-012");
    }
    let (status, body) =
        call_json(Method::POST, &admin("/museums/m-a/publish"), Some(&key), Some(json!({ "version": "nope" }))).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("version_not_found")));

    // Rollback to the first build: the added exhibit is gone again.
    let (status, body) =
        call_json(Method::POST, &admin("/museums/m-a/rollback"), Some(&key), Some(json!({ "version": v1 }))).await;
    assert_eq!(status, 200, "{body}");
    wait_serving(&base, &key, "m-a", &v1).await;
    let (status, _) = call_json(Method::GET, &format!("{base}/api/v1/exhibits/pd-012?museum=m-a"), None, None).await;
    assert_eq!(status, 404);

    // Delete without a rebuild.
    let (status, body) = call_json(Method::DELETE, &admin("/museums/m-a/exhibits/pd-002"), Some(&key), None).await;
    assert_eq!(status, 200, "{body}");
    let (job, _) = wait_job(&base, "m-a", &key, body["data"]["job"]["id"].as_str().unwrap()).await;
    let v3 = job["result"]["version"].as_str().unwrap().to_owned();
    wait_serving(&base, &key, "m-a", &v3).await;
    let (status, _) = call_json(Method::GET, &format!("{base}/api/v1/exhibits/pd-002?museum=m-a"), None, None).await;
    assert_eq!(status, 404);
    let (status, _) = call_json(Method::GET, &format!("{base}/api/v1/exhibits/pd-003?museum=m-a"), None, None).await;
    assert_eq!(status, 200);

    // IIIF: a manifest URL becomes a record with its image fetched.
    let (status, body) = call_json(
        Method::POST,
        &admin("/museums/m-a/imports"),
        Some(&key),
        Some(json!({ "iiif": [format!("{host}/iiif/obj-8/manifest"), "http://10.0.0.1/manifest"] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (job, _) = wait_job(&base, "m-a", &key, body["data"]["import_id"].as_str().unwrap()).await;
    let report = &job["validation"];
    assert_eq!((report["accepted"].as_u64(), report["rejected"].as_u64()), (Some(1), Some(1)), "{job}");
    assert_eq!(report["records"][0]["id"], "obj-8");

    // Garbage collection keeps the newest and the published version.
    let (status, body) =
        call_json(Method::POST, &admin("/museums/m-a/gc"), Some(OPERATOR_KEY), Some(json!({ "keep": 1 }))).await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = call_json(Method::GET, &admin("/museums/m-a/versions"), Some(&key), None).await;
    let left: Vec<&str> = body["data"]["versions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(left.contains(&v3.as_str()) && left.len() <= 2, "{left:?}");

    // Analytics: what visitors asked for, per museum. A blank wall, twice: a miss.
    let mut wall = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 120]))
        .write_to(&mut wall, image::ImageFormat::Jpeg)
        .unwrap();
    for _ in 0..2 {
        let (status, body) = upload(&base, wall.get_ref().clone(), &[("museum", "m-a")]).await;
        assert_eq!((status, body["data"]["status"].as_str()), (200, Some("no_match")), "{body}");
    }
    let (status, body) = call_json(Method::GET, &admin("/museums/m-a/analytics"), Some(&key), None).await;
    assert_eq!(status, 200, "{body}");
    let a = &body["data"];
    assert!(a["recognitions"].as_u64().unwrap() >= 4 && a["matched"].as_u64().unwrap() >= 3, "{a}");
    assert!(a["top_exhibits"].as_array().unwrap().iter().any(|e| e["id"] == "pd-001"), "{a}");
    assert!(a["no_match"].as_u64().unwrap() >= 2 && a["most_missed"][0]["count"].as_u64() == Some(2), "{a}");
}

#[tokio::test]
async fn every_admin_route_refuses_other_museums_keys() {
    // Over a copy of the demo bundles: the routes below start jobs on m-a.
    let app = TestApp::spawn(AppOptions::default().admin()).await;
    let (a_key, b_key) = (&app.create_museum("m-a").await, &app.create_museum("m-b").await);
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let mut checked = 0;
    for (template, operations) in doc["paths"].as_object().unwrap() {
        if !template.starts_with("/api/v1/admin") {
            continue;
        }
        let url = app.url(
            &template.replace("{museum}", "m-a").replace("{id}", "x").replace("{key_id}", "k").replace("{job}", "j"),
        );
        for method in operations.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let operator_only =
                operations[method.as_str().to_lowercase()]["x-operator-only"].as_bool().unwrap_or(false);
            let (status, body) = call_json(method.clone(), &url, None, Some(json!({}))).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("admin_key_required")), "{method} {template}");
            let (status, body) = call_json(method.clone(), &url, Some("mk.m-a.forged"), Some(json!({}))).await;
            assert_eq!((status, body["error"].as_str()), (401, Some("admin_key_required")), "{method} {template}");
            let (status, body) = call_json(method.clone(), &url, Some(b_key), Some(json!({}))).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (403, Some("admin_forbidden")),
                "{method} {template} with m-b's key"
            );
            let (status, body) = call_json(method.clone(), &url, Some(a_key), Some(json!({}))).await;
            if operator_only {
                assert_eq!((status, body["error"].as_str()), (403, Some("admin_forbidden")), "{method} {template}");
            } else {
                assert!(status != 401 && status != 403, "{method} {template} refused its own museum: {status} {body}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} admin operations documented");
    // The operator reaches everything; a museum key cannot list museums.
    let (status, body) = app.call_json(Method::GET, "/api/v1/admin/museums", Some(OPERATOR_KEY), None).await;
    assert_eq!((status, body["data"]["museums"].as_array().map(Vec::len)), (200, Some(2)));
    let (status, _) = app.call_json(Method::GET, "/api/v1/admin/museums/m-b", Some(OPERATOR_KEY), None).await;
    assert_eq!(status, 200);
    // A revoked key stops working at once.
    let (_, body) = app.call_json(Method::GET, "/api/v1/admin/museums/m-b", Some(b_key), None).await;
    let key_id = body["data"]["keys"][0]["id"].as_str().unwrap().to_owned();
    assert!(body.to_string().find("sha256").is_none(), "hashes are never shown: {body}");
    let (status, _) =
        app.call_json(Method::DELETE, &format!("/api/v1/admin/museums/m-b/keys/{key_id}"), Some(b_key), None).await;
    assert_eq!(status, 200);
    let (status, _) = app.call_json(Method::GET, "/api/v1/admin/museums/m-b", Some(b_key), None).await;
    assert_eq!(status, 401);
}

#[test]
fn a_build_killed_midway_leaves_the_published_bundle_untouched() {
    let demo = demo();
    let root = tempfile::tempdir().unwrap();
    let bundles = root.path().join("bundles");
    copy_tree(&demo.bundles, &bundles);
    let museum_root = bundles.join(DEMO);
    let before_current = std::fs::read_to_string(museum_root.join("CURRENT")).unwrap();
    let before_versions = recognizer::bundle::list_versions(&museum_root).unwrap();
    let mut child = builder_with_model("build", &demo.collection.join("exhibits.json"), &bundles).spawn().unwrap();
    // Kill it once it is embedding (it has read the collection and started work).
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("\"calibrating\"") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen.iter().any(|l| l.contains("\"embedding\"")), "{seen:?}");
    assert_eq!(std::fs::read_to_string(museum_root.join("CURRENT")).unwrap(), before_current);
    assert_eq!(recognizer::bundle::list_versions(&museum_root).unwrap(), before_versions);
    // The published bundle still loads and verifies.
    let manifest = recognizer::ModelManifest::load(&model_path()).unwrap();
    recognizer::Bundle::load_current(&museum_root, &manifest).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_per_museum_across_server_processes() {
    // Two servers over the same bundles, admin data and Redis, as behind a load balancer.
    let app = TestApp::spawn(AppOptions::default().admin()).await;
    let (a, b) = (app.address.clone(), app.spawn_peer().await);
    let key = app.create_museum("m-a").await;
    let records: Vec<Value> = museum_fixtures::records()[..3]
        .iter()
        .map(|r| json!({ "id": r.id, "accession_number": r.accession_number, "title": r.title, "images": [format!("{}.jpg", r.id)] }))
        .collect();
    let files: Vec<(&str, Vec<u8>)> =
        vec![("pd-001.jpg", jpeg("pd-001")), ("pd-002.jpg", jpeg("pd-002")), ("pd-003.jpg", jpeg("pd-003"))];
    let form = reqwest::multipart::Form::new()
        .part("records", reqwest::multipart::Part::bytes(serde_json::to_vec(&records).unwrap()).file_name("r.json"))
        .part("images", reqwest::multipart::Part::bytes(collection_zip(&files)).file_name("i.zip"));
    let body = send_form(Method::POST, &format!("{a}/api/v1/admin/museums/m-a/imports"), &key, form).await;
    let import_id = body["data"]["import_id"].as_str().unwrap().to_owned();
    assert_eq!(wait_job(&a, "m-a", &key, &import_id).await.0["state"], "succeeded");

    let build = |base: &str| {
        call_json(
            Method::POST,
            format!("{base}/api/v1/admin/museums/m-a/builds"),
            Some(&key),
            Some(json!({ "import_id": import_id })),
        )
    };
    let (status, body) = build(&a).await;
    assert_eq!(status, 200, "{body}");
    let job = body["data"]["job"]["id"].as_str().unwrap().to_owned();
    // The other server refuses a second job, and a publish, for the same museum meanwhile...
    let (status, body) = build(&b).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("job_conflict")), "{body}");
    assert!(body["errmsg"].as_str().unwrap().contains(&job), "{body}");
    let (status, body) =
        call_json(Method::POST, format!("{b}/api/v1/admin/museums/m-a/rollback"), Some(&key), None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("job_conflict")), "{body}");
    let (_, body) = call_json(Method::GET, format!("{b}/api/v1/admin/museums/m-a"), Some(&key), None).await;
    assert_eq!(body["data"]["running_job"], job.as_str());
    // ...and the job's progress can be read through either server.
    let (job_state, _) = wait_job(&b, "m-a", &key, &job).await;
    assert_eq!(job_state["state"], "succeeded", "{job_state}");
    // Once it is done, the museum is free again.
    let (status, body) = build(&b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(wait_job(&b, "m-a", &key, body["data"]["job"]["id"].as_str().unwrap()).await.0["state"], "succeeded");
}

#[test]
fn two_builders_racing_on_one_museum_both_land() {
    // Two operators add an exhibit each at the same moment. Each builder
    // starts from the published version; without the museum's lock both
    // would start from the same one and the second publish would drop the
    // first one's exhibit.
    let demo = demo();
    let root = tempfile::tempdir().unwrap();
    let bundles = root.path().join("bundles");
    copy_tree(&demo.bundles, &bundles);
    let records: Vec<Value> =
        serde_json::from_slice(&std::fs::read(demo.collection.join("exhibits.json")).unwrap()).unwrap();
    let spawn = |id: &str, from: &Value| {
        let mut record = from.clone();
        record["id"] = id.into();
        let file = root.path().join(format!("{id}.json"));
        std::fs::write(&file, serde_json::to_vec(&[record]).unwrap()).unwrap();
        builder_with_model("upsert", &file, &bundles).spawn().unwrap()
    };
    let children = [spawn("race-a", &records[0]), spawn("race-b", &records[1])];
    let mut changes = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let last = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_owned();
        match builder_protocol::Event::from_line(&last) {
            Some(builder_protocol::Event::Changed(report)) => changes.push(report),
            other => panic!("{other:?} from {last}"),
        }
    }
    // One went first; the other started from its version, not from the demo's.
    changes.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(changes[0].base_version, demo.version, "{changes:?}");
    assert_eq!(changes[1].base_version, changes[0].version, "{changes:?}");
    let museum_root = bundles.join(DEMO);
    assert_eq!(std::fs::read_to_string(museum_root.join("CURRENT")).unwrap().trim(), changes[1].version);
    let manifest = recognizer::ModelManifest::load(&model_path()).unwrap();
    let bundle = recognizer::Bundle::load_current(&museum_root, &manifest).unwrap();
    assert!(bundle.exhibit("race-a").is_some() && bundle.exhibit("race-b").is_some(), "both changes landed");
    assert_eq!(bundle.exhibits().len(), records.len() + 2);

    // A publish that finds the museum taken gives up when told to, with a
    // conflict the server can show, and publishes nothing.
    let held = index_builder::store::MuseumLock::acquire(&bundles, DEMO, None).unwrap();
    let out = std::process::Command::new(builder_bin())
        .args(["rollback", "--museum", DEMO, "--json", "--lock-wait", "0.5"])
        .arg("--bundles")
        .arg(&bundles)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let last = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_owned();
    assert!(
        matches!(
            builder_protocol::Event::from_line(&last),
            Some(builder_protocol::Event::Failed(builder_protocol::Failure {
                kind: builder_protocol::FailureKind::Conflict,
                ..
            }))
        ),
        "{last}"
    );
    drop(held);
    assert_eq!(std::fs::read_to_string(museum_root.join("CURRENT")).unwrap().trim(), changes[1].version);
}

/// `index-builder <command> --json` on the demo museum: `records` with the
/// demo's images, into `bundles`, with the test model on one thread; stdout piped.
fn builder_with_model(command: &str, records: &std::path::Path, bundles: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(builder_bin());
    cmd.args([command, "--museum", DEMO, "--json", "--threads", "1"])
        .arg("--records")
        .arg(records)
        .arg("--images")
        .arg(demo().collection.join("images"))
        .arg("--bundles")
        .arg(bundles)
        .arg("--model")
        .arg(model_path())
        .arg("--ort-lib")
        .arg(ort_library())
        .stdout(std::process::Stdio::piped());
    cmd
}

/// Analytics counters written before their keys carried the museum as a
/// hash tag are added into the tagged ones when a server starts (sums, the
/// longer expiry kept), and the old keys go.
#[tokio::test]
async fn analytics_counters_under_old_keys_are_merged_on_start() {
    let app = TestApp::spawn(AppOptions::default().admin()).await;
    let key = app.create_museum("m-a").await;
    let today = chrono_today();
    let cli = |args: &[&str]| redis_cli(app.redis(), args).join("\n");
    cli(&["HSET", "mo:analytics:v1:m-a:status", "matched", "5", "no_match", "2"]);
    cli(&["HSET", "mo:analytics:v2:{m-a}:status", "matched", "1"]);
    cli(&["ZADD", "mo:analytics:v1:m-a:exhibits", "4", "pd-003"]);
    let day = format!("mo:analytics:v1:m-a:day:{today}");
    cli(&["HSET", &day, "matched", "5", "no_match", "2"]);
    cli(&["EXPIRE", &day, "100000"]);
    cli(&["SET", "mo:analytics:v1:m-a:not-a-counter", "x"]);

    // A second server over the same Redis (as after an upgrade) moves them.
    let peer = app.spawn_peer().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while cli(&["EXISTS", "mo:analytics:v1:m-a:status", "mo:analytics:v1:m-a:exhibits", &day]) != "0" {
        assert!(Instant::now() < deadline, "legacy counters were not moved");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) =
        call_json(Method::GET, &format!("{peer}/api/v1/admin/museums/m-a/analytics"), Some(&key), None).await;
    assert_eq!(status, 200, "{body}");
    let a = &body["data"];
    assert_eq!((a["matched"].as_u64(), a["no_match"].as_u64()), (Some(6), Some(2)), "{a}");
    assert_eq!(a["top_exhibits"][0], json!({ "id": "pd-003", "count": 4 }), "{a}");
    let days = a["daily"].as_array().unwrap();
    assert_eq!(days.last().unwrap()["matched"], 5, "{a}");
    let ttl: i64 = cli(&["TTL", &format!("mo:analytics:v2:{{m-a}}:day:{today}")]).parse().unwrap();
    assert!(ttl > 99_000, "the day's expiry came along: {ttl}");
    // What is not a counter is left alone, not dropped.
    assert_eq!(cli(&["GET", "mo:analytics:v1:m-a:not-a-counter"]), "x");
}

/// Today's date (UTC) as the analytics keys name days.
fn chrono_today() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%d"]).output().expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
