//! [`ApiKey`]: an API key that never shows up in `Debug` output, logs, or
//! errors.

/// An API key. `Debug` prints `ApiKey(<redacted>)`; there is no `Display`
/// and no `Serialize`, so the key can only leave through [`ApiKey::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (surrounding whitespace is trimmed).
    pub fn new(key: impl Into<String>) -> Self {
        let key: String = key.into();
        ApiKey(key.trim().to_owned())
    }

    /// The key itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `[REDACTED]`, for
    /// provider error messages that echo the key back. Keys shorter than 8
    /// characters (dummy keys of local servers) are not searched for.
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() >= 8 && text.contains(&self.0) {
            text.replace(&self.0, "[REDACTED]")
        } else {
            text.to_owned()
        }
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl From<String> for ApiKey {
    fn from(s: String) -> Self {
        ApiKey::new(s)
    }
}

impl From<&str> for ApiKey {
    fn from(s: &str) -> Self {
        ApiKey::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redact_hide_the_key() {
        let k = ApiKey::new(" sk-secret-123456 ");
        assert_eq!(k.expose(), "sk-secret-123456");
        assert!(!format!("{k:?}").contains("sk-secret"));
        assert_eq!(
            k.redact("Incorrect API key provided: sk-secret-123456."),
            "Incorrect API key provided: [REDACTED]."
        );
        assert_eq!(ApiKey::new("x").redact("xyz"), "xyz");
    }
}
