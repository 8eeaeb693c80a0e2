//! A FAISS index searched through `&self`.
//!
//! The `faiss` crate's generic `IndexImpl` only offers `search(&mut self)`,
//! which would serialise every request behind a lock. FAISS CPU indexes are
//! safe to search from many threads at once (search is a `const` method in
//! C++; only adds and removes mutate), so we call the C API's search directly.
//! Mutation goes through `&mut self` and so cannot race a search.

use std::path::Path;

use faiss::index::IndexImpl;
use faiss::{Index, MetricType};

use crate::{Error, Result};

/// Inner-product index over unit vectors (so scores are cosine similarities).
pub struct VectorIndex {
    inner: IndexImpl,
    dim: usize,
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
        Ok(Self { inner, dim })
    }

    pub fn read(path: &Path) -> Result<Self> {
        let utf8 = path.to_str().ok_or_else(|| Error::bundle(path, "path is not UTF-8"))?;
        let inner = faiss::read_index(utf8)?;
        let dim = inner.d() as usize;
        Ok(Self { inner, dim })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let utf8 = path.to_str().ok_or_else(|| Error::bundle(path, "path is not UTF-8"))?;
        faiss::write_index(&self.inner, utf8)?;
        Ok(())
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.inner.ntotal() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` nearest vectors to each query (rows of `queries`), best first.
    pub fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(Error::Faiss(format!("query of {} floats is not rows of {}", queries.len(), self.dim)));
        }
        let nq = queries.len() / self.dim;
        let k = k.min(self.len()).max(1);
        let mut distances = vec![f32::NEG_INFINITY; nq * k];
        let mut labels = vec![-1 as faiss_sys::idx_t; nq * k];
        // SAFETY: the index pointer is valid for `self`'s lifetime; buffers have
        // exactly nq * k slots as FAISS requires; search does not mutate the index,
        // and no `&mut self` method can run concurrently with this `&self` one.
        let code = unsafe {
            faiss_sys::faiss_Index_search(
                self.inner.inner_ptr(),
                nq as faiss_sys::idx_t,
                queries.as_ptr(),
                k as faiss_sys::idx_t,
                distances.as_mut_ptr(),
                labels.as_mut_ptr(),
            )
        };
        if code != 0 {
            return Err(last_error());
        }
        Ok(labels
            .chunks(k)
            .zip(distances.chunks(k))
            .map(|(ls, ds)| {
                ls.iter().zip(ds).filter(|(l, _)| **l >= 0).map(|(&l, &d)| Hit { id: l as u64, score: d }).collect()
            })
            .collect())
    }
}

/// The error FAISS's C API recorded for this thread's last failed call.
pub(crate) fn last_error() -> Error {
    // SAFETY: FAISS returns a NUL-terminated thread-local message (or null).
    let msg = unsafe {
        let p = faiss_sys::faiss_get_last_error();
        if p.is_null() { "unknown error".into() } else { std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned() }
    };
    Error::Faiss(msg)
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
