//! Secrets stay home: a command the agent runs that scans `/proc/*/environ`, or prints a file of
//! credentials, sends none of optagent's secrets to the model provider, in the local backend and
//! in Docker; and optagent makes itself non-dumpable so same-user processes cannot read its
//! environment.

#![allow(clippy::print_stderr)]

use super::common::*;
use optagent_testkit::base64;
use optagent_testkit::{MockReply, MockServer};
use serde_json::json;

/// The provider's key, under a variable whose name does not look like a credential (so only
/// `--api-key-env` names it), and another token of the user's environment.
const PROVIDER_VAR: &str = "MYLAB_LLM";
const PROVIDER_KEY: &str = "plainproviderkeyvalue0123";
const OTHER_VAR: &str = "OPTAGENT_E2E_SERVICE_TOKEN";
const OTHER_TOKEN: &str = "othertokenvalue-98765-xyz";

/// Every form of the secrets that must not reach the provider.
fn forbidden() -> Vec<String> {
    let mut v = vec![];
    for s in [PROVIDER_KEY, OTHER_TOKEN] {
        v.push(s.to_string());
        v.push(base64(s.as_bytes()).trim_end_matches('=').to_string());
        v.push(s.bytes().map(|b| format!("{b:02x}")).collect());
    }
    v
}

/// `optagent solve` with the secrets in its environment, the model scripted to run `commands`
/// in the shell and submit without a patch (so nothing is measured).
async fn solve_with_secrets(server: &MockServer, commands: &[String], extra: &[&str]) -> String {
    for c in commands {
        server.push(MockReply::tool_call(
            "shell",
            json!({ "command": c }).to_string(),
        ));
    }
    server.push(MockReply::tool_call("submit", "{}"));
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "solve".to_string(),
        "tasks/pyroute".into(),
        "--model".into(),
        "openai/mock-model".into(),
        "--base-url".into(),
        server.url(),
        "--api-key-env".into(),
        PROVIDER_VAR.into(),
        "--out".into(),
        out.path().to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args(&args)
        .env(PROVIDER_VAR, PROVIDER_KEY)
        .env(OTHER_VAR, OTHER_TOKEN)
        .env_remove("OPTAGENT_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent-optagent-config-home")
        .current_dir(repo_root())
        .output()
        .await
        .unwrap();
    // The rollout only looks around and submits no change: `solve` ran to its end and found no
    // verified speedup (exit 3), not a failure.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // The key did reach the provider where it belongs: the Authorization header.
    assert_eq!(
        server.authorizations()[0].as_deref(),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    // Everything the provider received, in one text.
    let sent = serde_json::to_string(&server.requests()).unwrap();
    for f in forbidden() {
        assert!(!sent.contains(&f), "{f:?} reached the provider");
    }
    let traj = std::fs::read_to_string(out.path().join("rollout-0/trajectory.jsonl")).unwrap();
    for f in forbidden() {
        assert!(!traj.contains(&f), "{f:?} is in the trajectory");
    }
    sent
}

fn proc_scan() -> String {
    "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -a -e KEY -e TOKEN -e LLM; echo proc-scan-done".to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proc_environ_scan_in_the_local_backend_sends_no_secret_to_the_model() {
    let server = MockServer::start().await;
    // A file of credentials the command can read (the local backend shares the filesystem):
    // redaction must catch it, verbatim, URL-encoded, base64 and hex.
    let dir = tempfile::tempdir().unwrap();
    let leak = dir.path().join("leak.txt");
    let b64 = base64(format!("user:{OTHER_TOKEN}").as_bytes());
    let hex: String = PROVIDER_KEY.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        &leak,
        format!("k={PROVIDER_KEY}\nt={OTHER_TOKEN}\nBasic {b64}\nhex {hex}\n"),
    )
    .unwrap();
    let sent = solve_with_secrets(
        &server,
        &[
            proc_scan(),
            format!(
                "cat {}; cat /proc/$PPID/environ | tr '\\0' '\\n'; echo file-read-done",
                leak.display()
            ),
        ],
        &[],
    )
    .await;
    assert!(
        sent.contains("proc-scan-done"),
        "the scan ran and its output was sent"
    );
    assert!(sent.contains("file-read-done"));
    assert!(
        sent.contains("[REDACTED]"),
        "the file's secrets were replaced"
    );
    assert!(
        !sent.contains(&b64[8..b64.len() - 4]),
        "the base64 token reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proc_environ_scan_in_docker_sends_no_secret_to_the_model() {
    let ok = std::process::Command::new("docker")
        .args(["image", "inspect", "optagent/base:bookworm"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        optagent_testkit::skip(
            "secrets docker proc scan",
            "no Docker engine or image optagent/base:bookworm (crates/optagent-sandbox/image/build.sh builds it)",
        );
        return;
    }
    let server = MockServer::start().await;
    let sent = solve_with_secrets(&server, &[proc_scan()], &["--sandbox", "docker"]).await;
    assert!(sent.contains("proc-scan-done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optagent_is_not_dumpable_so_its_environment_cannot_be_read_by_the_user() {
    // SAFETY of the check: root may read any process's environment whatever its dumpable flag.
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    if uid == "0" || uid.is_empty() {
        optagent_testkit::skip(
            "non-dumpable optagent",
            "running as root (or without /proc): root reads every environment; the flag itself is tested in optagent-sandbox (protect::tests)",
        );
        return;
    }
    let server = MockServer::start().await;
    // The first model call waits: optagent is alive, past start-up, while we look at it.
    server.push(MockReply::tool_call("submit", "{}").delay(std::time::Duration::from_secs(3)));
    let out = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_optagent"))
        .args([
            "solve",
            "tasks/pyroute",
            "--model",
            "openai/mock-model",
            "--base-url",
            &server.url(),
            "--api-key-env",
            PROVIDER_VAR,
            "--out",
            out.path().to_str().unwrap(),
        ])
        .env(PROVIDER_VAR, PROVIDER_KEY)
        .current_dir(repo_root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let t0 = std::time::Instant::now();
    while server.request_count() == 0 && t0.elapsed().as_secs() < 120 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let read = std::fs::read(format!("/proc/{pid}/environ"));
    let _ = child.wait().await;
    match read {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}"),
        Ok(bytes) => panic!(
            "optagent's environment was readable ({} bytes)",
            bytes.len()
        ),
    }
}
