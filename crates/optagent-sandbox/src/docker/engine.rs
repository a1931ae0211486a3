//! The connection to the Docker engine: its address, the API version agreed with it, whether it
//! has an image, and the errors that name what is missing.

use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::Docker;

use super::{BUILD_SCRIPT, DEFAULT_IMAGE};
use crate::SandboxError;

/// How long a connection check may take before the engine counts as absent.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine address used when none is given: `DOCKER_HOST`, else the local socket.
pub fn default_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

pub(super) fn no_engine(host: &str, why: impl std::fmt::Display) -> SandboxError {
    SandboxError::Backend(format!(
        "no Docker engine found at {host} ({why}): start dockerd or use --sandbox local"
    ))
}

pub(super) fn backend(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Backend(format!("docker: {what}: {e}"))
}

pub(super) fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Connects to the engine at `host` and agrees on an API version with it.
pub(super) async fn connect_host(host: &str) -> Result<Docker, SandboxError> {
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

pub(super) async fn image_exists_on(docker: &Docker, tag: &str) -> Result<bool, SandboxError> {
    match docker.inspect_image(tag).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(backend("inspect image", e)),
    }
}

/// The error for an image the engine lacks, naming what builds it.
pub(super) fn missing_image(tag: &str) -> SandboxError {
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
