//! The report's plots, written as SVG by hand (no plotting crate): a small chart frame with
//! linear or log axes, ticks, grid and a legend under the plot, and the four plots built on it.
//! The SVGs are self-contained (no external fonts, scripts or ids), so they can be inlined in the
//! HTML report as they are.

use std::fmt::Write as _;

use crate::summary::{ConfigSummary, TaskRow};

/// Colours, one per configuration (Tableau 10).
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// The colour of the `i`-th configuration.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Escapes text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Formats a number with at most `decimals` decimals, trailing zeros removed.
fn trim_num(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        if t == "-0" {
            "0".to_string()
        } else {
            t.to_string()
        }
    } else {
        s
    }
}

/// An axis' mapping from data to pixels.
#[derive(Debug, Clone, Copy)]
pub enum Scale {
    Linear {
        lo: f64,
        hi: f64,
    },
    /// Bounds are data values (> 0); drawn in log10 space.
    Log {
        lo: f64,
        hi: f64,
    },
}

/// How tick labels are written.
#[derive(Debug, Clone, Copy)]
pub enum TickFormat {
    Plain,
    /// Fractions shown as percentages.
    Percent,
    /// Speedups: `0.5×`, `2×`.
    Times,
    Dollars,
}

impl Scale {
    fn t(&self, v: f64) -> f64 {
        match *self {
            Scale::Linear { lo, hi } => (v - lo) / (hi - lo),
            Scale::Log { lo, hi } => (v.log10() - lo.log10()) / (hi.log10() - lo.log10()),
        }
    }

    /// Nice ticks inside the range.
    fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { lo, hi } => {
                let step = nice_step((hi - lo) / 5.0);
                let first = (lo / step).ceil() as i64;
                let last = (hi / step + 1e-9).floor() as i64;
                (first..=last).map(|i| i as f64 * step).collect()
            }
            Scale::Log { lo, hi } => {
                let d0 = lo.log10().floor() as i32;
                let d1 = hi.log10().ceil() as i32;
                let span = hi.log10() - lo.log10();
                let mantissas: &[f64] = if span <= 1.2 {
                    &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]
                } else if span <= 3.5 {
                    &[1.0, 2.0, 5.0]
                } else {
                    &[1.0]
                };
                let mut out = Vec::new();
                for d in d0..=d1 {
                    for m in mantissas {
                        let v = m * 10f64.powi(d);
                        if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                            out.push(v);
                        }
                    }
                }
                out
            }
        }
    }
}

fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// A linear range from 0 (or `lo`) up to a nice value at or above `max`.
pub fn nice_linear(lo: f64, max: f64) -> Scale {
    let max = if max.is_finite() && max > lo {
        max
    } else {
        lo + 1.0
    };
    let step = nice_step((max - lo) / 5.0);
    Scale::Linear {
        lo,
        hi: lo + ((max - lo) / step - 1e-9).ceil().max(1.0) * step,
    }
}

/// A log range covering `[min, max]` with some margin, at least a factor 4 wide.
pub fn nice_log(min: f64, max: f64) -> Scale {
    let (mut lo, mut hi) = if min.is_finite() && max.is_finite() && min > 0.0 && max >= min {
        (min / 1.25, max * 1.25)
    } else {
        (0.5, 2.0)
    };
    if hi / lo < 4.0 {
        let c = (lo * hi).sqrt();
        lo = c / 2.0;
        hi = c * 2.0;
    }
    Scale::Log { lo, hi }
}

fn format_tick(v: f64, fmt: TickFormat, scale: &Scale) -> String {
    let decimals = match *scale {
        Scale::Linear { lo, hi } => {
            let step = nice_step((hi - lo) / 5.0);
            let scaled = if matches!(fmt, TickFormat::Percent) {
                step * 100.0
            } else {
                step
            };
            (-(scaled.log10().floor()) as i64).clamp(0, 6) as usize + 1
        }
        Scale::Log { .. } => (-(v.log10().floor()) as i64).clamp(0, 6) as usize + 1,
    };
    match fmt {
        TickFormat::Plain => trim_num(v, decimals),
        TickFormat::Percent => format!("{}%", trim_num(v * 100.0, decimals)),
        TickFormat::Times => format!("{}×", trim_num(v, decimals)),
        TickFormat::Dollars => format!("${}", trim_num(v, decimals.max(2))),
    }
}

/// What a legend entry shows.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    Line,
    Dot,
    Bar,
    Band,
    Dashed,
}

/// A chart frame: plot area, axes, ticks, grid, labels and legend; plot content goes in `body`.
pub struct Chart {
    pub title: String,
    pub subtitle: Option<String>,
    pub x_label: String,
    pub y_label: String,
    pub x: Scale,
    pub y: Scale,
    pub x_format: TickFormat,
    pub y_format: TickFormat,
    /// Integer ticks only on x (e.g. k).
    pub x_integer: bool,
    /// Integer ticks only on y (counts).
    pub y_integer: bool,
    pub plot_width: f64,
    pub plot_height: f64,
    pub legend: Vec<(String, &'static str, Mark)>,
    body: String,
}

const LEFT: f64 = 72.0;
const RIGHT: f64 = 28.0;
const TOP_TITLE: f64 = 34.0;
const LEGEND_ROW: f64 = 20.0;

impl Chart {
    pub fn new(title: &str, x_label: &str, y_label: &str, x: Scale, y: Scale) -> Self {
        Chart {
            title: title.to_string(),
            subtitle: None,
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            x,
            y,
            x_format: TickFormat::Plain,
            y_format: TickFormat::Plain,
            x_integer: false,
            y_integer: false,
            plot_width: 600.0,
            plot_height: 340.0,
            legend: Vec::new(),
            body: String::new(),
        }
    }

    fn top(&self) -> f64 {
        TOP_TITLE + if self.subtitle.is_some() { 18.0 } else { 0.0 } + 10.0
    }

    /// Pixel x of a data value.
    pub fn px(&self, v: f64) -> f64 {
        LEFT + self.x.t(v) * self.plot_width
    }

    /// Pixel y of a data value.
    pub fn py(&self, v: f64) -> f64 {
        self.top() + (1.0 - self.y.t(v)) * self.plot_height
    }

    /// Appends raw SVG to the plot content.
    pub fn push(&mut self, svg: &str) {
        self.body.push_str(svg);
        self.body.push('\n');
    }

    /// A polyline through data points.
    pub fn line(&mut self, pts: &[(f64, f64)], color: &str, width: f64, dash: bool) {
        if pts.is_empty() {
            return;
        }
        let d: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", self.px(x), self.py(y)))
            .collect();
        let dash = if dash {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let s = format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"{dash}/>",
            d.join(" ")
        );
        self.push(&s);
    }

    /// A circle at a data point.
    pub fn dot(&mut self, x: f64, y: f64, r: f64, color: &str, title: &str) {
        let s = format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" fill=\"{color}\" fill-opacity=\"0.85\" stroke=\"#ffffff\" stroke-width=\"1\"><title>{}</title></circle>",
            self.px(x),
            self.py(y),
            xml_escape(title)
        );
        self.push(&s);
    }

    /// A band between `lo(x)` and `hi(x)`.
    pub fn band(&mut self, xs: &[f64], lo: &[f64], hi: &[f64], color: &str) {
        if xs.is_empty() {
            return;
        }
        let mut pts: Vec<String> = xs
            .iter()
            .zip(hi)
            .map(|(&x, &y)| format!("{:.1},{:.1}", self.px(x), self.py(y)))
            .collect();
        pts.extend(
            xs.iter()
                .zip(lo)
                .rev()
                .map(|(&x, &y)| format!("{:.1},{:.1}", self.px(x), self.py(y))),
        );
        let s = format!(
            "<polygon points=\"{}\" fill=\"{color}\" fill-opacity=\"0.16\" stroke=\"none\"/>",
            pts.join(" ")
        );
        self.push(&s);
    }

    /// A message in the middle of an empty plot.
    pub fn no_data(&mut self, message: &str) {
        let s = format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"14\" fill=\"#777777\">{}</text>",
            LEFT + self.plot_width / 2.0,
            self.top() + self.plot_height / 2.0,
            xml_escape(message)
        );
        self.push(&s);
    }

    /// The finished SVG document: frame and title, grid and ticks under the plot content, axes
    /// and labels over it, and the legend under the plot.
    pub fn finish(&self) -> String {
        let legend_top = self.top() + self.plot_height + 58.0;
        let width = LEFT + self.plot_width + RIGHT;
        let height = legend_top + self.legend.len() as f64 * LEGEND_ROW + 8.0;
        let mut s = String::new();
        self.write_frame(&mut s, width, height);
        self.write_x_ticks(&mut s);
        self.write_y_ticks(&mut s);
        s.push_str(&self.body);
        self.write_axes(&mut s);
        self.write_legend(&mut s, legend_top);
        s.push_str("</svg>\n");
        s
    }

    /// The `<svg>` opening, the white background, the title and the subtitle.
    fn write_frame(&self, s: &mut String, width: f64, height: f64) {
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"{}\">",
            xml_escape(&self.title)
        );
        let _ = writeln!(
            s,
            "<rect x=\"0\" y=\"0\" width=\"{width:.0}\" height=\"{height:.0}\" fill=\"#ffffff\"/>"
        );
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"bold\" fill=\"#222222\">{}</text>",
            xml_escape(&self.title)
        );
        if let Some(sub) = &self.subtitle {
            let _ = writeln!(
                s,
                "<text x=\"{LEFT}\" y=\"40\" font-size=\"11\" fill=\"#666666\">{}</text>",
                xml_escape(sub)
            );
        }
    }

    /// Vertical grid lines, tick marks and labels along x.
    fn write_x_ticks(&self, s: &mut String) {
        let (top, h) = (self.top(), self.plot_height);
        let mut xticks = self.x.ticks();
        if self.x_integer {
            xticks.retain(|v| (v - v.round()).abs() < 1e-9);
        }
        for v in &xticks {
            let x = self.px(*v);
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#e6e6e6\"/>",
                top + h
            );
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444444\"/>",
                top + h,
                top + h + 5.0
            );
            let _ = writeln!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333333\">{}</text>",
                top + h + 19.0,
                xml_escape(&format_tick(*v, self.x_format, &self.x))
            );
        }
    }

    /// Horizontal grid lines, tick marks and labels along y.
    fn write_y_ticks(&self, s: &mut String) {
        let w = self.plot_width;
        let mut yticks = self.y.ticks();
        if self.y_integer {
            yticks.retain(|v| (v - v.round()).abs() < 1e-9);
        }
        for v in yticks {
            let y = self.py(v);
            let _ = writeln!(
                s,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e6e6e6\"/>",
                LEFT + w
            );
            let _ = writeln!(
                s,
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{LEFT}\" y2=\"{y:.1}\" stroke=\"#444444\"/>",
                LEFT - 5.0
            );
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#333333\">{}</text>",
                LEFT - 8.0,
                y + 4.0,
                xml_escape(&format_tick(v, self.y_format, &self.y))
            );
        }
    }

    /// The plot's border and the axis labels, drawn over the content.
    fn write_axes(&self, s: &mut String) {
        let (top, w, h) = (self.top(), self.plot_width, self.plot_height);
        let _ = writeln!(
            s,
            "<rect x=\"{LEFT}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"none\" stroke=\"#444444\"/>"
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222222\">{}</text>",
            LEFT + w / 2.0,
            top + h + 40.0,
            xml_escape(&self.x_label)
        );
        let (yx, yy) = (18.0, top + h / 2.0);
        let _ = writeln!(
            s,
            "<text x=\"{yx:.1}\" y=\"{yy:.1}\" text-anchor=\"middle\" font-size=\"13\" fill=\"#222222\" transform=\"rotate(-90 {yx:.1} {yy:.1})\">{}</text>",
            xml_escape(&self.y_label)
        );
    }

    /// One legend row per entry, from `legend_top` down.
    fn write_legend(&self, s: &mut String, legend_top: f64) {
        for (i, (label, color, mark)) in self.legend.iter().enumerate() {
            let y = legend_top + i as f64 * LEGEND_ROW;
            let x = LEFT;
            let glyph = mark.glyph(x, y, color);
            let _ = writeln!(
                s,
                "{glyph}<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#222222\">{}</text>",
                x + 32.0,
                y + 4.0,
                xml_escape(label)
            );
        }
    }
}

impl Mark {
    /// The legend glyph of this mark, left edge at `x`, centred on `y`.
    fn glyph(&self, x: f64, y: f64, color: &str) -> String {
        match self {
                Mark::Line => format!(
                    "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-width=\"2.5\"/>",
                    x + 24.0
                ),
                Mark::Dashed => format!(
                    "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>",
                    x + 24.0
                ),
                Mark::Dot => format!(
                    "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{color}\"/>",
                    x + 12.0
                ),
                Mark::Bar => format!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"14\" height=\"12\" fill=\"{color}\"/>",
                    x + 5.0,
                    y - 6.0
                ),
                Mark::Band => format!(
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"24\" height=\"12\" fill=\"{color}\" fill-opacity=\"0.16\"/><line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-width=\"2.5\"/>",
                    y - 6.0,
                    x + 24.0
                ),
            }
    }
}

/// Opt@k against k: one line per configuration (bootstrap mean) with its 2.5–97.5% band.
pub fn opt_at_k_plot(summaries: &[ConfigSummary]) -> String {
    let k_max = summaries
        .iter()
        .flat_map(|s| s.opt_at_k_curve.iter().map(|p| p.k))
        .max()
        .unwrap_or(1);
    let y_max = summaries
        .iter()
        .flat_map(|s| s.opt_at_k_curve.iter().map(|p| p.hi))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let x = if k_max <= 1 {
        Scale::Linear { lo: 0.5, hi: 1.5 }
    } else {
        Scale::Linear {
            lo: 1.0,
            hi: k_max as f64,
        }
    };
    let y = nice_linear(0.0, (y_max * 1.1).clamp(0.1, 1.0));
    let mut c = Chart::new(
        "Opt@k",
        "k (rollouts per task)",
        "Opt@k (share of all tasks)",
        x,
        y,
    );
    c.subtitle = Some("bootstrap over rollout orders (500 trials); shaded: 2.5–97.5% band".into());
    c.y_format = TickFormat::Percent;
    c.x_integer = true;
    if summaries.is_empty() {
        c.no_data("no rollouts recorded");
    }
    for (i, s) in summaries.iter().enumerate() {
        let col = color(i);
        let pts: Vec<_> = s
            .opt_at_k_curve
            .iter()
            .filter(|p| p.mean.is_finite())
            .collect();
        let xs: Vec<f64> = pts.iter().map(|p| p.k as f64).collect();
        let lo: Vec<f64> = pts.iter().map(|p| p.lo).collect();
        let hi: Vec<f64> = pts.iter().map(|p| p.hi).collect();
        c.band(&xs, &lo, &hi, col);
        let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.k as f64, p.mean)).collect();
        c.line(&line, col, 2.5, false);
        for p in &pts {
            let t = format!(
                "{}: Opt@{} = {:.1}% [{:.1}%, {:.1}%], exact {:.1}%",
                s.label(),
                p.k,
                p.mean * 100.0,
                p.lo * 100.0,
                p.hi * 100.0,
                p.expected * 100.0
            );
            c.dot(p.k as f64, p.mean, 3.5, col, &t);
        }
        c.legend.push((s.label(), col, Mark::Band));
    }
    c.finish()
}

/// Opt@K against the configuration's total cost: one point per configuration.
pub fn cost_plot(summaries: &[ConfigSummary]) -> String {
    let max_cost = summaries
        .iter()
        .map(|s| s.cost_usd)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let max_opt = summaries
        .iter()
        .filter_map(|s| s.opt_at_k)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let x = nice_linear(0.0, max_cost * 1.1);
    let y = nice_linear(0.0, (max_opt * 1.15).clamp(0.1, 1.0));
    let k = summaries.first().map_or(1, |s| s.k);
    let mut c = Chart::new(
        &format!("Opt@{k} against cost"),
        "total cost of the configuration's rollouts (USD)",
        "Opt@k (share of all tasks)",
        x,
        y,
    );
    c.subtitle = Some(format!(
        "one point per configuration; filled: Opt@{k}, hollow: Opt@1"
    ));
    c.x_format = TickFormat::Dollars;
    c.y_format = TickFormat::Percent;
    if summaries.is_empty() {
        c.no_data("no rollouts recorded");
    }
    for (i, s) in summaries.iter().enumerate() {
        let Some(opt_at_k) = s
            .opt_at_k
            .filter(|v| v.is_finite() && s.cost_usd.is_finite())
        else {
            continue;
        };
        if let Some(opt_at_1) = s.opt_at_1.filter(|v| v.is_finite()) {
            let (x, y1, yk) = (c.px(s.cost_usd), c.py(opt_at_1), c.py(opt_at_k));
            let t = format!("{}: Opt@1 = {:.1}%", s.label(), opt_at_1 * 100.0);
            c.push(&format!(
                "<line x1=\"{x:.1}\" y1=\"{y1:.1}\" x2=\"{x:.1}\" y2=\"{yk:.1}\" stroke=\"{col}\" stroke-width=\"1.5\"/><circle cx=\"{x:.1}\" cy=\"{y1:.1}\" r=\"5\" fill=\"#ffffff\" stroke=\"{col}\" stroke-width=\"2\"><title>{}</title></circle>",
                xml_escape(&t),
                col = color(i)
            ));
        }
        let t = format!(
            "{}: Opt@{} = {:.1}% for ${:.2}",
            s.label(),
            s.k,
            opt_at_k * 100.0,
            s.cost_usd
        );
        c.dot(s.cost_usd, opt_at_k, 6.5, color(i), &t);
        c.legend.push((s.label(), color(i), Mark::Dot));
    }
    c.finish()
}

/// Histogram of per-task best speedups (log axis), bars grouped by configuration. Tasks
/// without a verified rollout count 1.0×.
pub fn speedup_histogram(summaries: &[ConfigSummary], rows: &[TaskRow]) -> String {
    let per_config: Vec<Vec<f64>> = summaries
        .iter()
        .map(|s| {
            rows.iter()
                .filter(|r| r.model == s.model && r.agent == s.agent && r.budget == s.budget)
                .map(|r| r.best_speedup.unwrap_or(1.0))
                .filter(|v| v.is_finite() && *v > 0.0)
                .collect()
        })
        .collect();
    let all: Vec<f64> = per_config.iter().flatten().copied().collect();
    let (min, max) = all
        .iter()
        .fold((1.0f64, 1.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    // Bins of width w in log2, centred on 1.0; w chosen for at most 16 bins.
    let span = max.log2() - min.log2();
    let w = [0.25, 0.5, 1.0, 2.0]
        .into_iter()
        .find(|w| span / w + 1.0 <= 16.0)
        .unwrap_or(4.0);
    let bin_of = |v: f64| (v.log2() / w).round() as i64;
    let (b0, b1) = (bin_of(min) - 1, bin_of(max) + 1);
    let edge = |j: f64| 2f64.powf((j - 0.5) * w);
    let n_bins = (b1 - b0 + 1) as usize;
    let mut counts = vec![vec![0usize; n_bins]; per_config.len()];
    for (ci, vals) in per_config.iter().enumerate() {
        for &v in vals {
            counts[ci][(bin_of(v) - b0) as usize] += 1;
        }
    }
    let max_count = counts.iter().flatten().copied().max().unwrap_or(0);
    let x = Scale::Log {
        lo: edge(b0 as f64),
        hi: edge(b1 as f64 + 1.0),
    };
    let y = nice_linear(0.0, (max_count as f64 * 1.1).max(1.0));
    let mut c = Chart::new(
        "Best speedup per task",
        "speedup of the task's best verified rollout (log scale)",
        "tasks",
        x,
        y,
    );
    c.subtitle = Some(format!(
        "tasks without a correct patch count 1.0×; each bin spans a factor of {}",
        trim_num(2f64.powf(w), 2)
    ));
    c.x_format = TickFormat::Times;
    c.y_integer = true;
    if summaries.is_empty() {
        c.no_data("no rollouts recorded");
    }
    // The no-change line.
    let x1 = c.px(1.0);
    let (top, bottom) = (c.py(y_hi(&c.y)), c.py(0.0));
    c.push(&format!(
        "<line x1=\"{x1:.1}\" y1=\"{top:.1}\" x2=\"{x1:.1}\" y2=\"{bottom:.1}\" stroke=\"#888888\" stroke-dasharray=\"4 3\"/>"
    ));
    let groups = per_config.len().max(1) as f64;
    for (ci, s) in summaries.iter().enumerate() {
        for (bi, &n) in counts[ci].iter().enumerate() {
            if n == 0 {
                continue;
            }
            let j = (b0 + bi as i64) as f64;
            let (l, r) = (c.px(edge(j)), c.px(edge(j + 1.0)));
            let inner = (r - l) * 0.84;
            let bw = inner / groups;
            let bx = l + (r - l) * 0.08 + bw * ci as f64;
            let (y_top, y_bot) = (c.py(n as f64), c.py(0.0));
            let t = format!(
                "{}: {n} task(s) in [{}×, {}×)",
                s.label(),
                trim_num(edge(j), 3),
                trim_num(edge(j + 1.0), 3)
            );
            c.push(&format!(
                "<rect x=\"{bx:.1}\" y=\"{y_top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}</title></rect>",
                (bw - 1.0).max(1.0),
                y_bot - y_top,
                color(ci),
                xml_escape(&t)
            ));
        }
        c.legend.push((s.label(), color(ci), Mark::Bar));
    }
    c.finish()
}

fn y_hi(s: &Scale) -> f64 {
    match *s {
        Scale::Linear { hi, .. } | Scale::Log { hi, .. } => hi,
    }
}

/// Agent against expert speedup per workload of each task's best verified rollout (log-log),
/// with the diagonal where the agent equals the expert.
pub fn workload_scatter(summaries: &[ConfigSummary], rows: &[TaskRow]) -> String {
    let mut points: Vec<(usize, f64, f64, String)> = Vec::new();
    for (ci, s) in summaries.iter().enumerate() {
        for r in rows
            .iter()
            .filter(|r| r.model == s.model && r.agent == s.agent && r.budget == s.budget)
        {
            let positive = |x: Option<f64>| x.filter(|x| x.is_finite() && *x > 0.0);
            for w in &r.workloads {
                if let (Some(speedup), Some(expert)) =
                    (positive(w.speedup), positive(w.expert_speedup))
                {
                    points.push((
                        ci,
                        expert,
                        speedup,
                        format!(
                            "{} / {} / {}: agent {:.3}×, expert {:.3}×",
                            s.label(),
                            r.task,
                            w.name,
                            speedup,
                            expert
                        ),
                    ));
                }
            }
        }
    }
    let (min, max) = points.iter().fold((1.0f64, 1.0f64), |(a, b), p| {
        (a.min(p.1).min(p.2), b.max(p.1).max(p.2))
    });
    let scale = nice_log(min, max);
    let mut c = Chart::new(
        "Agent against expert, per workload",
        "expert speedup (log scale)",
        "agent speedup (log scale)",
        scale,
        scale,
    );
    c.subtitle =
        Some("workloads of each task's best verified rollout; dashed: agent = expert".into());
    c.x_format = TickFormat::Times;
    c.y_format = TickFormat::Times;
    c.plot_width = 420.0;
    c.plot_height = 420.0;
    let (lo, hi) = match scale {
        Scale::Log { lo, hi } | Scale::Linear { lo, hi } => (lo, hi),
    };
    c.line(&[(lo, lo), (hi, hi)], "#888888", 1.5, true);
    // Guides at 1.0× (no change).
    let (x1, y1) = (c.px(1.0), c.py(1.0));
    let (l, r, t, b) = (c.px(lo), c.px(hi), c.py(hi), c.py(lo));
    c.push(&format!(
        "<line x1=\"{l:.1}\" y1=\"{y1:.1}\" x2=\"{r:.1}\" y2=\"{y1:.1}\" stroke=\"#bbbbbb\"/><line x1=\"{x1:.1}\" y1=\"{t:.1}\" x2=\"{x1:.1}\" y2=\"{b:.1}\" stroke=\"#bbbbbb\"/>"
    ));
    if points.is_empty() {
        c.no_data("no verified patch yet");
    }
    for (ci, xe, ya, title) in &points {
        c.dot(*xe, *ya, 4.5, color(*ci), title);
    }
    let mut shown = vec![false; summaries.len()];
    for p in &points {
        shown[p.0] = true;
    }
    for (ci, s) in summaries.iter().enumerate() {
        if shown[ci] {
            c.legend.push((s.label(), color(ci), Mark::Dot));
        }
    }
    c.legend
        .push(("agent = expert".into(), "#888888", Mark::Dashed));
    c.finish()
}
