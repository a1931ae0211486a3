//! Reading TOML files with errors that name the line and the field: parse errors keep `toml`'s
//! span, deserialization errors get the field path from `serde_path_to_error`, and validation
//! errors found afterwards ([`field_error`]) are located by walking the spanned document. Each
//! crate wraps a [`TomlError`] in its own error type with the file's path.

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

/// The field of a syntax error (the document could not be parsed).
pub const SYNTAX: &str = "<syntax>";
/// The field of an error about the whole document.
pub const DOCUMENT: &str = "<document>";

/// What is wrong in a TOML text, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{field}: {message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct TomlError {
    /// 1-based line of the offending key or value, when it could be located.
    pub line: Option<usize>,
    /// The field's path, `models[1].temperature` style ([`SYNTAX`], [`DOCUMENT`]).
    pub field: String,
    pub message: String,
}

impl TomlError {
    /// Whether the error names a field (not the syntax or the whole document).
    pub fn has_field(&self) -> bool {
        self.field != SYNTAX && self.field != DOCUMENT
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a field path `models[1].temperature` style.
pub fn path_string(segs: &[Seg]) -> String {
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
        DOCUMENT.to_string()
    } else {
        s
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of the key (or array element) a path names, as far as it can be followed.
pub fn locate(text: &str, segs: &[Seg]) -> Option<usize> {
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

/// A field error at a path (a check made after deserializing), located in the text when
/// possible.
pub fn field_error(text: &str, segs: &[Seg], message: String) -> TomlError {
    TomlError {
        line: locate(text, segs),
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

/// Parses and deserializes a TOML document, every error naming the line and the field.
pub fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, TomlError> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| TomlError {
        line: e.span().map(|s| line_of(text, s.start)),
        field: SYNTAX.to_string(),
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
        TomlError {
            line: locate(text, &segs).or(span_line),
            field: path_string(&segs),
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        n: u32,
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let e = from_toml::<Doc>("name = \"x\"\n[[items]]\nn = 1\n[[items]]\nn = \"two\"\n")
            .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(5), "items[1].n"), "{e}");
        let e = from_toml::<Doc>("[[items]]\nn = 1\n").unwrap_err();
        assert_eq!(e.field, "name", "{e}");
        let e = from_toml::<Doc>("name = \"x\"\nname = = 2\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (Some(2), SYNTAX), "{e}");
        assert!(!e.has_field() && e.to_string().starts_with("line 2: <syntax>: "));
        let text = "name = \"x\"\n[[items]]\nn = 1\n[[items]]\nn = 7\n";
        let e = field_error(
            text,
            &[
                Seg::Key("items".into()),
                Seg::Index(1),
                Seg::Key("n".into()),
            ],
            "too big".into(),
        );
        assert_eq!(e.to_string(), "line 5: items[1].n: too big");
    }
}
