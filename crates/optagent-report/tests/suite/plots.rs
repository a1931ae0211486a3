//! The four plots (`svg.rs`): each names its axes and every configuration, draws one series per
//! configuration, escapes labels, and stays well-formed for awkward data.

use optagent_report::{analyze, svg, Analysis, DEFAULT_SEED};

use super::common::{as_config, results, tasks};
use super::report::assert_well_formed;

/// A model name that needs escaping in XML.
const ODD_MODEL: &str = "lab/<big> & \"small\"";

/// The fixture's configuration and a copy of it under [`ODD_MODEL`].
fn two_configs(k: usize) -> Analysis {
    let mut recs = results();
    recs.extend(as_config(&results(), ODD_MODEL, "steps30"));
    analyze(&recs, &tasks(&["alpha", "beta", "gamma"]), k, DEFAULT_SEED)
}

/// The plots in report order, each with its title.
fn plots(a: &Analysis) -> Vec<(&'static str, String)> {
    vec![
        ("Opt@k", svg::opt_at_k_plot(&a.summaries)),
        ("Opt@4 against cost", svg::cost_plot(&a.summaries)),
        (
            "Best speedup per task",
            svg::speedup_histogram(&a.summaries, &a.task_rows),
        ),
        (
            "Agent against expert, per workload",
            svg::workload_scatter(&a.summaries, &a.task_rows),
        ),
    ]
}

/// The content of each `<text>` element, trimmed (still escaped).
fn texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let body = &t[t.find('>').unwrap() + 1..];
            body[..body.find("</text>").unwrap()].trim()
        })
        .collect()
}

/// `<polyline>`s drawn in `color` at `width` (as `plotters` writes them: upper-case hex).
fn lines(svg: &str, color: &str, width: u32) -> usize {
    let attrs = format!("stroke=\"{color}\" stroke-width=\"{width}\"");
    svg.split("<polyline")
        .skip(1)
        .filter(|t| t[..t.find('>').unwrap()].contains(&attrs))
        .count()
}

#[test]
fn each_plot_has_its_title_axes_and_a_legend_entry_per_configuration() {
    let a = two_configs(4);
    assert_eq!(a.summaries.len(), 2);
    let axes = [
        ("k (rollouts per task)", "Opt@k (share of all tasks)"),
        (
            "total cost of the configuration's rollouts (USD)",
            "Opt@k (share of all tasks)",
        ),
        (
            "speedup of the task's best correct rollout (log scale)",
            "tasks",
        ),
        ("expert speedup (log scale)", "agent speedup (log scale)"),
    ];
    for ((title, svg), (x, y)) in plots(&a).iter().zip(axes) {
        assert!(svg.starts_with("<svg "), "{title}");
        assert_well_formed(svg);
        let t = texts(svg);
        for want in [*title, x, y] {
            assert!(
                t.contains(&want.replace('\'', "&apos;").as_str()),
                "{title}: no {want:?} in {t:?}"
            );
        }
        for s in &a.summaries {
            let label = s
                .label()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            assert!(
                t.contains(&label.as_str()),
                "{title}: no legend entry {label:?}"
            );
        }
        assert!(!svg.contains("<big>"), "{title}: unescaped label");
    }
}

#[test]
fn opt_at_k_draws_one_mean_line_and_one_band_per_configuration() {
    let svg = svg::opt_at_k_plot(&two_configs(4).summaries);
    for color in ["#4E79A7", "#F28E2B"] {
        assert_eq!(lines(&svg, color, 2), 1, "mean line in {color}");
        assert_eq!(lines(&svg, color, 3), 1, "legend line in {color}");
        let bands = format!("<polygon opacity=\"0.16\" fill=\"{color}\"");
        assert_eq!(svg.matches(&bands).count(), 1, "band in {color}");
    }
    let t = texts(&svg);
    for k in ["1", "2", "3", "4"] {
        assert!(t.contains(&k), "x tick {k} in {t:?}");
    }
    assert!(!t.contains(&"1.5"), "k is a whole number: {t:?}");
}

#[test]
fn log_axes_tick_at_round_factors_only() {
    let a = two_configs(4);
    let scatter = svg::workload_scatter(&a.summaries, &a.task_rows);
    let t = texts(&scatter);
    for want in ["1×", "2×", "5×"] {
        assert!(t.contains(&want), "{want} in {t:?}");
    }
    // `plotters`' own log ticks would label 4× and 6×; a narrow range adds 1.5× and 3× instead.
    assert!(!t.contains(&"4×") && !t.contains(&"6×"), "{t:?}");
}

#[test]
fn one_rollout_per_task_still_plots() {
    let a = two_configs(1);
    for (title, svg) in plots(&a) {
        assert_well_formed(&svg);
        assert!(!svg.contains("no rollouts recorded"), "{title}");
    }
    let t = texts(&svg::opt_at_k_plot(&a.summaries)).join("|");
    assert!(t.contains("|1|"), "the one tick, k = 1: {t}");
}
