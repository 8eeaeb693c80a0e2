//! Build, load and k-NN time of the local-feature index at catalog sizes
//! past brute force (BENCHMARKS.md). Random descriptors: timing only, not recall.
//! `cargo run --release --example local_index_bench -p recognizer -- 1000 10000`

use std::time::Instant;

use rand::{Rng, SeedableRng};
use recognizer::local::{ImageFeatures, LocalIndex, LocalSettings};

fn random_image(rng: &mut impl Rng, n: usize) -> ImageFeatures {
    ImageFeatures::new(
        (0..n).map(|_| [rng.random_range(0.0..640.0), rng.random_range(0.0..480.0)]).collect(),
        (0..n).map(|_| rng.random()).collect(),
    )
    .expect("one descriptor per keypoint")
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for images in if sizes.is_empty() { vec![1000, 10000] } else { sizes } {
        let catalog: Vec<ImageFeatures> = (0..images).map(|_| random_image(&mut rng, 500)).collect();
        let t = Instant::now();
        let index = LocalIndex::from_images(&catalog).expect("builds");
        let build = t.elapsed().as_secs_f64();
        // What a server does with a bundle that stores the trained index.
        let dir = tempfile::tempdir().expect("temp dir");
        let (bin, ivf) = (dir.path().join("local.bin"), dir.path().join("local.ivf"));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&bin).expect("create"));
        index.write_to(&mut w).expect("write");
        drop(w);
        let stored = index.write_ivf(&ivf).expect("write ivf");
        let t = Instant::now();
        LocalIndex::read(&bin, stored.then_some(ivf.as_path())).expect("reads");
        let load = t.elapsed().as_secs_f64();
        let query = random_image(&mut rng, 1000);
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            index.verify(&query, |_, _| false, &[], &LocalSettings::default()).expect("verifies");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{images} images ({} descriptors): build (train + add) {build:.1} s, load stored {load:.1} s, verify p50 {:.0} ms",
            images * 500,
            times[2]
        );
    }
}
