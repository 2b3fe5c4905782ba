//! Cumulative sums and products against a sequential scan of the whole
//! array.

use proptest::prelude::*;
use rask_array::Array;
use rask_array::ndarray::{ArrayD, Axis, IxDyn};
use rask_local::Scheduler;

use crate::support::{assert_close, chunks_for, data, nonempty_shape, shape};

/// The scan of every lane along `axis`, one element after another.
fn scan<T: Copy>(a: &ArrayD<T>, axis: usize, f: impl Fn(T, T) -> T) -> ArrayD<T> {
    let mut out = a.clone();
    for mut lane in out.lanes_mut(Axis(axis)) {
        let mut acc: Option<T> = None;
        for x in lane.iter_mut() {
            let v = match acc {
                None => *x,
                Some(p) => f(p, *x),
            };
            *x = v;
            acc = Some(v);
        }
    }
    out
}

/// A shape with at least one axis, a chunking, an axis and a seed.
fn case() -> impl Strategy<Value = (ArrayD<f64>, rask_array::Chunks, usize)> {
    (
        shape(3, 7).prop_filter("at least one axis", |s| !s.is_empty()),
        any::<u64>(),
    )
        .prop_flat_map(|(s, seed)| {
            let ndim = s.len();
            (Just(data(&s, seed)), chunks_for(s), 0..ndim)
        })
}

fn sync() -> Scheduler {
    Scheduler::sync()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn cumsum_f64_matches_a_sequential_scan((a, chunks, axis) in case()) {
        let x = Array::from_ndarray(a.clone(), chunks).unwrap();
        let got = x.cumsum(Axis(axis)).compute_with(&sync()).unwrap();
        assert_close(&got, &scan(&a, axis, |p, q| p + q), 1e-9);
    }

    #[test]
    fn cumprod_f64_matches_a_sequential_scan((a, chunks, axis) in case()) {
        // Values in [-2, 2) keep products within range.
        let a = a.mapv(|v| v / 5.0);
        let x = Array::from_ndarray(a.clone(), chunks).unwrap();
        let got = x.cumprod(Axis(axis)).compute_with(&sync()).unwrap();
        assert_close(&got, &scan(&a, axis, |p, q| p * q), 1e-9);
    }

    #[test]
    fn integer_scans_are_exact_and_wrap((a, chunks, axis) in case()) {
        // int8 scans in int64, as NumPy's; int64 wraps around, so must we.
        let a = a.mapv(|v| (v * 12.0) as i8);
        let x = Array::from_ndarray(a.clone(), chunks).unwrap();
        let wide = a.mapv(i64::from);
        let s = x.cumsum(Axis(axis)).compute_with(&sync()).unwrap();
        prop_assert_eq!(s, scan(&wide, axis, i64::wrapping_add));
        let p = x.cumprod(Axis(axis)).compute_with(&sync()).unwrap();
        prop_assert_eq!(p, scan(&wide, axis, i64::wrapping_mul));
        let y = Array::from_ndarray(wide.clone(), x.chunks()).unwrap();
        prop_assert_eq!(y.cumsum(Axis(axis)).compute_with(&sync()).unwrap(), scan(&wide, axis, |p, q| p + q));
    }

    #[test]
    fn nan_scans_treat_nan_as_the_identity((a, chunks, axis) in case()) {
        let a = a.mapv(|v| if v > 5.0 { f64::NAN } else { v / 5.0 });
        let x = Array::from_ndarray(a.clone(), chunks).unwrap();
        let zeroed = a.mapv(|v| if v.is_nan() { 0.0 } else { v });
        let oned = a.mapv(|v| if v.is_nan() { 1.0 } else { v });
        let s = x.nancumsum(Axis(axis)).compute_with(&sync()).unwrap();
        assert_close(&s, &scan(&zeroed, axis, |p, q| p + q), 1e-9);
        let p = x.nancumprod(Axis(axis)).compute_with(&sync()).unwrap();
        assert_close(&p, &scan(&oned, axis, |p, q| p * q), 1e-9);
        // The plain scans propagate NaN.
        let plain = x.cumsum(Axis(axis)).compute_with(&sync()).unwrap();
        assert_close(&plain, &scan(&a, axis, |p, q| p + q), 1e-9);
    }

    #[test]
    fn scans_fuse_with_elementwise_operations(s in nonempty_shape(2, 6), seed in any::<u64>()) {
        let a = data(&s, seed);
        let x = Array::from_ndarray(a.clone(), vec![2; s.len()]).unwrap();
        let axis = s.len() - 1;
        let got = ((&x * 2.0).cumsum(Axis(axis)) + 1.0).compute_with(&sync()).unwrap();
        let want = scan(&a.mapv(|v| v * 2.0), axis, |p, q| p + q).mapv(|v| v + 1.0);
        assert_close(&got, &want, 1e-9);
    }
}

#[test]
fn many_blocks_along_the_axis_on_threads() {
    let a = data(&[300, 3], 9);
    let x = Array::from_ndarray(a.clone(), &[1, 2]).unwrap();
    let threads = Scheduler::threads(2).unwrap();
    let got = x.cumsum(Axis(0)).compute_with(&threads).unwrap();
    assert_close(&got, &scan(&a, 0, |p, q| p + q), 1e-9);
}

#[test]
fn zero_length_axes() {
    for shape in [[0, 3], [3, 0]] {
        let x = Array::<f64>::ones(&shape, &[2, 2]).unwrap();
        for axis in 0..2 {
            let got = x.cumsum(Axis(axis)).compute_with(&sync()).unwrap();
            assert_eq!(got.shape(), &shape);
            let got = x.cumprod(Axis(axis)).compute_with(&sync()).unwrap();
            assert_eq!(got.shape(), &shape);
        }
    }
    let x = Array::<i32>::ones(&[3, 0, 4], &[1, 1, 1]).unwrap();
    assert_eq!(
        x.cumsum(Axis(2)).compute_with(&sync()).unwrap(),
        ArrayD::<i64>::zeros(IxDyn(&[3, 0, 4]))
    );
}

#[test]
fn axis_out_of_range_names_the_axis_and_shape() {
    let x = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let err = x.cumsum(Axis(2)).compute().unwrap_err().to_string();
    assert!(
        err.contains("cumsum") && err.contains("axis 2") && err.contains("(3, 4)"),
        "{err}"
    );
    let err = x.nancumprod(Axis(5)).compute().unwrap_err().to_string();
    assert!(
        err.contains("nancumprod") && err.contains("axis 5"),
        "{err}"
    );
    let scalar = Array::<f64>::ones(&[], &[] as &[usize]).unwrap();
    let err = scalar.cumsum(Axis(0)).compute().unwrap_err().to_string();
    assert!(err.contains("()"), "{err}");
}

#[test]
fn invalid_arrays_propagate() {
    let x = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let bad = x.cumsum(Axis(7));
    let err = (bad.cumprod(Axis(0)) + 1.0)
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("axis 7"), "{err}");
}

#[test]
fn scans_are_portable_with_deterministic_names() {
    let a = data(&[7, 5], 9);
    let x = Array::from_ndarray(a.clone(), &[3, 2]).unwrap();
    for axis in [0, 1] {
        let y = x.cumsum(Axis(axis));
        assert_eq!(y.name(), x.cumsum(Axis(axis)).name());
        let got = crate::support::assert_portable(&y);
        assert_close(&got, &scan(&a, axis, |p, v| p + v), 1e-12);
    }
    assert_ne!(x.cumsum(Axis(0)).name(), x.cumsum(Axis(1)).name());
    assert_ne!(x.cumsum(Axis(0)).name(), x.cumprod(Axis(0)).name());
    assert_ne!(x.cumsum(Axis(0)).name(), x.nancumsum(Axis(0)).name());

    let mut with_nan = a.clone();
    with_nan[[2, 1]] = f64::NAN;
    with_nan[[4, 3]] = f64::NAN;
    let xn = Array::from_ndarray(with_nan.clone(), &[2, 3]).unwrap();
    let no_nan = with_nan.mapv(|v| if v.is_nan() { 1.0 } else { v });
    let got = crate::support::assert_portable(&xn.nancumprod(Axis(0)));
    assert_close(&got, &scan(&no_nan, 0, |p, v| p * v), 1e-12);

    // int8 scans in int64 (wrapping there), and a single block along the
    // axis is one layer.
    let ints = ArrayD::from_shape_fn(IxDyn(&[6, 3]), |i| (i[0] * 3 + i[1]) as i8 + 100);
    let xi = Array::from_ndarray(ints.clone(), &[4, 3]).unwrap();
    for axis in [0, 1] {
        let got = crate::support::assert_portable(&xi.cumprod(Axis(axis)));
        assert_eq!(got, scan(&ints.mapv(i64::from), axis, i64::wrapping_mul));
    }
}
