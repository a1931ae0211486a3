//! Measures the Docker backend's fixed costs: container start (open), the round-trip of a `true`
//! exec through `Sandbox::exec` (median of 20), the same through a bare engine exec with no
//! wrapper (what the engine itself costs), the local backend's `true` for comparison, and close.
//!
//!     cargo run -p optagent-sandbox --example docker_overhead [-- ROUNDS]

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;
use optagent_sandbox::docker::{image_exists, DEFAULT_IMAGE};
use optagent_sandbox::{DockerFactory, ExecRequest, LocalSandbox, Sandbox};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name:<34} median {:>7.1} ms   min {:>7.1}   max {:>7.1}   (n={})",
        ms(v[v.len() / 2]),
        ms(v[0]),
        ms(v[v.len() - 1]),
        v.len()
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let factory = DockerFactory::connect().await?.run("overhead-example");
    if !image_exists(DEFAULT_IMAGE).await? {
        factory.check_image().await?;
    }
    let dir = std::env::temp_dir().join(format!("optagent-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let mut starts = Vec::new();
    let mut closes = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let sb = factory.open_docker(&dir).await?;
        starts.push(t.elapsed());
        sb.exec(&ExecRequest::new("true")).await?;
        let t = Instant::now();
        sb.close().await?;
        closes.push(t.elapsed());
    }

    let sb = factory.open_docker(&dir).await?;
    let mut via_sandbox = Vec::new();
    let mut walls = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let o = sb.exec(&ExecRequest::new("true")).await?;
        via_sandbox.push(t.elapsed());
        walls.push(o.wall);
        assert!(o.success(), "{o:?}");
    }

    let docker = factory.docker();
    let mut bare = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let created = docker
            .create_exec(
                sb.container_id(),
                CreateExecOptions {
                    cmd: Some(vec!["true"]),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        if let StartExecResults::Attached { mut output, .. } = docker
            .start_exec(&created.id, None::<StartExecOptions>)
            .await?
        {
            while output.next().await.is_some() {}
        }
        let _ = docker.inspect_exec(&created.id).await?;
        bare.push(t.elapsed());
    }
    sb.close().await?;

    let local = LocalSandbox::new(dir.clone());
    let mut locals = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        local.exec(&ExecRequest::new("true")).await?;
        locals.push(t.elapsed());
    }
    let _ = std::fs::remove_dir(&dir);

    println!("docker backend overhead ({DEFAULT_IMAGE}):");
    summary("container start (open)", starts);
    summary("close (forced remove)", closes);
    summary("`true` via DockerSandbox::exec", via_sandbox);
    summary("  its reported wall", walls);
    summary("`true` bare engine exec", bare);
    summary("`true` via LocalSandbox::exec", locals);
    Ok(())
}
