//! KernelBench's fast_p in sweep summaries, task rows, report files and the leaderboard, on the
//! hand-written results file. Speedups there: alpha r0 2.0, r1 1.25, r2 2.5 (expert 2.0); beta
//! r0 2.0, r1 5.0 but wrong_result, r3 4.0 (expert 4.0); gamma none correct.

use optagent_eval::{Flag, FlagKind};
use optagent_report::{
    summarize, task_rows, write_report, ConfigSummary, FastPShare, LeaderboardEntry,
};

use super::common::*;

const SEED: u64 = 7;

fn shares(s: &[FastPShare]) -> Vec<(&'static str, usize, usize)> {
    s.iter().map(|f| (f.p, f.tasks, f.n_tasks)).collect()
}

fn summary(records: &[optagent_report::RolloutRecord], all: &[&str], k: usize) -> ConfigSummary {
    summarize(records, &tasks(all), k, SEED).remove(0)
}

#[test]
fn fast_p_over_all_tasks_with_k_rollouts() {
    // K = 4: alpha's fastest correct patch is r2 at 2.5x, beta's r3 at 4.0x (r1's 5.0x is
    // incorrect and never counts); gamma has none; delta has no record but is in the
    // denominator.
    let s = summary(&results(), &["alpha", "beta", "gamma", "delta"], 4);
    assert_eq!(
        shares(&s.fast_p),
        [("0", 2, 4), ("1.0", 2, 4), ("1.5", 2, 4), ("2.0", 2, 4)]
    );
    assert_close(s.fast_p[3].share, 0.5);
    // Against the expert: alpha 2.5 / 2.0 = 1.25, beta 4.0 / 4.0 = 1.0 (not above 1.0).
    assert_eq!(
        shares(&s.fast_p_expert),
        [("0", 2, 4), ("1.0", 1, 4), ("1.5", 0, 4), ("2.0", 0, 4)]
    );

    // K = 1: alpha r0 and beta r0 are both exactly 2.0x: fast at 1.5, not at 2.0.
    let s = summary(&results(), &["alpha", "beta", "gamma"], 1);
    assert_eq!(
        shares(&s.fast_p),
        [("0", 2, 3), ("1.0", 2, 3), ("1.5", 2, 3), ("2.0", 0, 3)]
    );

    let rows = task_rows(&results(), &tasks(&["alpha", "beta", "gamma", "delta"]), 4);
    let row = |t: &str| rows.iter().find(|r| r.task == t).unwrap();
    assert_eq!(row("alpha").fast_p_rollout, Some(2));
    assert_eq!(row("alpha").fast_p_speedup, Some(2.5));
    assert_eq!(row("alpha").fast_p_expert_speedup, Some(1.25));
    assert_eq!(row("beta").fast_p_rollout, Some(3));
    assert_eq!(row("beta").fast_p.values(), [true; 4]);
    assert_eq!(
        row("beta").fast_p_expert.values(),
        [true, false, false, false]
    );
    for t in ["gamma", "delta"] {
        assert_eq!(row(t).fast_p_rollout, None);
        assert_eq!(row(t).fast_p.values(), [false; 4]);
    }
}

#[test]
fn a_flagged_patch_is_never_fast() {
    // Flag beta's r3 (4.0x): its r0 at exactly 2.0x is beta's fast_p patch now.
    let mut recs = results();
    for r in recs
        .iter_mut()
        .filter(|r| r.task == "beta" && r.rollout == 3)
    {
        r.eval.as_mut().unwrap().integrity.flags.push(Flag {
            kind: FlagKind::TimingMismatch,
            workload: None,
            detail: "reported time not seen by the clock".into(),
        });
    }
    let s = summary(&recs, &["alpha", "beta", "gamma"], 4);
    assert_eq!(
        shares(&s.fast_p),
        [("0", 2, 3), ("1.0", 2, 3), ("1.5", 2, 3), ("2.0", 1, 3)]
    );
    // Flag every beta rollout: beta is not even fast_0.
    for r in recs.iter_mut().filter(|r| r.task == "beta") {
        if let Some(e) = r.eval.as_mut() {
            e.integrity.flags.push(Flag {
                kind: FlagKind::Suspicious,
                workload: None,
                detail: "rebinds time.perf_counter".into(),
            });
        }
    }
    let s = summary(&recs, &["alpha", "beta", "gamma"], 4);
    assert_eq!(
        shares(&s.fast_p),
        [("0", 1, 3), ("1.0", 1, 3), ("1.5", 1, 3), ("2.0", 1, 3)]
    );
}

#[test]
fn reports_show_fast_p() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_report(
        &results(),
        &tasks(&["alpha", "beta", "gamma", "delta"]),
        4,
        dir.path(),
    )
    .unwrap();
    let md = std::fs::read_to_string(&paths.markdown).unwrap();
    // The leaderboard table, beside Opt@k, SR and advantage.
    assert!(
        md.contains("| Adv L4 | fast\\_0 | fast\\_1.0 | fast\\_1.5 | fast\\_2.0 | Pass rate |"),
        "{md}"
    );
    assert!(
        md.contains("| 50.0% (2/4) | 50.0% (2/4) | 50.0% (2/4) | 50.0% (2/4) |"),
        "{md}"
    );
    // Its own section, against the baseline and the expert.
    assert!(md.contains("## fast\\_p"), "{md}");
    assert!(
        md.contains("| expert | 50.0% (2/4) | 25.0% (1/4) | 0.0% (0/4) | 0.0% (0/4) |"),
        "{md}"
    );
    // Per task: the fast_p patch and its verdicts.
    assert!(md.contains("yes yes yes yes 2.500× (r2)"), "{md}");
    assert!(md.contains("yes yes no no 1.250× (r2)"), "{md}");
    assert!(
        md.contains("no no no no (no correct, unflagged patch)"),
        "{md}"
    );
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert!(html.contains("<th class=\"num\">fast_1.5</th>"), "{html}");
    assert!(html.contains("<h2>fast_p</h2>"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths.json).unwrap()).unwrap();
    let f = &json["summaries"][0]["fast_p"][1];
    assert_eq!(f["p"], "1.0");
    assert_eq!(
        (f["tasks"].as_u64(), f["n_tasks"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(f["share"], 0.5);
    let alpha = json["task_rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["task"] == "alpha")
        .unwrap();
    assert_eq!(
        alpha["fast_p"],
        serde_json::json!({"0": true, "1.0": true, "1.5": true, "2.0": true})
    );
    assert_eq!(alpha["fast_p_speedup"], 2.5);
}

#[test]
fn leaderboard_entries_carry_fast_p() {
    let s = summary(&results(), &["alpha", "beta", "gamma", "delta"], 4);
    let e = LeaderboardEntry::from_summary(&s, "optagent", "this repository, evals/x", "2026-05");
    let f = e.fast_p.expect("fast_p from the summary");
    assert_eq!(f.values(), [Some(0.5), Some(0.5), Some(0.5), Some(0.5)]);
    let md = optagent_report::render_leaderboard_md(&[e]);
    assert!(md.contains("| 50.0% / 50.0% / 50.0% / 50.0% |"), "{md}");
}

#[test]
fn shipped_leaderboard_has_kernelbench_and_fast_p_round_trips() {
    use optagent_report::leaderboard::parse_leaderboard;
    use optagent_report::{leaderboard_add, load_leaderboard, Benchmark, Bound};
    use std::path::Path;

    let entries = load_leaderboard(evals("leaderboard.toml")).unwrap();
    let kb = entries
        .iter()
        .find(|e| e.benchmark == Benchmark::KernelBench)
        .expect("the KernelBench anchor");
    assert_eq!(kb.fast_p.unwrap().values(), [None, Some(0.2), None, None]);
    assert_eq!((kb.bound, kb.n_tasks), (Some(Bound::Upper), Some(250)));
    let md = optagent_report::render_leaderboard_md(&entries);
    assert!(md.contains("## KernelBench (`kernelbench`)"), "{md}");
    assert!(md.contains("| — / < 20.0% / — / — |"), "{md}");

    // An entry with fast_p is written and read back unchanged.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lb.toml");
    let s = summary(&results(), &["alpha", "beta", "gamma"], 1);
    let entry =
        LeaderboardEntry::from_summary(&s, "optagent", "this repository, evals/x", "2026-05");
    leaderboard_add(&path, &entry).unwrap();
    assert_eq!(load_leaderboard(&path).unwrap(), vec![entry]);

    // Bad figures name the entry and the field.
    let text = |fast_p: &str| {
        format!(
            "[[entry]]\nsystem = \"x\"\nmodel = \"m\"\nbenchmark = \"kernelbench\"\n\
             fast_p = {fast_p}\nsource = \"s\"\ndate = \"2025\"\n"
        )
    };
    let lb = Path::new("lb.toml");
    let e = parse_leaderboard(&text("{ \"1.0\" = 12.0 }"), lb)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("entry[0].fast_p") && e.contains("\"1.0\" = 12 is not a fraction"),
        "{e}"
    );
    let e = parse_leaderboard(&text("{}"), lb).unwrap_err().to_string();
    assert!(
        e.contains("entry[0].fast_p") && e.contains("no threshold"),
        "{e}"
    );
    let e = parse_leaderboard(&text("{ \"1\" = 0.1 }"), lb)
        .unwrap_err()
        .to_string();
    assert!(e.contains("fast_p") && e.contains("unknown field"), "{e}");
    assert!(parse_leaderboard(&text("{ \"0\" = 0.5, \"2.0\" = 0.01 }"), lb).is_ok());
}
