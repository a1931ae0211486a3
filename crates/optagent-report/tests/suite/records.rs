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

#[test]
fn nan_in_an_evaluation_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let mut r = results().remove(0);
    {
        let e = r.eval.as_mut().unwrap();
        e.hmean_expert_over_patch = f64::NAN;
        e.timing.overhead_ratio = f64::INFINITY;
    }
    append_record(&path, &r).unwrap();
    let back = read_records(&path).unwrap();
    let e = back[0].eval.as_ref().unwrap();
    assert!(e.hmean_expert_over_patch.is_nan());
    assert!(e.timing.overhead_ratio.is_nan());
    assert_eq!(e.verdict.as_str(), "ok");
    assert_eq!(e.workloads.len(), 1);
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
