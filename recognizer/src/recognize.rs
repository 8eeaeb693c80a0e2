//! From a photo to a decision: decode, embed, search, group by exhibit, decide.
//!
//! The decision compares the best exhibit's similarity with the bundle's
//! calibration (what a *wrong* exhibit typically scores in this collection),
//! so the threshold follows the collection and the model rather than a
//! constant.

use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, Calibration, VectorEntry};
use crate::preprocess::{DecodeLimits, decode_image};
use crate::{Embedder, Result};

/// Which exhibit: exhibit ids are unique within a museum (tenant) only, so
/// the museum is part of every exhibit's identity, from the recognizer's
/// answer through caches, visitors' lists and analytics to the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExhibitKey {
    pub museum: String,
    pub id: String,
}

impl ExhibitKey {
    pub fn new(museum: impl Into<String>, id: impl Into<String>) -> Self {
        Self { museum: museum.into(), id: id.into() }
    }
}

impl std::fmt::Display for ExhibitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.museum, self.id)
    }
}

/// One exhibit on the shortlist with its best-matching view.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Candidate {
    pub exhibit: ExhibitKey,
    /// Best cosine similarity of the photo's crops with the exhibit's images.
    pub score: f32,
    /// Which catalog image matched best.
    pub image: String,
    /// RANSAC inliers of the best verified image of the exhibit (0: not verified).
    #[serde(default)]
    pub inliers: u32,
    /// Which window of the photo (an index into the first look's crops,
    /// then the closer look's) reached `score`; `None` when the exhibit was
    /// found by the keypoint vote alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Decision {
    Matched {
        exhibit: ExhibitKey,
        confidence: f32,
    },
    /// Two or more exhibits (possibly of several museums) fit about equally well.
    Ambiguous {
        exhibits: Vec<ExhibitKey>,
    },
    NoMatch {
        reason: NoMatchReason,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoMatchReason {
    /// Nothing in the collection (or the museum asked for) to compare with.
    EmptyCollection,
    /// The best exhibit scores like a wrong one would.
    LowSimilarity,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Timings {
    pub decode_ms: f64,
    pub embed_ms: f64,
    pub search_ms: f64,
    #[serde(default)]
    pub verify_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recognition {
    pub decision: Decision,
    /// Best exhibits first, one entry per exhibit.
    pub candidates: Vec<Candidate>,
    pub bundle_version: String,
    pub timings: Timings,
    /// Whether the closer look ran (the first look decided nothing).
    #[serde(default)]
    pub closer_look: bool,
}

impl Recognition {
    /// The candidate of the matched exhibit, if the decision is a match.
    pub fn matched(&self) -> Option<&Candidate> {
        match &self.decision {
            Decision::Matched { exhibit, .. } => self.candidates.iter().find(|c| &c.exhibit == exhibit),
            _ => None,
        }
    }
}

impl Decision {
    /// The status name the API and the analytics use.
    pub fn status(&self) -> &'static str {
        match self {
            Decision::Matched { .. } => "matched",
            Decision::Ambiguous { .. } => "ambiguous",
            Decision::NoMatch { .. } => "no_match",
        }
    }
}

/// A window of a photo, as shares of its width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

impl Crop {
    /// The whole frame.
    pub const WHOLE: Crop = Crop { left: 0.0, top: 0.0, width: 1.0, height: 1.0 };

    /// The centred window covering `share` of each side.
    pub fn centred(share: f32) -> Crop {
        let share = share.clamp(0.0, 1.0);
        let margin = (1.0 - share) / 2.0;
        Crop { left: margin, top: margin, width: share, height: share }
    }

    /// The four corner windows of `share` of each side (they overlap for
    /// shares above one half) and the centred one: an exhibit that fills
    /// only part of the photo fills most of one of them.
    pub fn grid(share: f32) -> Vec<Crop> {
        let far = 1.0 - share;
        let corner = |left, top| Crop { left, top, width: share, height: share };
        vec![corner(0.0, 0.0), corner(far, 0.0), corner(0.0, far), corner(far, far), Crop::centred(share)]
    }

    /// This window of `image` (the image itself, not a copy, for the whole frame).
    pub fn apply<'a>(&self, image: &'a RgbImage) -> std::borrow::Cow<'a, RgbImage> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return std::borrow::Cow::Borrowed(image);
        }
        let px = |share: f32, side: u32| (side as f32 * share.clamp(0.0, 1.0)).round() as u32;
        let (x, y) = (px(self.left, w).min(w.saturating_sub(1)), px(self.top, h).min(h.saturating_sub(1)));
        let (cw, ch) = (px(self.width, w).clamp(1, w - x), px(self.height, h).clamp(1, h - y));
        if (x, y, cw, ch) == (0, 0, w, h) {
            return std::borrow::Cow::Borrowed(image);
        }
        std::borrow::Cow::Owned(image::imageops::crop_imm(image, x, y, cw, ch).to_image())
    }
}

/// How the pipeline looks at a photo.
#[derive(Debug, Clone)]
pub struct RecognizerSettings {
    pub limits: DecodeLimits,
    /// Windows of the photo embedded for every photo (in one batch).
    pub crops: Vec<Crop>,
    /// Windows embedded only when the first look decides nothing (no match
    /// in any museum): an exhibit rarely fills a visitor's photo, and a
    /// tighter window cuts clutter away. Each exhibit keeps its best score
    /// over all windows. Calibration scores with both sets, since that is
    /// what a photo of an unknown object gets.
    pub more_crops: Vec<Crop>,
    /// How many exhibits the answer's shortlist keeps.
    pub shortlist: usize,
    /// Local features and geometric verification (used when the bundle has them).
    pub local: crate::local::LocalSettings,
}

impl Default for RecognizerSettings {
    fn default() -> Self {
        // Whole frame first, the 60% grid when that decides nothing: chosen
        // by accuracy against cost on ../shared/eval (EVALUATION.md).
        Self {
            limits: DecodeLimits::default(),
            crops: vec![Crop::WHOLE],
            more_crops: Crop::grid(0.6),
            shortlist: 5,
            local: crate::local::LocalSettings::default(),
        }
    }
}

/// Shared recognition pipeline (server, calibration and eval use the same one).
#[derive(Debug, Clone)]
pub struct Recognizer {
    embedder: Arc<Embedder>,
    settings: RecognizerSettings,
}

impl Recognizer {
    /// The model's manifest may ask for its own pipeline settings
    /// ([`crate::model::RecognitionHints`]); they win over `settings`.
    pub fn new(embedder: Arc<Embedder>, mut settings: RecognizerSettings) -> Self {
        if let Some(voters) = embedder.manifest().recognition.voters {
            settings.local.voters = voters;
        }
        Self { embedder, settings }
    }

    pub fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    pub fn settings(&self) -> &RecognizerSettings {
        &self.settings
    }

    /// Decodes photo bytes (under the limits) and recognises them in one bundle.
    pub fn recognize_bytes(&self, bundle: &Bundle, bytes: &[u8]) -> Result<Recognition> {
        self.recognize_across(std::slice::from_ref(&bundle), bytes)
    }

    /// Recognises photo bytes across several bundles (museums): the photo is
    /// decoded, embedded and described once; each bundle is searched and
    /// decided with its own calibration, and the answers are merged
    /// (see [`merge_decisions`]). Scoping to one museum is a one-element slice.
    pub fn recognize_across<B: std::ops::Deref<Target = Bundle>>(
        &self,
        bundles: &[B],
        bytes: &[u8],
    ) -> Result<Recognition> {
        let t = Instant::now();
        let image = decode_image(bytes, self.settings.limits)?;
        let mut timings = Timings { decode_ms: ms(t), ..Timings::default() };
        let with_local = bundles.iter().any(|b| b.local.is_some());
        let mut photo = self.look(&image, &self.settings.crops, with_local, &mut timings)?;
        let first = self.decide_across(bundles, &mut photo, timings)?;
        let decided = matches!(
            first.decision,
            Decision::Matched { .. } | Decision::NoMatch { reason: NoMatchReason::EmptyCollection }
        );
        if decided || self.settings.more_crops.is_empty() {
            return Ok(first);
        }
        // Nothing matched on the first look: look closer.
        let mut timings = first.timings;
        self.look_closer(&image, &mut photo, &mut timings)?;
        self.decide_across(bundles, &mut photo, timings)
    }

    fn decide_across<B: std::ops::Deref<Target = Bundle>>(
        &self,
        bundles: &[B],
        photo: &mut Photo,
        mut timings: Timings,
    ) -> Result<Recognition> {
        let mut answers = Vec::with_capacity(bundles.len());
        for bundle in bundles {
            let candidates = self.score_photo(bundle, photo, &mut timings)?;
            let cal = &bundle.manifest.calibration;
            let decision = decide(&candidates, cal);
            let seen = Seen::new(&candidates, cal);
            let verified = candidates.first().is_some_and(|c| seen.is(c));
            answers.push(Answer { decision, candidates, verified });
        }
        let (decision, mut candidates) = merge_decisions(answers);
        candidates.truncate(self.settings.shortlist);
        let bundle_version = match bundles {
            [one] => one.version().to_owned(),
            many => scope_label(many),
        };
        Ok(Recognition { decision, candidates, bundle_version, timings, closer_look: photo.closer })
    }

    /// Every exhibit the search reached, with its best score over all crops and
    /// views (the first look's and the closer look's), best first. No decision is taken.
    pub fn score(&self, bundle: &Bundle, image: &RgbImage, timings: &mut Timings) -> Result<Vec<Candidate>> {
        let mut photo = self.look(image, &self.settings.crops, bundle.local.is_some(), timings)?;
        self.look_closer(image, &mut photo, timings)?;
        self.score_photo(bundle, &mut photo, timings)
    }

    /// What recognition needs of a photo whatever the bundle: the raw
    /// embeddings of `crops` (one batch) and (if any bundle verifies) its keypoints.
    pub fn look(&self, image: &RgbImage, crops: &[Crop], with_local: bool, timings: &mut Timings) -> Result<Photo> {
        let raw = self.embed_crops(image, crops, timings)?;
        let t = Instant::now();
        let local = if with_local { Some(crate::local::extract_query(image, &self.settings.local)?) } else { None };
        timings.verify_ms += ms(t);
        Ok(Photo { raw, local, closer: false, checked: Vec::new() })
    }

    /// Adds the embeddings of the settings' `more_crops` to a photo.
    fn look_closer(&self, image: &RgbImage, photo: &mut Photo, timings: &mut Timings) -> Result<()> {
        if !self.settings.more_crops.is_empty() {
            photo.raw.extend(self.embed_crops(image, &self.settings.more_crops, timings)?);
            photo.closer = true;
        }
        Ok(())
    }

    /// Raw embeddings of windows of `image`, in one batch where they share a size.
    fn embed_crops(&self, image: &RgbImage, crops: &[Crop], timings: &mut Timings) -> Result<Vec<Vec<f32>>> {
        let t = Instant::now();
        let views: Vec<std::borrow::Cow<'_, RgbImage>> = crops.iter().map(|c| c.apply(image)).collect();
        let raw = self.embedder.embed_batch(&views)?;
        timings.embed_ms += ms(t);
        Ok(raw)
    }

    /// Searches and verifies one bundle for a photo already looked at.
    pub fn score_photo(&self, bundle: &Bundle, photo: &mut Photo, timings: &mut Timings) -> Result<Vec<Candidate>> {
        let t = Instant::now();
        let queries: Vec<f32> = photo.raw.iter().flat_map(|raw| bundle.project(raw)).collect();
        // Several views per exhibit eat into k: ask for more.
        let k = (self.settings.shortlist * 8).max(32);
        // Each hit keeps the window of the photo it came from.
        let hits: Vec<(u32, crate::index::Hit)> = (0u32..)
            .zip(bundle.index.search(&queries, k)?)
            .flat_map(|(crop, hits)| hits.into_iter().map(move |h| (crop, h)))
            .collect();
        let museum = bundle.museum();
        let grouped = group_by_exhibit(&hits, &bundle.vectors, museum);
        // The best view of each of the embedding's first exhibits is verified too.
        let also: Vec<usize> =
            grouped.iter().take(self.settings.local.verify_shortlist).map(|&(_, id)| id as usize).collect();
        let mut candidates: Vec<Candidate> = grouped.into_iter().map(|(c, _)| c).collect();
        timings.search_ms += ms(t);

        if let (Some(local), Some(features)) = (&bundle.local, &photo.local) {
            let t = Instant::now();
            let same = |a: usize, b: usize| bundle.vectors[a].exhibit == bundle.vectors[b].exhibit;
            // With a closer look to come, the first look verifies the
            // embedding's shortlist only; the closer look (or the one look
            // there is) also lets the photo vote, if `voters` asks for it.
            let vote = photo.closer || self.settings.more_crops.is_empty();
            let settings = crate::local::LocalSettings {
                voters: if vote { self.settings.local.voters } else { 0 },
                ..self.settings.local.clone()
            };
            let scope = scope_label(&[bundle]);
            let at = match photo.checked.iter().position(|(s, _, _)| *s == scope) {
                Some(at) => at,
                None => {
                    photo.checked.push((scope, Vec::new(), Vec::new()));
                    photo.checked.len() - 1
                }
            };
            let (_, checked, known) = &mut photo.checked[at];
            let fresh: Vec<usize> = also.iter().copied().filter(|i| !checked.contains(i)).collect();
            let verified = local.verify(features, same, &fresh, &settings)?;
            checked.extend(fresh);
            known.extend(verified);
            absorb(&mut candidates, known.iter().copied(), &bundle.vectors, museum);
            // An exhibit leading on inliers may count below its own bar only
            // against the exhibits that raised that bar: check those too.
            let cal = &bundle.manifest.calibration;
            let below_bar = |c: &&Candidate| c.inliers < cal.min_inliers_for(&c.exhibit.id);
            if let Some(leader) = lead_exhibit(&candidates, cal).filter(below_bar) {
                let unchecked: std::collections::HashSet<&str> = cal
                    .confusers_of(&leader.exhibit.id)
                    .iter()
                    .map(String::as_str)
                    .filter(|e| !candidates.iter().any(|c| c.exhibit.id == *e && c.inliers > 0))
                    .collect();
                let missing: Vec<usize> = if unchecked.is_empty() {
                    Vec::new()
                } else {
                    (0..bundle.vectors.len())
                        .filter(|&i| unchecked.contains(bundle.vectors[i].exhibit.as_str()))
                        .collect()
                };
                if !missing.is_empty() {
                    let settings = crate::local::LocalSettings { voters: 0, ..settings };
                    let verified = local.verify(features, |_, _| false, &missing, &settings)?;
                    absorb(&mut candidates, verified, &bundle.vectors, museum);
                }
            }
            sort_verified_first(&mut candidates, &bundle.manifest.calibration);
            timings.verify_ms += ms(t);
        }
        Ok(candidates)
    }
}

/// Records verified images' inliers on their exhibits' candidates (an
/// exhibit keeps its best view's), adding exhibits the embedding had not
/// listed.
fn absorb(
    candidates: &mut Vec<Candidate>,
    verified: impl IntoIterator<Item = crate::local::Verified>,
    vectors: &[VectorEntry],
    museum: &str,
) {
    for v in verified {
        let entry = &vectors[v.image];
        match candidates.iter_mut().find(|c| c.exhibit.id == entry.exhibit) {
            Some(c) if c.inliers >= v.inliers => {}
            Some(c) => {
                c.inliers = v.inliers;
                c.image = entry.image.clone();
            }
            None => candidates.push(Candidate {
                exhibit: ExhibitKey::new(museum, &entry.exhibit),
                score: 0.0,
                image: entry.image.clone(),
                inliers: v.inliers,
                crop: None,
            }),
        }
    }
}

/// `museum@version` of each bundle, comma-separated: what a recognition
/// across these bundles depends on (answers, cache keys).
pub fn scope_label<B: std::ops::Deref<Target = Bundle>>(bundles: &[B]) -> String {
    bundles.iter().map(|b| format!("{}@{}", b.museum(), b.version())).collect::<Vec<_>>().join(",")
}

/// A photo as recognition sees it, independent of any bundle.
#[derive(Debug, Clone)]
pub struct Photo {
    /// Raw model features of each crop (projected per bundle).
    raw: Vec<Vec<f32>>,
    local: Option<crate::local::ImageFeatures>,
    /// The closer look was taken: the grid's crops are in `raw`, and the
    /// photo's keypoints vote over the whole catalog for images to verify.
    closer: bool,
    /// Per bundle (`museum@version`): the catalog images already matched
    /// with the photo and what verified, so the closer look does not match
    /// the first look's shortlist again.
    checked: Vec<(String, Vec<usize>, Vec<crate::local::Verified>)>,
}

/// One bundle's answer, before merging.
#[derive(Debug, Clone)]
pub struct Answer {
    pub decision: Decision,
    pub candidates: Vec<Candidate>,
    /// The best candidate is verified geometrically (the strongest evidence).
    pub verified: bool,
}

/// Merges the answers of several museums' bundles into one. Geometric
/// verification outranks similarity: when some museums' matches are verified,
/// only those count, and among them the one with the most inliers wins unless
/// another reaches 80% of its count (the rule [`decide`] applies within one
/// museum). A match in exactly one museum then stands; matches in several are
/// ambiguous (the visitor picks); else any ambiguity; else no match. Candidates: the decided exhibits first, then verified ones by
/// inliers, then by similarity.
pub fn merge_decisions(answers: Vec<Answer>) -> (Decision, Vec<Candidate>) {
    if answers.len() == 1 {
        if let Some(one) = answers.into_iter().next() {
            return (one.decision, one.candidates);
        }
        return (Decision::NoMatch { reason: NoMatchReason::EmptyCollection }, Vec::new());
    }
    let best_verified = answers
        .iter()
        .filter(|a| a.verified && matches!(a.decision, Decision::Matched { .. }))
        .filter_map(|a| a.candidates.first().map(|c| c.inliers))
        .max();
    let counts = |a: &Answer| match best_verified {
        // Verified matches within 80% of the best one's inliers.
        Some(best) => a.verified && a.candidates.first().is_some_and(|c| c.inliers * 5 >= best * 4),
        None => true,
    };
    let mut matched: Vec<(Decision, ExhibitKey)> = Vec::new();
    let mut ambiguous = Vec::new();
    let mut all_empty = true;
    let mut candidates = Vec::new();
    for a in answers {
        match &a.decision {
            Decision::Matched { exhibit, .. } if counts(&a) => matched.push((a.decision.clone(), exhibit.clone())),
            Decision::Matched { .. } => {}
            Decision::Ambiguous { exhibits } => ambiguous.extend(exhibits.iter().cloned()),
            Decision::NoMatch { .. } => {}
        }
        if !matches!(a.decision, Decision::NoMatch { reason: NoMatchReason::EmptyCollection }) {
            all_empty = false;
        }
        candidates.extend(a.candidates);
    }
    let decided: Vec<ExhibitKey> = match matched.len() {
        0 => ambiguous,
        _ => matched.iter().map(|(_, e)| e.clone()).collect(),
    };
    let is_decided = |c: &Candidate| decided.contains(&c.exhibit);
    candidates.sort_by(|a, b| {
        is_decided(b).cmp(&is_decided(a)).then(b.inliers.cmp(&a.inliers)).then(b.score.total_cmp(&a.score))
    });
    let decision = if matched.len() == 1 {
        matched.remove(0).0
    } else if !decided.is_empty() {
        Decision::Ambiguous { exhibits: decided.into_iter().take(3).collect() }
    } else if all_empty {
        Decision::NoMatch { reason: NoMatchReason::EmptyCollection }
    } else {
        Decision::NoMatch { reason: NoMatchReason::LowSimilarity }
    };
    (decision, candidates)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Exhibits verified geometrically (see [`Seen`]) first, most inliers
/// first; then the rest by similarity.
fn sort_verified_first(candidates: &mut [Candidate], cal: &Calibration) {
    let seen = Seen::new(candidates, cal);
    candidates.sort_by(|a, b| {
        let (va, vb) = (seen.is(a), seen.is(b));
        vb.cmp(&va)
            .then_with(|| if va && vb { b.inliers.cmp(&a.inliers) } else { std::cmp::Ordering::Equal })
            .then(b.score.total_cmp(&a.score))
    });
}

/// Which candidates geometry has seen on one photo: those with their
/// calibrated inliers, and the one leading every other by the calibration's
/// `inlier_lead` (at least the floor).
struct Seen<'a> {
    cal: &'a Calibration,
    leader: Option<ExhibitKey>,
}

impl<'a> Seen<'a> {
    fn new(candidates: &[Candidate], cal: &'a Calibration) -> Self {
        Self { cal, leader: lead_exhibit(candidates, cal).map(|c| c.exhibit.clone()) }
    }

    fn is(&self, c: &Candidate) -> bool {
        c.inliers >= self.cal.min_inliers_for(&c.exhibit.id) || self.leader.as_ref() == Some(&c.exhibit)
    }
}

/// The candidate with the most inliers, if it has at least the floor and
/// `inlier_lead` times every other candidate's.
fn lead_exhibit<'c>(candidates: &'c [Candidate], cal: &Calibration) -> Option<&'c Candidate> {
    if cal.inlier_lead <= 0.0 {
        return None;
    }
    let best = candidates.iter().max_by_key(|c| c.inliers)?;
    let second = candidates.iter().filter(|c| c.exhibit != best.exhibit).map(|c| c.inliers).max().unwrap_or(0);
    (best.inliers >= cal.min_inliers && best.inliers as f32 >= cal.inlier_lead * second as f32).then_some(best)
}

/// Keeps each exhibit's best hit, best exhibits first, each with the vector
/// id of that hit (its best view).
fn group_by_exhibit(hits: &[(u32, crate::index::Hit)], vectors: &[VectorEntry], museum: &str) -> Vec<(Candidate, u64)> {
    let mut best: std::collections::HashMap<&str, (f32, &str, u64, u32)> = std::collections::HashMap::new();
    for (crop, hit) in hits {
        let Some(entry) = vectors.get(hit.id as usize) else { continue };
        let slot = best.entry(entry.exhibit.as_str()).or_insert((f32::NEG_INFINITY, "", hit.id, *crop));
        if hit.score > slot.0 {
            *slot = (hit.score, entry.image.as_str(), hit.id, *crop);
        }
    }
    let mut out: Vec<(Candidate, u64)> = best
        .into_iter()
        .map(|(exhibit, (score, image, id, crop))| {
            let c = Candidate {
                exhibit: ExhibitKey::new(museum, exhibit),
                score,
                image: image.to_owned(),
                inliers: 0,
                crop: Some(crop),
            };
            (c, id)
        })
        .collect();
    out.sort_by(|(a, _), (b, _)| b.score.total_cmp(&a.score).then_with(|| a.exhibit.cmp(&b.exhibit)));
    out
}

/// Accepts the best exhibit when its score, or its lead over the runner-up,
/// is beyond what unknown objects reach in this collection (see [`Calibration`]).
/// Without a runner-up (one exhibit in scope) only the score counts.
pub fn accepts(cal: &Calibration, best: f32, runner_up: Option<f32>) -> bool {
    best >= cal.accept_score || runner_up.is_some_and(|r| best >= cal.unknown_p50 && best - r >= cal.accept_margin)
}

/// Orders `candidates` as `cal` says (verified exhibits first) and decides.
/// The one decision the server makes; calibration replays it on simulated photos.
pub fn rank_and_decide(candidates: &mut [Candidate], cal: &Calibration) -> Decision {
    sort_verified_first(candidates, cal);
    decide(candidates, cal)
}

fn decide(candidates: &[Candidate], cal: &Calibration) -> Decision {
    let Some(best) = candidates.first() else {
        return Decision::NoMatch { reason: NoMatchReason::EmptyCollection };
    };
    // Geometric verification decides when it has evidence: a homography with
    // this many inliers is what wrong exhibits do not reach.
    if Seen::new(candidates, cal).is(best) {
        let rivals: Vec<ExhibitKey> = candidates[1..]
            .iter()
            // Any exhibit about as well verified, even below its own bar: then
            // the best one's geometry is not what tells it apart.
            .filter(|c| c.inliers * 5 >= best.inliers * 4)
            .map(|c| c.exhibit.clone())
            .collect();
        if !rivals.is_empty() {
            let mut exhibits = vec![best.exhibit.clone()];
            exhibits.extend(rivals.into_iter().take(2));
            return Decision::Ambiguous { exhibits };
        }
        let confidence = best.inliers as f32 / (best.inliers + cal.min_inliers_for(&best.exhibit.id)) as f32;
        return Decision::Matched { exhibit: best.exhibit.clone(), confidence };
    }
    let runner_up = candidates.get(1).map(|c| c.score);
    if accepts(cal, best.score, runner_up) {
        // How far above an unknown object's typical score the best one is, in [0, 1].
        let span = (1.0 - cal.unknown_p50).max(1e-3);
        let confidence = ((best.score - cal.unknown_p50) / span).clamp(0.0, 1.0);
        return Decision::Matched { exhibit: best.exhibit.clone(), confidence };
    }
    // Several exhibits above the bar but none clearly ahead: let the visitor pick.
    let close: Vec<ExhibitKey> = candidates
        .iter()
        .take_while(|c| c.score >= cal.accept_score.min(cal.genuine_p50))
        .take(3)
        .map(|c| c.exhibit.clone())
        .collect();
    if close.len() >= 2 {
        return Decision::Ambiguous { exhibits: close };
    }
    Decision::NoMatch { reason: NoMatchReason::LowSimilarity }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> Calibration {
        Calibration {
            queries: 10,
            unknown_p50: 0.4,
            unknown_p90: 0.55,
            unknown_p95: 0.6,
            genuine_p10: 0.6,
            genuine_p50: 0.8,
            simulated_top1: 1.0,
            accept_score: 0.6,
            accept_margin: 0.15,
            min_inliers: 15,
            exhibit_min_inliers: Default::default(),
            exhibit_confusers: Default::default(),
            inlier_lead: 0.0,
            unknown_inliers_max: 9,
            simulated_accepted: 0.9,
            simulated_unknown_accepted: 0.1,
        }
    }

    /// Exhibit `id` of museum "m".
    fn key(id: &str) -> ExhibitKey {
        ExhibitKey::new("m", id)
    }

    fn cand(exhibit: &str, score: f32) -> Candidate {
        Candidate { exhibit: key(exhibit), score, image: String::new(), inliers: 0, crop: None }
    }

    #[test]
    fn decisions_follow_the_calibration() {
        assert_eq!(decide(&[], &cal()), Decision::NoMatch { reason: NoMatchReason::EmptyCollection });
        assert_eq!(decide(&[cand("a", 0.55)], &cal()), Decision::NoMatch { reason: NoMatchReason::LowSimilarity });
        match decide(&[cand("a", 0.9), cand("b", 0.5)], &cal()) {
            Decision::Matched { exhibit, confidence } => {
                assert_eq!(exhibit, key("a"));
                assert!((confidence - 0.8333).abs() < 1e-3);
            }
            other => panic!("{other:?}"),
        }
        // Below the score bar but far ahead of the runner-up: accepted.
        assert!(matches!(decide(&[cand("a", 0.58), cand("b", 0.3)], &cal()), Decision::Matched { .. }));
        // Both high and close: the visitor chooses.
        assert_eq!(
            decide(&[cand("a", 0.59), cand("b", 0.58), cand("c", 0.2)], &cal()),
            Decision::NoMatch { reason: NoMatchReason::LowSimilarity }
        );
        let mut c = cal();
        c.accept_score = 0.95;
        assert_eq!(
            decide(&[cand("a", 0.9), cand("b", 0.89), cand("c", 0.2)], &c),
            Decision::Ambiguous { exhibits: vec![key("a"), key("b")] }
        );
    }

    #[test]
    fn geometric_evidence_outranks_similarity() {
        let mut a = cand("a", 0.3);
        a.inliers = 60;
        let mut b = cand("b", 0.9);
        b.inliers = 10;
        let mut list = vec![b.clone(), a.clone()];
        sort_verified_first(&mut list, &cal());
        assert_eq!(list[0].exhibit, key("a"));
        match decide(&list, &cal()) {
            Decision::Matched { exhibit, confidence } => {
                assert_eq!(exhibit, key("a"));
                assert!((confidence - 0.8).abs() < 1e-6);
            }
            other => panic!("{other:?}"),
        }
        // Two exhibits verified about equally: ambiguous.
        let mut c = cand("c", 0.2);
        c.inliers = 55;
        assert!(matches!(decide(&[a, c, b], &cal()), Decision::Ambiguous { .. }));
    }

    #[test]
    fn an_exhibit_others_verify_against_needs_more_inliers() {
        // "a" shares content with another exhibit: calibration gave it 40.
        let mut c = cal();
        c.exhibit_min_inliers.insert("a".into(), 40);
        assert_eq!((c.min_inliers_for("a"), c.min_inliers_for("b")), (40, 15));
        let mut a = cand("a", 0.3);
        a.inliers = 30;
        let mut b = cand("b", 0.2);
        b.inliers = 40;
        // 30 inliers on "a" are what its sibling's photos reach: not evidence;
        // "b" is verified. Unverified, "a" would come first on similarity.
        let mut list = vec![a.clone(), b.clone()];
        assert_eq!(rank_and_decide(&mut list, &c), Decision::Matched { exhibit: key("b"), confidence: 40.0 / 55.0 });
        assert_eq!(list[0].exhibit, key("b"));
        assert_eq!(rank_and_decide(&mut [a.clone()], &c), Decision::NoMatch { reason: NoMatchReason::LowSimilarity });
        // ...but it rivals a verified exhibit it nearly equals, even below its bar.
        b.inliers = 35;
        assert_eq!(
            rank_and_decide(&mut [a.clone(), b.clone()], &c),
            Decision::Ambiguous { exhibits: vec![key("b"), key("a")] }
        );
        a.inliers = 45;
        b.inliers = 20;
        assert!(matches!(rank_and_decide(&mut [a, b], &c), Decision::Matched { exhibit, .. } if exhibit == key("a")));
        // A bar below the collection's is never used.
        c.exhibit_min_inliers.insert("b".into(), 5);
        assert_eq!(c.min_inliers_for("b"), 15);
    }

    #[test]
    fn an_exhibit_far_ahead_on_inliers_counts_below_its_own_bar() {
        let mut c = cal();
        c.exhibit_min_inliers.insert("a".into(), 60);
        c.exhibit_confusers.insert("a".into(), vec!["b".into()]);
        let with = |e: &str, score: f32, inliers: u32| Candidate { inliers, ..cand(e, score) };
        // 30 inliers on "a", under its bar of 60; its sibling "b" 14.
        let photo = || vec![with("b", 0.45, 14), with("a", 0.4, 30), with("c", 0.2, 3)];
        // Off (bundles from before the rule): nobody reaches their bar and
        // the similarities are too close: no match.
        assert_eq!(rank_and_decide(&mut photo(), &c), Decision::NoMatch { reason: NoMatchReason::LowSimilarity });
        c.inlier_lead = 2.0;
        let mut list = photo();
        assert!(matches!(rank_and_decide(&mut list, &c), Decision::Matched { exhibit, .. } if exhibit == key("a")));
        assert_eq!(list[0].exhibit, key("a"));
        // Not twice the runner-up, or under the floor: not seen.
        let mut close = vec![with("b", 0.5, 16), with("a", 0.3, 30)];
        assert!(!matches!(rank_and_decide(&mut close, &c), Decision::Matched { exhibit, .. } if exhibit == key("a")));
        let mut few = vec![with("a", 0.3, 14), with("b", 0.35, 2)];
        assert_eq!(rank_and_decide(&mut few, &c), Decision::NoMatch { reason: NoMatchReason::LowSimilarity });
        assert_eq!(c.confusers_of("a"), ["b".to_owned()]);
        assert!(c.confusers_of("b").is_empty());
    }

    #[test]
    fn crop_windows_cover_the_photo_as_asked() {
        // Each pixel's value says where it is, so a window's corner pixel tells its origin.
        let image = RgbImage::from_fn(100, 80, |x, y| image::Rgb([x as u8, y as u8, 0]));
        assert!(matches!(Crop::WHOLE.apply(&image), std::borrow::Cow::Borrowed(_)), "the whole frame is not copied");
        let grid = Crop::grid(0.6);
        let windows: Vec<(u32, u32, [u8; 3])> = grid
            .iter()
            .map(|c| {
                let w = c.apply(&image);
                (w.width(), w.height(), w.get_pixel(0, 0).0)
            })
            .collect();
        assert_eq!(
            windows,
            vec![
                (60, 48, [0, 0, 0]),
                (60, 48, [40, 0, 0]),
                (60, 48, [0, 32, 0]),
                (60, 48, [40, 32, 0]),
                (60, 48, [20, 16, 0]),
            ],
            "four corners and the centre, all one size (one batch)"
        );
        // Windows past the edge are clipped to the image, never empty.
        let odd = Crop { left: 0.9, top: 0.9, width: 0.5, height: 0.5 }.apply(&image);
        assert_eq!(odd.dimensions(), (10, 8));
        let tiny = Crop { left: 1.0, top: 1.0, width: 0.0, height: 0.0 }.apply(&image);
        assert_eq!(tiny.dimensions(), (1, 1));
    }

    #[test]
    fn grouping_keeps_the_best_view_per_exhibit() {
        let vectors = vec![
            VectorEntry { exhibit: "a".into(), image: "a1".into() },
            VectorEntry { exhibit: "a".into(), image: "a2".into() },
            VectorEntry { exhibit: "b".into(), image: "b1".into() },
        ];
        // Hits of two crops, each list best first, concatenated.
        let hits = [
            (0, crate::index::Hit { id: 0, score: 0.8 }),
            (0, crate::index::Hit { id: 2, score: 0.7 }),
            (1, crate::index::Hit { id: 1, score: 0.9 }),
            (1, crate::index::Hit { id: 2, score: 0.6 }),
        ];
        let all: Vec<Candidate> = group_by_exhibit(&hits, &vectors, "m").into_iter().map(|(c, _)| c).collect();
        // Each exhibit remembers which crop reached its best score.
        let with_crop = |c: Candidate, crop| Candidate { crop: Some(crop), ..c };
        assert_eq!(
            all,
            vec![with_crop(cand("a", 0.9).with_image("a2"), 1), with_crop(cand("b", 0.7).with_image("b1"), 0)]
        );
    }

    #[test]
    fn merging_museums_keeps_a_single_match_and_flags_two() {
        let matched_in = |e: &str, m: &str| Decision::Matched { exhibit: ExhibitKey::new(m, e), confidence: 0.9 };
        let none = Decision::NoMatch { reason: NoMatchReason::LowSimilarity };
        let empty = Decision::NoMatch { reason: NoMatchReason::EmptyCollection };
        let in_museum = |e: &str, score: f32, m: &str| Candidate { exhibit: ExhibitKey::new(m, e), ..cand(e, score) };
        let answer = |decision: &Decision, candidates: Vec<Candidate>, verified: bool| Answer {
            decision: decision.clone(),
            candidates,
            verified,
        };
        let (d, list) = merge_decisions(vec![
            answer(&none, vec![in_museum("x", 0.7, "m1")], false),
            answer(&matched_in("a", "m2"), vec![in_museum("a", 0.5, "m2"), in_museum("b", 0.4, "m2")], false),
        ]);
        assert_eq!(d, matched_in("a", "m2"));
        assert_eq!(
            list[0].exhibit,
            ExhibitKey::new("m2", "a"),
            "the decided exhibit leads even below another museum's score"
        );
        // Two museums match: the visitor chooses, and each choice names its museum...
        let (d, _) = merge_decisions(vec![
            answer(&matched_in("a", "m1"), vec![in_museum("a", 0.5, "m1")], false),
            answer(&matched_in("z", "m2"), vec![in_museum("z", 0.6, "m2")], false),
        ]);
        assert_eq!(d, Decision::Ambiguous { exhibits: vec![ExhibitKey::new("m1", "a"), ExhibitKey::new("m2", "z")] });
        // ...also when the two museums use the same exhibit id.
        let (d, _) = merge_decisions(vec![
            answer(&matched_in("a", "m1"), vec![in_museum("a", 0.5, "m1")], false),
            answer(&matched_in("a", "m2"), vec![in_museum("a", 0.6, "m2")], false),
        ]);
        assert_eq!(d, Decision::Ambiguous { exhibits: vec![ExhibitKey::new("m1", "a"), ExhibitKey::new("m2", "a")] });
        // An ambiguous answer within one museum keeps that museum's keys.
        let within = Decision::Ambiguous { exhibits: vec![ExhibitKey::new("m2", "p"), ExhibitKey::new("m2", "q")] };
        let (d, _) = merge_decisions(vec![
            answer(&none, vec![in_museum("x", 0.7, "m1")], false),
            answer(&within, vec![in_museum("p", 0.5, "m2"), in_museum("q", 0.5, "m2")], false),
        ]);
        assert_eq!(d, within);
        // ...unless only one of the matches is verified geometrically, or one
        // has far more inliers than the other.
        let (d, list) = merge_decisions(vec![
            answer(&matched_in("a", "m1"), vec![in_museum("a", 0.5, "m1")], false),
            answer(&matched_in("a", "m2"), vec![in_museum("a", 0.2, "m2")], true),
        ]);
        assert_eq!((d, list[0].exhibit.museum.as_str()), (matched_in("a", "m2"), "m2"));
        let verified = |e: &str, m: &str, inliers: u32| Candidate { inliers, ..in_museum(e, 0.3, m) };
        let (d, list) = merge_decisions(vec![
            answer(&matched_in("a", "m1"), vec![verified("a", "m1", 300)], true),
            answer(&matched_in("b", "m2"), vec![verified("b", "m2", 20)], true),
        ]);
        assert_eq!((d, list[0].exhibit.museum.as_str()), (matched_in("a", "m1"), "m1"));
        let (d, _) = merge_decisions(vec![
            answer(&matched_in("a", "m1"), vec![verified("a", "m1", 100)], true),
            answer(&matched_in("b", "m2"), vec![verified("b", "m2", 90)], true),
        ]);
        assert!(matches!(d, Decision::Ambiguous { .. }), "{d:?}");
        assert_eq!(merge_decisions(vec![answer(&empty, vec![], false), answer(&none, vec![], false)]).0, none);
        assert_eq!(merge_decisions(vec![answer(&empty, vec![], false), answer(&empty, vec![], false)]).0, empty);
        assert_eq!(merge_decisions(vec![]).0, empty);
    }

    impl Candidate {
        fn with_image(mut self, image: &str) -> Self {
            self.image = image.into();
            self
        }
    }
}
