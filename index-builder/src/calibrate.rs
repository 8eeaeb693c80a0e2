//! Per-bundle decision thresholds, learned from the collection itself.
//!
//! Catalog images compared with each other score far higher than visitors'
//! photos do (clean, frontal, same lighting), so thresholds taken from
//! catalog-vs-catalog similarity reject almost every real photo. Instead we
//! compose simulated photos (a catalog image scaled into a blurred scene made
//! from another exhibit, re-lit) and run them through the very pipeline the
//! server runs. Leaving the photo's own exhibit out gives what an object
//! *not* in the collection scores; the accept threshold is a high quantile of
//! that, so about `1 - unknown_quantile` of unknown objects get through.

use std::path::Path;

use image::{RgbImage, imageops};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recognizer::bundle::Calibration;
use recognizer::recognize::{Timings, accepts};
use recognizer::{Bundle, DecodeLimits, Recognizer, decode_image};

#[derive(Debug, Clone)]
pub struct CalibrationOptions {
    /// Most simulated photos to run (bounds build time on large collections).
    pub max_queries: usize,
    /// At least this many, using several scenes per image on small collections.
    pub min_queries: usize,
    /// Quantile of the unknown-object score used as the accept threshold.
    pub unknown_quantile: f64,
    pub seed: u64,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        Self { max_queries: 200, min_queries: 64, unknown_quantile: 0.95, seed: 7 }
    }
}

/// Runs simulated photos of the bundle's catalog images through `recognizer`.
pub fn calibrate(
    recognizer: &Recognizer,
    bundle: &Bundle,
    images_dir: &Path,
    options: &CalibrationOptions,
) -> Result<Calibration, recognizer::Error> {
    let n = bundle.vectors.len();
    let distinct = bundle.exhibits().len();
    if n == 0 || distinct < 2 {
        // One exhibit: nothing to be confused with; accept what scores above zero.
        return Ok(neutral(0));
    }
    let per_image = options.min_queries.div_ceil(n).clamp(1, 4);
    let total = (n * per_image).min(options.max_queries);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let load = |i: usize| -> Result<RgbImage, recognizer::Error> {
        let entry = &bundle.vectors[i];
        let bytes = std::fs::read(images_dir.join(&entry.image))
            .map_err(|e| recognizer::Error::InvalidImage { reason: format!("{}: {e}", entry.image) })?;
        let img = decode_image(&bytes, DecodeLimits::default())?;
        // Calibration needs no more detail than the model sees.
        Ok(imageops::thumbnail(&img, 512.min(img.width()), 512.min(img.height())))
    };

    // (score, lead over runner-up) of the best *other* exhibit, and of the own one when it won.
    let (mut unknown, mut genuine, mut top1, mut won) = (Vec::new(), Vec::new(), 0usize, Vec::new());
    for q in 0..total {
        // Spread queries evenly over the catalog, deterministically.
        let i = q * n / total;
        let own = bundle.vectors[i].exhibit.clone();
        let j = (i + 1 + rng.random_range(0..n - 1)) % n;
        let scene = simulated_photo(&load(i)?, &load(j)?, &mut rng);
        let candidates = recognizer.score(bundle, &scene, &mut Timings::default())?;
        let own_score = candidates.iter().find(|c| c.exhibit == own).map_or(-1.0, |c| c.score);
        let others: Vec<f32> = candidates.iter().filter(|c| c.exhibit != own).map(|c| c.score).take(2).collect();
        let best_other = others.first().copied().unwrap_or(-1.0);
        unknown.push((best_other, others.get(1).map(|s| best_other - s)));
        genuine.push(own_score);
        if candidates.first().is_some_and(|c| c.exhibit == own) {
            top1 += 1;
            won.push((own_score, (best_other > -1.0).then_some(best_other)));
        }
    }
    let mut unknown_scores: Vec<f32> = unknown.iter().map(|u| u.0).collect();
    let mut unknown_leads: Vec<f32> = unknown.iter().filter_map(|u| u.1).collect();
    unknown_scores.sort_by(f32::total_cmp);
    unknown_leads.sort_by(f32::total_cmp);
    genuine.sort_by(f32::total_cmp);
    let mut cal = Calibration {
        queries: total,
        unknown_p50: quantile(&unknown_scores, 0.5),
        unknown_p90: quantile(&unknown_scores, 0.9),
        unknown_p95: quantile(&unknown_scores, 0.95),
        genuine_p10: quantile(&genuine, 0.1),
        genuine_p50: quantile(&genuine, 0.5),
        simulated_top1: top1 as f32 / total as f32,
        accept_score: quantile(&unknown_scores, options.unknown_quantile),
        accept_margin: quantile(&unknown_leads, options.unknown_quantile),
        simulated_accepted: 0.0,
        simulated_unknown_accepted: 0.0,
    };
    let accepted = won.iter().filter(|(s, r)| accepts(&cal, *s, *r)).count();
    let unknown_accepted = unknown.iter().filter(|(s, lead)| accepts(&cal, *s, lead.map(|l| s - l))).count();
    cal.simulated_accepted = accepted as f32 / total as f32;
    cal.simulated_unknown_accepted = unknown_accepted as f32 / total as f32;
    Ok(cal)
}

fn neutral(queries: usize) -> Calibration {
    Calibration {
        queries,
        unknown_p50: 0.0,
        unknown_p90: 0.0,
        unknown_p95: 0.0,
        genuine_p10: 0.0,
        genuine_p50: 0.0,
        simulated_top1: 0.0,
        accept_score: 0.0,
        accept_margin: 0.0,
        simulated_accepted: 0.0,
        simulated_unknown_accepted: 0.0,
    }
}

/// Sorted-slice quantile (nearest rank).
fn quantile(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `exhibit` scaled into a 640x480 scene whose background is `other`, blurred.
fn simulated_photo(exhibit: &RgbImage, other: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let (w, h) = (640u32, 480u32);
    let background = imageops::resize(other, w / 4, h / 4, imageops::FilterType::Triangle);
    let background = imageops::fast_blur(&background, 3.0);
    let mut scene = imageops::resize(&background, w, h, imageops::FilterType::Triangle);
    let coverage = rng.random_range(0.6..0.9);
    let scale = (w as f32 * coverage / exhibit.width() as f32).min(h as f32 * coverage / exhibit.height() as f32);
    let (ew, eh) = ((exhibit.width() as f32 * scale) as u32, (exhibit.height() as f32 * scale) as u32);
    let fg = imageops::resize(exhibit, ew.max(1), eh.max(1), imageops::FilterType::Triangle);
    let x = rng.random_range(0..=(w - ew.min(w)) as i64);
    let y = rng.random_range(0..=(h - eh.min(h)) as i64);
    imageops::overlay(&mut scene, &fg, x, y);
    let gain = rng.random_range(0.8..1.2);
    scene.pixels_mut().for_each(|p| p.0 = p.0.map(|v| (v as f32 * gain).min(255.0) as u8));
    scene
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_nearest_rank() {
        let v = [0.1, 0.2, 0.3, 0.4, 0.5];
        assert_eq!(quantile(&v, 0.0), 0.1);
        assert_eq!(quantile(&v, 0.5), 0.3);
        assert_eq!(quantile(&v, 1.0), 0.5);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn simulated_photo_contains_the_exhibit() {
        let exhibit = RgbImage::from_pixel(100, 100, image::Rgb([250, 10, 10]));
        let other = RgbImage::from_pixel(100, 100, image::Rgb([10, 10, 250]));
        let scene = simulated_photo(&exhibit, &other, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(scene.dimensions(), (640, 480));
        let reddish = scene.pixels().filter(|p| p.0[0] > 150 && p.0[2] < 50).count();
        let share = reddish as f32 / (640.0 * 480.0);
        // 60-90% of the shorter side, squared, over a 4:3 frame.
        assert!((0.25..0.65).contains(&share), "{share}");
    }
}
