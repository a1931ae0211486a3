//! The process-wide registry of live containers, and their removal: on close, on drop, on
//! Ctrl-C, and by label for `gc`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::Docker;

use super::engine::{backend, connect_host, default_host, is_not_found};
use super::{LABEL, RUN_LABEL};
use crate::SandboxError;

/// How long `Drop` waits for the container's removal.
const DROP_REMOVE_TIMEOUT: Duration = Duration::from_secs(15);

/// Container id -> engine address, for every container this process made and has not removed.
fn registry() -> &'static Mutex<BTreeMap<String, String>> {
    static LIVE: OnceLock<Mutex<BTreeMap<String, String>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(BTreeMap::new()))
}

pub(super) fn register(id: &str, host: &str) {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_string(), host.to_string());
}

pub(super) fn unregister(id: &str) {
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

pub(super) async fn remove(docker: &Docker, id: &str) -> Result<(), SandboxError> {
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
pub(super) fn remove_blocking(host: &str, id: &str) {
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

pub(super) async fn remove_labelled(docker: &Docker, filter: &str) -> Result<usize, SandboxError> {
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
