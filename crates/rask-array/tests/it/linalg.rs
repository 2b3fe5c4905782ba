//! matmul, dot and tensordot against ndarray's products and a naive
//! reference.

use proptest::prelude::*;
use rask_array::ndarray::{
    ArrayD, ArrayView2, ArrayViewD, Axis, Dimension, Ix1, Ix2, IxDyn, LinalgScalar,
};
use rask_array::{Array, Chunks};
use rask_local::Scheduler;

use crate::support::{assert_close, chunks_for, config_unchanged, data, matmul_case};

fn sync() -> Scheduler {
    Scheduler::sync()
}

fn nd_matmul(a: &ArrayD<f64>, b: &ArrayD<f64>) -> ArrayD<f64> {
    let a = a.view().into_dimensionality::<Ix2>().unwrap();
    let b = b.view().into_dimensionality::<Ix2>().unwrap();
    a.dot(&b).into_dyn()
}

fn as_i64(a: &ArrayD<f64>) -> ArrayD<i64> {
    a.mapv(|v| v as i64)
}

/// NumPy's tensordot, one output element at a time.
fn naive_tensordot(
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
    axes_a: &[usize],
    axes_b: &[usize],
) -> ArrayD<f64> {
    let free_a: Vec<usize> = (0..a.ndim()).filter(|x| !axes_a.contains(x)).collect();
    let free_b: Vec<usize> = (0..b.ndim()).filter(|x| !axes_b.contains(x)).collect();
    let out_shape: Vec<usize> = free_a
        .iter()
        .map(|&x| a.shape()[x])
        .chain(free_b.iter().map(|&x| b.shape()[x]))
        .collect();
    let k_shape: Vec<usize> = axes_a.iter().map(|&x| a.shape()[x]).collect();
    ArrayD::from_shape_fn(IxDyn(&out_shape), |o| {
        let o = o.slice().to_vec();
        let mut sum = 0.0;
        for q in ArrayD::<u8>::zeros(IxDyn(&k_shape))
            .indexed_iter()
            .map(|(q, _)| q)
        {
            let mut ia = vec![0; a.ndim()];
            let mut ib = vec![0; b.ndim()];
            for (j, &x) in free_a.iter().enumerate() {
                ia[x] = o[j];
            }
            for (j, &x) in free_b.iter().enumerate() {
                ib[x] = o[free_a.len() + j];
            }
            for (j, (&x, &y)) in axes_a.iter().zip(axes_b).enumerate() {
                ia[x] = q[j];
                ib[y] = q[j];
            }
            sum += a[IxDyn(&ia)] * b[IxDyn(&ib)];
        }
        sum
    })
}

/// NumPy's `matmul` on whole arrays: 1-d operands promoted to a row (left)
/// or column (right), batch axes broadcast by hand, one ndarray `dot` per
/// batch position, then the promoted axes removed.
fn nd_batched_matmul<T: LinalgScalar>(a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    let a2 = match a.ndim() {
        1 => a.view().insert_axis(Axis(0)),
        _ => a.view(),
    };
    let b2 = match b.ndim() {
        1 => b.view().insert_axis(Axis(1)),
        _ => b.view(),
    };
    let ba = &a2.shape()[..a2.ndim() - 2];
    let bb = &b2.shape()[..b2.ndim() - 2];
    let nd = ba.len().max(bb.len());
    let dim = |s: &[usize], ax: usize| match (ax + s.len()).checked_sub(nd) {
        Some(i) => s[i],
        None => 1,
    };
    let batch: Vec<usize> = (0..nd)
        .map(|ax| {
            let (x, y) = (dim(ba, ax), dim(bb, ax));
            assert!(x == y || x == 1 || y == 1, "the case broadcasts");
            if x == 1 { y } else { x }
        })
        .collect();
    let (m, n) = (a2.shape()[a2.ndim() - 2], b2.shape()[b2.ndim() - 1]);
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    let mut out = ArrayD::<T>::zeros(IxDyn(&out_shape));
    for (at, _) in ArrayD::<u8>::zeros(IxDyn(&batch)).indexed_iter() {
        let at = at.slice().to_vec();
        let prod = matrix_at(&a2, nd, &at).dot(&matrix_at(&b2, nd, &at));
        let mut o = out.view_mut();
        for &i in &at {
            o = o.index_axis_move(Axis(0), i);
        }
        o.assign(&prod);
    }
    if b.ndim() == 1 {
        let last = out.ndim() - 1;
        out = out.index_axis_move(Axis(last), 0);
    }
    if a.ndim() == 1 {
        let rows = out.ndim() - if b.ndim() == 1 { 1 } else { 2 };
        out = out.index_axis_move(Axis(rows), 0);
    }
    out
}

/// The matrix of `v` (batch axes, then two) at position `at` of an `nd`-axis
/// batch shape it broadcasts to.
fn matrix_at<'a, T>(v: &ArrayViewD<'a, T>, nd: usize, at: &[usize]) -> ArrayView2<'a, T> {
    let mut v = v.clone();
    let off = nd - (v.ndim() - 2);
    for &i in &at[off..] {
        // A length-1 batch axis serves every position.
        let i = if v.shape()[0] == 1 { 0 } else { i };
        v = v.index_axis_move(Axis(0), i);
    }
    v.into_dimensionality::<Ix2>().unwrap()
}

/// Operand shapes for a batched `matmul`: up to 3 output batch axes, each
/// operand dropping some leading ones and having length 1 on others (so it
/// broadcasts), or being 1-d; matrix sizes up to 4; random chunkings.
fn batched_case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Chunks, Chunks)> {
    (
        proptest::collection::vec((1usize..=3, any::<bool>(), any::<bool>()), 0..=3),
        (0usize..=2, 0usize..=2),
        (0usize..=4, 0usize..=4, 0usize..=4),
        (0usize..6, 0usize..6),
    )
        .prop_flat_map(|(batch, (drop_a, drop_b), (m, k, n), (kind_a, kind_b))| {
            let side = |drop: usize, full: fn(&(usize, bool, bool)) -> bool| -> Vec<usize> {
                batch
                    .iter()
                    .skip(drop.min(batch.len()))
                    .map(|t| if full(t) { t.0 } else { 1 })
                    .collect()
            };
            // One case in six has a 1-d operand on that side.
            let a_shape = match kind_a {
                0 => vec![k],
                _ => [side(drop_a, |t| t.1), vec![m, k]].concat(),
            };
            let b_shape = match kind_b {
                0 => vec![k],
                _ => [side(drop_b, |t| t.2), vec![k, n]].concat(),
            };
            (
                Just(a_shape.clone()),
                Just(b_shape.clone()),
                chunks_for(a_shape),
                chunks_for(b_shape),
            )
        })
}

/// A 3-d and a 2-d shape with 0 to 2 contracted pairs, and chunkings.
#[allow(clippy::type_complexity)]
fn tensordot_case() -> impl Strategy<
    Value = (
        Vec<usize>,
        Vec<usize>,
        Vec<usize>,
        Vec<usize>,
        Chunks,
        Chunks,
    ),
> {
    (
        proptest::collection::vec(1usize..=5, 3),
        Just(vec![0usize, 1, 2]).prop_shuffle(),
        Just(vec![0usize, 1]).prop_shuffle(),
        0usize..=2,
        proptest::collection::vec(1usize..=5, 2),
    )
        .prop_flat_map(|(a_shape, perm_a, perm_b, pairs, b_free_len)| {
            let axes_a = perm_a[..pairs].to_vec();
            let axes_b = perm_b[..pairs].to_vec();
            let mut b_shape = b_free_len;
            for (&x, &y) in axes_a.iter().zip(&axes_b) {
                b_shape[y] = a_shape[x];
            }
            (
                Just(a_shape.clone()),
                Just(b_shape.clone()),
                Just(axes_a),
                Just(axes_b),
                chunks_for(a_shape),
                chunks_for(b_shape),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn matmul_matches_ndarray_f64((m, k, n, ca, cb) in matmul_case(12), seed in any::<u64>()) {
        let an = data(&[m, k], seed);
        let bn = data(&[k, n], seed ^ 7);
        let a = Array::from_ndarray(an.clone(), ca).unwrap();
        let b = Array::from_ndarray(bn.clone(), cb).unwrap();
        let p = a.matmul(&b).unwrap();
        prop_assert_eq!(p.shape(), &[m, n]);
        prop_assert_eq!(p.chunks().axis(0), a.chunks().axis(0));
        prop_assert_eq!(p.chunks().axis(1), b.chunks().axis(1));
        assert_close(&p.compute_with(&sync()).unwrap(), &nd_matmul(&an, &bn), 1e-10);
    }

    #[test]
    fn matmul_matches_ndarray_i64_exactly((m, k, n, ca, cb) in matmul_case(12), seed in any::<u64>()) {
        let an = as_i64(&data(&[m, k], seed));
        let bn = as_i64(&data(&[k, n], seed ^ 7));
        let a = Array::from_ndarray(an.clone(), ca).unwrap();
        let b = Array::from_ndarray(bn.clone(), cb).unwrap();
        let want = an.into_dimensionality::<Ix2>().unwrap().dot(&bn.into_dimensionality::<Ix2>().unwrap());
        prop_assert_eq!(a.dot(&b).unwrap().compute_with(&sync()).unwrap(), want.into_dyn());
    }

    #[test]
    fn matmul_with_1d_operands((m, k, n, ca, cb) in matmul_case(10), seed in any::<u64>()) {
        let an = data(&[m, k], seed);
        let bn = data(&[k, n], seed ^ 3);
        let vn = data(&[k], seed ^ 5);
        let a = Array::from_ndarray(an.clone(), ca.clone()).unwrap();
        let b = Array::from_ndarray(bn.clone(), cb).unwrap();
        // The vector is chunked like a's columns.
        let v = Array::from_ndarray(vn.clone(), Chunks::new(vec![ca.axis(1).to_vec()], &[k]).unwrap()).unwrap();
        let a2 = an.view().into_dimensionality::<Ix2>().unwrap();
        let b2 = bn.view().into_dimensionality::<Ix2>().unwrap();
        let v1 = vn.view().into_dimensionality::<Ix1>().unwrap();
        // (m, k) @ (k,) -> (m,)
        let av = a.matmul(&v).unwrap();
        prop_assert_eq!(av.shape(), &[m]);
        assert_close(&av.compute_with(&sync()).unwrap(), &a2.dot(&v1).into_dyn(), 1e-10);
        // (k,) @ (k, n) -> (n,)
        let vb = v.matmul(&b).unwrap();
        prop_assert_eq!(vb.shape(), &[n]);
        assert_close(&vb.compute_with(&sync()).unwrap(), &v1.dot(&b2).into_dyn(), 1e-10);
        // (k,) @ (k,) -> ()
        let vv = v.matmul(&v).unwrap();
        prop_assert_eq!(vv.ndim(), 0);
        let got = vv.compute_scalar().unwrap();
        let want = v1.dot(&v1);
        prop_assert!((got - want).abs() <= 1e-12 + 1e-10 * want.abs(), "{} vs {}", got, want);
    }

    #[test]
    fn batched_matmul_matches_a_per_batch_dot_f64(
        (a_shape, b_shape, ca, cb) in batched_case(),
        seed in any::<u64>(),
    ) {
        let an = data(&a_shape, seed);
        let bn = data(&b_shape, seed ^ 13);
        let a = Array::from_ndarray(an.clone(), ca).unwrap();
        let b = Array::from_ndarray(bn.clone(), cb).unwrap();
        let p = a.matmul(&b).unwrap();
        let want = nd_batched_matmul(&an, &bn);
        prop_assert_eq!(p.shape(), want.shape());
        prop_assert_eq!(p.chunks().shape(), want.shape().to_vec());
        assert_close(&p.compute_with(&sync()).unwrap(), &want, 1e-10);
    }

    #[test]
    fn batched_matmul_matches_a_per_batch_dot_i64_exactly(
        (a_shape, b_shape, ca, cb) in batched_case(),
        seed in any::<u64>(),
    ) {
        let an = as_i64(&data(&a_shape, seed));
        let bn = as_i64(&data(&b_shape, seed ^ 17));
        let a = Array::from_ndarray(an.clone(), ca).unwrap();
        let b = Array::from_ndarray(bn.clone(), cb).unwrap();
        let p = a.matmul(&b).unwrap();
        prop_assert_eq!(p.compute_with(&sync()).unwrap(), nd_batched_matmul(&an, &bn));
    }

    #[test]
    fn tensordot_matches_a_naive_reference(
        (a_shape, b_shape, axes_a, axes_b, ca, cb) in tensordot_case(),
        seed in any::<u64>(),
    ) {
        let an = data(&a_shape, seed);
        let bn = data(&b_shape, seed ^ 11);
        let a = Array::from_ndarray(an.clone(), ca).unwrap();
        let b = Array::from_ndarray(bn.clone(), cb).unwrap();
        let t = a.tensordot(&b, &axes_a, &axes_b).unwrap();
        let want = naive_tensordot(&an, &bn, &axes_a, &axes_b);
        prop_assert_eq!(t.shape(), want.shape());
        assert_close(&t.compute_with(&sync()).unwrap(), &want, 1e-10);
    }
}

#[test]
fn matmul_with_its_transpose_contract() {
    let xn = data(&[7, 5], 3);
    let x = Array::from_ndarray(xn.clone(), &[3, 2]).unwrap();
    let p: Array<f64> = x.matmul(&x.t()).unwrap();
    assert_eq!(p.shape(), &[7, 7]);
    assert_close(
        &p.compute_with(&sync()).unwrap(),
        &nd_matmul(&xn, &xn.t().to_owned()),
        1e-12,
    );
    // The same array on both sides: blocks read twice by one task.
    let sq = Array::from_ndarray(data(&[6, 6], 4), &[2, 4]).unwrap();
    assert_close(
        &sq.matmul(&sq).unwrap().compute().unwrap(),
        &nd_matmul(&data(&[6, 6], 4), &data(&[6, 6], 4)),
        1e-12,
    );
}

#[test]
fn many_contracted_blocks_sum_in_a_tree() {
    // 40 blocks along k: more than split_every (4 by default), so partial
    // products over groups are summed in a tree.
    let an = data(&[5, 40], 8);
    let bn = data(&[40, 3], 9);
    let a = Array::from_ndarray(an.clone(), &[2, 1]).unwrap();
    let b = Array::from_ndarray(bn.clone(), &[3, 3]).unwrap();
    let p = a.matmul(&b).unwrap();
    assert_eq!(p.chunks().as_slices(), &[vec![2, 2, 1], vec![3]]);
    assert_close(
        &p.compute_with(&sync()).unwrap(),
        &nd_matmul(&an, &bn),
        1e-10,
    );
    let ai = Array::from_ndarray(as_i64(&an), &[5, 1]).unwrap();
    let bi = Array::from_ndarray(as_i64(&bn), &[1, 2]).unwrap();
    let want = as_i64(&an)
        .into_dimensionality::<Ix2>()
        .unwrap()
        .dot(&as_i64(&bn).into_dimensionality::<Ix2>().unwrap());
    assert_eq!(ai.matmul(&bi).unwrap().compute().unwrap(), want.into_dyn());
}

#[test]
fn no_product_task_reads_more_than_split_every_pairs() {
    // Graph shape and assertion both depend on `split-every`.
    let _config = config_unchanged();
    use rask_core::{Collection, GraphBuilder};
    let a = Array::<f64>::ones(&[4, 64], &[2, 1]).unwrap();
    let b = Array::<f64>::ones(&[64, 4], &[1, 2]).unwrap();
    let p = a.matmul(&b).unwrap();
    let mut builder = GraphBuilder::new();
    p.add_to_graph(&mut builder, &mut Vec::new());
    let graph = builder.build().unwrap();
    let split_every = rask_config::get().split_every.max(2);
    let widest = graph.tasks().iter().map(|t| t.deps.len()).max().unwrap();
    assert!(widest <= 2 * split_every, "a task reads {widest} blocks");
    assert_eq!(
        p.compute_with(&sync()).unwrap(),
        ArrayD::from_elem(IxDyn(&[4, 4]), 64.0)
    );
}

#[test]
fn integer_products_wrap_around_like_numpy() {
    let a = Array::from_ndarray(ArrayD::from_elem(IxDyn(&[1, 2]), 100i8), &[1, 1]).unwrap();
    let b = Array::from_ndarray(ArrayD::from_elem(IxDyn(&[2, 1]), 2i8), &[1, 1]).unwrap();
    // 100 * 2 + 100 * 2 = 400, which is -112 in int8.
    assert_eq!(a.matmul(&b).unwrap().compute().unwrap()[[0, 0]], -112);
}

#[test]
fn dot_follows_numpy_for_more_axes_and_scalars() {
    // dot(a, b) sums a's last axis with b's second-to-last.
    let an = data(&[2, 3, 4], 1);
    let bn = data(&[5, 4, 2], 2);
    let a = Array::from_ndarray(an.clone(), &[1, 2, 3]).unwrap();
    let b = Array::from_ndarray(bn.clone(), &[2, 2, 1]).unwrap();
    let d = a.dot(&b).unwrap();
    assert_eq!(d.shape(), &[2, 3, 5, 2]);
    assert_close(
        &d.compute_with(&sync()).unwrap(),
        &naive_tensordot(&an, &bn, &[2], &[1]),
        1e-12,
    );
    let s = Array::from_ndarray(ArrayD::from_elem(IxDyn(&[]), 2.0), &[] as &[usize]).unwrap();
    assert_close(&a.dot(&s).unwrap().compute().unwrap(), &(&an * 2.0), 1e-12);
}

#[test]
fn shape_mismatch_errors_name_both_shapes() {
    let a = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let b = Array::<f64>::ones(&[5, 6], &[2, 2]).unwrap();
    let err = a.matmul(&b).unwrap_err().to_string();
    assert!(
        err.contains("matmul: shapes (3, 4) and (5, 6) not aligned: 4 (dim 1) != 5 (dim 0)"),
        "{err}"
    );
    let err = a.dot(&b).unwrap_err().to_string();
    assert!(
        err.contains("dot: shapes (3, 4) and (5, 6) not aligned"),
        "{err}"
    );
    let v = Array::<f64>::ones(&[5], &[2]).unwrap();
    let err = v.matmul(&a).unwrap_err().to_string();
    assert!(
        err.contains("shapes (5,) and (3, 4) not aligned: 5 (dim 0) != 3 (dim 0)"),
        "{err}"
    );
    let s = Array::<f64>::ones(&[], &[] as &[usize]).unwrap();
    let err = s.matmul(&a).unwrap_err().to_string();
    assert!(err.contains("0-d"), "{err}");
    let c = Array::<f64>::ones(&[2, 3, 4], &[2, 2, 2]).unwrap();
    let err = c.matmul(&b).unwrap_err().to_string();
    assert!(
        err.contains("matmul: shapes (2, 3, 4) and (5, 6) not aligned: 4 (dim 2) != 5 (dim 0)"),
        "{err}"
    );
}

#[test]
fn batched_shape_errors_name_both_shapes() {
    let a = Array::<f64>::ones(&[2, 3, 4], &[1, 2, 2]).unwrap();
    let b = Array::<f64>::ones(&[3, 4, 5], &[1, 2, 2]).unwrap();
    let err = a.matmul(&b).unwrap_err().to_string();
    assert!(
        err.contains("shapes (2, 3, 4) and (3, 4, 5) do not broadcast")
            && err.contains("(2,) and (3,)"),
        "{err}"
    );
    let v = Array::<f64>::ones(&[5], &[2]).unwrap();
    let err = v.matmul(&b).unwrap_err().to_string();
    assert!(
        err.contains("shapes (5,) and (3, 4, 5) not aligned: 5 (dim 0) != 4 (dim 1)"),
        "{err}"
    );
    assert_eq!(b.matmul(&v).unwrap().shape(), &[3, 4]);
    let bad = &a + &b;
    let err = bad.matmul(&a).unwrap_err().to_string();
    assert!(err.contains("broadcast"), "{err}");
}

#[test]
fn batched_matmul_sums_many_contracted_blocks_in_a_tree() {
    // Graph shape and assertion both depend on `split-every`.
    let _config = config_unchanged();
    use rask_core::{Collection, GraphBuilder};
    let an = data(&[2, 3, 24], 21);
    let bn = data(&[1, 24, 2], 22);
    let a = Array::from_ndarray(an.clone(), &[1, 2, 1]).unwrap();
    let b = Array::from_ndarray(bn.clone(), &[1, 2, 2]).unwrap();
    let p = a.matmul(&b).unwrap();
    assert_eq!(p.chunks().as_slices(), &[vec![1, 1], vec![2, 1], vec![2]]);
    let mut builder = GraphBuilder::new();
    p.add_to_graph(&mut builder, &mut Vec::new());
    let graph = builder.build().unwrap();
    let split_every = rask_config::get().split_every.max(2);
    let widest = graph.tasks().iter().map(|t| t.deps.len()).max().unwrap();
    assert!(widest <= 2 * split_every, "a task reads {widest} blocks");
    assert_close(
        &p.compute_with(&sync()).unwrap(),
        &nd_batched_matmul(&an, &bn),
        1e-10,
    );
}

#[test]
fn batched_matmul_of_empty_batches_and_vectors() {
    // A zero-length batch axis broadcast against a length-1 one.
    let a = Array::from_ndarray(data(&[0, 3, 2], 1), &[1, 2, 1]).unwrap();
    let b = Array::from_ndarray(data(&[1, 2, 4], 2), &[1, 1, 3]).unwrap();
    let p = a.matmul(&b).unwrap();
    assert_eq!(p.shape(), &[0, 3, 4]);
    assert_eq!(p.compute_with(&sync()).unwrap().shape(), &[0, 3, 4]);
    // (k,) @ (b, k, n) -> (b, n) and (b, m, k) @ (k,) -> (b, m).
    let sn = data(&[4, 3, 5], 3);
    let vn = data(&[3], 4);
    let s = Array::from_ndarray(sn.clone(), &[3, 2, 2]).unwrap();
    let v = Array::from_ndarray(vn.clone(), &[1]).unwrap();
    let vs = v.matmul(&s).unwrap();
    assert_eq!(vs.shape(), &[4, 5]);
    assert_close(
        &vs.compute_with(&sync()).unwrap(),
        &nd_batched_matmul(&vn, &sn),
        1e-12,
    );
    let st = s
        .matmul(&Array::from_ndarray(data(&[5], 5), &[2]).unwrap())
        .unwrap();
    assert_eq!(st.shape(), &[4, 3]);
    assert_close(
        &st.compute_with(&sync()).unwrap(),
        &nd_batched_matmul(&sn, &data(&[5], 5)),
        1e-12,
    );
}

#[test]
fn tensordot_rejects_bad_axes() {
    let a = Array::<f64>::ones(&[3, 4, 5], &[2, 2, 2]).unwrap();
    let b = Array::<f64>::ones(&[6, 7], &[2, 2]).unwrap();
    let err = a.tensordot(&b, &[2], &[0]).unwrap_err().to_string();
    assert!(
        err.contains("axis 2 of (3, 4, 5) has length 5")
            && err.contains("axis 0 of (6, 7) has length 6"),
        "{err}"
    );
    let err = a.tensordot(&b, &[0, 1], &[0]).unwrap_err().to_string();
    assert!(err.contains("same number"), "{err}");
    let err = a.tensordot(&b, &[3], &[0]).unwrap_err().to_string();
    assert!(
        err.contains("axis 3 is out of range") && err.contains("(3, 4, 5)"),
        "{err}"
    );
    let err = a.tensordot(&b, &[0, 0], &[0, 1]).unwrap_err().to_string();
    assert!(err.contains("listed twice"), "{err}");
}

#[test]
fn an_invalid_operand_reports_its_error() {
    let a = Array::<f64>::ones(&[3], &[2]).unwrap();
    let b = Array::<f64>::ones(&[4], &[2]).unwrap();
    let bad = &a + &b;
    let err = bad.matmul(&a).unwrap_err().to_string();
    assert!(err.contains("broadcast"), "{err}");
}

#[test]
fn products_are_portable_with_deterministic_names() {
    // Names and graph shapes depend on `split-every`. Chunks are aligned,
    // so no operand is rechunked first.
    let _config = config_unchanged();
    use crate::support::assert_portable;
    let (an, bn) = (data(&[5, 6], 21), data(&[6, 4], 22));
    let a = Array::from_ndarray(an.clone(), &[2, 3]).unwrap();
    let b = Array::from_ndarray(bn.clone(), &[3, 2]).unwrap();
    let p = a.matmul(&b).unwrap();
    assert_eq!(p.name(), a.matmul(&b).unwrap().name());
    assert_ne!(p.name(), a.dot(&b).unwrap().name());
    let b2 = Array::from_ndarray(bn.clone(), &[3, 4]).unwrap();
    assert_ne!(p.name(), a.matmul(&b2).unwrap().name());
    assert_close(&assert_portable(&p), &nd_matmul(&an, &bn), 1e-12);

    // A tree of partial products and sums (12 blocks along k).
    let (cn, dn) = (data(&[4, 12], 23), data(&[12, 3], 24));
    let c = Array::from_ndarray(cn.clone(), &[2, 1]).unwrap();
    let d = Array::from_ndarray(dn.clone(), &[1, 3]).unwrap();
    let t = c.matmul(&d).unwrap();
    assert_eq!(t.name(), c.matmul(&d).unwrap().name());
    assert_close(&assert_portable(&t), &nd_matmul(&cn, &dn), 1e-12);
    let ci = Array::from_ndarray(as_i64(&cn), &[4, 1]).unwrap();
    let di = Array::from_ndarray(as_i64(&dn), &[1, 3]).unwrap();
    let want = as_i64(&cn)
        .into_dimensionality::<Ix2>()
        .unwrap()
        .dot(&as_i64(&dn).into_dimensionality::<Ix2>().unwrap());
    assert_eq!(assert_portable(&ci.matmul(&di).unwrap()), want.into_dyn());

    // x @ x.T reads the upper blocks and transposes them.
    let sym = a.matmul(&a.t()).unwrap();
    assert_eq!(sym.name(), a.matmul(&a.t()).unwrap().name());
    assert_close(
        &assert_portable(&sym),
        &nd_matmul(&an, &an.t().to_owned()),
        1e-12,
    );

    // tensordot and dot of vectors.
    let td = a.tensordot(&b, &[1], &[0]).unwrap();
    assert_ne!(td.name(), p.name());
    assert_close(&assert_portable(&td), &nd_matmul(&an, &bn), 1e-12);
    let vn = data(&[6], 25);
    let v = Array::from_ndarray(vn.clone(), &[3]).unwrap();
    let got = *assert_portable(&v.dot(&v).unwrap()).first().unwrap();
    let vn = vn.into_dimensionality::<Ix1>().unwrap();
    let want = vn.dot(&vn);
    assert!((got - want).abs() < 1e-9, "{got} != {want}");
}

#[test]
fn batched_products_are_portable_with_deterministic_names() {
    let _config = config_unchanged();
    use crate::support::assert_portable;
    let (an, bn) = (data(&[2, 3, 4], 31), data(&[4, 5], 32));
    let a = Array::from_ndarray(an.clone(), &[1, 2, 2]).unwrap();
    let b = Array::from_ndarray(bn.clone(), &[2, 5]).unwrap();
    let p = a.matmul(&b).unwrap();
    assert_eq!(p.shape(), &[2, 3, 5]);
    assert_eq!(p.name(), a.matmul(&b).unwrap().name());
    let v = Array::from_ndarray(data(&[4], 33), &[2]).unwrap();
    assert_ne!(p.name(), a.matmul(&v).unwrap().name());
    assert_close(&assert_portable(&p), &nd_batched_matmul(&an, &bn), 1e-12);
    // Many blocks along k: partial products summed in a tree.
    let (cn, dn) = (data(&[2, 2, 10], 34), data(&[3, 1, 10, 2], 35));
    let c = Array::from_ndarray(cn.clone(), &[1, 2, 1]).unwrap();
    let d = Array::from_ndarray(dn.clone(), &[2, 1, 1, 2]).unwrap();
    let q = c.matmul(&d).unwrap();
    assert_eq!(q.name(), c.matmul(&d).unwrap().name());
    assert_close(&assert_portable(&q), &nd_batched_matmul(&cn, &dn), 1e-12);
}
