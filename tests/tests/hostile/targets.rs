//! One test per parser, each with its seeds and what must hold for every input.

use std::io::Write;
use std::path::Path;

use builder_protocol::Event;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::mutate::{fuzz, mutated};

fn check(ok: bool, why: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if ok { Ok(()) } else { Err(TestCaseError::fail(why())) }
}

/// Demo images encoded in every format a visitor may upload.
fn image_seeds() -> Vec<Vec<u8>> {
    let record = museum_fixtures::records().into_iter().next().unwrap();
    let image = image::imageops::thumbnail(&museum_fixtures::render(&record, 0), 96, 72);
    let mut seeds = Vec::new();
    for format in [
        image::ImageFormat::Jpeg,
        image::ImageFormat::Png,
        image::ImageFormat::WebP,
        image::ImageFormat::Gif,
        image::ImageFormat::Bmp,
    ] {
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        seeds.push(out.into_inner());
    }
    seeds
}

/// Photos as visitors send them: whatever the bytes, decoding answers an
/// image within its limits or an error, never a panic (headers are read
/// before any pixel is allocated; OpenCV decodes large JPEGs reduced).
#[test]
fn image_decoding() {
    let limits = recognizer::DecodeLimits::default();
    fuzz("image decoding", mutated(image_seeds()), |bytes| {
        if let Ok(image) = recognizer::decode_image(&bytes, limits) {
            let (w, h) = image.dimensions();
            check(u64::from(w) * u64::from(h) <= limits.max_pixels && w.min(h) >= limits.min_side, || {
                format!("decoded {w}x{h} outside the limits")
            })?;
        }
        Ok(())
    });
}

/// The builder's `--json` lines as the server reads them: anything that is
/// not an event is `None`; an event read back is the event written.
#[test]
fn builder_event_lines() {
    let real = [
        r#"{"event":"progress","stage":"embedding","done":3,"total":9}"#,
        r#"{"event":"published","museum":"m","version":"v2","previous":"v1"}"#,
        r#"{"event":"failed","kind":"invalid","message":"2 of 5 records rejected","issues":[{"position":4,"id":"a","reasons":["missing title"]}]}"#,
        r#"{"event":"imported","museum":"m","total":2,"accepted":1,"rejected":1,"error_ratio":0.5,"records":[{"position":1,"id":"a","status":"accepted"},{"position":2,"id":null,"status":"rejected","reasons":["no images"]}]}"#,
        r#"{"event":"collected","museum":"m","removed":["v0"],"kept":3}"#,
    ];
    let seeds = real.iter().map(|l| l.as_bytes().to_vec()).collect();
    let lines = prop_oneof![mutated(seeds).prop_map(|b| String::from_utf8_lossy(&b).into_owned()), ".{0,200}"];
    fuzz("builder event lines", lines, |line| {
        if let Some(event) = Event::from_line(&line) {
            let again = Event::from_line(&event.to_line());
            check(again.as_ref() == Some(&event), || format!("{line:?} read back as {again:?}"))?;
        }
        Ok(())
    });
}

const CSV: &str = "id,accession_number,title_en,title_zh,images,date_earliest,audio_en\n\
    a-1,A1,Bronze ding,青铜鼎,a.jpg,-1200,\n\
    a-2,A2,\"Bowl, celadon\",青瓷碗,b.jpg;c.jpg,960,guide.mp3\n\
    a-3,,,,,not a year,\n";

/// Records as museums export them (CSV and JSON): every record gets a
/// verdict, none is dropped, whatever the file holds; a file that is not
/// records at all is one error, never a panic.
#[test]
fn collection_records() {
    let json = serde_json::to_vec(&museum_fixtures::records()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("a.jpg"), &image_seeds()[0]).unwrap();
    let files = prop_oneof![
        mutated(vec![CSV.as_bytes().to_vec()]).prop_map(|b| ("csv", b)),
        mutated(vec![json]).prop_map(|b| ("json", b)),
    ];
    fuzz("collection records (CSV, JSON)", files, |(ext, bytes)| {
        let path = dir.path().join(format!("records.{ext}"));
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(c) = index_builder::load_collection(&path, &images, "palace-demo") {
            check(c.records.len() + c.rejected.len() == c.total, || {
                format!("{} accepted + {} rejected != {} records", c.records.len(), c.rejected.len(), c.total)
            })?;
            let report = c.report();
            check(report.records.len() == c.total, || {
                format!("{} verdicts for {} records", report.records.len(), c.total)
            })?;
            // Accepted records name only images inside the folder.
            for r in &c.records {
                for name in &r.images {
                    check(!name.contains(".."), || format!("accepted image name {name:?}"))?;
                }
            }
        }
        Ok(())
    });
}

const MANIFEST: &str = r#"{
  "@context": "http://iiif.io/api/presentation/3/context.json",
  "id": "https://example.org/iiif/obj-8/manifest", "type": "Manifest",
  "label": { "en": ["Celadon bowl"], "zh": ["青瓷碗"] },
  "summary": { "en": ["A bowl with a jade-green glaze."] },
  "metadata": [
    { "label": { "en": ["Accession number"] }, "value": { "none": ["IIIF-8"] } },
    { "label": { "en": ["Date"] }, "value": { "en": ["Song dynasty"] } }
  ],
  "rights": "http://creativecommons.org/licenses/by/4.0/",
  "items": [{ "id": "c1", "type": "Canvas", "items": [{ "type": "AnnotationPage", "items": [
    { "type": "Annotation", "motivation": "painting",
      "body": { "id": "https://example.org/img/8.jpg", "type": "Image",
                "service": [{ "id": "https://example.org/iiif/img/8", "type": "ImageService3" }] } }]}]}]
}"#;

/// Any JSON value, nested a few levels (for manifests built from scratch).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "id", "type", "label", "items", "body", "service", "metadata", "value", "en", "none", "x"
                ])
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// IIIF Presentation 3 manifests from partners' servers: a record or a
/// reason, never a panic; a record is one the collection loader can read.
#[test]
fn iiif_manifests() {
    let manifests = prop_oneof![
        mutated(vec![MANIFEST.as_bytes().to_vec()]).prop_filter_map("not JSON", |b| serde_json::from_slice(&b).ok()),
        json_value(),
    ];
    fuzz("IIIF manifests", manifests, |manifest: serde_json::Value| {
        if let Ok(record) = index_builder::iiif::manifest_to_record(&manifest, "m") {
            check(record.is_object(), || format!("a record that is not an object: {record}"))?;
        }
        Ok(())
    });
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), meta.len()));
            }
        }
    }
    out
}

/// Image zips from museums: unpacked only inside their folder and within
/// the caps (entries, bytes as written), or refused whole; never a panic.
#[test]
fn zip_imports() {
    let image = image_seeds().swap_remove(0);
    let seeds = vec![
        zip_of(&[("a.jpg", &image), ("sub/b.jpg", &image), ("notes.txt", b"hello")]),
        zip_of(&[("../escape.jpg", &image)]),
        zip_of(&[("/abs.jpg", b"x"), ("ok.jpg", &image)]),
    ];
    let work = tempfile::tempdir().unwrap();
    let limits = index_builder::import::ZipLimits { max_entries: 50, max_bytes: 256 * 1024 };
    fuzz("zip imports", mutated(seeds), |bytes| {
        let case = tempfile::tempdir_in(work.path()).unwrap();
        let zip = case.path().join("images.zip");
        std::fs::write(&zip, &bytes).unwrap();
        let dest = case.path().join("dest");
        std::fs::create_dir_all(&dest).unwrap();
        let outcome = index_builder::import::unpack_zip(&zip, &dest, &limits);
        // Nothing beside the archive and the destination, whatever happened.
        let mut beside: Vec<String> = std::fs::read_dir(case.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        beside.sort();
        check(beside == ["dest", "images.zip"], || format!("written outside the folder: {beside:?} ({outcome:?})"))?;
        let written = files_under(&dest);
        let total: u64 = written.iter().map(|(_, n)| n).sum();
        check(total <= limits.max_bytes && written.len() <= limits.max_entries, || {
            format!("{} files, {total} bytes past the caps", written.len())
        })?;
        Ok(())
    });
}

/// A multipart body as `wx.uploadFile` sends it.
fn upload_body(boundary: &str, photo: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in [("museum", "palace-demo"), ("lang", "en")] {
        write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").unwrap();
    }
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"tmp.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(photo);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    body
}

/// Visitors' multipart uploads: the form reader answers the parts or the
/// API's error, within the size limit, never a panic.
#[test]
fn multipart_uploads() {
    use actix_web::FromRequest;
    const BOUNDARY: &str = "----wxboundary7MA4YWxkTrZu0gW";
    const LIMIT: usize = 64 * 1024;
    let seeds = vec![upload_body(BOUNDARY, &image_seeds()[0]), upload_body(BOUNDARY, b"")];
    // The actix system (a current-thread runtime with a local task set), as the server runs handlers.
    let system = actix_web::rt::System::new();
    fuzz("multipart uploads", mutated(seeds), |body| {
        let (req, mut payload) = actix_web::test::TestRequest::post()
            .insert_header(("content-type", format!("multipart/form-data; boundary={BOUNDARY}")))
            .app_data(museum_server::routes::recognize::form_config(LIMIT))
            .set_payload(body)
            .to_http_parts();
        let read = system.block_on(async {
            let payload = actix_web::web::Payload::from_request(&req, &mut payload).await.unwrap();
            museum_server::routes::recognize::read_upload(&req, payload, LIMIT).await
        });
        match read {
            Ok(upload) => {
                let size = upload.file.as_ref().map_or(0, |f| f.len());
                check(size <= LIMIT, || format!("a {size}-byte file past the {LIMIT}-byte limit"))?;
                for text in [&upload.museum, &upload.lang].into_iter().flatten() {
                    check(text.len() <= 256, || format!("a {}-byte text field", text.len()))?;
                }
            }
            Err(e) => {
                let status = actix_web::ResponseError::status_code(&e).as_u16();
                check((400..500).contains(&status), || format!("{status} for a client's body: {e}"))?;
            }
        }
        Ok(())
    });
}
