//! Search over the demo collection (the Palace Museum records of
//! `museum-fixtures`), written and opened the way a bundle does.

use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;

use catalog_search::{DIR, Hits, SearchError, SearchIndex, write_index};
use recognizer::ExhibitRecord;

struct Demo {
    _dir: tempfile::TempDir,
    index: SearchIndex,
    records: Vec<ExhibitRecord>,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let records = museum_fixtures::records();
        let dir = tempfile::tempdir().expect("temporary directory");
        write_index(&dir.path().join(DIR), &records).expect("index written");
        let index = SearchIndex::open(&dir.path().join(DIR)).expect("index opened");
        Demo { _dir: dir, index, records }
    })
}

fn search(q: &str) -> Hits {
    demo().index.search(q, 100, 0).expect("search")
}

fn ids(q: &str) -> Vec<String> {
    search(q).ids.into_iter().map(|(id, _)| id).collect()
}

fn record(id: &str) -> &'static ExhibitRecord {
    demo().records.iter().find(|r| r.id == id).expect("a demo record")
}

fn zh_period(id: &str) -> &'static str {
    record(id).period.get("zh").map_or("", String::as_str)
}

const QINGMING_PAINTING: &str = "pd-001";

#[test]
fn qing_character_ranks_qing_dynasty_exhibits_first() {
    let qing: BTreeSet<&str> =
        demo().records.iter().filter(|r| zh_period(&r.id).starts_with('清')).map(|r| r.id.as_str()).collect();
    assert!(qing.len() >= 5, "the demo has Qing exhibits: {qing:?}");
    let found = ids("清");
    let head: BTreeSet<&str> = found.iter().take(qing.len()).map(String::as_str).collect();
    assert_eq!(head, qing, "the first hits of 清 are the Qing-dynasty exhibits: {found:?}");
    if let Some(painting) = found.iter().position(|id| id == QINGMING_PAINTING) {
        assert!(painting >= qing.len(), "清明上河图 after every Qing exhibit: {found:?}");
    }
}

#[test]
fn qingming_finds_the_painting_first() {
    for q in ["清明", "清明上", "清明上河", "清明上河图", "上河图"] {
        assert_eq!(ids(q).first().map(String::as_str), Some(QINGMING_PAINTING), "{q}: {:?}", ids(q));
    }
}

#[test]
fn english_words_match_their_inflections() {
    // The record says "Carved red lacquer box with flowers".
    for q in ["carving", "flower", "Carved", "FLOWERS"] {
        assert_eq!(ids(q).first().map(String::as_str), Some("pd-017"), "{q}: {:?}", ids(q));
    }
    // Object type and gallery say "painting"; "paintings" finds every painting.
    let paintings: HashSet<String> =
        demo().records.iter().filter(|r| r.object_type.as_deref() == Some("painting")).map(|r| r.id.clone()).collect();
    let found: HashSet<String> = ids("paintings").into_iter().collect();
    assert!(paintings.is_subset(&found), "{paintings:?} in {found:?}");
}

#[test]
fn the_last_word_matches_as_a_prefix() {
    let bronze = ids("bron");
    for id in ["pd-013", "pd-014", "pd-021"] {
        assert!(bronze.contains(&id.to_owned()), "bron finds {id}: {bronze:?}");
    }
    // "Gilt bronze clock ..." has it in the title.
    assert_eq!(bronze.first().map(String::as_str), Some("pd-021"));
    let porcelain: BTreeSet<String> = ids("porcel").into_iter().collect();
    let expected: BTreeSet<String> = demo()
        .records
        .iter()
        .filter(|r| r.material.get("en").is_some_and(|m| m.contains("Porcelain")))
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(porcelain, expected);
    // Only the last word is a prefix, and only while it is being typed.
    assert!(ids("porcel clock").is_empty());
    assert!(ids("porcel ").is_empty());
    assert_eq!(ids("clock porcel"), Vec::<String>::new(), "no porcelain clock");
    assert!(ids("famille porcel").contains(&"pd-024".to_owned()));
}

#[test]
fn accession_numbers_match_whole_and_by_prefix() {
    for q in ["故00146651", " 故00146651 ", "00146651"] {
        assert_eq!(ids(q).first().map(String::as_str), Some("pd-009"), "{q}: {:?}", ids(q));
    }
    assert_eq!(ids("新00005526").first().map(String::as_str), Some(QINGMING_PAINTING));
    let prefix = ids("故0014");
    assert!(prefix.contains(&"pd-009".to_owned()), "{prefix:?}");
    assert!(record(&prefix[0]).accession_number.starts_with("故0014"), "{prefix:?}");
    let digits = ids("0015");
    let want: BTreeSet<&str> = demo()
        .records
        .iter()
        .filter(|r| r.accession_number.trim_start_matches(|c: char| !c.is_ascii_digit()).starts_with("0015"))
        .map(|r| r.id.as_str())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(digits.iter().map(String::as_str).collect::<BTreeSet<_>>(), want);
}

#[test]
fn special_characters_are_just_text() {
    for q in [
        "\"",
        "*",
        "(",
        "\\",
        "[",
        "\"*(\\[",
        "bron*",
        "c++",
        "(清",
        "title:清",
        "-",
        "AND",
        "OR NOT",
        "?",
        "{}",
        ".*",
        "^$",
        "~2",
        "清明\"",
        "\u{0}",
        "ﾟ",
        "🏺",
        "a\\b[c(d",
    ] {
        assert!(demo().index.search(q, 10, 0).is_ok(), "{q:?}");
    }
    assert_eq!(ids("bron*"), ids("bron"));
    assert_eq!(ids("\"清明\""), ids("清明"));
}

#[test]
fn nothing_to_search_for_finds_nothing() {
    for q in ["", "   ", "\"*(\\[", "，。"] {
        assert_eq!(search(q), Hits::default(), "{q:?}");
    }
}

#[test]
fn more_words_narrow_the_result() {
    let one = search("bronze");
    let two = search("bronze clock");
    assert!(two.total >= 1 && two.total < one.total, "{} then {}", one.total, two.total);
    assert_eq!(two.ids[0].0, "pd-021");
    let qing: HashSet<String> = ids("清").into_iter().collect();
    let porcelain: HashSet<String> = ids("瓷").into_iter().collect();
    let both: HashSet<String> = ids("清 瓷").into_iter().collect();
    assert!(both.contains("pd-012") && both.contains("pd-024"), "{both:?}");
    assert!(both.is_subset(&qing) && both.is_subset(&porcelain), "{both:?}");
    // Common English words do not narrow.
    assert_eq!(ids("the bronze clock").first().map(String::as_str), Some("pd-021"));
}

#[test]
fn paging_by_offset_and_limit() {
    let all = demo().index.search("gallery", 100, 0).unwrap();
    assert_eq!(all.total, demo().records.len(), "every record has a gallery");
    let mut paged = Vec::new();
    for page in 0..5 {
        let hits = demo().index.search("gallery", 5, page * 5).unwrap();
        assert_eq!(hits.total, all.total);
        paged.extend(hits.ids);
    }
    assert_eq!(paged, all.ids);
    let past = demo().index.search("gallery", 5, 1000).unwrap();
    assert_eq!((past.total, past.ids.len()), (all.total, 0));
    let none = demo().index.search("gallery", 0, 0).unwrap();
    assert_eq!((none.total, none.ids.len()), (all.total, 0));
    assert!(demo().index.search("gallery", usize::MAX, usize::MAX).unwrap().ids.is_empty());
    let scores: Vec<f32> = all.ids.iter().map(|(_, s)| *s).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
}

#[test]
fn romanised_dynasty_and_folded_accents() {
    let qing = ids("qing");
    assert!(zh_period(&qing[0]).starts_with('清'), "{qing:?}");
    assert_eq!(ids("cloisonne").first().map(String::as_str), Some("pd-016"));
    assert_eq!(ids("乾隆").first().map(String::as_str), Some("pd-022"), "乾隆 in the title first");
}

#[test]
fn other_languages_and_scripts() {
    let mut painting = record(QINGMING_PAINTING).clone();
    painting.id = "x-1".into();
    painting.title = [
        ("zh-Hant".to_owned(), "清明上河圖".to_owned()),
        ("fr".to_owned(), "Le Jour de Qingming au bord de la rivière".to_owned()),
        ("ja".to_owned(), "清明上河図・せいめいじょうがず".to_owned()),
    ]
    .into();
    let mut other = record("pd-012").clone();
    other.id = "x-2".into();
    let dir = tempfile::tempdir().unwrap();
    write_index(dir.path(), &[painting, other]).unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    let first = |q: &str| index.search(q, 10, 0).unwrap().ids.first().map(|(id, _)| id.clone());
    for q in ["riviere", "rivière", "上河圖", "清明上河図", "せいめい", "じょう"] {
        assert_eq!(first(q).as_deref(), Some("x-1"), "{q}");
    }
    assert_eq!(index.len(), 2);
}

#[test]
fn an_index_is_written_once_and_read_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let records = museum_fixtures::records();
    write_index(dir.path(), &records).unwrap();
    assert!(matches!(write_index(dir.path(), &records), Err(SearchError::NotEmpty(_))));
    let listing = || {
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        names.sort();
        names
    };
    let before = listing();
    assert!(!before.iter().any(|n| n.ends_with(".lock")), "{before:?}");
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.len(), records.len());
    index.search("清", 10, 0).unwrap();
    assert_eq!(listing(), before, "opening and searching writes nothing");
    assert!(SearchIndex::open(&dir.path().join("missing")).is_err());
    let empty = tempfile::tempdir().unwrap();
    assert!(SearchIndex::open(empty.path()).is_err());
}

#[test]
fn shared_across_threads() {
    fn shareable<T: Send + Sync + std::fmt::Debug>() {}
    shareable::<SearchIndex>();
    std::thread::scope(|s| {
        for q in ["清", "bron", "清明"] {
            s.spawn(move || assert!(search(q).total > 0));
        }
    });
}
