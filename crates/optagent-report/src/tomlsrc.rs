//! The report crate's TOML files (sweep config, leaderboard) read through `optagent-toml`, its
//! errors given the file's path as [`ReportError::Config`].

use std::path::Path;

use serde::de::DeserializeOwned;

pub(crate) use optagent_toml::Seg;
use optagent_toml::TomlError;

use crate::error::{Line, ReportError};

fn config_error(path: &Path, e: TomlError) -> ReportError {
    ReportError::Config {
        path: path.to_path_buf(),
        line: Line(e.line),
        field: e.field,
        message: e.message,
    }
}

/// A field error at a path, located in the text when possible.
pub(crate) fn field_error(path: &Path, text: &str, segs: &[Seg], message: String) -> ReportError {
    config_error(path, optagent_toml::field_error(text, segs, message))
}

/// Parses and deserializes a TOML document, every error naming the file, line and field.
pub(crate) fn from_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ReportError> {
    optagent_toml::from_toml(text).map_err(|e| config_error(path, e))
}
