//! Random graphs with random worker deaths always finish, each wanted key
//! reported in memory exactly once, and everything is freed afterwards.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rask_protocol::*;
use rask_scheduler::{Event, SchedulerConfig, WorkerId};

use crate::harness::*;

#[derive(Debug, Clone)]
struct Case {
    deps: Vec<Vec<u32>>,
    wanted: Vec<u32>,
    /// Per step: which worker acts, and whether it dies instead.
    steps: Vec<(u8, u8)>,
}

fn case() -> impl Strategy<Value = Case> {
    (2usize..40).prop_flat_map(|n| {
        let deps = (0..n)
            .map(|i| {
                proptest::collection::vec(0..(i.max(1) as u32), if i == 0 { 0..1 } else { 0..4 })
            })
            .collect::<Vec<_>>();
        (
            deps,
            proptest::collection::vec(0..n as u32, 1..6),
            proptest::collection::vec((0u8..3, 0u8..30), 0..200),
        )
            .prop_map(|(deps, wanted, steps)| Case {
                deps,
                wanted,
                steps,
            })
    })
}

/// Drive the scheduler through `c`'s steps, then until it settles.
fn drive(h: &mut H, sim: &mut Sim, c: &Case, next: &mut u32) {
    for &(who, roll) in &c.steps {
        for (w, r) in sim.absorb(h) {
            h.worker_says(w, r);
        }
        let ids: Vec<u32> = sim.workers.keys().copied().collect();
        let w = ids[who as usize % ids.len()];
        if roll == 0 {
            // Kill it; a fresh worker takes its place.
            sim.workers.remove(&w);
            h.ev(Event::WorkerGone {
                worker: WorkerId(w),
            });
            sim.add(h, *next, 1);
            *next += 1;
        } else if roll == 1 {
            h.now += std::time::Duration::from_millis(150);
            h.ev(Event::Tick);
        } else if let Some(m) = sim.run_one(w) {
            h.worker_says(w, m);
        }
    }
    sim.run_all(h);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn random_graphs_survive_worker_deaths(c in case()) {
        let mut h = H::with(SchedulerConfig { allowed_failures: 1000, ..SchedulerConfig::default() });
        let mut sim = Sim::default();
        let mut next = 0u32;
        for _ in 0..3 {
            sim.add(&mut h, next, 1 + next % 2);
            next += 1;
        }
        let tasks: Vec<_> = c.deps.iter().enumerate().map(|(i, d)| {
            let mut t = task(&format!("t{i}"), d);
            t.order = i as u32;
            t
        }).collect();
        h.submit(tasks, &c.wanted);
        drive(&mut h, &mut sim, &c, &mut next);
        let mut reported: BTreeMap<String, usize> = BTreeMap::new();
        for m in &sim.client {
            match m {
                SchedulerToClient::InMemory { key, .. } => *reported.entry(key.name.clone()).or_default() += 1,
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }
        let mut wanted: Vec<String> = c.wanted.iter().map(|w| format!("t{w}")).collect();
        wanted.sort();
        wanted.dedup();
        prop_assert_eq!(reported.keys().cloned().collect::<Vec<_>>(), wanted);
        prop_assert!(reported.values().all(|&n| n == 1), "{:?}", reported);
        let st = h.s.stats();
        prop_assert_eq!(st.memory as usize, reported.len());
        prop_assert_eq!(st.processing + st.waiting + st.queued + st.no_worker, 0);
        // Each wanted key is really held by a live worker.
        for k in reported.keys() {
            let holders = h.s.who_has(&key(k));
            prop_assert!(!holders.is_empty());
            prop_assert!(sim.workers.iter().any(|(id, x)| holders.contains(&address(*id)) && x.held.contains(k)));
        }
        // Release everything: all data freed, all records forgotten.
        h.client_says(ClientToScheduler::Release { keys: reported.keys().map(|k| key(k)).collect() });
        sim.absorb(&mut h);
        prop_assert_eq!(h.s.stats().tasks, 0);
        for x in sim.workers.values() {
            prop_assert!(x.held.is_empty(), "{:?}", x.held);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// With failing tasks (one retry each): every wanted key is reported
    /// exactly once, erred exactly when a failing task is in its lineage.
    #[test]
    fn failures_reach_exactly_the_keys_that_depend_on_them(c in case(), failing in proptest::collection::vec(0u32..40, 0..3)) {
        let mut h = H::with(SchedulerConfig { allowed_failures: 1000, ..SchedulerConfig::default() });
        let mut sim = Sim::default();
        let mut next = 0u32;
        for _ in 0..2 {
            sim.add(&mut h, next, 1);
            next += 1;
        }
        let n = c.deps.len() as u32;
        sim.failing = failing.iter().filter(|&&f| f < n).map(|f| format!("t{f}")).collect();
        let tasks: Vec<_> = c.deps.iter().enumerate().map(|(i, d)| {
            let mut t = task(&format!("t{i}"), d);
            t.annotations = Some(rask_core::Annotations::default().retries(1));
            t
        }).collect();
        h.submit(tasks, &c.wanted);
        drive(&mut h, &mut sim, &c, &mut next);
        // Which tasks have a failing task in their lineage?
        let mut bad = vec![false; n as usize];
        for i in 0..n as usize {
            bad[i] = sim.failing.contains(&format!("t{i}")) || c.deps[i].iter().any(|&d| bad[d as usize]);
        }
        let mut reports: BTreeMap<String, Vec<bool>> = BTreeMap::new();
        for m in &sim.client {
            match m {
                SchedulerToClient::InMemory { key, .. } => reports.entry(key.name.clone()).or_default().push(true),
                SchedulerToClient::Erred(f) => reports.entry(f.key.name.clone()).or_default().push(false),
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }
        for &w in &c.wanted {
            let name = format!("t{w}");
            let r = reports.get(&name).cloned().unwrap_or_default();
            prop_assert_eq!(r, vec![!bad[w as usize]], "{}", name);
        }
        let st = h.s.stats();
        prop_assert_eq!(st.processing + st.waiting + st.queued + st.no_worker, 0);
        h.client_says(ClientToScheduler::Release { keys: c.wanted.iter().map(|w| key(&format!("t{w}"))).collect() });
        sim.absorb(&mut h);
        prop_assert_eq!(h.s.stats().tasks, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Clients releasing, cancelling, re-wanting and resubmitting at random
    /// while workers run and die: the bookkeeping stays consistent after
    /// every event (checked by the harness), and once every client has left
    /// nothing is left anywhere.
    #[test]
    fn random_client_actions_keep_the_books(c in case(), actions in proptest::collection::vec((0u8..5, 0u32..40), 0..60)) {
        let mut h = H::with(SchedulerConfig { allowed_failures: 1000, ..SchedulerConfig::default() });
        let mut sim = Sim::default();
        let mut next = 0u32;
        for _ in 0..2 {
            sim.add(&mut h, next, 1);
            next += 1;
        }
        let n = c.deps.len() as u32;
        let tasks = |c: &Case| -> Vec<rask_protocol::SubmittedTask> {
            c.deps.iter().enumerate().map(|(i, d)| task(&format!("t{i}"), d)).collect()
        };
        h.submit(tasks(&c), &c.wanted);
        let mut steps = c.steps.iter();
        for &(what, which) in &actions {
            let k = key(&format!("t{}", which % n));
            match what {
                0 => h.client_says(ClientToScheduler::Release { keys: vec![k] }),
                1 => h.client_says(ClientToScheduler::Cancel { keys: vec![k] }),
                2 if h.s.task_state(&k).is_some() => {
                    h.client_says(ClientToScheduler::Want { keys: vec![k] })
                }
                3 => h.submit(tasks(&c), &[which % n]),
                _ => {}
            }
            // A few worker steps between client actions.
            for &(who, roll) in steps.by_ref().take(3) {
                for (w, r) in sim.absorb(&mut h) {
                    h.worker_says(w, r);
                }
                let ids: Vec<u32> = sim.workers.keys().copied().collect();
                let w = ids[who as usize % ids.len()];
                if roll == 0 {
                    sim.workers.remove(&w);
                    h.ev(Event::WorkerGone { worker: WorkerId(w) });
                    sim.add(&mut h, next, 1);
                    next += 1;
                } else if let Some(m) = sim.run_one(w) {
                    h.worker_says(w, m);
                }
            }
        }
        sim.run_all(&mut h);
        let errors = sim.client.iter().filter(|m| matches!(m, SchedulerToClient::Error { .. })).count();
        prop_assert_eq!(errors, 0);
        let st = h.s.stats();
        prop_assert_eq!(st.processing + st.waiting + st.queued + st.no_worker, 0);
        h.ev(Event::ClientGone { client: C });
        sim.absorb(&mut h);
        prop_assert_eq!(h.s.stats().tasks, 0);
        for x in sim.workers.values() {
            prop_assert!(x.held.is_empty(), "{:?}", x.held);
        }
    }
}
