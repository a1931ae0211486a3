//! Writes a report from a results file:
//! `cargo run -p optagent-report --example report -- RESULTS.jsonl OUT_DIR [K] [TASK...]`
//! (K defaults to 0: every rollout; no task list: the tasks in the records).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(results), Some(out)) = (args.first(), args.get(1)) else {
        return ExitCode::from(2);
    };
    let k = args.get(2).and_then(|k| k.parse().ok()).unwrap_or(0);
    let tasks: Vec<String> = args.iter().skip(3).cloned().collect();
    let run = || -> optagent_report::Result<()> {
        let records = optagent_report::read_records(results)?;
        optagent_report::write_report(&records, &tasks, k, out)?;
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // An example may report its error; the library itself never prints.
            let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{e}\n").as_bytes());
            ExitCode::FAILURE
        }
    }
}
