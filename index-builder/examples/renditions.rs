//! Measures display renditions: for each image under the folders given
//! (recursively, up to LIMIT), scales it to the rendition's long side and
//! reports, per JPEG quality, the median bytes and PSNR against the scaled
//! picture before encoding; WebP (lossless, all the image crate writes)
//! for reference.
//!
//! ```sh
//! LIMIT=60 cargo run --release -p index-builder --example renditions -- ../shared/eval/distractors-estense ../shared/eval/grocery-packages
//! ```

use std::path::{Path, PathBuf};

use index_builder::media::{DISPLAY_SIDE, THUMBNAIL_SIDE, encode_jpeg, fit, open_upright};

fn images(dir: &Path, out: &mut Vec<PathBuf>, limit: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if out.len() >= limit {
            return;
        }
        if path.is_dir() {
            images(&path, out, limit);
        } else if path
            .extension()
            .is_some_and(|e| ["jpg", "jpeg", "png"].contains(&e.to_string_lossy().to_lowercase().as_str()))
        {
            out.push(path);
        }
    }
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let mse: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let limit: usize = std::env::var("LIMIT").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let mut paths = Vec::new();
    // Up to LIMIT images from each folder.
    for dir in std::env::args().skip(1) {
        let mut some = Vec::new();
        images(Path::new(&dir), &mut some, limit);
        paths.extend(some);
    }
    let sources: Vec<image::RgbImage> = paths.iter().filter_map(|p| open_upright(p).ok()).collect();
    println!("{} images", sources.len());
    for (label, side) in [("display", DISPLAY_SIDE), ("thumbnail", THUMBNAIL_SIDE)] {
        let scaled: Vec<image::RgbImage> = sources.iter().filter_map(|s| fit(s, side).ok()).collect();
        println!(
            "\n{label} (long side <= {side} px)\n| format | median KiB | median PSNR dB | 10th pct PSNR dB |\n|---|---|---|---|"
        );
        for q in [70u8, 76, 82, 88, 94] {
            let (mut kib, mut db) = (Vec::new(), Vec::new());
            for img in &scaled {
                let jpeg = encode_jpeg(img, q).expect("encodes");
                let back = image::load_from_memory(&jpeg).expect("decodes").into_rgb8();
                kib.push(jpeg.len() as f64 / 1024.0);
                db.push(psnr(img, &back));
            }
            let mut sorted = db.clone();
            sorted.sort_by(f64::total_cmp);
            println!("| JPEG q{q} | {:.0} | {:.1} | {:.1} |", median(kib), median(db), sorted[sorted.len() / 10]);
        }
        let webp: Vec<f64> = scaled
            .iter()
            .map(|img| {
                let mut out = Vec::new();
                image::codecs::webp::WebPEncoder::new_lossless(&mut out)
                    .encode(img, img.width(), img.height(), image::ExtendedColorType::Rgb8)
                    .expect("webp");
                out.len() as f64 / 1024.0
            })
            .collect();
        println!("| WebP lossless | {:.0} | lossless | lossless |", median(webp));
    }
}
