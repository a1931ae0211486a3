//! Integration tests of optagent-report, one module per area.

mod common;
mod fast_p;
mod leaderboard;
mod plots;
mod predictions;
mod records;
mod report;
mod summary;
