//! A FAISS index searched through `&self`.
//!
//! The `faiss` crate's generic `IndexImpl` only offers `search(&mut self)`,
//! which would serialise every request behind a lock. FAISS CPU indexes are
//! safe to search from many threads at once (search is a `const` method in
//! C++; only adds and removes mutate), so searches call the C API's search
//! directly ([`crate::ffi::search`]); everything else is the crate's safe API.
//! Mutation goes through `&mut self` and so cannot race a search.

use std::path::Path;

use faiss::index::IndexImpl;
use faiss::index::autotune::ParameterSpace;
use faiss::{Idx, Index, MetricType};

use crate::{Error, Result};

/// How an index searches: exactly, or approximately past a size where exact
/// search gets slow (the choice and its thresholds are measured in
/// BENCHMARKS.md, "Vector index choice").
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IndexChoice {
    /// Exact inner product (brute force).
    Flat,
    /// HNSW graph over full vectors; `ef_search` candidates per query.
    Hnsw { m: u32, ef_search: u32 },
    /// Inverted file over full vectors; `nprobe` of `nlist` lists scanned.
    Ivf { nlist: u32, nprobe: u32 },
}

/// Largest collection searched exactly: 100,000 vectors of 384 floats are
/// 154 MB scanned in ~6 ms per query on one core here (next to ~150 ms of
/// embedding). At 1,000,000 exact search takes 57 ms; an inverted file tuned
/// to recall@10 0.98 takes 18 ms, builds in a minute and needs no more memory
/// than the vectors, where HNSW took 13 ms but 10 minutes to build and 18%
/// more memory (BENCHMARKS.md, "Vector index choice").
pub const EXACT_MAX: usize = 100_000;

/// Recall@10 against exact search an approximate index is tuned to reach.
pub const MIN_RECALL: f32 = 0.98;

/// `count` query vectors, each one of `vectors` (evenly spread) moved off by
/// a random direction of 30% of its length, renormalised. Deterministic.
fn nearby_queries(dim: usize, vectors: &[f32], count: usize) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let n = vectors.len() / dim.max(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let step = (n / count.max(1)).max(1);
    let mut out = Vec::with_capacity(count.min(n) * dim);
    for i in (0..n).step_by(step).take(count) {
        let v = &vectors[i * dim..(i + 1) * dim];
        let g: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let (vn, gn) = (norm(v), norm(&g).max(1e-12));
        let mut q: Vec<f32> = v.iter().zip(&g).map(|(a, b)| a + 0.3 * vn * b / gn).collect();
        let qn = norm(&q).max(1e-12);
        q.iter_mut().for_each(|x| *x /= qn);
        out.extend(q);
    }
    out
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

impl IndexChoice {
    /// The policy: exact up to [`EXACT_MAX`] vectors, an inverted file with
    /// 4·sqrt(n) lists beyond (`nprobe` is then tuned at build time).
    pub fn for_size(n: usize) -> Self {
        if n <= EXACT_MAX { Self::Flat } else { Self::Ivf { nlist: (4.0 * (n as f64).sqrt()) as u32, nprobe: 32 } }
    }

    /// The FAISS factory string.
    pub fn factory(&self) -> String {
        match self {
            Self::Flat => "Flat".into(),
            Self::Hnsw { m, .. } => format!("HNSW{m},Flat"),
            Self::Ivf { nlist, .. } => format!("IVF{nlist},Flat"),
        }
    }
}

/// Inner-product index over unit vectors (so scores are cosine similarities).
pub struct VectorIndex {
    inner: IndexImpl,
    dim: usize,
    kind: String,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex").field("dim", &self.dim).field("len", &self.len()).finish()
    }
}

/// One search hit: the vector's id and its inner product with the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
}

impl VectorIndex {
    /// Builds an exact inner-product index over `vectors` (row-major, `dim` wide);
    /// vector ids are row numbers.
    pub fn build_flat(dim: usize, vectors: &[f32]) -> Result<Self> {
        if dim == 0 || !vectors.len().is_multiple_of(dim) {
            return Err(Error::Faiss(format!("{} floats do not make rows of {dim}", vectors.len())));
        }
        let mut inner = faiss::index_factory(dim as u32, "Flat", MetricType::InnerProduct)?;
        inner.add(vectors)?;
        Ok(Self { inner, dim, kind: "Flat".into() })
    }

    /// Builds the index `choice` names over `vectors` (trained on them where
    /// the kind needs training); vector ids are row numbers.
    pub fn build(dim: usize, vectors: &[f32], choice: IndexChoice) -> Result<Self> {
        if choice == IndexChoice::Flat {
            return Self::build_flat(dim, vectors);
        }
        if dim == 0 || !vectors.len().is_multiple_of(dim) {
            return Err(Error::Faiss(format!("{} floats do not make rows of {dim}", vectors.len())));
        }
        let mut inner = faiss::index_factory(dim as u32, choice.factory(), MetricType::InnerProduct)?;
        if let IndexChoice::Ivf { nlist, .. } = choice {
            // 40 training vectors per list (FAISS warns below 39), evenly spread.
            let n = vectors.len() / dim;
            let sample_n = (nlist as usize * 40).min(n);
            let step = (n / sample_n.max(1)).max(1);
            let sample: Vec<f32> =
                (0..sample_n).flat_map(|i| &vectors[i * step * dim..(i * step + 1) * dim]).copied().collect();
            inner.train(&sample)?;
        }
        inner.add(vectors)?;
        let mut index = Self { inner, dim, kind: choice.factory() };
        index.set_search_parameters(choice)?;
        Ok(index)
    }

    /// Sets `efSearch` / `nprobe` (stored in the index file with it).
    pub fn set_search_parameters(&mut self, choice: IndexChoice) -> Result<()> {
        let (name, value) = match choice {
            IndexChoice::Flat => return Ok(()),
            IndexChoice::Hnsw { ef_search, .. } => ("efSearch", ef_search),
            IndexChoice::Ivf { nprobe, .. } => ("nprobe", nprobe),
        };
        // `set_index_parameter` takes the index by `&`; the `&mut self` here
        // keeps searches from running meanwhile.
        ParameterSpace::new()?.set_index_parameter(&self.inner, name, value)?;
        Ok(())
    }

    /// Share of the exact `k` nearest neighbours of each query this index
    /// also returns in its first `k` (recall@k against brute force).
    pub fn recall_against_exact(&self, vectors: &[f32], queries: &[f32], k: usize) -> Result<f32> {
        let exact = Self::build_flat(self.dim, vectors)?;
        let truth = exact.search(queries, k)?;
        let got = self.search(queries, k)?;
        let (mut hit, mut total) = (0usize, 0usize);
        for (t, g) in truth.iter().zip(&got) {
            let found: std::collections::HashSet<u64> = g.iter().map(|h| h.id).collect();
            hit += t.iter().filter(|h| found.contains(&h.id)).count();
            total += t.len();
        }
        Ok(if total == 0 { 1.0 } else { hit as f32 / total as f32 })
    }

    pub fn read(path: &Path) -> Result<Self> {
        let utf8 = path.to_str().ok_or_else(|| Error::bundle(path, "path is not UTF-8"))?;
        let inner = faiss::read_index(utf8)?;
        let dim = inner.d() as usize;
        Ok(Self { inner, dim, kind: String::new() })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let utf8 = path.to_str().ok_or_else(|| Error::bundle(path, "path is not UTF-8"))?;
        faiss::write_index(&self.inner, utf8)?;
        Ok(())
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The FAISS factory string it was built with ("" for an index read from a file).
    pub fn kind(&self) -> String {
        self.kind.clone()
    }

    /// Builds the index the size policy picks ([`IndexChoice::for_size`]).
    /// An approximate index is then tuned on the collection itself: queries
    /// near 200 of its own vectors (each moved a random 30% of its length
    /// off, as a photo is off its catalog image); the lists probed double
    /// from 32 until recall@10 against exact search reaches [`MIN_RECALL`].
    /// Returns the index and the recall it reached.
    pub fn build_for_size(dim: usize, vectors: &[f32]) -> Result<(Self, Option<f32>)> {
        let n = vectors.len() / dim.max(1);
        let choice = IndexChoice::for_size(n);
        let mut index = Self::build(dim, vectors, choice)?;
        let IndexChoice::Ivf { nlist, mut nprobe } = choice else { return Ok((index, None)) };
        let queries = nearby_queries(dim, vectors, 200);
        loop {
            index.set_search_parameters(IndexChoice::Ivf { nlist, nprobe })?;
            let recall = index.recall_against_exact(vectors, &queries, 10)?;
            if recall >= MIN_RECALL || nprobe >= nlist {
                index.kind = format!("{} nprobe {nprobe}", choice.factory());
                tracing::info!(vectors = n, kind = %index.kind, recall, "approximate index tuned");
                return Ok((index, Some(recall)));
            }
            nprobe = (nprobe * 2).min(nlist);
        }
    }

    pub fn len(&self) -> usize {
        self.inner.ntotal() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every stored vector, row-major in id order (to derive a new index
    /// from this one without embedding the collection again).
    pub fn reconstruct_all(&self) -> Result<Vec<f32>> {
        let n = self.len();
        let mut out = vec![0f32; n * self.dim];
        if n == 0 {
            return Ok(out);
        }
        self.inner.reconstruct_n(Idx::new(0), n, &mut out)?;
        Ok(out)
    }

    /// The `k` nearest vectors to each query (rows of `queries`), best first.
    pub fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(Error::Faiss(format!("query of {} floats is not rows of {}", queries.len(), self.dim)));
        }
        let k = k.min(self.len()).max(1);
        limit_search_threads();
        let (distances, labels) = crate::ffi::search(&self.inner, queries, k)?;
        Ok(labels
            .chunks(k)
            .zip(distances.chunks(k))
            .map(|(ls, ds)| {
                ls.iter().zip(ds).filter(|(l, _)| **l >= 0).map(|(&l, &d)| Hit { id: l as u64, score: d }).collect()
            })
            .collect())
    }
}

/// Threads a FAISS search may use (0: OpenMP's default, all cores).
static SEARCH_THREADS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Sets how many threads each FAISS search may use (0: OpenMP's default).
///
/// A server already runs one recognition per core; FAISS parallelising each
/// search over the queries of one photo on top of that put up to
/// (requests x cores) OpenMP threads on the cores, spinning at their
/// barriers (BENCHMARKS.md, "Thread pools"), so it sets 1. Builds keep the
/// default: training an inverted file uses every core.
pub fn set_search_threads(n: usize) {
    SEARCH_THREADS.store(i32::try_from(n).unwrap_or(i32::MAX), std::sync::atomic::Ordering::Relaxed);
}

/// Applies [`set_search_threads`] to the calling thread (OpenMP's setting is
/// per thread) before a search.
pub(crate) fn limit_search_threads() {
    let n = SEARCH_THREADS.load(std::sync::atomic::Ordering::Relaxed);
    if n > 0 {
        crate::ffi::set_omp_threads(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nearest_and_round_trips_through_a_file() {
        let vectors = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
        let index = VectorIndex::build_flat(2, &vectors).unwrap();
        let hits = index.search(&[0.0, 1.0], 2).unwrap();
        assert_eq!(hits[0][0].id, 1);
        assert_eq!(hits[0][1].id, 2);
        assert!((hits[0][1].score - 0.8).abs() < 1e-6);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.faiss");
        index.write(&path).unwrap();
        let back = VectorIndex::read(&path).unwrap();
        assert_eq!((back.dim(), back.len()), (2, 3));
        assert_eq!(back.search(&[1.0, 0.0], 1).unwrap()[0][0].id, 0);
        assert!(back.search(&[1.0, 0.0, 0.0], 1).is_err());
        assert_eq!(back.reconstruct_all().unwrap(), vectors);
    }

    #[test]
    fn approximate_indexes_find_what_exact_search_finds() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (n, dim) = (4000, 16);
        let mut vectors: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        for row in vectors.chunks_mut(dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        let queries = &vectors[..50 * dim];
        for choice in [IndexChoice::Hnsw { m: 16, ef_search: 128 }, IndexChoice::Ivf { nlist: 32, nprobe: 16 }] {
            let index = VectorIndex::build(dim, &vectors, choice).unwrap();
            assert_eq!(index.len(), n);
            let recall = index.recall_against_exact(&vectors, queries, 10).unwrap();
            assert!(recall > 0.9, "{choice:?}: {recall}");
            // The stored vectors survive (incremental changes rebuild from them).
            if let IndexChoice::Hnsw { .. } = choice {
                assert_eq!(index.reconstruct_all().unwrap(), vectors);
            }
            // Search parameters are saved with the index.
            let dir = tempfile::tempdir().unwrap();
            index.write(&dir.path().join("i.faiss")).unwrap();
            let back = VectorIndex::read(&dir.path().join("i.faiss")).unwrap();
            assert_eq!(back.search(queries, 10).unwrap(), index.search(queries, 10).unwrap());
        }
        // Tuned at build time on the collection itself (policy sizes are too
        // large for a unit test; the tuning loop is the same for any size).
        let queries = nearby_queries(dim, &vectors, 50);
        assert_eq!(queries.len(), 50 * dim);
        assert!(queries.chunks(dim).all(|q| (norm(q) - 1.0).abs() < 1e-4));
        assert_eq!(IndexChoice::for_size(10), IndexChoice::Flat);
    }

    #[test]
    fn large_collections_get_a_tuned_approximate_index() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let dim = 8;
        let n = EXACT_MAX + 1000;
        let mut vectors: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        vectors.chunks_mut(dim).for_each(|row| {
            let l = norm(row);
            row.iter_mut().for_each(|x| *x /= l);
        });
        let (index, recall) = VectorIndex::build_for_size(dim, &vectors).unwrap();
        assert!(index.kind().starts_with("IVF1271,Flat nprobe "), "{}", index.kind());
        assert!(recall.unwrap() >= MIN_RECALL, "{recall:?}");
        let (small, recall) = VectorIndex::build_for_size(dim, &vectors[..1000 * dim]).unwrap();
        assert_eq!((small.kind().as_str(), recall), ("Flat", None));
        assert_eq!(IndexChoice::for_size(1_000_000).factory(), "IVF4000,Flat");
    }

    #[test]
    fn concurrent_searches_agree() {
        let vectors: Vec<f32> = (0..400).map(|i| ((i * 7919) % 101) as f32).collect();
        let index = VectorIndex::build_flat(4, &vectors).unwrap();
        let expected = index.search(&vectors[..4], 3).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        assert_eq!(index.search(&vectors[..4], 3).unwrap(), expected);
                    }
                });
            }
        });
    }
}
