//! Reading TOML files with errors that name the file, the line and the field: parse errors keep
//! `toml`'s span, deserialization errors get the field path from `serde_path_to_error`, and
//! validation errors found afterwards are located by walking the spanned document.

use std::path::Path;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use crate::error::{Line, ReportError};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a field path `models[1].temperature` style.
pub(crate) fn path_string(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() {
        "<document>".to_string()
    } else {
        s
    }
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of the key (or array element) a path names, as far as it can be followed.
pub(crate) fn locate(text: &str, segs: &[Seg]) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable<'_> = root.get_ref();
    let mut value: Option<&DeValue<'_>> = None;
    let mut best: Option<usize> = None;
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                let tbl = match value {
                    None => table,
                    Some(DeValue::Table(t)) => t,
                    _ => break,
                };
                let Some((key, v)) = tbl.iter().find(|(key, _)| key.get_ref().as_ref() == k) else {
                    break;
                };
                best = Some(key.span().start);
                table = tbl;
                value = Some(v.get_ref());
            }
            Seg::Index(i) => {
                let Some(DeValue::Array(items)) = value else {
                    break;
                };
                let Some(item) = items.get(*i) else {
                    break;
                };
                best = Some(item.span().start);
                value = Some(item.get_ref());
            }
        }
    }
    best.map(|o| line_of(text, o))
}

/// A field error at a path, located in the text when possible.
pub(crate) fn field_error(path: &Path, text: &str, segs: &[Seg], message: String) -> ReportError {
    ReportError::Config {
        path: path.to_path_buf(),
        line: Line(locate(text, segs)),
        field: path_string(segs),
        message,
    }
}

/// The name in a serde "missing field `x`" / "unknown field `x`" message.
fn named_field(message: &str) -> Option<String> {
    for prefix in ["missing field `", "unknown field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    None
}

/// Parses and deserializes a TOML document, every error naming the file, line and field.
pub(crate) fn from_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ReportError> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| ReportError::Config {
        path: path.to_path_buf(),
        line: Line(e.span().map(|s| line_of(text, s.start))),
        field: "<syntax>".to_string(),
        message: e.message().trim().to_string(),
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut segs: Vec<Seg> = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let inner = e.inner();
        let message = inner.message().trim().to_string();
        let span_line = inner.span().map(|s| line_of(text, s.start));
        if let Some(name) = named_field(&message) {
            if segs.last() != Some(&Seg::Key(name.clone())) {
                segs.push(Seg::Key(name));
            }
        }
        ReportError::Config {
            path: path.to_path_buf(),
            line: Line(locate(text, &segs).or(span_line)),
            field: path_string(&segs),
            message,
        }
    })
}
