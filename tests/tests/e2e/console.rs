//! The museum console (`/console`, server/console/) in a real Chromium at a
//! desk's viewport: the operator creates a museum and hands over its key;
//! the museum uploads records with bad rows and a zip of images, reads the
//! validation report, builds with live progress, tries a photo, edits an
//! exhibit until it is live, rolls back and publishes again, deletes an
//! exhibit, and reads its collection's health.
//! Another museum's key sees none of it. Screenshots of every step go to
//! `target/screenshots/console/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::json;

use crate::browser::*;
use crate::common::*;

/// A whole build of a few exhibits (embedding, calibration, media) on a busy 2-core machine.
const BUILD_WAIT: Duration = Duration::from_secs(240);

/// Records as a registrar exports them: three good rows, one without a
/// title, one whose image is not in the zip.
const RECORDS: &str = "id,accession_number,title_en,title_zh,images,description_en\n\
    rv-001,RV-1,Bronze ding,青铜鼎,pd-001.jpg,A ritual vessel.\n\
    rv-002,RV-2,Celadon bowl,青瓷碗,pd-002.jpg,A bowl with a jade-green glaze.\n\
    rv-003,RV-3,Landscape scroll,山水卷,pd-003.jpg,Mountains in mist.\n\
    rv-004,RV-4,,,pd-004.jpg,No title yet.\n\
    rv-005,RV-5,Lost jade,失玉,missing.jpg,Its photo went astray.\n";

fn shots() -> PathBuf {
    screenshot_dir("console")
}

async fn shot(client: &Client, name: &str) {
    // Let a smooth scroll or a chart's first frame come to rest.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let height = client.execute("return Math.ceil(document.documentElement.scrollHeight)", vec![]).await.unwrap();
    let height = height.as_u64().unwrap_or(900).clamp(900, 6000);
    client.set_window_size(DESK.width, height as u32).await.unwrap();
    let path = shots().join(format!("{name}.png"));
    std::fs::write(&path, client.screenshot().await.unwrap()).unwrap();
    client.set_window_size(DESK.width, DESK.height).await.unwrap();
    println!("screenshot: {}", path.display());
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

/// Chooses `path` in a file input.
async fn choose_file(client: &Client, css: &str, path: &Path) {
    client.find(Locator::Css(css)).await.unwrap().send_keys(&path.display().to_string()).await.unwrap();
}

/// Waits until the element's visible text contains `text`.
async fn wait_text(client: &Client, css: &str, text: &str) -> String {
    let script = format!(
        "const e = document.querySelector({}); return e && !e.closest('[hidden]') && e.innerText.includes({}) ? e.innerText : null",
        json!(css),
        json!(text)
    );
    wait_for(client, &format!("{css} to say {text:?}"), &script).await.as_str().unwrap().to_owned()
}

/// Waits until the view `name` is the one shown.
async fn wait_view(client: &Client, name: &str) {
    let script = format!("const v = document.querySelector('[data-view=\"{name}\"]'); return v && !v.hidden || null");
    wait_for(client, &format!("the {name} view"), &script).await;
}

async fn log_in(client: &Client, base: &str, key: &str) {
    client.goto(&format!("{base}/console")).await.unwrap();
    wait_view(client, "login").await;
    fill(client, "#login-key", key).await;
    click(client, "#login-form button[type=submit], #login-submit").await;
}

async fn log_out(client: &Client) {
    click(client, "#logout").await;
    wait_view(client, "login").await;
}

/// Rows of a table body, as their visible text.
async fn rows(client: &Client, css: &str) -> Vec<String> {
    let script = format!(
        "return Array.from(document.querySelectorAll({})).filter(r => !r.hidden && r.offsetParent !== null).map(r => r.innerText)",
        json!(css)
    );
    let v = client.execute(&script, vec![]).await.unwrap();
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap_or_default().to_owned()).collect()
}

/// Answers the console's confirmation dialog with OK.
async fn confirm(client: &Client, expect: &str) {
    wait_for(client, "the confirmation dialog", "return document.getElementById('confirm').open || null").await;
    let text = client.find(Locator::Css("#confirm-text")).await.unwrap().text().await.unwrap();
    assert!(text.contains(expect), "the dialog says {text:?}, not {expect:?}");
    click(client, "#confirm-ok").await;
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn png_logo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(96, 96, |x, y| {
        let ring = ((x as i32 - 48).pow(2) + (y as i32 - 48).pow(2)) < 40 * 40;
        if ring { image::Rgb([150, 30, 30]) } else { image::Rgb([245, 240, 230]) }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_museum_onboards_builds_tries_edits_rolls_back_and_reads_its_health_in_the_console() {
    if !chromedriver_present() {
        return;
    }
    let app = TestApp::spawn(AppOptions::default().admin()).await;
    let files = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let records = write(files.path(), "records.csv", RECORDS.as_bytes());
    let zip = collection_zip(&[
        ("pd-001.jpg", jpeg("pd-001")),
        ("pd-002.jpg", jpeg("pd-002")),
        ("pd-003.jpg", jpeg("pd-003")),
        ("pd-004.jpg", jpeg("pd-004")),
    ]);
    let zip = write(files.path(), "images.zip", &zip);
    let logo = write(files.path(), "logo.png", &png_logo());
    let photo = write(files.path(), "visitor.jpg", &photo_of("pd-002", 1));
    let base = app.address.clone();
    let downloads_dir = downloads.path().to_owned();
    with_browser(DESK, Some(downloads.path()), |client| async move {
        // 1. The operator creates the museum and gets its key, once.
        log_in(&client, &base, OPERATOR_KEY).await;
        wait_view(&client, "museums").await;
        fill(&client, "#cm-id", "river-museum").await;
        fill(&client, "#cm-name-lang-0", "en").await;
        fill(&client, "#cm-name-text-0", "River Museum").await;
        click(&client, "#cm-add-lang").await;
        fill(&client, "#cm-name-lang-1", "zh").await;
        fill(&client, "#cm-name-text-1", "河流博物馆").await;
        fill(&client, "#cm-default-lang", "en").await;
        choose_file(&client, "#cm-logo", &logo).await;
        shot(&client, "01-create-museum").await;
        click(&client, "#cm-submit").await;
        let key = wait_for(&client, "the new key", "const k = document.getElementById('cm-key'); return k && k.value.startsWith('mk.') ? k.value : null").await;
        let key = key.as_str().unwrap().to_owned();
        assert!(key.starts_with("mk.river-museum."), "{key}");
        shot(&client, "02-museum-key").await;
        let (status, profile) = call_json(reqwest::Method::GET, format!("{base}/api/v1/admin/museums/river-museum"), Some(&key), None).await;
        assert_eq!(status, 200, "{profile}");
        assert_eq!(profile["data"]["name"], json!({ "en": "River Museum", "zh": "河流博物馆" }));
        assert_eq!(profile["data"]["default_lang"], "en");
        assert_eq!(profile["data"]["logo_url"], "/api/v1/museums/river-museum/logo", "the logo was uploaded");
        log_out(&client).await;

        // 2. The museum logs in with its key (not remembered: nothing in localStorage).
        log_in(&client, &base, &key).await;
        wait_view(&client, "import").await;
        let stored = client.execute("return JSON.stringify(Object.assign({}, localStorage))", vec![]).await.unwrap();
        assert!(!stored.as_str().unwrap().contains(&key), "the key stays out of localStorage: {stored}");
        wait_text(&client, "#museum-name", "River Museum").await;
        wait_for(&client, "the museum's logo", "const i = document.getElementById('museum-logo'); return i && !i.hidden && i.complete && i.naturalWidth > 0 || null").await;

        // 3. Records with bad rows and a zip: the report, row by row.
        choose_file(&client, "#import-records", &records).await;
        choose_file(&client, "#import-images", &zip).await;
        click(&client, "#import-submit").await;
        let summary = wait_text(&client, "#report-summary", "rejected").await;
        assert!(summary.contains('5') && summary.contains('3') && summary.contains('2'), "{summary}");
        let all = rows(&client, "#report-rows tr").await;
        assert_eq!(all.len(), 5, "{all:?}");
        assert!(all[3].contains("rv-004") && all[3].contains("missing title"), "{all:?}");
        assert!(all[4].contains("rv-005") && all[4].contains("missing.jpg"), "{all:?}");
        shot(&client, "03-validation-report").await;
        client.find(Locator::Css("#report-filter")).await.unwrap().select_by_value("rejected").await.unwrap();
        wait_for(&client, "only the rejected rows", "return document.querySelectorAll('#report-rows tr:not([hidden])').length === 2 || null").await;
        let rejected = rows(&client, "#report-rows tr").await;
        assert!(rejected.iter().all(|r| r.contains("rv-004") || r.contains("rv-005")), "{rejected:?}");
        fill(&client, "#report-search", "missing.jpg").await;
        wait_for(&client, "the search filter", "return document.querySelectorAll('#report-rows tr:not([hidden])').length === 1 || null").await;
        shot(&client, "04-report-filtered").await;
        click(&client, "#report-csv").await;
        let csv = wait_file(&downloads_dir, ".csv").await;
        let csv = std::fs::read_to_string(csv).unwrap();
        assert_eq!(csv.lines().count(), 6, "a header and every record, whatever the filter: {csv}");
        assert!(csv.contains("rv-004") && csv.contains("rejected") && csv.contains("accepted"), "{csv}");

        // 4. Build with live progress; the two bad rows are allowed by choice.
        let allowed = client.find(Locator::Css("#build-max-error")).await.unwrap().prop("value").await.unwrap().unwrap_or_default();
        assert_eq!(allowed.parse::<f64>().ok(), Some(0.4), "the report's own ratio is offered");
        click(&client, "#build-start").await;
        let mut seen = Vec::new();
        let started = Instant::now();
        loop {
            let state = client.execute(
                "const s = document.getElementById('build-stage'), b = document.getElementById('build-bar'), \
                 d = document.getElementById('build-done'), e = document.getElementById('build-error'); \
                 return { stage: s ? s.innerText : '', max: b ? b.max : 0, value: b ? b.value : 0, \
                          done: !!d && !d.hidden && d.innerText.length > 0, error: e && !e.hidden ? e.innerText : '' }",
                vec![],
            ).await.unwrap();
            assert_eq!(state["error"], "", "the build failed: {state}");
            let stage = state["stage"].as_str().unwrap_or_default().to_owned();
            if !stage.is_empty() && seen.last() != Some(&stage) {
                if seen.is_empty() {
                    shot(&client, "05-build-progress").await;
                }
                seen.push(stage);
            }
            if state["done"] == true {
                break;
            }
            assert!(started.elapsed() < BUILD_WAIT, "the build did not finish: {state}; stages {seen:?}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        assert!(seen.len() >= 2, "progress was pushed to the page stage by stage: {seen:?}");
        let done = wait_text(&client, "#build-done", "Built version").await;
        shot(&client, "06-build-done").await;
        let (_, versions) = call_json(reqwest::Method::GET, format!("{base}/api/v1/admin/museums/river-museum/versions"), Some(&key), None).await;
        let v1 = versions["data"]["published"].as_str().unwrap().to_owned();
        assert!(done.contains(&v1), "{done}");
        wait_serving(&base, &key, "river-museum", &v1).await;

        // 5. Versions: the live one is obvious.
        client.goto(&format!("{base}/console#/m/river-museum/versions")).await.unwrap();
        wait_view(&client, "versions").await;
        let live = wait_for(&client, "the live version", &format!("const r = document.querySelector('#versions-rows tr[data-version=\"{v1}\"]'); return r && r.querySelector('.live') ? r.innerText : null")).await;
        assert!(live.as_str().unwrap().contains('3'), "three exhibits: {live}");
        shot(&client, "07-versions").await;

        // 6. Try a photo: what the visitor gets, and what the recognizer saw.
        client.goto(&format!("{base}/console#/m/river-museum/try")).await.unwrap();
        wait_view(&client, "try").await;
        choose_file(&client, "#try-file", &photo).await;
        click(&client, "#try-submit").await;
        wait_text(&client, "#try-answer", "Celadon bowl").await;
        let shortlist = rows(&client, "#try-candidate-rows tr").await;
        assert!(shortlist.first().is_some_and(|r| r.contains("Celadon bowl")), "{shortlist:?}");
        let bars = client.find(Locator::Css("#try-bars")).await.unwrap().text().await.unwrap();
        assert!(bars.contains("inliers") && bars.contains("bar"), "{bars}");
        wait_for(&client, "the matched window on the photo", "const p = document.getElementById('try-photo'); return p && p.querySelector('img') && p.querySelector('img').naturalWidth > 0 && p.children.length > 1 || null").await;
        shot(&client, "08-try-a-photo").await;

        // 7. Edit an exhibit's English title; the page says when it is live.
        client.goto(&format!("{base}/console#/m/river-museum/exhibits")).await.unwrap();
        wait_view(&client, "exhibits").await;
        fill(&client, "#exhibit-search", "celadon").await;
        wait_for(&client, "the search result", "return document.querySelector('#exhibits-list [data-exhibit=\"rv-002\"]') || null").await;
        shot(&client, "09-exhibits").await;
        click(&client, "#exhibits-list [data-exhibit=\"rv-002\"]").await;
        wait_view(&client, "exhibit").await;
        wait_for(&client, "the stored record", "const t = document.getElementById('edit-title'); return t && t.value.length > 0 || null").await;
        client.find(Locator::Css("#edit-lang")).await.unwrap().select_by_value("en").await.unwrap();
        fill(&client, "#edit-title", "Celadon bowl, Song dynasty").await;
        click(&client, "#exhibit-save").await;
        wait_text(&client, "#exhibit-status", "Live now").await;
        shot(&client, "10-exhibit-live").await;
        let (_, card) = call_json(reqwest::Method::GET, format!("{base}/api/v1/exhibits/rv-002?museum=river-museum&lang=en"), None, None).await;
        assert_eq!(card["data"]["title"], "Celadon bowl, Song dynasty", "{card}");
        assert_eq!(card["data"]["images"].as_array().map(Vec::len), Some(1), "the image was kept: {card}");
        let (_, card) = call_json(reqwest::Method::GET, format!("{base}/api/v1/exhibits/rv-002?museum=river-museum&lang=zh"), None, None).await;
        assert_eq!(card["data"]["title"], "青瓷碗", "the other language kept: {card}");
        let (_, versions) = call_json(reqwest::Method::GET, format!("{base}/api/v1/admin/museums/river-museum/versions"), Some(&key), None).await;
        let v2 = versions["data"]["published"].as_str().unwrap().to_owned();
        assert_ne!(v2, v1);

        // 8. Roll back to the build, with a confirmation.
        client.goto(&format!("{base}/console#/m/river-museum/versions")).await.unwrap();
        wait_view(&client, "versions").await;
        wait_for(&client, "two versions", "return document.querySelectorAll('#versions-rows tr[data-version]').length === 2 || null").await;
        click(&client, "#rollback").await;
        confirm(&client, &v1).await;
        wait_text(&client, "#versions-status", "is live").await;
        wait_for(&client, "the build live again", &format!("const r = document.querySelector('#versions-rows tr[data-version=\"{v1}\"]'); return r && r.querySelector('.live') || null")).await;
        shot(&client, "11-rolled-back").await;
        let (_, versions) = call_json(reqwest::Method::GET, format!("{base}/api/v1/admin/museums/river-museum/versions"), Some(&key), None).await;
        assert_eq!(versions["data"]["published"], v1.as_str());
        // ...and publish the edit again from its row.
        click(&client, &format!("#versions-rows tr[data-version=\"{v2}\"] button.publish")).await;
        confirm(&client, &v2).await;
        wait_text(&client, "#versions-status", &format!("Version {v2} is live")).await;
        let (_, versions) = call_json(reqwest::Method::GET, format!("{base}/api/v1/admin/museums/river-museum/versions"), Some(&key), None).await;
        assert_eq!(versions["data"]["published"], v2.as_str());
        let created = rows(&client, &format!("#versions-rows tr[data-version=\"{v2}\"]")).await;
        assert!(created.first().is_some_and(|r| r.contains("key ")), "who made it: {created:?}");
        shot(&client, "12-published-again").await;

        // 9. Delete an exhibit, confirmed; visitors no longer get it.
        client.goto(&format!("{base}/console#/m/river-museum/exhibit/rv-003")).await.unwrap();
        wait_view(&client, "exhibit").await;
        wait_for(&client, "the stored record", "const t = document.getElementById('edit-title'); return t && t.value.length > 0 || null").await;
        click(&client, "#exhibit-delete").await;
        confirm(&client, "rv-003").await;
        wait_text(&client, "#exhibit-status", "Deleted; live now").await;
        let (status, _) = call_json(reqwest::Method::GET, format!("{base}/api/v1/exhibits/rv-003?museum=river-museum"), None, None).await;
        assert_eq!(status, 404, "deleted for visitors");

        // 10. Collection health: advice per exhibit, charts drawn.
        let (status, _) = upload(&base, photo_of("pd-002", 2), &[("museum", "river-museum")]).await;
        assert_eq!(status, 200);
        client.goto(&format!("{base}/console#/m/river-museum/health")).await.unwrap();
        wait_view(&client, "health").await;
        let advice = wait_text(&client, "#health-findings", "Add").await;
        assert!(advice.contains("Bronze ding") && advice.contains("Celadon"), "{advice}");
        assert!(!advice.contains("Landscape scroll"), "the deleted exhibit is gone: {advice}");
        wait_for(&client, "the daily chart", "return document.querySelector('#chart-daily canvas') || null").await;
        wait_for(&client, "the no-match chart", "return document.querySelector('#chart-nomatch canvas') || null").await;
        shot(&client, "13-health").await;
    })
    .await;
}

/// Waits for a finished download ending in `ext` in `dir`.
async fn wait_file(dir: &Path, ext: &str) -> PathBuf {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(ext));
        if let Some(path) = found {
            return path;
        }
        assert!(Instant::now() < deadline, "no {ext} download in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_museums_key_sees_nothing_of_another_museum_in_the_console() {
    if !chromedriver_present() {
        return;
    }
    let app = TestApp::spawn(AppOptions::default().admin()).await;
    // The demo museum, with a profile and its published bundle; and a second museum.
    let _demo_key = app.create_museum(DEMO).await;
    let other = app.create_museum("other-museum").await;
    let base = app.address.clone();
    with_browser(DESK, None, |client| async move {
        log_in(&client, &base, &other).await;
        wait_view(&client, "import").await;
        // The console offers only its own museum...
        let nav = client.find(Locator::Css("#nav")).await.unwrap().text().await.unwrap();
        assert!(!nav.contains(DEMO), "{nav}");
        // ...and typing another museum's address brings it back to its own, showing nothing of the other's.
        for (view, path) in
            [("versions", "versions"), ("health", "health"), ("exhibit", "exhibit/pd-006"), ("try", "try")]
        {
            client.goto(&format!("{base}/console#/m/{DEMO}/{path}")).await.unwrap();
            wait_for(&client, "its own museum", "return location.hash.startsWith('#/m/other-museum/') || null").await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let page = client.execute("return document.body.innerText", vec![]).await.unwrap();
            let page = page.as_str().unwrap();
            for secret in ["Orchid Pavilion", "兰亭", "palace-demo", "Live"] {
                assert!(!page.contains(secret), "{view} shows {secret}: {page}");
            }
            shot(&client, &format!("cross-museum-{view}")).await;
        }
        let versions = rows(&client, "#versions-rows tr[data-version]").await;
        assert!(versions.is_empty(), "{versions:?}");
        // The page's own script, with the key it holds, gets the API's refusal: the console has no other path.
        let script = "const done = arguments[arguments.length - 1]; \
             const key = sessionStorage.getItem('museum-console.key'); \
             Promise.all(['versions', 'health', 'exhibits/pd-006', 'analytics'].map(p => \
               fetch('/api/v1/admin/museums/palace-demo/' + p, { headers: { Authorization: 'Bearer ' + key } }) \
                 .then(r => r.json().then(b => r.status + ' ' + b.error)))).then(done, e => done(String(e)))";
        let answers = client.execute_async(script, vec![]).await.unwrap();
        assert_eq!(answers, json!(vec!["403 admin_forbidden"; 4]), "{answers}");
        // The API says the same to the same key.
        let (status, body) =
            call_json(reqwest::Method::GET, format!("{base}/api/v1/admin/museums/{DEMO}/versions"), Some(&other), None)
                .await;
        assert_eq!((status, body["error"].as_str()), (403, Some("admin_forbidden")));
    })
    .await;
}
