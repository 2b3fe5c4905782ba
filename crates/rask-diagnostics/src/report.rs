//! The HTML report: one self-contained file, no network.
//!
//! The page holds inline CSS and inline SVG drawn here; hovering shows SVG
//! `<title>`s, so there is no script. Sections:
//!
//! * **Task stream**: one row per worker, one rectangle per task, coloured
//!   by key prefix (legend above), on a time axis shared by all charts. Runs
//!   sit at their offsets on the profiler's clock.
//! * **Memory**: bytes held by results ([`Profiler::memory`]) and, when a
//!   [`ResourceProfiler`] is given, the process's RSS; then its CPU use.
//! * **Summary**: count, total and mean time and bytes per key prefix.
//!
//! To keep the file small for large graphs, consecutive tasks on one worker
//! whose rectangles would together span less than a pixel are drawn as one
//! rectangle, coloured by the prefix that took most of its time (its title
//! counts the tasks per prefix), and the memory series keeps, per half
//! pixel, its peak and its last value. A row then holds at most about two
//! rectangles per pixel, so the file stays around a megabyte per 4 workers
//! however many tasks ran.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rask_core::{Error, Result};

use crate::profiler::{Profiler, TaskRecord};
use crate::resources::ResourceProfiler;

/// Width of the plotting area in pixels.
const WIDTH: f64 = 1000.0;
/// Left margin for row labels and axis numbers.
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 18.0;
const CHART: f64 = 160.0;

/// Writes the report of `profiler` (and of `resources`, if given) to `path`.
///
/// The file is written whole or not at all: into a temporary file beside
/// it, then renamed over `path`, so a reader (a browser refreshing it)
/// never sees half a report and a failed write leaves the old one.
///
/// ```
/// use rask_diagnostics::{Profiler, report};
/// let profiler = Profiler::new(); // nothing recorded: an empty report
/// let path = std::env::temp_dir().join(format!("rask-report-doc-{}.html", std::process::id()));
/// report(&path, &profiler, None).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("</html>"));
/// # std::fs::remove_file(&path).ok();
/// ```
pub fn report(
    path: impl AsRef<Path>,
    profiler: &Profiler,
    resources: Option<&ResourceProfiler>,
) -> Result<()> {
    let path = path.as_ref();
    write_whole(path, report_html(profiler, resources).as_bytes()).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to a new temporary file in `path`'s directory, then
/// renames it to `path`; the temporary file is removed on any failure.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names no file (it ends in `..` or is a root)",
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let temp = path.with_file_name(temp_name);
    let mut file = std::fs::File::create_new(&temp)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&temp, path)
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The report as a string of HTML; see [`report`].
pub fn report_html(profiler: &Profiler, resources: Option<&ResourceProfiler>) -> String {
    render(profiler, resources, true)
}

/// The report, with tiny tasks merged into shared rectangles or not.
pub(crate) fn render(
    profiler: &Profiler,
    resources: Option<&ResourceProfiler>,
    merge: bool,
) -> String {
    let runs = profiler.runs();
    let records = profiler.records();
    let summary = profiler.by_prefix();
    let samples = resources.map(|r| r.samples()).unwrap_or_default();

    // One clock for everything: the earlier of the two origins.
    let origin = match resources {
        Some(r) => profiler.origin().min(r.origin()),
        None => profiler.origin(),
    };
    let shift = |o: Instant| o.saturating_duration_since(origin);
    let prof_shift = shift(profiler.origin());
    let res_shift = resources.map_or(Duration::ZERO, |r| shift(r.origin()));
    let mut run_offset = vec![Duration::ZERO; runs.iter().map(|r| r.index + 1).max().unwrap_or(0)];
    let mut span = Duration::ZERO;
    for r in &runs {
        run_offset[r.index] = prof_shift + r.offset;
        span = span.max(prof_shift + r.offset + r.duration);
    }
    if let Some(s) = samples.last() {
        span = span.max(res_shift + s.time);
    }
    let axis = Axis::new(span);

    // Colours: prefixes by total time, as in the summary.
    let colour: HashMap<&str, usize> = summary
        .iter()
        .enumerate()
        .map(|(i, s)| (s.prefix.as_str(), i))
        .collect();

    let mut html = String::with_capacity(64 * 1024 + records.len() * 160);
    html.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>rask profile</title>\n<style>\n\
         body{font:14px system-ui,sans-serif;margin:24px;color:#222}\n\
         h1{font-size:20px}h2{font-size:16px;margin-top:28px}\n\
         svg{display:block;width:100%;height:auto}svg text{font-size:11px;fill:#444}\n\
         .axis{stroke:#999;stroke-width:1}.grid{stroke:#eee;stroke-width:1}\n\
         .legend span{display:inline-block;margin:0 14px 4px 0}\n\
         .legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}\n\
         table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}\n\
         td:first-child,th:first-child{text-align:left}\n",
    );
    for i in 0..summary.len() {
        let _ = writeln!(html, ".p{i}{{fill:{c};background:{c}}}", c = hue(i));
    }
    html.push_str("</style>\n</head>\n<body>\n<h1>rask profile</h1>\n");
    let tasks = records.len();
    let failed = records.iter().filter(|r| !r.ok).count();
    let _ = writeln!(
        html,
        "<p>{} run(s), {tasks} task(s){}, over {}.</p>",
        runs.len(),
        if failed > 0 {
            format!(" ({failed} failed)")
        } else {
            String::new()
        },
        fmt_duration(span)
    );

    // Task stream.
    html.push_str("<h2>Task stream</h2>\n<div class=\"legend\">");
    for (i, s) in summary.iter().enumerate() {
        let _ = write!(
            html,
            "<span><i class=\"p{i}\"></i>{}</span>",
            esc(&s.prefix)
        );
    }
    html.push_str("</div>\n");
    task_stream(&mut html, &records, &run_offset, &colour, &axis, merge);

    // Memory and CPU.
    html.push_str("<h2>Memory</h2>\n");
    let held: Vec<(f64, f64)> = profiler
        .memory()
        .iter()
        .map(|&(t, b)| (axis.x(prof_shift + t), b as f64))
        .collect();
    let rss: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (axis.x(res_shift + s.time), s.rss as f64))
        .collect();
    memory_chart(&mut html, &held, &rss, &axis);
    memory_manager(&mut html, rask_local::memory_stats());
    if resources.is_some() {
        html.push_str("<h2>CPU</h2>\n");
        if samples.is_empty() {
            html.push_str("<p>No samples: resource sampling needs Linux's /proc.</p>\n");
        } else {
            let cpu: Vec<(f64, f64)> = samples
                .iter()
                .map(|s| (axis.x(res_shift + s.time), s.cpu))
                .collect();
            cpu_chart(&mut html, &cpu, &axis);
        }
    }

    // Summary.
    html.push_str(
        "<h2>Summary by key prefix</h2>\n<table>\n<tr><th>prefix</th><th>tasks</th>\
         <th>total time</th><th>mean time</th><th>result bytes</th></tr>\n",
    );
    for (i, s) in summary.iter().enumerate() {
        let _ = writeln!(
            html,
            "<tr><td><span class=\"legend\"><i class=\"p{i}\"></i></span>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.prefix),
            s.count,
            fmt_duration(s.total),
            fmt_duration(s.mean),
            fmt_bytes(s.nbytes as f64)
        );
    }
    html.push_str("</table>\n</body>\n</html>\n");
    html
}

/// Maps times to pixels and draws the time axis.
struct Axis {
    span: f64,
}

impl Axis {
    fn new(span: Duration) -> Self {
        Axis {
            span: span.as_secs_f64().max(1e-6),
        }
    }

    /// Pixel position of a time, inside the plotting area.
    fn x(&self, t: Duration) -> f64 {
        LEFT + t.as_secs_f64() / self.span * WIDTH
    }

    /// Ticks and grid lines for a chart from `top` to `bottom`.
    fn draw(&self, out: &mut String, top: f64, bottom: f64) {
        let step = nice_step(self.span / 8.0);
        let mut t = 0.0;
        while t <= self.span * 1.0001 {
            let x = LEFT + t / self.span * WIDTH;
            let _ = write!(
                out,
                "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 14.0,
                fmt_duration(Duration::from_secs_f64(t))
            );
            t += step;
        }
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\"/>",
            LEFT + WIDTH
        );
    }
}

/// A rectangle being built: one task, or several tiny ones merged.
struct Pending<'a> {
    first: &'a TaskRecord,
    x0: f64,
    x1: f64,
    count: usize,
    ok: bool,
    /// Count and busy time per prefix, in order of appearance.
    prefixes: Vec<(&'a str, usize, Duration)>,
}

impl<'a> Pending<'a> {
    fn new(r: &'a TaskRecord, x0: f64, x1: f64) -> Self {
        Pending {
            first: r,
            x0,
            x1,
            count: 1,
            ok: r.ok,
            prefixes: vec![(r.key.prefix(), 1, r.duration())],
        }
    }

    fn add(&mut self, r: &'a TaskRecord, x1: f64) {
        self.x1 = self.x1.max(x1);
        self.count += 1;
        self.ok &= r.ok;
        let prefix = r.key.prefix();
        match self.prefixes.iter_mut().find(|p| p.0 == prefix) {
            Some(p) => {
                p.1 += 1;
                p.2 += r.duration();
            }
            None => self.prefixes.push((prefix, 1, r.duration())),
        }
    }

    /// The prefix that took most of the rectangle's time.
    fn main_prefix(&self) -> &'a str {
        self.prefixes.iter().max_by_key(|p| p.2).map_or("", |p| p.0)
    }
}

fn task_stream(
    out: &mut String,
    records: &[TaskRecord],
    run_offset: &[Duration],
    colour: &HashMap<&str, usize>,
    axis: &Axis,
    merge: bool,
) {
    let workers = records.iter().map(|r| r.worker + 1).max().unwrap_or(1);
    svg_open(out, workers as f64 * ROW + 24.0);
    axis.draw(out, 0.0, workers as f64 * ROW);
    let mut rows: Vec<Vec<&TaskRecord>> = vec![Vec::new(); workers];
    for r in records {
        rows[r.worker].push(r);
    }
    for (w, row) in rows.iter_mut().enumerate() {
        let y = w as f64 * ROW;
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">worker {w}</text>",
            LEFT - 6.0,
            y + ROW * 0.7
        );
        let at = |r: &TaskRecord| run_offset.get(r.run).copied().unwrap_or_default();
        row.sort_by_key(|r| at(r) + r.start);
        let mut pending: Option<Pending<'_>> = None;
        for r in row.iter() {
            let x0 = axis.x(at(r) + r.start);
            let x1 = axis.x(at(r) + r.end);
            // Tasks that together span under a pixel become one rectangle.
            if let Some(p) = &mut pending
                && merge
                && x1 - p.x0 < 1.0
            {
                p.add(r, x1);
                continue;
            }
            if let Some(p) = pending.take() {
                task_rect(out, &p, y, colour);
            }
            pending = Some(Pending::new(r, x0, x1));
        }
        if let Some(p) = pending.take() {
            task_rect(out, &p, y, colour);
        }
    }
    out.push_str("</svg>\n");
}

fn task_rect(out: &mut String, p: &Pending<'_>, y: f64, colour: &HashMap<&str, usize>) {
    let r = p.first;
    let class = colour.get(p.main_prefix()).copied().unwrap_or(0);
    let width = (p.x1 - p.x0).max(0.5);
    let _ = write!(
        out,
        "<rect class=\"p{class}\" x=\"{:.2}\" y=\"{:.1}\" width=\"{width:.2}\" height=\"{:.1}\"",
        p.x0,
        y + 1.0,
        ROW - 2.0
    );
    if !p.ok {
        out.push_str(" stroke=\"#c00\" stroke-width=\"2\"");
    }
    out.push_str("><title>");
    if p.count == 1 {
        let _ = write!(
            out,
            "{} · {} · worker {} · {} · {}{}",
            esc(&r.key.to_string()),
            esc(&r.op),
            r.worker,
            fmt_duration(r.duration()),
            fmt_bytes(r.nbytes as f64),
            if r.ok { "" } else { " · failed" }
        );
    } else {
        let _ = write!(out, "{} tasks on worker {}:", p.count, r.worker);
        for (prefix, count, busy) in &p.prefixes {
            let _ = write!(
                out,
                " {} × {} ({})",
                count,
                esc(prefix),
                fmt_duration(*busy)
            );
        }
    }
    out.push_str("</title></rect>\n");
}

fn memory_chart(out: &mut String, held: &[(f64, f64)], rss: &[(f64, f64)], axis: &Axis) {
    let top = 10.0;
    let max = held
        .iter()
        .chain(rss)
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let y = |v: f64| top + CHART - v / max * CHART;
    chart_open(out, top, axis);
    value_ticks(out, top, max, y, fmt_bytes);
    if held.len() > 1 {
        let _ = writeln!(
            out,
            "<path d=\"{}\" fill=\"none\" stroke=\"#3465a4\" stroke-width=\"1.5\">\
             <title>bytes held by results</title></path>",
            step_path(held, y)
        );
    }
    if rss.len() > 1 {
        let _ = writeln!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#cc5500\" stroke-width=\"1.5\">\
             <title>process RSS</title></polyline>",
            points(rss, y)
        );
    }
    out.push_str("</svg>\n<div class=\"legend\"><span><i style=\"background:#3465a4\"></i>bytes held by results</span>");
    if !rss.is_empty() {
        out.push_str("<span><i style=\"background:#cc5500\"></i>process RSS</span>");
    }
    out.push_str("</div>\n");
}

/// One line on the threads scheduler's memory manager, from the last
/// compute that ran with a memory limit (`rask_local::memory_stats`).
fn memory_manager(out: &mut String, stats: Option<rask_local::MemoryStats>) {
    let Some(m) = stats else {
        return;
    };
    let _ = writeln!(
        out,
        "<p>Memory manager (last compute): limit {}, peak RSS {}, peak held by results {}, \
         {} results ({}) spilled to disk, {} read back; unmanaged memory at the end {}.</p>",
        fmt_bytes(m.limit as f64),
        fmt_bytes(m.peak_rss as f64),
        fmt_bytes(m.peak_managed as f64),
        m.spills,
        fmt_bytes(m.spilled_total as f64),
        m.reads,
        fmt_bytes(m.unmanaged as f64),
    );
}

fn cpu_chart(out: &mut String, cpu: &[(f64, f64)], axis: &Axis) {
    let top = 10.0;
    let max = cpu.iter().map(|p| p.1).fold(100.0f64, f64::max);
    let y = |v: f64| top + CHART - v / max * CHART;
    chart_open(out, top, axis);
    value_ticks(out, top, max, y, |v| format!("{v:.0} %"));
    let _ = writeln!(
        out,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#4e9a06\" stroke-width=\"1.5\">\
         <title>CPU, % of one core</title></polyline>",
        points(cpu, y)
    );
    out.push_str("</svg>\n");
}

/// Opens an `<svg>` element of the charts' drawing size, `height` tall,
/// scaled by the page to fill the window's width (the `svg` style rule).
fn svg_open(out: &mut String, height: f64) {
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100%\" \
         viewBox=\"0 0 {} {height:.0}\">",
        LEFT + WIDTH + RIGHT
    );
}

fn chart_open(out: &mut String, top: f64, axis: &Axis) {
    svg_open(out, top + CHART + 24.0);
    axis.draw(out, top, top + CHART);
}

fn value_ticks(
    out: &mut String,
    top: f64,
    max: f64,
    y: impl Fn(f64) -> f64,
    label: impl Fn(f64) -> String,
) {
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let yy = y(v).clamp(top, top + CHART);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + WIDTH,
            LEFT - 6.0,
            yy + 4.0,
            esc(&label(v)),
        );
    }
    out.push('\n');
}

/// A step path through `(x, value)` points, keeping per half pixel the peak
/// and the last value.
fn step_path(series: &[(f64, f64)], y: impl Fn(f64) -> f64) -> String {
    let mut d = String::new();
    let Some(&(x0, v0)) = series.first() else {
        return d;
    };
    let _ = write!(d, "M{x0:.1} {:.1}", y(v0));
    let mut i = 1;
    while i < series.len() {
        let column = (series[i].0 * 2.0).floor();
        let mut peak = series[i].1;
        let mut last = series[i].1;
        let x = series[i].0;
        i += 1;
        while i < series.len() && (series[i].0 * 2.0).floor() == column {
            peak = peak.max(series[i].1);
            last = series[i].1;
            i += 1;
        }
        let _ = write!(d, "H{x:.1}V{:.1}V{:.1}", y(peak), y(last));
    }
    d
}

fn points(series: &[(f64, f64)], y: impl Fn(f64) -> f64) -> String {
    let mut s = String::new();
    for &(x, v) in series {
        let _ = write!(s, "{x:.1},{:.1} ", y(v));
    }
    s.trim_end().to_string()
}

/// A step of 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// Distinct colours for prefixes: hues spread by the golden angle.
fn hue(i: usize) -> String {
    format!("hsl({:.0},62%,55%)", (i as f64 * 137.508 + 210.0) % 360.0)
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.1} µs", s * 1e6)
    } else {
        format!("{} ns", d.as_nanos())
    }
}

fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    }

    #[test]
    fn formats_units_and_steps() {
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_bytes(1536.0), "1.5 KiB");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.50 s");
        assert_eq!(fmt_duration(Duration::from_micros(2500)), "2.50 ms");
        assert_eq!(fmt_duration(Duration::from_nanos(800)), "800 ns");
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(0.07), 0.1);
        assert_eq!(nice_step(2.0), 2.0);
    }

    #[test]
    fn step_paths_keep_peaks() {
        let series = [
            (0.0, 0.0),
            (10.0, 5.0),
            (10.1, 9.0),
            (10.2, 1.0),
            (20.0, 0.0),
        ];
        let d = step_path(&series, |v| v);
        assert_eq!(d, "M0.0 0.0H10.0V9.0V1.0H20.0V0.0V0.0");
    }
}
