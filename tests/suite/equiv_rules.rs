//! Result equivalence, rule by rule: numbers within `max(atol, rtol * max(|x|, |y|))` (as
//! `math.isclose`), integers exactly, everything else exactly, and a difference named by its path.

use optagent_eval::value::{self, ResultValue};
use serde_json::json;

/// The rules on JSON values, read as the evaluator reads a workload's output.
fn equivalent(
    expected: &serde_json::Value,
    got: &serde_json::Value,
    rtol: f64,
    atol: f64,
) -> Result<(), String> {
    let read = |v: &serde_json::Value| -> ResultValue {
        value::parse(&v.to_string()).expect("valid JSON")
    };
    optagent_eval::equiv::equivalent(&read(expected), &read(got), rtol, atol)
        .map_err(|m| m.to_string())
}

#[test]
fn the_relative_tolerance_scales_with_the_larger_value_both_ways() {
    // |100 - 101| = 1 against 0.00995 * 101 = 1.005: equal; against |x| alone (0.995), not.
    assert!(equivalent(&json!(100.0), &json!(101.0), 0.00995, 0.0).is_ok());
    assert!(equivalent(&json!(101.0), &json!(100.0), 0.00995, 0.0).is_ok());
    assert!(equivalent(&json!(100.0), &json!(101.0), 0.0098, 0.0).is_err());
    // Exactly at the tolerance is within it.
    assert!(equivalent(&json!(4.0), &json!(5.0), 0.2, 0.0).is_ok());
    assert!(equivalent(&json!(-4.0), &json!(-5.0), 0.2, 0.0).is_ok());
    assert!(equivalent(&json!(-4.0), &json!(5.0), 0.2, 0.0).is_err());
}

#[test]
fn the_absolute_tolerance_covers_values_near_zero() {
    assert!(equivalent(&json!(0.0), &json!(1e-9), 1e-6, 1e-8).is_ok());
    assert!(equivalent(&json!(0.0), &json!(1e-7), 1e-6, 1e-8).is_err());
    assert!(equivalent(&json!(0.0), &json!(0.25), 0.0, 0.25).is_ok());
    assert!(equivalent(&json!(0.0), &json!(0.5), 0.0, 0.25).is_err());
    // No tolerance: only the same float is equal.
    assert!(equivalent(&json!(1.5), &json!(1.5), 0.0, 0.0).is_ok());
    assert!(equivalent(&json!(1.5), &json!(1.5000001), 0.0, 0.0).is_err());
}

#[test]
fn integers_compare_exactly_and_an_integral_float_equals_its_integer() {
    assert!(equivalent(&json!(10), &json!(11), 1.0, 100.0).is_err());
    assert!(equivalent(&json!(-7), &json!(-7), 0.0, 0.0).is_ok());
    let e = equivalent(&json!({"n": 10}), &json!({"n": 11}), 0.0, 0.0).unwrap_err();
    assert_eq!(e, "$.n: expected 10, got 11");
    assert!(equivalent(&json!(3), &json!(3.0), 0.0, 0.0).is_ok());
    assert!(equivalent(&json!(3.0), &json!(3), 0.0, 0.0).is_ok());
}

#[test]
fn differences_are_named_by_their_path() {
    let e = equivalent(
        &json!({"a": [1, 2, {"b": 1.0}]}),
        &json!({"a": [1, 2, {"b": 2.0}]}),
        1e-9,
        0.0,
    )
    .unwrap_err();
    assert!(
        e.starts_with("$.a[2].b: expected 1.0, got 2.0 (rtol 1e-9, atol 0e0)"),
        "{e}"
    );
    let e = equivalent(&json!({"a": 1, "b": 2}), &json!({"a": 1}), 0.0, 0.0).unwrap_err();
    assert_eq!(e, "$.b: missing");
    let e = equivalent(&json!({"a": 1}), &json!({"a": 1, "z": 2}), 0.0, 0.0).unwrap_err();
    assert_eq!(e, "$.z: unexpected key");
    let e = equivalent(&json!([[1, 2]]), &json!([[1, 2, 3]]), 0.0, 0.0).unwrap_err();
    assert_eq!(e, "$[0]: expected 2 elements, got 3");
    let e = equivalent(&json!("x"), &json!("y"), 1.0, 1.0).unwrap_err();
    assert_eq!(e, "$: expected \"x\", got \"y\"");
    let e = equivalent(&json!(true), &json!(1), 1.0, 1.0).unwrap_err();
    assert_eq!(e, "$: expected true, got 1");
    // The first difference in order is the one named.
    let e = equivalent(&json!([1, 2, 3]), &json!([1, 5, 6]), 0.0, 0.0).unwrap_err();
    assert!(e.starts_with("$[1]"), "{e}");
}

#[test]
fn equal_structures_are_equal_and_long_values_are_shortened_in_messages() {
    let v = json!({"rows": [[1, 2.5, "a"], [null, true, {"k": []}]], "n": 2});
    assert!(equivalent(&v, &v.clone(), 0.0, 0.0).is_ok());
    assert!(equivalent(&json!(null), &json!(null), 0.0, 0.0).is_ok());
    assert!(equivalent(&json!(null), &json!(0), 1.0, 1.0).is_err());
    let long = "x".repeat(200);
    let e = equivalent(&json!(long), &json!("short"), 0.0, 0.0).unwrap_err();
    let shown = e
        .strip_prefix("$: expected ")
        .unwrap()
        .split(", got")
        .next()
        .unwrap();
    assert_eq!(shown.len(), 80, "{shown}");
    assert!(shown.ends_with("..."), "{shown}");
    // Exactly 80 characters are shown whole.
    let eighty = "y".repeat(78);
    let e = equivalent(&json!(eighty), &json!(1), 0.0, 0.0).unwrap_err();
    assert_eq!(e, format!("$: expected \"{eighty}\", got 1"));
}

/// The rules on result text, as a workload prints it (JSON has no NaN or infinity; Python's
/// `json.dump` writes them as `NaN`, `Infinity`).
fn equivalent_text(expected: &str, got: &str, rtol: f64, atol: f64) -> Result<(), String> {
    let read = |t: &str| value::parse(t).expect("valid result text");
    optagent_eval::equiv::equivalent(&read(expected), &read(got), rtol, atol)
        .map_err(|m| m.to_string())
}

#[test]
fn nan_equals_only_nan_and_an_infinity_only_itself() {
    assert!(equivalent_text("NaN", "NaN", 0.0, 0.0).is_ok());
    assert!(equivalent_text(
        "[NaN, Infinity, -Infinity]",
        "[NaN, Infinity, -Infinity]",
        0.0,
        0.0
    )
    .is_ok());
    // A NaN is not a number within any tolerance, either side.
    assert!(equivalent_text("NaN", "1.0", 1.0, 1e300).is_err());
    assert!(equivalent_text("1.0", "NaN", 1.0, 1e300).is_err());
    assert!(equivalent_text("NaN", "Infinity", 1.0, 1e300).is_err());
    // An infinity against the largest finite floats: the tolerance would cover them
    // (|inf - x| <= rtol * inf), the rule does not.
    assert!(equivalent_text("Infinity", "1e308", 1.0, 1e308).is_err());
    assert!(equivalent_text("1e308", "Infinity", 1.0, 1e308).is_err());
    assert!(equivalent_text("Infinity", "-Infinity", 1.0, 1e308).is_err());
    assert!(equivalent_text("-Infinity", "-Infinity", 0.0, 0.0).is_ok());
    let e = equivalent_text("[1.0, Infinity]", "[1.0, 1e308]", 1.0, 1e308).unwrap_err();
    assert_eq!(
        e,
        "$[1]: expected Infinity, got 1e308 (rtol 1e0, atol 1e308)"
    );
}

#[test]
fn a_shortened_value_is_cut_on_a_character_boundary() {
    // 77 bytes are kept; a character across that point is left out whole. `"` + 74 ASCII
    // characters puts the 3-byte euro sign at bytes 75..78, the 2-byte e-acute at 76..78.
    let euro = format!("{}€{}", "a".repeat(74), "b".repeat(20));
    let e = equivalent(&json!(euro), &json!(1), 0.0, 0.0).unwrap_err();
    assert_eq!(
        e,
        format!("$: expected \"{}..., got 1", "a".repeat(74)),
        "euro sign"
    );
    let acute = format!("{}é{}", "a".repeat(75), "b".repeat(20));
    let e = equivalent(&json!(acute), &json!(1), 0.0, 0.0).unwrap_err();
    assert_eq!(e, format!("$: expected \"{}..., got 1", "a".repeat(75)));
    // A character that ends exactly at the cut is kept whole (`"` + 74 + 2 bytes = 77).
    let whole = format!("{}é{}", "a".repeat(74), "b".repeat(20));
    let e = equivalent(&json!(whole), &json!(1), 0.0, 0.0).unwrap_err();
    assert_eq!(e, format!("$: expected \"{}é..., got 1", "a".repeat(74)));
}
