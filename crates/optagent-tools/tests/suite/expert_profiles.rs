//! The profiling issue's acceptance check on the bundled tasks: the `profile` tool gets at least
//! 1,000 samples (or instructions) inside the measured section in at most 10 s, and the
//! differential flamegraph after the expert's patch names a function the expert changed as the
//! largest change, with no import frame among the top five. `cargo run -p optagent-tools
//! --example profile_figures` prints the same figures for every CPU workload.

// Skipped tests say why with `optagent_testkit::skip`.

use std::path::PathBuf;

use super::common::expert_profiles::{expert_figures, Figures};

fn task(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tasks")
        .join(name)
}

fn have(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn check(f: &Figures) {
    assert!(
        f.in_section >= 1000,
        "{} {} in the section: {}",
        f.in_section,
        f.unit,
        f.header
    );
    // The 10 s budget, with room for a loaded CI machine (the example prints the real figure).
    assert!(
        f.profile_s <= 20.0,
        "profiling took {:.1}s: {}",
        f.profile_s,
        f.header
    );
    assert!(
        f.largest_is_expert(),
        "largest change {:?} is none of the expert's functions {:?}",
        f.changes.first(),
        f.expert_functions
    );
    assert!(f.imports_in_top5().is_empty(), "{:?}", f.changes);
}

#[tokio::test]
async fn pyroute_moving_median_profile_shows_the_experts_change() {
    if !have("py-spy") {
        optagent_testkit::skip(
            "pyroute_moving_median_profile_shows_the_experts_change",
            "py-spy is not installed (pip install py-spy)",
        );
        return;
    }
    let figs = expert_figures(&task("pyroute"), Some("moving_median"), None)
        .await
        .unwrap();
    assert_eq!(figs.len(), 1);
    let f = &figs[0];
    assert_eq!(f.profiler, "py-spy", "{}", f.header);
    assert!(f.header.contains("in the measured section"), "{}", f.header);
    check(f);
    assert_eq!(f.changes[0].0, "moving_median", "{:?}", f.changes);
}

#[tokio::test]
async fn cvec_multiply_callgrind_counts_the_section_only() {
    if !have("valgrind") || !have("cc") || !have("make") {
        optagent_testkit::skip(
            "cvec_multiply_callgrind_counts_the_section_only",
            "valgrind, cc or make is not installed",
        );
        return;
    }
    let figs = expert_figures(&task("cvec"), Some("multiply"), Some("callgrind"))
        .await
        .unwrap();
    let f = &figs[0];
    assert_eq!(f.profiler, "callgrind", "{}", f.header);
    check(f);
    assert_eq!(f.changes[0].0, "cvec_mat_multiply", "{:?}", f.changes);
}
