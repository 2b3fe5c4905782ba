//! map_blocks, map_blocks_with and blockwise against ndarray on the whole
//! array.

use proptest::prelude::*;
use rask_array::chunks::refine;
use rask_array::ndarray::{ArrayD, Axis, Ix2, IxDyn};
use rask_array::{Array, Chunks, blockwise};
use rask_local::Scheduler;

use crate::support::{assert_close, chunks_for, data, matmul_case, shape_and_chunks};

fn sync() -> Scheduler {
    Scheduler::sync()
}

fn dot(blocks: &[ArrayD<f64>]) -> ArrayD<f64> {
    let x = blocks[0].view().into_dimensionality::<Ix2>().unwrap();
    let y = blocks[1].view().into_dimensionality::<Ix2>().unwrap();
    x.dot(&y).into_dyn()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn map_blocks_matches_the_whole_array((shape, chunks) in shape_and_chunks(3, 6), seed in any::<u64>()) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), chunks).unwrap();
        let y = (&x * 2.0).map_blocks(|b| b.mapv(|v| v.abs().sqrt())) + 1.0;
        let got = y.compute_with(&sync()).unwrap();
        assert_close(&got, &nd.mapv(|v| (2.0 * v).abs().sqrt() + 1.0), 1e-12);
    }

    #[test]
    fn blockwise_matmul_matches_ndarray((m, k, n, ca, cb) in matmul_case(9), seed in any::<u64>()) {
        let an = data(&[m, k], seed);
        let bn = data(&[k, n], seed ^ 1);
        let a = Array::from_ndarray(an.clone(), ca).unwrap();
        let b = Array::from_ndarray(bn.clone(), cb).unwrap();
        let p = blockwise("ik", &[(&a, "ij"), (&b, "jk")], dot).unwrap();
        prop_assert_eq!(p.shape(), &[m, n]);
        let want = an.into_dimensionality::<Ix2>().unwrap().dot(&bn.into_dimensionality::<Ix2>().unwrap());
        assert_close(&p.compute_with(&sync()).unwrap(), &want.into_dyn(), 1e-10);
    }

    #[test]
    fn blockwise_diagonal_blocks_give_the_diagonal(
        (n, chunks) in (1usize..=9).prop_flat_map(|n| (Just(n), chunks_for(vec![n, n]))),
        seed in any::<u64>(),
    ) {
        // Rows and columns are cut independently: "ii" refines both to the
        // common boundaries, then reads the diagonal blocks.
        let nd = data(&[n, n], seed);
        let x = Array::from_ndarray(nd.clone(), chunks.clone()).unwrap();
        let d = blockwise("i", &[(&x, "ii")], |b| {
            b[0].view().into_dimensionality::<Ix2>().unwrap().diag().to_owned().into_dyn()
        }).unwrap();
        let common = refine(chunks.axis(0), chunks.axis(1));
        prop_assert_eq!(d.chunks().axis(0), common.as_slice());
        let want = nd.view().into_dimensionality::<Ix2>().unwrap().diag().to_owned().into_dyn();
        prop_assert_eq!(d.compute_with(&sync()).unwrap(), want);
    }

    #[test]
    fn blockwise_pairs_blocks_with_diagonal_blocks(
        (m, n, ca, cb) in (1usize..=6, 1usize..=7).prop_flat_map(|(m, n)| {
            (Just(m), Just(n), chunks_for(vec![m, n]), chunks_for(vec![n, n]))
        }),
        seed in any::<u64>(),
    ) {
        // "ij,jj->ij": block (i, j) of a with the diagonal block (j, j) of
        // b; adding b's block diagonal to every row gives a + diag(b).
        let an = data(&[m, n], seed);
        let bn = data(&[n, n], seed ^ 5);
        let a = Array::from_ndarray(an.clone(), ca).unwrap();
        let b = Array::from_ndarray(bn.clone(), cb).unwrap();
        let s = blockwise("ij", &[(&a, "ij"), (&b, "jj")], |blocks| {
            let d = blocks[1].view().into_dimensionality::<Ix2>().unwrap().diag().to_owned();
            &blocks[0] + &d.into_dyn()
        }).unwrap();
        let diag = bn.view().into_dimensionality::<Ix2>().unwrap().diag().to_owned();
        let want = &an + &diag.into_dyn();
        assert_close(&s.compute_with(&sync()).unwrap(), &want, 1e-12);
    }

    #[test]
    fn blockwise_outer_product_and_transpose((len, chunks) in (1usize..=7).prop_flat_map(|n| (Just(n), chunks_for(vec![n]))), seed in any::<u64>()) {
        let shape = vec![len];
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), chunks).unwrap();
        let outer = blockwise("ij", &[(&x, "i"), (&x, "j")], |b| {
            let (u, v) = (&b[0], &b[1]);
            ArrayD::from_shape_fn(IxDyn(&[u.len(), v.len()]), |i| u[[i[0]]] * v[[i[1]]])
        }).unwrap();
        let got = outer.compute_with(&sync()).unwrap();
        let want = ArrayD::from_shape_fn(IxDyn(&[shape[0], shape[0]]), |i| nd[[i[0]]] * nd[[i[1]]]);
        assert_close(&got, &want, 1e-12);
        // A 2-d transpose by index letters.
        let m = Array::from_ndarray(ArrayD::from_shape_fn(IxDyn(&[shape[0], 3]), |i| (i[0] * 3 + i[1]) as f64), &[2, 2]).unwrap();
        let t = blockwise("ji", &[(&m, "ij")], |b| b[0].t().to_owned()).unwrap();
        prop_assert_eq!(t.compute_with(&sync()).unwrap(), m.compute().unwrap().t().to_owned());
    }
}

#[test]
fn map_blocks_sqrt_contract() {
    let x = Array::<f64>::arange(0.0, 16.0, 1.0, &[5]).unwrap();
    let y = x.map_blocks(|b| b.mapv(f64::sqrt));
    assert_eq!(y.chunks(), x.chunks());
    let got = y.compute_with(&sync()).unwrap();
    assert_eq!(got[[9]], 3.0);
    assert_eq!(got[[15]], 15f64.sqrt());
}

#[test]
fn map_blocks_can_change_the_dtype() {
    let x = Array::<f64>::linspace(0.0, 1.0, 5, &[2]).unwrap();
    let y: Array<bool> = x.map_blocks(|b| b.mapv(|v| v > 0.5));
    assert_eq!(
        y.compute_with(&sync()).unwrap().into_raw_vec_and_offset().0,
        vec![false, false, false, true, true]
    );
}

#[test]
fn map_blocks_wrong_shape_names_the_block_and_both_shapes() {
    let nd = ArrayD::from_shape_fn(IxDyn(&[5, 4]), |i| i[0] as f64);
    let x = Array::from_ndarray(nd, &[2, 4]).unwrap();
    // Block (1, 0), rows 2 and 3, drops a row.
    let y = x.map_blocks(|b| {
        if b[[0, 0]] == 2.0 {
            b.slice_axis(Axis(0), (0..1).into()).to_owned()
        } else {
            b.clone()
        }
    });
    let err = y.compute_with(&sync()).unwrap_err().to_string();
    assert!(err.contains("map_blocks"), "{err}");
    assert!(err.contains("block [1, 0]"), "{err}");
    assert!(err.contains("(1, 4)") && err.contains("(2, 4)"), "{err}");
}

#[test]
fn map_blocks_of_an_invalid_array_keeps_its_error() {
    let a = Array::<f64>::ones(&[3], &[2]).unwrap();
    let b = Array::<f64>::ones(&[4], &[2]).unwrap();
    let err = (&a + &b)
        .map_blocks(|b| b.clone())
        .compute_with(&sync())
        .unwrap_err()
        .to_string();
    assert!(err.contains("(3,) (4,)"), "{err}");
}

#[test]
fn map_blocks_with_sees_block_info_and_changes_shapes() {
    let x = Array::<i64>::arange(0, 10, 1, &[4]).unwrap();
    // Each block -> (start, len) pair.
    let y = x.map_blocks_with(&[2], |b, info| {
        ArrayD::from_shape_vec(IxDyn(&[2]), vec![info.start[0] as i64, b.len() as i64]).unwrap()
    });
    assert_eq!(y.shape(), &[6]);
    assert_eq!(
        y.compute_with(&sync()).unwrap().into_raw_vec_and_offset().0,
        vec![0, 4, 4, 4, 8, 2]
    );
    // Explicit uneven chunks: keep the first element of each block, and the
    // first two of the last.
    let c = Chunks::new(vec![vec![1, 1, 2]], &[4]).unwrap();
    let z = x.map_blocks_with(c, |b, info| {
        let keep = if info.index[0] == info.numblocks[0] - 1 {
            2
        } else {
            1
        };
        b.slice_axis(Axis(0), (0..keep).into()).to_owned()
    });
    assert_eq!(
        z.compute_with(&sync()).unwrap().into_raw_vec_and_offset().0,
        vec![0, 4, 8, 9]
    );
}

#[test]
fn map_blocks_with_checks_declared_chunks() {
    let x = Array::<f64>::ones(&[6, 4], &[2, 4]).unwrap();
    let err = x
        .map_blocks_with(vec![vec![1, 1], vec![4]], |b, _| b.clone())
        .compute_with(&sync())
        .unwrap_err()
        .to_string();
    assert!(err.contains("(2, 1)") && err.contains("(3, 1)"), "{err}");
    assert!(err.contains("(6, 4)"), "{err}");
    let err = x
        .map_blocks_with(&[2], |b, _| b.clone())
        .compute_with(&sync())
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 block sizes given"), "{err}");
    // A block that differs from what was declared.
    let err = x
        .map_blocks_with(&[1, 4], |b, _| b.clone())
        .compute_with(&sync())
        .unwrap_err()
        .to_string();
    assert!(err.contains("map_blocks_with: block [0, 0]"), "{err}");
    assert!(err.contains("(2, 4)") && err.contains("(1, 4)"), "{err}");
}

#[test]
fn blockwise_unifies_chunks_and_gathers_contracted_blocks() {
    let a = Array::from_ndarray(data(&[5, 7], 1), &[2, 3]).unwrap();
    let b = Array::from_ndarray(data(&[7, 4], 2), &[4, 3]).unwrap();
    let p = blockwise("ik", &[(&a, "ij"), (&b, "jk")], |blocks| {
        assert_eq!(blocks[0].shape()[1], 7, "the contracted axis arrives whole");
        dot(blocks)
    })
    .unwrap();
    assert_eq!(p.chunks().as_slices(), &[vec![2, 2, 1], vec![3, 1]]);
    let want = data(&[5, 7], 1)
        .into_dimensionality::<Ix2>()
        .unwrap()
        .dot(&data(&[7, 4], 2).into_dimensionality::<Ix2>().unwrap());
    assert_close(&p.compute().unwrap(), &want.into_dyn(), 1e-12);
    // Elementwise with different chunks: refined to the common boundaries.
    let x = Array::from_ndarray(data(&[9], 3), &[4]).unwrap();
    let y = Array::from_ndarray(data(&[9], 4), &[3]).unwrap();
    let s = blockwise("i", &[(&x, "i"), (&y, "i")], |b| &b[0] + &b[1]).unwrap();
    assert_eq!(s.chunks().axis(0), &[3, 1, 2, 2, 1]);
    assert_close(
        &s.compute_with(&sync()).unwrap(),
        &(data(&[9], 3) + data(&[9], 4)),
        1e-12,
    );
    // A full contraction to 0-d: the sum of all elements.
    let total = blockwise("", &[(&x, "i")], |b| {
        ArrayD::from_elem(IxDyn(&[]), b[0].sum())
    })
    .unwrap();
    assert!((total.compute_scalar().unwrap() - data(&[9], 3).sum()).abs() < 1e-12);
}

#[test]
fn blockwise_repeated_letters_read_diagonal_blocks() {
    // a @ blockdiag(b): block (i, j) of the result is a's block (i, j)
    // times b's diagonal block (j, j), on the unified chunks of j.
    let an = data(&[4, 6], 1);
    let bn = data(&[6, 6], 2);
    let a = Array::from_ndarray(an.clone(), &[3, 4]).unwrap();
    let b = Array::from_ndarray(
        bn.clone(),
        Chunks::new(vec![vec![3, 3], vec![6]], &[6, 6]).unwrap(),
    )
    .unwrap();
    let p = blockwise("ij", &[(&a, "ij"), (&b, "jj")], dot).unwrap();
    assert_eq!(p.chunks().as_slices(), &[vec![3, 1], vec![3, 1, 2]]);
    let mut block_diag = ArrayD::<f64>::zeros(IxDyn(&[6, 6]));
    for (lo, hi) in [(0, 3), (3, 4), (4, 6)] {
        for i in lo..hi {
            for j in lo..hi {
                block_diag[[i, j]] = bn[[i, j]];
            }
        }
    }
    let want = an
        .into_dimensionality::<Ix2>()
        .unwrap()
        .dot(&block_diag.into_dimensionality::<Ix2>().unwrap());
    assert_close(&p.compute_with(&sync()).unwrap(), &want.into_dyn(), 1e-12);
    // Three axes, two of them paired: "iij" -> "ij" keeps block (i, i, j).
    let cn = ArrayD::from_shape_fn(IxDyn(&[3, 3, 2]), |i| {
        (i[0] * 100 + i[1] * 10 + i[2]) as f64
    });
    let c = Array::from_ndarray(cn.clone(), &[2, 1, 1]).unwrap();
    let d = blockwise("ij", &[(&c, "iij")], |blocks| {
        let b = &blocks[0];
        ArrayD::from_shape_fn(IxDyn(&[b.shape()[0], b.shape()[2]]), |i| {
            b[[i[0], i[0], i[1]]]
        })
    })
    .unwrap();
    let want = ArrayD::from_shape_fn(IxDyn(&[3, 2]), |i| cn[[i[0], i[0], i[1]]]);
    assert_eq!(d.compute_with(&sync()).unwrap(), want);
}

#[test]
fn blockwise_repeated_contracted_letter_gathers_the_whole_axes() {
    // As in Dask, "ii" -> "" runs over all blocks on both axes: f gets the
    // whole matrix, here to take its trace.
    let nd = data(&[5, 5], 7);
    let x = Array::from_ndarray(nd.clone(), &[2, 3]).unwrap();
    let t = blockwise("", &[(&x, "ii")], |b| {
        assert_eq!(b[0].shape(), &[5, 5], "both axes arrive whole");
        let m = b[0].view().into_dimensionality::<Ix2>().unwrap();
        ArrayD::from_elem(IxDyn(&[]), m.diag().sum())
    })
    .unwrap();
    let want = nd.into_dimensionality::<Ix2>().unwrap().diag().sum();
    assert!((t.compute_with(&sync()).unwrap()[[]] - want).abs() < 1e-12);
}

#[test]
fn blockwise_rejects_bad_indices() {
    let a = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let b = Array::<f64>::ones(&[5, 6], &[2, 2]).unwrap();
    let id = |b: &[ArrayD<f64>]| b[0].clone();
    let err = blockwise("ij", &[(&a, "i")], id).unwrap_err().to_string();
    assert!(
        err.contains("\"i\"") && err.contains("(3, 4)") && err.contains("2 axes"),
        "{err}"
    );
    let err = blockwise("ii", &[(&a, "ij")], id).unwrap_err().to_string();
    assert!(err.contains("twice in the output index"), "{err}");
    let err = blockwise("ik", &[(&a, "ij")], id).unwrap_err().to_string();
    assert!(err.contains("'k'") && err.contains("no input"), "{err}");
    let err = blockwise("ik", &[(&a, "ij"), (&b, "jk")], id)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'j'") && err.contains("(3, 4)") && err.contains("(5, 6)"),
        "{err}"
    );
    // A repeated letter over axes of different lengths.
    let err = blockwise("i", &[(&a, "ii")], id).unwrap_err().to_string();
    assert!(
        err.contains("letter 'i' has length 3 in axis 0 of input 0 of shape (3, 4), but 4 in axis 1 of input 0"),
        "{err}"
    );
}

#[test]
fn blockwise_wrong_block_shape_fails_naming_the_block() {
    let a = Array::<f64>::ones(&[4, 4], &[2, 2]).unwrap();
    let p = blockwise("i", &[(&a, "ij")], |b| b[0].sum_axis(Axis(0))).unwrap();
    let err = p.compute_with(&sync()).unwrap_err().to_string();
    assert!(err.contains("blockwise: block ["), "{err}");
    assert!(err.contains("(4,)") && err.contains("(2,)"), "{err}");
}

#[test]
fn map_blocks_fuses_with_elementwise_neighbours() {
    use rask_core::{Collection, GraphBuilder, Plan, PlanOptions};
    let x = Array::<f64>::arange(0.0, 12.0, 1.0, &[4]).unwrap();
    let y = (&x * 2.0).map_blocks(|b| b.mapv(f64::sqrt)) + 1.0;
    let mut builder = GraphBuilder::new();
    let mut outputs = Vec::new();
    y.add_to_graph(&mut builder, &mut outputs);
    let plan = Plan::new(builder, &outputs, PlanOptions::default()).unwrap();
    assert_eq!(plan.len(), y.nblocks(), "one fused task per block");
}
