//! What a visitor's client loads besides JSON: the pictures and audio
//! guides a card points at, and cards in the visitor's language.

use reqwest::Method;
use reqwest::header::{CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RANGE};

use crate::common::{AppOptions, DEMO, OPERATOR_KEY, TestApp, photo_of};

async fn fetch(url: &str, headers: &[(reqwest::header::HeaderName, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.send().await.expect("media request")
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn the_urls_of_a_card_load_and_nothing_else_does() {
    let app = TestApp::spawn(AppOptions::default()).await;
    let (status, body) = app.get("/api/v1/exhibits/pd-006?lang=en").await;
    assert_eq!(status, 200, "{body}");
    let card = &body["data"];
    let image = card["images"][0].as_str().unwrap();
    let media_base = format!("{}/media/{DEMO}/", app.address);
    assert!(image.starts_with(&media_base), "{image} is an absolute URL of this server's media");

    // The display picture: a JPEG at most 1024 px long, cacheable forever.
    let response = fetch(image, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, CONTENT_TYPE), "image/jpeg");
    assert!(header(&response, CACHE_CONTROL).contains("immutable"));
    let etag = header(&response, ETAG).to_owned();
    let picture = image::load_from_memory(&response.bytes().await.unwrap()).expect("a picture");
    assert!(picture.width().max(picture.height()) <= 1024);
    let again = fetch(image, &[(IF_NONE_MATCH, &etag)]).await;
    assert_eq!(again.status(), 304, "the same ETag is not sent twice");

    let thumbnail = card["thumbnails"][0].as_str().unwrap();
    let small = image::load_from_memory(&fetch(thumbnail, &[]).await.bytes().await.unwrap()).unwrap();
    assert!(small.width().max(small.height()) <= 320);
    let related = &card["related_exhibits"][0];
    assert!(related["thumbnail"].as_str().unwrap().starts_with(&media_base), "{related}");

    // The audio guide: seekable by range.
    let audio = card["audio_url"].as_str().expect("pd-006 has an audio guide");
    let whole = fetch(audio, &[]).await;
    assert_eq!((whole.status().as_u16(), header(&whole, CONTENT_TYPE)), (200, "audio/wav"));
    let whole = whole.bytes().await.unwrap();
    let part = fetch(audio, &[(RANGE, "bytes=100-199")]).await;
    assert_eq!(part.status(), 206);
    assert_eq!(header(&part, CONTENT_RANGE), format!("bytes 100-199/{}", whole.len()));
    assert_eq!(part.bytes().await.unwrap(), whole[100..200]);

    // Nothing but the listed files: not the bundle's own files, not a path
    // out of the media folder, not another museum's name for the file.
    let file = image.rsplit('/').next().unwrap();
    for path in [
        format!("/media/{DEMO}/manifest.json"),
        format!("/media/{DEMO}/..%2Fmanifest.json"),
        format!("/media/{DEMO}/%2e%2e%2f%2e%2e%2fCURRENT"),
        format!("/media/{DEMO}/..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
        format!("/media/{DEMO}/media%2F{file}"),
        format!("/media/..%2F{DEMO}/{file}"),
        format!("/media/other-museum/{file}"),
        format!("/media/{DEMO}/{}", file.to_uppercase()),
    ] {
        let response = fetch(&app.url(&path), &[]).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    let (status, body) = app.call_json(Method::GET, "/media/palace-demo/nope.jpg", None, None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("media_not_found")));

    // With a CDN configured, cards point there (`index-builder export-media` fills it).
    let cdn =
        TestApp::spawn(AppOptions::default().with(|s| s.server.media_base_url = "https://cdn.example/m/".into())).await;
    let (_, body) = cdn.get("/api/v1/exhibits/pd-006").await;
    assert_eq!(body["data"]["images"][0].as_str().unwrap(), format!("https://cdn.example/m/{DEMO}/{file}"));
}

#[tokio::test]
async fn cards_come_in_the_visitors_language_along_the_fallback_chain() {
    let app = TestApp::spawn(AppOptions::default().admin()).await;
    let card = |lang: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/api/v1/exhibits/pd-006?museum={DEMO}&lang={lang}")).await;
            assert_eq!(status, 200, "{lang}: {body}");
            body["data"].clone()
        }
    };
    let ja = card("ja-JP").await;
    assert_eq!((ja["lang"].as_str(), ja["title"].as_str()), (Some("ja"), Some("馮承素摹 蘭亭序")));
    assert_ne!(ja["audio_url"], card("en").await["audio_url"], "pd-006 has a Japanese audio guide");
    // The demo has no Japanese date: that field follows the chain to zh.
    assert_eq!(ja["date"].as_str(), Some("唐"));
    // A language the record lacks: zh (no museum default yet), then en.
    assert_eq!(card("fr").await["lang"].as_str(), Some("zh"));
    assert_eq!(card("en-GB").await["lang"].as_str(), Some("en"));
    let photo = photo_of("pd-013", 3);
    let mut blank = Vec::new();
    image::RgbImage::from_pixel(640, 480, image::Rgb([128, 128, 128]))
        .write_to(&mut std::io::Cursor::new(&mut blank), image::ImageFormat::Png)
        .unwrap();
    let (_, nothing) = app.upload(blank, &[("lang", "ko")]).await;
    assert_eq!(nothing["data"]["status"].as_str(), Some("no_match"), "{nothing}");
    assert!(nothing["data"]["tips"][0].as_str().unwrap().contains("전시품"), "tips in Korean: {nothing}");
    let (status, found) = app.upload(photo, &[("lang", "ja")]).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["data"]["exhibit"]["lang"].as_str(), Some("ja"), "{found}");
    for bad in ["zh_CN", "en%20", "e", "x-klingon-", "12"] {
        let (status, body) = app.get(&format!("/api/v1/museums?lang={bad}")).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_parameter")), "{bad}");
    }

    // The museum's default language comes before zh.
    let create =
        serde_json::json!({ "id": DEMO, "name": {"en": "Palace demo", "ja": "故宮デモ"}, "default_lang": "en" });
    let (status, body) = app.call_json(Method::POST, "/api/v1/admin/museums", Some(OPERATOR_KEY), Some(create)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(card("fr").await["lang"].as_str(), Some("en"));
    let (_, body) = app.get(&format!("/api/v1/exhibits/pd-006?museum={DEMO}")).await;
    assert_eq!(body["data"]["lang"].as_str(), Some("en"), "no language asked: the museum's default");
    let (_, museums) = app.get("/api/v1/museums?lang=ja").await;
    let museum = &museums["data"]["museums"][0];
    assert_eq!((museum["name"].as_str(), museum["default_lang"].as_str()), (Some("故宮デモ"), Some("en")));
    let languages: Vec<&str> = museum["languages"].as_array().unwrap().iter().filter_map(|l| l.as_str()).collect();
    assert!(["zh", "en", "ja"].iter().all(|l| languages.contains(l)), "{languages:?}");
    let bad = serde_json::json!({ "id": "m2", "default_lang": "english!" });
    let (status, _) = app.call_json(Method::POST, "/api/v1/admin/museums", Some(OPERATOR_KEY), Some(bad)).await;
    assert_eq!(status, 400);
}
