//! A workload's result as Python's `json.dump` writes it, read without losing anything that
//! result equivalence needs.
//!
//! Python writes `NaN`, `Infinity` and `-Infinity` for non-finite floats (strict JSON has no
//! such tokens, and `serde_json` refuses them), and integers of any size (`2**70`, a `u64`
//! hash). [`parse`] reads that dialect into a [`ResultValue`]: integers keep their decimal text,
//! so they compare exactly at any size, and floats may be non-finite.
//!
//! A [`ResultValue`] serializes as its text in the same dialect ([`std::fmt::Display`]), so it
//! can be stored in a report and read back unchanged: non-finite floats and big integers
//! round-trip, which a `serde_json::Value` cannot do.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Deepest nesting of arrays and objects [`parse`] accepts (deeper input is refused, never a
/// stack overflow).
pub const MAX_DEPTH: usize = 256;

/// One value of a workload's output.
///
/// `PartialEq` is structural (so `Float(NaN) != Float(NaN)`); result equivalence, with NaN equal
/// to NaN and tolerances on floats, is [`crate::equiv::equivalent`].
#[derive(Debug, Clone, PartialEq)]
pub enum ResultValue {
    Null,
    Bool(bool),
    /// An integer of any size, as canonical decimal text: an optional `-` and digits without
    /// leading zeros (`0` for zero, never `-0`).
    Int(String),
    /// A number written with a fraction or an exponent, or `NaN` / `Infinity` / `-Infinity`.
    Float(f64),
    Str(String),
    Array(Vec<ResultValue>),
    /// Keys in sorted order; a key repeated in the input keeps its last value (as Python's
    /// `json.load` does).
    Object(BTreeMap<String, ResultValue>),
}

impl ResultValue {
    /// The member `key` of an object; `None` for a missing key or a value that is not an object.
    pub fn get(&self, key: &str) -> Option<&ResultValue> {
        match self {
            ResultValue::Object(m) => m.get(key),
            _ => None,
        }
    }

    /// The value as a float, for a number (an integer is rounded to the nearest `f64`, `inf`
    /// beyond its range); `None` for anything else.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ResultValue::Float(x) => Some(*x),
            ResultValue::Int(t) => Some(int_to_f64(t)),
            _ => None,
        }
    }

    /// An integer from text that [`parse`] would produce for it.
    pub fn int(text: &str) -> ResultValue {
        ResultValue::Int(canonical_int(text))
    }
}

/// `text` is `-?[0-9]+`; the nearest `f64` (Rust's parser rounds correctly).
pub(crate) fn int_to_f64(text: &str) -> f64 {
    text.parse::<f64>().unwrap_or(f64::NAN)
}

/// Drops leading zeros and the sign of zero.
fn canonical_int(text: &str) -> String {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        "0".to_string()
    } else if neg {
        format!("-{digits}")
    } else {
        digits.to_string()
    }
}

/// Where and why [`parse`] stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at line {line}, column {column}")]
pub struct ParseError {
    pub message: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
}

/// Reads one value in the dialect of Python's `json.dump`: strict JSON plus the tokens `NaN`,
/// `Infinity` and `-Infinity`, with integers kept exactly. Whitespace may surround the value;
/// anything else after it is an error.
pub fn parse(text: &str) -> Result<ResultValue, ParseError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.error("unexpected text after the value"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseError {
        let before = &self.text[..self.i.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ParseError {
            message: message.to_string(),
            line,
            column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<ResultValue, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match self.peek() {
            None => Err(self.error("unexpected end of input, expected a value")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(ResultValue::Str(self.string()?)),
            Some(b't') if self.eat("true") => Ok(ResultValue::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(ResultValue::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(ResultValue::Null),
            Some(b'N') if self.eat("NaN") => Ok(ResultValue::Float(f64::NAN)),
            Some(b'I') if self.eat("Infinity") => Ok(ResultValue::Float(f64::INFINITY)),
            Some(b'-') if self.eat("-Infinity") => Ok(ResultValue::Float(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<ResultValue, ParseError> {
        self.i += 1; // '{'
        let mut m = BTreeMap::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(ResultValue::Object(m));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after an object key"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            m.insert(key, v);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(ResultValue::Object(m));
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<ResultValue, ParseError> {
        self.i += 1; // '['
        let mut v = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(ResultValue::Array(v));
        }
        loop {
            self.ws();
            v.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(ResultValue::Array(v));
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    /// A string token: its extent is found here, its escapes are decoded by `serde_json` (so
    /// `\u` escapes and surrogate pairs follow the standard exactly).
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.i;
        self.i += 1; // opening quote
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => self.i += 2,
                Some(_) => self.i += 1,
            }
        }
        let token = &self.text[start..self.i];
        serde_json::from_str::<String>(token).map_err(|e| {
            self.i = start;
            self.error(&format!("invalid string ({e})"))
        })
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. Without a fraction
    /// or exponent it is an integer, kept as text.
    fn number(&mut self) -> Result<ResultValue, ParseError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let from = p.i;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i - from
        };
        let int_start = self.i;
        let n = digits(self);
        if n == 0 {
            return Err(self.error("expected digits in a number"));
        }
        if n > 1 && self.s[int_start] == b'0' {
            return Err(self.error("a number may not start with 0"));
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.error("expected digits after '.'"));
            }
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("expected digits in an exponent"));
            }
            float = true;
        }
        let text = &self.text[start..self.i];
        if float {
            text.parse::<f64>()
                .map(ResultValue::Float)
                .map_err(|e| self.error(&format!("invalid number {text} ({e})")))
        } else {
            Ok(ResultValue::Int(canonical_int(text)))
        }
    }
}

/// Compact text in the dialect [`parse`] reads (Python's `json.dumps` with `separators=(",",
/// ":")`, keys sorted): floats in Rust's shortest round-trip form, always with a `.` or an
/// exponent so they read back as floats; `NaN`, `Infinity`, `-Infinity`; integers as their
/// digits.
impl fmt::Display for ResultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultValue::Null => f.write_str("null"),
            ResultValue::Bool(b) => write!(f, "{b}"),
            ResultValue::Int(t) => f.write_str(t),
            ResultValue::Float(x) => {
                if x.is_nan() {
                    f.write_str("NaN")
                } else if x.is_infinite() {
                    f.write_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
                } else {
                    // `{:?}` is the shortest text that reads back to the same f64, and it
                    // always has a '.' or an exponent ("1.0", "1e300").
                    write!(f, "{x:?}")
                }
            }
            ResultValue::Str(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
            ResultValue::Array(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            ResultValue::Object(m) => {
                f.write_str("{")?;
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    let key = serde_json::to_string(k).map_err(|_| fmt::Error)?;
                    write!(f, "{key}:{x}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Serialized as its [`Display`](fmt::Display) text (a JSON string), so NaN, infinities and big
/// integers survive a report written with `serde_json`.
impl Serialize for ResultValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ResultValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(t: &str) -> ResultValue {
        ResultValue::int(t)
    }

    /// Issue 10 item 2: Python's `json.dump` output with non-finite floats reads.
    #[test]
    fn nan_infinity_read_from_python_json() {
        let v =
            parse(r#"{"result": [NaN, Infinity, -Infinity, 1.5, -0.0], "seconds": 0.25}"#).unwrap();
        let r = v.get("result").unwrap();
        let ResultValue::Array(xs) = r else {
            panic!("{r:?}")
        };
        assert!(matches!(xs[0], ResultValue::Float(x) if x.is_nan()));
        assert_eq!(xs[1], ResultValue::Float(f64::INFINITY));
        assert_eq!(xs[2], ResultValue::Float(f64::NEG_INFINITY));
        assert_eq!(xs[3], ResultValue::Float(1.5));
        assert_eq!(v.get("seconds").and_then(ResultValue::as_f64), Some(0.25));
        // Tokens inside strings are text.
        assert_eq!(
            parse(r#"["NaN", "a\"Infinity\\"]"#).unwrap(),
            ResultValue::Array(vec![
                ResultValue::Str("NaN".into()),
                ResultValue::Str("a\"Infinity\\".into())
            ])
        );
    }

    /// Issue 10 item 3: integers of any size keep every digit.
    #[test]
    fn big_integers_keep_their_digits() {
        // 2**70 + 12345 and a u64 hash above i64::MAX.
        let v = parse("[1180591620717411315769, 18446744073709551615, -0, 007]");
        assert!(v.is_err(), "leading zeros are not JSON");
        let v = parse("[1180591620717411315769, 18446744073709551615, -0]").unwrap();
        assert_eq!(
            v,
            ResultValue::Array(vec![
                int("1180591620717411315769"),
                int("18446744073709551615"),
                int("0")
            ])
        );
        assert_eq!(int("-000").to_string(), "0");
        assert_eq!(int("-0042").to_string(), "-42");
        assert_eq!(
            int("18446744073709551615").as_f64(),
            Some(1.8446744073709552e19)
        );
    }

    #[test]
    fn numbers_and_literals_follow_json() {
        assert_eq!(parse(" 1e3 ").unwrap(), ResultValue::Float(1000.0));
        assert_eq!(parse("2.0").unwrap(), ResultValue::Float(2.0));
        assert_eq!(parse("-7").unwrap(), int("-7"));
        assert_eq!(parse("true").unwrap(), ResultValue::Bool(true));
        assert_eq!(parse("null").unwrap(), ResultValue::Null);
        assert_eq!(
            parse(r#""\u00e9\ud83d\ude00""#).unwrap(),
            ResultValue::Str("é😀".into())
        );
        // Later duplicates win.
        assert_eq!(parse(r#"{"a":1,"a":2}"#).unwrap().get("a"), Some(&int("2")));
        for bad in [
            "",
            "[1,]",
            "{\"a\" 1}",
            "1.",
            "-",
            ".5",
            "nan",
            "inf",
            "[1 2]",
            "\"abc",
            "1 2",
            "{1:2}",
            "\"\\x\"",
            "+1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        let e = parse("{\n  \"a\": [1, }").unwrap_err();
        assert_eq!((e.line, e.column), (2, 12), "{e}");
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
    }

    #[test]
    fn result_values_round_trip_through_serde() {
        let text = r#"{"a":[NaN,Infinity,-Infinity,0.1,1e300,-0.0,5e-324],"b":1180591620717411315769,"c":"x\ny","d":{},"e":[],"f":null,"g":false,"h":-3}"#;
        let v = parse(text).unwrap();
        assert_eq!(v.to_string(), text);
        let stored = serde_json::to_string(&v).unwrap();
        let back: ResultValue = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.to_string(), text);
        // A float that happens to be whole stays a float.
        assert_eq!(ResultValue::Float(3.0).to_string(), "3.0");
        assert_eq!(parse("3.0").unwrap().to_string(), "3.0");
    }
}
