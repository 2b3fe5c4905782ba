//! Blockwise fusion: chains and trees of elementwise operations become one
//! task per block, so intermediates are never stored as graph values.

use rask_array::Array;
use rask_core::{Collection, GraphBuilder, Plan, PlanOptions};

use crate::support::data;

/// The optimized plan of an array.
fn plan_of(a: &Array<f64>) -> Plan {
    let mut b = GraphBuilder::new();
    let mut keys = Vec::new();
    a.add_to_graph(&mut b, &mut keys);
    Plan::new(b, &keys, PlanOptions { fuse: true }).unwrap()
}

fn count_prefix(plan: &Plan, prefix: &str) -> usize {
    plan.graph
        .tasks()
        .iter()
        .filter(|t| t.key.prefix() == prefix)
        .count()
}

#[test]
fn an_elementwise_expression_is_one_task_per_block() {
    let chunks: &[usize] = &[4, 5];
    let x = Array::from_ndarray(data(&[8, 10], 1), chunks).unwrap();
    let y = Array::from_ndarray(data(&[8, 10], 2), chunks).unwrap();
    let z = Array::from_ndarray(data(&[8, 10], 3), chunks).unwrap();
    let e = (&x + &y) * 2.0 - &z;
    let plan = plan_of(&e);
    // 3 inputs x 4 blocks, plus one task per block that evaluates the
    // whole tree inline, reading the three stored blocks.
    assert_eq!(plan.len(), 3 * 4 + 4);
    assert_eq!(count_prefix(&plan, "sub"), 4);
    assert_eq!(count_prefix(&plan, "add"), 0);
    assert_eq!(count_prefix(&plan, "mul"), 0);
    for t in plan
        .graph
        .tasks()
        .iter()
        .filter(|t| t.key.prefix() == "sub")
    {
        assert_eq!(t.deps.len(), 3, "reads x, y and z directly");
    }
    // And the value is right.
    let want = (&data(&[8, 10], 1) + &data(&[8, 10], 2)) * 2.0 - &data(&[8, 10], 3);
    assert_eq!(e.compute().unwrap(), want);
}

#[test]
fn generation_elementwise_and_block_reduction_fuse() {
    // The reduction tree's shape depends on `split-every`.
    let _config = crate::support::config_unchanged();
    let x = rask_array::random::uniform(&[40, 40], &[10, 10], 7).unwrap();
    let s = (&x * 3.0 + 1.0).sum();
    let plan = plan_of(&s);
    // 16 partial sums, each generating its block slab by slab and applying
    // `* 3 + 1` to every slab, then combines: nothing else is a task.
    let roots: Vec<_> = plan
        .graph
        .tasks()
        .iter()
        .filter(|t| t.deps.is_empty())
        .collect();
    assert_eq!(roots.len(), 16);
    assert!(roots.iter().all(|t| t.key.prefix() == "sum"));
    for prefix in ["uniform", "mul", "add"] {
        assert_eq!(
            count_prefix(&plan, prefix),
            0,
            "{prefix} is evaluated inline"
        );
    }
    let v = s.compute_scalar().unwrap();
    let direct = x.compute().unwrap().mapv(|v| v * 3.0 + 1.0).sum();
    assert!((v - direct).abs() < 1e-9 * direct.abs());
}

#[test]
fn a_shared_intermediate_is_evaluated_inline_by_each_consumer() {
    let x = Array::from_ndarray(data(&[6], 4), &[3]).unwrap();
    let y = &x + 1.0;
    let a = &y * 2.0;
    let b = &y * 3.0;
    let e = &a + &b;
    let plan = plan_of(&e);
    // y is cheap to recompute: both consumers evaluate it inline, so y's
    // blocks are never stored.
    assert_eq!(count_prefix(&plan, "add"), 2, "only e's blocks");
    assert_eq!(plan.len(), 2 + 2, "x's blocks and e's");
    assert_eq!(
        e.compute().unwrap(),
        data(&[6], 4).mapv(|v| (v + 1.0) * 2.0 + (v + 1.0) * 3.0)
    );
}

#[test]
fn inlining_a_shared_subtree_is_bounded() {
    // Every level uses the one below twice: inlining everything would
    // evaluate x 2^12 times per block. Past the inlining bound, levels are
    // stored and read instead.
    let x = Array::from_ndarray(data(&[6], 5), &[3]).unwrap();
    let mut y = &x * 1.0;
    for _ in 0..12 {
        y = &y + &y;
    }
    let plan = plan_of(&y);
    for t in plan.graph.tasks() {
        assert!(
            t.deps.len() <= 16,
            "{} reads {} blocks",
            t.key,
            t.deps.len()
        );
    }
    assert!(plan.len() > 2 + 2, "some levels are stored");
    assert_eq!(y.compute().unwrap(), data(&[6], 5).mapv(|v| v * 4096.0));
}

mod transposed_operands {
    use proptest::prelude::*;
    use rask_array::Array;
    use rask_array::ndarray::IxDyn;

    use crate::support::{assert_close, chunks_for, data};

    /// A shape, a permutation of its axes, and chunkings for the operand and
    /// for the source of the transposed operand.
    fn case() -> impl Strategy<
        Value = (
            Vec<usize>,
            Vec<usize>,
            rask_array::Chunks,
            rask_array::Chunks,
            u64,
        ),
    > {
        proptest::collection::vec(1usize..7, 1..4)
            .prop_flat_map(|shape| {
                let n = shape.len();
                let perm = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
                (Just(shape), perm)
            })
            .prop_flat_map(|(shape, perm)| {
                // The source has the shape that `perm` turns into `shape`.
                let mut src = vec![0; shape.len()];
                for (k, &a) in perm.iter().enumerate() {
                    src[a] = shape[k];
                }
                (
                    Just(shape.clone()),
                    Just(perm),
                    chunks_for(shape),
                    chunks_for(src),
                    any::<u64>(),
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// `a + b.permute_axes(p)` reads b's blocks through permuted views;
        /// the result must equal ndarray's on whole arrays.
        #[test]
        fn elementwise_with_a_transposed_operand((shape, perm, ca, cb, seed) in case()) {
            let a_nd = data(&shape, seed);
            let src_shape = cb.shape();
            let b_nd = data(&src_shape, seed ^ 1);
            let a = Array::from_ndarray(a_nd.clone(), ca).unwrap();
            let b = Array::from_ndarray(b_nd.clone(), cb).unwrap();
            let got = (&a + &b.permute_axes(&perm)).compute().unwrap();
            let want = &a_nd + &b_nd.view().permuted_axes(IxDyn(&perm));
            assert_close(&got, &want, 0.0);
            // And with the transpose first, then a scalar op (not seen through).
            let got = (&b.permute_axes(&perm) * 2.0 - &a).compute().unwrap();
            let want = &b_nd.view().permuted_axes(IxDyn(&perm)).mapv(|v| v * 2.0) - &a_nd;
            assert_close(&got, &want, 0.0);
        }
    }
}

mod symmetric_products {
    use proptest::prelude::*;
    use rask_array::Array;
    use rask_array::ndarray::Ix2;

    use crate::support::{assert_close, chunks_for, data};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// `x @ x.T` computes the blocks on and above the diagonal and
        /// transposes them below it; the result must equal ndarray's.
        #[test]
        fn x_times_its_transpose((shape, chunks, seed) in (1usize..10, 1usize..10).prop_flat_map(|(m, k)| {
            (Just(vec![m, k]), chunks_for(vec![m, k]), any::<u64>())
        })) {
            let nd = data(&shape, seed);
            let x = Array::from_ndarray(nd.clone(), chunks).unwrap();
            let got = x.matmul(&x.t()).unwrap().compute().unwrap();
            let m = nd.clone().into_dimensionality::<Ix2>().unwrap();
            let want = m.dot(&m.t()).into_dyn();
            assert_close(&got, &want, 1e-12);
        }
    }

    #[test]
    fn only_the_upper_triangle_of_blocks_is_multiplied() {
        let _config = crate::support::config_unchanged();
        let x = Array::from_ndarray(data(&[8, 6], 1), &[2, 3]).unwrap();
        let p = x.matmul(&x.t()).unwrap();
        let mut b = rask_core::GraphBuilder::new();
        let mut keys = Vec::new();
        rask_core::Collection::add_to_graph(&p, &mut b, &mut keys);
        let plan = rask_core::Plan::new(b, &keys, rask_core::PlanOptions { fuse: false }).unwrap();
        let products = plan
            .graph
            .tasks()
            .iter()
            .filter(|t| t.key.prefix() == "matmul")
            .count();
        assert_eq!(
            products,
            4 * 5 / 2,
            "4 x 4 blocks: 10 on and above the diagonal"
        );
    }
}

mod slab_reductions {
    use proptest::prelude::*;
    use rask_array::Array;
    use rask_array::ndarray::ArrayD;

    use crate::support::{assert_close, chunks_for, data};

    /// A 1-3 d shape (axis 0 up to 40 long, so blocks span several slabs
    /// only when rows are long), a chunking, a set of axes containing 0,
    /// keepdims, and a seed.
    fn case() -> impl Strategy<Value = (Vec<usize>, rask_array::Chunks, Vec<usize>, bool, u64)> {
        proptest::collection::vec(1usize..20, 1..4).prop_flat_map(|shape| {
            let n = shape.len();
            let others = proptest::collection::vec(any::<bool>(), n - 1);
            (
                Just(shape.clone()),
                chunks_for(shape),
                others,
                any::<bool>(),
                any::<u64>(),
            )
                .prop_map(|(shape, chunks, others, keep, seed)| {
                    let mut axes = vec![0];
                    axes.extend(
                        others
                            .iter()
                            .enumerate()
                            .filter(|(_, b)| **b)
                            .map(|(i, _)| i + 1),
                    );
                    (shape, chunks, axes, keep, seed)
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Reducing an elementwise expression (evaluated slab by slab inside
        /// the reduction) equals reducing the stored expression.
        #[test]
        fn slab_reductions_equal_stored_ones((shape, chunks, axes, keep, seed) in case()) {
            let (a_nd, b_nd) = (data(&shape, seed), data(&shape, seed ^ 7));
            let a = Array::from_ndarray(a_nd.clone(), chunks.clone()).unwrap();
            let b = Array::from_ndarray(b_nd.clone(), chunks.clone()).unwrap();
            let expr = &a * 2.0 + &b;
            let stored = Array::from_ndarray(&a_nd * 2.0 + &b_nd, chunks).unwrap();
            let pairs: [(ArrayD<f64>, ArrayD<f64>); 5] = [
                (expr.sum_axes(&axes, keep).compute().unwrap(), stored.sum_axes(&axes, keep).compute().unwrap()),
                (expr.mean_axes(&axes, keep).compute().unwrap(), stored.mean_axes(&axes, keep).compute().unwrap()),
                (expr.var_axes(&axes, 1.0, keep).compute().unwrap(), stored.var_axes(&axes, 1.0, keep).compute().unwrap()),
                (expr.max_axes(&axes, keep).compute().unwrap(), stored.max_axes(&axes, keep).compute().unwrap()),
                (expr.nanmin_axes(&axes, keep).compute().unwrap(), stored.nanmin_axes(&axes, keep).compute().unwrap()),
            ];
            for (got, want) in &pairs {
                assert_close(got, want, 1e-9);
            }
            prop_assert_eq!(expr.argmin().compute().unwrap(), stored.argmin().compute().unwrap());
            prop_assert_eq!(expr.gt(0.0).any_axes(&axes, keep).compute().unwrap(), stored.gt(0.0).any_axes(&axes, keep).compute().unwrap());
        }
    }

    #[test]
    fn long_blocks_span_many_slabs() {
        // 300 x 100 rows per block: 16384 / 100 = 163 rows per slab.
        let nd = data(&[600, 100], 3);
        let x = Array::from_ndarray(nd.clone(), &[300, 50]).unwrap();
        let got = (&x + &x.t().t())
            .sum_axis(rask_array::ndarray::Axis(0))
            .compute()
            .unwrap();
        let want = (&nd + &nd).sum_axis(rask_array::ndarray::Axis(0));
        assert_close(&got, &want, 1e-12);
        assert_eq!(
            (&x * 1.0).argmax().compute_scalar().unwrap(),
            x.argmax().compute_scalar().unwrap()
        );
    }
}

mod inline_trees {
    use proptest::prelude::*;
    use rask_array::ndarray::{ArrayD, Axis};
    use rask_array::{Array, random};

    use crate::support::assert_close;

    /// A square shape large enough that blocks span several reduction tiles,
    /// block sizes along both axes, and a seed.
    fn case() -> impl Strategy<Value = (usize, usize, usize, u64)> {
        (130usize..260).prop_flat_map(|n| (Just(n), n / 2..=n, n / 3..=n, any::<u64>()))
    }

    /// `(x + x.T) * 2 - eye + 0.5`, built from `x`.
    fn expr(x: &Array<f64>, n: usize, chunks: &[usize]) -> Array<f64> {
        let eye = Array::<f64>::eye(n, chunks).unwrap();
        (x + &x.t()) * 2.0 - &eye + 0.5
    }

    fn expr_nd(x: &ArrayD<f64>, n: usize) -> ArrayD<f64> {
        let t = x.t().to_owned();
        let eye = rask_array::ndarray::Array2::<f64>::eye(n).into_dyn();
        (x + &t) * 2.0 - &eye + 0.5
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// A tree over a random array, its transpose and a generated
        /// identity, evaluated inline tile by tile inside reductions and
        /// block by block otherwise, equals the same tree over the stored
        /// values and the ndarray result on the whole array.
        #[test]
        fn trees_over_generated_arrays_equal_stored_ones((n, c0, c1, seed) in case()) {
            let chunks = [c0, c1];
            let x = random::uniform(&[n, n], &chunks[..], seed).unwrap();
            let x_nd = x.compute().unwrap();
            let stored = Array::from_ndarray(x_nd.clone(), &chunks[..]).unwrap();
            let e = expr(&x, n, &chunks);
            let want = expr_nd(&x_nd, n);
            prop_assert_eq!(&e.compute().unwrap(), &want);
            prop_assert_eq!(&expr(&stored, n, &chunks).compute().unwrap(), &want);

            let sum = e.sum().compute_scalar().unwrap();
            prop_assert!((sum - want.sum()).abs() <= 1e-9 * want.sum().abs());
            assert_close(&e.mean_axis(Axis(0)).compute().unwrap(), &want.mean_axis(Axis(0)).unwrap(), 1e-12);
            let std = e.std(0.0).compute_scalar().unwrap();
            prop_assert!((std - want.std(0.0)).abs() <= 1e-9 * want.std(0.0));
            let flat: Vec<f64> = want.iter().copied().collect();
            let best = flat.iter().enumerate().fold(0, |b, (i, &v)| if v > flat[b] { i } else { b });
            prop_assert_eq!(e.argmax().compute_scalar().unwrap(), best as i64);
        }
    }
}

mod mirrored_pairs {
    use proptest::prelude::*;
    use rask_array::Array;
    use rask_array::ndarray::{ArrayD, Axis};

    use crate::support::{assert_close, data};

    /// Tasks of the plan whose key starts with `prefix`, unfused.
    fn tasks<T: rask_array::Element>(a: &Array<T>, prefix: &str) -> usize {
        let mut b = rask_core::GraphBuilder::new();
        let mut keys = Vec::new();
        rask_core::Collection::add_to_graph(a, &mut b, &mut keys);
        let plan = rask_core::Plan::new(b, &keys, rask_core::PlanOptions { fuse: false }).unwrap();
        super::count_prefix(&plan, prefix)
    }

    #[test]
    fn a_full_reduction_of_x_plus_x_t_reduces_blocks_i_j_and_j_i_together() {
        let _config = crate::support::config_unchanged();
        let x = Array::from_ndarray(data(&[9, 9], 1), &[2, 2]).unwrap();
        // 5 x 5 blocks: 15 pairs (10 off the diagonal, 5 on it) and the
        // finishing task, where 25 blocks would make 26.
        assert_eq!(tasks(&(&x + &x.t()).sum(), "sum"), 16);
        assert_eq!(tasks(&((&x * 2.0 - &x.t()) + 1.0).mean(), "mean"), 16);
        // Not mirrored, split unlike along the two axes, reduced along one
        // axis, or an order-bound reducer: a task per block.
        let y = Array::from_ndarray(data(&[9, 9], 2), &[2, 2]).unwrap();
        assert_eq!(tasks(&(&x + &y).sum(), "sum"), 26);
        let z = Array::from_ndarray(data(&[9, 9], 1), &[2, 3]).unwrap();
        assert_eq!(
            tasks(&(&z + &z.t().rechunk(&[2, 3]).unwrap()).sum(), "sum"),
            16
        );
        // (25 block tasks and a finishing task per column of blocks)
        assert_eq!(tasks(&(&x + &x.t()).sum_axis(Axis(0)), "sum"), 30);
        assert_eq!(tasks(&(&x + &x.t()).argmax(), "argmax"), 26);
    }

    /// A square side large enough that blocks span several reduction
    /// tiles, one block size for both axes (the last block shorter), a seed.
    fn case() -> impl Strategy<Value = (usize, usize, u64)> {
        (2usize..400).prop_flat_map(|n| (Just(n), 1.max(n / 4)..=n, any::<u64>()))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        /// Full reductions of mirrored expressions equal ndarray's over the
        /// whole array, with every order-free reducer.
        #[test]
        fn mirrored_reductions_equal_the_whole_array((n, c, seed) in case()) {
            let nd = data(&[n, n], seed);
            let x = Array::from_ndarray(nd.clone(), &[c, c]).unwrap();
            let t = nd.t().to_owned();
            let e = (&x * 2.0 - &x.t()) + 0.25;
            let want: ArrayD<f64> = (&nd * 2.0 - &t) + 0.25;
            let scalar = |v: f64| ArrayD::from_elem(vec![], v);
            let close = |got: f64, w: f64| assert_close(&scalar(got), &scalar(w), 1e-9);
            close(e.sum().compute_scalar().unwrap(), want.sum());
            close(e.mean().compute_scalar().unwrap(), want.mean().unwrap());
            close(e.var(1.0).compute_scalar().unwrap(), want.var(1.0));
            close(e.std(0.0).compute_scalar().unwrap(), want.std(0.0));
            let lo = want.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = want.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            close(e.min().compute_scalar().unwrap(), lo);
            close(e.max().compute_scalar().unwrap(), hi);
            close(e.nanmax().compute_scalar().unwrap(), hi);
            let p = (&x + &x.t()) * 1e-3 + 1.0;
            let pw: ArrayD<f64> = (&nd + &t) * 1e-3 + 1.0;
            close(p.prod().compute_scalar().unwrap(), pw.product());
            prop_assert_eq!(e.gt(hi - 1e-12).any().compute_scalar().unwrap(), true);
            prop_assert_eq!(e.gt(lo).all().compute_scalar().unwrap(), n == 1);
        }
    }
}
