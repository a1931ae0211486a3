//! The Docker backend against a real engine. Every test skips (with a message) when no engine is
//! reachable or the base image is not built.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptionsBuilder;
use optagent_sandbox::docker::{self, DEFAULT_IMAGE, RUN_LABEL};
use optagent_sandbox::{DockerFactory, ExecRequest, Sandbox, SandboxError, SandboxFactory};

/// A factory with a run label of its own (named after the test and this process, so containers
/// of other tests and other processes never count), or `None` to skip: the reason goes out as a
/// `SKIP:` line.
async fn factory(test: &str) -> Option<DockerFactory> {
    let f = match DockerFactory::connect().await {
        Ok(f) => f,
        Err(e) => {
            optagent_testkit::skip(test, &format!("no Docker engine ({e})"));
            return None;
        }
    };
    match f.image_exists(DEFAULT_IMAGE).await {
        Ok(true) => {}
        _ => {
            optagent_testkit::skip(
                test,
                &format!(
                    "image {DEFAULT_IMAGE} not built; run crates/optagent-sandbox/image/build.sh"
                ),
            );
            return None;
        }
    }
    let run = format!("test-{test}-{}", std::process::id());
    Some(f.run(run))
}

/// Ids of the containers (running or not) carrying `optagent.run=<run>`.
async fn containers_of(f: &DockerFactory, run: &str) -> Vec<String> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{RUN_LABEL}={run}")])]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    f.docker()
        .list_containers(Some(opts))
        .await
        .expect("list containers")
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

async fn run(sb: &Arc<dyn Sandbox>, cmd: &str) -> optagent_sandbox::ExecOutput {
    sb.exec(&ExecRequest::new(cmd).timeout(Duration::from_secs(60)))
        .await
        .unwrap_or_else(|e| panic!("exec `{cmd}`: {e}"))
}

/// Processes in the container other than its init and idle `sleep infinity` (and `ps` itself).
async fn stray_processes(sb: &Arc<dyn Sandbox>) -> Vec<String> {
    let o = run(sb, "ps -eo args=").await;
    o.stdout
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.contains("docker-init")
                && *l != "sleep infinity"
                && !l.starts_with("ps -eo")
                && !l.contains("optagent-exec")
                && !l.starts_with("timeout -s KILL")
                && !l.starts_with("/bin/sh -c ps")
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn tree_is_shared_with_the_host_at_the_same_path() {
    let Some(f) = factory("tree_is_shared_with_the_host_at_the_same_path").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), "from host").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let sb = f.open(dir.path()).await.unwrap();
    assert_eq!(sb.kind(), "docker");
    assert_eq!(sb.root(), dir.path());

    let o = run(&sb, "cat f.txt; echo; pwd; echo from container > new.txt").await;
    assert!(o.success(), "{o:?}");
    assert_eq!(
        o.stdout,
        format!("from host\n{}\n", dir.path().display()),
        "{o:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("new.txt")).unwrap(),
        "from container\n"
    );

    let o = sb.exec(&ExecRequest::new("pwd").cwd("sub")).await.unwrap();
    assert_eq!(o.stdout.trim(), dir.path().join("sub").to_str().unwrap());

    // A missing cwd is a spawn error, as in the local backend.
    let e = sb
        .exec(&ExecRequest::new("pwd").cwd("nope"))
        .await
        .unwrap_err();
    assert!(matches!(e, SandboxError::Spawn { .. }), "{e}");
    sb.close().await.unwrap();
}

#[tokio::test]
async fn commands_run_as_the_trees_owner() {
    let Some(f) = factory("commands_run_as_the_trees_owner").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let is_root = run_host("id -u").trim() == "0";
    if is_root {
        // Give the tree to an unprivileged uid the image does not know.
        run_host(&format!("chown 4321:4321 {}", dir.path().display()));
    }
    let meta = std::fs::metadata(dir.path()).unwrap();
    use std::os::unix::fs::MetadataExt;
    let sb = f.open(dir.path()).await.unwrap();
    let o = run(&sb, "id -u; id -g; echo x > owned.txt; echo $HOME").await;
    assert!(o.success(), "{o:?}");
    assert_eq!(
        o.stdout,
        format!("{}\n{}\n/tmp\n", meta.uid(), meta.gid()),
        "{o:?}"
    );
    let written = std::fs::metadata(dir.path().join("owned.txt")).unwrap();
    assert_eq!((written.uid(), written.gid()), (meta.uid(), meta.gid()));
    sb.close().await.unwrap();
}

fn run_host(cmd: &str) -> String {
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn exit_codes_stderr_and_output_cap() {
    let Some(f) = factory("exit_codes_stderr_and_output_cap").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sb = f.open(dir.path()).await.unwrap();

    let o = run(&sb, "echo out; echo err >&2; exit 3").await;
    assert_eq!(o.exit_code, Some(3));
    assert!(!o.timed_out);
    assert!(!o.success());
    assert_eq!(o.stdout, "out\n");
    assert_eq!(o.stderr, "err\n");

    let o = run(&sb, "true").await;
    assert!(o.success(), "{o:?}");
    assert_eq!(o.stdout, "");

    let o = run(&sb, "command-that-does-not-exist").await;
    assert_eq!(o.exit_code, Some(127), "{o:?}");

    let req = ExecRequest::new("head -c 100000 /dev/zero | tr '\\0' a; head -c 5000 /dev/zero >&2")
        .max_output(1000);
    let o = sb.exec(&req).await.unwrap();
    assert_eq!(o.stdout.len(), 1000);
    assert_eq!(o.stderr.len(), 1000);
    assert_eq!(o.dropped_bytes, 99000 + 4000);

    // A background process left by a finished command is killed with it, as locally.
    let t = Instant::now();
    let o = run(&sb, "sleep 30 & echo started").await;
    assert_eq!(o.stdout, "started\n");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(stray_processes(&sb).await, Vec::<String>::new());
    sb.close().await.unwrap();
}

#[tokio::test]
async fn timeout_kills_the_command_and_its_children() {
    let Some(f) = factory("timeout_kills_the_command_and_its_children").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sb = f.open(dir.path()).await.unwrap();
    let req = ExecRequest::new("echo begun; sleep 30 & sleep 30; echo never")
        .timeout(Duration::from_millis(500));
    let t = Instant::now();
    let o = sb.exec(&req).await.unwrap();
    assert!(o.timed_out, "{o:?}");
    assert_eq!(o.exit_code, None);
    assert!(!o.success());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(o.wall >= Duration::from_millis(500));
    assert_eq!(o.stdout, "begun\n");
    assert!(o.describe_exit().starts_with("timed out"));
    assert_eq!(stray_processes(&sb).await, Vec::<String>::new());

    // A process that leaves the group (setsid) and holds the output open cannot hold the exec
    // past its timeout for long: the engine closes the output a moment after the command ends.
    let t = Instant::now();
    let o = sb
        .exec(&ExecRequest::new("setsid sleep 30 & sleep 30").timeout(Duration::from_millis(500)))
        .await
        .unwrap();
    assert!(o.timed_out, "{o:?}");
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "took {:?}",
        t.elapsed()
    );

    // A command that ends in time is not a timeout, even when it exits 137 itself.
    let o = sb
        .exec(&ExecRequest::new("exit 137").timeout(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(o.exit_code, Some(137));
    assert!(!o.timed_out);
    sb.close().await.unwrap();
}

#[tokio::test]
async fn the_container_has_no_network() {
    let Some(f) = factory("the_container_has_no_network").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sb = f.open(dir.path()).await.unwrap();
    // No route at all (checked without sending any traffic): only the header line.
    let o = run(&sb, "cat /proc/net/route").await;
    assert_eq!(o.stdout.trim().lines().count(), 1, "routes: {o:?}");
    let o = run(&sb, "ls /sys/class/net").await;
    assert_eq!(
        o.stdout.split_whitespace().collect::<Vec<_>>(),
        ["lo"],
        "{o:?}"
    );
    sb.close().await.unwrap();

    // A factory for a setup step that needs the network: the bridge gives an interface (looked
    // at only; no traffic is sent).
    let net = f.clone().network(true);
    let sb = net.open_docker(dir.path()).await.unwrap();
    let info = net
        .docker()
        .inspect_container(sb.container_id(), None)
        .await
        .unwrap();
    assert_eq!(
        info.host_config.unwrap().network_mode.as_deref(),
        Some("bridge")
    );
    let o = sb
        .exec(&ExecRequest::new("ls /sys/class/net"))
        .await
        .unwrap();
    assert!(o.stdout.split_whitespace().any(|i| i != "lo"), "{o:?}");
    sb.close().await.unwrap();
}

#[tokio::test]
async fn host_secrets_never_enter_the_container() {
    let Some(f) = factory("host_secrets_never_enter_the_container").await else {
        return;
    };
    // In the test process's own environment: a command must see nothing of it.
    std::env::set_var("OPENAI_API_KEY", "sk-host-secret-0123456789");
    std::env::set_var("OPTAGENT_TEST_HOST_ONLY", "host-only-value");
    let dir = tempfile::tempdir().unwrap();
    let sb = f.open(dir.path()).await.unwrap();
    let req = ExecRequest::new("env")
        .env("ANTHROPIC_API_KEY", "sk-passed-by-caller")
        .env("MY_SETTING", "visible");
    let o = sb.exec(&req).await.unwrap();
    assert!(o.success(), "{o:?}");
    for leaked in [
        "sk-host-secret",
        "OPENAI_API_KEY",
        "sk-passed-by-caller",
        "host-only-value",
        "CARGO_",
        "HOSTNAME=",
    ] {
        assert!(!o.stdout.contains(leaked), "{leaked} leaked: {}", o.stdout);
    }
    assert!(o.stdout.contains("MY_SETTING=visible"), "{}", o.stdout);
    // `sh` adds PWD, as it does in the local backend.
    let mut names: Vec<&str> = o
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| *k != "PWD")
        .collect();
    names.sort();
    let expected: Vec<String> = optagent_sandbox::docker::container_env(&req)
        .into_keys()
        .collect();
    assert_eq!(names, expected, "env inside is exactly container_env");
    sb.close().await.unwrap();
}

#[tokio::test]
async fn limits_are_applied() {
    let Some(f) = factory("limits_are_applied").await else {
        return;
    };
    let f = f
        .memory(Some(256 << 20))
        .pids_limit(Some(64))
        .cpus(Some(1.0))
        .cpuset(Some(vec![0]));
    let dir = tempfile::tempdir().unwrap();
    let sb = f.open_docker(dir.path()).await.unwrap();
    let info = f
        .docker()
        .inspect_container(sb.container_id(), None)
        .await
        .unwrap();
    let hc = info.host_config.unwrap();
    assert_eq!(hc.memory, Some(256 << 20));
    assert_eq!(hc.memory_swap, Some(256 << 20));
    assert_eq!(hc.pids_limit, Some(64));
    assert_eq!(hc.nano_cpus, Some(1_000_000_000));
    assert_eq!(hc.cpuset_cpus.as_deref(), Some("0"));
    assert_eq!(hc.network_mode.as_deref(), Some("none"));
    assert_eq!(hc.init, Some(true));
    let labels = info.config.unwrap().labels.unwrap();
    assert_eq!(labels["optagent"], "1");
    assert_eq!(labels[RUN_LABEL], f.run_id());

    // Pinning: the command sees only the CPUs asked for.
    let o = sb
        .exec(&ExecRequest::new("grep Cpus_allowed_list /proc/self/status").cpus(Some(vec![0])))
        .await
        .unwrap();
    assert!(o.success(), "{o:?}");
    assert_eq!(o.stdout.split_whitespace().last(), Some("0"), "{o:?}");

    // The pids limit holds: of 200 sleepers, each counting itself in a file before it execs
    // `sleep` (no fork of its own), far fewer than 64 start; the rest cannot fork. bash retries a
    // refused fork (dash gives up and exits at once, and the end of the command then kills the
    // sleepers it forked before they could count themselves), so the command stays until its
    // timeout and every started sleeper has long written its line.
    let _ = sb
        .exec(
            &ExecRequest::new(
                "bash -c 'for i in $(seq 200); do (echo x >> /tmp/started; exec sleep 30) & done 2>/dev/null; wait'",
            )
            .timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    let o = sb
        .exec(&ExecRequest::new("wc -l < /tmp/started"))
        .await
        .unwrap();
    let started: usize = o.stdout.trim().parse().unwrap_or_else(|_| panic!("{o:?}"));
    assert!(
        (1..64).contains(&started),
        "{started} sleepers started under a limit of 64 processes"
    );
    let cgroup = sb
        .exec(&ExecRequest::new(
            "cat /sys/fs/cgroup/pids.max 2>/dev/null || true",
        ))
        .await
        .unwrap();
    if !cgroup.stdout.trim().is_empty() {
        assert_eq!(cgroup.stdout.trim(), "64", "the kernel's limit");
    }
    sb.close().await.unwrap();
}

#[tokio::test]
async fn no_container_outlives_close_panic_timeout_or_cancel() {
    let Some(f) = factory("no_container_outlives_close_panic_timeout_or_cancel").await else {
        return;
    };
    let run_id = f.run_id().to_string();
    let dir = tempfile::tempdir().unwrap();

    // close(): removed; closing again is fine; exec after close is an error.
    let sb = f.open(dir.path()).await.unwrap();
    assert_eq!(containers_of(&f, &run_id).await.len(), 1);
    sb.close().await.unwrap();
    assert!(containers_of(&f, &run_id).await.is_empty());
    sb.close().await.unwrap();
    assert!(sb.exec(&ExecRequest::new("true")).await.is_err());

    // A panic while a sandbox is open: Drop removes it.
    let (f2, root) = (f.clone(), dir.path().to_path_buf());
    let joined = tokio::spawn(async move {
        let sb = f2.open(&root).await.unwrap();
        let _ = sb.exec(&ExecRequest::new("true")).await;
        panic!("a test panic with a sandbox open");
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert!(containers_of(&f, &run_id).await.is_empty());

    // A timed-out command, then the sandbox dropped without close().
    {
        let sb = f.open(dir.path()).await.unwrap();
        let o = sb
            .exec(&ExecRequest::new("sleep 30").timeout(Duration::from_millis(200)))
            .await
            .unwrap();
        assert!(o.timed_out);
    }
    assert!(containers_of(&f, &run_id).await.is_empty());

    // A cancelled exec: its command is killed, not left running.
    let sb = f.open(dir.path()).await.unwrap();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(700),
        sb.exec(&ExecRequest::new("sleep 30").timeout(Duration::from_secs(60))),
    )
    .await;
    assert!(cancelled.is_err());
    let mut strays = stray_processes(&sb).await;
    for _ in 0..20 {
        if strays.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        strays = stray_processes(&sb).await;
    }
    assert_eq!(strays, Vec::<String>::new());
    drop(sb);
    assert!(containers_of(&f, &run_id).await.is_empty());
}

#[tokio::test]
async fn cleanup_run_removes_leftovers() {
    let Some(f) = factory("cleanup_run_removes_leftovers").await else {
        return;
    };
    let run_id = f.run_id().to_string();
    let dir = tempfile::tempdir().unwrap();
    // Leak two sandboxes as a crashed process would: no close, no Drop.
    for _ in 0..2 {
        let sb = f.open_docker(dir.path()).await.unwrap();
        assert!(docker::live_containers().contains(&sb.container_id().to_string()));
        std::mem::forget(sb);
    }
    assert_eq!(containers_of(&f, &run_id).await.len(), 2);
    assert_eq!(docker::cleanup_run(&run_id).await.unwrap(), 2);
    assert!(containers_of(&f, &run_id).await.is_empty());
    assert_eq!(docker::cleanup_run(&run_id).await.unwrap(), 0);
}

#[tokio::test]
async fn a_missing_image_names_the_build_command() {
    let Some(f) = factory("a_missing_image_names_the_build_command").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let e = f
        .clone()
        .image("optagent/no-such-image:never")
        .open(dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("optagent/no-such-image:never") && e.contains("not found"),
        "{e}"
    );
    assert!(e.contains("image/build.sh"), "{e}");
    assert!(containers_of(&f, f.run_id()).await.is_empty());
    assert!(!docker::image_exists("optagent/no-such-image:never")
        .await
        .unwrap());
}

#[tokio::test]
async fn no_engine_is_a_clear_error() {
    let e = DockerFactory::connect_to("unix:///nonexistent/docker.sock")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no Docker engine found at unix:///nonexistent/docker.sock"),
        "{e}"
    );
    assert!(e.contains("--sandbox local"), "{e}");
}

/// Ctrl-C in a process holding containers: its handler removes them. The child is this test
/// binary again, running the ignored test below.
#[tokio::test]
async fn ctrl_c_removes_the_process_containers() {
    let Some(f) = factory("ctrl_c_removes_the_process_containers").await else {
        return;
    };
    let run_id = format!("{}-child", f.run_id());
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new(exe)
        .args([
            "--exact",
            "suite::docker::ctrl_c_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OPTAGENT_CTRL_C_CHILD_RUN", &run_id)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if l.contains("OPTAGENT_CHILD_READY") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(ready, "child never became ready");
    assert_eq!(containers_of(&f, &run_id).await.len(), 2);
    let pid = child.id().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("child did not exit on Ctrl-C")
        .unwrap();
    let left = containers_of(&f, &run_id).await;
    if !left.is_empty() {
        let _ = docker::cleanup_run(&run_id).await;
    }
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
#[ignore = "run by ctrl_c_removes_the_process_containers"]
async fn ctrl_c_child() {
    let Ok(run_id) = std::env::var("OPTAGENT_CTRL_C_CHILD_RUN") else {
        return;
    };
    let f = DockerFactory::connect().await.unwrap().run(run_id);
    let dir = tempfile::tempdir().unwrap();
    let a = f.open(dir.path()).await.unwrap();
    let b = f.open(dir.path()).await.unwrap();
    docker::install_ctrl_c_cleanup().unwrap();
    println!("OPTAGENT_CHILD_READY");
    // A command in flight when Ctrl-C comes.
    let _ = a
        .exec(&ExecRequest::new("sleep 60").timeout(Duration::from_secs(90)))
        .await;
    // The handler removed the containers under the exec; it exits the process next.
    tokio::time::sleep(Duration::from_secs(60)).await;
    drop(b);
    unreachable!("Ctrl-C should have ended the process");
}

/// Start time of a container and the round-trip of a `true` exec (median of 20), printed.
#[tokio::test]
async fn overhead_is_measured() {
    let Some(f) = factory("overhead_is_measured").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let sb = f.open(dir.path()).await.unwrap();
    let start = t.elapsed();
    let mut rt = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let o = sb.exec(&ExecRequest::new("true")).await.unwrap();
        assert!(o.success());
        rt.push(t.elapsed());
    }
    rt.sort();
    let t = Instant::now();
    sb.close().await.unwrap();
    let close = t.elapsed();
    eprintln!(
        "docker overhead: container start {:.0} ms, `true` exec round-trip median {:.1} ms \
         (min {:.1}, max {:.1}), close {:.0} ms",
        start.as_secs_f64() * 1e3,
        rt[rt.len() / 2].as_secs_f64() * 1e3,
        rt[0].as_secs_f64() * 1e3,
        rt[rt.len() - 1].as_secs_f64() * 1e3,
        close.as_secs_f64() * 1e3,
    );
    // Bounds that hold on a loaded machine and fail only on a real defect: an exec that waits
    // for a timeout or a retry loop instead of the command's end, a close that leaves the
    // container for later. The figures themselves are printed, not asserted.
    assert!(
        rt[rt.len() / 2] < Duration::from_secs(2),
        "a `true` exec takes {:?} (median)",
        rt[rt.len() / 2]
    );
    assert!(start < Duration::from_secs(60), "container start {start:?}");
    assert!(close < Duration::from_secs(30), "close {close:?}");
    let run_id = f.run_id().to_string();
    assert!(
        containers_of(&f, &run_id).await.is_empty(),
        "closed means removed"
    );
}

#[tokio::test]
async fn an_extra_folder_is_mounted_read_only_at_its_own_path() {
    let Some(f) = factory("romount").await else {
        return;
    };
    let task = tempfile::tempdir().unwrap();
    std::fs::write(task.path().join("data.txt"), "task data").unwrap();
    let tree = tempfile::tempdir().unwrap();
    let f = f.with_ro_mounts(&[task.path().to_path_buf()]);
    let sb = f.open(tree.path()).await.unwrap();
    let data = task.path().join("data.txt");
    let o = run(&sb, &format!("cat {}", data.display())).await;
    assert!(o.success(), "{o:?}");
    assert_eq!(o.stdout, "task data");
    let o = run(
        &sb,
        &format!("echo x > {}", task.path().join("new").display()),
    )
    .await;
    assert!(!o.success(), "the task folder must be read-only: {o:?}");
    assert!(!task.path().join("new").exists());
    // The tree itself stays writable.
    let o = run(&sb, "echo y > here.txt").await;
    assert!(o.success(), "{o:?}");
    sb.close().await.unwrap();
}

/// A measured run (an isolation asking for a read-only tree) runs in the tree's measuring
/// container: the tree is read-only but for the writable paths, `/tmp` is a fresh tmpfs each run,
/// HOME is fresh, nothing a run leaves beside its own output folder reaches the next run, and the
/// CPU time and context switches of the command's process tree come back as in the local backend.
#[tokio::test]
async fn measured_runs_get_a_read_only_tree_a_fresh_tmp_and_cpu_time() {
    let Some(f) = factory("measured_runs_get_a_read_only_tree_a_fresh_tmp_and_cpu_time").await
    else {
        return;
    };
    let run_id = f.run_id().to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.txt"), "kept").unwrap();
    let sb = f.open(dir.path()).await.unwrap();
    let measured = |n: usize, cmd: &str| {
        // A fresh, empty per-run output folder, as the evaluator makes one.
        let out = format!(".state/run/r{n}");
        std::fs::create_dir_all(dir.path().join(&out)).unwrap();
        ExecRequest::new(cmd.replace("$OUT", &out))
            .timeout(Duration::from_secs(60))
            .isolation(Some(optagent_sandbox::Isolation {
                read_only_tree: true,
                writable: vec![out],
                fresh_dirs: true,
            }))
    };
    let o = sb
        .exec(&measured(
            1,
            "echo x > data.txt; echo $? ; echo s > /tmp/state; echo h > $HOME/h; \
             echo ok > $OUT/out.json && echo leak > .state/run/leak && \
             i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo done",
        ))
        .await
        .unwrap();
    assert!(o.success(), "{o:?}");
    let iso = o.isolation.clone().expect("isolation reported");
    assert!(iso.read_only_tree && iso.private_tmp, "{iso:?}");
    assert_ne!(
        o.stdout.lines().next(),
        Some("0"),
        "the tree is not writable: {o:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data.txt")).unwrap(),
        "kept"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".state/run/r1/out.json"))
            .unwrap_or_else(|e| panic!("{e}: {o:?}")),
        "ok\n"
    );
    assert!(
        !dir.path().join(".state/run/leak").exists(),
        "what a run leaves beside its own folder is removed"
    );
    let cpu = o.cpu.expect("CPU time measured in the measuring container");
    assert!(cpu > Duration::from_millis(50), "cpu {cpu:?}: {o:?}");
    assert!(o.switches.is_some());

    // The next run sees none of it: /tmp is empty again (but for the run's own folder and the
    // mount point of a tree that lives below /tmp), HOME is new.
    let top = dir
        .path()
        .strip_prefix("/tmp")
        .ok()
        .and_then(|p| p.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_else(|| "optagent-run".into());
    let o = sb
        .exec(&measured(
            2,
            &format!(
                "ls -A /tmp | grep -v '^optagent-run' | grep -vx '{top}'; ls -A $HOME; \
                 cat .state/run/leak 2>&1; echo end"
            ),
        ))
        .await
        .unwrap();
    assert!(o.success(), "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{o:?}");
    assert!(lines[0].contains("No such file"), "{o:?}");
    assert_eq!(lines[1], "end");

    // Plain commands still run in the tree's own container, writable.
    let o = run(&sb, "echo new > data.txt && cat data.txt").await;
    assert_eq!(o.stdout, "new\n");
    assert_eq!(containers_of(&f, &run_id).await.len(), 2);
    sb.close().await.unwrap();
    assert!(containers_of(&f, &run_id).await.is_empty());
}
