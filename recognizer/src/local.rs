//! Local features and geometric verification (OpenCV ORB + RANSAC homography).
//!
//! Whole-image embeddings miss exhibits that fill only part of a cluttered
//! photo; keypoints matched and verified by a homography find them (the
//! inlier count is also a far better "no match" signal than a cosine score).
//! ORB was chosen over SIFT by measurement (EVALUATION.md): ~5x faster to
//! extract and 4x smaller to store, with similar inlier separation.
//!
//! Matching runs against every catalog descriptor at once (one brute-force
//! Hamming k-NN), so an exhibit the embedding ranked low can still be found;
//! each match votes for its image. The best-voted images (and the
//! embedding's best few) are then matched with the photo one image at a time
//! (ratio test within the image, mutual nearest neighbours) and verified with
//! RANSAC: a ratio test over the whole catalog throws good matches away as
//! soon as another exhibit has a similar-looking keypoint, which at catalog
//! scale is most of them (smvs-dvd top-1 93.8% -> 99.4%, EVALUATION.md).
//! Up to `MAX_BRUTE_FORCE` descriptors the k-NN is exact (FAISS
//! binary flat); beyond, an inverted file (FAISS binary IVF, sqrt(n) lists,
//! trained at build time and stored in the bundle as `local.ivf`) scans about
//! `IVF_SCAN` codes per query descriptor, so its cost stays flat as the
//! collection grows.

use std::io::{Read, Write};
use std::path::Path;

use faiss::index::BinaryIndexImpl;
use faiss::index::ivf_flat::BinaryIVFIndexImpl;
use faiss::{ConcurrentIndex, Index};
use image::{GrayImage, RgbImage, imageops};
use opencv::core::{self, KeyPoint, Mat, Point2f, Vector};
use opencv::prelude::*;
use opencv::{calib3d, features2d};

use crate::{Error, Result};

/// ORB descriptor length in bytes.
pub const DESCRIPTOR_BYTES: usize = 32;
/// One ORB descriptor: 256 bits.
pub type Descriptor = [u8; DESCRIPTOR_BYTES];
/// Bits of a descriptor, the dimension of the FAISS binary indexes.
const DESCRIPTOR_BITS: u32 = DESCRIPTOR_BYTES as u32 * 8;
/// Up to this many catalog descriptors the k-NN is exact; above, approximate (IVF).
pub const MAX_BRUTE_FORCE: usize = 200_000;
/// Codes an inverted-file search scans per query descriptor: 50,000 vs 100,000
/// at 1,000 catalog images: smvs top-1 85.6% vs 86.3%, p50 261 vs 361 ms.
const IVF_SCAN: usize = 50_000;
/// Training sample per inverted list (FAISS asks for at least 39).
const IVF_TRAIN_PER_LIST: usize = 40;

#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Long side the image is scaled to before detection (down, or up for
    /// images under `enlarge_below`).
    pub max_side: u32,
    /// Images whose long side is under this are enlarged to `max_side`.
    pub enlarge_below: u32,
    /// Keypoints kept per catalog image.
    pub features: i32,
    /// Keypoints kept per visitor photo: more than a clean catalog image needs,
    /// since clutter takes its share.
    pub query_features: i32,
    /// Lowe's ratio test threshold.
    pub ratio: f32,
    /// RANSAC reprojection threshold, pixels (at `max_side` scale).
    pub ransac_px: f64,
    /// Best-voted images verified with RANSAC per query (when voting).
    pub verify: usize,
    /// The photo's strongest keypoints that vote (search the whole catalog)
    /// for the images to verify; verification matches all of them. 0: no
    /// vote (the default), only the embedding's shortlist is verified. The
    /// recognizer votes only on its closer look at a photo the first look
    /// left undecided.
    pub voters: usize,
    /// Exhibits of the embedding's shortlist whose best view is verified too.
    pub verify_shortlist: usize,
}

impl Default for LocalSettings {
    fn default() -> Self {
        // 1000 photo keypoints vs 500: smvs-dvd top-1 90.0% -> 93.8% (EVALUATION.md).
        // When voting (`--voters 750`): 750 of 1000 photo keypoints gave the same top-1 as 1000 on smvs-dvd, p50 317 -> 276 ms (EVALUATION.md).
        Self {
            max_side: 640,
            // grocery-packages' 198 px catalog shots: top-1 16.0% -> 23.8% (EVALUATION.md).
            enlarge_below: 320,
            features: 500,
            query_features: 1000,
            ratio: 0.8,
            ransac_px: 6.0,
            verify: 6,
            // No vote: verifying the embedding's shortlist finds as much on
            // every eval set, ~100 ms sooner for undecided photos (EVALUATION.md).
            voters: 0,
            verify_shortlist: 8,
        }
    }
}

/// Keypoints (x, y at detection scale, finite) and their ORB descriptors,
/// one per keypoint (the constructor checks both).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageFeatures {
    points: Vec<[f32; 2]>,
    descriptors: Vec<Descriptor>,
}

impl ImageFeatures {
    /// Keypoints and their descriptors; an error unless there is exactly one
    /// descriptor per keypoint and every coordinate is finite.
    pub fn new(points: Vec<[f32; 2]>, descriptors: Vec<Descriptor>) -> Result<Self> {
        if points.len() != descriptors.len() {
            return Err(Error::InvalidFeatures {
                reason: format!("{} keypoints but {} descriptors", points.len(), descriptors.len()),
            });
        }
        if let Some(i) = points.iter().position(|p| !(p[0].is_finite() && p[1].is_finite())) {
            return Err(Error::InvalidFeatures { reason: format!("keypoint {i} is at {:?}", points[i]) });
        }
        Ok(Self { points, descriptors })
    }

    /// Keypoint positions, strongest first (as extracted).
    pub fn points(&self) -> &[[f32; 2]] {
        &self.points
    }

    /// `points()[i]`'s descriptor is `descriptors()[i]`.
    pub fn descriptors(&self) -> &[Descriptor] {
        &self.descriptors
    }

    /// Number of keypoints (and of descriptors).
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

fn cv(e: opencv::Error) -> Error {
    Error::OpenCv(e.to_string())
}

/// The image in grey levels, its long side scaled down to `max_side`, or up
/// to it from under `enlarge_below`. ORB's 31-pixel patches and 8-level
/// pyramid find few keypoints on a tiny image (a 198 px catalog shot), so
/// those are enlarged first; images of a few hundred pixels are not (500 px
/// DVD covers enlarged to 640 lost inliers: EVALUATION.md).
fn to_gray(image: &RgbImage, max_side: u32, enlarge_below: u32) -> Result<GrayImage> {
    let long = image.width().max(image.height());
    if long == 0 || (long <= max_side && long >= enlarge_below) {
        return Ok(imageops::grayscale(image));
    }
    // Resized first (SIMD, `fast_image_resize`), then grey: a tenth of the
    // work of `image`'s resize on the grey full-size photo.
    let (w, h) = (image.width() * max_side / long, image.height() * max_side / long);
    Ok(imageops::grayscale(&crate::preprocess::resize_exact(image, w.max(1), h.max(1))?))
}

/// Threads OpenCV may use inside one call (process-wide; 0 or 1 runs each
/// call on its caller's thread). A server running one recognition per core
/// sets 1, so OpenCV's pool does not add threads on the same cores.
pub fn set_opencv_threads(n: i32) -> Result<()> {
    core::set_num_threads(n).map_err(cv)
}

/// Detects ORB keypoints and descriptors of a catalog image.
pub fn extract(image: &RgbImage, settings: &LocalSettings) -> Result<ImageFeatures> {
    extract_n(image, settings, settings.features)
}

/// Detects ORB keypoints and descriptors of a visitor photo.
pub fn extract_query(image: &RgbImage, settings: &LocalSettings) -> Result<ImageFeatures> {
    extract_n(image, settings, settings.query_features)
}

fn extract_n(image: &RgbImage, settings: &LocalSettings, features: i32) -> Result<ImageFeatures> {
    let gray = to_gray(image, settings.max_side, settings.enlarge_below)?;
    let (w, h) = (gray.width() as i32, gray.height() as i32);
    let data = gray.into_raw();
    let mat = Mat::new_rows_cols_with_data(h, w, &data).map_err(cv)?;
    let mut orb = features2d::ORB::create(features, 1.2, 8, 31, 0, 2, features2d::ORB_ScoreType::HARRIS_SCORE, 31, 20)
        .map_err(cv)?;
    let mut keypoints = Vector::<KeyPoint>::new();
    let mut descriptors = Mat::default();
    orb.detect_and_compute(&mat, &core::no_array(), &mut keypoints, &mut descriptors, false).map_err(cv)?;
    if keypoints.is_empty() || descriptors.empty() {
        return Ok(ImageFeatures::default());
    }
    let (rows, rest) = descriptors.data_bytes().map_err(cv)?.as_chunks::<DESCRIPTOR_BYTES>();
    if rows.len() != keypoints.len() || !rest.is_empty() {
        return Err(Error::OpenCv(format!(
            "{} keypoints but {} descriptor bytes",
            keypoints.len(),
            rows.len() * DESCRIPTOR_BYTES + rest.len()
        )));
    }
    // Strongest keypoints first, so a prefix is the best subset.
    let mut order: Vec<usize> = (0..keypoints.len()).collect();
    let response: Vec<f32> = keypoints.iter().map(|k| k.response()).collect();
    order.sort_by(|&a, &b| response[b].total_cmp(&response[a]).then(a.cmp(&b)));
    let points = order
        .iter()
        .map(|&i| keypoints.get(i).map(|k| [k.pt().x, k.pt().y]))
        .collect::<opencv::Result<_>>()
        .map_err(cv)?;
    ImageFeatures::new(points, order.iter().map(|&i| rows[i]).collect())
}

/// All catalog images' features, concatenated for one k-NN pass.
///
/// Invariants (every constructor keeps them): one finite point per
/// descriptor; `offsets` starts at 0, never decreases and ends at
/// `points.len()`; `binary` holds exactly `descriptors`, as ids 0..n.
#[derive(Default)]
pub struct LocalIndex {
    points: Vec<[f32; 2]>,
    descriptors: Vec<Descriptor>,
    /// `offsets[i]..offsets[i + 1]` are image i's keypoints (image i = vector id i).
    offsets: Vec<usize>,
    /// FAISS binary index over every descriptor: flat (exact popcount scan,
    /// several times faster than OpenCV's matcher here) up to
    /// `MAX_BRUTE_FORCE`, IVF beyond. `None` only without descriptors.
    binary: Option<BinaryIndex>,
}

/// The k-NN index over a [`LocalIndex`]'s descriptors.
#[derive(Debug)]
enum BinaryIndex {
    /// Exact: a popcount scan over every code.
    Flat(BinaryIndexImpl),
    /// Inverted file, with its `nprobe` set for the collection's size.
    Ivf(BinaryIVFIndexImpl),
}

impl BinaryIndex {
    /// The `k` nearest codes of each query descriptor, through `&self`
    /// (searches run concurrently): `k` (distance, label) slots per query.
    fn search(&self, queries: &[Descriptor], k: usize) -> Result<(Vec<i32>, Vec<i64>)> {
        crate::index::limit_search_threads();
        match self {
            Self::Flat(index) => crate::ffi::binary_search(index, queries.as_flattened(), k),
            Self::Ivf(index) => {
                let found = ConcurrentIndex::search(index, queries.as_flattened(), k)?;
                Ok((found.distances, found.labels.into_iter().map(|l| l.to_native()).collect()))
            }
        }
    }
}

impl std::fmt::Debug for LocalIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIndex").field("images", &self.images()).field("keypoints", &self.points.len()).finish()
    }
}

/// A k=2 nearest-neighbour answer per query descriptor: the nearest and
/// second-nearest (train keypoint, Hamming distance).
type Knn2 = Vec<((usize, f32), Option<(usize, f32)>)>;

/// One verified catalog image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verified {
    pub image: usize,
    pub inliers: u32,
}

impl LocalIndex {
    /// The index of `images`' features (image i = `images[i]`).
    pub fn from_images(images: &[ImageFeatures]) -> Result<Self> {
        let mut index = LocalIndex { offsets: vec![0], ..Default::default() };
        for f in images {
            index.points.extend_from_slice(&f.points);
            index.descriptors.extend_from_slice(&f.descriptors);
            index.offsets.push(index.points.len());
        }
        index.build_binary(MAX_BRUTE_FORCE)?;
        Ok(index)
    }

    /// Exact k-NN up to `max_exact` descriptors, inverted file beyond.
    fn build_binary(&mut self, max_exact: usize) -> Result<()> {
        self.binary = None;
        let n = self.descriptors.len();
        if n == 0 {
            return Ok(());
        }
        let codes = self.descriptors.as_flattened();
        let index = if n <= max_exact {
            let mut index = faiss::index_binary_factory(DESCRIPTOR_BITS, "BFlat")?;
            index.add(codes)?;
            BinaryIndex::Flat(index)
        } else {
            // Past brute-force size: an inverted file over every descriptor,
            // sqrt(n) lists, probing enough of them to scan about
            // IVF_SCAN codes per query descriptor.
            let nlist = ((n as f64).sqrt() as usize).max(1);
            let mut index = faiss::index_binary_factory(DESCRIPTOR_BITS, format!("BIVF{nlist}"))?.into_binary_ivf()?;
            let sample_n = (nlist * IVF_TRAIN_PER_LIST).min(n);
            let step = n / sample_n;
            let sample: Vec<Descriptor> = (0..sample_n).map(|i| self.descriptors[i * step]).collect();
            index.train(sample.as_flattened())?;
            let nprobe = set_nprobe(&mut index, n);
            tracing::info!(descriptors = n, nlist, nprobe, "local features: binary IVF index trained");
            index.add(codes)?;
            BinaryIndex::Ivf(index)
        };
        self.binary = Some(index);
        Ok(())
    }

    /// Two nearest catalog keypoints of every query descriptor, by FAISS.
    fn knn2_faiss(&self, index: &BinaryIndex, query: &ImageFeatures, voters: usize) -> Result<Knn2> {
        let queries = &query.descriptors[..query.len().min(voters)];
        let k = 2usize.min(self.points.len());
        let (distances, labels) = index.search(queries, k)?;
        let n = self.points.len();
        Ok((0..queries.len())
            .filter_map(|q| {
                let at = |j: usize| {
                    let l = usize::try_from(labels[q * k + j]).ok().filter(|&l| l < n)?;
                    Some((l, distances[q * k + j] as f32))
                };
                let best = at(0)?;
                Some((best, if k > 1 { at(1) } else { None }))
            })
            .collect())
    }

    /// Number of catalog images.
    pub fn images(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Keypoints of catalog image `i` (0 past the last image): what the
    /// museum console reports as an image too plain to verify.
    pub fn keypoints_of(&self, i: usize) -> usize {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        }
    }

    /// Catalog image `i`'s features, as extracted (for deriving a new bundle
    /// without extracting them again).
    /// Panics if `i >= self.images()`.
    pub fn image_features(&self, i: usize) -> ImageFeatures {
        let (a, b) = (self.offsets[i], self.offsets[i + 1]);
        // The index's own invariants are the constructor's.
        ImageFeatures { points: self.points[a..b].to_vec(), descriptors: self.descriptors[a..b].to_vec() }
    }

    fn image_of(&self, keypoint: usize) -> usize {
        self.offsets.partition_point(|&o| o <= keypoint) - 1
    }

    /// Verifies the images worth verifying, each on its own: `also` (the
    /// best views of the embedding's shortlist) and, unless
    /// `settings.voters` is 0, the images `query` votes for when matched
    /// against every catalog descriptor (the best by ratio-tested votes and
    /// by plain nearest-neighbour votes). Each candidate is then matched pairwise with
    /// the photo: the ratio test compares a photo descriptor's two nearest
    /// keypoints *of that image*, so a visually similar exhibit elsewhere in
    /// the catalog cannot discard a good match (at catalog scale the global
    /// ratio test loses most of them). The price: a keypoint two exhibits
    /// share (the same logo on two products) now counts for both, so such
    /// exhibits verify against each other, and calibration raises the bar.
    /// `same_group(a, b)` says whether two images show one exhibit (a
    /// runner-up from the same exhibit does not fail the voting ratio test).
    pub fn verify(
        &self,
        query: &ImageFeatures,
        same_group: impl Fn(usize, usize) -> bool,
        also: &[usize],
        settings: &LocalSettings,
    ) -> Result<Vec<Verified>> {
        if query.len() < 4 || self.images() == 0 {
            return Ok(Vec::new());
        }
        let mut candidates = Vec::new();
        if let (Some(index), true) = (&self.binary, settings.voters > 0) {
            candidates = self.vote(index, query, same_group, settings)?;
        }
        for &image in also {
            if image < self.images() && !candidates.contains(&image) {
                candidates.push(image);
            }
        }
        let query_codes = codes(&query.descriptors);
        let mut out = Vec::new();
        for image in candidates {
            let matches = self.match_image(&query_codes, image, settings.ratio);
            if matches.len() < MIN_MATCHES {
                continue;
            }
            let src: Vector<Point2f> = matches.iter().map(|&(qi, _)| pt(query.points[qi])).collect();
            let dst: Vector<Point2f> = matches.iter().map(|&(_, ti)| pt(self.points[ti])).collect();
            let mut mask = Mat::default();
            // OpenCV's USAC (RANSAC with SPRT early rejection and local
            // optimisation): same answers as plain RANSAC on smvs-dvd and
            // ukbench, ~1.5 ms instead of ~28 ms for 8 images (BENCHMARKS.md).
            let h = calib3d::find_homography(&src, &dst, &mut mask, calib3d::USAC_DEFAULT, settings.ransac_px)
                .map_err(cv)?;
            let inliers = if h.empty() { 0 } else { core::count_non_zero(&mask).map_err(cv)? as u32 };
            out.push(Verified { image, inliers });
        }
        out.sort_by(|a, b| b.inliers.cmp(&a.inliers).then(a.image.cmp(&b.image)));
        Ok(out)
    }

    /// The images worth verifying by the photo's votes over every catalog
    /// descriptor: the best by ratio-tested votes, then by plain
    /// nearest-neighbour votes.
    fn vote(
        &self,
        index: &BinaryIndex,
        query: &ImageFeatures,
        same_group: impl Fn(usize, usize) -> bool,
        settings: &LocalSettings,
    ) -> Result<Vec<usize>> {
        let knn = self.knn2_faiss(index, query, settings.voters)?;
        let mut ratio_votes: std::collections::HashMap<usize, usize> = Default::default();
        let mut nn_votes: std::collections::HashMap<usize, usize> = Default::default();
        for ((best_kp, d1), second) in knn {
            let image = self.image_of(best_kp);
            *nn_votes.entry(image).or_default() += 1;
            let passes = match second {
                Some((second_kp, d2)) => {
                    let other = self.image_of(second_kp);
                    let distinct = d1 < settings.ratio * d2 || same_group(image, other);
                    if !distinct && other != image {
                        // A keypoint two images share about equally: both may show the photo.
                        *nn_votes.entry(other).or_default() += 1;
                    }
                    distinct
                }
                None => true,
            };
            if passes {
                *ratio_votes.entry(image).or_default() += 1;
            }
        }
        let top = |votes: std::collections::HashMap<usize, usize>| {
            let mut v: Vec<(usize, usize)> = votes.into_iter().filter(|&(_, n)| n >= MIN_MATCHES).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v.into_iter().take(settings.verify).map(|(image, _)| image)
        };
        let mut candidates: Vec<usize> = top(ratio_votes).collect();
        for image in top(nn_votes) {
            if !candidates.contains(&image) {
                candidates.push(image);
            }
        }
        Ok(candidates)
    }

    /// Matches (photo keypoint, catalog keypoint) of `query` with catalog
    /// image `image` alone, by exact Hamming distance: ratio-tested within the
    /// image and mutual (the catalog keypoint's nearest photo descriptor is
    /// the one matched), which keeps chance matches, and so the inliers a
    /// wrong image reaches by chance, down.
    fn match_image(&self, query: &[Code], image: usize, ratio: f32) -> Vec<(usize, usize)> {
        let (a, b) = (self.offsets[image], self.offsets[image + 1]);
        let train = codes(&self.descriptors[a..b]);
        let (forward, nearest_query) = nearest_two(query, &train);
        forward
            .into_iter()
            .enumerate()
            .filter(|&(qi, (ti, d1, d2))| {
                ti != usize::MAX && (d1 as f32) < ratio * d2 as f32 && nearest_query[ti] == qi
            })
            .map(|(qi, (ti, _, _))| (qi, a + ti))
            .collect()
    }
    /// Serialises to `w`: per image, a u32 count, then x,y f32 pairs, then descriptors.
    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(b"ORB1")?;
        w.write_all(&(self.images() as u32).to_le_bytes())?;
        for i in 0..self.images() {
            let (a, b) = (self.offsets[i], self.offsets[i + 1]);
            w.write_all(&((b - a) as u32).to_le_bytes())?;
            for p in &self.points[a..b] {
                w.write_all(&p[0].to_le_bytes())?;
                w.write_all(&p[1].to_le_bytes())?;
            }
            w.write_all(self.descriptors[a..b].as_flattened())?;
        }
        Ok(())
    }

    /// Reads `local.bin`; `trained` is the stored inverted file, if the
    /// bundle has one (else the k-NN index is built here).
    pub fn read(path: &Path, trained: Option<&Path>) -> Result<Self> {
        let bad = |reason: &str| Error::bundle(path, format!("local features: {reason}"));
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(Error::io(format!("reading {}", path.display())))?;
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8]> {
            let s = bytes.get(at..at + n).ok_or_else(|| bad("truncated"))?;
            at += n;
            Ok(s)
        };
        if take(4)? != b"ORB1" {
            return Err(bad("unknown format"));
        }
        let u32_of = |s: &[u8]| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize;
        let images = u32_of(take(4)?);
        let mut index = LocalIndex { offsets: vec![0], ..Default::default() };
        for _ in 0..images {
            let n = u32_of(take(4)?);
            let coords = take(n * 8)?;
            for c in coords.chunks_exact(8) {
                let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                let y = f32::from_le_bytes([c[4], c[5], c[6], c[7]]);
                if !(x.is_finite() && y.is_finite()) {
                    return Err(bad("keypoint not at a finite position"));
                }
                index.points.push([x, y]);
            }
            let (descriptors, _) = take(n * DESCRIPTOR_BYTES)?.as_chunks::<DESCRIPTOR_BYTES>();
            index.descriptors.extend_from_slice(descriptors);
            index.offsets.push(index.points.len());
        }
        match trained {
            Some(ivf) => index.load_ivf(ivf)?,
            None => index.build_binary(MAX_BRUTE_FORCE)?,
        }
        Ok(index)
    }

    /// Writes the inverted file (trained, with every descriptor added) so a
    /// server loads it instead of training it again; `false` when the index
    /// is the exact one (rebuilt in no time).
    pub fn write_ivf(&self, path: &Path) -> Result<bool> {
        match &self.binary {
            Some(BinaryIndex::Ivf(index)) => {
                let name = path.to_str().ok_or_else(|| Error::bundle(path, "path is not UTF-8"))?;
                faiss::index::io::write_index_binary(index, name)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn load_ivf(&mut self, path: &Path) -> Result<()> {
        let name = path.to_str().ok_or_else(|| Error::bundle(path, "path is not UTF-8"))?;
        let index = faiss::index::io::read_index_binary(name)?;
        let n = self.descriptors.len();
        let mismatch = || Error::bundle(path, "stored inverted file does not match local.bin");
        if index.d() != DESCRIPTOR_BITS || index.ntotal() != n as u64 || !index.is_trained() {
            return Err(mismatch());
        }
        let mut index = index.into_binary_ivf().map_err(|_| mismatch())?;
        set_nprobe(&mut index, n);
        self.binary = Some(BinaryIndex::Ivf(index));
        Ok(())
    }

    /// Whether the k-NN runs on the (trained) inverted file.
    pub fn is_ivf(&self) -> bool {
        matches!(self.binary, Some(BinaryIndex::Ivf(_)))
    }
}

/// Probes enough of an inverted file's lists to scan about `IVF_SCAN` of its
/// `n` codes per query descriptor (built and loaded indexes alike); the
/// nprobe set.
fn set_nprobe(index: &mut BinaryIVFIndexImpl, n: usize) -> usize {
    let nlist = index.nlist().max(1);
    let nprobe = (nlist as usize * IVF_SCAN).div_ceil(n.max(1)).clamp(1, nlist as usize);
    // nprobe <= nlist, a u32.
    index.set_nprobe(u32::try_from(nprobe).unwrap_or(nlist));
    nprobe
}

/// Fewest ratio-tested matches worth a RANSAC run (a homography needs 4).
const MIN_MATCHES: usize = 8;

/// An ORB descriptor as four machine words.
type Code = [u64; 4];

fn codes(descriptors: &[Descriptor]) -> Vec<Code> {
    descriptors
        .iter()
        .map(|c| std::array::from_fn(|w| u64::from_le_bytes(std::array::from_fn(|i| c[w * 8 + i]))))
        .collect()
}

/// For every query code, its nearest train code and the two smallest
/// distances (`usize::MAX` / `u32::MAX` when `train` is empty); and for every
/// train code, its nearest query code. An exact Hamming scan. Built for
/// baseline x86-64, `count_ones` is vectorised SSE2 bit arithmetic, as fast
/// here as a build for the CPU's popcount instruction (1000 photo codes
/// against 100 / 500 / 2000 catalog codes: 0.32 / 1.64 / 6.5 ms either way),
/// so there is no run-time dispatch to it.
fn nearest_two(query: &[Code], train: &[Code]) -> (Vec<(usize, u32, u32)>, Vec<usize>) {
    // Query indexes share a u32 with a distance (<= 256, 9 bits) below.
    debug_assert!(query.len() < 1 << 20);
    // Branch-free passes the compiler vectorises: a row of distances, then its
    // two smallest; columns keep min(distance << 20 | query index).
    let mut row = vec![0u32; train.len()];
    let mut column = vec![u32::MAX; train.len()];
    let forward = query
        .iter()
        .enumerate()
        .map(|(qi, q)| {
            for (d, t) in row.iter_mut().zip(train) {
                *d = (q[0] ^ t[0]).count_ones()
                    + (q[1] ^ t[1]).count_ones()
                    + (q[2] ^ t[2]).count_ones()
                    + (q[3] ^ t[3]).count_ones();
            }
            let tag = qi as u32;
            for (c, &d) in column.iter_mut().zip(&row) {
                *c = (*c).min(d << 20 | tag);
            }
            let Some((best, &d1)) = row.iter().enumerate().min_by_key(|&(_, d)| *d) else {
                return (usize::MAX, u32::MAX, u32::MAX);
            };
            let d2 = row.iter().enumerate().filter(|&(i, _)| i != best).map(|(_, &d)| d).min().unwrap_or(u32::MAX);
            (best, d1, d2)
        })
        .collect();
    (forward, column.into_iter().map(|c| if c == u32::MAX { usize::MAX } else { (c & 0xF_FFFF) as usize }).collect())
}

fn pt(p: [f32; 2]) -> Point2f {
    Point2f::new(p[0], p[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings with the photo's keypoints voting over the catalog (off by default).
    fn voting() -> LocalSettings {
        LocalSettings { voters: 750, ..LocalSettings::default() }
    }

    fn textured(seed: u32) -> RgbImage {
        // Deterministic blocky texture with many corners.
        RgbImage::from_fn(320, 240, |x, y| {
            let v = ((x / 12).wrapping_mul(31 + seed) ^ (y / 12).wrapping_mul(17 + 3 * seed)).wrapping_mul(2654435761);
            let c = (v >> 24) as u8;
            image::Rgb([c, c.wrapping_mul(3), c.wrapping_add(90)])
        })
    }

    #[test]
    fn a_shifted_view_verifies_and_another_image_does_not() {
        let s = voting();
        let a = textured(1);
        let b = textured(7);
        let index = LocalIndex::from_images(&[extract(&a, &s).unwrap(), extract(&b, &s).unwrap()]).unwrap();
        // The query: image a shifted by 20 px inside a larger canvas.
        let mut q = RgbImage::from_pixel(360, 280, image::Rgb([0, 0, 0]));
        imageops::overlay(&mut q, &a, 20, 20);
        let query = extract(&q, &s).unwrap();
        let found = index.verify(&query, |x, y| x == y, &[], &s).unwrap();
        assert_eq!(found[0].image, 0, "{found:?}");
        // The inverted-file (large-catalog) index finds the same thing.
        let mut ivf = LocalIndex::from_images(&[extract(&a, &s).unwrap(), extract(&b, &s).unwrap()]).unwrap();
        ivf.build_binary(0).unwrap();
        let again = ivf.verify(&query, |x, y| x == y, &[], &s).unwrap();
        assert_eq!(again[0].image, 0);
        assert!(again[0].inliers.abs_diff(found[0].inliers) <= found[0].inliers / 5, "{again:?} vs {found:?}");
        assert!(found[0].inliers >= 30, "{found:?}");
        assert!(found.iter().all(|v| v.image == 0 || v.inliers < 10), "{found:?}");
    }

    #[test]
    fn an_image_shared_with_another_exhibit_still_verifies() {
        // The same picture under two exhibits: every photo descriptor has two
        // equally near catalog keypoints, so a ratio test over the whole
        // catalog passes none of them. Verified image by image, both match
        // (and the decision calls it ambiguous).
        let s = voting();
        let a = textured(3);
        let features = extract(&a, &s).unwrap();
        let index = LocalIndex::from_images(&[features.clone(), extract(&textured(9), &s).unwrap(), features]).unwrap();
        let mut q = RgbImage::from_pixel(360, 280, image::Rgb([0, 0, 0]));
        imageops::overlay(&mut q, &a, 30, 10);
        let found = index.verify(&extract(&q, &s).unwrap(), |x, y| x == y, &[], &s).unwrap();
        let inliers = |image: usize| found.iter().find(|v| v.image == image).map_or(0, |v| v.inliers);
        assert!(inliers(0) >= 30 && inliers(2) >= 30, "{found:?}");
        assert!(inliers(1) < 10, "{found:?}");
    }

    #[test]
    fn images_named_by_the_shortlist_are_verified_too() {
        let s = LocalSettings { verify: 0, ..voting() };
        let (a, b) = (textured(1), textured(7));
        let index = LocalIndex::from_images(&[extract(&a, &s).unwrap(), extract(&b, &s).unwrap()]).unwrap();
        let mut q = RgbImage::from_pixel(360, 280, image::Rgb([0, 0, 0]));
        imageops::overlay(&mut q, &b, 20, 20);
        let query = extract(&q, &s).unwrap();
        // No voted image is verified (verify: 0); only the one asked for.
        assert!(index.verify(&query, |x, y| x == y, &[], &s).unwrap().is_empty());
        let found = index.verify(&query, |x, y| x == y, &[1], &s).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].image == 1 && found[0].inliers >= 30, "{found:?}");
        // Without a vote (the default) the shortlist is all that is verified.
        let s = LocalSettings::default();
        assert!(index.verify(&query, |x, y| x == y, &[], &s).unwrap().is_empty());
        let found = index.verify(&query, |x, y| x == y, &[1, 0], &s).unwrap();
        assert_eq!(found[0].image, 1, "{found:?}");
        assert!(found.iter().all(|v| v.image == 1 || v.inliers < 10), "{found:?}");
    }

    /// `n` keypoints with random (distinct) descriptors.
    fn random_features(rng: &mut impl rand::Rng, n: usize) -> ImageFeatures {
        let points = (0..n).map(|_| [rng.random_range(0.0..640.0), rng.random_range(0.0..480.0)]).collect();
        ImageFeatures::new(points, (0..n).map(|_| rng.random()).collect()).unwrap()
    }

    #[test]
    fn features_that_do_not_belong_together_are_refused() {
        // More keypoints than descriptors once made FAISS read past the buffer.
        let e = ImageFeatures::new(vec![[0.0, 0.0]; 200_000], vec![]);
        assert!(matches!(e, Err(Error::InvalidFeatures { .. })), "{e:?}");
        assert!(ImageFeatures::new(vec![[0.0, 0.0]], vec![[0; DESCRIPTOR_BYTES]; 2]).is_err());
        assert!(ImageFeatures::new(vec![[f32::NAN, 0.0]], vec![[0; DESCRIPTOR_BYTES]]).is_err());
        assert!(ImageFeatures::new(vec![[1.0, f32::INFINITY]], vec![[0; DESCRIPTOR_BYTES]]).is_err());
        let f = ImageFeatures::new(vec![[1.0, 2.0]], vec![[7; DESCRIPTOR_BYTES]]).unwrap();
        assert_eq!((f.len(), f.is_empty(), f.points(), f.descriptors()), (1, false, &[[1.0, 2.0]][..], &[[7; 32]][..]));
        assert!(ImageFeatures::new(vec![], vec![]).unwrap().is_empty());
    }

    #[test]
    fn an_index_of_checked_features_finds_each_descriptor_exactly_and_approximately() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let images: Vec<ImageFeatures> = [100, 0, 150].iter().map(|&n| random_features(&mut rng, n)).collect();
        let mut index = LocalIndex::from_images(&images).unwrap();
        assert_eq!(index.images(), 3);
        assert!((0..3).all(|i| index.image_features(i) == images[i]));
        for ivf in [false, true] {
            if ivf {
                index.build_binary(0).unwrap();
            }
            assert_eq!(index.is_ivf(), ivf);
            let binary = index.binary.as_ref().unwrap();
            // Every descriptor of image 2 finds itself (distance 0) first.
            let knn = index.knn2_faiss(binary, &images[2], usize::MAX).unwrap();
            assert_eq!(knn.len(), 150);
            for (q, &((kp, d), second)) in knn.iter().enumerate() {
                assert_eq!((kp, d, index.image_of(kp)), (100 + q, 0.0, 2));
                assert!(second.is_some_and(|(other, d2)| other != kp && d2 > 0.0));
            }
            // Voters cap the queries searched.
            assert_eq!(index.knn2_faiss(binary, &images[2], 10).unwrap().len(), 10);
        }
        // No descriptors: no FAISS index, and nothing verifies.
        let empty = LocalIndex::from_images(&[ImageFeatures::default()]).unwrap();
        assert!(empty.binary.is_none());
        assert!(empty.verify(&images[0], |x, y| x == y, &[0], &voting()).unwrap().is_empty());
    }

    #[test]
    fn malformed_files_are_refused() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let index = LocalIndex::from_images(&[random_features(&mut rng, 300)]).unwrap();
        let mut buf = Vec::new();
        index.write_to(&mut buf).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (bin, ivf) = (dir.path().join("local.bin"), dir.path().join("local.ivf"));
        // A keypoint at NaN.
        let mut nan = buf.clone();
        nan[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&bin, &nan).unwrap();
        assert!(LocalIndex::read(&bin, None).is_err());
        // More images or keypoints announced than stored.
        for (at, value) in [(4, u32::MAX), (8, u32::MAX), (8, 301)] {
            let mut big = buf.clone();
            big[at..at + 4].copy_from_slice(&value.to_le_bytes());
            std::fs::write(&bin, &big).unwrap();
            assert!(LocalIndex::read(&bin, None).is_err(), "{at} {value}");
        }
        std::fs::write(&bin, &buf).unwrap();
        assert_eq!(LocalIndex::read(&bin, None).unwrap().image_features(0), index.image_features(0));
        // A stored "inverted file" that is a flat index, or of other codes, is refused.
        let mut flat = faiss::index_binary_factory(DESCRIPTOR_BITS, "BFlat").unwrap();
        flat.add(index.descriptors.as_flattened()).unwrap();
        faiss::index::io::write_index_binary(&flat, ivf.to_str().unwrap()).unwrap();
        assert!(LocalIndex::read(&bin, Some(&ivf)).is_err());
        let mut wide = faiss::index_binary_factory(2 * DESCRIPTOR_BITS, "BIVF4").unwrap();
        // 300 codes of 512 bits: as many as local.bin has, but twice as wide.
        let codes = index.descriptors.as_flattened().repeat(2);
        wide.train(&codes).unwrap();
        wide.add(&codes).unwrap();
        faiss::index::io::write_index_binary(&wide, ivf.to_str().unwrap()).unwrap();
        assert!(LocalIndex::read(&bin, Some(&ivf)).is_err());
        std::fs::write(&ivf, b"not an index").unwrap();
        assert!(LocalIndex::read(&bin, Some(&ivf)).is_err());
    }

    #[test]
    fn features_round_trip_through_the_file_format() {
        let s = LocalSettings::default();
        let index = LocalIndex::from_images(&[extract(&textured(1), &s).unwrap(), ImageFeatures::default()]).unwrap();
        let mut buf = Vec::new();
        index.write_to(&mut buf).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("local.bin");
        std::fs::write(&path, &buf).unwrap();
        let back = LocalIndex::read(&path, None).unwrap();
        assert_eq!((back.points.len(), back.images()), (index.points.len(), 2));
        assert_eq!(back.descriptors, index.descriptors);
        // The exact index is not stored; it is rebuilt on load.
        assert!(!index.write_ivf(&dir.path().join("none.ivf")).unwrap());
        std::fs::write(&path, &buf[..buf.len() - 5]).unwrap();
        assert!(LocalIndex::read(&path, None).is_err());
    }

    #[test]
    fn a_trained_inverted_file_is_stored_and_loaded_instead_of_retrained() {
        let s = voting();
        let (a, b) = (textured(1), textured(7));
        let mut index = LocalIndex::from_images(&[extract(&a, &s).unwrap(), extract(&b, &s).unwrap()]).unwrap();
        index.build_binary(0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (bin, ivf) = (dir.path().join("local.bin"), dir.path().join("local.ivf"));
        let mut buf = Vec::new();
        index.write_to(&mut buf).unwrap();
        std::fs::write(&bin, &buf).unwrap();
        assert!(index.write_ivf(&ivf).unwrap());
        let back = LocalIndex::read(&bin, Some(&ivf)).unwrap();
        assert!(back.is_ivf());
        let mut q = RgbImage::from_pixel(360, 280, image::Rgb([0, 0, 0]));
        imageops::overlay(&mut q, &b, 20, 20);
        let query = extract(&q, &s).unwrap();
        let (x, y) = (
            index.verify(&query, |x, y| x == y, &[], &s).unwrap(),
            back.verify(&query, |x, y| x == y, &[], &s).unwrap(),
        );
        assert_eq!((x[0].image, y[0].image), (1, 1));
        assert_eq!(x[0].inliers, y[0].inliers);
        // A stored index for other features is refused, not searched.
        let other = LocalIndex::from_images(&[extract(&a, &s).unwrap()]).unwrap();
        let mut buf = Vec::new();
        other.write_to(&mut buf).unwrap();
        std::fs::write(&bin, &buf).unwrap();
        assert!(LocalIndex::read(&bin, Some(&ivf)).is_err());
    }
}
