//! The results file: reading, appending, damaged lines, resume keys.

use std::io::Write;

use optagent_report::record::parse_records;
use optagent_report::{
    append_record, completed_keys, read_records, read_records_detailed, record_key, ReportError,
    RolloutStatus,
};

use super::common::*;

#[test]
fn fixture_reads_in_file_order() {
    let recs = results();
    assert_eq!(recs.len(), 12);
    assert_eq!(record_key(&recs[2]).0, "beta");
    assert_eq!(recs[0].status, RolloutStatus::Submitted);
    assert!(recs[0].eval.as_ref().unwrap().correct);
    assert_eq!(
        recs[0].flamegraphs,
        vec!["rollouts/alpha/0/flame 1.svg".to_string()]
    );
    let keys = completed_keys(&recs);
    assert!(keys.contains(&(
        "gamma".to_string(),
        "openai/gpt-5-mini".to_string(),
        "optagent-default".to_string(),
        "steps50".to_string(),
        3
    )));
    assert_eq!(keys.len(), 12);
}

#[test]
fn malformed_line_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let text = std::fs::read_to_string(fixture("results-3x4.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[4] = "{\"sweep\": \"x\", \"task\": 3}";
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = read_records(&path).unwrap_err();
    match &err {
        ReportError::Record { path: p, line, .. } => {
            assert_eq!(p, &path);
            assert_eq!(*line, 5);
        }
        other => panic!("wrong error: {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("results.jsonl:5:"), "{msg}");
    // A syntax error in a terminated line is an error too, even when last.
    std::fs::write(&path, format!("{}\n{{\"sweep\": \n", lines[0])).unwrap();
    let err = read_records(&path).unwrap_err().to_string();
    assert!(err.contains("results.jsonl:2:"), "{err}");
}

#[test]
fn truncated_last_line_is_skipped_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let text = std::fs::read_to_string(fixture("results-3x4.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Eleven whole lines, then half of the twelfth with no newline: a killed writer.
    let cut = &lines[11][..lines[11].len() / 2];
    std::fs::write(&path, format!("{}\n{cut}", lines[..11].join("\n"))).unwrap();
    let out = read_records_detailed(&path).unwrap();
    assert_eq!(out.records.len(), 11);
    assert_eq!(out.skipped_truncated_line, Some(12));
    assert_eq!(read_records(&path).unwrap().len(), 11);

    // Appending after the crash cuts the fragment off first.
    let rec = results().pop().unwrap();
    append_record(&path, &rec).unwrap();
    let back = read_records_detailed(&path).unwrap();
    assert_eq!(back.records.len(), 12);
    assert_eq!(back.skipped_truncated_line, None);
    assert_eq!(record_key(&back.records[11]), record_key(&rec));
}

#[test]
fn append_creates_terminates_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/results.jsonl");
    let recs = results();
    for r in &recs {
        append_record(&path, r).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 12);
    assert!(text.ends_with('\n'));
    let back = read_records(&path).unwrap();
    assert_eq!(back.len(), 12);
    for (a, b) in recs.iter().zip(&back) {
        assert_eq!(
            serde_json::to_string(a).unwrap(),
            serde_json::to_string(b).unwrap()
        );
    }
    // A complete last record that lacks only its newline is kept.
    let p2 = dir.path().join("r2.jsonl");
    let one = serde_json::to_string(&recs[0]).unwrap();
    std::fs::write(&p2, &one).unwrap();
    append_record(&p2, &recs[1]).unwrap();
    assert_eq!(read_records(&p2).unwrap().len(), 2);
}

/// Issue 12 item 4: undefined figures are `None`, written `null` (never `NaN`), and read back
/// as `None` by the strict reader (there is no lenient pass any more).
#[test]
fn undefined_figures_round_trip_as_null() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let mut r = results().remove(0);
    {
        let e = r.eval.as_mut().unwrap();
        e.speedup = None;
        e.hmean_expert_over_patch = None;
        e.speedup_ratio = None;
        e.advantage.l2 = None;
        e.timing.overhead_ratio = None;
        e.fast_p_expert_speedup = None;
        e.workloads[0].speedup = None;
        e.workloads[0].speedup_ci = [Some(1.5), None];
        e.workloads[0].advantage = None;
    }
    append_record(&path, &r).unwrap();
    let line = std::fs::read_to_string(&path).unwrap();
    assert!(!line.contains("NaN"), "{line}");
    for field in [
        r#""speedup":null"#,
        r#""hmean_expert_over_patch":null"#,
        r#""speedup_ratio":null"#,
        r#""l2":null"#,
        r#""overhead_ratio":null"#,
        r#""speedup_ci":[1.5,null]"#,
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    let back = read_records(&path).unwrap();
    let e = back[0].eval.as_ref().unwrap();
    assert_eq!(e.speedup, None);
    assert_eq!(e.hmean_expert_over_patch, None);
    assert_eq!(e.speedup_ratio, None);
    assert_eq!(e.advantage.l2, None);
    assert_eq!(e.advantage.l1, Some(0.0));
    assert_eq!(e.timing.overhead_ratio, None);
    assert_eq!(e.workloads[0].speedup, None);
    assert_eq!(e.workloads[0].speedup_ci, [Some(1.5), None]);
    assert_eq!(e.expert_speedup, Some(2.0));
    assert_eq!(e.verdict.as_str(), "ok");
    assert_eq!(
        serde_json::to_string(&back[0]).unwrap(),
        serde_json::to_string(&r).unwrap()
    );
}

/// Issue 12 item 4: a record as an earlier version wrote it, where `NaN` stood for an undefined
/// figure and `serde_json` wrote it `null` (the task's and a workload's speedup, its interval,
/// the ratios, every advantage level, the overhead ratio, the fast_p speedups), still reads: the
/// nulls come back as `None`.
#[test]
fn null_figures_of_earlier_records_read_as_none() {
    let recs = read_records(fixture("null-figures-v0.jsonl")).unwrap();
    assert_eq!(recs.len(), 1);
    let e = recs[0].eval.as_ref().unwrap();
    assert_eq!(e.speedup, None);
    assert_eq!(e.expert_speedup, Some(2.0));
    assert_eq!(e.hmean_expert_over_patch, None);
    assert_eq!(e.speedup_ratio, None);
    assert!(e.advantage.levels().iter().all(Option::is_none));
    assert_eq!(e.timing.overhead_ratio, None);
    assert_eq!((e.fast_p_speedup, e.fast_p_expert_speedup), (None, None));
    let w = &e.workloads[0];
    assert_eq!(
        (w.speedup, w.speedup_ci, w.advantage),
        (None, [None; 2], None)
    );
    assert_eq!(w.expert_speedup, Some(2.0));
    // Such a record is judged on its defined figures: no speedup, so not verified, not fast.
    assert!(!optagent_eval::is_verified(e));
    assert_eq!(e.fast_p_now(), optagent_eval::FastP::default());
    let s = &optagent_report::summarize(&recs, &tasks(&["alpha"]), 1, 7)[0];
    // The correct patch with no speedup counts 1.0 in the geometric mean.
    assert_eq!(s.geomean_speedup, Some(1.0));
}

#[test]
fn blank_lines_and_crlf_are_accepted() {
    let text = std::fs::read_to_string(fixture("results-3x4.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().take(2).collect();
    let data = format!("{}\r\n\n  \n{}\r\n", lines[0], lines[1]);
    let out = parse_records(data.as_bytes(), std::path::Path::new("x.jsonl")).unwrap();
    assert_eq!(out.records.len(), 2);
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"").unwrap();
    assert!(read_records(f.path()).unwrap().is_empty());
    let missing = read_records("/nonexistent/results.jsonl")
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/nonexistent/results.jsonl"), "{missing}");
}
