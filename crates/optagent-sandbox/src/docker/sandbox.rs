//! One container bound to one host tree, and how a command runs in it: one `docker exec` per
//! command, measured runs in the tree's measuring container.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::Docker;
use futures::{Stream, StreamExt};

use super::cleanup::{remove, remove_blocking, unregister};
use super::engine::backend;
use super::exec::{container_env, exec_argv, fresh_dirs_command, kill_group, Capture, KillOnDrop};
use super::factory::DockerFactory;
use super::measure::{clear_dir, measured_command, parse_rusage, MeasurePlan, Measurer};
use super::GUARD;
use crate::{resolve_cwd, ExecOutput, ExecRequest, IsolationReport, Sandbox, SandboxError};

/// One container bound to one host tree. Removed by [`Sandbox::close`], or on drop.
#[derive(Debug)]
pub struct DockerSandbox {
    pub(super) docker: Docker,
    pub(super) host: String,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) root: PathBuf,
    pub(super) user: String,
    pub(super) run: String,
    pub(super) closed: AtomicBool,
    /// The factory, for the measuring container.
    pub(super) factory: DockerFactory,
    /// The measuring container, started on the first run that asks for a read-only tree.
    pub(super) measurer: tokio::sync::Mutex<Option<Measurer>>,
}

/// The output stream of an attached exec.
type ExecStream = Pin<Box<dyn Stream<Item = Result<LogOutput, DockerError>> + Send>>;

/// The sandbox's measuring container, held for one run.
type MeasurerSlot<'a> = tokio::sync::MutexGuard<'a, Option<Measurer>>;

/// What one exec gave: its captured output, exit code (`None` on a timeout) and wall time.
struct Ran {
    cap: Capture,
    exit_code: Option<i64>,
    timed_out: bool,
    wall: Duration,
}

/// The command an isolated request runs: under the rusage helper in the measuring container
/// (`rusage`: the report file and the image's Python), or with fresh temporary folders in the
/// tree's container; any other request as it is.
fn isolated_request<'r>(
    req: &'r ExecRequest,
    rusage: Option<&(PathBuf, Option<String>)>,
) -> Cow<'r, ExecRequest> {
    match (&req.isolation, rusage) {
        (Some(_), Some((file, python))) => {
            let mut r = req.clone();
            r.command = measured_command(&req.command, file, python.as_deref());
            Cow::Owned(r)
        }
        (Some(iso), None) if iso.fresh_dirs => {
            let mut r = req.clone();
            r.command = fresh_dirs_command(&req.command);
            Cow::Owned(r)
        }
        _ => Cow::Borrowed(req),
    }
}

impl DockerSandbox {
    /// The container's id.
    pub fn container_id(&self) -> &str {
        &self.id
    }
    /// The container's name (`optagent-<run>-<pid>-<n>-<nonce>`).
    pub fn container_name(&self) -> &str {
        &self.name
    }
    /// The `uid:gid` commands run as.
    pub fn user(&self) -> &str {
        &self.user
    }
    /// The run id in the container's `optagent.run` label.
    pub fn run_id(&self) -> &str {
        &self.run
    }
    /// The engine client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The request's working folder inside the container (the same path as on the host), which
    /// must be a folder: the same error as the local backend's for a missing one.
    fn checked_cwd(&self, req: &ExecRequest) -> Result<String, SandboxError> {
        let cwd = resolve_cwd(&self.root, req.cwd.as_deref());
        if let Err(source) = std::fs::metadata(&cwd).and_then(|m| {
            if m.is_dir() {
                Ok(())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    format!("{} is not a folder", cwd.display()),
                ))
            }
        }) {
            return Err(SandboxError::Spawn {
                command: req.command.clone(),
                source,
            });
        }
        cwd.to_str()
            .map(str::to_string)
            .ok_or_else(|| SandboxError::Backend(format!("cwd {} is not UTF-8", cwd.display())))
    }

    /// For a run that asks for a read-only tree: the tree's measuring container (started, or
    /// replaced when the run's writable paths differ from its binds), held for the run, and the
    /// run's plan of writable binds. `None` for any other run.
    async fn measuring_container(
        &self,
        req: &ExecRequest,
    ) -> Result<Option<(MeasurerSlot<'_>, MeasurePlan)>, SandboxError> {
        let Some(iso) = req.isolation.as_ref().filter(|i| i.read_only_tree) else {
            return Ok(None);
        };
        let mut slot = self.measurer.lock().await;
        let plan = MeasurePlan::of(&self.root, &iso.writable);
        if slot.as_ref().is_none_or(|m| m.binds != plan.binds) {
            if let Some(old) = slot.take() {
                old.remove(&self.docker).await;
            }
            *slot = Some(
                Measurer::start(&self.factory, &self.root, &self.user, plan.binds.clone()).await?,
            );
        }
        Ok(Some((slot, plan)))
    }

    /// Creates and starts the exec of `req` in `container`, attached to its output.
    async fn start_exec(
        &self,
        container: &str,
        cwd: String,
        req: &ExecRequest,
    ) -> Result<(String, ExecStream, Instant), SandboxError> {
        let argv = exec_argv(req, &container_env(req));
        let created = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(argv),
                    user: Some(self.user.clone()),
                    working_dir: Some(cwd),
                    attach_stdin: Some(false),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| SandboxError::Spawn {
                command: req.command.clone(),
                source: std::io::Error::other(format!("docker exec create: {e}")),
            })?;
        // Wall time runs from the start request to the end of the output, as the local
        // backend's runs from spawn to exit; creating the exec and reading its exit code are
        // outside it (the round-trip is a few ms more than `wall`).
        let start = Instant::now();
        let started = self
            .docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: Some(64 * 1024),
                }),
            )
            .await
            .map_err(|e| SandboxError::Spawn {
                command: req.command.clone(),
                source: std::io::Error::other(format!("docker exec start: {e}")),
            })?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(backend("start exec", "not attached"));
        };
        drop(input);
        Ok((created.id, output, start))
    }

    /// Runs `req` in `container` to its end: its output read until the stream closes (or our
    /// guard deadline, [`GUARD`] past its timeout, kills its group), then its exit code.
    async fn run_exec(
        &self,
        container: &str,
        cwd: String,
        req: &ExecRequest,
    ) -> Result<Ran, SandboxError> {
        let (exec_id, mut output, start) = self.start_exec(container, cwd, req).await?;
        let mut cap = Capture::new(req.max_output);
        let mut guard = KillOnDrop {
            docker: self.docker.clone(),
            container: container.to_string(),
            pid: None,
            armed: true,
        };
        let deadline = req.timeout.saturating_add(GUARD);
        let read = tokio::time::timeout(deadline, async {
            while let Some(item) = output.next().await {
                match item {
                    Ok(LogOutput::StdOut { message }) => {
                        cap.stdout(&message);
                        if guard.pid.is_none() {
                            guard.pid = cap.pid;
                        }
                    }
                    Ok(LogOutput::StdErr { message }) => cap.stderr(&message),
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await;
        drop(output);

        let mut wall = start.elapsed();
        let (exit_code, timed_out) = match read {
            Ok(Ok(())) => {
                guard.armed = false;
                wall = start.elapsed();
                let code = self.exit_code(&exec_id).await?;
                // The in-container `timeout -s KILL` kills its own group, itself included: the
                // wrapper sees 137 (128 + SIGKILL), never before the deadline.
                let timed_out = code == Some(137) && wall >= req.timeout;
                (if timed_out { None } else { code }, timed_out)
            }
            Ok(Err(e)) => {
                // The stream broke (engine gone?): kill what may be left, then report.
                if let Some(pid) = cap.pid {
                    let _ = kill_group(&self.docker, container, pid).await;
                }
                guard.armed = false;
                return Err(backend("exec output", e));
            }
            Err(_) => {
                // Our guard deadline: the in-container timeout did not end it (something holds
                // the output open, or the engine is stuck). Kill the group ourselves.
                guard.armed = false;
                match cap.pid {
                    Some(pid) => {
                        if let Err(e) = kill_group(&self.docker, container, pid).await {
                            tracing::warn!(container = %container, error = %e, "killing a timed-out command failed");
                        }
                    }
                    None => tracing::warn!(container = %self.id, "timed-out command never started"),
                }
                (None, true)
            }
        };
        Ok(Ran {
            cap,
            exit_code,
            timed_out,
            wall,
        })
    }

    async fn exit_code(&self, exec_id: &str) -> Result<Option<i64>, SandboxError> {
        // The engine may record the exit a moment after the output stream ends.
        for _ in 0..100 {
            let info = self
                .docker
                .inspect_exec(exec_id)
                .await
                .map_err(|e| backend("inspect exec", e))?;
            if info.running != Some(true) {
                return Ok(info.exit_code);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(None)
    }
}

#[async_trait]
impl Sandbox for DockerSandbox {
    fn kind(&self) -> &'static str {
        "docker"
    }

    fn root(&self) -> &Path {
        &self.root
    }

    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, SandboxError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(SandboxError::Backend(format!(
                "docker: sandbox for {} is closed",
                self.root.display()
            )));
        }
        let cwd = self.checked_cwd(req)?;
        // Runs that ask for a read-only tree run in the tree's measuring container (see
        // [`Measurer`]): tree read-only, fresh tmpfs /tmp, CPU time from the rusage helper. Other
        // isolated runs get a fresh TMPDIR, HOME and cache folder in the tree's container; the
        // tree stays writable there, so the evaluator's check of the tree after each run is what
        // catches state left there.
        let measuring = self.measuring_container(req).await?;
        let rusage_file = measuring.as_ref().map(|(m, _)| {
            static N: AtomicU64 = AtomicU64::new(0);
            let m = m.as_ref().expect("started above");
            (
                m.rusage_dir
                    .join(format!("{}", N.fetch_add(1, Ordering::Relaxed))),
                m.python.clone(),
            )
        });
        let isolation = req.isolation.as_ref().map(|iso| IsolationReport {
            read_only_tree: measuring.is_some(),
            private_tmp: measuring.is_some(),
            fresh_dirs: iso.fresh_dirs,
            mechanism: "docker".into(),
        });
        let container = match &measuring {
            Some((m, _)) => m.as_ref().expect("started above").id.clone(),
            None => self.id.clone(),
        };
        let req = isolated_request(req, rusage_file.as_ref());
        let ran = self.run_exec(&container, cwd, &req).await?;
        let (stdout, stderr, dropped_bytes) = ran.cap.finish();
        let (mut cpu, mut switches) = (None, None);
        if let Some((file, _)) = &rusage_file {
            if let Some((c, sw)) = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| parse_rusage(&t))
            {
                cpu = Some(c);
                switches = Some(sw);
            }
        }
        if let Some((slot, plan)) = measuring {
            // Nothing a run leaves beside its own writable paths carries over to the next run.
            if let Some(m) = slot.as_ref() {
                clear_dir(&m.rusage_dir);
            }
            plan.clear_leftovers();
        }
        Ok(ExecOutput {
            exit_code: ran.exit_code.map(|c| c as i32),
            timed_out: ran.timed_out,
            stdout,
            stderr,
            dropped_bytes,
            wall: ran.wall,
            cpu,
            switches,
            isolation,
        })
    }

    async fn close(&self) -> Result<(), SandboxError> {
        if self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(m) = self.measurer.lock().await.take() {
            m.remove(&self.docker).await;
        }
        remove(&self.docker, &self.id).await?;
        self.closed.store(true, Ordering::SeqCst);
        unregister(&self.id);
        Ok(())
    }
}

impl Drop for DockerSandbox {
    fn drop(&mut self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::debug!(container = %self.id, "removing an unclosed container on drop");
        remove_blocking(&self.host, &self.id);
        if let Some(m) = self.measurer.get_mut().take() {
            remove_blocking(&self.host, &m.id);
            let _ = std::fs::remove_dir_all(&m.rusage_dir);
        }
    }
}
