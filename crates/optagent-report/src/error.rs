//! The crate's one error type. Every variant names the file at fault, and the line where one is
//! known, so a person can open the file and fix it.

use std::fmt;
use std::path::PathBuf;

/// A line number, printed as `:N` after a path when known and as nothing otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line(pub Option<usize>);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, ":{n}"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading, writing or creating a file or folder failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of a results JSONL file is not a valid [`crate::RolloutRecord`].
    #[error("{}:{line}: malformed rollout record: {source}", path.display())]
    Record {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    /// A TOML file (sweep config, leaderboard) is malformed or has an invalid field.
    #[error("{}{line}: {field}: {message}", path.display())]
    Config {
        path: PathBuf,
        /// 1-based line of the offending key or value, when it could be located.
        line: Line,
        /// The field's path, `models[1].temperature` style (`<document>` for the whole file).
        field: String,
        message: String,
    },
    /// Serializing an output failed (should not happen for well-formed data).
    #[error("{}: cannot serialize: {message}", path.display())]
    Serialize { path: PathBuf, message: String },
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;
