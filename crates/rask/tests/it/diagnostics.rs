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
    for s in prof.by_prefix() {
        assert!(
            html.contains(&format!("</i>{}</span>", s.prefix)),
            "{}",
            s.prefix
        );
    }
    Ok(())
}
