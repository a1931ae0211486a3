//! The error type of this crate. No variant ever carries an API key: keys
//! are held in [`crate::ApiKey`] and redacted from provider messages.

use std::path::PathBuf;

/// Everything that can go wrong opening or calling a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The provider needs a key and the environment variable is unset or empty.
    #[error("{}", missing_key_message(var, provider, *from_option))]
    MissingApiKey {
        /// The variable that was read.
        var: String,
        /// The provider that needs it.
        provider: String,
        /// Whether the variable was named by `--api-key-env`.
        from_option: bool,
    },

    /// The spec names a provider that is neither built in nor configured.
    #[error("unknown provider `{name}` in model spec `{spec}`; known providers: {}", known.join(", "))]
    UnknownProvider {
        /// The provider name given.
        name: String,
        /// The whole spec.
        spec: String,
        /// Known provider names, sorted.
        known: Vec<String>,
    },

    /// The model spec is not `provider/model` or `replay:<path>`.
    #[error("invalid model spec `{spec}`: {reason}")]
    InvalidSpec {
        /// The spec given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A command-line override is invalid (e.g. `--base-url` is not a URL).
    #[error("invalid {option}: {message}")]
    InvalidOption {
        /// The option, e.g. `--base-url`.
        option: String,
        /// What is wrong with it.
        message: String,
    },

    /// A config file cannot be read, parsed, or has a bad field.
    #[error("config file {}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field when there is one.
        message: String,
    },

    /// The provider rejected the request with a non-retryable status (4xx
    /// other than 408/429). Not retried.
    #[error("{provider} rejected the request with HTTP {status}: {message}")]
    Api {
        /// Provider name.
        provider: String,
        /// HTTP status code.
        status: u16,
        /// The provider's error message (API key redacted).
        message: String,
    },

    /// The request did not fit the model's context window (llama.cpp's
    /// `exceed_context_size_error`, OpenAI's `context_length_exceeded`, vLLM's "maximum context
    /// length"). Not retried as is: the caller shortens the conversation and calls again.
    #[error("{provider}: the request does not fit the context window (HTTP {status}): {message}")]
    ContextOverflow {
        /// Provider name.
        provider: String,
        /// HTTP status code.
        status: u16,
        /// The provider's message (API key redacted).
        message: String,
        /// The prompt's size in tokens, when the server said it.
        prompt_tokens: Option<u64>,
        /// The window in tokens, when the server said it.
        window: Option<u64>,
    },

    /// Every attempt failed with a retryable error.
    #[error("{provider}: giving up after {attempts} {}; last error: {last_error}", if *attempts == 1 { "attempt" } else { "attempts" })]
    RetriesExhausted {
        /// Provider name.
        provider: String,
        /// Attempts made (max_retries + 1).
        attempts: u32,
        /// HTTP status of the last attempt, if it got one.
        last_status: Option<u16>,
        /// Description of the last failure.
        last_error: String,
    },

    /// A non-retryable transport failure (e.g. an invalid URL).
    #[error("{provider}: request could not be sent: {message}")]
    Transport {
        /// Provider name.
        provider: String,
        /// Description.
        message: String,
    },

    /// The provider answered 200 with something that is not a usable chat
    /// completion (not JSON, no choices, wrong shape). Not retried here: the
    /// caller decides.
    #[error("{provider} sent an invalid chat completion: {message}")]
    InvalidResponse {
        /// Provider name.
        provider: String,
        /// What is wrong, with the start of the body.
        message: String,
    },

    /// The replay provider has returned every recorded response.
    #[error("replay exhausted after {count} responses from {}", path.display())]
    ReplayExhausted {
        /// Responses returned.
        count: usize,
        /// The trajectory file.
        path: PathBuf,
    },

    /// The replay trajectory cannot be read or parsed.
    #[error("replay file {}: {message}", path.display())]
    Replay {
        /// The trajectory file.
        path: PathBuf,
        /// What is wrong (with the line number when relevant).
        message: String,
    },
}

impl ModelError {
    /// Whether retrying the same call later might succeed (rate limits,
    /// server errors and transport failures that exhausted their retries, or
    /// an invalid body from a flaky server). Configuration errors and 4xx
    /// rejections are not transient.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ModelError::RetriesExhausted { .. } | ModelError::InvalidResponse { .. }
        )
    }
}

fn missing_key_message(var: &str, provider: &str, from_option: bool) -> String {
    if from_option {
        format!("{var} is not set: export it (it was named by --api-key-env as the API key for provider `{provider}`)")
    } else {
        format!("{var} is not set: export it, or pass --api-key-env NAME to read the API key for provider `{provider}` from another variable")
    }
}
