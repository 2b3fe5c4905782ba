//! NumPy's numeric rules: result types of sums, means and divisions,
//! `f32` accuracy on long sums, and medians and quantiles — against NumPy
//! itself (dtype and values), and order statistics against a reference
//! over random shapes and chunkings.

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, Axis, IxDyn};
use rask_array::{Array, ChunkSpec, Chunks, Element, Number};
use rask_local::Scheduler;

use crate::support::{TempDir, chunks_for, data, err_text, no_oracle, python_with, run_oracle};

fn sync() -> Scheduler {
    Scheduler::sync()
}

/// Deterministic values in `[lo, hi)` of element type `T`.
fn ints<T: Number>(shape: &[usize], seed: u64, lo: f64, hi: f64) -> ArrayD<T> {
    data(shape, seed).mapv(|v| T::from_f64((lo + (v + 10.0) / 20.0 * (hi - lo)).floor()))
}

/// NumPy's side of the oracle test: loads the inputs rask wrote, computes
/// each operation, saves `out_<name>.npy` and prints `name dtype`.
const ORACLE: &str = r#"
import sys, numpy as np
d = sys.argv[1]
L = lambda n: np.load(f"{d}/{n}.npy")
u16, i8, i32a, i32b, b, f32, f32b, f32n, f64, f64b, u8, u8b = (L(n) for n in
    ["u16", "i8", "i32a", "i32b", "bool", "f32", "f32b", "f32n", "f64", "f64b", "u8", "u8b"])
long = np.random.default_rng(7).random(10_000_000, dtype=np.float32)
np.save(f"{d}/long.npy", long)
with np.errstate(all="ignore"):
    ops = {
        "sum_u16": u16.sum(),
        "sum_u16_ax0": u16.sum(axis=0),
        "sum_i8_ax1": i8.sum(axis=1),
        "prod_i8_ax1": i8.prod(axis=1),
        "sum_bool": b.sum(),
        "sum_bool_ax0": b.sum(axis=0),
        "cumsum_u8_ax0": np.cumsum(u8, axis=0),
        "cumsum_i8_ax1": np.cumsum(i8, axis=1),
        "cumprod_i8_ax1": np.cumprod(i8, axis=1),
        "cumsum_bool_ax1": np.cumsum(b, axis=1),
        "mean_i32": i32a.mean(),
        "mean_u16_ax0": u16.mean(axis=0),
        "var_i32_ax0": i32a.var(axis=0, ddof=1),
        "std_u16_ax2": u16.std(axis=2),
        "mean_bool": b.mean(),
        "mean_f32_ax1": f32.mean(axis=1),
        "var_f32": f32.var(),
        "sum_f32_ax2": f32.sum(axis=2),
        "div_i32": i32a / i32b,
        "div_i32_scalar": i32a / 7,
        "div_scalar_i32": 7 / i32b,
        "div_u8": u8 / u8b,
        "div_f32": f32 / f32b,
        "div_f32_scalar": f32 / np.float32(3),
        "floordiv_i32": np.floor_divide(i32a, i32b),
        "floordiv_f64": np.floor_divide(f64, f64b),
        "floordiv_f32_scalar": np.floor_divide(f32, np.float32(0.7)),
        "median_f32_ax0": np.median(f32, axis=0),
        "median_u16_ax0": np.median(u16, axis=0),
        "median_i8": np.median(i8),
        "median_f64_ax12": np.median(f64, axis=(1, 2)),
        "median_f32n_ax1": np.median(f32n, axis=1),
        "nanmedian_f32n_ax1": np.nanmedian(f32n, axis=1),
        "quantile_f64_ax2": np.quantile(f64, 0.3, axis=2),
        "quantile_f32_ax0": np.quantile(f32, 0.71, axis=0),
        "quantile_i32_ax0": np.quantile(i32a, 0.4, axis=0),
        "percentile_i32_ax0": np.percentile(i32a, [10.0, 50.0, 99.9], axis=0),
        "percentile_u16": np.percentile(u16, 37.5),
        "nanquantile_f32n_ax1": np.nanquantile(f32n, 0.25, axis=1),
        "nanpercentile_f32n_ax0": np.nanpercentile(f32n, 90.0, axis=0),
        "sum_long": long.sum(),
    }
for name, v in ops.items():
    np.save(f"{d}/out_{name}.npy", np.asarray(v))
    print(name, np.asarray(v).dtype.name)
exact = np.sum(long.astype(np.float64))
print("long_exact", repr(float(exact)))
"#;

/// Numbers compared with NumPy's: exactly (`tol == 0`) or within `tol`
/// relative to the larger of the value and 10 (the inputs' scale, so that
/// sums that cancel are compared by their rounding); NaN equals NaN,
/// infinities must match.
fn close<T: Number>(got: &ArrayD<T>, want: &ArrayD<T>, tol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        let (g, w) = (g.to_f64(), w.to_f64());
        let same = g == w
            || (g.is_nan() && w.is_nan())
            || (w.is_finite() && (g - w).abs() <= tol * w.abs().max(10.0));
        assert!(same, "{what}: element {i}: rask {g}, NumPy {w}");
    }
}

/// NumPy's results of the oracle script, and how many were compared.
struct Oracle<'a> {
    dir: &'a TempDir,
    dtypes: std::collections::HashMap<String, String>,
    checked: usize,
}

impl Oracle<'_> {
    /// rask's `x` against NumPy's result `name`: the same dtype (NumPy's
    /// file is read as `T`), values within `tol` (see [`close`]).
    fn check<T: Number>(&mut self, name: &str, x: Array<T>, tol: f64) {
        let dtype = self.dtypes.get(name).map(String::as_str);
        assert_eq!(dtype, Some(T::DTYPE), "{name}: result dtype");
        let path = self.dir.path(&format!("out_{name}.npy"));
        let want = Array::<T>::from_npy(path, ChunkSpec::Auto)
            .unwrap()
            .compute()
            .unwrap();
        close(&x.compute().unwrap(), &want, tol, name);
        self.checked += 1;
    }
}

#[test]
#[cfg_attr(
    not(rask_oracle_numpy),
    ignore = "no Python with NumPy was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn result_types_and_values_follow_numpy() {
    let Some(python) = python_with("numpy") else {
        return no_oracle("NumPy");
    };
    let dir = TempDir::new("numerics", "numpy");
    let put = |name: &str, x: &dyn Fn(&std::path::Path) -> rask_core::Result<()>| {
        x(&dir.path(&format!("{name}.npy"))).unwrap();
    };
    // Inputs, chunked so that reductions cross blocks.
    let u16s = Array::from_ndarray(ints::<u16>(&[6, 8, 9], 1, 0.0, 65536.0), &[2, 4, 5]).unwrap();
    let i8s = Array::from_ndarray(ints::<i8>(&[7, 11], 2, -128.0, 128.0), &[3, 4]).unwrap();
    let i32a = Array::from_ndarray(ints::<i32>(&[5, 6], 3, -1e6, 1e6), &[2, 4]).unwrap();
    let mut b_vals = ints::<i32>(&[5, 6], 4, -4.0, 4.0);
    b_vals[[0, 0]] = 0; // 0 / 0 and x / 0 and x // 0
    b_vals[[1, 1]] = 0;
    let mut a_vals = i32a.compute().unwrap();
    a_vals[[0, 0]] = 0;
    let i32a = Array::from_ndarray(a_vals, &[2, 4]).unwrap();
    let i32b = Array::from_ndarray(b_vals, &[3, 3]).unwrap();
    let bools = Array::from_ndarray(data(&[13, 5], 5).mapv(|v| v > 1.0), &[4, 2]).unwrap();
    let f32s = Array::from_ndarray(data(&[9, 10, 7], 6).mapv(|v| v as f32), &[4, 3, 3]).unwrap();
    let f32n_vals = data(&[8, 12], 7).mapv(|v| if v > 6.0 { f32::NAN } else { v as f32 });
    let f32n = Array::from_ndarray(f32n_vals, &[3, 5]).unwrap();
    let f64s = Array::from_ndarray(data(&[4, 6, 5], 8), &[2, 4, 2]).unwrap();
    let u8s = Array::from_ndarray(ints::<u8>(&[10, 3], 9, 1.0, 256.0), &[3, 2]).unwrap();
    let u8b = Array::from_ndarray(ints::<u8>(&[10, 3], 10, 1.0, 256.0), &[4, 1]).unwrap();
    let f32b = Array::from_ndarray(data(&[9, 10, 7], 11).mapv(|v| v as f32), &[3, 5, 7]).unwrap();
    let f64b = Array::from_ndarray(data(&[4, 6, 5], 12), &[4, 3, 1]).unwrap();
    put("u16", &|p| u16s.to_npy(p));
    put("i8", &|p| i8s.to_npy(p));
    put("i32a", &|p| i32a.to_npy(p));
    put("i32b", &|p| i32b.to_npy(p));
    put("bool", &|p| bools.to_npy(p));
    put("f32", &|p| f32s.to_npy(p));
    put("f32n", &|p| f32n.to_npy(p));
    put("f64", &|p| f64s.to_npy(p));
    put("u8", &|p| u8s.to_npy(p));
    put("u8b", &|p| u8b.to_npy(p));
    put("f32b", &|p| f32b.to_npy(p));
    put("f64b", &|p| f64b.to_npy(p));

    let lines = run_oracle(&python, ORACLE, &dir.0, &[]);
    let mut o = Oracle {
        dir: &dir,
        dtypes: lines.iter().map(|l| (l[0].clone(), l[1].clone())).collect(),
        checked: 0,
    };
    let (x, y) = (&i32a, &i32b);
    let ax = |i| Axis(i);
    o.check("sum_u16", u16s.sum(), 0.0);
    o.check("sum_u16_ax0", u16s.sum_axis(ax(0)), 0.0);
    o.check("sum_i8_ax1", i8s.sum_axis(ax(1)), 0.0);
    o.check("prod_i8_ax1", i8s.prod_axis(ax(1)), 0.0);
    o.check("sum_bool", bools.sum(), 0.0);
    o.check("sum_bool_ax0", bools.sum_axis(ax(0)), 0.0);
    o.check("cumsum_u8_ax0", u8s.cumsum(ax(0)), 0.0);
    o.check("cumsum_i8_ax1", i8s.cumsum(ax(1)), 0.0);
    o.check("cumprod_i8_ax1", i8s.cumprod(ax(1)), 0.0);
    o.check("cumsum_bool_ax1", bools.cumsum(ax(1)), 0.0);
    o.check("mean_i32", x.mean(), 1e-12);
    o.check("mean_u16_ax0", u16s.mean_axis(ax(0)), 1e-12);
    o.check("var_i32_ax0", x.var_axis(ax(0), 1.0), 1e-12);
    o.check("std_u16_ax2", u16s.std_axis(ax(2), 0.0), 1e-12);
    o.check("mean_bool", bools.mean(), 1e-12);
    o.check("mean_f32_ax1", f32s.mean_axis(ax(1)), 1e-6);
    o.check("var_f32", f32s.var(0.0), 1e-6);
    o.check("sum_f32_ax2", f32s.sum_axis(ax(2)), 1e-6);
    o.check("div_i32", x / y, 0.0);
    o.check("div_i32_scalar", x / 7, 0.0);
    o.check("div_scalar_i32", 7i32 / y, 0.0);
    o.check("div_u8", &u8s / &u8b, 0.0);
    o.check("div_f32", &f32s / &f32b, 0.0);
    o.check("div_f32_scalar", &f32s / 3.0f32, 0.0);
    o.check("floordiv_i32", x.floor_divide(y), 0.0);
    o.check("floordiv_f64", f64s.floor_divide(&f64b), 0.0);
    o.check("floordiv_f32_scalar", f32s.floor_divide(0.7f32), 0.0);
    o.check("median_f32_ax0", f32s.median_axis(ax(0)).unwrap(), 0.0);
    o.check("median_u16_ax0", u16s.median_axis(ax(0)).unwrap(), 0.0);
    o.check("median_i8", i8s.median().unwrap(), 0.0);
    o.check(
        "median_f64_ax12",
        f64s.median_axes(&[1, 2], false).unwrap(),
        0.0,
    );
    o.check("median_f32n_ax1", f32n.median_axis(ax(1)).unwrap(), 0.0);
    o.check(
        "nanmedian_f32n_ax1",
        f32n.nanmedian_axis(ax(1)).unwrap(),
        0.0,
    );
    o.check(
        "quantile_f64_ax2",
        f64s.quantile_axis(0.3, ax(2)).unwrap(),
        0.0,
    );
    o.check(
        "quantile_f32_ax0",
        f32s.quantile_axis(0.71, ax(0)).unwrap(),
        0.0,
    );
    o.check(
        "quantile_i32_ax0",
        x.quantile_axis(0.4, ax(0)).unwrap(),
        0.0,
    );
    o.check(
        "percentile_i32_ax0",
        x.percentiles_axis(&[10.0, 50.0, 99.9], ax(0)).unwrap(),
        0.0,
    );
    o.check("percentile_u16", u16s.percentile(37.5).unwrap(), 0.0);
    o.check(
        "nanquantile_f32n_ax1",
        f32n.nanquantile_axis(0.25, ax(1)).unwrap(),
        0.0,
    );
    o.check(
        "nanpercentile_f32n_ax0",
        f32n.nanpercentile_axis(90.0, ax(0)).unwrap(),
        0.0,
    );

    // A long f32 sum: at least as close to the exact sum as NumPy's pairwise
    // one, and within a few float32 ulps of it.
    let long = Array::<f32>::from_npy(dir.path("long.npy"), &[2_500_000]).unwrap();
    let got = long.sum().compute_scalar().unwrap() as f64;
    let numpy = Array::<f32>::from_npy(dir.path("out_sum_long.npy"), ChunkSpec::Auto)
        .unwrap()
        .compute_scalar()
        .unwrap() as f64;
    let exact: f64 = lines.last().unwrap()[1].parse().unwrap();
    let ulp = f32::EPSILON as f64 * exact;
    assert!(
        (got - exact).abs() <= (numpy - exact).abs().max(ulp),
        "{got} {numpy} {exact}"
    );
    assert!((got - numpy).abs() <= 4.0 * ulp, "{got} {numpy}");
    assert_eq!(o.dtypes["sum_long"], "float32");
    assert_eq!(
        o.checked + 1,
        lines.len() - 1,
        "every NumPy result compared"
    );
}

/// NumPy's quantile of one lane by sorting it in full (the reference for
/// the selection-based kernel).
fn reference_quantile(lane: &[f64], q: f64, skip_nan: bool) -> f64 {
    let mut xs: Vec<f64> = lane.iter().copied().filter(|v| !v.is_nan()).collect();
    if xs.is_empty() || (!skip_nan && xs.len() < lane.len()) {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let v = (n - 1) as f64 * q;
    let (a, b, g) = if v >= (n - 1) as f64 {
        (xs[n - 1], xs[n - 1], v + 1.0)
    } else {
        let p = v.floor();
        (xs[p as usize], xs[p as usize + 1], v - p)
    };
    if g >= 0.5 {
        b - (b - a) * (1.0 - g)
    } else {
        a + (b - a) * g
    }
}

fn reference_median(lane: &[f64], skip_nan: bool) -> f64 {
    let mut xs: Vec<f64> = lane.iter().copied().filter(|v| !v.is_nan()).collect();
    if xs.is_empty() || (!skip_nan && xs.len() < lane.len()) {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// `f` of every lane over `axes` (sorted), keepdims dropped.
fn lanes(a: &ArrayD<f64>, axes: &[usize], f: impl Fn(&[f64]) -> f64) -> ArrayD<f64> {
    let keep: Vec<usize> = (0..a.ndim()).filter(|x| !axes.contains(x)).collect();
    let order: Vec<usize> = keep.iter().chain(axes).copied().collect();
    let elems: Vec<f64> = a
        .view()
        .permuted_axes(IxDyn(&order))
        .iter()
        .copied()
        .collect();
    let lane: usize = axes.iter().map(|&x| a.shape()[x]).product();
    let shape: Vec<usize> = keep.iter().map(|&x| a.shape()[x]).collect();
    let n: usize = shape.iter().product();
    let vals = (0..n)
        .map(|i| f(&elems[i * lane..(i + 1) * lane]))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), vals).unwrap()
}

/// A non-empty shape, a chunking, a set of axes and a quantile.
fn case() -> impl Strategy<Value = (Vec<usize>, Chunks, Vec<usize>, f64, u64)> {
    proptest::collection::vec(1usize..=6, 1..=3).prop_flat_map(|s| {
        let nd = s.len();
        (
            Just(s.clone()),
            chunks_for(s),
            proptest::sample::subsequence((0..nd).collect::<Vec<_>>(), 1..=nd),
            0.0f64..=1.0,
            any::<u64>(),
        )
    })
}

fn same(got: &ArrayD<f64>, want: &ArrayD<f64>) -> bool {
    got.shape() == want.shape()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| g == w || (g.is_nan() && w.is_nan()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn order_statistics_equal_a_full_sort_over_any_chunking(
        (shape, chunks, axes, q, seed) in case()
    ) {
        // Some NaN, and repeated values, in every case.
        let a = data(&shape, seed).mapv(|v| if v > 7.0 { f64::NAN } else { (v * 2.0).round() });
        let x = Array::from_ndarray(a.clone(), chunks).unwrap();
        let s = sync();
        let run = |y: rask_core::Result<Array<f64>>| y.unwrap().compute_with(&s).unwrap();
        prop_assert!(same(&run(x.median_axes(&axes, false)), &lanes(&a, &axes, |l| reference_median(l, false))));
        prop_assert!(same(&run(x.nanmedian_axes(&axes, false)), &lanes(&a, &axes, |l| reference_median(l, true))));
        prop_assert!(same(&run(x.quantile_axes(q, &axes, false)), &lanes(&a, &axes, |l| reference_quantile(l, q, false))));
        prop_assert!(same(&run(x.nanquantile_axes(q, &axes, false)), &lanes(&a, &axes, |l| reference_quantile(l, q, true))));
        // Several quantiles: a leading axis; keepdims keeps reduced axes.
        let qs = [q, 0.0, 1.0, 0.5];
        let many = run(x.nanquantiles_axes(&qs, &axes, true));
        let mut kept = shape.clone();
        for &a in &axes {
            kept[a] = 1;
        }
        prop_assert_eq!(&many.shape()[1..], &kept[..]);
        for (i, &qi) in qs.iter().enumerate() {
            let want = lanes(&a, &axes, |l| reference_quantile(l, qi, true));
            let got = many.index_axis(Axis(0), i).to_owned().into_shape_with_order(want.raw_dim()).unwrap();
            prop_assert!(same(&got, &want));
        }
    }

    #[test]
    fn integer_sums_and_means_over_any_chunking(
        (shape, chunks, axes, _q, seed) in case()
    ) {
        let a = ints::<u16>(&shape, seed, 0.0, 65536.0);
        let x = Array::from_ndarray(a.clone(), chunks).unwrap();
        let s = sync();
        let wide = a.mapv(|v| v as u64);
        let got = x.sum_axes(&axes, false).compute_with(&s).unwrap();
        let want = lanes(&wide.mapv(|v| v as f64), &axes, |l| l.iter().sum());
        prop_assert!(same(&got.mapv(|v| v as f64), &want));
        let mean = x.mean_axes(&axes, false).compute_with(&s).unwrap();
        let want = lanes(&wide.mapv(|v| v as f64), &axes, |l| l.iter().sum::<f64>() / l.len() as f64);
        prop_assert!(mean.iter().zip(&want).all(|(g, w)| (g - w).abs() <= 1e-9 * w.abs()));
    }
}

#[test]
fn medians_rechunk_the_reduced_axis_and_keep_blocks_elsewhere() {
    let a = data(&[8, 6, 5], 3).mapv(|v| v as f32);
    let x = Array::from_ndarray(a.clone(), &[3, 2, 5]).unwrap();
    let med: Array<f32> = x.median_axis(Axis(0)).unwrap();
    assert_eq!(med.shape(), &[6, 5]);
    let got = crate::support::assert_portable(&med);
    let want = lanes(&a.mapv(f64::from), &[0], |l| reference_median(l, false));
    assert!(same(&got.mapv(f64::from), &want.mapv(|v| v as f32 as f64)));
    // Already one block along the axis: no rechunk, the blocks stay.
    let y = Array::from_ndarray(a, &[8, 2, 5]).unwrap();
    assert_eq!(y.median_axis(Axis(0)).unwrap().chunks().axis(0), &[2, 2, 2]);
}

#[test]
fn bad_quantiles_and_axes_are_errors_naming_them() {
    let x = Array::<f64>::ones(&[4, 3], &[2, 2]).unwrap();
    let e = err_text(x.quantile(1.5));
    assert!(e.contains("1.5") && e.contains("[0, 1]"), "{e}");
    let e = err_text(x.percentile_axis(-1.0, Axis(0)));
    assert!(e.contains("-1") && e.contains("percentile"), "{e}");
    assert!(err_text(x.quantile(f64::NAN)).contains("NaN"));
    assert!(err_text(x.quantiles_axis(&[], Axis(0))).contains("no quantiles"));
    let e = err_text(x.median_axis(Axis(2)));
    assert!(e.contains("axis 2") && e.contains("(4, 3)"), "{e}");
    let e = err_text(x.median_axes(&[0, 0], false));
    assert!(e.contains("twice"), "{e}");
    let bad = &x + &Array::<f64>::ones(&[5], &[5]).unwrap();
    assert!(err_text(bad.median()).contains("broadcast"));
    // Empty lanes give NaN, as NumPy's median does.
    let e = Array::<f64>::zeros(&[0, 3], &[1, 2]).unwrap();
    let m = e.median_axis(Axis(0)).unwrap().compute().unwrap();
    assert!(m.len() == 3 && m.iter().all(|v| v.is_nan()));
}

#[test]
fn result_types_are_numpys() {
    fn dtype<T: Element>(_: &Array<T>) -> &'static str {
        T::DTYPE
    }
    let u = Array::<u16>::ones(&[4], &[2]).unwrap();
    let i = Array::<i8>::ones(&[4], &[2]).unwrap();
    let b = Array::<bool>::full(&[4], &[2], true).unwrap();
    let f = Array::<f32>::ones(&[4], &[2]).unwrap();
    assert_eq!(dtype(&u.sum()), "uint64");
    assert_eq!(dtype(&u.cumprod(Axis(0))), "uint64");
    assert_eq!(dtype(&i.prod()), "int64");
    assert_eq!(dtype(&b.sum()), "int64");
    assert_eq!(dtype(&b.cumsum(Axis(0))), "int64");
    assert_eq!(dtype(&i.mean()), "float64");
    assert_eq!(dtype(&u.var(0.0)), "float64");
    assert_eq!(dtype(&(&i / &i)), "float64");
    assert_eq!(dtype(&i.floor_divide(&i)), "int8");
    assert_eq!(dtype(&(&f / &f)), "float32");
    assert_eq!(dtype(&f.sum()), "float32");
    assert_eq!(dtype(&f.median().unwrap()), "float32");
    assert_eq!(dtype(&u.median().unwrap()), "float64");
    // The contract's lines.
    let total: Array<u64> = u.sum();
    assert_eq!(total.compute_scalar().unwrap(), 4);
    let q: Array<f64> = &i.astype::<i32>() / &i.astype::<i32>();
    assert_eq!(q.sum().compute_scalar().unwrap(), 4.0);
    let med: Array<f32> = f.median_axis(Axis(0)).unwrap();
    assert_eq!(med.compute_scalar().unwrap(), 1.0);
    // u16 frames sum without wrapping.
    let frames = Array::<u16>::full(&[3, 40, 40], &[1, 20, 20], u16::MAX).unwrap();
    let s = frames.sum().compute_scalar().unwrap();
    assert_eq!(s, 4800 * u16::MAX as u64);
}

// ---- Dask's approximate percentile ----------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Merged percentiles stay within the data, rise with the percentile,
    /// equal the exact ones for one block, and are close for many.
    #[test]
    fn approximate_percentiles_are_close_to_exact_ones(
        n in 1usize..400,
        blocks in 1usize..6,
        seed in 0u64..1_000,
    ) {
        let values = data(&[n], seed);
        let chunk = n.div_ceil(blocks).max(1);
        let x = Array::from_ndarray(values.clone(), &[chunk]).unwrap();
        let ps = [0.0, 5.0, 25.0, 50.0, 90.0, 100.0];
        let approx = x.percentile_approx(&ps).unwrap().compute().unwrap();
        let exact = x.percentiles(&ps).unwrap().compute().unwrap();
        let (lo, hi) = (exact[[0]], exact[[ps.len() - 1]]);
        for (i, &a) in approx.iter().enumerate() {
            prop_assert!(a >= lo && a <= hi, "p{} = {a} outside [{lo}, {hi}]", ps[i]);
            if i > 0 {
                prop_assert!(a >= approx[[i - 1]]);
            }
        }
        prop_assert_eq!(approx[[0]], lo);
        prop_assert_eq!(approx[[ps.len() - 1]], hi);
        if x.numblocks()[0] == 1 {
            for (a, e) in approx.iter().zip(exact.iter()) {
                prop_assert!((a - e).abs() <= 1e-12 * e.abs().max(1.0), "{a} vs {e}: {approx} vs {exact}");
            }
        }
    }
}

#[test]
fn approximate_percentiles_of_many_blocks_and_their_errors() {
    // 0..=99,999 in 37 blocks: the merge is within a few values of exact.
    let x = Array::<f64>::arange(0.0, 100_000.0, 1.0, &[2_713]).unwrap();
    let p = crate::support::assert_portable(&x.percentile_approx(&[1.0, 50.0, 99.0]).unwrap());
    for (got, want) in p.iter().zip([999.99, 49_999.5, 98_999.01]) {
        assert!((got - want).abs() < 30.0, "{got} vs {want}");
    }
    // Integers give f64; f32 gives f32; NaN gives NaN unless skipped.
    let ints =
        Array::from_ndarray(ArrayD::from_shape_fn(IxDyn(&[10]), |i| i[0] as i16), &[3]).unwrap();
    let _: Array<f64> = ints.percentile_approx(&[50.0]).unwrap();
    let mut v = data(&[50], 3).mapv(|x| x as f32);
    v[[7]] = f32::NAN;
    let f = Array::from_ndarray(v, &[20]).unwrap();
    assert!(f.percentile_approx(&[50.0]).unwrap().compute().unwrap()[[0]].is_nan());
    assert!(!f.nanpercentile_approx(&[50.0]).unwrap().compute().unwrap()[[0]].is_nan());
    // Bad percentiles are errors at the call.
    assert!(err_text(f.percentile_approx(&[101.0])).contains("outside [0, 100]"));
    assert!(err_text(f.percentile_approx(&[])).contains("no percentiles"));
}
