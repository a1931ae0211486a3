//! Which clock decides a workload's time: the seconds the workload reports for its measured
//! section (its own wall clock), the wall time of its whole process, or the CPU time of its
//! process tree measured by the evaluator (`wait4`), net of the setup.
//!
//! CPU time is barely touched by another process sharing the core, so it gives the precise
//! estimate on a loaded machine; but it only measures work that is single-threaded and on the
//! CPU. [`choose`] applies the rule of docs/calibration.md to what the session measured:
//!
//! 1. a clock asked for (`--clock`, the task's `measure.clock`) is used (`cpu` only where the
//!    backend measured CPU time);
//! 2. `auto`: a GPU task, a backend without CPU time, a tree whose process uses more than one
//!    core (CPU/wall above [`PARALLEL_SHARE`]), or a tree whose process is off the CPU for more
//!    than a tenth of its time (CPU/wall below [`ON_CPU_SHARE`]) because it waited (more
//!    voluntary context switches than involuntary ones, and longer off the CPU than
//!    [`MAX_WAIT_PER_PREEMPTION_S`] per involuntary switch: IO, a device, sleep, locks) keeps the
//!    reported seconds; otherwise CPU time decides (a gap that preemption explains is another
//!    process sharing the core, which CPU time is immune to), when, in a third step after
//!    setup-only runs, the setup is at most [`MAX_SETUP_SHARE`] of the process's CPU time (a
//!    GSO script, without a setup-only mode, keeps the reported seconds).

use optagent_sandbox::ContextSwitches;
use optagent_stats::summary::median;
use optagent_task::{Clock, Device};
use serde::{Deserialize, Serialize};

use crate::measure::Series;

/// CPU over wall time above this: the process ran on more than one core.
pub const PARALLEL_SHARE: f64 = 1.1;
/// CPU over wall time below this: the process was off the CPU for more than a tenth of its time,
/// waiting or preempted (context switches tell which).
pub const ON_CPU_SHARE: f64 = 0.9;
/// The longest a process is taken to wait for its core at one involuntary context switch (other
/// processes' time slices, on a loaded machine several of them). An off-CPU gap longer than
/// this per involuntary switch is not explained by preemption.
pub const MAX_WAIT_PER_PREEMPTION_S: f64 = 0.05;
/// `auto` chooses CPU time only where the setup (measured in setup-only runs) is at most this
/// share of the process's CPU time: the section's CPU time is a difference of two measurements,
/// and an error in a large setup's median would move a small section's estimate.
pub const MAX_SETUP_SHARE: f64 = 0.5;
/// Setup-only runs of the baseline that give the CPU time subtracted from every tree's runs.
pub const SETUP_REPS: usize = 3;

/// The clock that decided one workload, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockDecision {
    /// `reported`, `wall` or `cpu` (never `auto`).
    pub clock: Clock,
    pub reason: String,
    /// With `cpu`: the CPU seconds subtracted from every tree's runs, the median of the
    /// baseline's setup-only runs (`None`: not subtracted).
    #[serde(default)]
    pub setup_cpu_s: Option<f64>,
}

fn secs(d: &[std::time::Duration]) -> Vec<f64> {
    d.iter().map(|x| x.as_secs_f64()).collect()
}

/// CPU seconds of every timed run, when the backend measured all of them.
pub fn cpu_secs(s: &Series) -> Option<Vec<f64>> {
    s.cpus
        .iter()
        .map(|c| c.map(|d| d.as_secs_f64()))
        .collect::<Option<Vec<f64>>>()
        .filter(|v| !v.is_empty())
}

fn switches(s: &Series) -> Option<(f64, f64)> {
    let v: Vec<ContextSwitches> = s.switches.iter().flatten().copied().collect();
    if v.is_empty() || v.len() != s.switches.len() {
        return None;
    }
    let vol: Vec<f64> = v.iter().map(|c| c.voluntary as f64).collect();
    let inv: Vec<f64> = v.iter().map(|c| c.involuntary as f64).collect();
    Some((median(&vol), median(&inv)))
}

/// Choose the clock of one workload from its timed runs on every tree (`trees`: label and
/// series; trees without runs are skipped).
pub fn choose(requested: Clock, device: Device, trees: &[(&str, &Series)]) -> ClockDecision {
    let decided = |clock: Clock, reason: String| ClockDecision {
        clock,
        reason,
        setup_cpu_s: None,
    };
    let trees: Vec<&(&str, &Series)> = trees.iter().filter(|(_, s)| !s.walls.is_empty()).collect();
    let cpu_everywhere = !trees.is_empty() && trees.iter().all(|(_, s)| cpu_secs(s).is_some());
    match requested {
        Clock::Reported | Clock::Wall => {
            return decided(requested, "asked for (--clock or measure.clock)".into())
        }
        Clock::Cpu if cpu_everywhere => {
            return decided(Clock::Cpu, "asked for (--clock or measure.clock)".into())
        }
        Clock::Cpu => {
            return decided(
                Clock::Reported,
                "cpu was asked for, but the backend did not measure CPU time on every run".into(),
            )
        }
        Clock::Auto => {}
    }
    if device == Device::Cuda {
        return decided(
            Clock::Reported,
            "the work runs on a GPU, which the process's CPU time does not measure".into(),
        );
    }
    if !cpu_everywhere {
        return decided(
            Clock::Reported,
            "the backend did not measure CPU time on every run".into(),
        );
    }
    let mut shares = vec![];
    let mut preempted = 0.0f64;
    for (label, s) in &trees {
        let cpu = median(&cpu_secs(s).unwrap_or_default());
        let wall = median(&secs(&s.walls));
        let share = cpu / wall;
        if !share.is_finite() {
            return decided(
                Clock::Reported,
                format!("the {label} tree's runs took no measurable time"),
            );
        }
        if share > PARALLEL_SHARE {
            return decided(
                Clock::Reported,
                format!(
                    "the {label} tree's process uses more than one core (CPU/wall {share:.2}): \
                     CPU time would count parallel work as slower"
                ),
            );
        }
        if share < ON_CPU_SHARE {
            let gap = wall - cpu;
            match switches(s) {
                // More voluntary than involuntary switches, and more time off the CPU than
                // preemption explains: the process waited.
                Some((vol, inv)) if vol > inv && gap > inv * MAX_WAIT_PER_PREEMPTION_S => {
                    return decided(
                        Clock::Reported,
                        format!(
                            "the {label} tree's process waits off the CPU (CPU/wall {share:.2}, \
                             {:.0} ms off the CPU per run, {vol:.0} voluntary against {inv:.0} \
                             involuntary context switches): IO, a device, sleep or locks, which \
                             CPU time does not count",
                            gap * 1e3
                        ),
                    )
                }
                Some((_, inv)) => preempted = preempted.max(inv),
                None => {
                    return decided(
                        Clock::Reported,
                        format!(
                            "the {label} tree's process is off the CPU for {:.0}% of its time and \
                             the backend gives no context switches to tell waiting from sharing",
                            (1.0 - share) * 100.0
                        ),
                    )
                }
            }
        }
        shares.push(share);
    }
    let lo = shares.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = shares.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    decided(
        Clock::Cpu,
        if preempted > 0.0 {
            format!(
                "single-threaded and on the CPU (CPU/wall {lo:.2}-{hi:.2}; the gap is preemption, \
                 {preempted:.0} involuntary context switches per run: the core was shared)"
            )
        } else {
            format!("single-threaded and on the CPU (CPU/wall {lo:.2}-{hi:.2})")
        },
    )
}

/// Each run's CPU seconds net of the setup (`setup`), or gross where the setup is not
/// known or is not clearly below the runs (a workload that ignores `OPTAGENT_SETUP_ONLY` does its
/// full work in the setup-only run too).
pub fn net_cpu(cpu: &[f64], setup: Option<f64>) -> (Vec<f64>, Option<f64>) {
    match setup {
        Some(s) if s > 0.0 && median(cpu) - s > 0.02 * median(cpu) => {
            (cpu.iter().map(|c| (c - s).max(1e-9)).collect(), Some(s))
        }
        _ => (cpu.to_vec(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn series(wall: &[f64], cpu: &[f64], sw: (u64, u64)) -> Series {
        Series {
            walls: wall.iter().map(|&w| Duration::from_secs_f64(w)).collect(),
            cpus: cpu
                .iter()
                .map(|&c| Some(Duration::from_secs_f64(c)))
                .collect(),
            switches: wall
                .iter()
                .map(|_| {
                    Some(ContextSwitches {
                        voluntary: sw.0,
                        involuntary: sw.1,
                    })
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn single_threaded_cpu_work_is_decided_by_cpu_time_even_on_a_shared_core() {
        let idle = series(&[1.0, 1.01], &[0.98, 0.99], (2, 3));
        let shared = series(&[2.0, 2.1], &[0.97, 0.99], (2, 400));
        let d = choose(
            Clock::Auto,
            Device::Cpu,
            &[("baseline", &idle), ("patch", &shared)],
        );
        assert_eq!(d.clock, Clock::Cpu, "{}", d.reason);
        assert!(d.reason.contains("preemption"), "{}", d.reason);
    }

    #[test]
    fn parallel_waiting_gpu_and_unmeasured_work_keeps_the_reported_seconds() {
        let one = series(&[1.0, 1.0], &[0.99, 0.99], (1, 1));
        let threads = series(&[0.5, 0.5], &[1.6, 1.6], (10, 5));
        let d = choose(
            Clock::Auto,
            Device::Cpu,
            &[("baseline", &one), ("patch", &threads)],
        );
        assert_eq!(d.clock, Clock::Reported);
        assert!(d
            .reason
            .contains("patch tree's process uses more than one core"));
        let io = series(&[1.0, 1.0], &[0.3, 0.3], (500, 5));
        let d = choose(Clock::Auto, Device::Cpu, &[("baseline", &io)]);
        assert_eq!(d.clock, Clock::Reported);
        assert!(d.reason.contains("waits off the CPU"), "{}", d.reason);
        // Many voluntary switches, but a gap that preemption explains: a shared core.
        let busy = series(&[0.4, 0.4], &[0.15, 0.15], (115, 87));
        let d = choose(Clock::Auto, Device::Cpu, &[("expert", &busy)]);
        assert_eq!(d.clock, Clock::Cpu, "{}", d.reason);
        let d = choose(Clock::Auto, Device::Cuda, &[("baseline", &one)]);
        assert!(d.reason.contains("GPU"));
        let mut docker = one.clone();
        docker.cpus = vec![None, None];
        let d = choose(Clock::Auto, Device::Cpu, &[("baseline", &docker)]);
        assert_eq!(d.clock, Clock::Reported);
        let d = choose(Clock::Cpu, Device::Cpu, &[("baseline", &docker)]);
        assert_eq!(d.clock, Clock::Reported, "cpu is not available there");
        let d = choose(Clock::Wall, Device::Cpu, &[("baseline", &one)]);
        assert_eq!(d.clock, Clock::Wall);
    }

    #[test]
    fn the_setup_is_subtracted_only_when_it_is_clearly_below_the_runs() {
        let (n, s) = net_cpu(&[1.0, 1.2], Some(0.2));
        assert_eq!(s, Some(0.2));
        assert!((n[0] - 0.8).abs() < 1e-12 && (n[1] - 1.0).abs() < 1e-12);
        let (n, s) = net_cpu(&[1.0, 1.0], Some(0.995));
        assert_eq!((n, s), (vec![1.0, 1.0], None));
        assert_eq!(net_cpu(&[1.0], None).1, None);
    }
}
