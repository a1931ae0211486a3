//! Result equivalence: a workload's result on a patched tree must match the baseline's, numbers
//! within a relative and absolute tolerance (as `math.isclose` does), everything else exactly.
//!
//! Results are [`ResultValue`]s, read from Python's `json.dump` output ([`crate::value`]):
//! - integers compare exactly, at any size (`2**70 + 12345` differs from
//!   `2**70 + 12345 + 10**6`, a `u64` hash from its neighbour);
//! - an integer against a float (`1` against `1.0`) compares as numbers, within the tolerances;
//! - `NaN` equals `NaN` (as numpy's `assert_allclose` has it by default, `equal_nan=True`) and
//!   nothing else; an infinity equals only the same infinity; finite floats match when
//!   `|x - y| <= max(atol, rtol * max(|x|, |y|))`.

use crate::value::int_to_f64;
pub use crate::value::ResultValue;

/// Where and how a result differs from the baseline's (`path`: `$`, `$.key`, `$[3]`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Mismatch {
    /// Two values that differ (integers exactly, anything but numbers by equality).
    #[error("{path}: expected {expected}, got {got}")]
    Value {
        path: String,
        expected: String,
        got: String,
    },
    /// Two numbers outside the tolerances.
    #[error("{path}: expected {expected}, got {got} (rtol {rtol:e}, atol {atol:e})")]
    Number {
        path: String,
        expected: String,
        got: String,
        rtol: f64,
        atol: f64,
    },
    #[error("{path}: expected {expected} elements, got {got}")]
    Length {
        path: String,
        expected: usize,
        got: usize,
    },
    /// A key of the expected object that the result lacks.
    #[error("{path}: missing")]
    Missing { path: String },
    #[error("{path}: unexpected key")]
    Unexpected { path: String },
}

/// `Ok` when `got` matches `expected`; otherwise where and how they differ.
pub fn equivalent(
    expected: &ResultValue,
    got: &ResultValue,
    rtol: f64,
    atol: f64,
) -> Result<(), Mismatch> {
    walk(expected, got, rtol, atol, "$")
}

fn short(v: &ResultValue) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let mut cut = 77;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}...", &s[..cut])
    } else {
        s
    }
}

/// Two floats under the module's rules.
fn floats_match(x: f64, y: f64, rtol: f64, atol: f64) -> bool {
    if x.is_nan() || y.is_nan() {
        return x.is_nan() && y.is_nan();
    }
    if x.is_infinite() || y.is_infinite() {
        return x == y;
    }
    (x - y).abs() <= atol.max(rtol * x.abs().max(y.abs()))
}

fn walk(
    e: &ResultValue,
    g: &ResultValue,
    rtol: f64,
    atol: f64,
    path: &str,
) -> Result<(), Mismatch> {
    use ResultValue as V;
    let differ = || Mismatch::Value {
        path: path.to_string(),
        expected: short(e),
        got: short(g),
    };
    match (e, g) {
        (V::Int(x), V::Int(y)) => {
            if x == y {
                Ok(())
            } else {
                Err(Mismatch::Value {
                    path: path.to_string(),
                    expected: x.to_string(),
                    got: y.to_string(),
                })
            }
        }
        (V::Int(_) | V::Float(_), V::Int(_) | V::Float(_)) => {
            let num = |v: &V| match v {
                V::Int(t) => int_to_f64(t),
                V::Float(x) => *x,
                _ => f64::NAN,
            };
            let (x, y) = (num(e), num(g));
            if floats_match(x, y, rtol, atol) {
                Ok(())
            } else {
                Err(Mismatch::Number {
                    path: path.to_string(),
                    expected: short(e),
                    got: short(g),
                    rtol,
                    atol,
                })
            }
        }
        (V::Array(a), V::Array(b)) => {
            if a.len() != b.len() {
                return Err(Mismatch::Length {
                    path: path.to_string(),
                    expected: a.len(),
                    got: b.len(),
                });
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(x, y, rtol, atol, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (V::Object(a), V::Object(b)) => {
            if let Some(k) = a.keys().find(|k| !b.contains_key(*k)) {
                return Err(Mismatch::Missing {
                    path: format!("{path}.{k}"),
                });
            }
            if let Some(k) = b.keys().find(|k| !a.contains_key(*k)) {
                return Err(Mismatch::Unexpected {
                    path: format!("{path}.{k}"),
                });
            }
            for (k, x) in a {
                walk(x, &b[k], rtol, atol, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        _ if e == g => Ok(()),
        _ => Err(differ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::parse;

    fn eq(e: &str, g: &str, rtol: f64, atol: f64) -> Result<(), String> {
        equivalent(&parse(e).unwrap(), &parse(g).unwrap(), rtol, atol).map_err(|m| m.to_string())
    }

    #[test]
    fn floats_within_tolerance_match() {
        assert!(eq("[1.0, 2.0]", "[1.0000001, 2.0]", 1e-6, 1e-9).is_ok());
        let e = eq(r#"{"d": [1.0, 2.0]}"#, r#"{"d": [1.0, 2.1]}"#, 1e-6, 1e-9).unwrap_err();
        assert!(e.starts_with("$.d[1]"), "{e}");
    }

    /// A mismatch is a value that says where it is and what differs, not only a message.
    #[test]
    fn a_mismatch_names_its_path_and_kind() {
        let m = |e: &str, g: &str| equivalent(&parse(e).unwrap(), &parse(g).unwrap(), 0.0, 0.0);
        assert_eq!(
            m(r#"{"a": {"b": 1}}"#, r#"{"a": {}}"#),
            Err(Mismatch::Missing {
                path: "$.a.b".into()
            })
        );
        assert_eq!(
            m("[[1], [2, 3]]", "[[1], [2]]"),
            Err(Mismatch::Length {
                path: "$[1]".into(),
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn integers_exact_and_shapes_checked() {
        assert!(eq("3", "4", 1.0, 1.0).is_err());
        assert!(eq("[1, 2]", "[1, 2, 3]", 0.0, 0.0).is_err());
        assert!(eq(r#"{"a": 1}"#, r#"{"a": 1, "b": 2}"#, 0.0, 0.0).is_err());
        assert!(eq(r#""x""#, r#""x""#, 0.0, 0.0).is_ok());
        assert!(eq("null", "0", 0.0, 0.0).is_err());
        assert!(eq("true", "1", 1.0, 1.0).is_err());
    }

    /// Issue 10 item 2: NaN equals NaN, infinities match exactly, and neither matches a number.
    #[test]
    fn nan_infinity_compare_like_assert_allclose() {
        assert!(eq(
            "[NaN, Infinity, -Infinity]",
            "[NaN, Infinity, -Infinity]",
            1e-6,
            0.0
        )
        .is_ok());
        assert!(eq("NaN", "1.0", 1e-6, 0.0).is_err());
        assert!(eq("1.0", "NaN", 1e-6, 0.0).is_err());
        assert!(eq("Infinity", "-Infinity", 1e-6, 0.0).is_err());
        // A huge tolerance still does not make an infinity equal a finite number.
        assert!(eq("Infinity", "1e308", 1.0, 1e308).is_err());
        assert!(eq("NaN", "null", 1.0, 1.0).is_err());
        let e = eq(r#"{"x": [1.0, NaN]}"#, r#"{"x": [1.0, 2.0]}"#, 1e-6, 0.0).unwrap_err();
        assert!(e.starts_with("$.x[1]: expected NaN, got 2.0"), "{e}");
    }

    /// Issue 10 item 3: integers beyond i64/u64 compare exactly; an integer against a float
    /// compares as numbers within the tolerance, as before.
    #[test]
    fn big_integers_compare_exactly() {
        // 2**70 + 12345 against 2**70 + 12345 + 10**6: equal as floats within rtol 1e-6.
        let x = "1180591620717411315769";
        let y = "1180591620717412315769";
        let e = eq(x, y, 1e-6, 1e-9).unwrap_err();
        assert!(e.contains(x) && e.contains(y), "{e}");
        assert!(eq(x, x, 0.0, 0.0).is_ok());
        // u64 values above i64::MAX, one apart.
        assert!(eq("18446744073709551615", "18446744073709551614", 1e-6, 1e-9).is_err());
        assert!(eq(
            "[-1180591620717411315769]",
            "[-1180591620717411315769]",
            0.0,
            0.0
        )
        .is_ok());
        // Integer against float: numbers within tolerance.
        assert!(eq("1", "1.0", 1e-9, 0.0).is_ok());
        assert!(eq("1.0", "1", 1e-9, 0.0).is_ok());
        assert!(eq("1", "1.5", 1e-9, 0.0).is_err());
        assert!(eq(x, "1.180591620717411e21", 1e-9, 0.0).is_ok());
    }
}
