//! From raw model features to the unit vectors an index holds.
//!
//! The default model's features share a large common component (DINOv2's
//! residual stream has a few dimensions with huge, nearly constant values), so
//! raw cosine similarities crowd near 1 and thresholds become fragile.
//! Subtracting the collection's mean feature before normalising spreads them:
//! on ukbench the median cosine of a wrong exhibit fell from 0.993 to 0.55
//! while the right one stayed at 0.86, with the same top-1 (EVALUATION.md).

use serde::{Deserialize, Serialize};

use crate::embedder::l2_normalize;

/// Centring vector learned from a collection, stored in its bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Projection {
    /// Mean raw feature of the collection's catalog images (zeros: no centring).
    pub center: Vec<f32>,
}

impl Projection {
    /// Learns the mean of `raw` (rows of `dim`). With fewer than two rows there is
    /// no meaningful mean, so it does not centre.
    pub fn fit(raw: &[f32], dim: usize) -> Self {
        let rows = raw.len() / dim.max(1);
        let mut center = vec![0.0f32; dim];
        if rows >= 2 {
            for row in raw.chunks_exact(dim) {
                center.iter_mut().zip(row).for_each(|(c, v)| *c += v);
            }
            center.iter_mut().for_each(|c| *c /= rows as f32);
        }
        Self { center }
    }

    /// Centres and normalises one raw vector.
    pub fn apply(&self, raw: &[f32]) -> Vec<f32> {
        let mut v: Vec<f32> = raw.iter().zip(&self.center).map(|(x, c)| x - c).collect();
        l2_normalize(&mut v);
        v
    }

    /// Applies [`Projection::apply`] to every row of `raw`.
    pub fn apply_all(&self, raw: &[f32]) -> Vec<f32> {
        raw.chunks_exact(self.center.len()).flat_map(|row| self.apply(row)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centring_removes_the_shared_component() {
        // Two vectors dominated by a shared offset in dim 0.
        let raw = [100.0, 1.0, 0.0, 100.0, 0.0, 1.0];
        let raw_cos = {
            let (mut a, mut b) = (raw[..3].to_vec(), raw[3..].to_vec());
            l2_normalize(&mut a);
            l2_normalize(&mut b);
            a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>()
        };
        assert!(raw_cos > 0.99);
        let p = Projection::fit(&raw, 3);
        let v = p.apply_all(&raw);
        let cos: f32 = v[..3].iter().zip(&v[3..]).map(|(x, y)| x * y).sum();
        assert!(cos < -0.99, "{cos}");
        // One row: nothing to learn, vectors only normalised.
        assert_eq!(Projection::fit(&raw[..3], 3).center, vec![0.0; 3]);
    }
}
