//! The leaderboard file: the shipped one loads, entries append, placeholders give way.

use std::path::Path;

use optagent_report::leaderboard::parse_leaderboard;
use optagent_report::{
    leaderboard_add, load_leaderboard, render_leaderboard_md, summarize, Benchmark, Bound,
    LeaderboardEntry, ReportError,
};

use super::common::*;

#[test]
fn shipped_leaderboard_loads_with_anchors_and_placeholders() {
    let entries = load_leaderboard(evals("leaderboard.toml")).unwrap();
    let gso = entries
        .iter()
        .find(|e| e.benchmark == Benchmark::Gso)
        .unwrap();
    assert_eq!(gso.opt_at_1, Some(0.4412));
    assert_eq!(gso.n_tasks, Some(102));
    assert_eq!(gso.date, "2026-04");
    let swef = entries
        .iter()
        .find(|e| e.benchmark == Benchmark::SweFficiency)
        .unwrap();
    assert_eq!(
        (swef.speedup_ratio, swef.bound),
        (Some(0.15), Some(Bound::Upper))
    );
    let fc = entries
        .iter()
        .find(|e| e.benchmark == Benchmark::FormulaCode)
        .unwrap();
    assert_eq!(fc.advantage, Some(-0.0096));
    let own: Vec<_> = entries.iter().filter(|e| e.system == "optagent").collect();
    assert!(!own.is_empty());
    for e in own {
        assert!(
            !e.measured,
            "optagent's entries stay placeholders until a sweep runs"
        );
        assert!(e.opt_at_1.is_none() && e.opt_at_k.is_none());
        assert!(e.source.starts_with("this repository, evals/"));
    }
    let md = render_leaderboard_md(&entries);
    assert!(md.contains("| 44.12% |"), "{md}");
    assert!(md.contains("< 0.150×"), "{md}");
    assert!(md.contains("-0.0096"), "{md}");
    assert!(md.contains("not yet measured"));
}

#[test]
fn add_appends_keeps_comments_and_supersedes_placeholders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaderboard.toml");
    std::fs::copy(evals("leaderboard.toml"), &path).unwrap();
    let before = load_leaderboard(&path).unwrap().len();
    let s = &summarize(&results(), &tasks(&["alpha", "beta", "gamma"]), 4, 1)[0];
    let entry = LeaderboardEntry::from_summary(
        s,
        "optagent",
        "this repository, evals/sweep-example.toml",
        "2026-05-01",
    );
    leaderboard_add(&path, &entry).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# optagent leaderboard"));
    let after = load_leaderboard(&path).unwrap();
    assert_eq!(after.len(), before + 1);
    assert_eq!(after.last().unwrap(), &entry);
    let md = render_leaderboard_md(&after);
    // gpt-5-mini's placeholder is gone, claude's stays.
    assert_eq!(md.matches("| not yet measured |").count(), 1, "{md}");
    assert!(md.contains("33.33%"), "{md}");
    // A new file is created.
    let fresh = dir.path().join("new/lb.toml");
    leaderboard_add(&fresh, &entry).unwrap();
    assert_eq!(load_leaderboard(&fresh).unwrap(), vec![entry.clone()]);
    // An invalid entry is refused before anything is written.
    let mut bad = entry.clone();
    bad.opt_at_1 = Some(44.12);
    let e = leaderboard_add(&fresh, &bad).unwrap_err().to_string();
    assert!(e.contains("opt_at_1"), "{e}");
    assert_eq!(load_leaderboard(&fresh).unwrap().len(), 1);
}

#[test]
fn errors_name_entry_field_and_line() {
    let text = r#"
[[entry]]
system = "x"
model = "m"
benchmark = "gso"
opt_at_1 = 0.2
source = "s"
date = "2026-04"

[[entry]]
system = "optagent"
model = "m"
benchmark = "optagent-bundled"
measured = false
opt_at_1 = 0.5
source = "this repository, evals/x"
date = "pending"
"#;
    match parse_leaderboard(text, Path::new("lb.toml")).unwrap_err() {
        ReportError::Config { field, line, .. } => {
            assert_eq!(field, "entry[1].measured");
            assert_eq!(line.0, Some(14));
        }
        other => panic!("{other}"),
    }
    let e = parse_leaderboard(&text.replace("\"gso\"", "\"gsoo\""), Path::new("lb.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("lb.toml:5: entry[0].benchmark"), "{e}");
    let e = parse_leaderboard(&text.replace("2026-04", "April"), Path::new("lb.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("lb.toml:8: entry[0].date"), "{e}");
}
