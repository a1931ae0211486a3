//! Times making K trees of a task (from its mirror, cache or folder), as a run of K rollouts does.
//!
//! `cargo run --release -p optagent-task --example materialize -- <task> [K]`: prints the seconds
//! each tree took, the median, and the disk each tree uses beyond the shared objects.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use optagent_task::{Task, Tree};

fn du(path: &std::path::Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let task = Task::load(std::path::Path::new(
        &args.next().ok_or("usage: materialize <task> [K]")?,
    ))?;
    let k: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4);
    let dir = tempfile::tempdir()?;
    let mut secs = vec![];
    for i in 0..k {
        let t0 = Instant::now();
        let tree = Tree::materialize(&task, &dir.path().join(format!("t{i}")))?;
        let s = t0.elapsed().as_secs_f64();
        let git = du(&tree.root.join(".git"));
        println!(
            "tree {i}: {s:.2}s, base {}, .git {:.1} MiB, checkout {:.1} MiB",
            &tree.base[..12],
            git as f64 / 1048576.0,
            (du(&tree.root) - git) as f64 / 1048576.0
        );
        secs.push(s);
    }
    secs.sort_by(f64::total_cmp);
    println!("{} trees of {}: median {:.2}s", k, task.id(), secs[k / 2]);
    Ok(())
}
