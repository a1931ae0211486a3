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
//!
//! # Where each part lives
//! [`engine`] connects to the engine and checks images; [`cleanup`] keeps the process-wide
//! registry of live containers and removes them; [`factory`] makes containers ([`DockerFactory`]);
//! [`sandbox`] runs commands in them ([`DockerSandbox`]); `exec` builds an exec's command line
//! and captures its output; `measure` is the measuring container of a tree.
//!
//! [`DockerFactory::open`]: crate::SandboxFactory::open
//! [`Sandbox::exec`]: crate::Sandbox::exec
//! [`Sandbox::close`]: crate::Sandbox::close
//! [`command_env`]: crate::command_env
//! [`ExecOutput`]: crate::ExecOutput

use std::time::Duration;

pub mod cleanup;
pub mod engine;
mod exec;
pub mod factory;
mod measure;
pub mod sandbox;

pub use cleanup::{
    cleanup_all, cleanup_process, cleanup_run, install_ctrl_c_cleanup, live_containers,
};
pub use engine::{default_host, image_exists};
pub use exec::container_env;
pub use factory::{DockerFactory, DockerOptions};
pub use measure::RUSAGE_MOUNT;
pub use sandbox::DockerSandbox;

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
