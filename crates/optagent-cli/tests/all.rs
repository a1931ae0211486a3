//! The command line's integration tests, one binary (`mod suite`): each module runs the built
//! `optagent` (`CARGO_BIN_EXE_optagent`) against mock model servers, bundled and generated tasks,
//! and, where present, Docker, Slurm, PyTorch and git mirrors (tests that miss one print SKIP).
//! One module per command or area; select one with `cargo test -p optagent-cli --test all
//! <module>::` (for example `solve::` or `slurm::`; `suite::tasks::` leaves out `real_tasks::`).
//! Timing tests of every module share one lock, `suite::common::MEASURING`. No file here changes
//! the process environment (commands get theirs through `common::optagent_cmd`), so none needs a
//! binary of its own.

mod suite;
