//! The skip line: its form on one line, and its copy appended to `$OPTAGENT_SKIP_LOG` (this file
//! is its own test process, so setting the variable here touches no other test).
//! A test binary of its own, outside `all.rs` (`mod suite`), for that reason.

use optagent_testkit::skip::{skip_line, SKIP_LOG_VAR};

#[test]
fn skip_lines_are_one_line_each_and_appended_to_the_log_file() {
    assert_eq!(
        skip_line("docker_runs", "no Docker engine\n(connection refused)"),
        "SKIP: docker_runs: no Docker engine (connection refused)"
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skips.log");
    std::env::set_var(SKIP_LOG_VAR, &log);
    optagent_testkit::skip("first_test", "valgrind is not installed");
    optagent_testkit::skip("second_test", "no GPU");
    std::env::remove_var(SKIP_LOG_VAR);
    optagent_testkit::skip("third_test", "not logged: the variable is unset");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text,
        "SKIP: first_test: valgrind is not installed\nSKIP: second_test: no GPU\n"
    );
}
