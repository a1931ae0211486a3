//! The measuring container of a tree: measured runs (those that ask for a read-only tree) run
//! there, with the tree read-only but for their writable paths, a fresh tmpfs `/tmp`, and their
//! CPU time from a small rusage helper (`docker exec` reports none of its own).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::Docker;
use futures::StreamExt;

use super::cleanup::{remove, unregister};
use super::exec::shell_quote;
use super::factory::DockerFactory;
use super::CONTAINER_PATH;
use crate::SandboxError;

/// Mount point, in a measuring container, of the host folder the rusage helper writes to.
pub const RUSAGE_MOUNT: &str = "/optagent-rusage";

/// Runs `argv[2:]` as a child, waits for it with `wait4`, writes the child tree's CPU seconds
/// (user, system) and context switches (voluntary, involuntary) to `argv[1]`, and exits with the
/// child's status (128 + signal when killed). `docker exec` gives no resource usage of its own.
const RUSAGE_HELPER: &str = r#"import os, sys
p = os.fork()
if p == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
while True:
    try:
        _, s, r = os.wait4(p, 0)
        break
    except InterruptedError:
        pass
with open(sys.argv[1], "w") as f:
    f.write("%.6f %.6f %d %d" % (r.ru_utime, r.ru_stime, r.ru_nvcsw, r.ru_nivcsw))
c = os.waitstatus_to_exitcode(s)
os._exit(c if c >= 0 else 128 - c)
"#;

/// A measured run in the measuring container: `/tmp`, `/var/tmp` and `/dev/shm` emptied first
/// (the container's own tmpfs, used by measured runs only, one at a time; `-xdev`: a tree
/// mounted below `/tmp`, as the evaluator's temporary work folders are, is never entered), a fresh
/// TMPDIR, HOME and cache folder, and the command under the rusage helper when the image has
/// Python (`python`: its path), whose report goes to `file` (host path, seen at
/// [`RUSAGE_MOUNT`]).
pub(super) fn measured_command(command: &str, file: &Path, python: Option<&str>) -> String {
    let inner = match python {
        Some(py) => format!(
            "{} -c {} {}/{} /bin/sh -c {}",
            shell_quote(py),
            shell_quote(RUSAGE_HELPER),
            RUSAGE_MOUNT,
            file.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            shell_quote(command)
        ),
        None => format!("/bin/sh -c {}", shell_quote(command)),
    };
    format!(
        "find /tmp /var/tmp /dev/shm -xdev -mindepth 1 -delete 2>/dev/null; \
         d=$(mktemp -d /tmp/optagent-run.XXXXXX) || exit 125; \
         export TMPDIR=\"$d/tmp\" HOME=\"$d/home\" XDG_CACHE_HOME=\"$d/cache\"; \
         mkdir -p \"$TMPDIR\" \"$HOME\" \"$XDG_CACHE_HOME\"; \
         {inner}; rc=$?; rm -rf \"$d\"; exit $rc"
    )
}

/// The helper's report: CPU time (user + system) and context switches.
pub(super) fn parse_rusage(text: &str) -> Option<(Duration, crate::ContextSwitches)> {
    let f: Vec<&str> = text.split_whitespace().collect();
    let [u, s, v, i] = f[..] else { return None };
    let (u, s): (f64, f64) = (u.parse().ok()?, s.parse().ok()?);
    Some((
        Duration::try_from_secs_f64(u + s).ok()?,
        crate::ContextSwitches {
            voluntary: v.parse().ok()?,
            involuntary: i.parse().ok()?,
        },
    ))
}

pub(super) fn clear_dir(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let _ = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}

/// Which tree paths a measured run's container binds writable. A writable path that is a fresh,
/// empty folder (the evaluator's per-run output folder) is bound through its parent folder, so
/// one container serves every run; what a run creates in that parent beside its own writable
/// paths is removed after the run.
pub(super) struct MeasurePlan {
    pub(super) binds: Vec<String>,
    /// (parent folder on the host, the run's writable paths in it, its entries before the run).
    parents: Vec<(PathBuf, Vec<std::ffi::OsString>, Vec<std::ffi::OsString>)>,
}

impl MeasurePlan {
    pub(super) fn of(root: &Path, writable: &[String]) -> MeasurePlan {
        let mut binds = vec![];
        let mut parents: Vec<(PathBuf, Vec<std::ffi::OsString>, Vec<std::ffi::OsString>)> = vec![];
        for w in writable {
            let p = Path::new(w);
            let host = root.join(p);
            let fresh = std::fs::read_dir(&host).is_ok_and(|mut d| d.next().is_none());
            match (
                fresh,
                p.parent().filter(|x| !x.as_os_str().is_empty()),
                p.file_name(),
            ) {
                (true, Some(parent), Some(name)) => {
                    let bind = parent.to_string_lossy().into_owned();
                    let host_parent = root.join(parent);
                    match parents.iter_mut().find(|x| x.0 == host_parent) {
                        Some(x) => x.1.push(name.to_owned()),
                        None => {
                            let before = std::fs::read_dir(&host_parent)
                                .into_iter()
                                .flatten()
                                .flatten()
                                .map(|e| e.file_name())
                                .collect();
                            parents.push((host_parent, vec![name.to_owned()], before));
                        }
                    }
                    binds.push(bind);
                }
                _ => binds.push(w.clone()),
            }
        }
        binds.sort();
        binds.dedup();
        MeasurePlan { binds, parents }
    }

    /// Remove what the run created in the parents it bound, beside its own writable paths.
    pub(super) fn clear_leftovers(&self) {
        for (dir, own, before) in &self.parents {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let n = e.file_name();
                if own.contains(&n) || before.contains(&n) {
                    continue;
                }
                let p = e.path();
                tracing::debug!(path = %p.display(), "removing what a measured run left");
                let _ = if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }
}

/// The measuring container of a tree: the same image and limits as the tree's container, the
/// tree mounted read-only at the same path (but for the run's writable paths), a read-only root
/// file system, tmpfs `/tmp` and `/var/tmp` emptied before each run, and a host folder for the
/// rusage helper's reports. Started on the first measured run; replaced when the writable paths
/// change; removed with the sandbox.
#[derive(Debug)]
pub(super) struct Measurer {
    pub(super) id: String,
    pub(super) binds: Vec<String>,
    pub(super) rusage_dir: PathBuf,
    /// The image's Python (for the rusage helper); `None`: no CPU time in this image.
    pub(super) python: Option<String>,
}

impl Measurer {
    pub(super) async fn start(
        f: &DockerFactory,
        root: &Path,
        user: &str,
        binds: Vec<String>,
    ) -> Result<Measurer, SandboxError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let rusage_dir = std::env::temp_dir().join(format!(
            "optagent-rusage-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&rusage_dir)?;
        // The command runs as the tree's owner: let it write its report.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&rusage_dir, std::fs::Permissions::from_mode(0o777))?;
        }
        let (id, _, _) = match f.start_container(root, Some((&binds, &rusage_dir))).await {
            Ok(x) => x,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&rusage_dir);
                return Err(e);
            }
        };
        let python = probe_python(&f.docker, &id, user).await;
        if python.is_none() {
            tracing::warn!(image = %f.opts.image, "no python3 in the image: measured runs get no CPU time");
        }
        Ok(Measurer {
            id,
            binds,
            rusage_dir,
            python,
        })
    }

    pub(super) async fn remove(self, docker: &Docker) {
        if let Err(e) = remove(docker, &self.id).await {
            tracing::warn!(container = %self.id, error = %e, "removing a measuring container failed");
        }
        unregister(&self.id);
        let _ = std::fs::remove_dir_all(&self.rusage_dir);
    }
}

/// The path of `python3` in a container, if it has one.
async fn probe_python(docker: &Docker, id: &str, user: &str) -> Option<String> {
    let created = docker
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(vec!["sh".into(), "-c".into(), "command -v python3".into()]),
                user: Some(user.to_string()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                env: Some(vec![format!("PATH={CONTAINER_PATH}")]),
                ..Default::default()
            },
        )
        .await
        .ok()?;
    let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&created.id, None).await.ok()?
    else {
        return None;
    };
    let mut out = String::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(item)) = output.next().await {
            if let LogOutput::StdOut { message } = item {
                out.push_str(&String::from_utf8_lossy(&message));
            }
        }
    })
    .await;
    read.ok()?;
    let p = out.trim();
    (p.starts_with('/') && !p.contains(char::is_whitespace)).then(|| p.to_string())
}
