//! The seeded generator behind every randomized procedure of this crate (bootstrap intervals,
//! smoothed Opt@k curves, and through them the evaluator's calibration).
//!
//! A seed must keep meaning the same numbers across dependency bumps. `rand`'s `StdRng` is
//! documented as not portable across `rand` versions, and its `random_range` and `shuffle`
//! algorithms may change too. So this module fixes every step:
//! - the generator is ChaCha8 (`rand_chacha`), whose output for a key is fixed by the ChaCha
//!   specification; the 256-bit key is the seed's 8 little-endian bytes followed by zeros (no
//!   seed-expansion function of `rand_core` is involved);
//! - a uniform index in `0..n` is drawn by Lemire's multiply-and-reject method on one `u64`
//!   ([`SeededRng::below`]);
//! - a shuffle is the Fisher-Yates walk from the last element down ([`SeededRng::shuffle`]).
//!
//! Tests in `bootstrap` and `scoring` pin exact values for fixed seeds, so a change here is
//! noticed.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A portable, seeded random number generator (see the module documentation).
#[derive(Debug, Clone)]
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// The generator for `seed`: ChaCha8 keyed with the seed's little-endian bytes, zero padded.
    pub fn new(seed: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        SeededRng(ChaCha8Rng::from_seed(key))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform integer in `0..n`; `n` must be at least 1.
    ///
    /// Lemire's method: the high half of `x * n` (128-bit product) is the draw, rejected while
    /// the low half is below `2^64 mod n`, which makes it exactly uniform.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "SeededRng::below(0): the range 0..0 is empty");
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }

    /// Shuffles `xs` uniformly in place: for `i` from the last index down to 1, swap element
    /// `i` with element `below(i + 1)`.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_rng_stream_is_pinned() {
        // The first outputs for seed 0 and seed 42. A change of generator, key layout or
        // rand_chacha's word order shows up here.
        let mut r = SeededRng::new(0);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut r = SeededRng::new(42);
        let draws: Vec<usize> = (0..8).map(|_| r.below(10)).collect();
        assert_eq!(first, PINNED_SEED0, "seed 0 stream changed");
        assert_eq!(draws, PINNED_SEED42_BELOW10, "seed 42 draws changed");
    }

    // ChaCha8 keystream for the all-zero key and nonce, as published (bytes 3e 00 ef 2f 89 5f 40
    // d6 ... read as little-endian u64s): the generator is the specification's.
    const PINNED_SEED0: [u64; 3] = [
        15_438_444_565_445_410_878,
        11_647_726_043_916_688_255,
        4_287_315_583_106_450_476,
    ];
    const PINNED_SEED42_BELOW10: [usize; 8] = [3, 2, 4, 3, 8, 0, 4, 2];

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = SeededRng::new(7);
        let mut seen = [0usize; 7];
        for _ in 0..7000 {
            let x = r.below(7);
            seen[x] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800 && c < 1200), "{seen:?}");
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn shuffle_is_a_permutation_and_deterministic() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        SeededRng::new(3).shuffle(&mut a);
        SeededRng::new(3).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        let mut empty: Vec<u8> = vec![];
        SeededRng::new(3).shuffle(&mut empty);
    }
}
