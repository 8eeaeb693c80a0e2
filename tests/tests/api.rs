#![allow(clippy::unwrap_used)]
//! The visitor API end to end: real model, real FAISS bundle built from the
//! demo collection, real Redis, real HTTP.

mod common;

use common::*;

#[tokio::test]
async fn recognizes_visitor_photos_of_demo_exhibits_and_caches_them() {
    let demo = demo();
    let redis = RedisServer::start();
    let base = spawn_app(settings(&demo.bundles, &redis.url())).await;

    // Photos made differently from the catalog image: perspective-warped into a
    // cluttered scene, re-lit with glare, blurred, noised, JPEG-recompressed.
    for (id, seed) in [("pd-006", 0), ("pd-013", 2)] {
        let (status, body) = upload(&base, photo_of(id, seed), &[("lang", "en"), ("museum", "palace-demo")]).await;
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
    let (status, body) = upload(&base, photo_of("pd-006", 0), &[("museum", "palace-demo")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["cached"], true, "{body}");
    assert_eq!(body["data"]["exhibit"]["title"], "冯承素摹兰亭序");
}

#[tokio::test]
async fn bad_uploads_get_documented_errors() {
    let demo = demo();
    let redis = RedisServer::start();
    let mut s = settings(&demo.bundles, &redis.url());
    s.server.max_upload_bytes = 200_000;
    let base = spawn_app(s).await;

    let (status, body) = upload(&base, b"this is not an image at all".to_vec(), &[]).await;
    assert_eq!((status, body["error"].as_str(), body["errcode"].as_i64()), (422, Some("invalid_image"), Some(40015)));
    assert!(body["request_id"].as_str().is_some_and(|s| !s.is_empty()), "{body}");

    let (status, body) = upload(&base, Vec::new(), &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("empty_file")));

    let (status, body) = upload(&base, vec![0xFF; 300_000], &[]).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("upload_too_large")));

    let (status, body) = upload(&base, photo_of("pd-001", 0), &[("lang", "fr")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_parameter")));

    let (status, body) = upload(&base, photo_of("pd-001", 0), &[("museum", "no-such-museum")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_parameter")));

    // A tiny but valid image.
    let mut png = Vec::new();
    image_png(8, &mut png);
    let (status, body) = upload(&base, png, &[]).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("image_too_small")));

    let client = reqwest::Client::new();
    let res = client.post(format!("{base}/api/v1/recognize")).body("x").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let form = reqwest::multipart::Form::new().text("museum", "palace-demo");
    let res = client.post(format!("{base}/api/v1/recognize")).multipart(form).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "missing_file");

    // The server is still healthy after all that.
    let res = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

fn image_png(side: u32, out: &mut Vec<u8>) {
    use std::io::Cursor;
    let img = image::RgbImage::from_pixel(side, side, image::Rgb([200, 10, 10]));
    img.write_to(&mut Cursor::new(out), image::ImageFormat::Png).unwrap();
}

#[tokio::test]
async fn exhibits_health_and_readiness() {
    let demo = demo();
    let redis = RedisServer::start();
    let base = spawn_app(settings(&demo.bundles, &redis.url())).await;
    let client = reqwest::Client::new();

    let body: serde_json::Value =
        client.get(format!("{base}/api/v1/exhibits/pd-014?lang=en")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"]["title"], "Square hu with lotus and crane");
    assert_eq!(body["data"]["period"], "Spring and Autumn");
    assert!(body["data"]["audio_url"].is_string());

    let res = client.get(format!("{base}/api/v1/exhibits/nope")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "exhibit_not_found");

    let res = client.get(format!("{base}/no/such/route")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);

    let body: serde_json::Value = client.get(format!("{base}/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"]["ready"], true);
    assert_eq!(body["data"]["bundle_version"], demo.version.as_str());
    assert_eq!(body["data"]["cache"], "up");
}

#[tokio::test]
async fn recognition_keeps_working_when_redis_is_down() {
    let demo = demo();
    // Nothing listens on this port.
    let base = spawn_app(settings(&demo.bundles, &format!("redis://127.0.0.1:{}/", free_port()))).await;
    for _ in 0..2 {
        let (status, body) = upload(&base, photo_of("pd-013", 2), &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["exhibit"]["id"], "pd-013");
        assert_eq!(body["data"]["cached"], false);
    }
    let body: serde_json::Value = reqwest::get(format!("{base}/ready")).await.unwrap().json().await.unwrap();
    assert_eq!(body["data"]["cache"], "down");
}

#[tokio::test]
async fn unready_until_a_bundle_is_published_then_picked_up_while_running() {
    let demo = demo();
    let redis = RedisServer::start();
    let root = tempfile::tempdir().unwrap();
    let base = spawn_app(settings(root.path(), &redis.url())).await;
    let client = reqwest::Client::new();

    let res = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
    let (status, body) = upload(&base, photo_of("pd-006", 0), &[]).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("not_ready")));

    // A corrupt version is refused when published...
    let versions = root.path().join("versions");
    std::fs::create_dir_all(&versions).unwrap();
    let src = demo.bundles.join("versions").join(&demo.version);
    copy_dir(&src, &versions.join("broken"));
    std::fs::write(versions.join("broken/index.faiss"), b"garbage").unwrap();
    recognizer::bundle::publish(root.path(), "broken").unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(client.get(format!("{base}/ready")).send().await.unwrap().status().as_u16(), 503);

    // ...and a good one is picked up without a restart.
    copy_dir(&src, &versions.join(&demo.version));
    recognizer::bundle::publish(root.path(), &demo.version).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let res = client.get(format!("{base}/ready")).send().await.unwrap();
        if res.status().as_u16() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "published bundle not picked up");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, body) = upload(&base, photo_of("pd-006", 0), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["exhibit"]["id"], "pd-006");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
