//! `optagent sandbox build-image|gc`: the Docker backend's upkeep.

use std::io::Write;
use std::process::{ExitCode, Stdio};

use clap::Subcommand;

const BUILD_SCRIPT: &str = include_str!("../../../optagent-sandbox/image/build.sh");

#[derive(Subcommand, Debug)]
pub enum SandboxCmd {
    /// Build optagent's base image locally (Debian bookworm via debootstrap, then `docker import`);
    /// reused when present. Needs root and a Docker engine; no registry is used.
    BuildImage {
        /// Rebuild even if the image exists.
        #[arg(long)]
        force: bool,
    },
    /// Remove every container optagent left behind (label optagent=1).
    Gc,
}

pub async fn run(c: SandboxCmd) -> anyhow::Result<ExitCode> {
    match c {
        SandboxCmd::BuildImage { force } => {
            let mut cmd = std::process::Command::new("bash");
            cmd.arg("-s").arg("--");
            if force {
                cmd.arg("--force");
            }
            let mut child = cmd.stdin(Stdio::piped()).spawn()?;
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(BUILD_SCRIPT.as_bytes())?;
            let status = child.wait()?;
            Ok(if status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        SandboxCmd::Gc => {
            let n = optagent_sandbox::docker::cleanup_all().await?;
            println!("removed {n} container(s)");
            Ok(ExitCode::SUCCESS)
        }
    }
}
