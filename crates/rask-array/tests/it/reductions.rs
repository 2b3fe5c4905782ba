//! Reductions against the same reduction of the whole array: each output
//! element is computed from its lane (the elements that reduce to it) in C
//! order, and single-axis results are also checked against ndarray's own
//! `sum_axis`, `var_axis`, ... .

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, Axis, IxDyn};
use rask_array::{Array, Chunks};
use rask_local::Scheduler;

use crate::support::{assert_close, chunks_for, data, override_config, shape};

fn sync() -> Scheduler {
    Scheduler::sync()
}

/// `f` of every lane over `axes` (elements in C order), shaped as NumPy's
/// reduction with `keepdims`.
fn by_lanes<T: Copy, U>(
    a: &ArrayD<T>,
    axes: &[usize],
    keepdims: bool,
    f: impl Fn(&[T]) -> U,
) -> ArrayD<U> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    let keep: Vec<usize> = (0..a.ndim()).filter(|x| !sorted.contains(x)).collect();
    let order: Vec<usize> = keep.iter().chain(&sorted).copied().collect();
    let elems: Vec<T> = a
        .view()
        .permuted_axes(IxDyn(&order))
        .iter()
        .copied()
        .collect();
    let lane: usize = sorted.iter().map(|&x| a.shape()[x]).product();
    let out_shape: Vec<usize> = keep.iter().map(|&x| a.shape()[x]).collect();
    let n_out: usize = out_shape.iter().product();
    let vals: Vec<U> = (0..n_out)
        .map(|i| f(&elems[i * lane..(i + 1) * lane]))
        .collect();
    let mut out = ArrayD::from_shape_vec(IxDyn(&out_shape), vals).unwrap();
    if keepdims {
        for &x in &sorted {
            out = out.insert_axis(Axis(x));
        }
    }
    out
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn var(xs: &[f64], ddof: f64) -> f64 {
    let m = mean(xs);
    let m2: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    m2 / (xs.len() as f64 - ddof).max(0.0)
}

fn non_nan(xs: &[f64]) -> Vec<f64> {
    xs.iter().copied().filter(|x| !x.is_nan()).collect()
}

/// NumPy's min: NaN if any element is NaN.
fn min(xs: &[f64]) -> f64 {
    xs.iter()
        .copied()
        .reduce(|a, b| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        })
        .unwrap()
}

fn max(xs: &[f64]) -> f64 {
    -min(&xs.iter().map(|x| -x).collect::<Vec<_>>())
}

/// Index of the first smallest (or largest) element; NaN wins unless
/// skipped.
fn arg(xs: &[f64], largest: bool, skip_nan: bool) -> Option<i64> {
    let mut best: Option<usize> = None;
    for (i, &x) in xs.iter().enumerate() {
        if x.is_nan() {
            if skip_nan {
                continue;
            }
            return Some(i as i64);
        }
        let better = match best {
            None => true,
            Some(b) => (largest && x > xs[b]) || (!largest && x < xs[b]),
        };
        if better {
            best = Some(i);
        }
    }
    best.map(|b| b as i64)
}

/// An array of multiples of 1/16 (so sums are exact in any order), a
/// random chunking, a random subset of its axes and `keepdims`.
#[derive(Debug)]
struct Case {
    a: ArrayD<f64>,
    chunks: Chunks,
    axes: Vec<usize>,
    keepdims: bool,
}

impl Case {
    fn array(&self) -> Array<f64> {
        Array::from_ndarray(self.a.clone(), self.chunks.clone()).unwrap()
    }

    fn of<T: rask_array::Element>(&self, a: ArrayD<T>) -> Array<T> {
        Array::from_ndarray(a, self.chunks.clone()).unwrap()
    }

    /// Whether some reduced axis is empty, so lanes are empty.
    fn empty_lanes(&self) -> bool {
        self.axes.iter().any(|&x| self.a.shape()[x] == 0)
    }
}

fn case(max_ndim: usize, max_len: usize) -> impl Strategy<Value = Case> {
    (shape(max_ndim, max_len), any::<u64>())
        .prop_flat_map(|(s, seed)| {
            let ndim = s.len();
            let a = data(&s, seed).mapv(|v| (v * 16.0).round() / 16.0);
            (
                Just(a),
                chunks_for(s),
                proptest::collection::vec(any::<bool>(), ndim),
                any::<bool>(),
                // Axes in a random order: reductions sort them.
                any::<bool>(),
            )
        })
        .prop_map(|(a, chunks, pick, keepdims, shuffle)| {
            let mut axes: Vec<usize> = (0..a.ndim()).filter(|&x| pick[x]).collect();
            if shuffle {
                axes.reverse();
            }
            Case {
                a,
                chunks,
                axes,
                keepdims,
            }
        })
}

/// Sets a fraction of the elements to NaN.
fn with_nans(a: &ArrayD<f64>) -> ArrayD<f64> {
    a.mapv(|v| if v > 4.0 { f64::NAN } else { v })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sums_and_products(c in case(3, 5)) {
        let (axes, kd) = (&c.axes, c.keepdims);
        let x = c.array();
        let got = x.sum_axes(axes, kd).compute_with(&sync()).unwrap();
        assert_close(&got, &by_lanes(&c.a, axes, kd, |l| l.iter().sum()), 1e-9);
        // Integers are exact; products wrap around.
        let ints = c.a.mapv(|v| (v * 16.0) as i64);
        let xi = c.of(ints.clone());
        let got = xi.sum_axes(axes, kd).compute_with(&sync()).unwrap();
        prop_assert_eq!(got, by_lanes(&ints, axes, kd, |l| l.iter().sum::<i64>()));
        let got = xi.prod_axes(axes, kd).compute_with(&sync()).unwrap();
        let want = by_lanes(&ints, axes, kd, |l| l.iter().fold(1i64, |p, &q| p.wrapping_mul(q)));
        prop_assert_eq!(got, want);
        let small = c.a.mapv(|v| v / 8.0);
        let got = c.of(small.clone()).prod_axes(axes, kd).compute_with(&sync()).unwrap();
        assert_close(&got, &by_lanes(&small, axes, kd, |l| l.iter().product()), 1e-9);
    }

    #[test]
    fn min_and_max(c in case(3, 5)) {
        let (axes, kd) = (&c.axes, c.keepdims);
        let x = c.array();
        let got = x.min_axes(axes, kd).compute_with(&sync());
        if c.empty_lanes() {
            let err = got.unwrap_err().to_string();
            prop_assert!(err.contains(&rask_array::chunks::fmt_shape(c.a.shape())), "{}", err);
            return Ok(());
        }
        assert_close(&got.unwrap(), &by_lanes(&c.a, axes, kd, min), 0.0);
        let got = x.max_axes(axes, kd).compute_with(&sync()).unwrap();
        assert_close(&got, &by_lanes(&c.a, axes, kd, max), 0.0);
        // NaN propagates.
        let n = with_nans(&c.a);
        let got = c.of(n.clone()).min_axes(axes, kd).compute_with(&sync()).unwrap();
        assert_close(&got, &by_lanes(&n, axes, kd, min), 0.0);
        let got = c.of(n.clone()).max_axes(axes, kd).compute_with(&sync()).unwrap();
        assert_close(&got, &by_lanes(&n, axes, kd, max), 0.0);
        // Integers.
        let ints = c.a.mapv(|v| (v * 16.0) as i32);
        let got = c.of(ints.clone()).max_axes(axes, kd).compute_with(&sync()).unwrap();
        prop_assert_eq!(got, by_lanes(&ints, axes, kd, |l| *l.iter().max().unwrap()));
    }

    #[test]
    fn means_variances_and_deviations(c in case(3, 5)) {
        let (axes, kd) = (&c.axes, c.keepdims);
        let x = c.array();
        let got = x.mean_axes(axes, kd).compute_with(&sync()).unwrap();
        assert_close(&got, &by_lanes(&c.a, axes, kd, mean), 1e-9);
        for ddof in [0.0, 1.0] {
            let got = x.var_axes(axes, ddof, kd).compute_with(&sync()).unwrap();
            assert_close(&got, &by_lanes(&c.a, axes, kd, |l| var(l, ddof)), 1e-9);
            let got = x.std_axes(axes, ddof, kd).compute_with(&sync()).unwrap();
            assert_close(&got, &by_lanes(&c.a, axes, kd, |l| var(l, ddof).sqrt()), 1e-9);
        }
    }

    #[test]
    fn nan_skipping_reductions(c in case(3, 5)) {
        let (axes, kd) = (&c.axes, c.keepdims);
        let n = with_nans(&c.a);
        let x = c.of(n.clone());
        let run = |y: Array<f64>| y.compute_with(&sync()).unwrap();
        let skip = |f: fn(&[f64]) -> f64| move |l: &[f64]| f(&non_nan(l));
        assert_close(&run(x.nansum_axes(axes, kd)), &by_lanes(&n, axes, kd, skip(|l| l.iter().sum())), 1e-9);
        assert_close(&run(x.nanprod_axes(axes, kd)), &by_lanes(&n, axes, kd, skip(|l| l.iter().product())), 1e-9);
        assert_close(&run(x.nanmean_axes(axes, kd)), &by_lanes(&n, axes, kd, skip(mean)), 1e-9);
        for ddof in [0.0, 1.0] {
            let want = by_lanes(&n, axes, kd, |l| var(&non_nan(l), ddof));
            assert_close(&run(x.nanvar_axes(axes, ddof, kd)), &want, 1e-9);
            assert_close(&run(x.nanstd_axes(axes, ddof, kd)), &want.mapv(f64::sqrt), 1e-9);
        }
        if !c.empty_lanes() {
            // All-NaN lanes give NaN, as NumPy does (with a warning there).
            let nanmin = |l: &[f64]| { let v = non_nan(l); if v.is_empty() { f64::NAN } else { min(&v) } };
            let nanmax = |l: &[f64]| { let v = non_nan(l); if v.is_empty() { f64::NAN } else { max(&v) } };
            assert_close(&run(x.nanmin_axes(axes, kd)), &by_lanes(&n, axes, kd, nanmin), 0.0);
            assert_close(&run(x.nanmax_axes(axes, kd)), &by_lanes(&n, axes, kd, nanmax), 0.0);
        }
    }

    #[test]
    fn arg_reductions_pick_the_first_occurrence(c in case(3, 5)) {
        // Few distinct values, so ties are everywhere.
        let a = c.a.mapv(|v| (v / 4.0).round());
        let x = c.of(a.clone());
        if a.is_empty() {
            prop_assert!(x.argmin().compute_with(&sync()).is_err());
            return Ok(());
        }
        let all: Vec<usize> = (0..a.ndim()).collect();
        let flat = |largest: bool, skip: bool, a: &ArrayD<f64>| {
            by_lanes(a, &all, false, |l| arg(l, largest, skip).unwrap())
        };
        prop_assert_eq!(x.argmin().compute_with(&sync()).unwrap(), flat(false, false, &a));
        prop_assert_eq!(x.argmax().compute_with(&sync()).unwrap(), flat(true, false, &a));
        let n = with_nans(&c.a.mapv(|v| (v / 2.0).round() * 2.0));
        let xn = c.of(n.clone());
        prop_assert_eq!(xn.argmin().compute_with(&sync()).unwrap(), flat(false, false, &n));
        prop_assert_eq!(xn.argmax().compute_with(&sync()).unwrap(), flat(true, false, &n));
        if n.iter().any(|v| !v.is_nan()) {
            prop_assert_eq!(xn.nanargmin().compute_with(&sync()).unwrap(), flat(false, true, &n));
            prop_assert_eq!(xn.nanargmax().compute_with(&sync()).unwrap(), flat(true, true, &n));
        } else {
            let err = xn.nanargmin().compute_with(&sync()).unwrap_err().to_string();
            prop_assert!(err.contains("All-NaN"), "{}", err);
        }
        // Integers: the same indices.
        let ints = a.mapv(|v| v as i16);
        let xi = c.of(ints);
        prop_assert_eq!(xi.argmax().compute_with(&sync()).unwrap(), flat(true, false, &a));
        // Along each axis.
        for ax in 0..a.ndim() {
            let lanes = |largest: bool, a: &ArrayD<f64>| {
                by_lanes(a, &[ax], false, |l| arg(l, largest, false).unwrap())
            };
            prop_assert_eq!(x.argmin_axis(Axis(ax)).compute_with(&sync()).unwrap(), lanes(false, &a));
            prop_assert_eq!(x.argmax_axis(Axis(ax)).compute_with(&sync()).unwrap(), lanes(true, &a));
            prop_assert_eq!(xn.argmin_axis(Axis(ax)).compute_with(&sync()).unwrap(), lanes(false, &n));
            prop_assert_eq!(xn.argmax_axis(Axis(ax)).compute_with(&sync()).unwrap(), lanes(true, &n));
        }
    }

    #[test]
    fn any_and_all(c in case(3, 5)) {
        let (axes, kd) = (&c.axes, c.keepdims);
        // Mostly zeros, some lanes all zero.
        let a = c.a.mapv(|v| if v > 6.0 { v } else { 0.0 });
        let x = c.of(a.clone());
        let got = x.any_axes(axes, kd).compute_with(&sync()).unwrap();
        prop_assert_eq!(got, by_lanes(&a, axes, kd, |l| l.iter().any(|&v| v != 0.0)));
        let got = x.all_axes(axes, kd).compute_with(&sync()).unwrap();
        prop_assert_eq!(got, by_lanes(&a, axes, kd, |l| l.iter().all(|&v| v != 0.0)));
        let b = c.a.mapv(|v| v > -8.0);
        let xb = c.of(b.clone());
        let got = xb.all_axes(axes, kd).compute_with(&sync()).unwrap();
        prop_assert_eq!(got, by_lanes(&b, axes, kd, |l| l.iter().all(|&v| v)));
        let got = xb.any_axes(axes, kd).compute_with(&sync()).unwrap();
        prop_assert_eq!(got, by_lanes(&b, axes, kd, |l| l.iter().any(|&v| v)));
    }

    #[test]
    fn single_axis_results_equal_ndarrays(c in case(3, 5), ax in 0..3usize) {
        prop_assume!(ax < c.a.ndim() && c.a.shape()[ax] >= 2);
        let x = c.array();
        let run = |y: Array<f64>| y.compute_with(&sync()).unwrap();
        assert_close(&run(x.sum_axis(Axis(ax))), &c.a.sum_axis(Axis(ax)), 1e-9);
        assert_close(&run(x.mean_axis(Axis(ax))), &c.a.mean_axis(Axis(ax)).unwrap(), 1e-9);
        assert_close(&run(x.var_axis(Axis(ax), 1.0)), &c.a.var_axis(Axis(ax), 1.0), 1e-9);
        assert_close(&run(x.std_axis(Axis(ax), 0.0)), &c.a.std_axis(Axis(ax), 0.0), 1e-9);
        let want = c.a.fold_axis(Axis(ax), f64::INFINITY, |&m, &v| m.min(v));
        assert_close(&run(x.min_axis(Axis(ax))), &want, 0.0);
        assert_close(&run(x.prod_axis(Axis(ax))), &c.a.product_axis(Axis(ax)), 1e-9);
    }
}

#[test]
fn full_reductions_of_scalars() {
    let s = Array::<f64>::full(&[], &[] as &[usize], 2.5).unwrap();
    assert_eq!(s.sum().compute_scalar().unwrap(), 2.5);
    assert_eq!(s.max().compute_scalar().unwrap(), 2.5);
    assert_eq!(s.var(0.0).compute_scalar().unwrap(), 0.0);
    assert_eq!(s.argmin().compute_scalar().unwrap(), 0);
    assert!(s.any().compute_scalar().unwrap());
}

#[test]
fn deeper_trees_with_a_small_split_every() {
    let a = data(&[37, 23], 3).mapv(|v| (v * 16.0).round() / 16.0);
    let x = Array::from_ndarray(a.clone(), &[2, 3]).unwrap();
    for split_every in [2, 3, 8, 100] {
        // The setting is read when the graph is built; the override waits
        // for, and holds off, tests that depend on the configuration, and is
        // undone before computing.
        let (sum0, sum_all, var1, arg, mx) = {
            let _g = override_config(|c| c.split_every = split_every);
            (
                x.sum_axis(Axis(0)),
                x.sum(),
                x.var_axes(&[1], 1.0, true),
                x.argmax(),
                x.max_axes(&[0, 1], true),
            )
        };
        assert_close(&sum0.compute().unwrap(), &a.sum_axis(Axis(0)), 1e-9);
        assert_eq!(sum_all.compute_scalar().unwrap(), a.sum());
        let want = a.var_axis(Axis(1), 1.0).insert_axis(Axis(1));
        assert_close(&var1.compute().unwrap(), &want, 1e-9);
        let flat: Vec<f64> = a.iter().copied().collect();
        assert_eq!(arg.compute_scalar().unwrap(), arg_ref(&flat));
        let m = mx.compute().unwrap();
        assert_eq!(m.shape(), &[1, 1]);
        assert_eq!(m[[0, 0]], flat.iter().copied().fold(f64::MIN, f64::max));
    }
}

fn arg_ref(xs: &[f64]) -> i64 {
    arg(xs, true, false).unwrap()
}

#[test]
fn reductions_on_threads_fuse_with_elementwise_inputs() {
    let a = data(&[60, 50], 5);
    let b = data(&[50], 6);
    let x = Array::from_ndarray(a.clone(), &[16, 12]).unwrap();
    let y = Array::from_ndarray(b.clone(), &[20]).unwrap();
    let threads = Scheduler::threads(2).unwrap();
    let got = (&x + &y).mean_axis(Axis(0)).compute_with(&threads).unwrap();
    let want = (&a + &b).mean_axis(Axis(0)).unwrap();
    assert_close(&got, &want, 1e-9);
    let got = (&x * 2.0).std(1.0).compute_with(&threads).unwrap();
    let want = (&a * 2.0).std(1.0);
    assert!((got[[]] - want).abs() < 1e-9 * want, "{got} {want}");
}

#[test]
fn empty_arrays() {
    let e = Array::<f64>::zeros(&[0], &[4]).unwrap();
    assert_eq!(e.sum().compute_scalar().unwrap(), 0.0);
    assert_eq!(e.prod().compute_scalar().unwrap(), 1.0);
    assert!(e.mean().compute_scalar().unwrap().is_nan());
    assert!(e.var(0.0).compute_scalar().unwrap().is_nan());
    assert!(e.nanmean().compute_scalar().unwrap().is_nan());
    assert!(!e.any().compute_scalar().unwrap());
    assert!(e.all().compute_scalar().unwrap());
    for err in [
        e.min().compute().unwrap_err().to_string(),
        e.max().compute().unwrap_err().to_string(),
        e.argmin().compute().unwrap_err().to_string(),
        e.nanmax().compute().unwrap_err().to_string(),
    ] {
        assert!(err.contains("(0,)") && err.contains("zero-size"), "{err}");
    }
    // Reducing a non-empty axis of an empty array is fine.
    let e2 = Array::<i32>::zeros(&[0, 3], &[2, 2]).unwrap();
    assert_eq!(e2.min_axis(Axis(1)).compute().unwrap().shape(), &[0]);
    assert_eq!(
        e2.sum_axis(Axis(0)).compute().unwrap(),
        ArrayD::<i64>::zeros(IxDyn(&[3]))
    );
    let err = e2.max_axis(Axis(0)).compute().unwrap_err().to_string();
    assert!(err.contains("(0, 3)"), "{err}");
}

#[test]
fn bad_axes_are_errors_naming_the_axis_and_shape() {
    let x = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let err = x.sum_axis(Axis(2)).compute().unwrap_err().to_string();
    assert!(err.contains("axis 2") && err.contains("(3, 4)"), "{err}");
    let err = x
        .var_axes(&[0, 5], 0.0, false)
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("axis 5") && err.contains("(3, 4)"), "{err}");
    let err = x
        .mean_axes(&[1, 1], false)
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("twice") && err.contains("[1, 1]"), "{err}");
    let err = x.argmax_axis(Axis(3)).compute().unwrap_err().to_string();
    assert!(err.contains("axis 3"), "{err}");
    // Errors flow on.
    let err = (x.sum_axis(Axis(9)) + 1.0)
        .max()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("axis 9"), "{err}");
}

#[test]
fn variance_with_ddof_at_least_the_count_is_inf_or_nan_like_numpy() {
    let x = Array::from_ndarray(
        ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0f64, 2.0, 3.0, 3.0]).unwrap(),
        &[1, 1],
    )
    .unwrap();
    // np.var([[1, 2], [3, 3]], axis=1, ddof=2) == [inf, nan]
    let got = x.var_axis(Axis(1), 2.0).compute().unwrap();
    assert!(got[[0]].is_infinite() && got[[1]].is_nan(), "{got}");
}

#[test]
fn an_infinity_in_one_chunk_makes_the_mean_infinite() {
    // Chunk means are merged by their difference, which is not finite
    // when one mean is an infinity: NumPy's mean is then inf (or NaN for
    // inf with -inf), never NaN from inf - inf.
    let x = Array::from_ndarray(
        ArrayD::from_shape_vec(
            IxDyn(&[6]),
            vec![f64::INFINITY, 1.0, 3.0, f64::NAN, 2.0, 5.0],
        )
        .unwrap(),
        &[2],
    )
    .unwrap();
    assert_eq!(x.nanmean().compute_scalar().unwrap(), f64::INFINITY);
    let y = Array::from_ndarray(
        ArrayD::from_shape_vec(
            IxDyn(&[2, 3]),
            vec![1.0, 2.0, f64::NEG_INFINITY, 4.0, 5.0, 6.0],
        )
        .unwrap(),
        &[1, 3],
    )
    .unwrap();
    let m = y.nanmean_axis(Axis(0)).compute().unwrap();
    assert_eq!(m.as_slice().unwrap(), &[2.5, 3.5, f64::NEG_INFINITY]);
    let both = Array::from_ndarray(
        ArrayD::from_shape_vec(IxDyn(&[2]), vec![f64::INFINITY, f64::NEG_INFINITY]).unwrap(),
        &[1],
    )
    .unwrap();
    assert!(both.nanmean().compute_scalar().unwrap().is_nan());
}
