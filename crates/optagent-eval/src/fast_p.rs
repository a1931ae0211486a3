//! KernelBench's fast_p for one candidate, against the baseline and against the expert.
//!
//! A task plays the part of a KernelBench problem. Its speedup is the report's `speedup`: the
//! geometric mean over workloads of median(baseline) / median(patch) (one workload for a
//! KernelBench problem, where that is the reference's time over the kernel's). Against the expert
//! (`torch.compile` of the reference for KernelBench tasks) it is `speedup / expert_speedup`,
//! which is the geometric mean over workloads of median(expert) / median(patch).
//!
//! The candidate counts ([`counts`]) when it is correct (verdict `ok`) and no integrity check
//! flagged it: a flagged patch keeps its figures but is fast at no threshold, not even p = 0. It
//! is then fast at `p` when that speedup is strictly greater than `p`
//! ([`optagent_stats::scoring::kernelbench_fast`]). Significance is not asked for, as in
//! KernelBench; `verified` is the stricter figure.

use optagent_stats::scoring::{kernelbench_fast, FAST_P_THRESHOLDS};
use serde::{Deserialize, Serialize};

use crate::report::{EvalReport, Verdict};

/// Whether a candidate is fast at each of KernelBench's thresholds
/// ([`FAST_P_THRESHOLDS`]). In JSON: `{"0": true, "1.0": true, "1.5": false, "2.0": false}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastP {
    #[serde(rename = "0")]
    pub p0: bool,
    #[serde(rename = "1.0")]
    pub p1: bool,
    #[serde(rename = "1.5")]
    pub p1_5: bool,
    #[serde(rename = "2.0")]
    pub p2: bool,
}

/// The labels of [`FAST_P_THRESHOLDS`], as the JSON keys and the tables write them.
pub const FAST_P_LABELS: [&str; 4] = ["0", "1.0", "1.5", "2.0"];

impl FastP {
    /// The rule at every threshold, for a candidate that `counts` with `speedup` (an undefined
    /// speedup is fast at no threshold).
    pub fn of(counts: bool, speedup: Option<f64>) -> FastP {
        let [p0, p1, p1_5, p2] =
            FAST_P_THRESHOLDS.map(|p| speedup.is_some_and(|s| kernelbench_fast(counts, s, p)));
        FastP { p0, p1, p1_5, p2 }
    }

    /// The verdicts in threshold order (as [`FAST_P_THRESHOLDS`]).
    pub fn values(&self) -> [bool; 4] {
        [self.p0, self.p1, self.p1_5, self.p2]
    }

    /// `0 yes, 1.0 yes, 1.5 no, 2.0 no`.
    pub fn text(&self) -> String {
        FAST_P_LABELS
            .iter()
            .zip(self.values())
            .map(|(l, v)| format!("{l} {}", if v { "yes" } else { "no" }))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether a candidate can be fast at all: correct (verdict `ok`) and not flagged by any
/// integrity check.
pub fn counts(r: &EvalReport) -> bool {
    r.correct && r.verdict == Verdict::Ok && r.integrity.flags.is_empty()
}

/// The speedup fast_p against the expert uses: `speedup / expert_speedup` (`None` when either
/// is undefined or the expert's speedup is not a positive number).
pub fn speedup_vs_expert(speedup: Option<f64>, expert_speedup: Option<f64>) -> Option<f64> {
    let o = expert_speedup.filter(|o| o.is_finite() && *o > 0.0)?;
    Some(speedup? / o)
}

impl EvalReport {
    /// fast_p against the baseline, from the stored figures (so records written before the
    /// `fast_p` field existed, or changed since, are judged alike).
    pub fn fast_p_now(&self) -> FastP {
        FastP::of(counts(self), self.speedup)
    }

    /// fast_p against the expert, from the stored figures.
    pub fn fast_p_expert_now(&self) -> FastP {
        FastP::of(
            counts(self),
            speedup_vs_expert(self.speedup, self.expert_speedup),
        )
    }
}

/// Fill the report's figures that follow from its verdict, speedups and integrity flags:
/// `verified` ([`crate::is_verified`]) and the four fast_p fields. Called whenever flags change.
pub fn settle(r: &mut EvalReport) {
    r.verified = crate::integrity::is_verified(r);
    r.fast_p = r.fast_p_now();
    r.fast_p_speedup = r.speedup;
    r.fast_p_expert = r.fast_p_expert_now();
    r.fast_p_expert_speedup = speedup_vs_expert(r.speedup, r.expert_speedup);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::{Flag, FlagKind};

    /// gamma's first evaluation from the report crate's hand-written fixture, made correct at
    /// `speedup` beside an expert at `expert`.
    fn report(speedup: f64, expert: Option<f64>) -> EvalReport {
        let mut r = crate::render::tests::fixture_report();
        r.verdict = Verdict::Ok;
        r.reason = None;
        r.correct = true;
        r.speedup = Some(speedup);
        r.expert_speedup = expert;
        r
    }

    #[test]
    fn thresholds_are_strict() {
        assert_eq!(
            FastP::of(true, Some(1.5)),
            FastP {
                p0: true,
                p1: true,
                p1_5: false,
                p2: false
            }
        );
        assert_eq!(
            FastP::of(true, Some(1.0)).values(),
            [true, false, false, false]
        );
        assert_eq!(
            FastP::of(true, Some(2.0)).values(),
            [true, true, true, false]
        );
        assert_eq!(FastP::of(true, Some(2.01)).values(), [true; 4]);
        assert_eq!(
            FastP::of(true, Some(0.5)).values(),
            [true, false, false, false]
        );
        assert_eq!(FastP::of(false, Some(9.0)), FastP::default());
        assert_eq!(
            FastP::of(true, Some(1.2)).text(),
            "0 yes, 1.0 yes, 1.5 no, 2.0 no"
        );
    }

    #[test]
    fn json_keys_are_the_thresholds() {
        let v = serde_json::to_value(FastP::of(true, Some(1.2))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"0": true, "1.0": true, "1.5": false, "2.0": false})
        );
        let back: FastP = serde_json::from_value(v).unwrap();
        assert_eq!(back, FastP::of(true, Some(1.2)));
    }

    #[test]
    fn settle_fills_both_references() {
        let mut r = report(3.0, Some(2.0));
        settle(&mut r);
        assert_eq!(r.fast_p.values(), [true; 4]);
        assert_eq!(r.fast_p_speedup, Some(3.0));
        // Against the expert: 3.0 / 2.0 = 1.5, not above 1.5.
        assert_eq!(r.fast_p_expert_speedup, Some(1.5));
        assert_eq!(r.fast_p_expert.values(), [true, true, false, false]);
        // No usable expert figure: never fast against it.
        for expert in [None, Some(0.0)] {
            let mut r = report(3.0, expert);
            settle(&mut r);
            assert_eq!(r.fast_p_expert, FastP::default());
            assert_eq!(r.fast_p_expert_speedup, None);
        }
        // No speedup: fast at no threshold.
        assert_eq!(FastP::of(true, None), FastP::default());
    }

    #[test]
    fn incorrect_and_flagged_patches_are_never_fast() {
        let mut r = report(4.0, Some(2.0));
        r.verdict = Verdict::WrongResult;
        r.correct = false;
        settle(&mut r);
        assert_eq!((r.fast_p, r.fast_p_expert), Default::default());

        let mut r = report(4.0, Some(2.0));
        settle(&mut r);
        assert!(r.fast_p.p2 && r.fast_p_expert.p1);
        r.integrity.flags.push(Flag {
            kind: FlagKind::Judge,
            workload: None,
            detail: "state kept between calls".into(),
        });
        settle(&mut r);
        // Not even p = 0: a flagged patch is not counted as correct either.
        assert_eq!((r.fast_p, r.fast_p_expert), Default::default());
        assert_eq!(r.fast_p_now(), FastP::default());
        // The figures stay as measured.
        assert_eq!(r.fast_p_speedup, Some(4.0));
        assert!(!r.verified);
    }
}
