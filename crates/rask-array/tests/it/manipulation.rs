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
        while n % p == 0 {
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
        let y = x.reshape(&target);
        prop_assert_eq!(y.shape(), target.as_slice());
        prop_assert_eq!(y.chunks().shape(), target.clone());
        let got = y.compute_with(&Scheduler::sync()).unwrap();
        prop_assert_eq!(got, c_reshape(&nd, &target));
    }

    #[test]
    fn reshape_there_and_back((shape, chunks, target) in reshape_case(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &chunks).unwrap();
        let back = x.reshape(&target).reshape(&shape);
        prop_assert_eq!(back.compute_with(&Scheduler::sync()).unwrap(), nd.clone());
        let flat = x.ravel().compute_with(&Scheduler::sync()).unwrap();
        prop_assert_eq!(flat, c_reshape(&nd, &[nd.len()]));
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
    let y = x.reshape(&[3, 2, 2, 2]);
    assert_eq!(
        y.chunks().as_slices(),
        &[vec![1, 1, 1], vec![2], vec![1, 1], vec![2]]
    );
    assert_eq!(y.compute().unwrap(), c_reshape(&nd, &[3, 2, 2, 2]));
    let z = x.reshape(&[24]);
    assert_eq!(z.chunks().axis(0), &[8, 8, 8]);
    assert_eq!(z.compute().unwrap(), c_reshape(&nd, &[24]));
}

#[test]
fn zero_size_and_zero_d() {
    let nd = data(&[0, 4], 1);
    let x = Array::from_ndarray(nd.clone(), &[1, 2]).unwrap();
    let y = x.reshape(&[2, 0, 3]);
    assert_eq!(y.compute().unwrap().shape(), &[2, 0, 3]);
    let s = Array::from_ndarray(data(&[], 5), &[] as &[usize]).unwrap();
    let t = s.reshape(&[1, 1, 1]);
    assert_eq!(t.compute().unwrap(), c_reshape(&data(&[], 5), &[1, 1, 1]));
    assert_eq!(t.reshape(&[]).compute_scalar().unwrap(), data(&[], 5).sum());
    assert_eq!(t.squeeze().shape(), &[] as &[usize]);
    assert_eq!(s.ravel().shape(), &[1]);
    assert_eq!(s.expand_dims(0).shape(), &[1]);
}

#[test]
fn same_shape_is_the_same_array() {
    let x = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    assert_eq!(x.reshape(&[3, 4]).name(), x.name());
}

#[test]
fn bad_shapes_and_axes_are_named() {
    let x = Array::<f64>::ones(&[3, 1, 4], &[2, 1, 2]).unwrap();
    let err = x.reshape(&[5, 2]).compute().unwrap_err().to_string();
    assert!(
        err.contains("(3, 1, 4)") && err.contains("(5, 2)") && err.contains("12 elements"),
        "{err}"
    );
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
