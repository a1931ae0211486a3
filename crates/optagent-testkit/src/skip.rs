//! Skips that are seen. A test that cannot run here (no Docker engine or image, no valgrind, perf,
//! py-spy, GPU, bwrap, Slurm or git mirror) calls [`skip`] and returns. The line
//! `SKIP: <test>: <reason>` goes to stderr (shown with `--nocapture`, or when the test fails) and,
//! when the variable [`SKIP_LOG_VAR`] names a file, is appended to that file too: cargo captures
//! the stderr of passing tests, so `.ci/run` sets the variable and prints the file's lines, with
//! their count, at the end of the run.

use std::io::Write;

/// The environment variable naming the file every skip line is appended to.
pub const SKIP_LOG_VAR: &str = "OPTAGENT_SKIP_LOG";

/// The line a skip prints: `SKIP: <test>: <reason>`, on one line (newlines in the reason become
/// spaces, so one skip is one line of the summary).
pub fn skip_line(test: &str, reason: &str) -> String {
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("SKIP: {test}: {reason}")
}

/// Report that `test` skips because of `reason`: one line on stderr and, when
/// `$OPTAGENT_SKIP_LOG` is set, the same line appended to that file. The caller then returns.
#[allow(clippy::print_stderr)]
pub fn skip(test: &str, reason: &str) {
    let line = skip_line(test, reason);
    eprintln!("{line}");
    if let Some(path) = std::env::var_os(SKIP_LOG_VAR).filter(|p| !p.is_empty()) {
        // One write of a whole line with O_APPEND: lines of tests running in parallel (threads or
        // processes) do not interleave.
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = res {
            eprintln!(
                "cannot append the skip line to {} (${SKIP_LOG_VAR}): {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}
