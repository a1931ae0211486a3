//! The factory: one container per tree, made from the factory's image and limits, labelled for
//! cleanup, the tree bind-mounted at its own path.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bollard::Docker;

use super::cleanup::{register, remove, remove_labelled, unregister};
use super::engine::{
    backend, connect_host, default_host, image_exists_on, is_not_found, missing_image,
};
use super::measure::RUSAGE_MOUNT;
use super::sandbox::DockerSandbox;
use super::{DEFAULT_IMAGE, LABEL, PID_LABEL, ROOT_LABEL, RUN_LABEL};
use crate::{Sandbox, SandboxError, SandboxFactory};

/// What a [`DockerFactory`] makes its containers with.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerOptions {
    /// Image tag (default [`DEFAULT_IMAGE`]).
    pub image: String,
    /// CPU limit in CPUs (`NanoCpus`); `None`: no limit.
    pub cpus: Option<f64>,
    /// Memory limit in bytes (swap is not allowed beyond it); `None`: no limit.
    pub memory: Option<i64>,
    /// Most processes at once in the container (default 4096); `None`: no limit.
    pub pids_limit: Option<i64>,
    /// CPUs the container may use (`CpusetCpus`), for measurement; `None`: all.
    pub cpuset: Option<Vec<usize>>,
    /// The engine's default bridge network instead of none (default false). See the module docs.
    pub network: bool,
    /// The run id put in the `optagent.run` label (default: unique per factory).
    pub run: String,
    /// Run commands as the uid:gid owning the tree (default true); false: as root.
    pub run_as_owner: bool,
    /// Host folders every container also sees, read-only at the same path (a task folder's
    /// scripts and data). Default none.
    pub extra_ro_mounts: Vec<PathBuf>,
}

impl Default for DockerOptions {
    fn default() -> Self {
        DockerOptions {
            image: DEFAULT_IMAGE.to_string(),
            cpus: None,
            memory: None,
            pids_limit: Some(4096),
            cpuset: None,
            network: false,
            run: new_run_id(),
            run_as_owner: true,
            extra_ro_mounts: Vec::new(),
        }
    }
}

fn new_run_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "r{}-{}-{}",
        std::process::id(),
        t.as_millis(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Makes [`DockerSandbox`]es: one container per tree.
#[derive(Debug, Clone)]
pub struct DockerFactory {
    pub(super) docker: Docker,
    pub(super) host: String,
    pub(super) opts: DockerOptions,
}

impl DockerFactory {
    /// Connects to the engine at [`default_host`] (`DOCKER_HOST`, else the local socket).
    pub async fn connect() -> Result<Self, SandboxError> {
        Self::connect_to(&default_host()).await
    }

    /// Connects to the engine at `host` (`unix:///path`, `tcp://host:port`).
    pub async fn connect_to(host: &str) -> Result<Self, SandboxError> {
        let docker = connect_host(host).await?;
        Ok(DockerFactory {
            docker,
            host: host.to_string(),
            opts: DockerOptions::default(),
        })
    }

    /// Replaces all options at once.
    pub fn with_options(mut self, opts: DockerOptions) -> Self {
        self.opts = opts;
        self
    }
    pub fn image(mut self, tag: impl Into<String>) -> Self {
        self.opts.image = tag.into();
        self
    }
    pub fn cpus(mut self, cpus: Option<f64>) -> Self {
        self.opts.cpus = cpus;
        self
    }
    pub fn memory(mut self, bytes: Option<i64>) -> Self {
        self.opts.memory = bytes;
        self
    }
    pub fn pids_limit(mut self, n: Option<i64>) -> Self {
        self.opts.pids_limit = n;
        self
    }
    pub fn cpuset(mut self, cpus: Option<Vec<usize>>) -> Self {
        self.opts.cpuset = cpus;
        self
    }
    /// Gives containers the engine's bridge network (for a setup step); off by default.
    pub fn network(mut self, on: bool) -> Self {
        self.opts.network = on;
        self
    }
    pub fn run(mut self, run: impl Into<String>) -> Self {
        self.opts.run = run.into();
        self
    }
    pub fn run_as_owner(mut self, on: bool) -> Self {
        self.opts.run_as_owner = on;
        self
    }
    /// Adds host folders every container sees read-only at the same path.
    pub fn ro_mounts(mut self, dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        for d in dirs {
            if !self.opts.extra_ro_mounts.contains(&d) {
                self.opts.extra_ro_mounts.push(d);
            }
        }
        self
    }

    pub fn options(&self) -> &DockerOptions {
        &self.opts
    }
    /// The run id in this factory's `optagent.run` label.
    pub fn run_id(&self) -> &str {
        &self.opts.run
    }
    /// The engine address this factory talks to.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The engine client, for inspection.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Whether the engine has an image with this tag.
    pub async fn image_exists(&self, tag: &str) -> Result<bool, SandboxError> {
        image_exists_on(&self.docker, tag).await
    }

    /// Fails with the command that builds the factory's image when the engine lacks it.
    pub async fn check_image(&self) -> Result<(), SandboxError> {
        if self.image_exists(&self.opts.image).await? {
            Ok(())
        } else {
            Err(missing_image(&self.opts.image))
        }
    }

    /// Removes every container of this factory's run.
    pub async fn cleanup_run(&self) -> Result<usize, SandboxError> {
        remove_labelled(&self.docker, &format!("{RUN_LABEL}={}", self.opts.run)).await
    }

    /// Opens a sandbox on `root`, typed (see [`SandboxFactory::open`] for the trait object).
    pub async fn open_docker(&self, root: &Path) -> Result<DockerSandbox, SandboxError> {
        let root = std::path::absolute(root)?;
        let (id, name, user) = self.start_container(&root, None).await?;
        Ok(DockerSandbox {
            docker: self.docker.clone(),
            host: self.host.clone(),
            id,
            name,
            root,
            user,
            run: self.opts.run.clone(),
            closed: AtomicBool::new(false),
            factory: self.clone(),
            measurer: tokio::sync::Mutex::new(None),
        })
    }

    /// Creates and starts a container on the tree `root`: the tree read-write (`measure:
    /// None`), or a measuring container ([`super::measure::Measurer`]): the tree read-only but
    /// for the given tree-relative paths, a read-only root file system, tmpfs `/tmp` and
    /// `/var/tmp`, and the host folder `rusage` at [`RUSAGE_MOUNT`]. Returns its id, name and the
    /// exec user.
    pub(super) async fn start_container(
        &self,
        root: &Path,
        measure: Option<(&[String], &Path)>,
    ) -> Result<(String, String, String), SandboxError> {
        let tree = self.tree_mount(root)?;
        let mut mounts = vec![bind(&tree.target, &tree.source_s, measure.is_some())];
        mounts.extend(ro_mounts(&self.opts.extra_ro_mounts, root)?);
        if let Some((writable, rusage)) = measure {
            mounts.extend(measure_mounts(root, &tree.source, writable, rusage)?);
        }
        let body = self.container_body(&tree, mounts, measure.is_some());
        let name = container_name(&if measure.is_some() {
            format!("{}-measure", self.opts.run)
        } else {
            self.opts.run.clone()
        });
        let id = self.create_and_start(&name, body, root).await?;
        Ok((id, name, tree.user))
    }

    /// The tree as a container mounts it, checked: a folder, its path UTF-8.
    fn tree_mount(&self, root: &Path) -> Result<TreeMount, SandboxError> {
        let meta = std::fs::metadata(root).map_err(|e| {
            SandboxError::Backend(format!("tree {} cannot be opened: {e}", root.display()))
        })?;
        if !meta.is_dir() {
            return Err(SandboxError::Backend(format!(
                "tree {} is not a folder",
                root.display()
            )));
        }
        let source = std::fs::canonicalize(root)?;
        let (Some(target), Some(source_s)) = (root.to_str(), source.to_str()) else {
            return Err(SandboxError::Backend(format!(
                "tree path {} is not UTF-8",
                root.display()
            )));
        };
        let user = if self.opts.run_as_owner {
            format!("{}:{}", meta.uid(), meta.gid())
        } else {
            "0:0".to_string()
        };
        Ok(TreeMount {
            target: target.to_string(),
            source_s: source_s.to_string(),
            source,
            user,
        })
    }

    /// The container's labels, limits and mounts; a measuring container's root file system is
    /// read-only, with tmpfs `/tmp` and `/var/tmp`.
    fn container_body(
        &self,
        tree: &TreeMount,
        mounts: Vec<Mount>,
        measuring: bool,
    ) -> ContainerCreateBody {
        let labels = HashMap::from([
            (LABEL.to_string(), "1".to_string()),
            (RUN_LABEL.to_string(), self.opts.run.clone()),
            (ROOT_LABEL.to_string(), tree.target.clone()),
            (PID_LABEL.to_string(), std::process::id().to_string()),
        ]);
        let tmpfs = measuring.then(|| {
            HashMap::from([
                ("/tmp".to_string(), "rw,exec,nosuid,mode=1777".to_string()),
                (
                    "/var/tmp".to_string(),
                    "rw,exec,nosuid,mode=1777".to_string(),
                ),
            ])
        });
        let host_config = HostConfig {
            readonly_rootfs: Some(measuring),
            tmpfs,
            mounts: Some(mounts),
            init: Some(true),
            network_mode: Some(if self.opts.network { "bridge" } else { "none" }.to_string()),
            nano_cpus: self.opts.cpus.map(|c| (c * 1e9).round() as i64),
            memory: self.opts.memory,
            memory_swap: self.opts.memory,
            pids_limit: self.opts.pids_limit,
            cpuset_cpus: self.opts.cpuset.as_ref().map(|c| {
                c.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            security_opt: Some(vec!["no-new-privileges".to_string()]),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(self.opts.image.clone()),
            cmd: Some(vec!["sleep".to_string(), "infinity".to_string()]),
            working_dir: Some(tree.target.clone()),
            labels: Some(labels),
            hostname: Some("optagent".to_string()),
            network_disabled: Some(!self.opts.network),
            attach_stdin: Some(false),
            attach_stdout: Some(false),
            attach_stderr: Some(false),
            tty: Some(false),
            host_config: Some(host_config),
            ..Default::default()
        }
    }

    /// Creates the container, registers it for cleanup and starts it (removing it again when it
    /// does not start). Returns its id.
    async fn create_and_start(
        &self,
        name: &str,
        body: ContainerCreateBody,
        root: &Path,
    ) -> Result<String, SandboxError> {
        let create_opts = CreateContainerOptionsBuilder::default().name(name).build();
        let start = Instant::now();
        let created = match self.docker.create_container(Some(create_opts), body).await {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => return Err(missing_image(&self.opts.image)),
            Err(e) => return Err(backend("create container", e)),
        };
        let id = created.id;
        register(&id, &self.host);
        if let Err(e) = self.docker.start_container(&id, None).await {
            let _ = remove(&self.docker, &id).await;
            unregister(&id);
            return Err(backend("start container", e));
        }
        tracing::debug!(container = %id, root = %root.display(), took = ?start.elapsed(), "container started");
        Ok(id)
    }
}

/// A tree as its container mounts it: its path (the mount's target and the working folder), the
/// canonical host path (the mount's source), and the `uid:gid` commands run as.
struct TreeMount {
    target: String,
    source: PathBuf,
    source_s: String,
    user: String,
}

/// A bind mount of host path `source` at `target`.
fn bind(target: &str, source: &str, read_only: bool) -> Mount {
    Mount {
        target: Some(target.to_string()),
        source: Some(source.to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

/// A measuring container's writable mounts: each of the run's writable tree paths (created on
/// the host when missing), and the rusage helper's folder at [`RUSAGE_MOUNT`].
fn measure_mounts(
    root: &Path,
    source: &Path,
    writable: &[String],
    rusage: &Path,
) -> Result<Vec<Mount>, SandboxError> {
    let mut mounts = vec![];
    for w in writable {
        let host = source.join(w);
        std::fs::create_dir_all(&host)?;
        let (Some(t), Some(h)) = (root.join(w).to_str().map(str::to_string), host.to_str()) else {
            return Err(SandboxError::Backend(format!(
                "writable path {w} is not UTF-8"
            )));
        };
        mounts.push(bind(&t, h, false));
    }
    mounts.push(bind(RUSAGE_MOUNT, &rusage.to_string_lossy(), false));
    Ok(mounts)
}

/// Read-only bind mounts of `dirs` at their own paths; a folder holding the tree (or the tree
/// itself) is left out, so the tree stays writable.
fn ro_mounts(dirs: &[PathBuf], tree: &Path) -> Result<Vec<Mount>, SandboxError> {
    let mut out = Vec::new();
    for d in dirs {
        let target = std::path::absolute(d)?;
        if tree.starts_with(&target) {
            continue;
        }
        let source = std::fs::canonicalize(&target).map_err(|e| {
            SandboxError::Backend(format!(
                "read-only mount {} cannot be opened: {e}",
                target.display()
            ))
        })?;
        let (Some(t), Some(s)) = (target.to_str(), source.to_str()) else {
            return Err(SandboxError::Backend(format!(
                "read-only mount {} is not UTF-8",
                target.display()
            )));
        };
        out.push(Mount {
            target: Some(t.to_string()),
            source: Some(s.to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        });
    }
    Ok(out)
}

fn container_name(run: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let clean: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "optagent-{clean}-{}-{}-{nanos:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[async_trait]
impl SandboxFactory for DockerFactory {
    fn kind(&self) -> &'static str {
        "docker"
    }
    async fn open(&self, root: &Path) -> Result<Arc<dyn Sandbox>, SandboxError> {
        Ok(Arc::new(self.open_docker(root).await?))
    }
    async fn open_for_setup(
        &self,
        root: &Path,
        network: bool,
    ) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let f = self.clone().network(network || self.opts.network);
        Ok(Arc::new(f.open_docker(root).await?))
    }
    fn with_ro_mounts(&self, dirs: &[PathBuf]) -> Arc<dyn SandboxFactory> {
        Arc::new(self.clone().ro_mounts(dirs.iter().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_are_valid() {
        let n = container_name("run/with spaces:and*stuff");
        assert!(n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_ne!(n, container_name("run/with spaces:and*stuff"));
    }
}
