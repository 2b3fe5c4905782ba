//! The `delayed` contract.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask::prelude::*;

use crate::support::schedulers;

fn load(i: u64) -> Vec<f64> {
    (0..100).map(|x| (x * (i + 1)) as f64).collect()
}

fn fit(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
#[allow(clippy::needless_borrow)] // `fit(&v)` is how the contract spells it; it must keep compiling
fn the_contract_compiles_and_computes() -> rask::Result<()> {
    let parts: Vec<Delayed<Vec<f64>>> = (0..8).map(|i| rask::delayed(move || load(i))).collect();
    let fitted: Vec<Delayed<f64>> = parts.iter().map(|p| p.map(|v| fit(&v))).collect();
    let total: Delayed<f64> = rask::delayed::collect(fitted).map(|xs| xs.iter().sum());
    let other: Delayed<usize> = rask::delayed::collect(&parts).map(|ps| ps.len());
    let pair = total.zip(&other);
    let expected: f64 = (0..8).map(|i| fit(&load(i))).sum();
    let x: f64 = total.compute()?;
    assert_eq!(x, expected);
    let y: f64 = total.compute_with(&rask::Scheduler::sync())?;
    assert_eq!(y, expected);
    let (a, b) = rask::compute((&total, &other))?;
    assert_eq!((a, b), (expected, 8));
    assert_eq!(pair.compute()?, (expected, 8));
    let kept = total.persist()?;
    assert_eq!(kept.key(), total.key());
    assert_eq!(kept.compute()?, expected);
    let dir = std::env::temp_dir().join(format!("rask-visualize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("graph.dot");
    total.visualize(&path)?;
    let dot = std::fs::read_to_string(&path).unwrap();
    assert!(dot.starts_with("digraph"));
    assert_eq!(
        dot.matches(" -> ").count(),
        8 + 8 + 1,
        "load->fit, fit->collect, collect->sum"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    Ok(())
}

#[test]
fn shared_work_runs_once() {
    for sched in schedulers() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let base = rask::delayed(move || {
            c.fetch_add(1, Ordering::SeqCst);
            10i64
        });
        let a = base.map(|x| x + 1);
        let b = base.map(|x| x * 2);
        let c2 = a.map2(&b, |x, y| x + y);
        assert_eq!(
            rask::compute_with((&a, &b, &c2), &sched).unwrap(),
            (11, 20, 31)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{sched:?}");
    }
}

#[test]
fn persisted_values_are_not_recomputed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let x = rask::delayed(move || {
        c.fetch_add(1, Ordering::SeqCst);
        5u32
    })
    .persist()
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    for i in 0..3 {
        assert_eq!(x.map(move |v| v + i).compute().unwrap(), 5 + i);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn map3_and_nested_collect() {
    let a = rask::delayed::value(1i32);
    let b = rask::delayed::value(2.5f64);
    let c = rask::delayed::value("x".to_string());
    let d = a.map3(&b, &c, |a, b, c| format!("{a}-{b}-{c}"));
    let nested = rask::delayed::collect(vec![
        rask::delayed::collect(vec![a.clone(), a.clone()]),
        rask::delayed::collect(vec![a]),
    ]);
    assert_eq!(d.compute().unwrap(), "1-2.5-x");
    assert_eq!(nested.compute().unwrap(), vec![vec![1, 1], vec![1]]);
}

#[test]
fn compute_a_vector_and_an_empty_collect() {
    let xs: Vec<Delayed<u8>> = (0..5u8).map(|i| rask::delayed(move || i)).collect();
    assert_eq!(rask::compute(&xs).unwrap(), vec![0, 1, 2, 3, 4]);
    let empty: Delayed<Vec<u8>> = rask::delayed::collect(Vec::<Delayed<u8>>::new());
    assert_eq!(empty.compute().unwrap(), Vec::<u8>::new());
}

#[test]
fn the_same_delayed_requested_twice() {
    let a = rask::delayed(|| vec![1, 2, 3]);
    for sched in schedulers() {
        assert_eq!(
            rask::compute_with((&a, &a), &sched).unwrap(),
            (vec![1, 2, 3], vec![1, 2, 3])
        );
    }
}

#[test]
fn a_long_chain_is_fused_and_computes() {
    let mut x = rask::delayed(|| 0u64);
    for _ in 0..20_000 {
        x = x.map(|v| v + 1);
    }
    for sched in schedulers() {
        assert_eq!(x.compute_with(&sched).unwrap(), 20_000);
    }
}

#[test]
fn a_task_may_compute_inside_a_task() {
    let inner = rask::delayed(|| 2i32).map(|x| x * 21);
    let outer = rask::delayed(move || inner.compute().unwrap());
    for sched in schedulers() {
        assert_eq!(outer.compute_with(&sched).unwrap(), 42);
    }
}

#[test]
fn collect_shared_hands_out_the_values_without_copying_them() {
    // Not Clone: `collect` would not accept it.
    struct Frame {
        rows: Vec<f64>,
    }
    let frames: Vec<Delayed<Frame>> = (0..4)
        .map(|i| {
            rask::delayed(move || Frame {
                rows: vec![i as f64; 10_000],
            })
        })
        .collect();
    let shared = rask::delayed::collect_shared(&frames);
    // Two consumers of the same list see the very same frames.
    let same = rask::delayed::collect_shared(&frames).map2(&shared, |a, b| {
        a.iter()
            .zip(b.iter())
            .all(|(x, y)| std::ptr::eq(&x.rows[..], &y.rows[..]))
    });
    let total = shared.map(|fs| fs.iter().map(|f| f.rows.iter().sum::<f64>()).sum::<f64>());
    let (same, total) = rask::compute((&same, &total)).unwrap();
    assert!(same);
    assert_eq!(total, 60_000.0);
}

/// The README's "which item failed" example.
mod named_calls {
    fn clean(raw: &[f64]) -> Vec<f64> {
        raw.iter().copied().filter(|x| x.is_finite()).collect()
    }

    fn fit_plain(rows: &[f64], alpha: f64) -> Result<f64, String> {
        if rows.is_empty() {
            return Err("no valid rows".into());
        }
        Ok(alpha * rows.iter().sum::<f64>() / rows.len() as f64)
    }

    #[test]
    fn a_failing_item_of_fifty_names_the_function_and_the_item() {
        let files: Vec<Vec<f64>> = (0..50)
            .map(|i| {
                if i == 31 {
                    vec![f64::NAN]
                } else {
                    vec![i as f64; 10]
                }
            })
            .collect();
        let fits: Vec<_> = files
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let cleaned = rask::delayed!(clean(&raw));
                rask::delayed!(fit_plain(&cleaned, 0.5)?).with_index(i as u32)
            })
            .collect();
        let err = rask::delayed::collect(&fits).compute().unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("task ('fit_plain-"), "{text}");
        assert!(
            text.ends_with("', 31) (operation `fit_plain`) failed: no valid rows"),
            "{text}"
        );
        // The good items compute.
        assert_eq!(fits[2].compute().unwrap(), 1.0);
    }
}
