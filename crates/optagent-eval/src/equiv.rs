//! Result equivalence: a workload's result on a patched tree must match the baseline's, numbers
//! within a relative and absolute tolerance (as `math.isclose` does), everything else exactly.

use serde_json::Value;

/// `Ok` when `got` matches `expected`; otherwise where and how they differ.
pub fn equivalent(expected: &Value, got: &Value, rtol: f64, atol: f64) -> Result<(), String> {
    walk(expected, got, rtol, atol, "$")
}

fn short(v: &Value) -> String {
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

fn walk(e: &Value, g: &Value, rtol: f64, atol: f64, path: &str) -> Result<(), String> {
    match (e, g) {
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
                if x == y {
                    return Ok(());
                }
                return Err(format!("{path}: expected {x}, got {y}"));
            }
            let (x, y) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            if (x - y).abs() <= atol.max(rtol * x.abs().max(y.abs())) {
                Ok(())
            } else {
                Err(format!(
                    "{path}: expected {x}, got {y} (rtol {rtol:e}, atol {atol:e})"
                ))
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Err(format!(
                    "{path}: expected {} elements, got {}",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(x, y, rtol, atol, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys() {
                if !b.contains_key(k) {
                    return Err(format!("{path}.{k}: missing"));
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    return Err(format!("{path}.{k}: unexpected key"));
                }
            }
            for (k, x) in a {
                walk(x, &b[k], rtol, atol, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        _ if e == g => Ok(()),
        _ => Err(format!("{path}: expected {}, got {}", short(e), short(g))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_within_tolerance_match() {
        assert!(equivalent(&json!([1.0, 2.0]), &json!([1.0000001, 2.0]), 1e-6, 1e-9).is_ok());
        let e = equivalent(
            &json!({"d": [1.0, 2.0]}),
            &json!({"d": [1.0, 2.1]}),
            1e-6,
            1e-9,
        )
        .unwrap_err();
        assert!(e.starts_with("$.d[1]"), "{e}");
    }

    #[test]
    fn integers_exact_and_shapes_checked() {
        assert!(equivalent(&json!(3), &json!(4), 1.0, 1.0).is_err());
        assert!(equivalent(&json!([1, 2]), &json!([1, 2, 3]), 0.0, 0.0).is_err());
        assert!(equivalent(&json!({"a": 1}), &json!({"a": 1, "b": 2}), 0.0, 0.0).is_err());
        assert!(equivalent(&json!("x"), &json!("x"), 0.0, 0.0).is_ok());
        assert!(equivalent(&json!(null), &json!(0), 0.0, 0.0).is_err());
    }
}
