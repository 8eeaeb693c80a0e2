//! Every `unsafe` operation of this crate, each behind a safe function that
//! checks what the operation needs, so no safe caller can break it.
//!
//! The `faiss` crate wraps FAISS safely where it can; what is left here:
//! - searching an index through `&self`. The crate's generic `IndexImpl` and
//!   `BinaryIndexImpl` only search through `&mut self`, which would serialise
//!   every request behind a lock. FAISS CPU indexes may be searched from many
//!   threads at once (search is a `const` method in C++; only training, adds,
//!   removes and parameter changes mutate, and those take `&mut` here);
//! - OpenMP's per-thread thread count, and FAISS's last error message.

use std::ffi::{CStr, c_int};

use faiss::Index;
use faiss::index::{BinaryIndexImpl, IndexImpl};
use faiss_sys::idx_t;

use crate::{Error, Result};

/// Distances and labels of a k-NN search: `k` slots per query, in query
/// order, best first; label -1 where the index had fewer than `k` vectors.
pub(crate) type Neighbours<D> = (Vec<D>, Vec<idx_t>);

/// Query count and result slots (`nq * k`) of a search of `len` elements in
/// rows of `width`, or an error if they are not whole rows.
fn search_shape(len: usize, width: usize, k: usize) -> Result<(idx_t, idx_t, usize)> {
    if width == 0 || !len.is_multiple_of(width) {
        return Err(Error::Faiss(format!("query of {len} elements is not rows of {width}")));
    }
    let nq = len / width;
    let slots = nq.checked_mul(k).ok_or_else(|| Error::Faiss(format!("{nq} queries x k = {k} overflow")))?;
    let as_idx = |v: usize| idx_t::try_from(v).map_err(|_| Error::Faiss(format!("{v} does not fit FAISS's idx_t")));
    Ok((as_idx(nq)?, as_idx(k)?, slots))
}

/// Runs a k-NN `search` of `len` query elements in rows of `width` with
/// result buffers sized here (`nq * k` slots each, `empty` and label -1
/// where the index has fewer than `k`); `search` gets (nq, k, distances,
/// labels) and returns FAISS's status code.
fn knn<D: Copy>(
    len: usize,
    width: usize,
    k: usize,
    empty: D,
    search: impl FnOnce(idx_t, idx_t, &mut [D], &mut [idx_t]) -> c_int,
) -> Result<Neighbours<D>> {
    let (nq, k_idx, slots) = search_shape(len, width, k)?;
    if slots == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut distances = vec![empty; slots];
    let mut labels = vec![-1 as idx_t; slots];
    if search(nq, k_idx, &mut distances, &mut labels) != 0 {
        return Err(last_error());
    }
    Ok((distances, labels))
}

/// The `k` nearest vectors of each row of `queries` (rows as wide as the
/// index's dimension, else an error), through `&self`.
pub(crate) fn search(index: &IndexImpl, queries: &[f32], k: usize) -> Result<Neighbours<f32>> {
    knn(queries.len(), index.d() as usize, k, f32::NEG_INFINITY, |nq, k, distances, labels| {
        // SAFETY: `index` owns a live CPU index for the borrow's length.
        // `queries` holds exactly nq rows of d floats (`knn` checked them
        // against the index's own d); `distances` and `labels` hold exactly
        // nq * k slots, as FAISS writes. Search is const in FAISS and safe to
        // run from several threads; every mutation of the index goes through
        // `&mut`, so none runs meanwhile.
        unsafe {
            faiss_sys::faiss_Index_search(
                index.inner_ptr(),
                nq,
                queries.as_ptr(),
                k,
                distances.as_mut_ptr(),
                labels.as_mut_ptr(),
            )
        }
    })
}

/// The `k` nearest codes (Hamming distance) of each code of `queries` (codes
/// of the index's `d / 8` bytes, else an error), through `&self`.
pub(crate) fn binary_search(index: &BinaryIndexImpl, queries: &[u8], k: usize) -> Result<Neighbours<i32>> {
    let d = index.d() as usize;
    if !d.is_multiple_of(8) {
        return Err(Error::Faiss(format!("binary index of {d} bits is not whole bytes")));
    }
    knn(queries.len(), d / 8, k, i32::MAX, |nq, k, distances, labels| {
        // SAFETY: `index` owns a live CPU binary index for the borrow's
        // length. `queries` holds exactly nq codes of d / 8 bytes (`knn`
        // checked them against the index's own d); `distances` and `labels`
        // hold exactly nq * k slots. Search is const in FAISS and safe to run
        // from several threads; every mutation of the index goes through
        // `&mut`, so none runs meanwhile.
        unsafe {
            faiss_sys::faiss_IndexBinary_search(
                index.inner_ptr(),
                nq,
                queries.as_ptr(),
                k,
                distances.as_mut_ptr(),
                labels.as_mut_ptr(),
            )
        }
    })
}

// SAFETY: the signature is libgomp's (`void omp_set_num_threads(int)`), the
// OpenMP runtime FAISS is built against. It takes an integer, touches only
// the calling thread's OpenMP state and may be called at any time from any
// thread with any value, so it is declared safe to call.
#[link(name = "gomp")]
unsafe extern "C" {
    /// OpenMP's setting for the calling thread's next parallel regions.
    safe fn omp_set_num_threads(n: c_int);
}

/// Sets how many OpenMP threads the calling thread's next FAISS calls may use.
pub(crate) fn set_omp_threads(n: c_int) {
    omp_set_num_threads(n);
}

/// The error FAISS's C API recorded for this thread's last failed call.
pub(crate) fn last_error() -> Error {
    // SAFETY: takes nothing; returns this thread's last error message or null.
    let p = unsafe { faiss_sys::faiss_get_last_error() };
    if p.is_null() {
        return Error::Faiss("unknown error".into());
    }
    // SAFETY: `p` is non-null and points to FAISS's NUL-terminated,
    // thread-local message, valid until this thread's next FAISS call; it is
    // copied out before any.
    let message = unsafe { CStr::from_ptr(p) };
    Error::Faiss(message.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_check_the_query_width_and_answer_empty_queries() {
        let mut index = faiss::index_factory(2, "Flat", faiss::MetricType::InnerProduct).unwrap();
        index.add(&[1.0, 0.0, 0.0, 1.0]).unwrap();
        assert!(search(&index, &[1.0, 0.0, 0.0], 1).is_err());
        assert_eq!(search(&index, &[], 1).unwrap(), (vec![], vec![]));
        assert_eq!(search(&index, &[1.0, 0.0], 0).unwrap(), (vec![], vec![]));
        let (d, l) = search(&index, &[0.0, 1.0], 3).unwrap();
        assert_eq!((l, d.len()), (vec![1, 0, -1], 3));

        let mut binary = faiss::index_binary_factory(16, "BFlat").unwrap();
        binary.add(&[0, 0, 255, 255]).unwrap();
        assert!(binary_search(&binary, &[0, 0, 0], 1).is_err());
        assert_eq!(binary_search(&binary, &[], 2).unwrap(), (vec![], vec![]));
        let (d, l) = binary_search(&binary, &[255, 254], 2).unwrap();
        assert_eq!((d, l), (vec![1, 15], vec![1, 0]));
    }

    #[test]
    fn concurrent_binary_searches_agree() {
        let codes: Vec<u8> = (0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let mut binary = faiss::index_binary_factory(256, "BFlat").unwrap();
        binary.add(&codes).unwrap();
        let expected = binary_search(&binary, &codes[..320], 2).unwrap();
        assert_eq!(&expected.1[..2], &[0, expected.1[1]]);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        assert_eq!(binary_search(&binary, &codes[..320], 2).unwrap(), expected);
                    }
                });
            }
        });
    }

    #[test]
    fn a_failed_call_reports_faiss_s_message() {
        assert!(faiss::index_binary_factory(16, "no such index").is_err());
        assert!(matches!(last_error(), Error::Faiss(m) if m != "unknown error"), "{:?}", last_error());
    }
}
