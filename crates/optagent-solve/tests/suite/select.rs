//! `select_best`: a candidate is verified when correct, with at least one significant improvement
//! and a geometric-mean speedup above 1; the fastest verified one wins; each other one is told why
//! it lost (incorrect, not significant, slower).

use optagent_solve::{select_best, Choice};

use super::common::report;

#[test]
fn no_candidate_selects_nothing() {
    let s = select_best(&[]);
    assert_eq!(s.best, None);
    assert!(s.choices.is_empty());
}

#[test]
fn the_fastest_verified_candidate_wins_and_the_others_are_slower() {
    let rs = [
        report("a", "ok", None, 1.3, 1),
        report("b", "ok", None, 1.8, 2),
        report("c", "ok", None, 1.5, 1),
    ];
    let s = select_best(&rs);
    assert_eq!(s.best, Some(1));
    assert_eq!(
        s.choices,
        vec![
            Choice::Slower("1.300x against the selected 1.800x".into()),
            Choice::Selected,
            Choice::Slower("1.500x against the selected 1.800x".into()),
        ]
    );
}

#[test]
fn a_faster_incorrect_candidate_loses_with_its_verdict_and_first_reason_line() {
    let rs = [
        report(
            "wrong",
            "wrong_result",
            Some("workload w: result differs\nmore detail"),
            5.0,
            3,
        ),
        report("timeout", "timeout", None, 4.0, 1),
        report("right", "ok", None, 1.2, 1),
    ];
    let s = select_best(&rs);
    assert_eq!(s.best, Some(2));
    assert_eq!(
        s.choices[0],
        Choice::Incorrect("wrong_result: workload w: result differs".into())
    );
    assert_eq!(s.choices[1], Choice::Incorrect("timeout: ".into()));
    assert_eq!(s.choices[2], Choice::Selected);
}

#[test]
fn a_speedup_without_a_significant_improvement_is_not_verified() {
    // A geometric mean of 1.4 that no workload shows significantly: noise, not a verified patch.
    let rs = [report("noisy", "ok", None, 1.4, 0)];
    let s = select_best(&rs);
    assert_eq!(s.best, None);
    assert_eq!(s.choices, vec![Choice::NotSignificant]);
}

#[test]
fn a_significant_improvement_with_an_overall_slowdown_or_no_change_is_not_verified() {
    // One workload significantly faster, the geometric mean at or below 1 (regressions elsewhere).
    for speedup in [0.8, 1.0] {
        let rs = [report("tradeoff", "ok", None, speedup, 1)];
        let s = select_best(&rs);
        assert_eq!(s.best, None, "speedup {speedup}");
        assert_eq!(s.choices, vec![Choice::NotSignificant], "speedup {speedup}");
    }
    // Just above 1 with a significant improvement: verified.
    let s = select_best(&[report("small", "ok", None, 1.001, 1)]);
    assert_eq!(s.best, Some(0));
}

#[test]
fn an_unverified_candidate_is_not_significant_even_beside_a_selected_one() {
    let rs = [
        report("noisy", "ok", None, 2.5, 0),
        report("real", "ok", None, 1.1, 1),
    ];
    let s = select_best(&rs);
    assert_eq!(
        s.best,
        Some(1),
        "a faster unverified candidate is not selected"
    );
    assert_eq!(s.choices, vec![Choice::NotSignificant, Choice::Selected]);
}

#[test]
fn choices_serialize_with_stable_outcome_names() {
    let as_json = |c: &Choice| serde_json::to_value(c).unwrap();
    assert_eq!(as_json(&Choice::Selected)["outcome"], "selected");
    assert_eq!(as_json(&Choice::NoPatch)["outcome"], "no_patch");
    assert_eq!(
        as_json(&Choice::NotSignificant)["outcome"],
        "not_significant"
    );
    let inc = as_json(&Choice::Incorrect("timeout: x".into()));
    assert_eq!(inc["outcome"], "incorrect");
    assert_eq!(inc["why"], "timeout: x");
    assert_eq!(as_json(&Choice::Slower("1.1x".into()))["outcome"], "slower");
}
