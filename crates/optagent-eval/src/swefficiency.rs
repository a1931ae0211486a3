//! SWE-fficiency's workload protocol (`protocol = "swefficiency"`), for workload scripts imported
//! from SWE-fficiency's dataset.
//!
//! SWE-fficiency's harness (`swefficiency/swefficiency`, `swefficiency/harness/test_spec.py`,
//! `make_performance_script_list` and `parse_perf_output`) runs `python /tmp/workload.py` and
//! reads the script's standard output with the pattern `(?:Mean|Std\s*Dev):\s*(\S+)`: the first
//! match is the mean of the runtimes the script measured itself with `timeit.repeat`, the second
//! their standard deviation. Its workload scripts end with `print("Mean:", statistics.mean(...))`
//! and `print("Std Dev:", statistics.stdev(...))`. Correctness is not the workload's business:
//! SWE-fficiency checks it with the repository's own tests (`PASS_TO_PASS`), which the importer
//! makes the task's `[tests]`.

/// The mean a SWE-fficiency workload printed, read as the harness reads it: the first `Mean:`
/// (or `Std Dev:`) match in the output is the mean, and it must be followed by a second match,
/// the standard deviation.
pub fn mean_seconds(stdout: &str) -> Result<f64, SwefficiencyError> {
    let mut found: Vec<&str> = Vec::new();
    for line in stdout.lines() {
        let mut rest = line;
        while let Some((label_end, after)) = next_label(rest) {
            let value = after.split_whitespace().next().unwrap_or_default();
            if !value.is_empty() {
                found.push(value);
            }
            rest = &rest[label_end..];
        }
    }
    let Some(mean) = found.first() else {
        return Err(SwefficiencyError::NoMean {
            tail: tail(stdout, 200),
        });
    };
    if found.len() < 2 {
        return Err(SwefficiencyError::NoStdDev {
            mean: mean.to_string(),
        });
    }
    match mean.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(SwefficiencyError::NotPositive {
            mean: mean.to_string(),
        }),
    }
}

/// What a SWE-fficiency workload's standard output got wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SwefficiencyError {
    /// `tail`: the end of its output.
    #[error(
        "printed no `Mean: <seconds>` line (SWE-fficiency protocol); its output ended: {tail:?}"
    )]
    NoMean { tail: String },
    #[error("printed `Mean: {mean}` but no `Std Dev:` after it (SWE-fficiency protocol)")]
    NoStdDev { mean: String },
    #[error("printed `Mean: {mean}`, expected a positive number of seconds")]
    NotPositive { mean: String },
}

/// The end of the next `Mean:` or `Std Dev:` label in `s` (any spaces inside `Std Dev`), and the
/// text after it.
fn next_label(s: &str) -> Option<(usize, &str)> {
    let mut best: Option<(usize, usize)> = None;
    if let Some(i) = s.find("Mean:") {
        best = Some((i, i + "Mean:".len()));
    }
    let mut from = 0;
    while let Some(j) = s[from..].find("Std") {
        let start = from + j;
        let after = &s[start + 3..];
        let trimmed = after.trim_start();
        if let Some(rest) = trimmed.strip_prefix("Dev:") {
            let end = s.len() - rest.len();
            if best.is_none_or(|(b, _)| start < b) {
                best = Some((start, end));
            }
            break;
        }
        from = start + 3;
    }
    best.map(|(_, end)| (end, &s[end..]))
}

fn tail(s: &str, n: usize) -> String {
    let t = s.trim_end();
    let start = t
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    t[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_is_read_as_swefficiency_reads_it() {
        assert_eq!(
            mean_seconds("Mean: 0.0123\nStd Dev: 0.001\n").unwrap(),
            0.0123
        );
        // Other output before it is ignored; the first match is the mean.
        assert_eq!(
            mean_seconds("warming up\nMean: 2.5e-3\nStd  Dev: 1e-4\nMean: 9\n").unwrap(),
            0.0025
        );
        let e = mean_seconds("done\n").unwrap_err().to_string();
        assert!(e.contains("Mean:") && e.contains("done"), "{e}");
        let e = mean_seconds("Mean: 0.1\n").unwrap_err().to_string();
        assert!(e.contains("Std Dev"), "{e}");
        let e = mean_seconds("Mean: nan\nStd Dev: 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("positive"), "{e}");
        let e = mean_seconds("Mean: -1\nStd Dev: 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("positive"), "{e}");
    }
}
