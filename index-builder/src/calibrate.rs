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
use recognizer::recognize::{Timings, rank_and_decide};
use recognizer::{Bundle, Candidate, Decision, DecodeLimits, Recognizer, decode_image};

#[derive(Debug, Clone)]
pub struct CalibrationOptions {
    /// Most simulated photos to run (bounds build time on large collections).
    pub max_queries: usize,
    /// At least this many, using several scenes per image on small collections.
    pub min_queries: usize,
    /// Quantile of the unknown-object score used as the accept threshold.
    pub unknown_quantile: f64,
    /// Inliers above the most a wrong exhibit reached.
    pub inlier_margin: u32,
    /// Least inliers that ever count as verification.
    pub min_inliers_floor: u32,
    /// An exhibit with this many times every other's inliers counts as seen
    /// even below its own bar (see [`Calibration::inlier_lead`]).
    pub inlier_lead: f32,
    pub seed: u64,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        Self {
            max_queries: 200,
            min_queries: 64,
            unknown_quantile: 0.95,
            inlier_margin: 3,
            // Wrong exhibits reach at most 8-9 inliers by chance on simulated
            // photos of smvs-dvd, ukbench and the estense paintings, and at
            // most 7 on real photos of unknown objects (EVALUATION.md).
            min_inliers_floor: 12,
            // grocery-packages (EVALUATION.md): of the photos whose product
            // leads its siblings 2x on inliers, ~97% are of that product.
            inlier_lead: 2.0,
            seed: 7,
        }
    }
}

/// Runs simulated photos of the bundle's catalog images through `recognizer`.
pub fn calibrate(
    recognizer: &Recognizer,
    bundle: &Bundle,
    images_dir: &Path,
    options: &CalibrationOptions,
    progress: &dyn Fn(usize, usize),
) -> Result<Calibration, recognizer::Error> {
    let n = bundle.vectors.len();
    let distinct = bundle.exhibits().len();
    if n == 0 || distinct < 2 {
        // One exhibit: no other exhibit to learn "wrong" from. Similarity alone
        // cannot tell it from an unknown object, so only geometric evidence counts.
        return Ok(Calibration { min_inliers: options.min_inliers_floor, ..Calibration::uncalibrated() });
    }
    let per_image = options.min_queries.div_ceil(n).clamp(1, 4);
    let total = (n * per_image).min(options.max_queries);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let load = |i: usize| -> Result<RgbImage, recognizer::Error> {
        let entry = &bundle.vectors[i];
        let bytes = std::fs::read(crate::collection::image_path(images_dir, &entry.image))
            .map_err(|e| recognizer::Error::InvalidImage { reason: format!("{}: {e}", entry.image) })?;
        let img = decode_image(&bytes, DecodeLimits::default())?;
        // Calibration needs no more detail than the model sees.
        Ok(imageops::thumbnail(&img, 512.min(img.width()), 512.min(img.height())))
    };

    let mut photos = Vec::with_capacity(total);
    for q in 0..total {
        // Spread queries evenly over the catalog, deterministically.
        let i = q * n / total;
        let own = bundle.vectors[i].exhibit.clone();
        let j = (i + 1 + rng.random_range(0..n - 1)) % n;
        let scene = simulated_photo(&load(i)?, &load(j)?, &mut rng);
        let candidates = recognizer.score(bundle, &scene, &mut Timings::default())?;
        photos.push(SimulatedPhoto::new(&own, candidates));
        progress(q + 1, total);
    }

    let sorted = |f: &dyn Fn(&SimulatedPhoto) -> Option<f32>| {
        let mut v: Vec<f32> = photos.iter().filter_map(f).collect();
        v.sort_by(f32::total_cmp);
        v
    };
    let unknown = sorted(&|p| Some(p.best_other));
    let leads = sorted(&|p| p.second_other.map(|s| p.best_other - s));
    let genuine = sorted(&|p| Some(p.own_score));
    // The most inliers each wrong exhibit reached: a lower bar for it would
    // have accepted it. Photos on which another exhibit matches about as well
    // as the photo's own (duplicate content under two records) are left out:
    // the decision answers those "ambiguous", and one such pair must not
    // switch verification off for those exhibits.
    let mut confusable: std::collections::BTreeMap<String, u32> = Default::default();
    let mut confusers: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for p in photos.iter().filter(|p| p.other_inliers * 5 < p.own_inliers.max(1) * 4) {
        for c in p.candidates.iter().filter(|c| c.exhibit.id != p.own && c.inliers > 0) {
            let most = confusable.entry(c.exhibit.id.clone()).or_default();
            *most = (*most).max(c.inliers);
            if c.inliers + options.inlier_margin > options.min_inliers_floor {
                confusers.entry(c.exhibit.id.clone()).or_default().insert(p.own.clone());
            }
        }
    }
    let unknown_inliers_max = confusable.values().copied().max().unwrap_or(0);
    let min_inliers = options.min_inliers_floor;
    let exhibit_min_inliers = confusable
        .into_iter()
        .map(|(exhibit, most)| (exhibit, most + options.inlier_margin))
        .filter(|&(_, bar)| bar > min_inliers)
        .collect::<std::collections::BTreeMap<String, u32>>();
    let exhibit_confusers = confusers
        .into_iter()
        .filter(|(exhibit, _)| exhibit_min_inliers.contains_key(exhibit))
        .map(|(exhibit, set)| (exhibit, set.into_iter().collect()))
        .collect();
    let mut cal = Calibration {
        queries: total,
        unknown_p50: quantile(&unknown, 0.5),
        unknown_p90: quantile(&unknown, 0.9),
        unknown_p95: quantile(&unknown, 0.95),
        genuine_p10: quantile(&genuine, 0.1),
        genuine_p50: quantile(&genuine, 0.5),
        simulated_top1: photos.iter().filter(|p| p.own_ranked_first).count() as f32 / total as f32,
        accept_score: quantile(&unknown, options.unknown_quantile),
        accept_margin: quantile(&leads, options.unknown_quantile),
        // A floor under which a homography is too easy to fit by chance;
        // exhibits that other exhibits' photos verified against get more.
        min_inliers,
        exhibit_min_inliers,
        exhibit_confusers,
        // The model may ask for another factor (DINOv2's shortlists are too
        // poor for the rule: EVALUATION.md).
        inlier_lead: recognizer.embedder().manifest().recognition.inlier_lead.unwrap_or(options.inlier_lead),
        unknown_inliers_max,
        simulated_accepted: 0.0,
        simulated_unknown_accepted: 0.0,
    };
    let right = photos.iter().filter(|p| p.accepted_right(&cal)).count();
    let unknown_accepted = photos.iter().filter(|p| p.unknown_accepted(&cal)).count();
    cal.simulated_accepted = right as f32 / total as f32;
    cal.simulated_unknown_accepted = unknown_accepted as f32 / total as f32;
    Ok(cal)
}

/// What the pipeline saw for one simulated photo of a known exhibit.
struct SimulatedPhoto {
    own: String,
    candidates: Vec<Candidate>,
    own_score: f32,
    own_inliers: u32,
    own_ranked_first: bool,
    /// With the own exhibit left out, this is what an unknown object gets.
    best_other: f32,
    second_other: Option<f32>,
    other_inliers: u32,
}

impl SimulatedPhoto {
    fn new(own: &str, candidates: Vec<Candidate>) -> Self {
        let own_c = candidates.iter().find(|c| c.exhibit.id == own);
        let mut others: Vec<&Candidate> = candidates.iter().filter(|c| c.exhibit.id != own).collect();
        others.sort_by(|a, b| b.score.total_cmp(&a.score));
        let own_score = own_c.map_or(-1.0, |c| c.score);
        Self {
            own_score,
            own_inliers: own_c.map_or(0, |c| c.inliers),
            own_ranked_first: others.first().is_none_or(|o| own_score > o.score),
            best_other: others.first().map_or(-1.0, |c| c.score),
            second_other: others.get(1).map(|c| c.score),
            other_inliers: others.iter().map(|c| c.inliers).max().unwrap_or(0),
            own: own.to_owned(),
            candidates,
        }
    }

    /// The server's decision names the right exhibit.
    fn accepted_right(&self, cal: &Calibration) -> bool {
        let mut candidates = self.candidates.clone();
        matches!(rank_and_decide(&mut candidates, cal), Decision::Matched { exhibit, .. } if exhibit.id == self.own)
    }

    /// With the own exhibit absent, the server's decision would still match something.
    fn unknown_accepted(&self, cal: &Calibration) -> bool {
        let mut others: Vec<Candidate> = self.candidates.iter().filter(|c| c.exhibit.id != self.own).cloned().collect();
        matches!(rank_and_decide(&mut others, cal), Decision::Matched { .. })
    }
}

/// Sorted-slice quantile (nearest rank); zero for an empty slice.
pub(crate) fn quantile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
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
        assert_eq!(quantile::<f32>(&[], 0.5), 0.0);
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
