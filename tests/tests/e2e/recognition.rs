//! Recognition quality on the demo collection, through the real pipeline:
//! one synthetic visitor photo per exhibit (perspective, clutter, glare, JPEG),
//! and photos of exhibits that are not in the index.

use crate::common::*;
use recognizer::{Bundle, Decision, ModelManifest};

#[test]
fn demo_exhibits_are_recognised_and_unknown_ones_are_not_matched() {
    let demo = demo();
    let recognizer = recognizer();
    let manifest = ModelManifest::load(&model_path()).unwrap();
    let bundle = Bundle::load_current(&demo.museum_root(), &manifest).unwrap();

    let (mut right, mut wrong, mut lines) = (0, 0, Vec::new());
    let records = museum_fixtures::records();
    for r in &records {
        let out = recognizer.recognize_bytes(&bundle, &photo_of(&r.id, 5)).unwrap();
        match &out.decision {
            Decision::Matched { exhibit, .. } if exhibit.id == r.id && exhibit.museum == bundle.museum() => right += 1,
            Decision::Matched { .. } => wrong += 1,
            _ => {}
        }
        lines.push(format!("{} -> {:?} {:?}", r.id, out.decision, out.candidates.first()));
    }
    let report = lines.join("\n");
    // Floors, with room for floating-point differences between CPUs.
    assert!(right * 10 >= records.len() * 9, "{right}/{} right:\n{report}", records.len());
    assert!(wrong <= 1, "{wrong} wrong:\n{report}");

    // Exhibits left out of the index must not be confidently matched: build a
    // bundle without the first six exhibits and photograph those.
    let dir = tempfile::tempdir().unwrap();
    let collection = index_builder::load_collection(
        &demo.collection.join("exhibits.json"),
        &demo.collection.join("images"),
        "palace-demo",
    )
    .unwrap();
    let mut partial = collection.clone();
    partial.records.retain(|r| !records[..6].iter().any(|x| x.id == r.id));
    index_builder::build_bundle(&partial, &recognizer, dir.path(), &index_builder::BuildOptions::default()).unwrap();
    let partial_bundle = Bundle::load_current(&dir.path().join(DEMO), &manifest).unwrap();
    let mut accepted = Vec::new();
    for r in &records[..6] {
        let out = recognizer.recognize_bytes(&partial_bundle, &photo_of(&r.id, 5)).unwrap();
        if matches!(out.decision, Decision::Matched { .. }) {
            accepted.push(format!("{} -> {:?}", r.id, out.decision));
        }
    }
    assert!(accepted.len() <= 1, "unknown exhibits matched: {accepted:?}");
}
