//! Where commands run. Every command the evaluator, the agent's tools and the rollouts run goes
//! through [`Sandbox::exec`], so a run can move between the local backend and a container without
//! any caller knowing.
//!
//! A sandbox is bound to one tree: a host folder that is the workspace's root. File edits happen on
//! the host; commands see the same files (the Docker backend mounts the folder). Paths in an
//! [`ExecRequest`] are relative to that root, so they mean the same thing in every backend.
//!
//! The host's environment never reaches a command: each starts from [`base_env`] plus what the
//! request names, and [`is_secret_name`] keeps credentials out even when a caller passes them.
//! Nor can a local command read optagent's own environment from `/proc`: it runs in a separate
//! pid namespace under bubblewrap ([`bwrap`]) where available, and optagent makes itself
//! non-dumpable at start-up ([`protect_own_process`]).

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod bwrap;
pub mod docker;
mod local;
pub mod protect;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use docker::{DockerFactory, DockerOptions, DockerSandbox};
pub use local::{bwrap_available, LocalSandbox};
pub use protect::protect_own_process;

/// One command to run in the sandbox's tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRequest {
    /// A shell command line, run with `sh -c`.
    pub command: String,
    /// Working directory relative to the tree's root (`None`: the root).
    pub cwd: Option<String>,
    /// Extra environment on top of [`base_env`].
    pub env: BTreeMap<String, String>,
    /// Wall-clock limit; the whole process group is killed past it.
    pub timeout: Duration,
    /// CPUs to pin the command to, where the machine allows it.
    pub cpus: Option<Vec<usize>>,
    /// Bytes of stdout and of stderr kept (the rest is dropped, and counted).
    pub max_output: usize,
    /// Isolation of a measured run (the tree read-only, fresh temporary and home folders);
    /// `None` for ordinary commands (builds, tests, the agent's shell).
    #[serde(default)]
    pub isolation: Option<Isolation>,
}

/// What a measured run is isolated from, asked per request. A backend grants what it can and
/// says what it granted in [`ExecOutput::isolation`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// Mount the tree read-only for the command (local: bubblewrap when installed).
    pub read_only_tree: bool,
    /// Tree-relative folders or files left writable inside a read-only tree (they must exist).
    pub writable: Vec<String>,
    /// A fresh, empty `TMPDIR`, `HOME` and `XDG_CACHE_HOME` for this command alone, removed after.
    pub fresh_dirs: bool,
}

/// The isolation a backend actually gave one command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationReport {
    /// The tree was mounted read-only (except the writable paths asked for).
    pub read_only_tree: bool,
    /// `/tmp` was private to the command (a fresh tmpfs), not only `TMPDIR`.
    pub private_tmp: bool,
    /// `TMPDIR`, `HOME` and `XDG_CACHE_HOME` were fresh empty folders.
    pub fresh_dirs: bool,
    /// How: `bwrap`, `docker`, `none`.
    pub mechanism: String,
}

impl ExecRequest {
    /// A request with a 10-minute timeout and 1 MiB of output kept per stream.
    pub fn new(command: impl Into<String>) -> Self {
        ExecRequest {
            command: command.into(),
            cwd: None,
            env: BTreeMap::new(),
            timeout: Duration::from_secs(600),
            cpus: None,
            max_output: 1 << 20,
            isolation: None,
        }
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }
    pub fn envs(mut self, vars: &BTreeMap<String, String>) -> Self {
        self.env
            .extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }
    pub fn cpus(mut self, cpus: Option<Vec<usize>>) -> Self {
        self.cpus = cpus;
        self
    }
    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }
    pub fn isolation(mut self, isolation: Option<Isolation>) -> Self {
        self.isolation = isolation;
        self
    }
}

/// Context switches of a process tree, from its resource usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextSwitches {
    /// The process gave up the CPU (it waited for IO, a child, a lock, a device).
    pub voluntary: u64,
    /// The kernel took the CPU away (time slice over, another process ran).
    pub involuntary: u64,
}

/// What a command did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecOutput {
    /// Exit code; `None` when killed by a signal or on timeout.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    /// Bytes dropped beyond `max_output` (stdout + stderr).
    pub dropped_bytes: usize,
    /// Wall time from spawn to exit, seen by the backend.
    pub wall: Duration,
    /// CPU time (user + system) of the command's whole process tree, from the kernel's
    /// accounting of the waited process (`wait4`); `None` where the backend cannot measure it.
    #[serde(default)]
    pub cpu: Option<Duration>,
    /// Context switches of the waited process tree (`ru_nvcsw`, `ru_nivcsw`), where `cpu` is
    /// measured: many voluntary ones mean the process waited (IO, a GPU, a lock), involuntary
    /// ones that it was preempted (another process shared its core).
    #[serde(default)]
    pub switches: Option<ContextSwitches>,
    /// The isolation granted, when the request asked for some.
    #[serde(default)]
    pub isolation: Option<IsolationReport>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        !self.timed_out && self.exit_code == Some(0)
    }

    /// stderr and stdout together, the end of each kept, for error messages.
    pub fn tail(&self, max_chars: usize) -> String {
        let mut s = String::new();
        for part in [&self.stdout, &self.stderr] {
            let t = part.trim_end();
            if t.is_empty() {
                continue;
            }
            let start = t
                .char_indices()
                .rev()
                .nth(max_chars.saturating_sub(1))
                .map(|(i, _)| i)
                .unwrap_or(0);
            if !s.is_empty() {
                s.push('\n');
            }
            if start > 0 {
                s.push_str("...");
            }
            s.push_str(&t[start..]);
        }
        s
    }

    /// A one-line description of how the command ended.
    pub fn describe_exit(&self) -> String {
        if self.timed_out {
            format!("timed out after {:.1}s", self.wall.as_secs_f64())
        } else {
            match self.exit_code {
                Some(c) => format!("exit code {c}"),
                None => "killed by a signal".to_string(),
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sandbox backend error: {0}")]
    Backend(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A place bound to one tree where commands run.
#[async_trait]
pub trait Sandbox: Send + Sync + std::fmt::Debug {
    /// `local` or `docker`.
    fn kind(&self) -> &'static str;
    /// The tree's root on the host.
    fn root(&self) -> &Path;
    /// Run one command to completion (or its timeout).
    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, SandboxError>;
    /// Release what the sandbox holds (a container). Idempotent.
    async fn close(&self) -> Result<(), SandboxError> {
        Ok(())
    }
}

/// Makes sandboxes for trees: the choice of backend for a run.
#[async_trait]
pub trait SandboxFactory: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> &'static str;
    async fn open(&self, root: &Path) -> Result<Arc<dyn Sandbox>, SandboxError>;
    /// A sandbox for a task's setup step, with network access when the task allows it. The
    /// local backend has the host's network either way; the Docker one opens a separate
    /// container on the default bridge, to be closed once setup is done.
    async fn open_for_setup(
        &self,
        root: &Path,
        network: bool,
    ) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let _ = network;
        self.open(root).await
    }
    /// This factory, with `dirs` also visible to every command, read-only at the same paths (a
    /// task folder's scripts and data). The local backend sees the host's files already.
    fn with_ro_mounts(&self, dirs: &[PathBuf]) -> Arc<dyn SandboxFactory>;
}

/// The local backend's factory.
#[derive(Debug, Default, Clone)]
pub struct LocalFactory;

#[async_trait]
impl SandboxFactory for LocalFactory {
    fn kind(&self) -> &'static str {
        "local"
    }
    async fn open(&self, root: &Path) -> Result<Arc<dyn Sandbox>, SandboxError> {
        Ok(Arc::new(LocalSandbox::new(root.to_path_buf())))
    }
    fn with_ro_mounts(&self, _dirs: &[PathBuf]) -> Arc<dyn SandboxFactory> {
        Arc::new(self.clone())
    }
}

/// Variable names that look like credentials; never passed to a command. Matched by whole
/// words of the name (`OPENAI_API_KEY`, `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`), so that
/// `TOKENIZERS_PARALLELISM` or `OAUTHLIB_INSECURE_TRANSPORT` pass.
pub fn is_secret_name(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "KEY",
        "KEYS",
        "APIKEY",
        "TOKEN",
        "TOKENS",
        "SECRET",
        "SECRETS",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "CREDENTIALS",
        "AUTH",
    ];
    name.to_ascii_uppercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| WORDS.contains(&w))
}

/// The environment every command starts from: a fixed PATH-like minimum taken from the host
/// (PATH, HOME, LANG, TERM, TMPDIR, USER) and nothing else.
pub fn base_env() -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for k in ["PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER"] {
        if let Ok(v) = std::env::var(k) {
            env.insert(k.to_string(), v);
        }
    }
    env.entry("PATH".into())
        .or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".into());
    env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    env
}

/// The request's environment over the base one, with secret-looking names removed.
pub fn command_env(req: &ExecRequest) -> BTreeMap<String, String> {
    let mut env = base_env();
    for (k, v) in &req.env {
        if is_secret_name(k) {
            tracing::warn!(name = %k, "refusing to pass a secret-looking variable to a sandboxed command");
            continue;
        }
        env.insert(k.clone(), v.clone());
    }
    env
}

/// Resolve a request's working directory against a root.
pub fn resolve_cwd(root: &Path, cwd: Option<&str>) -> PathBuf {
    match cwd {
        Some(c) if !c.is_empty() => root.join(c),
        _ => root.to_path_buf(),
    }
}

/// Keeps at most `max` bytes of a stream, cut at a char boundary; returns the text and bytes dropped.
pub fn clip_output(bytes: &[u8], max: usize) -> (String, usize) {
    if bytes.len() <= max {
        return (String::from_utf8_lossy(bytes).into_owned(), 0);
    }
    let mut cut = max;
    while cut > 0 && (bytes[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    (
        String::from_utf8_lossy(&bytes[..cut]).into_owned(),
        bytes.len() - cut,
    )
}

/// The CPUs this process may run on (from its affinity mask), if the platform says.
pub fn available_cpus() -> Vec<usize> {
    local::affinity_cpus()
}

#[cfg(test)]
mod secret_name_tests {
    #[test]
    fn credentials_by_whole_word() {
        for n in [
            "OPENAI_API_KEY",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "hf_token",
            "X_AUTH",
        ] {
            assert!(super::is_secret_name(n), "{n}");
        }
        for n in [
            "TOKENIZERS_PARALLELISM",
            "OAUTHLIB_INSECURE_TRANSPORT",
            "PYTHONHASHSEED",
            "KEYBOARD",
            "MONKEY",
        ] {
            assert!(!super::is_secret_name(n), "{n}");
        }
    }
}
