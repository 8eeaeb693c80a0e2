//! Inputs the hostile-input targets found, kept as plain tests once fixed
//! (with the target and run that found them), so they never come back.
//!
//! Two so far (a reduced-scale JPEG decode below the smallest accepted
//! side; a multipart body left waiting after it ended); the rest below are
//! the shapes every target is most likely to meet, checked on every run.

use std::io::Write;

/// An empty file, a lone BOM, a header without rows: records files that are
/// not collections are one error or an empty collection, never a panic.
#[test]
fn degenerate_records_files() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.csv", &b""[..]),
        ("bom.csv", b"\xef\xbb\xbf"),
        ("header.csv", b"id,accession_number,images\n"),
        ("empty.json", b""),
        ("null.json", b"null"),
        ("nested.json", b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
    ] {
        let path = dir.path().join(name);
        std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
        if let Ok(c) = index_builder::load_collection(&path, dir.path(), "m") {
            assert_eq!(c.records.len() + c.rejected.len(), c.total, "{name}");
        }
    }
}

/// A photo that is only a JPEG or PNG signature: an error, not a panic.
#[test]
fn signatures_alone_are_not_photos() {
    for bytes in [&[0xffu8, 0xd8, 0xff][..], b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBP", b"GIF89a", b"BM"] {
        assert!(recognizer::decode_image(bytes, recognizer::DecodeLimits::default()).is_err());
    }
}

/// Found by `image decoding` (batch 131, 8,673 executions): a JPEG whose
/// header says 96 x 65,352 passed the limits (both sides at least 32 px),
/// then was decoded at 1/8 scale for its long side, to 12 x 8,169: a short
/// side below what the limits accept. The scale now keeps both sides in.
#[test]
fn a_panorama_is_never_reduced_below_the_smallest_side() {
    let panorama = image::RgbImage::from_fn(40, 4000, |x, y| image::Rgb([(x * 6) as u8, (y % 256) as u8, 90]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    panorama.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let limits = recognizer::DecodeLimits::default();
    let decoded = recognizer::decode_image(jpeg.get_ref(), limits).unwrap();
    assert!(decoded.width().min(decoded.height()) >= limits.min_side, "{:?}", decoded.dimensions());
}

/// Found by `multipart uploads` (its first batch): a body whose closing
/// boundary is corrupted after an empty file part left actix-multipart 0.7
/// waiting for data after the body had ended (actix/actix-web#3202); the
/// recognize route answered 408 only when its upload timeout ran out, the
/// admin uploads never. actix-multipart 0.8.5 answers it as incomplete.
#[test]
fn a_corrupted_closing_boundary_is_refused_not_awaited() {
    use actix_web::FromRequest;
    let boundary = "----wxboundary7MA4YWxkTrZu0gW";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"museum\"\r\n\r\npalace-demo\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"tmp.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n\r\n------wxbou\x00dary7M\u{86}4YWxkTrZu0gW--\r\n"
    );
    let (req, mut payload) = actix_web::test::TestRequest::post()
        .insert_header(("content-type", format!("multipart/form-data; boundary={boundary}")))
        .app_data(museum_server::routes::recognize::form_config(1 << 20))
        .set_payload(body)
        .to_http_parts();
    let read = actix_web::rt::System::new().block_on(async {
        let payload = actix_web::web::Payload::from_request(&req, &mut payload).await.unwrap();
        let read = museum_server::routes::recognize::read_upload(&req, payload, 1 << 20);
        tokio::time::timeout(std::time::Duration::from_secs(5), read).await
    });
    let error = read.expect("answered, not left waiting").expect_err("a malformed body");
    assert_eq!(actix_web::ResponseError::status_code(&error).as_u16(), 400, "{error}");
}
