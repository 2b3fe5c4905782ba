//! Tests of the profilers and the report against real runs.
//!
//! Registration is process-wide, so every test that computes holds `SERIAL`:
//! a profiler then sees only the runs of its own test.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use rask_config::Config;
use rask_core::{GraphBuilder, Key, Op, Plan, PlanOptions, TaskError, Value, order};
use rask_local::Scheduler;

use crate::{Profiler, RunRecord, TaskRecord, report_html};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// `n` leaves `leaf` of `100 + i` bytes, pairs `pair` summing two leaves (16
/// bytes each), and one `total` of 8 bytes: `n + n / 2 + 1` tasks, nothing
/// to fuse.
fn tree(n: u32) -> (GraphBuilder, Vec<Key>) {
    let mut b = GraphBuilder::new();
    for i in 0..n {
        let v = Value::with_nbytes(i as i64, 100 + i as usize);
        b.insert(Key::with_index("leaf-aa", &[i]), Op::value(v), vec![]);
    }
    let sum = |bytes: usize| {
        Op::call("sum", move |xs: &[Value]| {
            let mut s = 0i64;
            for (i, x) in xs.iter().enumerate() {
                s += x.get::<i64>(i)?;
            }
            Ok(Value::with_nbytes(s, bytes))
        })
    };
    let pairs: Vec<Key> = (0..n / 2)
        .map(|i| Key::with_index("pair-bb", &[i]))
        .collect();
    for (i, k) in pairs.iter().enumerate() {
        let i = i as u32;
        let deps = [2 * i, 2 * i + 1].map(|j| Key::with_index("leaf-aa", &[j]));
        b.insert(k.clone(), sum(16), deps);
    }
    b.insert(Key::new("total-cc"), sum(8), pairs);
    (b, vec![Key::new("total-cc")])
}

fn plan(n: u32) -> Plan {
    let (b, keys) = tree(n);
    Plan::new(b, &keys, PlanOptions::default()).unwrap()
}

fn run(scheduler: &Scheduler, plan: &Plan) -> Vec<Value> {
    scheduler.run(plan, &Config::default(), &[]).unwrap()
}

fn check_memory(run: &RunRecord, outputs: u64) {
    assert_eq!(run.memory.first(), Some(&(std::time::Duration::ZERO, 0)));
    assert!(run.memory.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(run.memory.last().unwrap().1, outputs);
    assert!(run.memory.last().unwrap().0 <= run.duration);
}

/// Every task starts after all of its dependencies ended.
fn check_dependencies(plan: &Plan, records: &[TaskRecord]) {
    let at: HashMap<&Key, &TaskRecord> = records.iter().map(|r| (&r.key, r)).collect();
    for task in plan.graph.tasks() {
        let r = at[&task.key];
        assert!(r.start <= r.end);
        for d in &task.deps {
            let dep = at[&plan.graph.task(*d).key];
            assert!(dep.end <= r.start, "{} ran before {}", task.key, dep.key);
        }
    }
}

#[test]
fn sync_records_tasks_in_priority_order() {
    let _s = serial();
    let plan = plan(16);
    let guard = Profiler::start();
    run(&Scheduler::sync(), &plan);
    let profiler = guard.finish();
    let records = profiler.records();
    let want: Vec<&Key> = order::sorted_by_priority(&plan.priority)
        .into_iter()
        .map(|t| &plan.graph.task(t).key)
        .collect();
    let got: Vec<&Key> = records.iter().map(|r| &r.key).collect();
    assert_eq!(got, want);
    assert!(records.iter().all(|r| r.worker == 0 && r.ok && r.run == 0));
    assert!(records.windows(2).all(|w| w[0].end <= w[1].start));
    check_dependencies(&plan, &records);
    let runs = profiler.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].tasks, 25);
    assert_eq!(runs[0].outputs, [Key::new("total-cc")]);
    check_memory(&runs[0], 8);
}

#[test]
fn threads_record_every_task_once_with_its_bytes() {
    let _s = serial();
    let plan = plan(64);
    let guard = Profiler::start();
    run(&Scheduler::threads(4).unwrap(), &plan);
    let profiler = guard.finish();
    let records = profiler.records();
    assert_eq!(records.len(), plan.len());
    let keys: HashSet<&Key> = records.iter().map(|r| &r.key).collect();
    assert_eq!(keys.len(), plan.len());
    assert!(records.iter().all(|r| r.worker < 4 && r.ok));
    check_dependencies(&plan, &records);
    for r in &records {
        let want = match r.key.prefix() {
            "leaf" => 100 + r.key.index()[0] as u64,
            "pair" => 16,
            _ => 8,
        };
        assert_eq!(r.nbytes, want, "{}", r.key);
        assert_eq!(
            &*r.op,
            if r.key.prefix() == "leaf" {
                "value"
            } else {
                "sum"
            }
        );
    }
    let runs = profiler.runs();
    check_memory(&runs[0], 8);
    // The peak holds at least one leaf, at most everything.
    let peak = runs[0].memory.iter().map(|p| p.1).max().unwrap();
    let all: u64 = records.iter().map(|r| r.nbytes).sum();
    assert!(peak >= 100 && peak <= all);
}

#[test]
fn summary_by_prefix_counts_time_and_bytes() {
    let _s = serial();
    let plan = plan(8);
    let guard = Profiler::start();
    run(&Scheduler::sync(), &plan);
    let summary = guard.finish().by_prefix();
    let by: HashMap<&str, _> = summary.iter().map(|s| (s.prefix.as_str(), s)).collect();
    assert_eq!(by.len(), 3);
    assert_eq!(by["leaf"].count, 8);
    assert_eq!(by["leaf"].nbytes, (100..108).sum::<u64>());
    assert_eq!(by["pair"].count, 4);
    assert_eq!(by["pair"].nbytes, 64);
    assert_eq!(by["total"].count, 1);
    assert!(summary.windows(2).all(|w| w[0].total >= w[1].total));
    assert!(summary.iter().all(|s| s.mean <= s.total));
}

#[test]
fn guards_nest_and_nothing_is_recorded_after_they_end() {
    let _s = serial();
    let plan = plan(4);
    let outer = Profiler::start();
    let inner = Profiler::start();
    run(&Scheduler::sync(), &plan);
    let inner = inner.finish();
    run(&Scheduler::threads(2).unwrap(), &plan);
    let outer = outer.finish();
    run(&Scheduler::sync(), &plan);
    assert_eq!(inner.runs().len(), 1);
    assert_eq!(inner.records().len(), plan.len());
    let runs = outer.runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(outer.records().len(), 2 * plan.len());
    assert!(runs[0].offset <= runs[1].offset);
    assert!(runs[0].offset + runs[0].duration <= runs[1].offset);
    // Each run has its own clock: its tasks end within its duration.
    for r in outer.records() {
        let run = runs.iter().find(|x| x.index == r.run).unwrap();
        assert!(r.start <= r.end && r.end <= run.duration);
    }

    // Recording again accumulates; dropping a guard stops it.
    let again = outer.record();
    run(&Scheduler::sync(), &plan);
    drop(again);
    run(&Scheduler::sync(), &plan);
    assert_eq!(outer.runs().len(), 3);
    // Held results of all runs drop to zero between and after runs.
    let memory = outer.memory();
    assert_eq!(memory.last().unwrap().1, 0);
    assert!(memory.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn failed_tasks_are_recorded_and_their_inputs_held_to_the_end_of_the_run() {
    let _s = serial();
    let mut b = GraphBuilder::new();
    b.insert(
        Key::new("in-x"),
        Op::value(Value::with_nbytes(1i64, 40)),
        vec![],
    );
    b.insert(
        Key::new("in-y"),
        Op::value(Value::with_nbytes(2i64, 60)),
        vec![],
    );
    let fail = Op::call("explode", |_: &[Value]| {
        Err(TaskError::Failed("no luck".into()))
    });
    b.insert(
        Key::new("boom-z"),
        fail,
        vec![Key::new("in-x"), Key::new("in-y")],
    );
    let plan = Plan::new(b, &[Key::new("boom-z")], PlanOptions::default()).unwrap();
    let guard = Profiler::start();
    assert!(
        Scheduler::sync()
            .run(&plan, &Config::default(), &[])
            .is_err()
    );
    let profiler = guard.finish();
    let records = profiler.records();
    assert_eq!(records.len(), 3);
    let boom = records.iter().find(|r| r.key.name() == "boom-z").unwrap();
    assert!(!boom.ok);
    assert_eq!(boom.nbytes, 0);
    let run = &profiler.runs()[0];
    assert!(!run.ok);
    check_memory(run, 0);
    assert_eq!(run.memory.iter().map(|p| p.1).max(), Some(100));
}

/// Tags open and close in order (void `meta`, self-closed `/>` aside) and no
/// `<` or `>` is left unescaped in text.
fn check_well_formed(html: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        assert!(
            !rest[..i].contains('>'),
            "stray '>' before {:?}",
            &rest[i..i + 40]
        );
        let end = rest[i..].find('>').expect("unclosed tag") + i;
        let tag = &rest[i + 1..end];
        assert!(!tag.contains('<'), "stray '<' in {tag:?}");
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name = tag.split_whitespace().next().unwrap_or_default();
        if let Some(closing) = name.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(closing), "unbalanced </{closing}>");
        } else if name != "meta" {
            stack.push(name);
        }
    }
    assert!(!rest.contains('>'));
    assert!(stack.is_empty(), "left open: {stack:?}");
}

#[test]
fn report_draws_one_rect_per_task_with_a_legend_and_escapes_keys() {
    let _s = serial();
    // Without merging of tiny tasks, each task is one rectangle.
    let mut b = GraphBuilder::new();
    let names = ["odd<&>-1", "alpha-2", "beta-3", "gamma-4"];
    for n in names {
        b.insert(Key::new(n), Op::value(Value::with_nbytes(0u8, 10)), vec![]);
    }
    let keys: Vec<Key> = names.iter().map(|n| Key::new(*n)).collect();
    let plan = Plan::new(b, &keys, PlanOptions::default()).unwrap();
    let guard = Profiler::start();
    run(&Scheduler::threads(2).unwrap(), &plan);
    let profiler = guard.finish();
    let html = crate::report::render(&profiler, None, false);
    check_well_formed(&html);
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    assert_eq!(html.matches("<rect ").count(), 4);
    let merged = report_html(&profiler, None);
    check_well_formed(&merged);
    let rects = merged.matches("<rect ").count();
    assert!((1..=4).contains(&rects));
    assert!(merged.contains("</i>alpha</span>") && !merged.contains("odd<&>"));
    for legend in ["alpha", "beta", "gamma", "odd&lt;&amp;&gt;"] {
        assert!(html.contains(&format!("</i>{legend}</span>")), "{legend}");
    }
    assert!(html.contains("odd&lt;&amp;&gt;-1"));
    assert!(!html.contains("odd<&>"));
    assert!(!html.contains("http://") || !html.contains("<script"));
    assert!(!html.contains("<link") && !html.contains(" src="));
}

#[test]
fn report_merges_tiny_tasks_and_shows_resources() {
    let _s = serial();
    let mut b = GraphBuilder::new();
    let n = 5000u32;
    for i in 0..n {
        b.insert(
            Key::with_index("tiny-dd", &[i]),
            Op::value(Value::new(i)),
            vec![],
        );
    }
    let keys: Vec<Key> = (0..n).map(|i| Key::with_index("tiny-dd", &[i])).collect();
    let plan = Plan::new(b, &keys, PlanOptions::default()).unwrap();
    let resources = crate::ResourceProfiler::start().unwrap();
    let guard = Profiler::start();
    run(&Scheduler::sync(), &plan);
    let profiler = guard.finish();
    let resources = resources.finish();
    let html = report_html(&profiler, Some(&resources));
    check_well_formed(&html);
    let rects = html.matches("<rect ").count();
    assert!(rects > 0 && rects < n as usize / 2, "{rects} rectangles");
    assert!(html.contains(" × tiny ("));
    assert!(html.contains("<h2>CPU</h2>"));
    if crate::ResourceProfiler::supported() {
        assert!(html.contains("process RSS"));
    }
}

#[test]
fn report_shows_the_memory_manager_of_a_threads_compute() {
    let _s = serial();
    let guard = Profiler::start();
    run(&Scheduler::threads(2).unwrap(), &plan(50));
    let html = report_html(&guard.finish(), None);
    check_well_formed(&html);
    // Every threads compute runs under a limit where RAM can be read.
    if rask_local::memory_stats().is_some() {
        assert!(
            html.contains("Memory manager (last compute): limit "),
            "{html}"
        );
    }
}

#[test]
fn report_of_nothing_is_still_a_page() {
    let html = report_html(&Profiler::new(), None);
    check_well_formed(&html);
    assert!(html.contains("0 run(s), 0 task(s)"));
}

#[test]
fn charts_fill_the_window_width() {
    let _serial = serial();
    let plan = plan(8);
    let guard = Profiler::start();
    run(&Scheduler::sync(), &plan);
    let html = report_html(&guard.finish(), None);
    assert!(html.contains("svg{display:block;width:100%;height:auto}"));
    let svgs = html.matches("<svg ").count();
    assert!(svgs >= 2, "{svgs}");
    assert_eq!(
        html.matches("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100%\"")
            .count(),
        svgs
    );
}

/// The entries of `dir`, by name.
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|es| {
            es.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn the_report_is_written_whole_or_not_at_all() {
    let dir = std::env::temp_dir().join(format!("rask-report-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let profiler = Profiler::new();

    // A directory that does not exist: an error naming the path, nothing
    // made.
    let missing = dir.join("no-such-dir").join("profile.html");
    let err = crate::report(&missing, &profiler, None).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    assert!(!dir.exists());

    // A successful write leaves exactly the file, and replaces an old one.
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("profile.html");
    std::fs::write(&path, "old").unwrap();
    // A reader of the old file (a browser loading it) keeps reading the
    // old file: the new one is not written into it.
    let mut reader = std::fs::File::open(&path).unwrap();
    crate::report(&path, &profiler, None).unwrap();
    let mut seen = String::new();
    std::io::Read::read_to_string(&mut reader, &mut seen).unwrap();
    assert_eq!(seen, "old", "the report was written in place");
    assert!(
        std::fs::read_to_string(&path).unwrap().contains("</html>"),
        "the report replaced the old file"
    );
    assert_eq!(entries(&dir), ["profile.html"]);

    // A path that is a directory: an error, and no temporary file left.
    let taken = dir.join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    let err = crate::report(&taken, &profiler, None).unwrap_err();
    assert!(err.to_string().contains("taken"), "{err}");
    assert_eq!(entries(&dir), ["profile.html", "taken"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
