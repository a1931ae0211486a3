//! `optagent-stats`: pure statistics, and the scoring rules of the benchmarks ([`scoring`]: each benchmark's metrics, such as GSO's Opt or KernelBench's fast_p).
//!
//! Everything in this crate is a pure function of its inputs: there is no
//! I/O, no printing and no global state. Randomized procedures (bootstrap,
//! smoothed Opt@k curves) take an explicit `seed` and use [`rng::SeededRng`]
//! (ChaCha8 with this crate's own index and shuffle draws), so results are
//! reproducible for a given seed, across dependency versions too.
//!
//! Modules:
//! - [`summary`]: descriptive statistics (median, quantiles, MAD, geometric
//!   and harmonic means, ...) and the [`summary::Summary`] record.
//! - [`hypothesis`]: the Mann-Whitney U test (exact, ties included, and normal
//!   approximation) and the Wilcoxon signed-rank test.
//! - [`bounds`]: distribution-free one-sided bounds of a shift (sign test, Mann-Whitney), for
//!   checks that must not accuse on a lucky line-up of a few noisy runs.
//! - [`rng`]: the portable seeded generator.
//! - [`bootstrap`]: seeded percentile-bootstrap confidence intervals.
//! - [`scoring`]: the scoring rules of public code-optimization benchmarks
//!   (GSO, SWE-fficiency, FormulaCode, KernelBench) and Opt@k / pass@k estimators. A new
//!   rule goes there; `optagent-report`'s top-level documentation says where it is then
//!   aggregated and shown.

pub mod bootstrap;
pub mod bounds;
pub mod hypothesis;
pub mod rng;
pub mod scoring;
pub mod summary;
