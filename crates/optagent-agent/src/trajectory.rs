//! The rollout's trajectory: every request, response, tool call, tool result and usage figure,
//! one JSON object per line, flushed as it happens (a run that dies keeps what it did). Lines with
//! `"type": "model_response"` carry the response in `"response"`, which is what the replay provider
//! reads back. Secrets are scrubbed from every line before it is written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

/// Replaces known secret values, and anything shaped like a common API key, with `[REDACTED]`.
/// Used on every trajectory line and on every tool output before it is sent to the model.
/// Each secret is also looked for URL-encoded, JSON-escaped, in hex and in base64 (at any
/// alignment, so a secret inside a longer encoded text, such as a `Basic` authorization, is
/// caught), since a command can print it in any of those forms.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// The secrets and their encodings, longest first.
    needles: Vec<String>,
    pattern: regex::Regex,
}

/// Secrets shorter than this are not searched for (they would match too much).
pub const MIN_SECRET_LEN: usize = 8;

impl Redactor {
    /// `secrets`: exact values to remove (keys read from the environment); values shorter than
    /// [`MIN_SECRET_LEN`] characters are ignored.
    pub fn new(secrets: Vec<String>) -> Self {
        let mut needles: Vec<String> = secrets
            .iter()
            .map(|s| s.trim())
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .flat_map(encodings)
            .filter(|n| n.len() >= MIN_SECRET_LEN)
            .collect();
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Redactor {
            needles,
            pattern: regex::Regex::new(
                r"(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|Bearer\s+[A-Za-z0-9_\-\.]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16})",
            )
            .expect("valid pattern"),
        }
    }

    /// The values of every environment variable of this process whose name looks like a
    /// credential ([`optagent_sandbox::is_secret_name`]), and of the variables named in `also`
    /// (a provider's key variable, whatever its name).
    pub fn from_env(also: &[String]) -> Self {
        let secrets = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| optagent_sandbox::is_secret_name(k) || also.contains(k))
            .map(|(_, v)| v)
            .collect();
        Self::new(secrets)
    }

    /// How many strings (secrets and their encodings) are searched for.
    pub fn needle_count(&self) -> usize {
        self.needles.len()
    }

    /// `text` with every known secret, in every encoding, and every key-shaped string replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.needles {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[REDACTED]");
            }
        }
        self.pattern.replace_all(&out, "[REDACTED]").into_owned()
    }
}

/// The forms a secret may be printed in: as it is, URL-encoded, JSON-escaped, hex (both cases)
/// and base64 (standard and URL-safe alphabets, each of the three alignments).
fn encodings(secret: &str) -> Vec<String> {
    let mut v = vec![secret.to_string(), url_encode(secret)];
    if let Ok(j) = serde_json::to_string(secret) {
        v.push(j[1..j.len() - 1].to_string());
    }
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    v.push(hex.to_ascii_uppercase());
    v.push(hex);
    for offset in 0..3 {
        for url_safe in [false, true] {
            v.push(base64_fragment(secret.as_bytes(), offset, url_safe));
        }
    }
    v
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The base64 characters that encode `bytes` whatever surrounds them, when they start `offset`
/// bytes (0, 1 or 2) into a 3-byte group: the groups holding only bytes of the secret.
fn base64_fragment(bytes: &[u8], offset: usize, url_safe: bool) -> String {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let skip = (3 - offset) % 3;
    let mut out = String::new();
    if bytes.len() < skip {
        return out;
    }
    for g in bytes[skip..].chunks_exact(3) {
        let n = (u32::from(g[0]) << 16) | (u32::from(g[1]) << 8) | u32::from(g[2]);
        for shift in [18, 12, 6, 0] {
            let c = STD[((n >> shift) & 63) as usize];
            out.push(match (url_safe, c) {
                (true, b'+') => '-',
                (true, b'/') => '_',
                _ => c as char,
            });
        }
    }
    out
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

    use optagent_testkit::base64 as b64;

    #[test]
    fn a_secret_is_redacted_in_every_encoding_a_command_may_print() {
        let key = "plain/looking+value=123";
        let r = Redactor::new(vec![key.to_string()]);
        let url = "plain%2Flooking%2Bvalue%3D123";
        let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
        for text in [
            key.to_string(),
            url.to_string(),
            hex.clone(),
            hex.to_uppercase(),
        ] {
            let out = r.scrub(&format!("a {text} b"));
            assert_eq!(out, "a [REDACTED] b", "{text}");
        }
        // base64 of the key inside longer texts, at each alignment (a Basic authorization).
        for prefix in ["", "u:", "us:", "use:"] {
            let enc = b64(format!("{prefix}{key}").as_bytes());
            let out = r.scrub(&format!("Authorization: Basic {enc}"));
            assert!(out.contains("[REDACTED]"), "{prefix}: {out}");
            // What is left cannot hold the key's middle: no 6 consecutive bytes of it.
            let left = out.replace("[REDACTED]", " ");
            assert!(
                !left.contains(&enc[enc.len() / 2 - 4..enc.len() / 2 + 4]),
                "{prefix}: {out}"
            );
        }
        // Unrelated text is untouched, and short values are not searched for.
        assert_eq!(r.scrub("nothing secret here"), "nothing secret here");
        let short = Redactor::new(vec!["abc".into()]);
        assert_eq!(short.needle_count(), 0);
        assert_eq!(short.scrub("abcabc"), "abcabc");
    }

    #[test]
    fn every_credential_variable_of_the_environment_is_redacted_not_only_the_provider_key() {
        std::env::set_var("OPTAGENT_TEST_OTHER_TOKEN", "other-token-value-98765");
        std::env::set_var("OPTAGENT_TEST_DB_PASSWORD", "hunter2hunter2");
        let r = Redactor::from_env(&[]);
        let out = r.scrub("t=other-token-value-98765 p=hunter2hunter2 q=other-token-value-98765");
        assert_eq!(out, "t=[REDACTED] p=[REDACTED] q=[REDACTED]");
    }

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
