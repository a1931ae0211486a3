//! Tool specs (name, description, JSON Schema of the arguments) as given to the model.
//!
//! The specs live in the repository's `tools/<name>.json` and are embedded in the binary by each
//! handler's `TypedTool::SPEC` (`include_str!`), so it works from anywhere; a folder named in `OPTAGENT_TOOLS_DIR` replaces any
//! of them at run time (a file per tool, same name; tools without a file keep the embedded spec).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment variable naming a folder of `<tool>.json` files that replace the embedded ones.
pub const TOOLS_DIR_ENV: &str = "OPTAGENT_TOOLS_DIR";

/// One tool as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpecJson {
    pub name: String,
    pub description: String,
    /// A JSON Schema (`{"type": "object", "properties": ..., "required": [...]}`).
    pub parameters: serde_json::Value,
}

impl ToolSpecJson {
    /// Parse and check a spec's JSON text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, SpecError> {
        let spec: ToolSpecJson =
            serde_json::from_str(text).map_err(|source| SpecError::NotASpec {
                origin: origin.to_string(),
                source,
            })?;
        if spec.parameters.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(SpecError::NotAnObjectSchema {
                origin: origin.to_string(),
            });
        }
        if !spec
            .parameters
            .get("properties")
            .is_some_and(|p| p.is_object())
        {
            return Err(SpecError::NoProperties {
                origin: origin.to_string(),
            });
        }
        Ok(spec)
    }

    /// Names of the properties the schema declares.
    pub fn properties(&self) -> Vec<String> {
        self.parameters
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Names of the required properties.
    pub fn required(&self) -> Vec<String> {
        self.parameters
            .get("required")
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A one-line reminder of the arguments, e.g. `path (string, required), start_line (integer)`.
    pub fn argument_summary(&self) -> String {
        let required = self.required();
        let props = self
            .parameters
            .get("properties")
            .and_then(|p| p.as_object());
        let Some(props) = props else {
            return "no arguments".into();
        };
        if props.is_empty() {
            return "no arguments: pass {}".into();
        }
        // Required arguments first, in the schema's order; then the others.
        let mut keys: Vec<&String> = required.iter().filter(|r| props.contains_key(*r)).collect();
        keys.extend(props.keys().filter(|k| !required.contains(k)));
        keys.into_iter()
            .map(|k| (k, &props[k]))
            .map(|(k, v)| {
                let ty = match (v.get("enum").and_then(|e| e.as_array()), v.get("type")) {
                    (Some(values), _) => values
                        .iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join("|"),
                    (None, Some(t)) => t.as_str().unwrap_or("any").to_string(),
                    _ => "any".into(),
                };
                if required.contains(k) {
                    format!("{k} ({ty}, required)")
                } else {
                    format!("{k} ({ty})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a tool spec cannot be used; each names the file (or embedded spec) it came from.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{origin}: not a tool spec: {source}")]
    NotASpec {
        origin: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{origin}: `parameters` must be a JSON Schema with \"type\": \"object\"")]
    NotAnObjectSchema { origin: String },
    #[error("{origin}: `parameters.properties` must be an object")]
    NoProperties { origin: String },
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: names the tool `{found}`, expected `{expected}`", path.display())]
    WrongName {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

/// The spec of tool `name`: `dir/<name>.json` when `dir` has it, else `embedded` (the handler's
/// [`include_str!`] of `tools/<name>.json`).
pub fn load_spec(
    name: &str,
    embedded: &str,
    dir: Option<&Path>,
) -> Result<ToolSpecJson, SpecError> {
    if let Some(dir) = dir {
        let p = dir.join(format!("{name}.json"));
        if p.is_file() {
            let text = std::fs::read_to_string(&p).map_err(|source| SpecError::Read {
                path: p.clone(),
                source,
            })?;
            let spec = ToolSpecJson::parse(&text, &p.display().to_string())?;
            if spec.name != name {
                return Err(SpecError::WrongName {
                    path: p,
                    found: spec.name,
                    expected: name.to_string(),
                });
            }
            tracing::debug!(tool = name, path = %p.display(), "tool spec overridden");
            return Ok(spec);
        }
    }
    ToolSpecJson::parse(embedded, &format!("embedded tools/{name}.json"))
}
