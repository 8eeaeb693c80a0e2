//! `index-builder eval` on a small dataset in the ../shared/eval layout, made
//! from the demo fixtures: counts, shares and the layout rules are checked.

use crate::common::*;

#[test]
fn eval_reads_the_layout_and_accounts_for_every_photo() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("demo-set");
    let distractors = dir.path().join("distractors");
    let records = museum_fixtures::records();
    // Five objects with a ref and two queries; two more only as unknowns;
    // three as distractors (refs only).
    for r in &records[..5] {
        let obj = set.join(&r.id);
        std::fs::create_dir_all(&obj).unwrap();
        museum_fixtures::render(r, 0).save(obj.join("ref.jpg")).unwrap();
        for seed in 0..2 {
            std::fs::write(obj.join(format!("query{seed}.jpg")), photo_of(&r.id, seed)).unwrap();
        }
        std::fs::write(obj.join("notes.txt"), "ignored: neither ref* nor query*").unwrap();
    }
    let unknown = set.join("_unknown");
    std::fs::create_dir_all(&unknown).unwrap();
    for r in &records[5..7] {
        std::fs::write(unknown.join(format!("{}.jpg", r.id)), photo_of(&r.id, 0)).unwrap();
    }
    for r in &records[7..10] {
        let obj = distractors.join(&r.id);
        std::fs::create_dir_all(&obj).unwrap();
        museum_fixtures::render(r, 0).save(obj.join("ref1.jpg")).unwrap();
    }

    // Distractors in the set's bundle, then in a museum of their own (recognised across museums).
    for separate in [false, true] {
        let report =
            index_builder::eval::evaluate(&recognizer(), &set, std::slice::from_ref(&distractors), separate, |_, _| {})
                .unwrap();
        assert_eq!((report.catalog_objects, report.catalog_images), (5, 8));
        assert_eq!((report.queries, report.unknowns), (10, 2));
        let total = report.top1 + report.wrong_matches + report.known_rejected + report.ambiguous;
        assert!((total - 1.0).abs() < 1e-9, "every known query is counted once: {report:?}");
        assert!(report.recall_at_k >= report.top1);
        assert!(report.recall_at_k >= 0.8, "the right object should be on the shortlist: {report:?}");
        assert!(report.p50_ms > 0.0 && report.p95_ms >= report.p50_ms);
    }

    // Not the eval layout: a clear error, not an empty report.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(index_builder::eval::evaluate(&recognizer(), &empty, &[], false, |_, _| {}).is_err());
}
