//! The local backend: commands run as child processes on this machine, each in its own process
//! group so that a timeout kills everything the command started.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::io::AsyncReadExt;

use crate::{
    clip_output, command_env, resolve_cwd, ExecOutput, ExecRequest, Sandbox, SandboxError,
};

/// Runs commands directly on the host, in the tree's folder, with a scrubbed environment.
#[derive(Debug, Clone)]
pub struct LocalSandbox {
    root: PathBuf,
}

impl LocalSandbox {
    pub fn new(root: PathBuf) -> Self {
        LocalSandbox { root }
    }
}

/// The command line actually spawned: pinned with `taskset` when CPUs are asked for and the tool
/// exists.
fn argv(req: &ExecRequest) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(cpus) = req.cpus.as_ref().filter(|c| !c.is_empty()) {
        if taskset_available() {
            let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
            v.extend(["taskset".to_string(), "-c".to_string(), list.join(",")]);
        }
    }
    v.extend(["sh".to_string(), "-c".to_string(), req.command.clone()]);
    v
}

fn taskset_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::process::Command::new("taskset")
            .arg("-p")
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
}

pub(crate) fn affinity_cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1))
            .collect(),
    }
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(mut r: R, max: usize) -> (Vec<u8>, usize) {
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut buf = [0u8; 16384];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                let room = (max + 4).saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, total)
}

pub(crate) fn kill_group(pid: u32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[async_trait]
impl Sandbox for LocalSandbox {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn root(&self) -> &Path {
        &self.root
    }

    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, SandboxError> {
        let argv = argv(req);
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(resolve_cwd(&self.root, req.cwd.as_deref()))
            .env_clear()
            .envs(command_env(req))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|source| SandboxError::Spawn {
            command: req.command.clone(),
            source,
        })?;
        let pid = child.id();
        let out = tokio::spawn(read_capped(
            child.stdout.take().expect("piped"),
            req.max_output,
        ));
        let err = tokio::spawn(read_capped(
            child.stderr.take().expect("piped"),
            req.max_output,
        ));
        let (status, timed_out) = match tokio::time::timeout(req.timeout, child.wait()).await {
            Ok(status) => (Some(status?), false),
            Err(_) => {
                if let Some(pid) = pid {
                    kill_group(pid);
                }
                let _ = child.wait().await;
                (None, true)
            }
        };
        let wall = start.elapsed();
        // Something that left the group may still hold the pipes: never wait on it for long.
        if let Some(pid) = pid {
            kill_group(pid);
        }
        let grace = Duration::from_secs(2);
        let (out, out_total) = tokio::time::timeout(grace, out)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        let (err, err_total) = tokio::time::timeout(grace, err)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        let (stdout, d1) = clip_output(&out, req.max_output);
        let (stderr, d2) = clip_output(&err, req.max_output);
        let dropped =
            d1 + d2 + out_total.saturating_sub(out.len()) + err_total.saturating_sub(err.len());
        Ok(ExecOutput {
            exit_code: status.and_then(|s| s.code()),
            timed_out,
            stdout,
            stderr,
            dropped_bytes: dropped,
            wall,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb() -> (tempfile::TempDir, LocalSandbox) {
        let d = tempfile::tempdir().unwrap();
        let s = LocalSandbox::new(d.path().to_path_buf());
        (d, s)
    }

    #[tokio::test]
    async fn runs_in_root_with_exit_code() {
        let (d, s) = sb();
        std::fs::write(d.path().join("f.txt"), "hello").unwrap();
        let o = s
            .exec(&ExecRequest::new("cat f.txt; exit 3"))
            .await
            .unwrap();
        assert_eq!(o.stdout, "hello");
        assert_eq!(o.exit_code, Some(3));
        assert!(!o.success());
    }

    /// Whether process `pid` is gone (or a zombie waiting to be reaped: dead all the same).
    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            // The state follows the command name in parentheses.
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        }
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let (d, s) = sb();
        // The background sleeper writes its pid; it must die with the command.
        let req = ExecRequest::new("sleep 30 & echo $! > bg.pid; sleep 30; echo never")
            .timeout(Duration::from_millis(300));
        let t = Instant::now();
        let o = s.exec(&req).await.unwrap();
        assert!(o.timed_out);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
        assert!(!o.stdout.contains("never"));
        let bg: u32 = std::fs::read_to_string(d.path().join("bg.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let t = Instant::now();
        while !gone(bg) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(bg), "the background child {bg} outlived the timeout");
    }

    #[tokio::test]
    async fn a_finished_commands_background_child_is_killed() {
        let (d, s) = sb();
        let o = s
            .exec(&ExecRequest::new(
                "sleep 30 & echo $! > bg.pid; echo started",
            ))
            .await
            .unwrap();
        assert!(o.success() && !o.timed_out, "{o:?}");
        let bg: u32 = std::fs::read_to_string(d.path().join("bg.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let t = Instant::now();
        while !gone(bg) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(bg), "the background child {bg} outlived its command");
    }

    #[tokio::test]
    async fn host_secrets_never_reach_the_command() {
        let (_d, s) = sb();
        // The process env of the test runner is not inherited, and secret-looking request vars are dropped.
        let req = ExecRequest::new("env")
            .env("OPENAI_API_KEY", "sk-should-not-pass")
            .env("MY_SETTING", "visible");
        let o = s.exec(&req).await.unwrap();
        assert!(!o.stdout.contains("sk-should-not-pass"));
        assert!(o.stdout.contains("MY_SETTING=visible"));
        assert!(
            !o.stdout.contains("CARGO_"),
            "host env leaked: {}",
            o.stdout
        );
    }

    #[tokio::test]
    async fn output_is_capped_and_counted() {
        let (_d, s) = sb();
        let req = ExecRequest::new("head -c 100000 /dev/zero | tr '\\0' a").max_output(1000);
        let o = s.exec(&req).await.unwrap();
        assert_eq!(o.stdout.len(), 1000);
        assert_eq!(o.dropped_bytes, 99000);
    }
}
