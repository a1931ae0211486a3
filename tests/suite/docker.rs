//! The Docker backend gives the same verdicts as the local one, and leaves no container behind.
//! Skipped, with the reason printed, where there is no engine or no base image.

use std::sync::Arc;

use optagent_eval::{Candidate, PatchSource, Verdict};
use optagent_sandbox::docker::{image_exists, live_containers, DEFAULT_IMAGE};
use optagent_sandbox::DockerFactory;

use super::common::*;

async fn factory() -> Option<DockerFactory> {
    let f = match DockerFactory::connect().await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("skipping: no Docker engine ({e})");
            return None;
        }
    };
    if !image_exists(DEFAULT_IMAGE).await.unwrap_or(false) {
        eprintln!(
            "skipping: image {DEFAULT_IMAGE} not built; run crates/optagent-sandbox/image/build.sh"
        );
        return None;
    }
    Some(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_and_local_give_the_same_verdicts_on_bundled_tasks() {
    let _serial = MEASURING.lock().await;
    let Some(f) = factory().await else { return };
    let run = f.run_id().to_string();
    for id in ["pyroute", "cvec"] {
        let task = bundled(id);
        let cands = [
            Candidate::new("oracle", PatchSource::Oracle),
            Candidate::new("nop", PatchSource::Nop),
            diff_file(&task, "wrong.diff"),
        ];
        let work = tempfile::tempdir().unwrap();
        let mut o = opts(work.path(), 5);
        o.sandbox = Arc::new(f.clone());
        let docker = optagent_eval::evaluate(&task, &cands, &o)
            .await
            .expect("docker evaluation");
        let work = tempfile::tempdir().unwrap();
        let local = optagent_eval::evaluate(&task, &cands, &opts(work.path(), 5))
            .await
            .expect("local evaluation");
        for (d, l) in docker.iter().zip(&local) {
            assert_eq!(d.machine.sandbox, "docker");
            assert_eq!(
                d.verdict, l.verdict,
                "{id} {}: docker {:?} local {:?}",
                d.patch, d.reason, l.reason
            );
            assert_eq!(d.opt_base, l.opt_base, "{id} {}", d.patch);
            assert_eq!(d.opt_commit, l.opt_commit, "{id} {}", d.patch);
        }
        assert_eq!(find(&docker, "oracle").verdict, Verdict::Ok);
        assert!(find(&docker, "oracle").opt_commit);
        assert_eq!(find(&docker, "wrong.diff").verdict, Verdict::WrongResult);
    }
    let left: Vec<_> = live_containers()
        .into_iter()
        .filter(|c| c.contains(&run))
        .collect();
    assert!(left.is_empty(), "containers left behind: {left:?}");
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=optagent.run={run}"),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "containers left behind"
    );
}
