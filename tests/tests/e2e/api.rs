//! The visitor API end to end: real model, real FAISS bundle built from the
//! demo collection, real Redis, real HTTP.

use crate::common::*;

#[tokio::test]
async fn recognizes_visitor_photos_of_demo_exhibits_and_caches_them() {
    let demo = demo();
    let app = TestApp::spawn(AppOptions::default()).await;

    // Photos made differently from the catalog image: perspective-warped into a
    // cluttered scene, re-lit with glare, blurred, noised, JPEG-recompressed.
    for (id, seed) in [("pd-006", 0), ("pd-013", 2)] {
        let (status, body) = app.upload(photo_of(id, seed), &[("lang", "en"), ("museum", "palace-demo")]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["errcode"], 0);
        let data = &body["data"];
        assert_eq!(data["status"], "matched", "{id}: {data}");
        assert_eq!(data["exhibit"]["id"], id);
        assert!(data["exhibit"]["introduction"].as_str().is_some_and(|s| s.len() > 40));
        assert!(data["confidence"].as_f64().is_some_and(|c| c > 0.0 && c <= 1.0));
        assert!(data["score"].as_f64().is_some_and(|s| s > 0.0 && s <= 1.0), "{data}");
        assert!(data["inliers"].as_u64().is_some());
        assert_eq!(data["bundle_version"], demo.version.as_str());
        assert_eq!(data["cached"], false);
    }

    // The same photo again comes from Redis; in Chinese this time, from the same entry.
    let (status, body) = app.upload(photo_of("pd-006", 0), &[("museum", "palace-demo")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["cached"], true, "{body}");
    assert_eq!(body["data"]["exhibit"]["title"], "冯承素摹兰亭序");
}

#[tokio::test]
async fn bad_uploads_get_documented_errors() {
    let app = TestApp::spawn(AppOptions::default().with(|s| s.server.max_upload_bytes = 200_000)).await;

    let (status, body) = app.upload(b"this is not an image at all".to_vec(), &[]).await;
    assert_eq!((status, body["error"].as_str(), body["errcode"].as_i64()), (422, Some("invalid_image"), Some(40015)));
    assert!(body["request_id"].as_str().is_some_and(|s| !s.is_empty()), "{body}");

    let (status, body) = app.upload(Vec::new(), &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("empty_file")));

    let (status, body) = app.upload(vec![0xFF; 300_000], &[]).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("upload_too_large")));

    let (status, body) = app.upload(photo_of("pd-001", 0), &[("lang", "zh_CN")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_parameter")));

    let (status, body) = app.upload(photo_of("pd-001", 0), &[("museum", "no-such-museum")]).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("museum_not_found")));

    // A tiny but valid image.
    let mut png = Vec::new();
    image_png(8, &mut png);
    let (status, body) = app.upload(png, &[]).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("image_too_small")));

    let client = reqwest::Client::new();
    let res = client.post(app.url("/api/v1/recognize")).body("x").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let form = reqwest::multipart::Form::new().text("museum", "palace-demo");
    let res = client.post(app.url("/api/v1/recognize")).multipart(form).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "missing_file");
    // A text field past its 256 bytes is the field's fault, not the upload's size.
    let (status, body) = app.upload(photo_of("pd-001", 0), &[("museum", &"m".repeat(300))]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_parameter")), "{body}");
    // Another multipart kind is not the form wx.uploadFile sends.
    let res = client
        .post(app.url("/api/v1/recognize"))
        .header("content-type", "multipart/mixed; boundary=x")
        .body("--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    // Extra formData fields are ignored; a repeated field keeps its last value.
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(photo_of("pd-006", 0)).file_name("a.jpg"))
        .text("museum", "no-such-museum")
        .text("museum", "palace-demo")
        .text("scene", "1001");
    let res = client.post(app.url("/api/v1/recognize")).multipart(form).send().await.unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["data"]["exhibit"]["id"], "pd-006", "{body}");

    // The server is still healthy after all that.
    let (status, _) = app.get("/health").await;
    assert_eq!(status, 200);
}

fn image_png(side: u32, out: &mut Vec<u8>) {
    use std::io::Cursor;
    let img = image::RgbImage::from_pixel(side, side, image::Rgb([200, 10, 10]));
    img.write_to(&mut Cursor::new(out), image::ImageFormat::Png).unwrap();
}

#[tokio::test]
async fn exhibits_health_and_readiness() {
    let demo = demo();
    let app = TestApp::spawn(AppOptions::default()).await;

    let (_, body) = app.get("/api/v1/exhibits/pd-014?lang=en").await;
    assert_eq!(body["data"]["title"], "Square hu with lotus and crane");
    assert_eq!(body["data"]["period"], "Spring and Autumn");
    assert!(body["data"].get("audio_url").is_none(), "pd-014 has no audio guide");
    let (_, body) = app.get("/api/v1/exhibits/pd-006?lang=en").await;
    assert!(body["data"]["audio_url"].as_str().unwrap().starts_with(&app.url("/media/")), "{body}");

    let (status, body) = app.get("/api/v1/exhibits/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "exhibit_not_found");

    let (status, _) = app.get("/no/such/route").await;
    assert_eq!(status, 404);

    let (_, body) = app.get("/ready").await;
    assert_eq!(body["data"]["ready"], true);
    assert_eq!(body["data"]["museums"][0]["bundle_version"], demo.version.as_str());
    assert_eq!(body["data"]["cache"], "up");
}

#[tokio::test]
async fn recognition_keeps_working_when_redis_is_down() {
    // Nothing listens on the Redis port.
    let app = TestApp::spawn(AppOptions::default().without_redis()).await;
    for _ in 0..2 {
        let (status, body) = app.upload(photo_of("pd-013", 2), &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["exhibit"]["id"], "pd-013");
        assert_eq!(body["data"]["cached"], false);
    }
    let (_, body) = app.get("/ready").await;
    assert_eq!(body["data"]["cache"], "down");
}

#[tokio::test]
async fn unready_until_a_bundle_is_published_then_picked_up_while_running() {
    let demo = demo();
    let root = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(AppOptions::default().bundles(root.path())).await;
    let client = reqwest::Client::new();

    let res = client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
    let (status, body) = app.upload(photo_of("pd-006", 0), &[]).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("not_ready")));

    // A corrupt version is refused when published...
    let museum_root = root.path().join(DEMO);
    let versions = museum_root.join("versions");
    std::fs::create_dir_all(&versions).unwrap();
    let src = demo.museum_root().join("versions").join(&demo.version);
    crate::common::copy_tree(&src, &versions.join("broken"));
    std::fs::write(versions.join("broken/index.faiss"), b"garbage").unwrap();
    let lock = index_builder::store::MuseumLock::acquire(root.path(), DEMO, None).unwrap();
    index_builder::store::publish(&lock, "broken", None).unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(app.get("/ready").await.0, 503);

    // ...and a good one is picked up without a restart.
    crate::common::copy_tree(&src, &versions.join(&demo.version));
    index_builder::store::publish(&lock, &demo.version, Some("broken")).unwrap();
    drop(lock);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if app.get("/ready").await.0 == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "published bundle not picked up");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, body) = app.upload(photo_of("pd-006", 0), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["exhibit"]["id"], "pd-006");
}

#[tokio::test]
async fn wechat_login_maps_every_documented_answer() {
    let app = TestApp::spawn(AppOptions::default()).await;
    let wechat = &app.wechat;

    let code = wechat.code("alice").await;
    let (status, body) = app.login(&code).await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["token"].as_str().unwrap();
    assert!(token.len() >= 32);
    assert!(body["data"]["expires_in"].as_u64().unwrap() > 0);
    assert!(!body.to_string().contains("session_key"), "session_key must stay on the server: {body}");
    // The same WeChat user gets the same openid from a new code, but a new token.
    let (_, again) = app.login(&wechat.code("alice").await).await;
    assert_eq!(again["data"]["openid"], body["data"]["openid"]);
    assert_ne!(again["data"]["token"], body["data"]["token"]);

    let (status, body) = app.login(&code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("login_code_used")), "{body}");
    let (status, body) = app.login("never-issued").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("login_code_invalid")));
    let (status, body) =
        app.call_json(reqwest::Method::POST, "/api/v1/session", None, Some(serde_json::json!({}))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_parameter")), "{body}");

    // -1 (busy) is retried, boundedly: twice then success; three times is too many.
    wechat.fail("jscode2session", -1, 2).await;
    let (status, body) = app.login(&wechat.code("bob").await).await;
    assert_eq!(status, 200, "{body}");
    wechat.fail("jscode2session", -1, 3).await;
    let (status, body) = app.login(&wechat.code("bob").await).await;
    assert_eq!((status, body["error"].as_str()), (502, Some("wechat_unavailable")), "{body}");
    wechat.fail("jscode2session", 45011, 1).await;
    let (status, body) = app.login(&wechat.code("bob").await).await;
    assert_eq!((status, body["error"].as_str()), (429, Some("wechat_rate_limited")));
    wechat.fail("jscode2session", 40226, 1).await;
    let (status, body) = app.login(&wechat.code("bob").await).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("login_refused")));

    // Logging out ends the session.
    let (status, _) = app.call_json(reqwest::Method::DELETE, "/api/v1/session", Some(token), None).await;
    assert_eq!(status, 200);
    let (status, body) = app.call_json(reqwest::Method::GET, "/api/v1/me/history", Some(token), None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("session_invalid")));
}

#[tokio::test]
async fn a_wrong_app_secret_is_an_upstream_error_not_the_visitors() {
    let app = TestApp::spawn(
        AppOptions::default().with(|s| s.wechat.api.secret = museum_server::wechat::Secret::from("wrong")),
    )
    .await;
    let (status, body) = app.login(&app.wechat.code("alice").await).await;
    assert_eq!((status, body["error"].as_str()), (502, Some("wechat_error")), "{body}");
    assert!(!body.to_string().contains("wrong"), "secrets never reach a client: {body}");
}

#[tokio::test]
async fn logged_in_visitors_get_history_and_favorites() {
    let app = TestApp::spawn(AppOptions::default()).await;
    let token = app.session_for("carol").await;
    let t = Some(token.as_str());

    let (status, body) = app.get("/api/v1/me/favorites").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("login_required")));

    // Recognition fills the history (newest first); anonymous recognition does not.
    let (status, body) = app.upload_as(t, photo_of("pd-006", 0), &[]).await;
    assert_eq!((status, body["data"]["exhibit"]["id"].as_str()), (200, Some("pd-006")), "{body}");
    let (status, body) = app.upload_as(t, photo_of("pd-013", 2), &[]).await;
    assert_eq!((status, body["data"]["exhibit"]["id"].as_str()), (200, Some("pd-013")), "{body}");
    let (_, body) = app.call_json(reqwest::Method::GET, "/api/v1/me/history?lang=en", t, None).await;
    let ids: Vec<&str> =
        body["data"]["items"].as_array().unwrap().iter().map(|i| i["exhibit_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pd-013", "pd-006"], "{body}");
    assert!(body["data"]["items"][0]["exhibit"]["title"].as_str().is_some_and(|s| !s.is_empty()));

    let url = app.url("/api/v1/me/favorites");
    for id in ["pd-001", "pd-002", "pd-001"] {
        let (status, _) =
            call_json(reqwest::Method::POST, url.clone(), t, Some(serde_json::json!({ "exhibit_id": id }))).await;
        assert_eq!(status, 200);
    }
    let (status, body) =
        call_json(reqwest::Method::POST, url.clone(), t, Some(serde_json::json!({ "exhibit_id": "nope" }))).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("exhibit_not_found")));
    let (_, body) = call_json(reqwest::Method::GET, url.clone(), t, None).await;
    assert_eq!(body["data"]["total"], 2, "a favorite added twice is listed once: {body}");
    assert_eq!(body["data"]["items"][0]["exhibit_id"], "pd-001", "{body}");
    let (_, body) = call_json(reqwest::Method::DELETE, format!("{url}/pd-001"), t, None).await;
    assert_eq!(body["data"]["removed"], true);
    let (_, body) = call_json(reqwest::Method::DELETE, format!("{url}/pd-001"), t, None).await;
    assert_eq!(body["data"]["removed"], false);
    let (_, body) = call_json(reqwest::Method::GET, url.clone(), t, None).await;
    assert_eq!(body["data"]["total"], 1);

    // Another visitor sees none of it.
    let other = app.session_for("dave").await;
    let (_, body) = call_json(reqwest::Method::GET, url, Some(&other), None).await;
    assert_eq!(body["data"]["total"], 0);
}

/// `redis-cli` against the test's Redis: what it printed, one line per reply element.
#[tokio::test]
async fn visitor_lists_know_which_museum_an_exhibit_belongs_to() {
    // Two museums that use the same exhibit ids: the demo, and "twin" (the
    // demo's first four records under another museum).
    let demo = demo();
    let root = tempfile::tempdir().unwrap();
    copy_tree(&demo.bundles, root.path());
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(demo.collection.join("exhibits.json")).unwrap()).unwrap();
    let twin_records: Vec<serde_json::Value> = records[..4]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["museum"] = "twin".into();
            r
        })
        .collect();
    let scratch = tempfile::tempdir().unwrap();
    let twin_json = scratch.path().join("twin.json");
    std::fs::write(&twin_json, serde_json::to_vec(&twin_records).unwrap()).unwrap();
    let twin = index_builder::load_collection(&twin_json, &demo.collection.join("images"), "twin").unwrap();
    index_builder::build_bundle(&twin, &recognizer(), root.path(), &index_builder::BuildOptions::default()).unwrap();
    let app = TestApp::spawn(AppOptions::default().bundles(root.path())).await;
    let token = app.session_for("erin").await;
    let t = Some(token.as_str());
    let favorites = app.url("/api/v1/me/favorites");
    let post = |body: serde_json::Value| call_json(reqwest::Method::POST, favorites.clone(), t, Some(body));

    // An id two museums use needs its museum; each then lands as itself.
    let (status, body) = post(serde_json::json!({ "exhibit_id": "pd-001" })).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_parameter")), "{body}");
    let (status, body) = post(serde_json::json!({ "exhibit_id": "pd-001", "museum": "twin" })).await;
    assert_eq!((status, body["data"]["museum"].as_str()), (200, Some("twin")), "{body}");
    let (status, _) = post(serde_json::json!({ "exhibit_id": "pd-001", "museum": DEMO })).await;
    assert_eq!(status, 200);
    let (status, body) = post(serde_json::json!({ "exhibit_id": "pd-001", "museum": "nowhere" })).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("museum_not_found")), "{body}");
    // An id only one museum has needs none.
    let (status, body) = post(serde_json::json!({ "exhibit_id": "pd-009" })).await;
    assert_eq!((status, body["data"]["museum"].as_str()), (200, Some(DEMO)), "{body}");
    let (_, body) = call_json(reqwest::Method::GET, favorites.clone(), t, None).await;
    let items = body["data"]["items"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|i| {
            (i["museum"].as_str().unwrap(), i["exhibit_id"].as_str().unwrap(), i["exhibit"]["museum"].as_str().unwrap())
        })
        .collect();
    assert_eq!(seen, [(DEMO, "pd-009", DEMO), (DEMO, "pd-001", DEMO), ("twin", "pd-001", "twin")], "{body}");
    let (_, body) = call_json(reqwest::Method::DELETE, format!("{favorites}/pd-001?museum=twin"), t, None).await;
    assert_eq!(body["data"]["removed"], true);
    let (_, body) = call_json(reqwest::Method::GET, favorites.clone(), t, None).await;
    assert_eq!(body["data"]["total"], 2, "only twin's pd-001 went: {body}");
    assert_eq!(body["data"]["items"][1]["museum"], DEMO, "{body}");

    // A history written before lists recorded museums (bare ids under the
    // old key) is kept: moved on first use, each id to the museum that has
    // it, an id no museum has any more kept without a card.
    let keys = redis_cli(app.redis(), &["--scan", "--pattern", "mo:visitor:v2:*:favorites"]);
    let openid = keys[0].trim_start_matches("mo:visitor:v2:{").trim_end_matches("}:favorites").to_owned();
    let legacy = format!("mo:visitor:{openid}:history");
    redis_cli(app.redis(), &["ZADD", &legacy, "1000", "pd-006", "2000", "gone-1"]);
    // A recognition scoped to "twin" goes into the history as twin's exhibit.
    let (status, body) = app.upload_as(t, photo_of("pd-002", 1), &[("museum", "twin")]).await;
    assert_eq!((status, body["data"]["exhibit"]["museum"].as_str()), (200, Some("twin")), "{body}");
    let (_, body) = app.call_json(reqwest::Method::GET, "/api/v1/me/history", t, None).await;
    let items = body["data"]["items"].as_array().unwrap();
    let seen: Vec<(&str, &str, Option<&str>)> = items
        .iter()
        .map(|i| (i["museum"].as_str().unwrap(), i["exhibit_id"].as_str().unwrap(), i["exhibit"]["museum"].as_str()))
        .collect();
    assert_eq!(seen, [("twin", "pd-002", Some("twin")), ("", "gone-1", None), (DEMO, "pd-006", Some(DEMO))], "{body}");
    assert_eq!(items[2]["at"], 1, "entries keep their time: {body}");
    assert!(redis_cli(app.redis(), &["EXISTS", &legacy]) == ["0"], "the old key is gone once moved");

    // While a museum that publishes a bundle is not served (refused, unreadable),
    // an old list is not moved: its ids could be that museum's. Answered later.
    let versions = root.path().join("broken").join("versions");
    std::fs::create_dir_all(&versions).unwrap();
    std::fs::write(root.path().join("broken").join("CURRENT"), "no-such-version\n").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let other = app.session_for("frank").await;
    let favorite = serde_json::json!({ "exhibit_id": "pd-009" });
    let (status, _) = call_json(reqwest::Method::POST, favorites.clone(), Some(other.as_str()), Some(favorite)).await;
    assert_eq!(status, 200);
    let keys = redis_cli(app.redis(), &["--scan", "--pattern", "mo:visitor:v2:*"]);
    let frank = keys
        .iter()
        .find(|k| !k.contains(&openid))
        .map(|k| k.trim_start_matches("mo:visitor:v2:{").split('}').next().unwrap().to_owned());
    let frank_legacy = format!("mo:visitor:{}:history", frank.unwrap_or_default());
    redis_cli(app.redis(), &["ZADD", &frank_legacy, "1000", "pd-006"]);
    let (status, body) =
        call_json(reqwest::Method::GET, app.url("/api/v1/me/history"), Some(other.as_str()), None).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("not_ready")), "{body}");
    assert!(redis_cli(app.redis(), &["EXISTS", &frank_legacy]) == ["1"], "the old list is kept for later");
}

#[tokio::test]
async fn museums_list_search_and_paginate_exhibits() {
    let app = TestApp::spawn(AppOptions::default()).await;
    let get = |path: &str| call_json(reqwest::Method::GET, app.url(path), None, None);

    let (_, body) = get("/api/v1/museums").await;
    let museums = body["data"]["museums"].as_array().unwrap();
    assert_eq!(museums.len(), 1);
    assert_eq!(museums[0]["id"], "palace-demo");
    let total = museums[0]["exhibits"].as_u64().unwrap();
    assert_eq!(total as usize, museum_fixtures::records().len());

    // Pages cover every exhibit exactly once.
    let mut seen = std::collections::HashSet::new();
    for page in 1..=5 {
        let (status, body) = get(&format!("/api/v1/museums/palace-demo/exhibits?page={page}&page_size=7")).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["total"], total);
        for item in body["data"]["items"].as_array().unwrap() {
            assert!(seen.insert(item["id"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(seen.len() as u64, total);

    // Search in both languages, over title, maker and dynasty.
    let (_, body) = get("/api/v1/museums/palace-demo/exhibits?q=Qing&lang=en").await;
    let qing = body["data"]["total"].as_u64().unwrap();
    assert!(qing > 0 && qing < total, "{body}");
    for item in body["data"]["items"].as_array().unwrap() {
        let record = museum_fixtures::records().into_iter().find(|r| r.id == item["id"]).unwrap();
        let text = serde_json::to_string(&(&record.title, &record.maker, &record.period)).unwrap().to_lowercase();
        assert!(text.contains("qing"), "{item}");
    }
    let qing_ids: std::collections::HashSet<&str> =
        body["data"]["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    let (_, body) = get("/api/v1/museums/palace-demo/exhibits?q=%E6%B8%85&page_size=50").await; // 清
    let first: std::collections::HashSet<&str> = body["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .take(qing as usize)
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(first, qing_ids, "zh and en name the same dynasty, ranked first");
    let (_, body) = get("/api/v1/museums/palace-demo/exhibits?q=zzzz-nothing").await;
    assert_eq!(body["data"]["total"], 0);

    let (status, body) = get("/api/v1/museums/palace-demo/exhibits?page_size=0").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_parameter")));
    let (status, body) = get("/api/v1/museums/palace-demo/exhibits?page=x").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_parameter")));
    let (status, body) = get("/api/v1/museums/nowhere/exhibits").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("museum_not_found")));

    let (_, body) = get("/api/v1/exhibits/pd-006?lang=en").await;
    let related = body["data"]["related_exhibits"].as_array().unwrap();
    assert!(!related.is_empty() && related.len() <= 4, "{body}");
    assert!(related.iter().all(|r| r["id"] != "pd-006"));
}

#[tokio::test]
async fn anonymous_recognition_is_rate_limited_per_ip() {
    let app = TestApp::spawn(AppOptions::default().with(|s| s.limits.anonymous_recognize_per_minute = 2)).await;
    let mut limited = 0;
    for _ in 0..6 {
        let client = reqwest::Client::new();
        let res = client.post(app.url("/api/v1/recognize")).body("x").send().await.unwrap();
        if res.status().as_u16() == 429 {
            limited += 1;
            let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry));
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"], "rate_limited");
        }
    }
    // Two per minute: at least 3 of 6 refused even if a minute boundary passed.
    assert!(limited >= 3, "{limited}");
}

#[tokio::test]
async fn access_token_is_refreshed_by_one_process_at_a_time() {
    use museum_server::redis_store::RedisStore;
    use museum_server::wechat::token::AccessTokens;
    use museum_server::wechat::{Secret, WechatClient, WechatSettings};
    use std::sync::Arc;
    use std::time::Duration;

    let redis = RedisServer::start();
    let options =
        museum_server::wechat::fake::FakeOptions { token_expires_in: 3, renew_within: 1, ..Default::default() };
    let wechat = FakeWechat::start(options.clone());
    // Four "processes": each its own Redis connection and WeChat client.
    let keepers: Vec<AccessTokens> = (0..4)
        .map(|_| {
            let store = Arc::new(RedisStore::new(&redis.url(), Duration::from_secs(1)).unwrap());
            let client = WechatClient::new(WechatSettings {
                base_url: wechat.base.clone(),
                appid: options.appid.clone(),
                secret: Secret::from(options.secret.clone()),
                retries: 0,
                timeout_ms: 2000,
            })
            .unwrap();
            AccessTokens::new(store, Arc::new(client), Duration::from_secs(1))
        })
        .collect();
    let tokens = futures_join(keepers.iter().map(|k| k.get())).await;
    let first = tokens[0].as_ref().unwrap().clone();
    assert!(tokens.iter().all(|t| t.as_ref().unwrap() == &first));
    assert_eq!(wechat.calls("stable_token").await, 1, "one refresher for four processes");

    // Within the refresh margin (3 s token, 1 s margin) one of them refreshes, once.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let tokens = futures_join(keepers.iter().map(|k| k.get())).await;
    assert!(tokens.iter().all(|t| t.is_ok()));
    assert_eq!(wechat.calls("stable_token").await, 2);
}

/// Polled concurrently: the lock, not the order, must make them agree.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures_util::future::join_all(futures).await
}

#[tokio::test]
async fn every_route_in_the_openapi_document_answers_as_documented() {
    let app = TestApp::spawn(AppOptions::default()).await;
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    let mut exercised = 0;
    let (_, card) = app.get("/api/v1/exhibits/pd-006").await;
    let media_file = card["data"]["images"][0].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    for (template, operations) in paths {
        // Admin routes need admin keys: admin.rs calls each of them.
        if template.starts_with("/api/v1/admin") {
            continue;
        }
        for (method, op) in operations.as_object().unwrap() {
            // A fresh login per route: DELETE /api/v1/session must not end the others' session.
            let token = app.session_for("openapi").await;
            let url = app.url(
                &template
                    .replace("{id}", if template.contains("museums") { "palace-demo" } else { "pd-006" })
                    .replace("{list}", "favorites")
                    .replace("{exhibit}", "pd-006")
                    .replace("{museum}", "palace-demo")
                    .replace("{file}", &media_file),
            );
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let (status, body) = if template == "/api/v1/recognize" {
                app.upload_as(Some(&token), photo_of("pd-006", 0), &[]).await
            } else {
                let body = match template.as_str() {
                    "/api/v1/session" => Some(serde_json::json!({ "code": app.wechat.code("openapi").await })),
                    _ => Some(serde_json::json!({ "exhibit_id": "pd-006" })),
                };
                let body = if method == reqwest::Method::POST { body } else { None };
                call_json(method.clone(), url, Some(&token), body).await
            };
            // The demo museum has no logo (console_api.rs sets one and gets it).
            if template.ends_with("/logo") {
                assert_eq!((status, body["error"].as_str()), (404, Some("logo_not_found")), "{method} {template}");
                exercised += 1;
                continue;
            }
            assert_eq!(status, 200, "{method} {template}: {body}");
            // Documented success shape: the envelope with errcode 0 (JSON routes).
            let documented = op["responses"]["200"]["content"].as_object().unwrap();
            if documented.contains_key("application/json") && template != "/api/v1/openapi.json" {
                assert_eq!(body["errcode"], 0, "{method} {template}: {body}");
                let required =
                    &op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]["required"];
                for field in required.as_array().into_iter().flatten() {
                    assert!(body["data"].get(field.as_str().unwrap()).is_some(), "{method} {template} lacks {field}");
                }
            }
            exercised += 1;
        }
    }
    assert!(exercised >= 13, "{exercised}");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn(AppOptions::default()).await;
    for id in ["pd-001", "pd-002"] {
        reqwest::get(app.url(&format!("/api/v1/exhibits/{id}"))).await.unwrap();
    }
    let (status, _) = app.upload(photo_of("pd-006", 0), &[]).await;
    assert_eq!(status, 200);
    let (status, _) = app.upload(photo_of("pd-006", 0), &[]).await;
    assert_eq!(status, 200);
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).map(str::to_owned);
    assert_eq!(
        line(r#"museum_http_requests_total{method="GET",route="/api/v1/exhibits/{id}",status="200"}"#).as_deref(),
        Some(r#"museum_http_requests_total{method="GET",route="/api/v1/exhibits/{id}",status="200"} 2"#),
        "{text}"
    );
    assert!(!text.contains("pd-001"), "raw paths must not become labels");
    assert!(line(r#"museum_cache_lookups_total{result="hit"} 1"#).is_some(), "{text}");
    assert!(line(r#"museum_recognition_stage_seconds_count{stage="embed"} 1"#).is_some(), "{text}");
    assert!(line("museum_recognition_queue_depth 0").is_some(), "{text}");
}

#[tokio::test]
async fn shutdown_lets_a_recognition_in_flight_finish() {
    let demo = demo();
    let redis = RedisServer::start();
    let app = museum_server::startup::Application::build(settings(&demo.bundles, &redis.url())).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let state = app.state();
    let server = tokio::spawn(app.run_until_stopped());
    let request = tokio::spawn(async move { upload(&base, photo_of("pd-013", 2), &[]).await });
    // Stop once the recognition is running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while state.queue_depth() == 0 {
        assert!(std::time::Instant::now() < deadline, "the recognition never started");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    handle.stop(true).await;
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["exhibit"]["id"], "pd-013");
    server.await.unwrap().unwrap();
}
