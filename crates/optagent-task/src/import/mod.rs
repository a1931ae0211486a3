//! Importers: benchmark datasets turned into task folders.
//!
//! [`gso`] reads GSO's dataset rows, [`swefficiency`] SWE-fficiency's; [`kernelbench`] reads
//! KernelBench's problem files; [`asv`] adds a repository's ASV benchmarks to a task as
//! workloads. Dataset importers read a JSON Lines file
//! or a JSON array ([`read_rows`]), check every row strictly (an unknown or missing field is an
//! error naming the file, the row's line and the field), and write one task folder per row whose
//! `task.toml` loads with [`crate::Task::load`].

pub mod asv;
pub mod gso;
pub mod kernelbench;
pub mod swefficiency;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// What went wrong while importing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: row at line {line}: field `{field}`: {message}")]
    Field {
        path: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
    #[error("{path}: already exists (pass --force to replace it)")]
    Exists { path: PathBuf },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the task written to {path} does not load: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: crate::TaskError,
    },
}

/// One row of a dataset: its fields and the line it starts on.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: usize,
    pub fields: Map<String, Value>,
}

/// The rows of a dataset file: JSON Lines (one object per line; what `datasets`' `to_json`
/// writes), or one JSON array of objects.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parse_err = |message: String| ImportError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let trimmed = text.trim_start();
    let mut rows = Vec::new();
    if trimmed.starts_with('[') {
        // A JSON array: find the line each element starts on.
        let start_line = text[..text.len() - trimmed.len()].matches('\n').count() + 1;
        let values: Vec<Value> = serde_json::from_str(&text)
            .map_err(|e| parse_err(format!("line {}: not a JSON array: {e}", e.line())))?;
        let mut offsets = element_lines(trimmed).into_iter();
        for (i, v) in values.into_iter().enumerate() {
            let line = offsets.next().map_or(start_line, |l| l + start_line - 1);
            match v {
                Value::Object(fields) => rows.push(Row { line, fields }),
                other => {
                    return Err(parse_err(format!(
                        "line {line}: element {i} is {}, expected an object",
                        kind(&other)
                    )))
                }
            }
        }
    } else {
        for (i, l) in text.lines().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(l)
                .map_err(|e| parse_err(format!("line {}: not JSON: {e}", i + 1)))?;
            match v {
                Value::Object(fields) => rows.push(Row {
                    line: i + 1,
                    fields,
                }),
                other => {
                    return Err(parse_err(format!(
                        "line {}: {}, expected an object",
                        i + 1,
                        kind(&other)
                    )))
                }
            }
        }
    }
    if rows.is_empty() {
        return Err(parse_err("no rows".into()));
    }
    Ok(rows)
}

/// The line (1-based, relative to `text`) on which each top-level element of a JSON array starts.
fn element_lines(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut depth, mut in_str, mut esc, mut line) = (0usize, false, false, 1usize);
    let mut expect = false;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_str {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if expect && !c.is_whitespace() && c != ']' {
            out.push(line);
            expect = false;
        }
        match c {
            '"' => in_str = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    expect = true;
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expect = true,
            _ => {}
        }
    }
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a row's fields by name, with errors that name the file, the row and the field.
pub struct Fields<'a> {
    pub path: &'a Path,
    pub row: &'a Row,
}

impl Fields<'_> {
    pub fn error(&self, field: &str, message: impl Into<String>) -> ImportError {
        ImportError::Field {
            path: self.path.to_path_buf(),
            line: self.row.line,
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Refuse any field not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), ImportError> {
        for k in self.row.fields.keys() {
            if !known.contains(&k.as_str()) {
                return Err(self.error(k, format!("unknown field (known: {})", known.join(", "))));
            }
        }
        Ok(())
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.row.fields.get(field).filter(|v| !v.is_null())
    }

    /// A required string (empty allowed when `nonempty` is false).
    pub fn string(&self, field: &str, nonempty: bool) -> Result<String, ImportError> {
        match self.get(field) {
            None => Err(self.error(field, "missing (expected a string)")),
            Some(Value::String(s)) if nonempty && s.trim().is_empty() => {
                Err(self.error(field, "empty (expected a non-empty string)"))
            }
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(self.error(field, format!("{}, expected a string", kind(v)))),
        }
    }

    /// An optional string: `None` when absent or null.
    pub fn opt_string(&self, field: &str) -> Result<Option<String>, ImportError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.error(field, format!("{}, expected a string", kind(v)))),
        }
    }

    /// A list of strings; a string holding a JSON list is accepted too (how some exports store
    /// lists).
    pub fn strings(&self, field: &str, required: bool) -> Result<Vec<String>, ImportError> {
        let v = match self.get(field) {
            None if required => {
                return Err(self.error(field, "missing (expected a list of strings)"))
            }
            None => return Ok(vec![]),
            Some(v) => v.clone(),
        };
        let v = match v {
            Value::String(s) if s.trim_start().starts_with('[') => serde_json::from_str(&s)
                .map_err(|e| self.error(field, format!("a string that is not a JSON list: {e}")))?,
            v => v,
        };
        match v {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, x)| match x {
                    Value::String(s) => Ok(s),
                    other => Err(self.error(
                        &format!("{field}[{i}]"),
                        format!("{}, expected a string", kind(&other)),
                    )),
                })
                .collect(),
            other => Err(self.error(
                field,
                format!("{}, expected a list of strings", kind(&other)),
            )),
        }
    }
}

/// A task id from a benchmark's instance id, or why it cannot be one.
pub fn task_id(instance_id: &str) -> Result<String, BadTaskId> {
    if !instance_id.is_empty()
        && !instance_id.chars().all(|c| c == '.')
        && instance_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        Ok(instance_id.to_string())
    } else {
        Err(BadTaskId(instance_id.to_string()))
    }
}

/// An instance id that cannot name a task folder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} cannot name a task folder (expected [A-Za-z0-9_.-])")]
pub struct BadTaskId(pub String);

/// A TOML string for `s`: a multi-line literal when it spans lines and can be one, else a
/// basic string with escapes.
pub fn toml_str(s: &str) -> String {
    if s.contains('\n') && !s.contains("'''") && !s.ends_with('\'') && !s.contains('\r') {
        format!("'''\n{s}'''")
    } else {
        toml::Value::String(s.to_string()).to_string()
    }
}

/// A TOML array of strings.
pub fn toml_list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", v.join(", "))
}

/// Where a dataset's files go: `<out>/<id>/`, emptied first with `force`.
pub fn task_folder(out: &Path, id: &str, force: bool) -> Result<PathBuf, ImportError> {
    let dir = out.join(id);
    if dir.exists() {
        if !force {
            return Err(ImportError::Exists { path: dir });
        }
        std::fs::remove_dir_all(&dir).map_err(|source| ImportError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    std::fs::create_dir_all(&dir).map_err(|source| ImportError::Write {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// Write a file, creating its folder.
pub fn write(path: &Path, text: &str) -> Result<(), ImportError> {
    let w = |source| ImportError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(w)?;
    }
    std::fs::write(path, text).map_err(|source| ImportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// What an import wrote: one folder per row.
#[derive(Debug, Clone)]
pub struct Imported {
    pub id: String,
    pub dir: PathBuf,
    pub workloads: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_lines_and_arrays_keep_their_line_numbers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.jsonl");
        std::fs::write(&p, "{\"a\": 1}\n\n{\"a\": 2}\n").unwrap();
        let r = read_rows(&p).unwrap();
        assert_eq!(r.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 3]);
        let p = d.path().join("a.json");
        std::fs::write(
            &p,
            "[\n  {\"a\": \"x,[{\\\"\"},\n  {\n    \"a\": [1, {\"b\": 2}]\n  }, {\"a\": 3}\n]\n",
        )
        .unwrap();
        let r = read_rows(&p).unwrap();
        assert_eq!(r.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 5]);
        std::fs::write(&p, "{\"a\": 1}\n[1]\n").unwrap();
        let e = read_rows(&p).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn toml_strings_round_trip() {
        for s in [
            "plain",
            "two\nlines\n",
            "quote ''' inside\n",
            "ends with '\nx'",
            "tab\t\"q\"",
        ] {
            let doc = format!("v = {}\n", toml_str(s));
            let v: toml::Table = toml::from_str(&doc).unwrap();
            assert_eq!(v["v"].as_str().unwrap(), s, "{doc}");
        }
    }
}
