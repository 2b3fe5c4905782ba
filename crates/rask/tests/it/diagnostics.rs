//! The profilers through the facade: an array computation profiled and
//! written as an HTML report.

use rask::array::{self, Array};
use rask::diagnostics::{Profiler, ResourceProfiler, report};

#[test]
fn an_array_computation_is_profiled_into_a_report() -> rask::Result<()> {
    let x: Array<f64> = array::random::uniform(&[200, 200], &[50, 50], 7)?;
    let y = x.mean_axis(array::ndarray::Axis(0));
    let scheduler = rask::Scheduler::threads(2)?;

    let prof = Profiler::start();
    let rprof = ResourceProfiler::start()?;
    let means = rask::compute_with(&y, &scheduler)?;
    let (prof, rprof) = (prof.finish(), rprof.finish());
    assert_eq!(means.shape(), &[200]);

    // Other tests compute at the same time: find this run by its outputs.
    let runs = prof.runs();
    let run = runs
        .iter()
        .find(|r| !r.outputs.is_empty() && r.outputs.iter().all(|k| k.name() == y.name()))
        .expect("the run of the array was recorded");
    assert!(run.ok);
    let records: Vec<_> = prof
        .records()
        .into_iter()
        .filter(|t| t.run == run.index)
        .collect();
    assert_eq!(records.len(), run.tasks);
    assert!(
        records
            .iter()
            .all(|t| t.ok && t.worker < 2 && t.start <= t.end)
    );
    let outputs: u64 = records
        .iter()
        .filter(|t| run.outputs.contains(&t.key))
        .map(|t| t.nbytes)
        .sum();
    assert_eq!(outputs, 200 * 8);
    assert_eq!(run.memory.last().map(|p| p.1), Some(outputs));

    let dir = std::env::temp_dir().join(format!("rask-profile-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("profile.html");
    report(&path, &prof, Some(&rprof))?;
    let html = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("Task stream") && html.contains("Summary by key prefix"));
    assert!(html.matches("<rect ").count() >= 1);
    // Only this run's prefixes: other tests' names may be anything.
    let ours: std::collections::HashSet<String> =
        records.iter().map(|t| t.key.prefix().to_string()).collect();
    let mut checked = 0;
    for s in prof.by_prefix().iter().filter(|s| ours.contains(&s.prefix)) {
        assert!(
            html.contains(&format!("</i>{}</span>", s.prefix)),
            "{}",
            s.prefix
        );
        checked += 1;
    }
    assert!(checked > 0, "no prefix of this run in {ours:?}");
    Ok(())
}

/// A 3-point smoothing along the last axis, kept at the edges.
fn smooth(b: &array::ndarray::ArrayD<f64>) -> array::ndarray::ArrayD<f64> {
    let mut out = b.clone();
    let n = b.len();
    for i in 1..n.saturating_sub(1) {
        out[[i]] = (b[[i - 1]] + b[[i]] + b[[i + 1]]) / 3.0;
    }
    out
}

#[test]
fn fused_tasks_are_named_after_their_steps_and_results_have_real_sizes() -> rask::Result<()> {
    let x = Array::<f64>::ones(&[40_000], &[10_000])?;
    let smoothed = x.map_overlap(&[1], array::Boundary::Nearest, smooth)?;
    // The trimmed result of map_overlap is named after the function.
    assert!(
        smoothed.name().starts_with("smooth-"),
        "{}",
        smoothed.name()
    );
    let y = (&smoothed * 2.0).map_blocks(smooth);
    let prof = Profiler::start();
    let values = y.compute_with(&rask::Scheduler::sync())?;
    let prof = prof.finish();
    assert_eq!(values.len(), 40_000);
    let run = prof
        .runs()
        .into_iter()
        .find(|r| r.outputs.iter().all(|k| k.name() == y.name()))
        .expect("the run was recorded");
    let records: Vec<_> = prof
        .records()
        .into_iter()
        .filter(|t| t.run == run.index)
        .collect();
    // The outputs: halos, smooth, trim, multiply and smooth again, fused
    // into one task per block named after its steps.
    let outputs: Vec<_> = records
        .iter()
        .filter(|t| run.outputs.contains(&t.key))
        .collect();
    assert_eq!(outputs.len(), 4);
    for t in &outputs {
        assert_eq!(t.op.as_ref(), "overlap+smooth+trim+mul+smooth");
        assert_eq!(t.key.prefix(), "smooth");
        // 10 000 f64 are 80 000 bytes, not the size of a handle.
        assert!(t.nbytes >= 80_000, "{}: {} bytes", t.op, t.nbytes);
    }
    // And the delayed results of named functions have their real size.
    fn load() -> Vec<f64> {
        vec![1.0; 1_000_000]
    }
    let d = rask::delayed!(load());
    let prof = Profiler::start();
    d.compute_with(&rask::Scheduler::sync())?;
    let records = prof.finish().records();
    let r = records
        .iter()
        .find(|t| t.key == *d.key())
        .expect("the task was recorded");
    assert_eq!(r.op.as_ref(), "load");
    assert!(r.nbytes >= 8_000_000, "{} bytes", r.nbytes);
    Ok(())
}

#[test]
fn closures_mapped_over_blocks_take_a_name() -> rask::Result<()> {
    let x = Array::<f64>::ones(&[40], &[10])?;
    let y = x
        .map_overlap(&[1], array::Boundary::Nearest, |b| b * 2.0)?
        .with_name("smooth");
    assert!(y.name().starts_with("smooth-"), "{}", y.name());
    let z = (&y + 1.0).map_blocks(|b| b * 3.0).with_name("scale");
    let prof = Profiler::start();
    let values = z.compute_with(&rask::Scheduler::sync())?;
    let records = prof.finish().records();
    assert!(values.iter().all(|&v| v == 9.0));
    let outputs: Vec<_> = records
        .iter()
        .filter(|t| t.key.name() == z.name())
        .collect();
    assert_eq!(outputs.len(), 4);
    for t in outputs {
        assert_eq!(t.op.as_ref(), "overlap+map_blocks+smooth+add+scale");
    }
    Ok(())
}
