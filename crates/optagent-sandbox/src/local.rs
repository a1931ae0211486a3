//! The local backend: commands run as child processes on this machine, each in its own process
//! group so that a timeout kills everything the command started.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{
    clip_output, command_env, resolve_cwd, ExecOutput, ExecRequest, IsolationReport, Sandbox,
    SandboxError,
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
/// exists, in a separate pid namespace (bubblewrap) where available and `pid_namespace` is asked,
/// so that the command cannot read optagent's environment from `/proc`.
///
/// Measured runs (an isolated request, already under [`bwrap_argv`]) do not get the pid
/// namespace: bubblewrap would not wait for the namespace's processes and the evaluator's CPU
/// clock (`wait4`) would lose them. What they print reaches the model only through the agent's
/// tools, whose output is redacted, and optagent itself is non-dumpable.
fn argv(req: &ExecRequest, pid_namespace: bool) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(cpus) = req.cpus.as_ref().filter(|c| !c.is_empty()) {
        if taskset_available() {
            let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
            v.extend(["taskset".to_string(), "-c".to_string(), list.join(",")]);
        }
    }
    v.extend(["sh".to_string(), "-c".to_string(), req.command.clone()]);
    if pid_namespace && crate::bwrap::available() {
        let opts = crate::bwrap::BwrapOptions {
            unshare_pid: true,
            ..Default::default()
        };
        return crate::bwrap::wrap(v, &opts);
    }
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

fn read_capped<R: std::io::Read>(mut r: R, max: usize) -> (Vec<u8>, usize) {
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut buf = [0u8; 16384];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
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
        let cwd = resolve_cwd(&self.root, req.cwd.as_deref());
        let mut env = command_env(req);
        // A fresh scratch folder per isolated run: TMPDIR, HOME and the cache folder inside it.
        let scratch = match &req.isolation {
            Some(iso) if iso.fresh_dirs => Some(Scratch::new()?),
            _ => None,
        };
        let bwrap = req
            .isolation
            .as_ref()
            .filter(|i| i.read_only_tree || i.fresh_dirs)
            .filter(|_| bwrap_available());
        let mut report = req.isolation.as_ref().map(|_| IsolationReport {
            mechanism: "none".into(),
            ..Default::default()
        });
        if let Some(s) = &scratch {
            for (k, v) in s.env() {
                env.insert(k.into(), v);
            }
            if let Some(r) = report.as_mut() {
                r.fresh_dirs = true;
            }
        }
        let mut argv = Vec::new();
        if let Some(iso) = bwrap {
            // The task folder (scripts and data outside the tree) stays visible, read-only, even
            // where it lies under the private /tmp.
            let task_dir: Vec<PathBuf> = req
                .env
                .get("OPTAGENT_TASK_DIR")
                .map(PathBuf::from)
                .filter(|p| p.is_dir())
                .into_iter()
                .collect();
            argv = bwrap_argv(&self.root, &cwd, iso, scratch.as_ref(), &task_dir)?;
            if let Some(r) = report.as_mut() {
                r.read_only_tree = iso.read_only_tree;
                r.private_tmp = true;
                r.mechanism = "bwrap".into();
            }
        }
        argv.extend(self::argv(req, bwrap.is_none()));
        let mut cmd = std::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&cwd)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|source| SandboxError::Spawn {
            command: req.command.clone(),
            source,
        })?;
        let pid = child.id();
        // Killed with its group if this future is dropped before the command ends.
        let mut guard = KillGroupOnDrop(Some(pid));
        let max = req.max_output;
        let out = child
            .stdout
            .take()
            .map(|r| tokio::task::spawn_blocking(move || read_capped(r, max)));
        let err = child
            .stderr
            .take()
            .map(|r| tokio::task::spawn_blocking(move || read_capped(r, max)));
        // Reaped by `wait4` (not `Child::wait`), which also gives the tree's CPU time.
        drop(child);
        let mut waiter = tokio::task::spawn_blocking(move || {
            let r = rusage::wait4(pid as i32);
            (r, start.elapsed())
        });
        let (waited, timed_out) = match tokio::time::timeout(req.timeout, &mut waiter).await {
            Ok(r) => (r, false),
            Err(_) => {
                kill_group(pid);
                (waiter.await, true)
            }
        };
        let (waited, wall) = waited.map_err(|e| SandboxError::Backend(format!("waiting: {e}")))?;
        let (status, cpu, switches) = waited?;
        // Something that left the group may still hold the pipes: never wait on it for long.
        kill_group(pid);
        guard.0 = None;
        let grace = Duration::from_secs(2);
        let (out, out_total) = collect(out, grace).await;
        let (err, err_total) = collect(err, grace).await;
        let (stdout, d1) = clip_output(&out, req.max_output);
        let (stderr, d2) = clip_output(&err, req.max_output);
        let dropped =
            d1 + d2 + out_total.saturating_sub(out.len()) + err_total.saturating_sub(err.len());
        drop(scratch);
        Ok(ExecOutput {
            exit_code: if timed_out { None } else { status.code() },
            timed_out,
            stdout,
            stderr,
            dropped_bytes: dropped,
            wall,
            cpu: Some(cpu),
            switches: Some(switches),
            isolation: report,
        })
    }
}

/// What a stream reader kept, waiting at most `grace` for it.
async fn collect(
    h: Option<tokio::task::JoinHandle<(Vec<u8>, usize)>>,
    grace: Duration,
) -> (Vec<u8>, usize) {
    match h {
        Some(h) => tokio::time::timeout(grace, h)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default(),
        None => Default::default(),
    }
}

/// Kills a process group when dropped, unless disarmed.
struct KillGroupOnDrop(Option<u32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            kill_group(pid);
        }
    }
}

/// A fresh folder for one isolated run, removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Result<Self, SandboxError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "optagent-run-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["tmp", "home", "cache"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Scratch { dir })
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let p = |s: &str| self.dir.join(s).to_string_lossy().into_owned();
        vec![
            ("TMPDIR", p("tmp")),
            ("HOME", p("home")),
            ("XDG_CACHE_HOME", p("cache")),
        ]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether bubblewrap is installed and can make a sandbox here (user namespaces allowed).
pub fn bwrap_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::process::Command::new("bwrap")
            .args(["--ro-bind", "/", "/", "--dev", "/dev", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
}

/// bubblewrap's arguments for an isolated run: the whole file system read-only, a private `/tmp`,
/// the tree read-only (or writable when not asked otherwise), the writable
/// paths and the scratch folder bound read-write.
fn bwrap_argv(
    root: &Path,
    cwd: &Path,
    iso: &crate::Isolation,
    scratch: Option<&Scratch>,
    read_only: &[PathBuf],
) -> Result<Vec<String>, SandboxError> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let root = root.canonicalize()?;
    let mut v: Vec<String> = [
        "bwrap",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/var/tmp",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    // `--dev` makes a minimal /dev without the GPU's device nodes: CUDA would find no device.
    v.extend(gpu_device_binds(Path::new("/dev")));
    let tree_bind = if iso.read_only_tree {
        "--ro-bind"
    } else {
        "--bind"
    };
    for p in read_only {
        let p = p.canonicalize()?;
        v.extend(["--ro-bind".into(), s(&p), s(&p)]);
    }
    v.extend([tree_bind.into(), s(&root), s(&root)]);
    if iso.read_only_tree {
        for w in &iso.writable {
            let p = root.join(w);
            if p.exists() {
                v.extend(["--bind".into(), s(&p), s(&p)]);
            }
        }
    }
    if let Some(sc) = scratch {
        v.extend(["--bind".into(), s(&sc.dir), s(&sc.dir)]);
    }
    // A measured run gets no network and no System V IPC of its own: a process left behind by
    // an earlier run (one that left its process group) cannot hand it anything over a socket
    // (abstract Unix sockets are per network namespace) or shared memory.
    if iso.read_only_tree {
        v.extend(["--unshare-net".into(), "--unshare-ipc".into()]);
    }
    // No `--unshare-pid`: bubblewrap would not wait for the namespace's first process, and the
    // CPU time of the tree (from `wait4`) would be lost. The run's process group is killed after
    // it, and `--die-with-parent` ends it with bubblewrap.
    v.extend(["--chdir".into(), s(cwd), "--".into()]);
    Ok(v)
}

/// `--dev-bind` arguments for the NVIDIA device nodes under `dev` (`nvidia0`..., `nvidiactl`,
/// `nvidia-uvm`, `nvidia-uvm-tools`, `nvidia-modeset`, the `nvidia-caps` folder MIG uses), in
/// name order; none where there are none (no GPU, or no NVIDIA driver).
fn gpu_device_binds(dev: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dev)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("nvidia"))
        .collect();
    names.sort();
    names
        .into_iter()
        .flat_map(|n| {
            let p = dev.join(n).to_string_lossy().into_owned();
            ["--dev-bind".to_string(), p.clone(), p]
        })
        .collect()
}

/// The one call outside safe Rust: `wait4`, which reaps a child and returns its resource usage
/// (CPU time of it and of every descendant it waited for), which `std` does not expose.
#[allow(unsafe_code)]
mod rusage {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::time::Duration;

    pub fn wait4(pid: i32) -> std::io::Result<(ExitStatus, Duration, crate::ContextSwitches)> {
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: both pointers are to live locals of the right types for the call.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            if r == -1 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec.max(0) as u64)
                    + Duration::from_micros(t.tv_usec.max(0) as u64)
            };
            return Ok((
                ExitStatus::from_raw(status),
                tv(ru.ru_utime) + tv(ru.ru_stime),
                crate::ContextSwitches {
                    voluntary: ru.ru_nvcsw.max(0) as u64,
                    involuntary: ru.ru_nivcsw.max(0) as u64,
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_device_nodes_are_bound_into_the_sandbox() {
        let d = tempfile::tempdir().unwrap();
        for f in ["null", "nvidia0", "nvidiactl", "nvidia-uvm", "tty"] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        std::fs::create_dir(d.path().join("nvidia-caps")).unwrap();
        let p = |n: &str| d.path().join(n).to_string_lossy().into_owned();
        let got = gpu_device_binds(d.path());
        let want: Vec<String> = ["nvidia-caps", "nvidia-uvm", "nvidia0", "nvidiactl"]
            .iter()
            .flat_map(|n| ["--dev-bind".to_string(), p(n), p(n)])
            .collect();
        assert_eq!(got, want);
        assert!(gpu_device_binds(&d.path().join("absent")).is_empty());
        // The real argv binds them after `--dev /dev` (a later mount wins in bubblewrap).
        let root = tempfile::tempdir().unwrap();
        let argv = bwrap_argv(
            root.path(),
            root.path(),
            &crate::Isolation::default(),
            None,
            &[],
        )
        .unwrap();
        let dev = argv.iter().position(|a| a == "--dev").unwrap();
        for (i, a) in argv.iter().enumerate() {
            if a == "--dev-bind" {
                assert!(
                    i > dev && argv[i + 1].starts_with("/dev/nvidia"),
                    "{argv:?}"
                );
            }
        }
    }

    /// With a GPU and bubblewrap, CUDA's device nodes are reachable inside the sandbox.
    #[tokio::test]
    async fn a_gpu_is_visible_inside_bubblewrap() {
        let test = "a_gpu_is_visible_inside_bubblewrap";
        if !Path::new("/dev/nvidiactl").exists() {
            optagent_testkit::skip(test, "no NVIDIA GPU here (/dev/nvidiactl is absent)");
            return;
        }
        if !bwrap_available() {
            optagent_testkit::skip(test, "bubblewrap is not installed or cannot run here");
            return;
        }
        let (_d, s) = sb();
        // An isolated (measured) request: the one that runs under `bwrap_argv`.
        let req = ExecRequest::new("ls /dev/nvidiactl && (nvidia-smi -L || true)").isolation(Some(
            crate::Isolation {
                read_only_tree: true,
                writable: vec![],
                fresh_dirs: true,
            },
        ));
        let o = s.exec(&req).await.unwrap();
        assert!(o.success(), "{o:?}");
        assert_eq!(o.isolation.as_ref().unwrap().mechanism, "bwrap", "{o:?}");
        assert!(o.stdout.contains("/dev/nvidiactl"), "{o:?}");
    }

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

    /// Whether a background child that the command left, which writes `late.txt` one second
    /// after it starts, wrote it within three seconds (pids are not compared: a command may run
    /// in its own pid namespace, where `$!` means nothing to the host).
    fn background_child_wrote(dir: &std::path::Path) -> bool {
        std::thread::sleep(Duration::from_secs(3));
        dir.join("late.txt").exists()
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let (d, s) = sb();
        // The background child must die with the command, before it can write.
        let req = ExecRequest::new("(sleep 1; echo alive > late.txt) & sleep 30; echo never")
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
        assert!(
            !background_child_wrote(d.path()),
            "the background child outlived the timeout"
        );
    }

    #[tokio::test]
    async fn a_finished_commands_background_child_is_killed() {
        let (d, s) = sb();
        let o = s
            .exec(&ExecRequest::new(
                "(sleep 1; echo alive > late.txt) & echo started",
            ))
            .await
            .unwrap();
        assert!(o.success() && !o.timed_out, "{o:?}");
        assert!(
            !background_child_wrote(d.path()),
            "the background child outlived its command"
        );
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
    async fn cpu_time_of_the_process_tree_is_measured() {
        let (_d, s) = sb();
        // A measured run (isolated, as the evaluator asks): the work is in a grandchild, the
        // shell waits for it, and wait4 counts it. (Other commands may run in a pid namespace,
        // whose CPU time is not the evaluator's concern.)
        let o = s
            .exec(
                &ExecRequest::new("sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'")
                    .isolation(Some(crate::Isolation {
                        read_only_tree: false,
                        writable: vec![],
                        fresh_dirs: true,
                    })),
            )
            .await
            .unwrap();
        assert!(o.success(), "{o:?}");
        let cpu = o.cpu.expect("the local backend measures CPU time");
        assert!(cpu > Duration::from_millis(20), "cpu {cpu:?}");
        assert!(o.isolation.as_ref().is_some_and(|i| i.fresh_dirs));
    }

    #[tokio::test]
    #[allow(clippy::print_stderr)] // the SKIP line the CI's skip summary reads
    async fn an_isolated_run_cannot_write_the_tree_but_may_write_its_writable_paths() {
        if !bwrap_available() {
            optagent_testkit::skip(
                "an_isolated_run_cannot_write_the_tree_but_may_write_its_writable_paths",
                "bubblewrap (bwrap) is not installed or cannot make a sandbox here",
            );
            return;
        }
        let (d, s) = sb();
        std::fs::create_dir_all(d.path().join("out")).unwrap();
        let req = ExecRequest::new(
            "echo x > in-tree.txt; echo y > out/ok.txt; echo z > \"$TMPDIR/t\"; echo $HOME",
        )
        .isolation(Some(crate::Isolation {
            read_only_tree: true,
            writable: vec!["out".into()],
            fresh_dirs: true,
        }));
        let o = s.exec(&req).await.unwrap();
        let iso = o.isolation.clone().expect("isolation reported");
        assert!(
            iso.read_only_tree && iso.private_tmp && iso.fresh_dirs,
            "{iso:?}"
        );
        assert_eq!(iso.mechanism, "bwrap");
        assert!(!d.path().join("in-tree.txt").exists(), "{o:?}");
        assert_eq!(
            std::fs::read_to_string(d.path().join("out/ok.txt")).unwrap(),
            "y\n"
        );
        // The fresh HOME is gone after the run.
        let home = o.stdout.trim();
        assert!(home.contains("optagent-run-"), "{home}");
        assert!(!std::path::Path::new(home).exists());
    }

    #[tokio::test]
    #[allow(clippy::print_stderr)] // the SKIP line the CI summary counts
    async fn a_command_cannot_read_optagents_environment_from_proc() {
        let (_d, s) = sb();
        // This test process stands in for optagent: a variable only it holds.
        std::env::set_var("OPTAGENT_TEST_PROC_SCAN_TOKEN", "proc-scan-secret-value-42");
        let o = s
            .exec(&ExecRequest::new(
                "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c proc-scan-secret; true",
            ))
            .await
            .unwrap();
        if crate::bwrap::available() {
            assert_eq!(o.stdout.trim(), "0", "{o:?}");
        } else {
            optagent_testkit::skip(
                "a_command_cannot_read_optagents_environment_from_proc",
                "bwrap is missing; only PR_SET_DUMPABLE protects optagent here",
            );
        }
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
