//! The rollout's trajectory: every request, response, tool call, tool result and usage figure,
//! one JSON object per line, flushed as it happens (a run that dies keeps what it did). Lines with
//! `"type": "model_response"` carry the response in `"response"`, which is what the replay provider
//! reads back. Secrets are scrubbed from every line before it is written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

/// Replaces known secret values, and anything shaped like a common API key, with `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    pattern: regex::Regex,
}

impl Redactor {
    /// `secrets`: exact values to remove (keys read from the environment); values shorter than 8
    /// characters are ignored (they would match too much).
    pub fn new(secrets: Vec<String>) -> Self {
        Redactor {
            secrets: secrets.into_iter().filter(|s| s.len() >= 8).collect(),
            pattern: regex::Regex::new(
                r"(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|Bearer\s+[A-Za-z0-9_\-\.]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16})",
            )
            .expect("valid pattern"),
        }
    }

    /// The values of environment variables whose names look like credentials, and of the
    /// variables named in `also` (a provider's key variable, whatever its name).
    pub fn from_env(also: &[String]) -> Self {
        let secrets = std::env::vars()
            .filter(|(k, _)| optagent_sandbox::is_secret_name(k) || also.contains(k))
            .map(|(_, v)| v)
            .collect();
        Self::new(secrets)
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[REDACTED]");
            }
        }
        self.pattern.replace_all(&out, "[REDACTED]").into_owned()
    }
}

/// An append-only JSONL trajectory.
#[derive(Debug)]
pub struct Trajectory {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    redactor: Redactor,
}

impl Trajectory {
    pub fn create(path: &Path, redactor: Redactor) -> std::io::Result<Self> {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Trajectory {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            redactor,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Write one event: `kind` goes in `"type"`, with a timestamp; the rest from `fields`.
    pub fn event(&self, kind: &str, fields: Value) {
        let mut obj = match fields {
            Value::Object(m) => m,
            other => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), other);
                m
            }
        };
        obj.insert("type".into(), Value::String(kind.into()));
        obj.insert(
            "ts".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        let line = self.redactor.scrub(&Value::Object(obj).to_string());
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the trajectory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_variable_with_an_ordinary_name_is_scrubbed_when_named() {
        // A variable unique to this test (set_var is a safe call in edition 2021).
        std::env::set_var("OPTAGENT_TEST_MYLAB_LLM", "plain-looking-value-123");
        let r = Redactor::from_env(&["OPTAGENT_TEST_MYLAB_LLM".to_string()]);
        assert_eq!(r.scrub("x plain-looking-value-123 y"), "x [REDACTED] y");
        let r = Redactor::from_env(&[]);
        assert!(r.scrub("plain-looking-value-123").contains("plain-looking"));
    }

    #[test]
    fn secrets_never_reach_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl");
        let t = Trajectory::create(&p, Redactor::new(vec!["my-very-secret-value".into()])).unwrap();
        t.event(
            "tool_result",
            serde_json::json!({"output": "env: KEY=my-very-secret-value and sk-abcdefghijklmnopqrstuvwx"}),
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("my-very-secret-value"));
        assert!(!text.contains("sk-abcdefghijklmnop"));
        assert!(text.contains("[REDACTED]"));
        let v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["type"], "tool_result");
    }
}
