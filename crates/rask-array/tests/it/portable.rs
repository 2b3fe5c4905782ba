//! Array graphs that leave the process: creation, elementwise expression
//! trees (inline, region by region), transposes and reductions are
//! registered kernels; their plans encode, decode in another process of this
//! build, run there, and give the same bytes.

use std::process::Command;

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, Axis, IxDyn};
use rask_array::{Array, random};
use rask_core::{Executor, Plan, wire};

use crate::support::{assert_portable, data};

#[test]
fn creation_is_portable_with_deterministic_names() {
    let z = Array::<f32>::zeros(&[7, 5], &[3, 2]).unwrap();
    assert_eq!(
        z.name(),
        Array::<f32>::zeros(&[7, 5], &[3, 2]).unwrap().name()
    );
    assert_ne!(
        z.name(),
        Array::<f32>::ones(&[7, 5], &[3, 2]).unwrap().name()
    );
    assert_ne!(
        z.name(),
        Array::<f32>::zeros(&[7, 5], &[3, 3]).unwrap().name()
    );
    assert_eq!(assert_portable(&z), ArrayD::<f32>::zeros(IxDyn(&[7, 5])));
    let a = Array::<i64>::arange(3, 40, 3, &[5]).unwrap();
    assert_eq!(assert_portable(&a).sum(), (3..40).step_by(3).sum::<i64>());
    let e = Array::<f64>::eye(6, &[4, 4]).unwrap();
    assert_eq!(assert_portable(&e).sum(), 6.0);
    let l = Array::linspace(0.0f32, 1.0, 9, &[4]).unwrap();
    assert_eq!(assert_portable(&l)[[8]], 1.0);
    let u = random::uniform(&[30, 20], &[7, 6], 5).unwrap();
    assert_eq!(
        u.name(),
        random::uniform(&[30, 20], &[7, 6], 5).unwrap().name()
    );
    assert_ne!(
        u.name(),
        random::uniform(&[30, 20], &[7, 6], 6).unwrap().name()
    );
    assert_portable(&random::normal_with(1.0, 2.0, &[11, 13], &[4, 5], 9).unwrap());
}

#[test]
fn expression_trees_and_reductions_are_portable() {
    let x = random::uniform(&[40, 40], &[10, 15], 1).unwrap();
    let y = Array::from_ndarray(data(&[40, 40], 2), &[20, 20]).unwrap();
    let tree = ((&x + &x.t()) * 2.0 - &y).sqrt().clip(0.0, 1.5);
    assert_portable(&tree);
    assert_portable(&tree.sum());
    assert_portable(&tree.mean_axis(Axis(0)));
    assert_portable(&tree.std(1.0));
    assert_portable(&tree.argmax());
    assert_portable(&tree.gt(0.5).any());
    assert_portable(&rask_array::where_(&x.lt(0.5), &x, &y).astype::<f32>().max());
    assert_portable(&(x.arctan2(&y) + 1.0).nanmean());
    let ints = Array::<i32>::arange(0, 100, 1, &[30]).unwrap();
    assert_portable(&(&ints % 7).prod());
    assert_portable(&(-(&ints * 3)).argmin());
    // Casts are registered for every pair of element types.
    assert_portable(&ints.astype::<bool>().all());
    assert_portable(&ints.astype::<u8>().astype::<f32>().sum());
}

#[test]
fn the_same_expression_built_twice_has_the_same_keys() {
    let build = || {
        let x = random::uniform(&[20, 20], &[5, 5], 3).unwrap();
        ((&x * &x) + 1.0).sum_axis(Axis(1))
    };
    assert_eq!(build().name(), build().name());
    let other = {
        let x = random::uniform(&[20, 20], &[5, 5], 3).unwrap();
        ((&x * &x) + 2.0).sum_axis(Axis(1))
    };
    assert_ne!(build().name(), other.name());
}

#[test]
fn a_user_closure_is_refused_with_the_task_named() {
    let x = random::uniform(&[10], &[5], 3).unwrap();
    let y = x.map(|v| v * 2.0).sum();
    let plan = rask_core::compute::plan(&y).unwrap();
    let err = plan.graph.check_portable().unwrap_err().to_string();
    assert!(err.contains("closure"), "{err}");
    // It still computes locally.
    assert!(y.compute_scalar().unwrap() > 0.0);
}

/// Entry point of the child process in
/// `array_plans_run_in_another_process_with_equal_result_bytes`: when
/// started with `RASK_TEST_CHILD_PLAN`, it decodes the plan in that file,
/// runs it, and writes the encoded results next to it. Run normally, it has
/// nothing to do.
#[test]
fn child_process_runs_an_encoded_array_plan() {
    let Ok(path) = std::env::var("RASK_TEST_CHILD_PLAN") else {
        return;
    };
    let bytes = std::fs::read(&path).expect("the parent wrote the plan");
    let out = wire::run_encoded(&bytes, &rask_local::ThreadsExecutor::new(2).unwrap()).unwrap();
    std::fs::write(format!("{path}.out"), out).unwrap();
}

/// Runs each plan in one child process (this test binary, started again)
/// and returns their encoded results.
fn run_in_child(plans: &[Plan]) -> Vec<Vec<u8>> {
    let dir = crate::support::TempDir::new("portable", "child");
    plans
        .iter()
        .enumerate()
        .map(|(i, plan)| {
            let path = dir.path(&format!("plan-{i}"));
            std::fs::write(&path, plan.encode().unwrap()).unwrap();
            let status = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "portable::child_process_runs_an_encoded_array_plan",
                    "--test-threads=1",
                ])
                .env("RASK_TEST_CHILD_PLAN", &path)
                .env("RASK_PROGRESS", "off")
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "the child process failed: {status}");
            std::fs::read(format!("{}.out", path.display())).unwrap()
        })
        .collect()
}

/// A random expression over a random array and a stored one of the same
/// shape, with a reduction on top.
#[derive(Debug, Clone)]
enum Expr {
    Leaf(u8),
    Add(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, f64),
    Sqrt(Box<Expr>),
    Max(Box<Expr>, Box<Expr>),
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = (0u8..3).prop_map(Expr::Leaf);
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Add(Box::new(a), Box::new(b))),
            (inner.clone(), -3.0f64..3.0).prop_map(|(a, k)| Expr::Mul(Box::new(a), k)),
            inner.clone().prop_map(|a| Expr::Sqrt(Box::new(a))),
            (inner.clone(), inner).prop_map(|(a, b)| Expr::Max(Box::new(a), Box::new(b))),
        ]
    })
}

fn build(e: &Expr, leaves: &[Array<f64>; 3]) -> Array<f64> {
    match e {
        Expr::Leaf(i) => leaves[*i as usize].clone(),
        Expr::Add(a, b) => &build(a, leaves) + &build(b, leaves),
        Expr::Mul(a, k) => build(a, leaves) * *k,
        Expr::Sqrt(a) => build(a, leaves).abs().sqrt(),
        Expr::Max(a, b) => build(a, leaves).maximum(&build(b, leaves)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Plans of random shapes, chunkings and expression trees run in a child
    /// process give the bytes they give here.
    #[test]
    fn array_plans_run_in_another_process_with_equal_result_bytes(
        (n, m) in (1usize..24, 1usize..24),
        (cn, cm) in (1usize..8, 1usize..8),
        seed in 0u64..1000,
        e in expr(),
    ) {
        let side = n.max(m);
        let leaves = [
            random::normal(&[side, side], &[cn, cm], seed).unwrap(),
            random::uniform(&[side, side], &[cm, cn], seed + 1).unwrap().t(),
            Array::from_ndarray(data(&[side, side], seed), &[cn.max(2), cm.max(2)]).unwrap(),
        ];
        let x = build(&e, &leaves);
        let arrays = [x.clone(), x.sum_axis(Axis(0)), x.std(0.0)];
        let plans: Vec<Plan> = arrays.iter().map(|a| rask_core::compute::plan(a).unwrap()).collect();
        for p in &plans {
            prop_assert!(p.is_portable());
        }
        let here: Vec<Vec<u8>> = plans
            .iter()
            .map(|p| wire::encode_values(&rask_local::SyncExecutor.execute(p, &[]).unwrap()).unwrap())
            .collect();
        prop_assert_eq!(run_in_child(&plans), here);
    }
}
