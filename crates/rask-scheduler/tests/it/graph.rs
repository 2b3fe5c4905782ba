//! Bad submissions are refused whole, with the key named.

use rask_protocol::*;

use crate::harness::*;

fn error_of(h: &mut H) -> String {
    let msgs = h.client_msgs();
    match &msgs[..] {
        [SchedulerToClient::Error { message, .. }] => message.clone(),
        other => panic!("expected one error, got {other:?}"),
    }
}

#[test]
fn unknown_known_key_is_refused() {
    let mut h = H::new();
    let mut t = task("f", &[]);
    t.deps = vec![DepRef::Known(key("ghost"))];
    h.submit(vec![task("ok", &[]), t], &[0, 1]);
    let e = error_of(&mut h);
    assert!(e.contains("ghost") && e.contains("f"), "{e}");
    assert_eq!(h.s.stats().tasks, 0, "nothing half-added");
}

#[test]
fn bad_local_position_is_refused() {
    let mut h = H::new();
    h.submit(vec![task("a", &[]), task("b", &[7])], &[1]);
    let e = error_of(&mut h);
    assert!(
        e.contains("position 7") && e.contains("'b'") || e.contains("b"),
        "{e}"
    );
    assert_eq!(h.s.stats().tasks, 0);
}

#[test]
fn bad_wanted_position_is_refused() {
    let mut h = H::new();
    h.submit(vec![task("a", &[])], &[3]);
    assert!(error_of(&mut h).contains("position 3"));
    assert_eq!(h.s.stats().tasks, 0);
}

#[test]
fn cycle_is_refused() {
    let mut h = H::new();
    h.submit(
        vec![
            task("a", &[2]),
            task("b", &[0]),
            task("c", &[1]),
            task("d", &[]),
        ],
        &[2, 3],
    );
    let e = error_of(&mut h);
    assert!(e.contains("cycle"), "{e}");
    assert_eq!(h.s.stats().tasks, 0);
    h.submit(vec![task("self", &[0])], &[0]);
    assert!(error_of(&mut h).contains("self"));
}

#[test]
fn out_of_order_submission_is_accepted() {
    let mut h = H::new();
    let mut sim = Sim::default();
    sim.add(&mut h, 1, 1);
    h.submit(
        vec![task("c", &[1, 2]), task("b", &[2]), task("a", &[])],
        &[0],
    );
    sim.run_all(&mut h);
    assert_eq!(in_memory(&sim.client), ["c"]);
}

#[test]
fn unwanted_tasks_are_not_run() {
    let mut h = H::new();
    h.worker(1, 1);
    h.submit(vec![task("a", &[]), task("unused", &[0])], &[0]);
    assert_eq!(h.computes(), vec![(1, "a".to_string())]);
    assert_eq!(h.s.task_state(&key("unused")), None);
}

/// Regression: a refusal did not say which keys it concerned, so the client
/// failed every pending future. It names the keys the submission wanted,
/// less those the client already waits for from an earlier submission.
#[test]
fn a_refusal_names_the_keys_it_fails() {
    let mut h = H::new();
    h.worker(1, 1);
    h.submit(vec![task("earlier", &[])], &[0]);
    h.take();
    let mut t = task("f", &[]);
    t.deps = vec![DepRef::Known(key("ghost"))];
    h.submit(
        vec![
            task("earlier", &[]),
            task("unwanted", &[]),
            t,
            task("g", &[]),
        ],
        &[0, 2, 3],
    );
    let msgs = h.client_msgs();
    let [SchedulerToClient::Error { keys, .. }] = &msgs[..] else {
        panic!("expected one error, got {msgs:?}");
    };
    assert_eq!(keys, &Some(vec![key("f"), key("g")]));
    // The earlier submission is untouched.
    h.finish(1, "earlier", 8);
    assert_eq!(in_memory(&h.client_msgs()), ["earlier"]);
}
