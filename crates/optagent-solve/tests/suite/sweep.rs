//! Sweeps against mock model servers, with rollouts that submit nothing (no verification runs):
//! the spending cap stops new rollouts, errored rollouts run again on resume and nothing else
//! does, and a provider's concurrency limit holds.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use optagent_eval::EvalOptions;
use optagent_model::{ApiKey, ModelOptions};
use optagent_sandbox::LocalFactory;
use optagent_solve::sweep::{sweep, SweepEvent, SweepOptions};
use optagent_solve::sweep_config::SweepConfig;
use optagent_testkit::{MockReply, MockServer};
use serde_json::Value;

fn write_task(dir: &Path, id: &str) {
    std::fs::create_dir_all(dir.join("repo/bench")).unwrap();
    std::fs::write(
        dir.join("repo/lib.py"),
        "def work(n):\n    return sum(range(n))\n",
    )
    .unwrap();
    std::fs::write(dir.join("repo/bench/run.py"), "print(1)\n").unwrap();
    std::fs::write(dir.join("expert.diff"), "").unwrap();
    std::fs::write(
        dir.join("task.toml"),
        format!("id = \"{id}\"\ninstruction = \"make work() faster\"\nlanguages = [\"python\"]\n[source]\npath = \"repo\"\n[expert]\npatch = \"expert.diff\"\n[[workloads]]\nname = \"{id}.work\"\ncommand = \"python3 bench/run.py\"\n"),
    )
    .unwrap();
}

/// A sweep folder with one task and the given sweep.toml body (after `name` and `tasks`), and
/// model options whose providers `mocka` and `mockb` are the servers given, at $300 per million
/// input tokens (a reply reporting 1000 prompt tokens costs $0.30).
fn setup(dir: &Path, body: &str, a: &MockServer, b: Option<&MockServer>) -> SweepOptions {
    write_task(&dir.join("tasks/t"), "t");
    let provider = |name: &str, s: &MockServer| {
        format!(
            "[providers.{name}]\nbase_url = \"{}\"\nkey_required = false\nmax_retries = 0\ninput_per_mtok = 300.0\noutput_per_mtok = 0.0\n",
            s.url()
        )
    };
    let mut providers = provider("mocka", a);
    if let Some(b) = b {
        providers.push_str(&provider("mockb", b));
    }
    std::fs::write(dir.join("providers.toml"), providers).unwrap();
    let path = dir.join("sweep.toml");
    std::fs::write(
        &path,
        format!("name = \"s\"\ntasks = [\"tasks/t\"]\noutput = \"out\"\n{body}"),
    )
    .unwrap();
    let config = SweepConfig::load(&path).unwrap();
    SweepOptions {
        config,
        model_opts: ModelOptions {
            config_path: Some(dir.join("providers.toml")),
            ignore_user_config: true,
            api_key: Some(ApiKey::new("sk-test-sweep-000000000000")),
            ..Default::default()
        },
        sandbox: Arc::new(LocalFactory),
        bench: EvalOptions::new(dir.join("bench")),
        verify: EvalOptions::new(dir.join("verify")),
        watcher: None,
        secret_vars: vec![],
        judge: None,
    }
}

fn submit() -> MockReply {
    MockReply::tool_call("submit", "{}").with_usage(1000, 0)
}

/// The watcher's events, kept.
fn recorder(o: &mut SweepOptions) -> Arc<Mutex<Vec<SweepEvent>>> {
    let seen = Arc::new(Mutex::new(vec![]));
    let s = seen.clone();
    o.watcher = Some(Arc::new(move |e| s.lock().unwrap().push(e)));
    seen
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spending_cap_stops_new_rollouts_and_lets_none_start_after_it() {
    let server = MockServer::with_handler(|_| submit()).await;
    let d = tempfile::tempdir().unwrap();
    let body = "k = 4\nconcurrency = 1\nmax_cost_usd = 0.5\n[[models]]\nmodel = \"mocka/m\"\n[[budgets]]\nlabel = \"b\"\nmax_steps = 5\n";
    let mut o = setup(d.path(), body, &server, None);
    let seen = recorder(&mut o);
    let out = sweep(o).await.unwrap();
    // $0.30 a rollout, one at a time: 0.3 < 0.5 lets the second start; 0.6 stops the rest.
    assert_eq!((out.ran, out.not_started_cap), (2, 2));
    assert!((out.spent_usd - 0.6).abs() < 1e-9, "{}", out.spent_usd);
    assert_eq!(server.request_count(), 2);
    assert_eq!(lines(&out.results).len(), 2);
    let caps = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            SweepEvent::CapReached { spent_usd, cap_usd } => Some((*spent_usd, *cap_usd)),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(caps.len(), 1, "said once: {caps:?}");
    assert_eq!(caps[0].1, 0.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errored_rollouts_run_again_on_resume_and_finished_ones_do_not() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f = failing.clone();
    // Rollout 0 (seed 0) meets a provider error the first time; rollout 1 submits.
    let server = MockServer::with_handler(move |req| {
        if req["seed"] == 0 && f.load(std::sync::atomic::Ordering::SeqCst) {
            MockReply::error(400, "the provider refused the request")
        } else {
            submit()
        }
    })
    .await;
    let d = tempfile::tempdir().unwrap();
    let body = "k = 2\nconcurrency = 1\nmax_cost_usd = 100.0\n[[models]]\nmodel = \"mocka/m\"\n[[budgets]]\nlabel = \"b\"\nmax_steps = 5\n";
    let out = sweep(setup(d.path(), body, &server, None)).await.unwrap();
    assert_eq!(out.ran, 2);
    let first = lines(&out.results);
    let status = |v: &Value| {
        (
            v["rollout"].as_u64().unwrap(),
            v["status"].as_str().unwrap().to_string(),
        )
    };
    let mut got: Vec<_> = first.iter().map(status).collect();
    got.sort();
    assert_eq!(got, [(0, "error".to_string()), (1, "no_patch".to_string())]);
    assert!(first.iter().any(|v| v["error"]
        .as_str()
        .is_some_and(|e| e.contains("the provider refused"))));

    // Resumed with the provider back: only rollout 0 runs again, and its new line comes last.
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let before = server.request_count();
    let mut o = setup(d.path(), body, &server, None);
    let seen = recorder(&mut o);
    let out = sweep(o).await.unwrap();
    assert_eq!((out.ran, out.skipped_done), (1, 1));
    assert_eq!(server.request_count(), before + 1);
    let all = lines(&out.results);
    assert_eq!(all.len(), 3);
    assert_eq!(status(&all[2]), (0, "no_patch".to_string()));
    let planned = seen.lock().unwrap().iter().find_map(|e| match e {
        SweepEvent::Planned {
            total, done, todo, ..
        } => Some((*total, *done, *todo)),
        _ => None,
    });
    assert_eq!(planned, Some((2, 1, 1)));
    // A third run has nothing left to do.
    let out = sweep(setup(d.path(), body, &server, None)).await.unwrap();
    assert_eq!((out.ran, out.skipped_done), (0, 2));
    assert_eq!(lines(&out.results).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_concurrency_limit_holds_beside_an_unlimited_one() {
    // Provider a allows one rollout at a time; each of its replies takes 800 ms. Had its three
    // rollouts run together (the sweep allows 4 at once), their requests would arrive together.
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let arr = arrivals.clone();
    let a = MockServer::with_handler(move |_| {
        arr.lock().unwrap().push(Instant::now());
        submit().delay(Duration::from_millis(800))
    })
    .await;
    let b = MockServer::with_handler(|_| submit()).await;
    let d = tempfile::tempdir().unwrap();
    let body = "k = 3\nconcurrency = 4\nmax_cost_usd = 100.0\n[[models]]\nmodel = \"mocka/m\"\nmax_concurrency = 1\n[[models]]\nmodel = \"mockb/m\"\n[[budgets]]\nlabel = \"b\"\nmax_steps = 5\n";
    let out = sweep(setup(d.path(), body, &a, Some(&b))).await.unwrap();
    assert_eq!(out.ran, 6);
    assert_eq!(b.request_count(), 3);
    let mut t = arrivals.lock().unwrap().clone();
    assert_eq!(t.len(), 3);
    t.sort();
    for w in t.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(800),
            "provider a's rollouts overlapped: {:?} apart",
            w[1] - w[0]
        );
    }
}
