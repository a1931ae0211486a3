//! Providers as data: the built-in table (`providers.toml`), the user's
//! config file merged over it, model spec parsing (`provider/model`,
//! `replay:<path>`), and resolution of a spec plus [`ModelOptions`] into a
//! [`ResolvedModel`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::retry::{RetryPolicy, DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY};
use crate::secret::ApiKey;
use crate::types::{ModelInfo, OutputLimit, Pricing};

/// The built-in provider table, compiled in.
pub const BUILTIN_PROVIDERS_TOML: &str = include_str!("../providers.toml");

/// Environment variable naming the user's config file.
pub const CONFIG_ENV: &str = "OPTAGENT_CONFIG";

/// Options for [`crate::open_model`]: mostly CLI overrides of the provider
/// table. `Debug` never shows the key.
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    /// Config file to merge over the built-in table. Else `$OPTAGENT_CONFIG`,
    /// else `$XDG_CONFIG_HOME/optagent/config.toml` or
    /// `~/.config/optagent/config.toml` when it exists.
    pub config_path: Option<PathBuf>,
    /// Skip the implicit user config file (not `config_path`); for hermetic tests.
    pub ignore_user_config: bool,
    /// `--base-url`: replaces the provider's base URL.
    pub base_url: Option<String>,
    /// `--api-key-env`: read the key from this variable (then required).
    pub api_key_env: Option<String>,
    /// A key given directly (takes precedence over any variable).
    pub api_key: Option<ApiKey>,
    /// Per-attempt request timeout (else the provider's `timeout_secs`).
    pub timeout: Option<Duration>,
    /// Retries after the first attempt (else the provider's `max_retries`).
    pub max_retries: Option<u32>,
    /// Backoff before the first retry (default 1 s; doubles, with jitter).
    pub retry_base_delay: Option<Duration>,
    /// Cap on any wait between attempts, `Retry-After` included (default 60 s).
    pub retry_max_delay: Option<Duration>,
    /// `--max-output-tokens`: the per-call output limit (else the provider's
    /// `max_output_tokens`).
    pub max_output_tokens: Option<u64>,
    /// `--context-window`: the window in tokens (else the server's answer when it is asked,
    /// else the provider table's).
    pub context_window: Option<u64>,
}

/// How [`crate::ChatRequest::max_tokens`] is named on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    /// `max_tokens` (most OpenAI-compatible servers).
    MaxTokens,
    /// `max_completion_tokens` (OpenAI; required by its reasoning models).
    MaxCompletionTokens,
}

/// A parsed model spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// `provider/model`; the model part may itself contain `/`.
    Provider {
        /// Text before the first `/`.
        provider: String,
        /// Everything after it.
        model: String,
    },
    /// `replay:<path to trajectory.jsonl>`.
    Replay(PathBuf),
}

impl ModelSpec {
    /// Parses `provider/model` (split at the first `/`, so
    /// `openrouter/anthropic/claude-sonnet-4` is provider `openrouter`, model
    /// `anthropic/claude-sonnet-4`) or `replay:<path>`.
    pub fn parse(spec: &str) -> Result<ModelSpec, ModelError> {
        let spec_t = spec.trim();
        let invalid = |reason: &str| ModelError::InvalidSpec {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(path) = spec_t.strip_prefix("replay:") {
            if path.is_empty() {
                return Err(invalid("expected `replay:<path to trajectory.jsonl>`"));
            }
            return Ok(ModelSpec::Replay(PathBuf::from(path)));
        }
        match spec_t.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(ModelSpec::Provider {
                provider: p.to_owned(),
                model: m.to_owned(),
            }),
            _ => Err(invalid(
                "expected `provider/model` (e.g. `openai/gpt-4o`, `openrouter/anthropic/claude-sonnet-4`) or `replay:<path>`",
            )),
        }
    }
}

// ------------------------------------------------------------------ layers

#[derive(Debug, Clone, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    provider_defaults: DefaultsLayer,
    #[serde(default)]
    providers: BTreeMap<String, ProviderLayer>,
    // Other top-level tables belong to other parts of optagent; ignored here.
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsLayer {
    timeout_secs: Option<f64>,
    max_retries: Option<u32>,
    context_window: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderLayer {
    base_url: Option<String>,
    env_key: Option<String>,
    key_required: Option<bool>,
    timeout_secs: Option<f64>,
    max_retries: Option<u32>,
    max_tokens_field: Option<MaxTokensField>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    context_window: Option<u64>,
    input_per_mtok: Option<f64>,
    output_per_mtok: Option<f64>,
    cached_input_per_mtok: Option<f64>,
    max_output_tokens: Option<OutputLimitSetting>,
    detect_context_window: Option<bool>,
    #[serde(default)]
    models: BTreeMap<String, ModelLayer>,
}

/// `max_output_tokens = 4096` or `max_output_tokens = "window"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum OutputLimitSetting {
    Tokens(u64),
    Word(String),
}

impl OutputLimitSetting {
    fn limit(&self) -> Result<OutputLimit, SettingError> {
        match self {
            OutputLimitSetting::Tokens(0) => Err(SettingError::ZeroOutputLimit),
            OutputLimitSetting::Tokens(n) => Ok(OutputLimit::Fixed(*n)),
            OutputLimitSetting::Word(w) if w == "window" => Ok(OutputLimit::Window),
            OutputLimitSetting::Word(w) if w == "none" => Ok(OutputLimit::Unset),
            OutputLimitSetting::Word(w) => Err(SettingError::UnknownOutputLimit(w.clone())),
        }
    }
}

/// What is wrong with one provider setting; the caller names the file and field.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingError {
    #[error("must be a positive number of tokens or \"window\"")]
    ZeroOutputLimit,
    #[error("expected a number of tokens, \"window\" or \"none\", got \"{0}\"")]
    UnknownOutputLimit(String),
    #[error("`{url}` is not an http(s) URL (scheme `{scheme}`)")]
    NotHttpUrl { url: String, scheme: String },
    #[error("`{url}` is not a valid URL: {reason}")]
    InvalidUrl { url: String, reason: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelLayer {
    context_window: Option<u64>,
    input_per_mtok: Option<f64>,
    output_per_mtok: Option<f64>,
    cached_input_per_mtok: Option<f64>,
}

impl DefaultsLayer {
    fn merge(&mut self, o: DefaultsLayer) {
        self.timeout_secs = o.timeout_secs.or(self.timeout_secs);
        self.max_retries = o.max_retries.or(self.max_retries);
        self.context_window = o.context_window.or(self.context_window);
    }
}

impl ModelLayer {
    fn merge(&mut self, o: ModelLayer) {
        self.context_window = o.context_window.or(self.context_window);
        self.input_per_mtok = o.input_per_mtok.or(self.input_per_mtok);
        self.output_per_mtok = o.output_per_mtok.or(self.output_per_mtok);
        self.cached_input_per_mtok = o.cached_input_per_mtok.or(self.cached_input_per_mtok);
    }
}

impl ProviderLayer {
    fn merge(&mut self, o: ProviderLayer) {
        self.base_url = o.base_url.or(self.base_url.take());
        self.env_key = o.env_key.or(self.env_key.take());
        self.key_required = o.key_required.or(self.key_required);
        self.timeout_secs = o.timeout_secs.or(self.timeout_secs);
        self.max_retries = o.max_retries.or(self.max_retries);
        self.max_tokens_field = o.max_tokens_field.or(self.max_tokens_field);
        self.headers.extend(o.headers);
        self.context_window = o.context_window.or(self.context_window);
        self.input_per_mtok = o.input_per_mtok.or(self.input_per_mtok);
        self.output_per_mtok = o.output_per_mtok.or(self.output_per_mtok);
        self.cached_input_per_mtok = o.cached_input_per_mtok.or(self.cached_input_per_mtok);
        self.max_output_tokens = o.max_output_tokens.or(self.max_output_tokens.take());
        self.detect_context_window = o.detect_context_window.or(self.detect_context_window);
        for (name, m) in o.models {
            self.models.entry(name).or_default().merge(m);
        }
    }
}

pub(crate) fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]" || h == "::1")
}

fn check_url(url: &str) -> Result<(), SettingError> {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        Ok(u) => Err(SettingError::NotHttpUrl {
            url: url.to_owned(),
            scheme: u.scheme().to_owned(),
        }),
        Err(e) => Err(SettingError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        }),
    }
}

fn check_timeout(secs: f64) -> bool {
    secs.is_finite() && secs > 0.0 && secs < 1e9
}

fn default_env_key(provider: &str) -> String {
    let mut s: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    s.push_str("_API_KEY");
    s
}

// ------------------------------------------------------------------ registry

/// The provider table: built-in entries merged with any config files.
#[derive(Debug, Clone)]
pub struct ProviderRegistry {
    defaults: DefaultsLayer,
    providers: BTreeMap<String, ProviderLayer>,
}

impl ProviderRegistry {
    /// The built-in table only.
    ///
    /// # Panics
    /// Never in a released build: the table is compiled in and checked by a test.
    pub fn builtin() -> Self {
        let mut r = ProviderRegistry {
            defaults: DefaultsLayer::default(),
            providers: BTreeMap::new(),
        };
        r.merge_toml(
            BUILTIN_PROVIDERS_TOML,
            Path::new("<built-in providers.toml>"),
        )
        .expect("built-in providers.toml is valid");
        r
    }

    /// The built-in table merged with the user's config file, found as
    /// documented on [`ModelOptions::config_path`].
    pub fn load(opts: &ModelOptions) -> Result<Self, ModelError> {
        let mut r = Self::builtin();
        if let Some(path) = user_config_path(opts)? {
            tracing::debug!(path = %path.display(), "merging model provider config");
            r.merge_file(&path)?;
        }
        Ok(r)
    }

    /// Merges a config file over the table.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Config {
            path: path.to_owned(),
            message: format!("cannot read: {e}"),
        })?;
        self.merge_toml(&text, path)
    }

    /// Merges config text over the table; `origin` names it in errors.
    pub fn merge_toml(&mut self, text: &str, origin: &Path) -> Result<(), ModelError> {
        let file = parse_config(text, origin)?;
        let err = |field: String, message: String| ModelError::Config {
            path: origin.to_owned(),
            message: format!("`{field}`: {message}"),
        };
        if let Some(t) = file.provider_defaults.timeout_secs {
            if !check_timeout(t) {
                return Err(err(
                    "provider_defaults.timeout_secs".into(),
                    format!("must be a positive number of seconds, got {t}"),
                ));
            }
        }
        self.defaults.merge(file.provider_defaults);
        for (name, layer) in file.providers {
            let field = |f: &str| format!("providers.{name}.{f}");
            if name.is_empty() || name.contains('/') || name.contains(':') {
                return Err(err(
                    format!("providers.{name}"),
                    "provider names must be non-empty and contain no `/` or `:`".into(),
                ));
            }
            if let Some(u) = &layer.base_url {
                check_url(u).map_err(|e| err(field("base_url"), e.to_string()))?;
            }
            if let Some(t) = layer.timeout_secs {
                if !check_timeout(t) {
                    return Err(err(
                        field("timeout_secs"),
                        format!("must be a positive number of seconds, got {t}"),
                    ));
                }
            }
            if let Some(m) = &layer.max_output_tokens {
                m.limit()
                    .map_err(|e| err(field("max_output_tokens"), e.to_string()))?;
            }
            let prices = [
                ("input_per_mtok", layer.input_per_mtok),
                ("output_per_mtok", layer.output_per_mtok),
                ("cached_input_per_mtok", layer.cached_input_per_mtok),
            ];
            for (f, v) in prices {
                if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    return Err(err(field(f), "prices must be >= 0".into()));
                }
            }
            for (m, ml) in &layer.models {
                let prices = [
                    ("input_per_mtok", ml.input_per_mtok),
                    ("output_per_mtok", ml.output_per_mtok),
                    ("cached_input_per_mtok", ml.cached_input_per_mtok),
                ];
                for (f, v) in prices {
                    if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                        return Err(err(
                            format!("providers.{name}.models.\"{m}\".{f}"),
                            "prices must be >= 0".into(),
                        ));
                    }
                }
            }
            let entry = self.providers.entry(name.clone()).or_default();
            entry.merge(layer);
            if entry.base_url.is_none() {
                return Err(err(
                    field("base_url"),
                    format!("is required: `{name}` is not a built-in provider"),
                ));
            }
        }
        Ok(())
    }

    /// Provider names, sorted.
    pub fn provider_names(&self) -> Vec<String> {
        self.providers.keys().cloned().collect()
    }

    /// Resolves a `provider/model` spec with `opts` applied.
    pub fn resolve(&self, spec: &str, opts: &ModelOptions) -> Result<ResolvedModel, ModelError> {
        let (provider, model) = match ModelSpec::parse(spec)? {
            ModelSpec::Provider { provider, model } => (provider, model),
            ModelSpec::Replay(_) => {
                return Err(ModelError::InvalidSpec {
                    spec: spec.to_owned(),
                    reason: "a replay spec has no provider; open it with open_model".into(),
                })
            }
        };
        let Some(p) = self.providers.get(&provider) else {
            return Err(ModelError::UnknownProvider {
                name: provider,
                spec: spec.to_owned(),
                known: self.provider_names(),
            });
        };
        let base_url = resolve_base_url(p, opts)?;
        let key = KeySource::of(p, &provider, &base_url, opts);
        let timeout = opts.timeout.unwrap_or_else(|| {
            Duration::from_secs_f64(
                p.timeout_secs
                    .or(self.defaults.timeout_secs)
                    .unwrap_or(600.0),
            )
        });
        let max_retries = opts
            .max_retries
            .or(p.max_retries)
            .or(self.defaults.max_retries)
            .unwrap_or(4);
        let (context_window, pricing) = self.window_and_pricing(p, &provider, &model, opts);
        let output_limit = resolve_output_limit(p, opts)?;
        // An explicit --context-window is believed over the server's answer.
        let detect_window = opts.context_window.is_none()
            && p.detect_context_window
                .unwrap_or_else(|| is_loopback_url(&base_url));

        Ok(ResolvedModel {
            info: ModelInfo {
                id: format!("{provider}/{model}"),
                provider: provider.clone(),
                model,
                context_window,
                pricing,
                output_limit,
                detect_window,
            },
            base_url,
            env_key: key.env_key,
            key_required: key.required,
            env_key_from_option: key.from_option,
            timeout,
            max_retries,
            max_tokens_field: p.max_tokens_field.unwrap_or(MaxTokensField::MaxTokens),
            headers: p.headers.clone(),
        })
    }

    /// The model's context window and prices: the option, else the table's model entry (exact
    /// or by prefix), else the provider's, else the defaults. Warns when a priced provider's
    /// model is not in the table.
    fn window_and_pricing(
        &self,
        p: &ProviderLayer,
        provider: &str,
        model: &str,
        opts: &ModelOptions,
    ) -> (u64, Pricing) {
        let (entry_name, entry) = match lookup_model(&p.models, model) {
            Some((n, e)) => (Some(n), Some(e)),
            None => (None, None),
        };
        let context_window = opts
            .context_window
            .filter(|&w| w > 0)
            .or(entry.and_then(|e| e.context_window))
            .or(p.context_window)
            .or(self.defaults.context_window)
            .unwrap_or(128_000);
        let input = entry
            .and_then(|e| e.input_per_mtok)
            .or(p.input_per_mtok)
            .unwrap_or(0.0);
        let output = entry
            .and_then(|e| e.output_per_mtok)
            .or(p.output_per_mtok)
            .unwrap_or(0.0);
        let cached = entry
            .and_then(|e| e.cached_input_per_mtok.or(e.input_per_mtok))
            .or(p.cached_input_per_mtok)
            .or(p.input_per_mtok)
            .unwrap_or(0.0);
        match entry_name {
            Some(n) if n != model => {
                tracing::debug!(provider, model, table_entry = n, "model priced by prefix match")
            }
            Some(_) => {}
            None if input > 0.0 || output > 0.0 => tracing::warn!(
                provider,
                model,
                input_per_mtok = input,
                output_per_mtok = output,
                context_window,
                "model not in the provider table: using the provider's default context window and prices; set providers.{provider}.models.\"{model}\" in your config to correct them"
            ),
            None => {}
        }
        let pricing = Pricing {
            input_per_mtok: input,
            output_per_mtok: output,
            cached_input_per_mtok: cached,
        };
        (context_window, pricing)
    }
}

/// `--base-url` (checked), else the provider's.
fn resolve_base_url(p: &ProviderLayer, opts: &ModelOptions) -> Result<String, ModelError> {
    match &opts.base_url {
        Some(u) => {
            check_url(u).map_err(|e| ModelError::InvalidOption {
                option: "--base-url".into(),
                message: e.to_string(),
            })?;
            Ok(u.clone())
        }
        // merge_toml guarantees a base_url for every provider.
        None => Ok(p.base_url.clone().unwrap_or_default()),
    }
}

/// `--max-output-tokens` (positive), else the provider's setting.
fn resolve_output_limit(p: &ProviderLayer, opts: &ModelOptions) -> Result<OutputLimit, ModelError> {
    match opts.max_output_tokens {
        Some(0) => Err(ModelError::InvalidOption {
            option: "--max-output-tokens".into(),
            message: "must be a positive number of tokens".into(),
        }),
        Some(n) => Ok(OutputLimit::Fixed(n)),
        // merge_toml checked the setting.
        None => Ok(p
            .max_output_tokens
            .as_ref()
            .and_then(|m| m.limit().ok())
            .unwrap_or_default()),
    }
}

/// Where the API key comes from and whether one is needed.
struct KeySource {
    env_key: Option<String>,
    required: bool,
    /// The variable was named by `--api-key-env` (then the key is required).
    from_option: bool,
}

impl KeySource {
    /// `--api-key-env` when given, else the provider's `env_key` (default `<PROVIDER>_API_KEY`),
    /// required unless the table says otherwise or the server is on this machine.
    fn of(p: &ProviderLayer, provider: &str, base_url: &str, opts: &ModelOptions) -> KeySource {
        match &opts.api_key_env {
            Some(v) if !v.trim().is_empty() => KeySource {
                env_key: Some(v.trim().to_owned()),
                required: true,
                from_option: true,
            },
            _ => KeySource {
                env_key: Some(
                    p.env_key
                        .clone()
                        .unwrap_or_else(|| default_env_key(provider)),
                ),
                required: p.key_required.unwrap_or_else(|| !is_loopback_url(base_url)),
                from_option: false,
            },
        }
    }
}

/// Exact name, else the longest listed name that `model` extends with a
/// `-`, `:` or `@` suffix (dated snapshots, tags).
fn lookup_model<'a>(
    models: &'a BTreeMap<String, ModelLayer>,
    model: &str,
) -> Option<(&'a str, &'a ModelLayer)> {
    if let Some((k, v)) = models.get_key_value(model) {
        return Some((k.as_str(), v));
    }
    models
        .iter()
        .filter(|(k, _)| {
            model.len() > k.len()
                && model.starts_with(k.as_str())
                && matches!(model.as_bytes()[k.len()], b'-' | b':' | b'@')
        })
        .max_by_key(|(k, _)| k.len())
        .map(|(k, v)| (k.as_str(), v))
}

fn parse_config(text: &str, origin: &Path) -> Result<ConfigFile, ModelError> {
    let cfg_err = |message: String| ModelError::Config {
        path: origin.to_owned(),
        message,
    };
    optagent_toml::from_toml::<ConfigFile>(text).map_err(|e| {
        let at = e.line.map(|l| format!(" (line {l})")).unwrap_or_default();
        cfg_err(if e.field == optagent_toml::SYNTAX {
            format!("invalid TOML{at}: {}", e.message)
        } else if e.has_field() {
            format!("`{}`{at}: {}", e.field, e.message)
        } else {
            format!("{}{at}", e.message)
        })
    })
}

fn user_config_path(opts: &ModelOptions) -> Result<Option<PathBuf>, ModelError> {
    let explicit = opts.config_path.clone().or_else(|| {
        std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(p) = explicit {
        if !p.is_file() {
            return Err(ModelError::Config {
                path: p,
                message: "not found (given by --config or $OPTAGENT_CONFIG)".into(),
            });
        }
        return Ok(Some(p));
    }
    if opts.ignore_user_config {
        return Ok(None);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        });
    Ok(base
        .map(|b| b.join("optagent").join("config.toml"))
        .filter(|p| p.is_file()))
}

// ------------------------------------------------------------------ resolved

/// A provider spec resolved against the table and options: everything needed
/// to build a client except the key itself.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// Id, context window, pricing.
    pub info: ModelInfo,
    /// API root; `/chat/completions` is appended.
    pub base_url: String,
    /// Variable holding the key.
    pub env_key: Option<String>,
    /// Whether a missing key is an error.
    pub key_required: bool,
    /// Whether `env_key` came from `--api-key-env`.
    pub env_key_from_option: bool,
    /// Per-attempt request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Wire name of the output token limit.
    pub max_tokens_field: MaxTokensField,
    /// Extra headers for every request.
    pub headers: BTreeMap<String, String>,
}

impl ResolvedModel {
    /// The key: `opts.api_key`, else the (non-empty) variable `env_key`.
    /// `Ok(None)` when neither is there and the key is optional.
    pub fn api_key(&self, opts: &ModelOptions) -> Result<Option<ApiKey>, ModelError> {
        if let Some(k) = &opts.api_key {
            return Ok(Some(k.clone()));
        }
        let from_env = self
            .env_key
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .filter(|k| !k.trim().is_empty())
            .map(ApiKey::new);
        match from_env {
            Some(k) => Ok(Some(k)),
            None if self.key_required => Err(ModelError::MissingApiKey {
                var: self
                    .env_key
                    .clone()
                    .unwrap_or_else(|| default_env_key(&self.info.provider)),
                provider: self.info.provider.clone(),
                from_option: self.env_key_from_option,
            }),
            None => Ok(None),
        }
    }

    /// The retry policy for this model under `opts`.
    pub fn retry_policy(&self, opts: &ModelOptions) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base_delay: opts.retry_base_delay.unwrap_or(DEFAULT_BASE_DELAY),
            max_delay: opts.retry_max_delay.unwrap_or(DEFAULT_MAX_DELAY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hermetic() -> ModelOptions {
        ModelOptions {
            ignore_user_config: true,
            ..Default::default()
        }
    }

    #[test]
    fn builtin_table_has_the_documented_providers_and_each_resolves() {
        // A provider added to providers.toml needs no change here: every entry is resolved below.
        let r = ProviderRegistry::builtin();
        let names = r.provider_names();
        for p in [
            "anthropic",
            "deepseek",
            "llamacpp",
            "ollama",
            "openai",
            "openrouter",
            "vllm",
        ] {
            assert!(names.iter().any(|n| n == p), "{p} missing from {names:?}");
        }
        for name in r.provider_names() {
            let m = r.resolve(&format!("{name}/x"), &hermetic()).unwrap();
            assert!(m.base_url.starts_with("http"), "{name}");
            assert!(m.env_key.is_some(), "{name}");
        }
    }

    #[test]
    fn prefix_lookup_prefers_longest_entry() {
        let r = ProviderRegistry::builtin();
        let o = hermetic();
        let m = r.resolve("openai/gpt-4o-mini-2024-07-18", &o).unwrap();
        assert_eq!(m.info.pricing.input_per_mtok, 0.15);
        let m = r.resolve("openai/gpt-4o-2024-08-06", &o).unwrap();
        assert_eq!(m.info.pricing.input_per_mtok, 2.5);
        let m = r.resolve("anthropic/claude-sonnet-4-20250514", &o).unwrap();
        assert_eq!(m.info.pricing.output_per_mtok, 15.0);
        assert_eq!(m.info.context_window, 200_000);
        // "gpt-4oo" does not extend "gpt-4o" with a separator.
        assert!(lookup_model(&r.providers["openai"].models, "gpt-4oo").is_none());
    }

    #[test]
    fn local_providers_are_free_and_keyless() {
        let r = ProviderRegistry::builtin();
        for p in ["vllm", "llamacpp", "ollama"] {
            let m = r
                .resolve(&format!("{p}/qwen2.5-coder:32b"), &hermetic())
                .unwrap();
            assert_eq!(m.info.pricing, Pricing::default());
            assert!(!m.key_required);
        }
    }

    #[test]
    fn local_providers_ask_the_window_and_size_replies_hosted_ones_send_no_limit() {
        let r = ProviderRegistry::builtin();
        for p in ["vllm", "llamacpp", "ollama"] {
            let m = r.resolve(&format!("{p}/m"), &hermetic()).unwrap();
            assert_eq!(m.info.output_limit, OutputLimit::Window, "{p}");
            assert!(m.info.detect_window, "{p}");
        }
        let m = r.resolve("openai/gpt-4o", &hermetic()).unwrap();
        assert_eq!(m.info.output_limit, OutputLimit::Unset);
        assert!(!m.info.detect_window);
        // --context-window is believed: nothing is asked; --max-output-tokens wins.
        let o = ModelOptions {
            context_window: Some(4096),
            max_output_tokens: Some(512),
            ..hermetic()
        };
        let m = r.resolve("llamacpp/m", &o).unwrap();
        assert_eq!(m.info.context_window, 4096);
        assert!(!m.info.detect_window);
        assert_eq!(m.info.output_limit, OutputLimit::Fixed(512));
    }

    #[test]
    fn a_bad_max_output_tokens_names_the_field() {
        let mut r = ProviderRegistry::builtin();
        let e = r
            .merge_toml(
                "[providers.vllm]\nmax_output_tokens = \"lots\"\n",
                Path::new("c.toml"),
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("providers.vllm.max_output_tokens") && e.contains("lots"),
            "{e}"
        );
        r.merge_toml(
            "[providers.vllm]\nmax_output_tokens = 1000\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let m = r.resolve("vllm/m", &hermetic()).unwrap();
        assert_eq!(m.info.output_limit, OutputLimit::Fixed(1000));
    }

    #[test]
    fn default_env_key_is_derived() {
        assert_eq!(default_env_key("my-llm"), "MY_LLM_API_KEY");
    }
}
