//! `reshape` and friends against ndarray's C-order reshape of the whole
//! array.

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, IxDyn, Order};
use rask_array::{Array, Chunks};
use rask_local::Scheduler;

use crate::support::{data, shape_and_chunks};

fn prime_factors(mut n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut p = 2;
    while p * p <= n {
        while n.is_multiple_of(p) {
            out.push(p);
            n /= p;
        }
        p += 1;
    }
    if n > 1 {
        out.push(n);
    }
    out
}

/// A random shape holding `size` elements, with 0 to 4 axes (at least one
/// when `size != 1`).
fn target_shape(size: usize) -> BoxedStrategy<Vec<usize>> {
    if size == 0 {
        return (
            proptest::collection::vec(0..4usize, 1..=4),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(mut s, zero)| {
                let at = zero.index(s.len());
                s[at] = 0;
                s
            })
            .boxed();
    }
    let factors = prime_factors(size);
    let min_axes = usize::from(size != 1);
    (min_axes..=4usize)
        .prop_flat_map(move |ndim| {
            let factors = factors.clone();
            let n = factors.len();
            proptest::collection::vec(0..ndim.max(1), n).prop_map(move |axes| {
                let mut s = vec![1; ndim];
                for (f, a) in factors.iter().zip(axes) {
                    if ndim > 0 {
                        s[a] *= f;
                    }
                }
                s
            })
        })
        .boxed()
}

fn reshape_case() -> impl Strategy<Value = (Vec<usize>, Chunks, Vec<usize>)> {
    shape_and_chunks(4, 6).prop_flat_map(|(shape, chunks)| {
        let size = shape.iter().product();
        (Just(shape), Just(chunks), target_shape(size))
    })
}

fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}

/// A reshape `(w, a0, r_in, z) -> (w, b0, r_out, z)` whose middle axes are
/// one many-to-many group (`r_in != r_out`), with the input's leading group
/// axis cut at random multiples of `step = lcm(r_in, r_out) / r_in` rows
/// and the other axes chunked at random. Also gives `step` and `r_in`.
#[allow(clippy::type_complexity)]
fn many_to_many_case() -> impl Strategy<Value = ((Vec<usize>, Vec<usize>), Chunks, usize, usize)> {
    (
        (2usize..=6, 2usize..=6)
            .prop_filter("rows of different lengths", |(r_in, r_out)| r_in != r_out),
        // At least 2 steps, so neither leading axis has length 1 (which
        // would make a group of its own).
        2usize..=4,
        1usize..=3,
        1usize..=3,
    )
        .prop_flat_map(|((r_in, r_out), steps, w, z)| {
            let step = lcm(r_in, r_out) / r_in;
            let a0 = step * steps;
            let b0 = a0 * r_in / r_out;
            let shape = vec![w, a0, r_in, z];
            let target = vec![w, b0, r_out, z];
            (
                Just((shape, target)),
                crate::support::chunks_for(vec![w, steps, r_in, z]),
                Just(step),
                Just(r_in),
            )
        })
        .prop_map(|(case, units, step, r_in)| {
            // Cuts of the leading group axis in whole steps.
            let mut per_axis = units.as_slices().to_vec();
            per_axis[1] = per_axis[1].iter().map(|c| c * step).collect();
            let chunks = Chunks::new(per_axis, &case.0).unwrap();
            (case, chunks, step, r_in)
        })
}

fn c_reshape(nd: &ArrayD<f64>, shape: &[usize]) -> ArrayD<f64> {
    nd.to_shape((IxDyn(shape), Order::RowMajor))
        .unwrap()
        .into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn reshape_matches_c_order((shape, chunks, target) in reshape_case(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &chunks).unwrap();
        let y = x.reshape(&target).unwrap();
        prop_assert_eq!(y.shape(), target.as_slice());
        prop_assert_eq!(y.chunks().shape(), target.clone());
        let got = y.compute_with(&Scheduler::sync()).unwrap();
        prop_assert_eq!(got, c_reshape(&nd, &target));
    }

    #[test]
    fn reshape_there_and_back((shape, chunks, target) in reshape_case(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &chunks).unwrap();
        let back = x.reshape(&target).unwrap().reshape(&shape).unwrap();
        prop_assert_eq!(back.compute_with(&Scheduler::sync()).unwrap(), nd.clone());
        let flat = x.ravel().compute_with(&Scheduler::sync()).unwrap();
        prop_assert_eq!(flat, c_reshape(&nd, &[nd.len()]));
    }

    #[test]
    fn many_to_many_reshape_keeps_the_leading_axis_chunked(
        (case, chunks, step, r_in) in many_to_many_case(),
        seed in 0u64..1000,
    ) {
        let (shape, target) = case;
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &chunks).unwrap();
        let y = x.reshape(&target).unwrap();
        prop_assert_eq!(y.compute_with(&Scheduler::sync()).unwrap(), c_reshape(&nd, &target));
        // The group is axes 1 and 2 on both sides. Its trailing axes are
        // whole; the leading ones are cut at least where the input's
        // leading axis was cut at a multiple of `step` rows.
        prop_assert_eq!(y.chunks().axis(2), &[target[2]]);
        let cuts = chunks.axis(1).len();
        prop_assert!(y.numblocks()[1] >= cuts, "{:?} from {:?}", y.chunks(), chunks);
        if cuts > 1 {
            prop_assert!(y.nblocks() > 1);
        }
        // Blocks hold whole steps, and no more than the input's largest
        // block allows, unless one step is larger.
        let unit = step * r_in / target[2];
        prop_assert!(y.chunks().axis(1).iter().all(|c| c % unit == 0), "{:?}", y.chunks());
        let others = chunks.axis(0).iter().max().unwrap() * chunks.axis(3).iter().max().unwrap();
        let bound = chunks.max_block_len().max(step * r_in * others);
        prop_assert!(y.chunks().max_block_len() <= bound, "{:?} from {:?}", y.chunks(), chunks);
    }

    #[test]
    fn squeeze_and_expand_dims((shape, chunks) in shape_and_chunks(4, 3), at in any::<prop::sample::Index>(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &chunks).unwrap();
        let squeezed: Vec<usize> = shape.iter().copied().filter(|&n| n != 1).collect();
        let s = x.squeeze();
        prop_assert_eq!(s.shape(), squeezed.as_slice());
        prop_assert_eq!(s.compute_with(&Scheduler::sync()).unwrap(), c_reshape(&nd, &squeezed));
        let axis = at.index(shape.len() + 1);
        let e = x.expand_dims(axis);
        prop_assert_eq!(e.chunks().axis(axis), &[1]);
        let want = nd.clone().insert_axis(rask_array::ndarray::Axis(axis));
        prop_assert_eq!(e.compute_with(&Scheduler::sync()).unwrap(), want);
    }
}

#[test]
fn reshape_rechunks_only_where_needed() {
    let nd = data(&[6, 4], 1);
    let x = Array::from_ndarray(nd.clone(), &[2, 2]).unwrap();
    let y = x.reshape(&[3, 2, 2, 2]).unwrap();
    assert_eq!(
        y.chunks().as_slices(),
        &[vec![1, 1, 1], vec![2], vec![1, 1], vec![2]]
    );
    assert_eq!(y.compute().unwrap(), c_reshape(&nd, &[3, 2, 2, 2]));
    // Merging rows of 4 whole would double the blocks of 2 x 2: the rows
    // are taken one by one instead.
    let z = x.reshape(&[24]).unwrap();
    assert_eq!(z.chunks().axis(0), &[4; 6]);
    assert_eq!(z.compute().unwrap(), c_reshape(&nd, &[24]));
    let w = Array::from_ndarray(nd.clone(), &[2, 4])
        .unwrap()
        .reshape(&[24])
        .unwrap();
    assert_eq!(w.chunks().axis(0), &[8, 8, 8]);
}

#[test]
fn many_to_many_reshape_keeps_blocks_bounded() {
    // (60, 40) -> (40, 60): rows of 40 and of 60 elements meet every 120,
    // so the old leading axis is cut every 3 rows and the new every 2.
    let nd = data(&[60, 40], 2);
    let x = Array::from_ndarray(nd.clone(), &[6, 10]).unwrap();
    let y = x.reshape(&[40, 60]).unwrap();
    assert_eq!(y.chunks().axis(1), &[60]);
    assert!(y.nblocks() > 1, "not one block over the whole group");
    // Input blocks hold 60 elements; the smallest block the group allows
    // is one step, 3 rows of 40, and every block is one step.
    assert_eq!(y.chunks().axis(0), &[2; 20]);
    assert_eq!(y.chunks().max_block_len(), 120);
    assert_eq!(y.compute().unwrap(), c_reshape(&nd, &[40, 60]));
}

#[test]
fn zero_size_and_zero_d() {
    let nd = data(&[0, 4], 1);
    let x = Array::from_ndarray(nd.clone(), &[1, 2]).unwrap();
    let y = x.reshape(&[2, 0, 3]).unwrap();
    assert_eq!(y.compute().unwrap().shape(), &[2, 0, 3]);
    let s = Array::from_ndarray(data(&[], 5), &[] as &[usize]).unwrap();
    let t = s.reshape(&[1, 1, 1]).unwrap();
    assert_eq!(t.compute().unwrap(), c_reshape(&data(&[], 5), &[1, 1, 1]));
    assert_eq!(
        t.reshape(&[]).unwrap().compute_scalar().unwrap(),
        data(&[], 5).sum()
    );
    assert_eq!(t.squeeze().shape(), &[] as &[usize]);
    assert_eq!(s.ravel().shape(), &[1]);
    assert_eq!(s.expand_dims(0).shape(), &[1]);
}

#[test]
fn same_shape_is_the_same_array() {
    let x = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    assert_eq!(x.reshape(&[3, 4]).unwrap().name(), x.name());
}

#[test]
fn bad_shapes_and_axes_are_named() {
    let x = Array::<f64>::ones(&[3, 1, 4], &[2, 1, 2]).unwrap();
    let err = x.reshape(&[5, 2]).unwrap_err().to_string();
    assert!(
        err.contains("(3, 1, 4)") && err.contains("(5, 2)") && err.contains("12 elements"),
        "{err}"
    );
    let err = x.reshape(&[usize::MAX, 2]).unwrap_err().to_string();
    assert!(err.contains("more than fit in an index"), "{err}");
    let err = x.squeeze_axes(&[0]).compute().unwrap_err().to_string();
    assert!(err.contains("axis 0") && err.contains("length 3"), "{err}");
    let err = x.squeeze_axes(&[3]).compute().unwrap_err().to_string();
    assert!(err.contains("axis 3") && err.contains("(3, 1, 4)"), "{err}");
    let err = x.squeeze_axes(&[1, 1]).compute().unwrap_err().to_string();
    assert!(err.contains("twice"), "{err}");
    assert_eq!(x.squeeze_axes(&[1]).shape(), &[3, 4]);
    let err = x.expand_dims(4).compute().unwrap_err().to_string();
    assert!(err.contains("axis 4") && err.contains("(3, 1, 4)"), "{err}");
}

#[test]
fn transposes_are_portable_with_deterministic_names() {
    let data = crate::support::data(&[7, 5, 3], 1);
    let x = Array::from_ndarray(data.clone(), &[3, 2, 3]).unwrap();
    let y = x.permute_axes(&[2, 0, 1]);
    assert_eq!(y.name(), x.permute_axes(&[2, 0, 1]).name());
    assert_ne!(y.name(), x.permute_axes(&[1, 0, 2]).name());
    let got = crate::support::assert_portable(&y);
    assert_eq!(got, data.view().permuted_axes(IxDyn(&[2, 0, 1])).to_owned());
}

#[test]
fn reshapes_are_portable_with_deterministic_names() {
    let nd = data(&[6, 4, 5], 2);
    let x = Array::from_ndarray(nd.clone(), &[4, 3, 5]).unwrap();
    let y = x.reshape(&[4, 6, 5]).unwrap();
    assert_eq!(y.name(), x.reshape(&[4, 6, 5]).unwrap().name());
    assert_ne!(y.name(), x.reshape(&[24, 5]).unwrap().name());
    let got = crate::support::assert_portable(&y);
    assert_eq!(
        got,
        nd.to_shape((IxDyn(&[4, 6, 5]), Order::RowMajor))
            .unwrap()
            .into_owned()
    );
    let flat = x.ravel();
    assert_eq!(crate::support::assert_portable(&flat).len(), 120);
    let stacked = x.expand_dims(1).squeeze();
    assert_eq!(crate::support::assert_portable(&stacked), nd);
}

#[test]
fn empty_reshapes_are_portable() {
    let x = Array::from_ndarray(ArrayD::<i32>::zeros(IxDyn(&[0, 6])), &[1, 4]).unwrap();
    let y = x.reshape(&[3, 0, 2]).unwrap();
    assert_eq!(y.name(), x.reshape(&[3, 0, 2]).unwrap().name());
    assert_ne!(y.name(), x.reshape(&[2, 0, 3]).unwrap().name());
    assert_eq!(crate::support::assert_portable(&y).shape(), &[3, 0, 2]);
}
