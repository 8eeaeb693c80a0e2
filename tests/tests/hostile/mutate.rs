//! Mutations of real inputs, and the time-budgeted runner every target uses.

use std::cell::Cell;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// One edit of a byte string (positions wrap around its length).
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    /// Copies `len` bytes from one place to another (a duplicated chunk).
    Copy {
        from: usize,
        to: usize,
        len: usize,
    },
    Truncate(usize),
    /// A byte fuzzers favour: 0, 0xff, 0x7f, 0x80, a quote, a newline, a NUL-adjacent boundary.
    Interesting(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![0u8, 0xff, 0x7f, 0x80, b'"', b'\n', b',', b'{', b'}', b'[', 0x01]);
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::SetByte(at, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), any::<usize>(), 1usize..256).prop_map(|(from, to, len)| Mutation::Copy { from, to, len }),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), interesting).prop_map(|(at, b)| Mutation::Interesting(at, b)),
    ]
}

/// `seed` with `mutations` applied in order.
pub fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for m in mutations {
        let len = out.len();
        let at = |p: usize| if len == 0 { 0 } else { p % len };
        match m {
            Mutation::FlipBit(p, bit) if len > 0 => out[at(*p)] ^= 1 << bit,
            Mutation::SetByte(p, b) | Mutation::Interesting(p, b) if len > 0 => out[at(*p)] = *b,
            Mutation::Insert(p, bytes) => {
                let p = if len == 0 { 0 } else { p % (len + 1) };
                out.splice(p..p, bytes.iter().copied());
            }
            Mutation::Delete(p, n) if len > 0 => {
                let p = at(*p);
                out.drain(p..(p + n).min(len));
            }
            Mutation::Copy { from, to, len: n } if len > 0 => {
                let from = at(*from);
                let chunk: Vec<u8> = out[from..(from + n).min(len)].to_vec();
                let to = to % (len + 1);
                out.splice(to..to, chunk);
            }
            Mutation::Truncate(p) => out.truncate(if len == 0 { 0 } else { p % (len + 1) }),
            _ => {}
        }
    }
    out
}

/// One of `seeds`, unchanged or with up to 8 mutations (a fuzzer's corpus
/// and its havoc stage).
pub fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty());
    (0..seeds.len(), prop::collection::vec(mutation(), 0..8)).prop_map(move |(i, ms)| apply(&seeds[i], &ms))
}

/// Each target's budget: `FUZZ_SECONDS`, default 2.
pub fn budget() -> Duration {
    let seconds = std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(2.0);
    Duration::from_secs_f64(seconds.max(0.05))
}

/// Runs `property` on inputs from `strategy` for [`budget`], in batches of
/// 64 cases, each batch from its own fixed seed (so a run is reproducible and
/// a longer run sees more, never other, inputs). A failing input is shrunk
/// and reported with the batch that found it; the run then fails.
pub fn fuzz<S>(target: &str, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let started = Instant::now();
    let budget = budget();
    let executions = Cell::new(0u64);
    let mut batch = 0u64;
    while started.elapsed() < budget || batch == 0 {
        let config = Config { cases: 64, failure_persistence: None, max_shrink_iters: 2048, ..Config::default() };
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&batch.to_le_bytes());
        for (i, b) in target.bytes().enumerate() {
            seed[8 + i % 24] ^= b;
        }
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let outcome = runner.run(&strategy, |input| {
            executions.set(executions.get() + 1);
            property(input)
        });
        if let Err(e) = outcome {
            panic!("fuzz {target}: finding in batch {batch} after {} executions: {e}", executions.get());
        }
        batch += 1;
    }
    println!("fuzz {target}: {} executions in {:.1} s, 0 findings", executions.get(), started.elapsed().as_secs_f64());
}

#[test]
fn mutations_stay_in_bounds_on_any_input() {
    // Every mutation on the empty input and on a one-byte input: no panic.
    let all = [
        Mutation::FlipBit(usize::MAX, 7),
        Mutation::SetByte(3, 1),
        Mutation::Insert(usize::MAX, vec![1, 2]),
        Mutation::Delete(usize::MAX, 63),
        Mutation::Copy { from: usize::MAX, to: usize::MAX, len: 255 },
        Mutation::Truncate(usize::MAX),
        Mutation::Interesting(9, 0),
    ];
    assert_eq!(apply(b"", &all[..1]), b"");
    assert_eq!(apply(b"a", &[Mutation::Insert(1, vec![b'b'])]), b"ab");
    assert_eq!(apply(b"abcdef", &[Mutation::Delete(1, 2)]), b"adef");
    assert_eq!(apply(b"abc", &[Mutation::Copy { from: 0, to: 3, len: 2 }]), b"abcab");
    for input in [&b""[..], b"x", b"hello world"] {
        apply(input, &all);
    }
}
