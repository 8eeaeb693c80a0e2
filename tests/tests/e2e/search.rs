//! Searching a collection the way visitors type: ranked, Chinese segmented,
//! English stemmed, the last word as a prefix; from the index the builder
//! wrote into the bundle.

use crate::common::{AppOptions, DEMO, TestApp};

async fn search(app: &TestApp, q: &str, extra: &str) -> (usize, Vec<(String, String)>) {
    let url = reqwest::Url::parse_with_params(
        &app.url(&format!("/api/v1/museums/{DEMO}/exhibits?{extra}")),
        &[("q", q), ("lang", "zh")],
    )
    .unwrap();
    let body: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let data = &body["data"];
    let items = data["items"].as_array().unwrap_or_else(|| panic!("{q}: {body}"));
    let found = items
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i["period"].as_str().unwrap_or("").to_owned()))
        .collect();
    (data["total"].as_u64().unwrap() as usize, found)
}

#[tokio::test]
async fn visitors_find_what_they_mean() {
    let app = TestApp::spawn(AppOptions::default()).await;
    let qing: Vec<String> = museum_fixtures::records()
        .into_iter()
        .filter(|r| r.period.get("zh").is_some_and(|p| p.starts_with('清')))
        .map(|r| r.id)
        .collect();
    // 清 (Qing) finds the Qing-dynasty exhibits first, not 清明上河图 (Northern Song).
    let (total, found) = search(&app, "清", "page_size=50").await;
    assert!(total >= qing.len(), "{found:?}");
    let firsts: Vec<&String> = found.iter().take(qing.len()).map(|(id, _)| id).collect();
    assert!(qing.iter().all(|id| firsts.contains(&id)), "Qing first: {found:?}");
    // 清明 finds the painting.
    assert_eq!(search(&app, "清明", "").await.1[0].0, "pd-001");
    // As typed: an English prefix, and English inflections.
    let (_, bronzes) = search(&app, "bron", "").await;
    assert!(!bronzes.is_empty() && bronzes.iter().all(|(id, _)| ["pd-013", "pd-014", "pd-021"].contains(&id.as_str())));
    assert!(!search(&app, "paintings", "").await.1.is_empty(), "stemmed: painting");
    // More words narrow; paging keeps the total.
    let (both, _) = search(&app, "清 瓶", "").await;
    assert!(both > 0 && both < total);
    let (paged_total, page2) = search(&app, "清", "page=2&page_size=3").await;
    assert_eq!((paged_total, page2.len()), (total, 3));
    assert_eq!(page2[0].0, found[3].0);
    // No words: the whole collection, in catalog order.
    assert_eq!(search(&app, "", "page_size=50").await.0, museum_fixtures::records().len());
    // Query syntax is just text.
    for q in ["\"", "清*", "(bron", "a:b", "\\", "[]"] {
        search(&app, q, "").await;
    }
}
