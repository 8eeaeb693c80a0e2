//! Decode time of phone-sized JPEGs, full size (the `image` crate's
//! zune-jpeg) vs reduced DCT scale (OpenCV, libjpeg-turbo), BENCHMARKS.md.
//! `cargo run --release --example decode_bench -p recognizer -- [photo.jpg ...]`
//! Without arguments it encodes noisy 3 MP and 12 MP test JPEGs itself.

use std::time::Instant;

use image::{Rgb, RgbImage};
use recognizer::{DecodeLimits, decode_image};

fn synthetic(w: u32, h: u32) -> Vec<u8> {
    // Texture plus noise: compresses like a photo, not like a flat fixture.
    let mut state = 0x2545F491u32;
    let img = RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 48) as u8;
        Rgb([((x / 7) % 200) as u8 + n, ((y / 5) % 200) as u8 + n, (((x + y) / 11) % 200) as u8 + n])
    });
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    enc.encode_image(&img).expect("encode");
    out
}

fn median_ms(bytes: &[u8], limits: DecodeLimits) -> (f64, (u32, u32)) {
    let mut times = Vec::new();
    let mut dims = (0, 0);
    for _ in 0..9 {
        let t = Instant::now();
        let img = decode_image(bytes, limits).expect("decodes");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        dims = img.dimensions();
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], dims)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let inputs: Vec<(String, Vec<u8>)> = if args.is_empty() {
        vec![("3 MP (2016x1512)".into(), synthetic(2016, 1512)), ("12 MP (4032x3024)".into(), synthetic(4032, 3024))]
    } else {
        args.iter().map(|p| (p.clone(), std::fs::read(p).expect("readable"))).collect()
    };
    let full = DecodeLimits { reduce_to: 0, ..DecodeLimits::default() };
    for (name, bytes) in inputs {
        let (f, fd) = median_ms(&bytes, full);
        let (r, rd) = median_ms(&bytes, DecodeLimits::default());
        println!("{name}, {} KB: full {f:.1} ms {fd:?}; reduced {r:.1} ms {rd:?}; {:.1}x", bytes.len() / 1024, f / r);
    }
}
