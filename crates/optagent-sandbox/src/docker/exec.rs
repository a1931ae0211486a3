//! What one exec runs and what comes back: the command line (wrapper, `timeout`, `taskset`,
//! `env -i`), the container's environment, the capture of its output (capped, the wrapper's pid
//! line taken off), and the kill of its process group.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecOptions};
use bollard::Docker;

use super::engine::backend;
use super::CONTAINER_PATH;
use crate::{clip_output, command_env, ExecRequest, SandboxError};

/// Prints the group's pid, runs the command in the background under `timeout` (its own process
/// group, whose id is that pid), waits, then kills whatever of the group is left, like the local
/// backend does. `$1` is the timeout in seconds; the rest is the command line.
const WRAPPER: &str = r#"timeout -s KILL "$@" & p=$!; echo "$p"; wait "$p"; rc=$?; kill -9 "-$p" 2>/dev/null; exit "$rc""#;
/// Kills the process group `$1` (and the process itself).
/// (`kill -9 -PGID` is the one spelling dash, bash and busybox all take for a group.)
const KILLER: &str = r#"kill -9 "-$1" 2>/dev/null; kill -9 "$1" 2>/dev/null; true"#;

/// The environment a command gets in a container: [`command_env`] with the host-specific
/// locations set to the container's own unless the request sets them: PATH to
/// [`CONTAINER_PATH`], HOME and TMPDIR to `/tmp` (writable by any uid the command runs as).
pub fn container_env(req: &ExecRequest) -> BTreeMap<String, String> {
    let mut env = command_env(req);
    if !req.env.contains_key("PATH") {
        env.insert("PATH".into(), CONTAINER_PATH.into());
    }
    for k in ["HOME", "TMPDIR"] {
        if !req.env.contains_key(k) {
            env.insert(k.into(), "/tmp".into());
        }
    }
    env
}

/// A command run with a fresh `TMPDIR`, `HOME` and `XDG_CACHE_HOME` of its own, removed after.
pub(super) fn fresh_dirs_command(command: &str) -> String {
    format!(
        "d=$(mktemp -d /tmp/optagent-run.XXXXXX) || exit 125; \
         export TMPDIR=\"$d/tmp\" HOME=\"$d/home\" XDG_CACHE_HOME=\"$d/cache\"; \
         mkdir -p \"$TMPDIR\" \"$HOME\" \"$XDG_CACHE_HOME\"; \
         /bin/sh -c {}; rc=$?; rm -rf \"$d\"; exit $rc",
        shell_quote(command)
    )
}

pub(super) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The argv of the exec: the wrapper, `timeout`, `taskset` when asked, `env -i`, `sh -c`.
pub(super) fn exec_argv(req: &ExecRequest, env: &BTreeMap<String, String>) -> Vec<String> {
    // `timeout 0` would mean no limit.
    let secs = req.timeout.as_secs_f64().clamp(0.001, 1e9);
    let mut v: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        WRAPPER.into(),
        "optagent-exec".into(),
        format!("{secs:.3}"),
    ];
    if let Some(cpus) = req.cpus.as_ref().filter(|c| !c.is_empty()) {
        let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
        v.extend(["taskset".into(), "-c".into(), list.join(",")]);
    }
    v.extend(["env".into(), "-i".into()]);
    v.extend(env.iter().map(|(k, val)| format!("{k}={val}")));
    v.extend(["/bin/sh".into(), "-c".into(), req.command.clone()]);
    v
}

/// Output of one exec, capped like the local backend's, with the wrapper's pid line taken off.
pub(super) struct Capture {
    max: usize,
    pid_line: Vec<u8>,
    pub(super) pid: Option<i64>,
    prefix_done: bool,
    out: Vec<u8>,
    out_total: usize,
    err: Vec<u8>,
    err_total: usize,
}

impl Capture {
    pub(super) fn new(max: usize) -> Self {
        Capture {
            max,
            pid_line: Vec::new(),
            pid: None,
            prefix_done: false,
            out: Vec::new(),
            out_total: 0,
            err: Vec::new(),
            err_total: 0,
        }
    }

    fn keep(buf: &mut Vec<u8>, total: &mut usize, bytes: &[u8], max: usize) {
        *total += bytes.len();
        let room = (max + 4).saturating_sub(buf.len());
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    pub(super) fn stdout(&mut self, mut bytes: &[u8]) {
        if !self.prefix_done {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    self.pid_line.extend_from_slice(&bytes[..nl]);
                    self.pid = std::str::from_utf8(&self.pid_line)
                        .ok()
                        .and_then(|s| s.trim().parse().ok());
                    self.prefix_done = true;
                    bytes = &bytes[nl + 1..];
                }
                None if self.pid_line.len() + bytes.len() <= 32 => {
                    self.pid_line.extend_from_slice(bytes);
                    return;
                }
                None => {
                    // Not our line after all: give it back to the output.
                    self.prefix_done = true;
                    let line = std::mem::take(&mut self.pid_line);
                    Self::keep(&mut self.out, &mut self.out_total, &line, self.max);
                }
            }
        }
        Self::keep(&mut self.out, &mut self.out_total, bytes, self.max);
    }

    pub(super) fn stderr(&mut self, bytes: &[u8]) {
        Self::keep(&mut self.err, &mut self.err_total, bytes, self.max);
    }

    pub(super) fn finish(self) -> (String, String, usize) {
        let (stdout, d1) = clip_output(&self.out, self.max);
        let (stderr, d2) = clip_output(&self.err, self.max);
        let dropped = d1
            + d2
            + self.out_total.saturating_sub(self.out.len())
            + self.err_total.saturating_sub(self.err.len());
        (stdout, stderr, dropped)
    }
}

/// Kills an exec's process group when the exec future is dropped before it ends (the caller gave
/// up on it), so a cancelled command does not run on in the container.
pub(super) struct KillOnDrop {
    pub(super) docker: Docker,
    pub(super) container: String,
    pub(super) pid: Option<i64>,
    pub(super) armed: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (Some(pid), Ok(handle)) = (self.pid, tokio::runtime::Handle::try_current()) else {
            return;
        };
        let (docker, container) = (self.docker.clone(), self.container.clone());
        handle.spawn(async move {
            let _ = kill_group(&docker, &container, pid).await;
        });
    }
}

/// Kills the process group `pid` in the container through a second exec, as root.
pub(super) async fn kill_group(
    docker: &Docker,
    container: &str,
    pid: i64,
) -> Result<(), SandboxError> {
    let cfg = CreateExecOptions {
        cmd: Some(vec![
            "sh".to_string(),
            "-c".to_string(),
            KILLER.to_string(),
            "optagent-kill".to_string(),
            pid.to_string(),
        ]),
        user: Some("0:0".to_string()),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        ..Default::default()
    };
    let run = async {
        let created = docker
            .create_exec(container, cfg)
            .await
            .map_err(|e| backend("create kill exec", e))?;
        docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| backend("start kill exec", e))?;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap_or_else(|_| Err(SandboxError::Backend("docker: kill exec timed out".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_has_container_locations_and_no_host_secrets() {
        let req = ExecRequest::new("env")
            .env("OPENAI_API_KEY", "sk-x")
            .env("A", "1");
        let env = container_env(&req);
        assert_eq!(env["PATH"], CONTAINER_PATH);
        assert_eq!(env["HOME"], "/tmp");
        assert_eq!(env["A"], "1");
        assert!(!env.contains_key("OPENAI_API_KEY"));
        let req = ExecRequest::new("env").env("PATH", "/x:/usr/bin");
        assert_eq!(container_env(&req)["PATH"], "/x:/usr/bin");
    }

    #[test]
    fn argv_wraps_timeout_taskset_and_env() {
        let req = ExecRequest::new("echo hi")
            .timeout(Duration::from_millis(1500))
            .cpus(Some(vec![0, 2]));
        let env = BTreeMap::from([("A".to_string(), "1".to_string())]);
        let v = exec_argv(&req, &env);
        assert_eq!(&v[..2], ["sh", "-c"]);
        assert_eq!(
            &v[3..],
            [
                "optagent-exec",
                "1.500",
                "taskset",
                "-c",
                "0,2",
                "env",
                "-i",
                "A=1",
                "/bin/sh",
                "-c",
                "echo hi"
            ]
        );
        let zero = exec_argv(&ExecRequest::new("x").timeout(Duration::ZERO), &env);
        assert_eq!(zero[4], "0.001");
    }

    #[test]
    fn capture_takes_off_the_pid_line_across_frames() {
        let mut c = Capture::new(10);
        c.stdout(b"12");
        c.stdout(b"3\nhello ");
        c.stdout(b"world, and more");
        c.stderr(b"e");
        assert_eq!(c.pid, Some(123));
        let (out, err, dropped) = c.finish();
        assert_eq!(out, "hello worl");
        assert_eq!(err, "e");
        assert_eq!(dropped, "hello world, and more".len() - 10);
    }
}
