//! The exit codes of `optagent`, for scripts (documented in the README and in `--help`):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | done: `solve` found a verified patch, `sweep` ran its rollouts (or had none left) |
//! | 1 | failed: an error outside the model's work (I/O, the evaluator, a sandbox) |
//! | 2 | usage or input error: a bad flag, a task or sweep file that cannot be loaded, an unknown model or provider, a missing API key |
//! | 3 | `solve` ran, but no rollout gave a verified speedup |
//! | 4 | no rollout could run to an end of its own: every one ended in a model or provider error |

use std::process::ExitCode;

/// `solve` found a verified patch; `sweep` ran its rollouts.
pub const OK: u8 = 0;
/// An error outside the model's work.
pub const FAILED: u8 = 1;
/// A bad flag or an input that cannot be loaded (clap also exits 2 on a bad flag).
pub const USAGE: u8 = 2;
/// `solve` ran, but found no verified speedup.
pub const NO_VERIFIED_SPEEDUP: u8 = 3;
/// Every rollout ended in a model or provider error.
pub const ALL_MODEL_ERRORS: u8 = 4;

/// The text appended to `--help`.
pub const HELP: &str = "Exit status:
  0  done: solve found a verified patch; sweep ran its rollouts (or had none left to run)
  1  failed: an error outside the model's work (I/O, the evaluator, a sandbox)
  2  usage or input error: a bad flag, a task or sweep file that cannot be loaded,
     an unknown model or provider, a missing API key
  3  solve ran, but no rollout gave a verified speedup
  4  no rollout ran to an end of its own: every one ended in a model/provider error";

/// An error in what the user gave (a flag's value, a file that cannot be loaded): exit 2.
#[derive(Debug)]
pub struct InputError(pub anyhow::Error);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&message(&self.0))
    }
}

impl std::error::Error for InputError {}

/// Marks an error as the user's input being wrong (exit 2).
pub trait InputContext<T> {
    fn input(self) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> InputContext<T> for Result<T, E> {
    fn input(self) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::new(InputError(e.into())))
    }
}

/// The text printed for an error that ended a command: the error and its causes, outermost
/// first, joined by `": "`. A cause whose text already ends the message is left out: the library
/// crates' error types print their source last (`{path}: {source}`, so `to_string()` alone says
/// everything in records and trajectories) and also return it as their `source()`, which
/// anyhow's `{:#}` printed twice (`x.toml: No such file ...: No such file ...`).
pub fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// The exit code for an error that ended a command.
pub fn for_error(e: &anyhow::Error) -> ExitCode {
    if e.downcast_ref::<InputError>().is_some() {
        ExitCode::from(USAGE)
    } else {
        ExitCode::from(FAILED)
    }
}

/// The exit code of `solve`, from each rollout's end (`true` = a model error) and whether a
/// verified patch was selected.
pub fn solve_code(model_errors: &[bool], selected: bool) -> u8 {
    if selected {
        OK
    } else if !model_errors.is_empty() && model_errors.iter().all(|&m| m) {
        ALL_MODEL_ERRORS
    } else {
        NO_VERIFIED_SPEEDUP
    }
}

/// The exit code of `sweep`: 4 when rollouts ran and every one ended in a model error.
pub fn sweep_code(ran: usize, model_errors: usize) -> u8 {
    if ran > 0 && model_errors == ran {
        ALL_MODEL_ERRORS
    } else {
        OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_table() {
        assert_eq!(solve_code(&[false, true], true), OK);
        assert_eq!(solve_code(&[true, true], false), ALL_MODEL_ERRORS);
        assert_eq!(solve_code(&[true, false], false), NO_VERIFIED_SPEEDUP);
        assert_eq!(solve_code(&[], false), NO_VERIFIED_SPEEDUP);
        assert_eq!(sweep_code(0, 0), OK);
        assert_eq!(sweep_code(3, 3), ALL_MODEL_ERRORS);
        assert_eq!(sweep_code(3, 2), OK);
    }

    /// An error that prints its source and also returns it from `source()`, as the library
    /// crates' `{path}: {source}` variants do.
    #[derive(Debug)]
    struct PathError(std::io::Error);

    impl std::fmt::Display for PathError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "lb.toml: {}", self.0)
        }
    }

    impl std::error::Error for PathError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn regression_a_cause_the_message_already_holds_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(PathError(io));
        assert_eq!(message(&e), "lb.toml: No such file or directory");
        // Causes that add something are all kept, outermost first; so is the input marker's.
        let e = Err::<(), _>(anyhow::anyhow!("disk full").context("writing report.md"))
            .input()
            .unwrap_err();
        assert_eq!(message(&e), "writing report.md: disk full");
        let e = anyhow::Error::new(PathError(std::io::Error::other("denied")))
            .context("reading the sweep runs/x");
        assert_eq!(message(&e), "reading the sweep runs/x: lb.toml: denied");
        // A cause that only appears inside the message, not at its end, still adds something.
        let e = anyhow::anyhow!("denied").context("denied access to lb.toml");
        assert_eq!(message(&e), "denied access to lb.toml: denied");
    }

    #[test]
    fn input_errors_exit_2_others_1() {
        let e: anyhow::Result<()> = Err(anyhow::anyhow!("no such task")).input();
        assert_eq!(for_error(&e.unwrap_err()), ExitCode::from(USAGE));
        assert_eq!(
            for_error(&anyhow::anyhow!("disk full")),
            ExitCode::from(FAILED)
        );
    }
}
