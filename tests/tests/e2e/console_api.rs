//! The admin routes the museum console is built on, over HTTP with the real
//! model, FAISS, Redis and `index-builder`: one exhibit's stored record, a
//! text edit that keeps the published images and audio, an audio guide
//! added alone, "try a photo" with what the recognizer saw, collection
//! health, the logo, versions with who made and published them, and
//! analytics by day. The demo museum gets an admin profile over a scratch
//! copy of its bundles, so no full build is needed.

use std::time::Duration;

use crate::common::*;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

/// A short WAV file (silence) the builder's audio check accepts.
fn wav() -> Vec<u8> {
    let samples = 800u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(samples * 2).to_le_bytes());
    out.extend(std::iter::repeat_n(0u8, samples as usize * 2));
    out
}

/// The demo museum with an admin profile (the operator creates it over the
/// scratch copy of its published bundles); its key.
async fn demo_with_admin() -> (TestApp, String) {
    let app = TestApp::spawn(AppOptions::default().admin()).await;
    let key = app.create_museum(DEMO).await;
    (app, key)
}

async fn stored(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, body) =
        app.call_json(Method::GET, &format!("/api/v1/admin/museums/{DEMO}/exhibits/{id}"), Some(key), None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// Sends a change of exhibit `id` and waits for its job; the finished job.
async fn change(app: &TestApp, key: &str, id: &str, form: Form) -> Value {
    let url = app.url(&format!("/api/v1/admin/museums/{DEMO}/exhibits/{id}"));
    let body = send_form(Method::PUT, &url, key, form).await;
    let job = body["data"]["job"]["id"].as_str().unwrap_or_else(|| panic!("no job: {body}")).to_owned();
    wait_job(&app.address, DEMO, key, &job).await.0
}

fn record_part(record: &Value) -> Part {
    Part::text(record.to_string()).mime_str("application/json").unwrap()
}

#[tokio::test]
async fn a_text_edit_keeps_the_published_images_and_audio_and_a_guide_can_be_added_alone() {
    let (app, key) = demo_with_admin().await;
    let before = stored(&app, &key, "pd-006").await;
    let images_before = before["media"]["images"].clone();
    assert!(!images_before.as_array().unwrap().is_empty(), "{before}");
    let audio_before = before["media"]["audio"].as_object().unwrap().clone();
    assert!(audio_before.contains_key("zh") && audio_before.contains_key("en"), "{before}");
    assert_eq!(before["record"]["id"], "pd-006");
    assert!(before["record"]["title"]["ja"].is_string(), "every language of the record: {before}");

    // The console sends the whole record back, minus the images, with only new audio named.
    let mut record = before["record"].clone();
    let obj = record.as_object_mut().unwrap();
    obj.remove("images");
    obj.insert("audio".into(), json!({}));
    record["description"]["en"] = json!("Edited in the console: a copy of Wang Xizhi's preface.");
    let job = change(&app, &key, "pd-006", Form::new().part("record", record_part(&record))).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let version = job["result"]["version"].as_str().unwrap().to_owned();
    assert_eq!(job["result"]["upserted"], json!(["pd-006"]));
    wait_serving(&app.address, &key, DEMO, &version).await;
    let after = stored(&app, &key, "pd-006").await;
    assert_eq!(after["version"], version.as_str());
    assert_eq!(after["record"]["description"]["en"], "Edited in the console: a copy of Wang Xizhi's preface.");
    assert_eq!(after["record"]["description"]["zh"], before["record"]["description"]["zh"]);
    // Same renditions (same content hashes), same guides, same recognition.
    assert_eq!(after["media"]["images"], images_before);
    assert_eq!(after["media"]["audio"].as_object().unwrap(), &audio_before);
    assert_eq!(after["record"]["images"], before["record"]["images"]);
    let (status, body) = app.upload(photo_of("pd-006", 1), &[("museum", DEMO)]).await;
    assert_eq!((status, body["data"]["exhibit"]["id"].as_str()), (200, Some("pd-006")), "{body}");
    let (_, card) = app.get(&format!("/api/v1/exhibits/pd-006?museum={DEMO}&lang=en")).await;
    assert_eq!(card["data"]["introduction"], "Edited in the console: a copy of Wang Xizhi's preface.");

    // A French guide, alone: the images and the other guides stay.
    let mut record = after["record"].clone();
    record.as_object_mut().unwrap().remove("images");
    record["audio"] = json!({ "fr": "guide-fr.wav" });
    let form = Form::new()
        .part("record", record_part(&record))
        .part("audio", Part::bytes(wav()).file_name("guide-fr.wav").mime_str("audio/wav").unwrap());
    let job = change(&app, &key, "pd-006", form).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    wait_serving(&app.address, &key, DEMO, job["result"]["version"].as_str().unwrap()).await;
    let with_fr = stored(&app, &key, "pd-006").await;
    let audio = with_fr["media"]["audio"].as_object().unwrap();
    assert!(audio.contains_key("fr"), "{with_fr}");
    for (lang, url) in &audio_before {
        assert_eq!(audio.get(lang), Some(url), "{lang} kept");
    }
    assert_eq!(with_fr["media"]["images"], images_before);
    let fr = reqwest::get(audio["fr"].as_str().unwrap()).await.unwrap();
    assert_eq!(fr.status(), 200);
    assert_eq!(fr.bytes().await.unwrap().as_ref(), wav().as_slice());

    // The stored record sent back whole (its published image and guide names) with one
    // more guide: what it names and did not send is the published files, none replaced.
    let mut record = with_fr["record"].clone();
    record["audio"]["de"] = json!("guide-de.wav");
    let mut german = wav();
    german.extend_from_slice(&[1, 2, 3, 4]);
    let form = Form::new()
        .part("record", record_part(&record))
        .part("audio", Part::bytes(german.clone()).file_name("guide-de.wav").mime_str("audio/wav").unwrap());
    let job = change(&app, &key, "pd-006", form).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    wait_serving(&app.address, &key, DEMO, job["result"]["version"].as_str().unwrap()).await;
    let with_de = stored(&app, &key, "pd-006").await;
    let audio_de = with_de["media"]["audio"].as_object().unwrap();
    assert_eq!(audio_de.get("fr"), audio.get("fr"), "the French guide is the one published: {with_de}");
    let de = reqwest::get(audio_de["de"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    assert_eq!(de.as_ref(), german.as_slice());
    assert_eq!(with_de["media"]["images"], images_before);

    // An audio name that was neither sent nor published: the job says why, nothing changes.
    let mut record = with_de["record"].clone();
    record.as_object_mut().unwrap().remove("images");
    record["audio"] = json!({ "it": "nowhere.mp3" });
    let job = change(&app, &key, "pd-006", Form::new().part("record", record_part(&record))).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("nowhere.mp3"), "{job}");
    // A sent guide the record does not name: a job that has already failed, saying what to fix.
    let form = Form::new()
        .part("record", record_part(&record))
        .part("audio", Part::bytes(wav()).file_name("stray.wav").mime_str("audio/wav").unwrap());
    let url = app.url(&format!("/api/v1/admin/museums/{DEMO}/exhibits/pd-006"));
    let body = send_form(Method::PUT, &url, &key, form).await;
    let refused = &body["data"]["job"];
    assert_eq!(refused["state"], "failed", "{body}");
    assert!(refused["error"].as_str().unwrap().contains("stray.wav"), "{body}");
    let (_, again) = app
        .call_json(
            Method::GET,
            &format!("/api/v1/admin/museums/{DEMO}/jobs/{}", refused["id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(again["data"]["state"], "failed", "the refusal reads back like any job: {again}");
    // A new exhibit without an image: the builder's job says it needs one.
    let new = json!({ "accession_number": "NEW-1", "title": { "en": "New" } });
    let job = change(&app, &key, "pd-new", Form::new().part("record", record_part(&new))).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("needs its image"), "{job}");
    // A record whose `audio` is not a map of file names is the API's to refuse.
    let bad = json!({ "accession_number": "X", "title": { "en": "X" }, "audio": "guide.mp3" });
    let body = send_form(Method::PUT, &url, &key, Form::new().part("record", record_part(&bad))).await;
    assert_eq!(body["error"], "invalid_parameter", "{body}");
    // Nothing of the refused changes was published.
    let (_, versions) =
        app.call_json(Method::GET, &format!("/api/v1/admin/museums/{DEMO}/versions"), Some(&key), None).await;
    assert_eq!(versions["data"]["published"], with_de["version"], "{versions}");

    // The versions say who made and who published what.
    let (_, versions) =
        app.call_json(Method::GET, &format!("/api/v1/admin/museums/{DEMO}/versions"), Some(&key), None).await;
    let details = versions["data"]["details"].as_array().unwrap();
    let newest = &details[0];
    assert_eq!(newest["version"], versions["data"]["published"], "{versions}");
    assert_eq!(newest["change"], "change");
    assert!(newest["created_by"].as_str().unwrap().starts_with("key "), "{newest}");
    assert_eq!(newest["published_by"], newest["created_by"]);
    assert_eq!(newest["exhibits"], 24);
    assert!(newest["calibration"]["accept_score"].as_f64().unwrap() > 0.0, "{newest}");
    assert!(!newest["model"].as_str().unwrap().is_empty());
    // The demo's own version was built before any history: no one is named.
    let first = details.last().unwrap();
    assert!(first["created_by"].is_null(), "{first}");
    // Rolling back is recorded as a publish by whoever did it.
    let (status, body) =
        app.call_json(Method::POST, &format!("/api/v1/admin/museums/{DEMO}/rollback"), Some(OPERATOR_KEY), None).await;
    assert_eq!(status, 200, "{body}");
    let back = body["data"]["published"].as_str().unwrap().to_owned();
    let (_, versions) =
        app.call_json(Method::GET, &format!("/api/v1/admin/museums/{DEMO}/versions"), Some(&key), None).await;
    let row =
        versions["data"]["details"].as_array().unwrap().iter().find(|d| d["version"] == back.as_str()).unwrap().clone();
    assert_eq!(row["published_by"], "operator", "{row}");
}

#[tokio::test]
async fn trying_a_photo_shows_what_the_recognizer_saw_and_counts_nowhere() {
    let (app, key) = demo_with_admin().await;
    let try_url = app.url(&format!("/api/v1/admin/museums/{DEMO}/try"));
    let try_photo = |bytes: Vec<u8>| {
        let form = Form::new()
            .part("file", Part::bytes(bytes).file_name("photo.jpg").mime_str("image/jpeg").unwrap())
            .text("lang", "en");
        send_form(Method::POST, &try_url, &key, form)
    };
    let body = try_photo(photo_of("pd-013", 2)).await;
    let (answer, diag) = (&body["data"]["answer"], &body["data"]["diagnostics"]);
    assert_eq!(
        (answer["status"].as_str(), answer["exhibit"]["id"].as_str()),
        (Some("matched"), Some("pd-013")),
        "{body}"
    );
    assert_eq!(answer["exhibit"]["lang"], "en", "the visitor's card, in the language asked for");
    let best = &diag["candidates"][0];
    assert_eq!(best["id"], "pd-013", "{diag}");
    assert!(best["title"].as_str().is_some_and(|t| !t.is_empty()));
    let crops = diag["crops"].as_array().unwrap();
    let crop = best["crop"].as_u64().expect("the window that matched") as usize;
    assert!(crop < crops.len(), "{diag}");
    // The decision is explained by the numbers shown beside it.
    let (inliers, bar) = (best["inliers"].as_u64().unwrap(), best["inlier_bar"].as_u64().unwrap());
    let accept = diag["calibration"]["accept_score"].as_f64().unwrap();
    match diag["decided_by"].as_str().unwrap() {
        "inliers" => assert!(inliers >= bar, "{diag}"),
        "inlier_lead" => assert!(inliers > 0 && inliers < bar, "{diag}"),
        "similarity" => assert!(best["score"].as_f64().unwrap() > 0.0 && accept > 0.0, "{diag}"),
        other => panic!("matched, decided by {other}: {diag}"),
    }
    assert_eq!(answer["score"], best["score"]);

    // Something not in the collection: no match, and why.
    let noise = {
        let img = image::RgbImage::from_fn(640, 480, |x, y| {
            let v = ((x / 40 + y / 40) % 2 * 200) as u8;
            image::Rgb([v, ((x * 7919 + y * 104_729) % 251) as u8, 90])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    };
    let body = try_photo(noise).await;
    assert_eq!(body["data"]["answer"]["status"], "no_match", "{body}");
    assert_eq!(body["data"]["diagnostics"]["decided_by"], "none");
    assert!(!body["data"]["answer"]["tips"].as_array().unwrap().is_empty());

    // Tried photos are not visitors': the analytics saw nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, a) = app.call_json(Method::GET, &format!("/api/v1/admin/museums/{DEMO}/analytics"), Some(&key), None).await;
    assert_eq!(a["data"]["recognitions"], 0, "{a}");
    // A visitor's recognition is counted, today.
    let (status, _) = app.upload(photo_of("pd-013", 2), &[("museum", DEMO)]).await;
    assert_eq!(status, 200);
    let (_, a) = app.call_json(Method::GET, &format!("/api/v1/admin/museums/{DEMO}/analytics"), Some(&key), None).await;
    let daily = a["data"]["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30, "{a}");
    let today = daily.last().unwrap();
    assert_eq!(today["date"], chrono_today());
    assert_eq!((today["matched"].as_u64(), a["data"]["matched"].as_u64()), (Some(1), Some(1)), "{a}");
    assert!(daily[..29].iter().all(|d| d["matched"] == 0 && d["no_match"] == 0), "{a}");

    // No photo, or not scoped to a museum with a version: clear errors.
    let form = Form::new().text("lang", "en");
    let body = send_form(Method::POST, &app.url(&format!("/api/v1/admin/museums/{DEMO}/try")), &key, form).await;
    assert_eq!(body["error"], "missing_file", "{body}");
    let other = app.create_museum("empty-museum").await;
    let form = Form::new().part("file", Part::bytes(photo_of("pd-013", 2)).file_name("p.jpg"));
    let body = send_form(Method::POST, &app.url("/api/v1/admin/museums/empty-museum/try"), &other, form).await;
    assert_eq!(body["error"], "not_published", "{body}");
}

/// Today (UTC) as the analytics write it.
fn chrono_today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[tokio::test]
async fn health_names_the_exhibits_that_are_hard_to_recognise_and_what_would_help() {
    let (app, key) = demo_with_admin().await;
    let (status, body) =
        app.call_json(Method::GET, &format!("/api/v1/admin/museums/{DEMO}/health"), Some(&key), None).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["exhibits"], 24);
    // Read what the served version holds, to check every finding against it.
    let version = data["version"].as_str().unwrap();
    let dir = app.bundles().join(DEMO).join("versions").join(version);
    let vectors: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("vectors.json")).unwrap()).unwrap();
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(data["images"], vectors.len());
    let findings = data["findings"].as_array().unwrap();
    let problems_of = |id: &str| -> Vec<Value> {
        findings.iter().find(|f| f["id"] == id).map(|f| f["problems"].as_array().unwrap().clone()).unwrap_or_default()
    };
    let records: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("exhibits.json")).unwrap()).unwrap();
    let mut single = 0;
    for r in &records {
        let id = r["id"].as_str().unwrap();
        let views = vectors.iter().filter(|v| v["exhibit"] == id).count();
        let problems = problems_of(id);
        let has = |kind: &str| problems.iter().any(|p| p["kind"] == kind);
        assert_eq!(has("single_view"), views == 1, "{id}: {views} views, {problems:?}");
        single += usize::from(views == 1);
        let confusers = manifest["calibration"]["exhibit_confusers"][id].as_array().cloned().unwrap_or_default();
        let look_alike = problems.iter().find(|p| p["kind"] == "look_alike");
        assert_eq!(
            look_alike.map(|p| p["with"].as_array().unwrap().clone()),
            (!confusers.is_empty()).then_some(confusers),
            "{id}"
        );
        for p in &problems {
            assert!(p["advice"].as_str().is_some_and(|a| a.len() > 20), "{p}");
            assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
        }
    }
    assert_eq!(data["counts"]["single_view"], single);
    assert!(single > 0, "the demo has one image per exhibit: {data}");
    // A finding names the exhibit as the visitor sees it, with its picture.
    let f = &findings[0];
    assert!(f["title"].as_str().is_some_and(|t| !t.is_empty()) && f["thumbnail"].as_str().is_some(), "{f}");
    // A museum with nothing published has no health to show yet.
    let other = app.create_museum("empty-museum").await;
    let (status, body) =
        app.call_json(Method::GET, "/api/v1/admin/museums/empty-museum/health", Some(&other), None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_published")), "{body}");
}

#[tokio::test]
async fn a_museum_sets_its_logo_and_visitors_get_it() {
    let (app, key) = demo_with_admin().await;
    let (status, body) = app.get(&format!("/api/v1/museums/{DEMO}/logo")).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("logo_not_found")));
    let png = {
        let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 128]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let url = app.url(&format!("/api/v1/admin/museums/{DEMO}/logo"));
    let form = Form::new().part("logo", Part::bytes(png.clone()).file_name("logo.png").mime_str("image/png").unwrap());
    let body = send_form(Method::PUT, &url, &key, form).await;
    assert_eq!(body["data"]["logo_url"], format!("/api/v1/museums/{DEMO}/logo"), "{body}");
    let res = reqwest::get(app.url(&format!("/api/v1/museums/{DEMO}/logo"))).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(res.bytes().await.unwrap().as_ref(), png.as_slice());
    let again = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/museums/{DEMO}/logo")))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let (_, profile) = app.call_json(Method::GET, &format!("/api/v1/admin/museums/{DEMO}"), Some(&key), None).await;
    assert_eq!(profile["data"]["logo_url"], format!("/api/v1/museums/{DEMO}/logo"));
    // SVG can carry script; an empty or oversized file is refused; the logo stays.
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    let body = send_form(Method::PUT, &url, &key, Form::new().part("logo", Part::bytes(svg).file_name("x.svg"))).await;
    assert_eq!(body["error"], "invalid_image", "{body}");
    let big = [png.clone(), vec![0u8; 600 * 1024]].concat();
    let body =
        send_form(Method::PUT, &url, &key, Form::new().part("logo", Part::bytes(big).file_name("big.png"))).await;
    assert_eq!(body["error"], "upload_too_large", "{body}");
    let res = reqwest::get(app.url(&format!("/api/v1/museums/{DEMO}/logo"))).await.unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), png.as_slice());
}
