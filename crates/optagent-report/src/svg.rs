//! The report's four plots, drawn with `plotters`' SVG backend: Opt@k against k, Opt@K against
//! cost, the histogram of per-task best speedups and the agent-against-expert scatter.
//!
//! `plotters` draws the axes, ticks, grid and data; this module adds what its defaults do badly
//! for a report (README, "Sweeps and the leaderboard", Charts): a title and subtitle, the
//! legend under the plot instead of over the data, 1-2-5 ticks on log axes, and font sizes in
//! pixels. The SVGs are self-contained (no external fonts, scripts or ids), so the HTML report
//! inlines them as they are. Unlike the hand-written SVG they replaced, they carry no hover
//! tooltips: `plotters` has no way to attach a `<title>` to an element.

use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::summary::{ConfigSummary, TaskRow};

/// Colours, one per configuration (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];
const GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);
const GRID: RGBColor = RGBColor(0xe6, 0xe6, 0xe6);
const FONT: &str = "Helvetica, Arial, sans-serif";
/// `plotters` writes a font size of `size / 1.24` into the SVG; this undoes it.
fn font(px: f64) -> FontDesc<'static> {
    (FONT, px * 1.24).into_font()
}
/// Left edge of the title, the legend and (with the y label area) the plot.
const LEFT: i32 = 70;
/// Plot areas: the three wide plots, and the square scatter.
const WIDE: (u32, u32) = (700, 420);
const SQUARE: (u32, u32) = (560, 500);

/// The colour of the `i`-th configuration.
fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Chart<'a, 'b, X, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>;
type Drawn = Result<(), Box<dyn std::error::Error>>;
/// Writes a tick's label.
type TickLabel<'f, T> = &'f dyn Fn(&T) -> String;

/// What a legend entry shows.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Line,
    Dot,
    Bar,
    Dashed,
}

/// The text above a plot and the legend under it.
struct Frame<'s> {
    title: &'s str,
    subtitle: &'s str,
    legend: Vec<(String, RGBColor, Mark)>,
    /// Shown in the middle of the plot when there is nothing to draw.
    no_data: Option<&'s str>,
}

impl Frame<'_> {
    /// The SVG document: title and subtitle, the plot (`plot` draws it in an area of `size`)
    /// and one legend row per entry under it. Drawing into a string does not fail; were
    /// `plotters` to report an error, it is logged and the SVG drawn so far returned.
    fn draw(&self, size: (u32, u32), plot: impl FnOnce(&Area) -> Drawn) -> String {
        let (head, row) = (44, 20);
        let height = head + size.1 + row * self.legend.len() as u32 + 10;
        let mut out = String::new();
        let root = SVGBackend::with_string(&mut out, (size.0, height)).into_drawing_area();
        let drawn: Drawn = (|| {
            root.fill(&WHITE)?;
            let bold = font(15.0).style(FontStyle::Bold);
            root.draw_text(self.title, &bold.color(&BLACK), (LEFT, 8))?;
            let grey = font(11.0).color(&RGBColor(0x66, 0x66, 0x66));
            root.draw_text(self.subtitle, &grey, (LEFT, 28))?;
            let (_, body) = root.split_vertically(head);
            let (area, below) = body.split_vertically(size.1);
            plot(&area)?;
            if let Some(msg) = self.no_data {
                let style = font(14.0)
                    .color(&GREY)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                area.draw_text(msg, &style, (size.0 as i32 / 2, size.1 as i32 / 2))?;
            }
            for (i, (label, col, mark)) in self.legend.iter().enumerate() {
                let (x, y) = (LEFT, 10 + row as i32 * i as i32);
                match mark {
                    Mark::Line => below.draw(&PathElement::new(
                        [(x, y), (x + 24, y)],
                        col.stroke_width(3),
                    ))?,
                    Mark::Dashed => {
                        for x0 in [x, x + 10, x + 20] {
                            below.draw(&PathElement::new([(x0, y), (x0 + 6, y)], col))?;
                        }
                    }
                    Mark::Dot => below.draw(&Circle::new((x + 12, y), 5, col.filled()))?,
                    Mark::Bar => below.draw(&Rectangle::new(
                        [(x + 5, y - 6), (x + 19, y + 6)],
                        col.filled(),
                    ))?,
                }
                below.draw_text(label, &font(12.0).color(&BLACK), (x + 32, y - 7))?;
            }
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!("drawing the plot {:?}: {e}", self.title);
        }
        drop(root);
        out
    }
}

/// A chart over the ranges `x` and `y` in `area`, with room for the tick labels.
#[allow(clippy::type_complexity)]
fn chart<'a, 'b, X: AsRangedCoord, Y: AsRangedCoord>(
    area: &'a Area<'b>,
    x: X,
    y: Y,
) -> Result<Chart<'a, 'b, X::CoordDescType, Y::CoordDescType>, Box<dyn std::error::Error>> {
    Ok(ChartBuilder::on(area)
        .margin(10)
        .margin_right(28)
        .x_label_area_size(44)
        .y_label_area_size(LEFT - 10)
        .build_cartesian_2d(x, y)?)
}

/// Draws the axes, grid and tick labels of `c`: at most `nx`, `ny` ticks, written by `fx`, `fy`.
fn mesh<XT, YT, X, Y>(
    c: &mut Chart<'_, '_, X, Y>,
    (x_desc, y_desc): (&str, &str),
    (fx, fy): (TickLabel<'_, XT>, TickLabel<'_, YT>),
    (nx, ny): (usize, usize),
) -> Drawn
where
    X: Ranged<ValueType = XT> + ValueFormatter<XT>,
    Y: Ranged<ValueType = YT> + ValueFormatter<YT>,
{
    c.configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(fx)
        .y_label_formatter(fy)
        .x_labels(nx)
        .y_labels(ny)
        .label_style(font(12.0))
        .axis_desc_style(font(13.0))
        .bold_line_style(GRID)
        .max_light_lines(0)
        .draw()?;
    Ok(())
}

/// Ticks inside `[lo, hi]`: 1-2-5 per decade, denser over a narrow range, sparser over a wide one.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mantissas: &[f64] = match (hi / lo).log10() {
        d if d <= 1.2 => &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
        d if d <= 3.5 => &[1.0, 2.0, 5.0],
        _ => &[1.0],
    };
    (lo.log10().floor() as i32..=hi.log10().ceil() as i32)
        .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
        .filter(|v| (lo..=hi).contains(v))
        .collect()
}

/// A log axis over `[lo, hi]` with 1-2-5 ticks (`plotters` ticks every integer multiple).
fn log_axis(lo: f64, hi: f64) -> WithKeyPoints<LogCoord<f64>> {
    (lo..hi).log_scale().with_key_points(log_ticks(lo, hi))
}

/// Labels whole ticks only: k and counts are drawn on `f64` axes, because `plotters`' integer
/// axes overflow (a panic in debug builds) computing grid lines with `max_light_lines(0)`.
fn whole(v: &f64) -> String {
    if v.fract() == 0.0 {
        format!("{v}")
    } else {
        String::new()
    }
}

fn percent(v: &f64) -> String {
    format!("{}%", trim_num(v * 100.0, 1))
}

fn times(v: &f64) -> String {
    format!("{}×", trim_num(*v, 3))
}

/// Formats a number with at most `decimals` decimals, trailing zeros removed.
fn trim_num(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn configs(summaries: &[ConfigSummary], mark: Mark) -> Vec<(String, RGBColor, Mark)> {
    let each = summaries.iter().enumerate();
    each.map(|(i, s)| (s.label(), color(i), mark)).collect()
}

/// The task rows of one configuration.
fn rows_of<'r>(s: &ConfigSummary, rows: &'r [TaskRow]) -> impl Iterator<Item = &'r TaskRow> {
    let (model, agent, budget) = (s.model.clone(), s.agent.clone(), s.budget.clone());
    rows.iter()
        .filter(move |r| r.model == model && r.agent == agent && r.budget == budget)
}

const NO_ROLLOUTS: &str = "no rollouts recorded";

/// Opt@k against k: one line per configuration (bootstrap mean) with its 2.5–97.5% band.
pub fn opt_at_k_plot(summaries: &[ConfigSummary]) -> String {
    let curves = summaries.iter().flat_map(|s| &s.opt_at_k_curve);
    let k_max = curves.clone().map(|p| p.k).max().unwrap_or(1);
    // k = 1 alone sits in the middle of the axis.
    let (x_lo, x_hi) = if k_max > 1 {
        (1.0, k_max as f64)
    } else {
        (0.5, 1.5)
    };
    let y_max = (curves.map(|p| p.hi).filter(|v| v.is_finite())).fold(0.0, f64::max);
    let frame = Frame {
        title: "Opt@k",
        subtitle: "bootstrap over rollout orders (500 trials); shaded: 2.5–97.5% band",
        legend: configs(summaries, Mark::Line),
        no_data: summaries.is_empty().then_some(NO_ROLLOUTS),
    };
    frame.draw(WIDE, |area| {
        let mut c = chart(area, x_lo..x_hi, 0.0..(y_max * 1.1).clamp(0.1, 1.0))?;
        let axes = ("k (rollouts per task)", "Opt@k (share of all tasks)");
        mesh(&mut c, axes, (&whole, &percent), (k_max.clamp(2, 10), 10))?;
        for (i, s) in summaries.iter().enumerate() {
            let col = color(i);
            let pts: Vec<_> = (s.opt_at_k_curve.iter())
                .filter(|p| p.mean.is_finite())
                .map(|p| (p.k as f64, p.mean, p.lo, p.hi))
                .collect();
            let upper = pts.iter().map(|p| (p.0, p.3));
            let band: Vec<_> = upper.chain(pts.iter().rev().map(|p| (p.0, p.2))).collect();
            c.draw_series([Polygon::new(band, col.mix(0.16))])?;
            let mean = pts.iter().map(|p| (p.0, p.1));
            c.draw_series(LineSeries::new(mean.clone(), col.stroke_width(2)))?;
            c.draw_series(mean.map(|p| Circle::new(p, 3, col.filled())))?;
        }
        Ok(())
    })
}

/// Opt@K against the configuration's total cost: one point per configuration (filled), with
/// a stem down to its Opt@1 (hollow).
pub fn cost_plot(summaries: &[ConfigSummary]) -> String {
    let shown: Vec<_> = (summaries.iter().enumerate())
        .filter(|(_, s)| s.cost_usd.is_finite())
        .filter_map(|(i, s)| Some((i, s, s.opt_at_k.filter(|v| v.is_finite())?)))
        .collect();
    let max_cost = shown.iter().map(|(_, s, _)| s.cost_usd).fold(0.0, f64::max);
    let max_opt = shown.iter().map(|(_, _, k)| *k).fold(0.0, f64::max);
    let k = summaries.first().map_or(1, |s| s.k);
    let frame = Frame {
        title: &format!("Opt@{k} against cost"),
        subtitle: &format!("one point per configuration; filled: Opt@{k}, hollow: Opt@1"),
        legend: configs(summaries, Mark::Dot),
        no_data: summaries.is_empty().then_some(NO_ROLLOUTS),
    };
    let x_max = if max_cost > 0.0 { max_cost * 1.1 } else { 1.0 };
    frame.draw(WIDE, |area| {
        let mut c = chart(area, 0.0..x_max, 0.0..(max_opt * 1.15).clamp(0.1, 1.0))?;
        let axes = (
            "total cost of the configuration's rollouts (USD)",
            "Opt@k (share of all tasks)",
        );
        let dollars = |v: &f64| format!("${}", trim_num(*v, 2));
        mesh(&mut c, axes, (&dollars, &percent), (10, 10))?;
        for (i, s, yk) in shown {
            let (col, x) = (color(i), s.cost_usd);
            if let Some(y1) = s.opt_at_1.filter(|v| v.is_finite()) {
                c.draw_series([PathElement::new([(x, y1), (x, yk)], col.stroke_width(2))])?;
                c.draw_series([
                    Circle::new((x, y1), 5, WHITE.filled()),
                    Circle::new((x, y1), 5, col.stroke_width(2)),
                ])?;
            }
            c.draw_series([Circle::new((x, yk), 6, col.filled())])?;
        }
        Ok(())
    })
}

/// Histogram of per-task best speedups (log axis), bars grouped by configuration. Tasks
/// without a verified rollout count 1.0×.
pub fn speedup_histogram(summaries: &[ConfigSummary], rows: &[TaskRow]) -> String {
    let per_config: Vec<Vec<f64>> = (summaries.iter())
        .map(|s| {
            rows_of(s, rows)
                .map(|r| r.best_speedup.unwrap_or(1.0))
                .filter(|v| v.is_finite() && *v > 0.0)
                .collect()
        })
        .collect();
    let (min, max) =
        (per_config.iter().flatten()).fold((1.0f64, 1.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    // Bins of width w in log2, centred on 1.0; w chosen for at most 16 bins.
    let span = max.log2() - min.log2();
    let w = [0.25, 0.5, 1.0, 2.0]
        .into_iter()
        .find(|w| span / w + 1.0 <= 16.0)
        .unwrap_or(4.0);
    let bin_of = |v: f64| (v.log2() / w).round() as i64;
    let (b0, b1) = (bin_of(min) - 1, bin_of(max) + 1);
    let edge = |j: i64| 2f64.powf((j as f64 - 0.5) * w);
    let mut counts = vec![vec![0usize; (b1 - b0 + 1) as usize]; per_config.len()];
    for (ci, vals) in per_config.iter().enumerate() {
        for &v in vals {
            counts[ci][(bin_of(v) - b0) as usize] += 1;
        }
    }
    let max_count = counts.iter().flatten().copied().max().unwrap_or(0);
    let frame = Frame {
        title: "Best speedup per task",
        subtitle: &format!(
            "tasks without a correct patch count 1.0×; each bin spans a factor of {}",
            trim_num(2f64.powf(w), 2)
        ),
        legend: configs(summaries, Mark::Bar),
        no_data: summaries.is_empty().then_some(NO_ROLLOUTS),
    };
    let y_max = (max_count + 1).max(max_count * 11 / 10) as f64;
    frame.draw(WIDE, |area| {
        let mut c = chart(area, log_axis(edge(b0), edge(b1 + 1)), 0.0..y_max)?;
        let axes = (
            "speedup of the task's best correct rollout (log scale)",
            "tasks",
        );
        mesh(
            &mut c,
            axes,
            (&times, &whole),
            (10, (y_max as usize).min(8) + 1),
        )?;
        let no_change = [(1.0, 0.0), (1.0, y_max)];
        c.draw_series(DashedLineSeries::new(no_change, 4, 3, GREY.into()))?;
        // Each bin's middle 84% holds one bar per configuration, side by side (in log2 space).
        let groups = per_config.len().max(1) as f64;
        for (ci, bins) in counts.iter().enumerate() {
            let bars = bins
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(bi, &n)| {
                    let (l, r) = (edge(b0 + bi as i64).log2(), edge(b0 + bi as i64 + 1).log2());
                    let bw = (r - l) * 0.84 / groups;
                    let x0 = l + (r - l) * 0.08 + bw * ci as f64;
                    let corners = [(2f64.powf(x0), n as f64), (2f64.powf(x0 + bw * 0.9), 0.0)];
                    Rectangle::new(corners, color(ci).filled())
                });
            c.draw_series(bars)?;
        }
        Ok(())
    })
}

/// Agent against expert speedup per workload of each task's best correct rollout (log-log),
/// with the diagonal where the agent equals the expert.
pub fn workload_scatter(summaries: &[ConfigSummary], rows: &[TaskRow]) -> String {
    let positive = |v: Option<f64>| v.filter(|v| v.is_finite() && *v > 0.0);
    let points: Vec<Vec<(f64, f64)>> = (summaries.iter())
        .map(|s| {
            rows_of(s, rows)
                .flat_map(|r| &r.workloads)
                .filter_map(|w| Some((positive(w.expert_speedup)?, positive(w.speedup)?)))
                .collect()
        })
        .collect();
    let (min, max) = (points.iter().flatten()).fold((1.0f64, 1.0f64), |(a, b), p| {
        (a.min(p.0).min(p.1), b.max(p.0).max(p.1))
    });
    // Some margin, and at least a factor 4 wide.
    let (mut lo, mut hi) = (min / 1.25, max * 1.25);
    if hi / lo < 4.0 {
        let mid = (lo * hi).sqrt();
        (lo, hi) = (mid / 2.0, mid * 2.0);
    }
    let mut legend: Vec<_> = (configs(summaries, Mark::Dot).into_iter())
        .zip(&points)
        .filter(|(_, p)| !p.is_empty())
        .map(|(entry, _)| entry)
        .collect();
    legend.push(("agent = expert".into(), GREY, Mark::Dashed));
    let frame = Frame {
        title: "Agent against expert, per workload",
        subtitle: "workloads of each task's best correct rollout; dashed: agent = expert",
        legend,
        no_data: points
            .iter()
            .all(Vec::is_empty)
            .then_some("no verified patch yet"),
    };
    frame.draw(SQUARE, |area| {
        let mut c = chart(area, log_axis(lo, hi), log_axis(lo, hi))?;
        let axes = ("expert speedup (log scale)", "agent speedup (log scale)");
        mesh(&mut c, axes, (&times, &times), (10, 10))?;
        let guide = RGBColor(0xbb, 0xbb, 0xbb);
        c.draw_series([
            PathElement::new([(1.0, lo), (1.0, hi)], guide),
            PathElement::new([(lo, 1.0), (hi, 1.0)], guide),
        ])?;
        let diagonal = [(lo, lo), (hi, hi)];
        c.draw_series(DashedLineSeries::new(diagonal, 6, 4, GREY.stroke_width(2)))?;
        for (ci, pts) in points.iter().enumerate() {
            let dot = color(ci).mix(0.85).filled();
            c.draw_series(pts.iter().map(|&p| Circle::new(p, 4, dot)))?;
        }
        Ok(())
    })
}
