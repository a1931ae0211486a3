//! The Docker backend gives the same verdicts as the local one, and leaves no container behind.
//! Skipped, with a `SKIP:` line, where there is no engine or no base image.

use std::sync::Arc;

use optagent_eval::{Candidate, PatchSource, Verdict};
use optagent_sandbox::docker::{image_exists, DEFAULT_IMAGE};
use optagent_sandbox::DockerFactory;

use super::common::*;

/// A Docker factory, or `None` (and a `SKIP:` line naming `test`) without an engine or image.
pub(super) async fn factory(test: &str) -> Option<DockerFactory> {
    let f = match DockerFactory::connect().await {
        Ok(f) => f,
        Err(e) => {
            optagent_testkit::skip(test, &format!("no Docker engine ({e})"));
            return None;
        }
    };
    if !image_exists(DEFAULT_IMAGE).await.unwrap_or(false) {
        optagent_testkit::skip(
            test,
            &format!("image {DEFAULT_IMAGE} not built; run crates/optagent-sandbox/image/build.sh"),
        );
        return None;
    }
    // A run label of this test's own: containers of other tests, processes or users never count.
    Some(f.run(format!("suite-{test}-{}", std::process::id())))
}

/// Containers (running or not) carrying this run's label, by `docker ps`.
pub(super) fn containers_labelled(run: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=optagent.run={run}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_and_local_give_the_same_verdicts_on_a_c_task() {
    let _serial = MEASURING.lock().await;
    let Some(f) = factory("docker_and_local_give_the_same_verdicts_on_a_c_task").await else {
        return;
    };
    let run = f.run_id().to_string();
    // cvec: a C task, so the build runs in the container too. pyroute (Python) in Docker is
    // integrity_hacks' `pyroute_hacks_are_caught_in_docker_too` (its oracle verified there).
    for id in ["cvec"] {
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
            // A do-nothing patch is "significantly faster" on some workload when all five
            // baseline runs happen to be slower than all five of its own (p = 2/252 < alpha per
            // workload, several workloads, two backends): its opt_base is the noise's, not the
            // backend's. The others' are decided whatever the noise.
            if d.patch != "nop" {
                assert_eq!(d.opt_base, l.opt_base, "{id} {}", d.patch);
            }
            // The oracle against itself sits at the 95% line, where noise decides: only the
            // patches whose opt_commit is false whatever the noise are compared.
            if d.patch != "oracle" {
                assert_eq!(d.opt_commit, l.opt_commit, "{id} {}", d.patch);
            }
        }
        assert_eq!(find(&docker, "oracle").verdict, Verdict::Ok);
        assert!(find(&docker, "oracle").opt_base);
        assert!(find(&docker, "oracle").improvements >= 1);
        assert_eq!(find(&docker, "wrong.diff").verdict, Verdict::WrongResult);
    }
    let left = containers_labelled(&run);
    assert!(left.is_empty(), "containers left behind: {left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_setup_step_gets_a_network_when_the_task_allows_it() {
    let Some(f) = factory("only_the_setup_step_gets_a_network_when_the_task_allows_it").await
    else {
        return;
    };
    let run = f.run_id().to_string();
    let _serial = MEASURING.lock().await;
    let d = tempfile::tempdir().unwrap();
    // Setup records the interfaces it sees; the workload reports the ones it sees (no traffic).
    write_task(
        d.path(),
        r#"id = "net"
instruction = "x"
languages = ["python"]
[sandbox]
setup_network = true
[source]
path = "repo"
[expert]
patch = "expert.diff"
[build]
setup = ["ls /sys/class/net | tr '\n' ' ' > setup-interfaces.txt"]
[measure]
reps = 2
[[workloads]]
name = "net.w"
command = "python3 w.py"
"#,
        &[(
            "w.py",
            "import json, os\nifs = sorted(os.listdir('/sys/class/net'))\nassert ifs == ['lo'], ifs\njson.dump({'result': ifs, 'seconds': 0.001}, open(os.environ['OPTAGENT_OUTPUT'], 'w'))\n",
        )],
        "",
    );
    let task = optagent_task::Task::load(d.path()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut o = opts(work.path(), 2);
    o.sandbox = Arc::new(f);
    let r = optagent_eval::evaluate(&task, &[Candidate::new("nop", PatchSource::Nop)], &o)
        .await
        .unwrap();
    assert_eq!(r[0].verdict, Verdict::Ok, "{:?}", r[0].reason);
    let seen =
        std::fs::read_to_string(work.path().join("net/baseline/setup-interfaces.txt")).unwrap();
    assert!(
        seen.split_whitespace().any(|i| i != "lo"),
        "setup had a network: {seen}"
    );
    // The workload asserts it sees only lo: had it seen more, the baseline would have failed.
    let left = containers_labelled(&run);
    assert!(left.is_empty(), "containers left behind: {left}");
}
