//! Placement by locality, withholding of root tasks, stealing, resources and
//! allowed workers.

use rask_core::Annotations;
use rask_protocol::*;
use std::time::Duration;

use rask_scheduler::SchedulerConfig;

use crate::harness::*;

#[test]
fn task_goes_where_its_big_input_is() {
    let mut h = H::new();
    h.worker(1, 1);
    h.worker(2, 1);
    // Two independent inputs; the first lands on one worker, the second on
    // the other; each is big or small.
    h.submit(vec![task("big", &[]), task("small", &[])], &[0, 1]);
    let c = h.computes();
    let on = |name: &str| c.iter().find(|(_, k)| k == name).unwrap().0;
    let (wb, ws) = (on("big"), on("small"));
    assert_ne!(wb, ws, "idle workers share root tasks: {c:?}");
    h.finish(wb, "big", 500_000_000);
    h.finish(ws, "small", 8);
    // A task reading both goes where the big one is.
    h.submit(
        vec![SubmittedTask {
            key: key("sum"),
            op: vec![],
            deps: vec![DepRef::Known(key("big")), DepRef::Known(key("small"))],
            order: 0,
            annotations: None,
        }],
        &[0],
    );
    let c = h.computes();
    assert_eq!(c, vec![(wb, "sum".to_string())]);
}

#[test]
fn compute_message_lists_inputs_in_argument_order() {
    let mut h = H::new();
    h.worker(1, 1);
    let mut t = task("f", &[0, 0]);
    t.deps = vec![DepRef::Local(0), DepRef::Local(1), DepRef::Local(0)];
    h.submit(vec![task("a", &[]), task("b", &[]), t], &[2]);
    h.take();
    h.finish(1, "a", 8);
    h.finish(1, "b", 8);
    let c = h
        .take()
        .into_iter()
        .find_map(|m| match m {
            Msg::Worker(_, SchedulerToWorker::Compute(c), _) if c.key == key("f") => Some(c),
            _ => None,
        })
        .unwrap();
    let names: Vec<_> = c.deps.iter().map(|d| d.key.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "a"]);
    assert_eq!(c.deps[0].who_has, vec![address(1)]);
}

#[test]
fn root_tasks_are_withheld() {
    // Dask's rule alone (no widening for short tasks).
    let mut h = H::with(SchedulerConfig {
        withhold_window: Duration::ZERO,
        ..SchedulerConfig::default()
    });
    h.worker(1, 1);
    h.worker(2, 1);
    let tasks: Vec<_> = (0..100).map(|i| task(&format!("r{i}"), &[])).collect();
    h.submit(tasks, &(0..100).collect::<Vec<_>>());
    let mut sent = h.computes();
    // ceil(1.1 × 1 thread) = 2 per worker.
    assert!(sent.len() <= 4, "{sent:?}");
    assert_eq!(h.s.stats().queued, 100 - sent.len() as u64);
    // Highest priority (submission order) first.
    let names: Vec<_> = sent.iter().map(|(_, k)| k.clone()).collect();
    assert_eq!(names, ["r0", "r1", "r2", "r3"]);
    let mut done = 0;
    while let Some((w, k)) = sent.pop() {
        h.finish(w, &k, 8);
        done += 1;
        let more = h.computes();
        let st = h.s.stats();
        assert!(st.processing <= 4, "{st:?}");
        sent.extend(more);
    }
    assert_eq!(done, 100);
    assert_eq!(h.s.stats().memory, 100);
}

#[test]
fn priorities_order_withheld_tasks() {
    let mut h = H::new();
    let mut tasks: Vec<_> = (0..10).map(|i| task(&format!("r{i}"), &[])).collect();
    tasks[7].annotations = Some(Annotations::default().priority(5));
    h.submit(tasks, &(0..10).collect::<Vec<_>>());
    assert_eq!(h.s.stats().no_worker, 10);
    h.worker(1, 1);
    let names: Vec<_> = h.computes().into_iter().map(|(_, k)| k).collect();
    assert_eq!(names, ["r7", "r0"]);
}

#[test]
fn idle_workers_steal_from_busy_ones() {
    let mut h = H::new();
    h.worker(1, 1);
    // One input on worker 1, then ten tasks reading it: all go there.
    h.x_on_worker_1_and_readers(8, 10);
    assert!(h.computes().iter().all(|(w, _)| *w == 1));
    h.worker(2, 2);
    h.now += std::time::Duration::from_millis(200);
    h.ev(rask_scheduler::Event::Tick);
    let steals: Vec<_> = h
        .take()
        .into_iter()
        .filter_map(|m| match m {
            Msg::Worker(w, SchedulerToWorker::Steal { key }, _) => Some((w.0, key)),
            _ => None,
        })
        .collect();
    assert_eq!(steals.len(), 2, "two idle threads on worker 2: {steals:?}");
    assert!(steals.iter().all(|(w, _)| *w == 1));
    // Lowest priority first.
    assert_eq!(steals[0].1, key("y9"));
    // One given back, one already started.
    h.worker_says(
        1,
        WorkerToScheduler::StealReply {
            key: steals[0].1.clone(),
            released: true,
        },
    );
    h.worker_says(
        1,
        WorkerToScheduler::StealReply {
            key: steals[1].1.clone(),
            released: false,
        },
    );
    assert_eq!(h.computes(), vec![(2, "y9".to_string())]);
    assert_eq!(
        h.s.processing_on(&key("y9")),
        Some(rask_scheduler::WorkerId(2))
    );
    assert_eq!(
        h.s.processing_on(&key("y8")),
        Some(rask_scheduler::WorkerId(1))
    );
    // A late result from the victim is still accepted.
    h.finish(1, "y9", 8);
    assert_eq!(
        h.s.task_state(&key("y9")),
        Some(rask_scheduler::TaskState::Memory)
    );
}

#[test]
fn resources_and_allowed_workers_are_honoured() {
    let mut h = H::new();
    h.worker(1, 4);
    h.worker_with(2, 1, vec![("GPU".into(), 1.0)]);
    let mut gpu = task("gpu", &[]);
    gpu.annotations = Some(Annotations::default().resource("GPU", 1.0));
    let mut pinned = task("pinned", &[]);
    pinned.annotations = Some(Annotations::default().worker("w1"));
    let mut by_addr = task("by-addr", &[]);
    by_addr.annotations = Some(Annotations::default().worker(address(2)));
    let mut nowhere = task("nowhere", &[]);
    nowhere.annotations = Some(Annotations::default().resource("TPU", 1.0));
    h.submit(vec![gpu, pinned, by_addr, nowhere], &[0, 1, 2, 3]);
    let mut c = h
        .take()
        .into_iter()
        .filter_map(|m| match m {
            Msg::Worker(w, SchedulerToWorker::Compute(c), _) => {
                Some((w.0, c.key.name, c.resources))
            }
            _ => None,
        })
        .collect::<Vec<_>>();
    c.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    assert_eq!(
        c,
        vec![
            (1, "pinned".into(), vec![]),
            (2, "by-addr".into(), vec![]),
            (2, "gpu".into(), vec![("GPU".into(), 1.0)]),
        ]
    );
    assert_eq!(h.s.stats().no_worker, 1);
    // A worker offering it arrives: the parked task goes there.
    h.worker_with(3, 1, vec![("TPU".into(), 2.0)]);
    assert_eq!(h.computes(), vec![(3, "nowhere".to_string())]);
}

#[test]
fn tasks_wait_for_a_worker_without_error() {
    let mut h = H::new();
    h.submit(vec![task("a", &[]), task("b", &[0])], &[1]);
    assert_eq!(h.s.stats().no_worker, 1);
    assert!(h.client_msgs().is_empty());
    h.worker(1, 1);
    assert_eq!(h.computes(), vec![(1, "a".to_string())]);
}

#[test]
fn big_inputs_are_not_stolen() {
    let mut h = H::new();
    h.worker(1, 1);
    h.x_on_worker_1_and_readers(10_000_000_000, 3);
    h.worker(2, 1);
    h.now += std::time::Duration::from_secs(1);
    h.ev(rask_scheduler::Event::Tick);
    let steals = h
        .take()
        .into_iter()
        .filter(|m| matches!(m, Msg::Worker(_, SchedulerToWorker::Steal { .. }, _)))
        .count();
    assert_eq!(
        steals, 0,
        "moving 10 GB costs more than waiting for two tiny tasks"
    );
}

#[test]
fn allowed_workers_match_host_alone() {
    let mut h = H::new();
    h.worker(1, 1);
    h.worker(2, 1);
    let mut t = task("here", &[]);
    t.annotations = Some(Annotations::default().worker("10.0.0.2"));
    h.submit(vec![t], &[0]);
    assert_eq!(h.computes(), vec![(2, "here".to_string())]);
}

/// Runs 1,000 root tasks on 2 one-thread workers, finishing them as they
/// come with results of `nbytes`; the most in flight at once.
fn most_in_flight(nbytes: u64) -> u64 {
    let mut h = H::new();
    h.worker(1, 1);
    h.worker(2, 1);
    let tasks: Vec<_> = (0..1000).map(|i| task(&format!("r{i}"), &[])).collect();
    h.submit(tasks, &(0..1000).collect::<Vec<_>>());
    let mut sent = h.computes();
    let mut most = 0;
    while !sent.is_empty() {
        let (w, k) = sent.remove(0);
        h.finish(w, &k, nbytes);
        sent.extend(h.computes());
        most = most.max(h.s.stats().processing);
    }
    assert_eq!(h.s.stats().memory, 1000);
    most
}

#[test]
fn short_tasks_with_small_results_keep_workers_fed() {
    // Tasks of 10 µs with 8-byte results: a worker holds enough to cover
    // the 2 ms window (capped at 64 per thread), not 2.
    let most = most_in_flight(8);
    assert!(most > 4, "{most}");
    assert!(most <= 128, "{most}");
}

#[test]
fn short_tasks_with_big_results_stay_withheld() {
    assert!(most_in_flight(4 << 20) <= 4);
}
