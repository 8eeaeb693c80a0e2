//! Vector index choice (BENCHMARKS.md): build time, memory, p50 latency of a
//! single query and recall@10 against exact search, for exact (Flat), HNSW
//! and IVF, on N synthetic vectors of the model's dimension.
//!
//! `cargo run --release --example index_bench -p recognizer -- 1000000 [EFSEARCH,...] [NPROBE,...]`
//!
//! The vectors are shaped like real embeddings: they lie near a subspace of
//! low intrinsic dimension (64, through a fixed random 384x64 map, plus a
//! little full-dimensional noise), clustered by "exhibit" (a random centre,
//! about four views around it), unit length. Uniform random 384-d vectors
//! would make every neighbour almost equally far (no index, nor a visitor,
//! sees such data). Queries are fresh views of random exhibits.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_distr_free::gaussian;
use recognizer::{IndexChoice, VectorIndex};

/// Box-Muller, so the example needs no extra crate.
mod rand_distr_free {
    use rand::Rng;
    pub fn gaussian(rng: &mut impl Rng) -> f32 {
        let (u1, u2): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

const DIM: usize = 384;
const QUERIES: usize = 200;

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

const LATENT: usize = 64;

/// `count` views: a random exhibit's latent centre plus view noise, mapped to
/// 384 dimensions, plus a little noise there, normalised.
fn sample(rng: &mut impl Rng, centres: &[f32], map: &[f32], count: usize) -> Vec<f32> {
    let clusters = centres.len() / LATENT;
    let mut out = Vec::with_capacity(count * DIM);
    for _ in 0..count {
        let c = rng.random_range(0..clusters);
        let z: Vec<f32> = centres[c * LATENT..(c + 1) * LATENT].iter().map(|x| x + 0.35 * gaussian(rng)).collect();
        let mut v: Vec<f32> = (0..DIM)
            .map(|d| {
                map[d * LATENT..(d + 1) * LATENT].iter().zip(&z).map(|(a, b)| a * b).sum::<f32>() + 0.02 * gaussian(rng)
            })
            .collect();
        normalise(&mut v);
        out.extend(v);
    }
    out
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn p50_ms(index: &VectorIndex, queries: &[f32]) -> f64 {
    let mut times: Vec<f64> = queries
        .chunks(DIM)
        .map(|q| {
            let t = Instant::now();
            index.search(q, 10).expect("search");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    // Optional: HNSW efSearch values, then IVF nprobe values (comma lists).
    let list = |i: usize, default: &[u32]| -> Vec<u32> {
        std::env::args()
            .nth(i)
            .map(|a| a.split(',').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or(default.to_vec())
    };
    let (efs, nprobes) = (list(2, &[128, 256, 512, 1024, 2048]), list(3, &[64, 128, 256, 512, 1024]));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    // About four views per exhibit.
    let clusters = (n / 4).max(1);
    let mut centres: Vec<f32> = (0..clusters * LATENT).map(|_| gaussian(&mut rng)).collect();
    centres.chunks_mut(LATENT).for_each(normalise);
    let map: Vec<f32> = (0..DIM * LATENT).map(|_| gaussian(&mut rng) / (LATENT as f32).sqrt()).collect();
    let vectors = sample(&mut rng, &centres, &map, n);
    let queries = sample(&mut rng, &centres, &map, QUERIES);
    drop(centres);
    println!("{n} vectors x {DIM} dims ({:.0} MB of floats), {QUERIES} queries, k = 10", (n * DIM * 4) as f64 / 1e6);
    println!("| index | build s | memory MB (file) | RSS growth MB | p50 ms/query | recall@10 |");
    println!("|---|---|---|---|---|---|");
    let nlist = ((n as f64).sqrt() * 4.0) as u32;
    let choices: Vec<(IndexChoice, Vec<IndexChoice>)> = vec![
        (IndexChoice::Flat, vec![IndexChoice::Flat]),
        (
            IndexChoice::Hnsw { m: 32, ef_search: 64 },
            efs.iter().map(|&ef_search| IndexChoice::Hnsw { m: 32, ef_search }).collect(),
        ),
        (
            IndexChoice::Ivf { nlist, nprobe: 16 },
            nprobes.iter().map(|&nprobe| IndexChoice::Ivf { nlist, nprobe }).collect(),
        ),
    ];
    let exact = VectorIndex::build_flat(DIM, &vectors).expect("flat");
    let truth = exact.search(&queries, 10).expect("truth");
    drop(exact);
    let dir = tempfile::tempdir().expect("temp dir");
    for (build_as, variants) in choices {
        let before = rss_bytes();
        let t = Instant::now();
        let mut index = VectorIndex::build(DIM, &vectors, build_as).expect("builds");
        let build_s = t.elapsed().as_secs_f64();
        let grown = rss_bytes().saturating_sub(before) as f64 / 1e6;
        let file = dir.path().join("i.faiss");
        index.write(&file).expect("write");
        let file_mb = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        for choice in variants {
            index.set_search_parameters(choice).expect("params");
            let got = index.search(&queries, 10).expect("search");
            let hit: usize =
                truth.iter().zip(&got).map(|(t, g)| t.iter().filter(|h| g.iter().any(|x| x.id == h.id)).count()).sum();
            let recall = hit as f64 / (QUERIES * 10) as f64;
            println!(
                "| {} {} | {build_s:.1} | {file_mb:.0} | {grown:.0} | {:.3} | {recall:.3} |",
                choice.factory(),
                match choice {
                    IndexChoice::Flat => String::new(),
                    IndexChoice::Hnsw { ef_search, .. } => format!("efSearch {ef_search}"),
                    IndexChoice::Ivf { nprobe, .. } => format!("nprobe {nprobe}"),
                },
                p50_ms(&index, &queries)
            );
        }
    }
}
