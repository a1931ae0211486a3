//! The Docker backend: one container per tree, commands run in it through the engine's exec API.
//!
//! # How a tree maps into a container
//! [`DockerFactory::open`] creates a container from the factory's image (default
//! [`DEFAULT_IMAGE`], built by [`BUILD_SCRIPT`]) with the host tree bind-mounted read-write at the
//! *same absolute path* inside, so paths, cwd and anything a tool prints mean the same in both
//! backends. PID 1 is the engine's init (`init: true`) over an idle `sleep infinity`; every
//! [`Sandbox::exec`] is one `docker exec` in it. The engine must run on this host (a remote engine
//! would mount its own folder of that name). Folders named in [`DockerOptions::extra_ro_mounts`]
//! (a task folder's scripts and data) are bind-mounted read-only at their own paths too.
//!
//! # What an exec runs
//! The request's command runs as `/bin/sh -c COMMAND`, under `timeout -s KILL` (so the command's
//! whole process group is killed at the deadline, inside the container), under `taskset -c` when
//! the request names CPUs, under `env -i` with exactly [`container_env`] (the request's
//! [`command_env`] with the host's PATH, HOME and TMPDIR replaced by the container's own unless the
//! request sets them): nothing of the host's environment, nor the image's `ENV`, reaches it. A small
//! `sh` wrapper around it reports the group's pid and kills the group when the command ends, as the
//! local backend does, so a background process left behind never outlives its command. On our side a
//! tokio deadline ([`GUARD`] past the request's timeout) kills the group through a second exec if
//! the in-container `timeout` ever fails to.
//!
//! The command runs as the uid:gid that owns the tree's root on the host (root when the tree is
//! root's, or with [`DockerFactory::run_as_owner`]`(false)`), so files it writes stay the owner's.
//! That uid need not exist in the image: HOME is `/tmp` unless the request says otherwise.
//!
//! Semantics match [`crate::LocalSandbox`]: same [`ExecOutput`] (exit code `None` and `timed_out`
//! on a timeout; output capped per stream at `max_output` and the rest counted in
//! `dropped_bytes`). `wall` runs from the exec's start request to the end of its output, so it
//! includes the engine's cost of starting a process in the container (tens of ms; see the
//! `docker_overhead` example), where the local backend's includes a fork. One difference: a
//! command killed by a signal reports `Some(128 + signal)`, not `None`.
//!
//! # Network
//! Off by default: containers get `NetworkMode: none` (only `lo`). A task that needs the network
//! for its setup (pip install, say) opens that step's sandbox from a factory made with
//! [`DockerFactory::network`]`(true)` (the engine's default bridge), closes it, and does the rest
//! from a factory without: the tree lives on the host, so the second container sees what the
//! setup left. A container's network is fixed for its life; there is no per-exec switch.
//!
//! # Cleanup
//! Every container carries the labels `optagent=1`, `optagent.run=<run id>`, `optagent.root` and
//! `optagent.pid`, and is kept in a per-process registry until removed. [`Sandbox::close`] removes
//! it (forced); dropping an unclosed [`DockerSandbox`] (a panic, an early return, a cancelled task)
//! removes it from `Drop`, blocking up to a few seconds. For Ctrl-C and `gc`: [`cleanup_process`]
//! (this process's containers), [`cleanup_run`] (one run's, by label), [`cleanup_all`] (every
//! optagent container on the engine), and [`install_ctrl_c_cleanup`] for a program with no Ctrl-C
//! handling of its own.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;

use crate::{
    clip_output, command_env, resolve_cwd, ExecOutput, ExecRequest, IsolationReport, Sandbox,
    SandboxError, SandboxFactory,
};

/// The image a factory uses unless told otherwise.
pub const DEFAULT_IMAGE: &str = "optagent/base:bookworm";
/// The script (relative to the workspace root) that builds [`DEFAULT_IMAGE`] without a registry.
pub const BUILD_SCRIPT: &str = "crates/optagent-sandbox/image/build.sh";
/// Label every optagent container carries, with the value `1`.
pub const LABEL: &str = "optagent";
/// Label holding the run id a container belongs to.
pub const RUN_LABEL: &str = "optagent.run";
/// Label holding the host tree a container mounts.
pub const ROOT_LABEL: &str = "optagent.root";
/// Label holding the pid of the process that made the container.
pub const PID_LABEL: &str = "optagent.pid";
/// PATH inside the container (the image's), used unless the request sets PATH.
pub const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How long past a request's timeout we wait for the in-container `timeout` before killing the
/// command's group ourselves.
pub const GUARD: Duration = Duration::from_secs(3);

/// How long a connection check may take before the engine counts as absent.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `Drop` waits for the container's removal.
const DROP_REMOVE_TIMEOUT: Duration = Duration::from_secs(15);

/// Prints the group's pid, runs the command in the background under `timeout` (its own process
/// group, whose id is that pid), waits, then kills whatever of the group is left, like the local
/// backend does. `$1` is the timeout in seconds; the rest is the command line.
const WRAPPER: &str = r#"timeout -s KILL "$@" & p=$!; echo "$p"; wait "$p"; rc=$?; kill -9 "-$p" 2>/dev/null; exit "$rc""#;
/// Kills the process group `$1` (and the process itself).
/// (`kill -9 -PGID` is the one spelling dash, bash and busybox all take for a group.)
const KILLER: &str = r#"kill -9 "-$1" 2>/dev/null; kill -9 "$1" 2>/dev/null; true"#;

/// The engine address used when none is given: `DOCKER_HOST`, else the local socket.
pub fn default_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

fn no_engine(host: &str, why: impl std::fmt::Display) -> SandboxError {
    SandboxError::Backend(format!(
        "no Docker engine found at {host} ({why}): start dockerd or use --sandbox local"
    ))
}

fn backend(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Backend(format!("docker: {what}: {e}"))
}

fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Connects to the engine at `host` and agrees on an API version with it.
async fn connect_host(host: &str) -> Result<Docker, SandboxError> {
    let docker = Docker::connect_with_host(host).map_err(|e| no_engine(host, e))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(no_engine(host, e)),
        Err(_) => Err(no_engine(
            host,
            format!("no answer in {}s", PING_TIMEOUT.as_secs()),
        )),
    }
}

/// Whether the engine at [`default_host`] has an image with this tag.
pub async fn image_exists(tag: &str) -> Result<bool, SandboxError> {
    image_exists_on(&connect_host(&default_host()).await?, tag).await
}

async fn image_exists_on(docker: &Docker, tag: &str) -> Result<bool, SandboxError> {
    match docker.inspect_image(tag).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(backend("inspect image", e)),
    }
}

/// The error for an image the engine lacks, naming what builds it.
fn missing_image(tag: &str) -> SandboxError {
    if tag == DEFAULT_IMAGE {
        SandboxError::Backend(format!(
            "Docker image {tag} not found: build it with `bash {BUILD_SCRIPT}` (no registry is used)"
        ))
    } else {
        SandboxError::Backend(format!(
            "Docker image {tag} not found: build or load it first (the default image, \
             {DEFAULT_IMAGE}, is built by `bash {BUILD_SCRIPT}`)"
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// The per-process registry of live containers.

/// Container id -> engine address, for every container this process made and has not removed.
fn registry() -> &'static Mutex<BTreeMap<String, String>> {
    static LIVE: OnceLock<Mutex<BTreeMap<String, String>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn register(id: &str, host: &str) {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_string(), host.to_string());
}

fn unregister(id: &str) {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id);
}

/// Ids of the containers this process made and has not removed yet.
pub fn live_containers() -> Vec<String> {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .keys()
        .cloned()
        .collect()
}

async fn remove(docker: &Docker, id: &str) -> Result<(), SandboxError> {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // Already being removed by someone else (a concurrent close, a gc).
        Err(DockerError::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(backend(&format!("remove container {id}"), e)),
    }
}

/// Removes, from a fresh thread with its own runtime and client, a container; waits up to
/// [`DROP_REMOVE_TIMEOUT`]. Safe to call from inside or outside a tokio runtime.
fn remove_blocking(host: &str, id: &str) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (host, id_owned) = (host.to_string(), id.to_string());
    let spawned = std::thread::Builder::new()
        .name("optagent-docker-drop".into())
        .spawn(move || {
            let res = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(SandboxError::from)
                .and_then(|rt| {
                    rt.block_on(async {
                        let docker = connect_host(&host).await?;
                        remove(&docker, &id_owned).await
                    })
                });
            let _ = tx.send(res);
        });
    if spawned.is_err() {
        tracing::warn!(container = %id, "could not start a thread to remove a dropped container");
        return;
    }
    match rx.recv_timeout(DROP_REMOVE_TIMEOUT) {
        Ok(Ok(())) => unregister(id),
        Ok(Err(e)) => {
            tracing::warn!(container = %id, error = %e, "removing a dropped container failed")
        }
        Err(_) => tracing::warn!(container = %id, "removing a dropped container timed out"),
    }
}

async fn remove_labelled(docker: &Docker, filter: &str) -> Result<usize, SandboxError> {
    let filters = HashMap::from([("label".to_string(), vec![filter.to_string()])]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let list = docker
        .list_containers(Some(opts))
        .await
        .map_err(|e| backend("list containers", e))?;
    let mut tally = Removals::default();
    for c in list {
        let Some(id) = c.id else { continue };
        tally.remove(docker, &id).await;
    }
    tally.finish()
}

/// What a cleanup did: containers removed, and the first error met (the others are still tried).
#[derive(Default)]
struct Removals {
    removed: usize,
    first_err: Option<SandboxError>,
}

impl Removals {
    async fn remove(&mut self, docker: &Docker, id: &str) {
        match remove(docker, id).await {
            Ok(()) => {
                unregister(id);
                self.removed += 1;
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: SandboxError) {
        self.first_err.get_or_insert(e);
    }

    fn finish(self) -> Result<usize, SandboxError> {
        match self.first_err {
            Some(e) => Err(e),
            None => Ok(self.removed),
        }
    }
}

/// Removes every container of one run (label `optagent.run=<run>`) on the engine at
/// [`default_host`], whichever process made it. Returns how many were removed.
pub async fn cleanup_run(run: &str) -> Result<usize, SandboxError> {
    let docker = connect_host(&default_host()).await?;
    remove_labelled(&docker, &format!("{RUN_LABEL}={run}")).await
}

/// Removes every optagent container (label `optagent=1`) on the engine at [`default_host`]:
/// the `gc` command. Returns how many were removed.
pub async fn cleanup_all() -> Result<usize, SandboxError> {
    let docker = connect_host(&default_host()).await?;
    remove_labelled(&docker, &format!("{LABEL}=1")).await
}

/// Removes every container this process made and has not removed yet (see [`live_containers`]),
/// on whichever engine holds it: for a Ctrl-C handler. Returns how many were removed.
pub async fn cleanup_process() -> Result<usize, SandboxError> {
    let live: Vec<(String, String)> = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut clients: HashMap<String, Docker> = HashMap::new();
    let mut tally = Removals::default();
    for (id, host) in live {
        if !clients.contains_key(&host) {
            match connect_host(&host).await {
                Ok(d) => {
                    clients.insert(host.clone(), d);
                }
                Err(e) => {
                    tally.fail(e);
                    continue;
                }
            }
        }
        tally.remove(&clients[&host], &id).await;
    }
    tally.finish()
}

/// For a program with no Ctrl-C handling of its own: on the first Ctrl-C (SIGINT), remove this
/// process's containers ([`cleanup_process`]) and exit with status 130. The handler is in place
/// when this returns. Call it inside a tokio runtime; a program that handles Ctrl-C itself should
/// call [`cleanup_process`] from its handler instead.
pub fn install_ctrl_c_cleanup() -> Result<tokio::task::JoinHandle<()>, SandboxError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        if sigint.recv().await.is_some() {
            if let Err(e) = cleanup_process().await {
                tracing::warn!(error = %e, "removing containers on Ctrl-C failed");
            }
            std::process::exit(130);
        }
    }))
}

// ---------------------------------------------------------------------------------------------
// The factory.

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
    docker: Docker,
    host: String,
    opts: DockerOptions,
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
    /// None`), or a measuring container ([`Measurer`]): the tree read-only but for the given
    /// tree-relative paths, a read-only root file system, tmpfs `/tmp` and `/var/tmp`, and the
    /// host folder `rusage` at [`RUSAGE_MOUNT`]. Returns its id, name and the exec user.
    async fn start_container(
        &self,
        root: &Path,
        measure: Option<(&[String], &Path)>,
    ) -> Result<(String, String, String), SandboxError> {
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
        let (Some(target_s), Some(source_s)) = (root.to_str(), source.to_str()) else {
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

        let labels = HashMap::from([
            (LABEL.to_string(), "1".to_string()),
            (RUN_LABEL.to_string(), self.opts.run.clone()),
            (ROOT_LABEL.to_string(), target_s.to_string()),
            (PID_LABEL.to_string(), std::process::id().to_string()),
        ]);
        let mut mounts = vec![Mount {
            target: Some(target_s.to_string()),
            source: Some(source_s.to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(measure.is_some()),
            ..Default::default()
        }];
        mounts.extend(ro_mounts(&self.opts.extra_ro_mounts, root)?);
        let mut tmpfs = None;
        if let Some((writable, rusage)) = measure {
            for w in writable {
                let host = source.join(w);
                std::fs::create_dir_all(&host)?;
                let (Some(t), Some(h)) = (root.join(w).to_str().map(str::to_string), host.to_str())
                else {
                    return Err(SandboxError::Backend(format!(
                        "writable path {w} is not UTF-8"
                    )));
                };
                mounts.push(Mount {
                    target: Some(t),
                    source: Some(h.to_string()),
                    typ: Some(MountType::BIND),
                    read_only: Some(false),
                    ..Default::default()
                });
            }
            mounts.push(Mount {
                target: Some(RUSAGE_MOUNT.to_string()),
                source: Some(rusage.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                read_only: Some(false),
                ..Default::default()
            });
            tmpfs = Some(HashMap::from([
                ("/tmp".to_string(), "rw,exec,nosuid,mode=1777".to_string()),
                (
                    "/var/tmp".to_string(),
                    "rw,exec,nosuid,mode=1777".to_string(),
                ),
            ]));
        }
        let host_config = HostConfig {
            readonly_rootfs: Some(measure.is_some()),
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
        let body = ContainerCreateBody {
            image: Some(self.opts.image.clone()),
            cmd: Some(vec!["sleep".to_string(), "infinity".to_string()]),
            working_dir: Some(target_s.to_string()),
            labels: Some(labels),
            hostname: Some("optagent".to_string()),
            network_disabled: Some(!self.opts.network),
            attach_stdin: Some(false),
            attach_stdout: Some(false),
            attach_stderr: Some(false),
            tty: Some(false),
            host_config: Some(host_config),
            ..Default::default()
        };
        let name = container_name(&if measure.is_some() {
            format!("{}-measure", self.opts.run)
        } else {
            self.opts.run.clone()
        });
        let create_opts = CreateContainerOptionsBuilder::default().name(&name).build();

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
        Ok((id, name, user))
    }
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

// ---------------------------------------------------------------------------------------------
// The sandbox.

/// One container bound to one host tree. Removed by [`Sandbox::close`], or on drop.
#[derive(Debug)]
pub struct DockerSandbox {
    docker: Docker,
    host: String,
    id: String,
    name: String,
    root: PathBuf,
    user: String,
    run: String,
    closed: AtomicBool,
    /// The factory, for the measuring container.
    factory: DockerFactory,
    /// The measuring container, started on the first run that asks for a read-only tree.
    measurer: tokio::sync::Mutex<Option<Measurer>>,
}

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
fn measured_command(command: &str, file: &Path, python: Option<&str>) -> String {
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
fn parse_rusage(text: &str) -> Option<(Duration, crate::ContextSwitches)> {
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

fn clear_dir(dir: &Path) {
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
struct MeasurePlan {
    binds: Vec<String>,
    /// (parent folder on the host, the run's writable paths in it, its entries before the run).
    parents: Vec<(PathBuf, Vec<std::ffi::OsString>, Vec<std::ffi::OsString>)>,
}

impl MeasurePlan {
    fn of(root: &Path, writable: &[String]) -> MeasurePlan {
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
    fn clear_leftovers(&self) {
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
struct Measurer {
    id: String,
    binds: Vec<String>,
    rusage_dir: PathBuf,
    /// The image's Python (for the rusage helper); `None`: no CPU time in this image.
    python: Option<String>,
}

impl Measurer {
    async fn start(
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

    async fn remove(self, docker: &Docker) {
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
fn fresh_dirs_command(command: &str) -> String {
    format!(
        "d=$(mktemp -d /tmp/optagent-run.XXXXXX) || exit 125; \
         export TMPDIR=\"$d/tmp\" HOME=\"$d/home\" XDG_CACHE_HOME=\"$d/cache\"; \
         mkdir -p \"$TMPDIR\" \"$HOME\" \"$XDG_CACHE_HOME\"; \
         /bin/sh -c {}; rc=$?; rm -rf \"$d\"; exit $rc",
        shell_quote(command)
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The argv of the exec: the wrapper, `timeout`, `taskset` when asked, `env -i`, `sh -c`.
fn exec_argv(req: &ExecRequest, env: &BTreeMap<String, String>) -> Vec<String> {
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
struct Capture {
    max: usize,
    pid_line: Vec<u8>,
    pid: Option<i64>,
    prefix_done: bool,
    out: Vec<u8>,
    out_total: usize,
    err: Vec<u8>,
    err_total: usize,
}

impl Capture {
    fn new(max: usize) -> Self {
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

    fn stdout(&mut self, mut bytes: &[u8]) {
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

    fn stderr(&mut self, bytes: &[u8]) {
        Self::keep(&mut self.err, &mut self.err_total, bytes, self.max);
    }

    fn finish(self) -> (String, String, usize) {
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
struct KillOnDrop {
    docker: Docker,
    container: String,
    pid: Option<i64>,
    armed: bool,
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
async fn kill_group(docker: &Docker, container: &str, pid: i64) -> Result<(), SandboxError> {
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
        let cwd = resolve_cwd(&self.root, req.cwd.as_deref());
        // Same error as the local backend for a missing cwd (the tree is the host's).
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
        let Some(cwd) = cwd.to_str().map(str::to_string) else {
            return Err(SandboxError::Backend(format!(
                "cwd {} is not UTF-8",
                cwd.display()
            )));
        };
        // Runs that ask for a read-only tree run in the tree's measuring container (see
        // [`Measurer`]): tree read-only, fresh tmpfs /tmp, CPU time from the rusage helper. Other
        // isolated runs get a fresh TMPDIR, HOME and cache folder in the tree's container; the
        // tree stays writable there, so the evaluator's check of the tree after each run is what
        // catches state left there.
        let mut measuring = None;
        if let Some(iso) = req.isolation.as_ref().filter(|i| i.read_only_tree) {
            let mut slot = self.measurer.lock().await;
            let plan = MeasurePlan::of(&self.root, &iso.writable);
            if slot.as_ref().is_none_or(|m| m.binds != plan.binds) {
                if let Some(old) = slot.take() {
                    old.remove(&self.docker).await;
                }
                *slot = Some(
                    Measurer::start(&self.factory, &self.root, &self.user, plan.binds.clone())
                        .await?,
                );
            }
            measuring = Some((slot, plan));
        }
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
        let wrapped;
        let req = match (&req.isolation, &rusage_file) {
            (Some(_), Some((file, python))) => {
                let mut r = req.clone();
                r.command = measured_command(&req.command, file, python.as_deref());
                wrapped = r;
                &wrapped
            }
            (Some(iso), None) if iso.fresh_dirs => {
                let mut r = req.clone();
                r.command = fresh_dirs_command(&req.command);
                wrapped = r;
                &wrapped
            }
            _ => req,
        };
        let argv = exec_argv(req, &container_env(req));

        let created = self
            .docker
            .create_exec(
                &container,
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
        let StartExecResults::Attached { mut output, input } = started else {
            return Err(backend("start exec", "not attached"));
        };
        drop(input);

        let mut cap = Capture::new(req.max_output);
        let mut guard = KillOnDrop {
            docker: self.docker.clone(),
            container: container.clone(),
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
                let code = self.exit_code(&created.id).await?;
                // The in-container `timeout -s KILL` kills its own group, itself included: the
                // wrapper sees 137 (128 + SIGKILL), never before the deadline.
                let timed_out = code == Some(137) && wall >= req.timeout;
                (if timed_out { None } else { code }, timed_out)
            }
            Ok(Err(e)) => {
                // The stream broke (engine gone?): kill what may be left, then report.
                if let Some(pid) = cap.pid {
                    let _ = kill_group(&self.docker, &container, pid).await;
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
                        if let Err(e) = kill_group(&self.docker, &container, pid).await {
                            tracing::warn!(container = %container, error = %e, "killing a timed-out command failed");
                        }
                    }
                    None => tracing::warn!(container = %self.id, "timed-out command never started"),
                }
                (None, true)
            }
        };
        let (stdout, stderr, dropped_bytes) = cap.finish();
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
            exit_code: exit_code.map(|c| c as i32),
            timed_out,
            stdout,
            stderr,
            dropped_bytes,
            wall,
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

    #[test]
    fn container_names_are_valid() {
        let n = container_name("run/with spaces:and*stuff");
        assert!(n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_ne!(n, container_name("run/with spaces:and*stuff"));
    }
}
