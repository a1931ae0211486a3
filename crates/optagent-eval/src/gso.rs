//! GSO's workload protocol (`protocol = "gso"`), for test scripts imported from GSO's dataset.
//!
//! GSO's harness (`gso-bench/gso`, `src/gso/harness/grading/evalscript.py`) runs each test as
//! `python test.py <out_file> --reference|--eqcheck --file_prefix <prefix>`. The script appends
//! `Execution time: <seconds>s` to `<out_file>` (`src/gso/collect/generate/harness.py`), stores its
//! result under `<prefix>` with `--reference`, and with `--eqcheck` loads that reference and fails
//! (a non-zero exit) when its own result is not equivalent.
//!
//! Here the baseline tree runs with `--reference`, writing into its own
//! `.optagent/gso/<workload>/` folder; before every run of another tree that folder is copied into
//! the tree's own (replacing whatever was there), and the run uses `--eqcheck`. The measured value
//! is the last `Execution time:` line of a fresh out file. One difference from GSO's harness: GSO
//! runs the expert's commit with `--reference` (unchecked); here the expert is checked like any
//! candidate, so a task whose expert fails its own equivalence check is reported as broken.

use std::path::{Path, PathBuf};

use optagent_task::tree::{path_component, STATE_DIR};
use optagent_task::Workload;

/// One run of a GSO test script in one tree.
#[derive(Debug)]
pub struct GsoRun {
    /// The out file, relative to the tree's root.
    pub out_rel: String,
    /// The `--file_prefix`, relative to the tree's root.
    pub prefix_rel: String,
    /// `--reference` on the baseline, else `--eqcheck`.
    pub reference: bool,
}

fn ref_dir(root: &Path, w: &Workload) -> PathBuf {
    root.join(STATE_DIR)
        .join("gso")
        .join(path_component(&w.name))
}

impl GsoRun {
    /// Get a tree ready for one run: its out file cleared and, on a tree other than the baseline
    /// (`baseline_root` is `Some`), the baseline's reference copied in.
    pub fn prepare(
        root: &Path,
        w: &Workload,
        baseline_root: Option<&Path>,
        tag: &str,
    ) -> std::io::Result<GsoRun> {
        let key = path_component(&w.name);
        let dir = ref_dir(root, w);
        if let Some(base) = baseline_root {
            // The reference always comes fresh from the baseline: nothing a patch left here counts.
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            let from = ref_dir(base, w);
            if from.is_dir() {
                for e in std::fs::read_dir(&from)? {
                    let e = e?;
                    if e.file_type()?.is_file() {
                        std::fs::copy(e.path(), dir.join(e.file_name()))?;
                    }
                }
            }
        } else {
            std::fs::create_dir_all(&dir)?;
        }
        let out_rel = format!("{STATE_DIR}/out/{tag}.gso.txt");
        let out_abs = root.join(&out_rel);
        std::fs::create_dir_all(out_abs.parent().expect("parent"))?;
        let _ = std::fs::remove_file(&out_abs);
        Ok(GsoRun {
            out_rel,
            prefix_rel: format!("{STATE_DIR}/gso/{key}/gso"),
            reference: baseline_root.is_none(),
        })
    }

    /// The command line: the workload's command followed by GSO's arguments.
    pub fn command(&self, base: &str) -> String {
        format!(
            "{base} {} {} --file_prefix {}",
            shell_words::quote(&self.out_rel),
            if self.reference {
                "--reference"
            } else {
                "--eqcheck"
            },
            shell_words::quote(&self.prefix_rel)
        )
    }

    /// The seconds the script reported, from its out file (then removed).
    pub fn seconds(&self, root: &Path) -> Result<f64, GsoError> {
        let path = root.join(&self.out_rel);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        match execution_time(&text) {
            Some(s) if s.is_finite() && s > 0.0 => Ok(s),
            Some(s) => Err(GsoError::NotPositive(s)),
            None => Err(GsoError::NoExecutionTime {
                out_file: self.out_rel.clone(),
                held: text.chars().take(200).collect(),
            }),
        }
    }
}

/// What a GSO workload's out file got wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GsoError {
    #[error("reported `Execution time: {0}s`, expected a positive number")]
    NotPositive(f64),
    /// `held`: the start of what the out file (`out_file`, relative to the tree) held.
    #[error(
        "wrote no `Execution time: <seconds>s` line to its out file {out_file} (GSO protocol); \
         it held: {held:?}"
    )]
    NoExecutionTime { out_file: String, held: String },
}

/// The last `Execution time: <seconds>s` line of a GSO out file, as GSO's grader reads it
/// (`src/gso/harness/grading/metrics.py`, `parse_times`).
pub fn execution_time(text: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("Execution time:")?;
            let num = rest.trim().strip_suffix('s')?.trim();
            if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return None;
            }
            num.parse::<f64>().ok()
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl() -> Workload {
        Workload {
            name: "pkg.mod.f(test_0)".into(),
            command: "python t.py".into(),
            visible: true,
            timeout: None,
            protocol: optagent_task::Protocol::Gso,
        }
    }

    #[test]
    fn execution_time_lines_as_gso_reads_them() {
        assert_eq!(
            execution_time("Execution time: 0.123456s\n"),
            Some(0.123456)
        );
        assert_eq!(
            execution_time("noise\nExecution time: 1.5s\nExecution time: 2.5s\n"),
            Some(2.5)
        );
        assert_eq!(execution_time("Execution time: 1e-3s\n"), None);
        assert_eq!(execution_time("Execution time: s\n"), None);
        assert_eq!(execution_time(""), None);
    }

    #[test]
    fn the_baseline_writes_the_reference_and_others_get_a_fresh_copy() {
        let d = tempfile::tempdir().unwrap();
        let (base, cand) = (d.path().join("base"), d.path().join("cand"));
        let w = wl();
        let b = GsoRun::prepare(&base, &w, None, "1").unwrap();
        assert!(b.reference);
        assert_eq!(
            b.command("python t.py"),
            format!(
                "python t.py {} --reference --file_prefix {}",
                b.out_rel, b.prefix_rel
            )
        );
        std::fs::write(base.join(format!("{}_result.json", b.prefix_rel)), "[1, 2]").unwrap();
        // A candidate that planted its own "reference" gets the baseline's instead.
        let planted = cand.join(format!("{}_result.json", b.prefix_rel));
        std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
        std::fs::write(&planted, "[9]").unwrap();
        let c = GsoRun::prepare(&cand, &w, Some(&base), "2").unwrap();
        assert!(!c.reference && c.command("x").contains("--eqcheck"));
        assert_eq!(std::fs::read_to_string(&planted).unwrap(), "[1, 2]");
        std::fs::write(cand.join(&c.out_rel), "Execution time: 0.250000s\n").unwrap();
        assert_eq!(c.seconds(&cand).unwrap(), 0.25);
        assert!(!cand.join(&c.out_rel).exists());
        let e = c.seconds(&cand).unwrap_err().to_string();
        assert!(e.contains("Execution time"), "{e}");
    }
}
