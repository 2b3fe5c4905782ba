//! Differential tests against NumPy: random shapes (empty axes included),
//! random chunkings, data with NaNs, infinities and signed zeros, and a
//! random operation per case — reductions along an axis (NaN-aware ones
//! too), arg-reductions, cumulative sums, order statistics, elementwise
//! binary operations, slicing, `take`, transposes, reshapes, concatenation
//! and `where`; on integers NumPy's result types, wrap-around and division
//! by zero; `numpy.fft`; and, where PyWavelets is installed, multi-level
//! `wavedec` along an axis of any chunking, and `scipy.ndimage` filters.
//! rask's results (or its errors) are written as `.npy` files and one Python
//! process checks them all with NumPy: the same values (NaN where NumPy has
//! NaN, the same sign of zero), the same kind of result type, and an error
//! exactly where NumPy raises. `RASK_DIFFERENTIAL_CASES` sets the number of
//! cases (default 150).

use rask_array::ndarray::{ArrayD, Axis, IxDyn};
use rask_array::{Array, SliceElem};

use crate::support::{TempDir, no_oracle, python_with, run_oracle};

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn value(&mut self) -> f64 {
        match self.below(30) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => -0.0,
            4 => 0.0,
            _ => self.plain(),
        }
    }
    /// A finite value, a multiple of 1/8 in [-125, 125].
    fn plain(&mut self) -> f64 {
        (self.below(2001) as f64 - 1000.0) / 8.0
    }
    /// `1..=3` axes of `1..=max` elements, one in `empty_one_in` of them
    /// empty.
    fn shape(&mut self, empty_one_in: usize, max: usize) -> Vec<usize> {
        let ndim = 1 + self.below(3);
        (0..ndim)
            .map(|_| {
                if self.below(empty_one_in) == 0 {
                    0
                } else {
                    1 + self.below(max)
                }
            })
            .collect()
    }
    /// Random chunk sizes for `shape`.
    fn chunks(&mut self, shape: &[usize]) -> Vec<usize> {
        shape.iter().map(|&s| 1 + self.below(s.max(1))).collect()
    }
}

/// `values` in `shape`, cut into random chunks.
fn chunked<T: rask_array::Element>(r: &mut Rng, shape: &[usize], values: Vec<T>) -> Array<T> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), values).unwrap();
    Array::from_ndarray(a, r.chunks(shape).as_slice()).unwrap()
}

/// A case's data: `shape`, values, and chunk sizes.
fn random_array(r: &mut Rng, shape: &[usize], special: bool) -> Array<f64> {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n)
        .map(|_| if special { r.value() } else { r.plain() })
        .collect();
    chunked(r, shape, values)
}

/// What a case computed: its result, ready to be written, or rask's error.
type Got = rask_core::Result<Box<dyn FnOnce(&std::path::Path)>>;

/// `res` as a [`Got`].
fn got<T: rask_array::Element>(res: rask_core::Result<ArrayD<T>>) -> Got {
    res.map(|a| {
        Box::new(move |path: &std::path::Path| save(a, path)) as Box<dyn FnOnce(&std::path::Path)>
    })
}

/// An input, ready to be written.
type Input = Box<dyn Fn(&std::path::Path)>;

fn input<T: rask_array::Element>(x: &Array<T>) -> Input {
    let x = x.clone();
    Box::new(move |path| x.to_npy(path).unwrap())
}

/// One random case: the spec line NumPy runs (`x`, `y` are the inputs)
/// and rask's result.
fn case(r: &mut Rng, wavelets: bool, scipy: bool) -> (String, Input, Input, Got) {
    match r.below(8) {
        0 => return int_case(r),
        1 => return fft_case(r),
        2 if wavelets => return wavelet_case(r),
        3 if scipy => return filter_case(r),
        _ => {}
    }
    let shape = r.shape(8, 6);
    let ndim = shape.len();
    let x = random_array(r, &shape, true);
    let special = r.below(2) == 0;
    let y = random_array(r, &shape, special);
    let a = r.below(ndim);
    let ddof = r.below(2) as f64;
    let q = [0.0, 0.25, 0.5, 0.9, 1.0][r.below(5)];
    let f = |res: rask_core::Result<Array<f64>>| got(res.and_then(|a| a.compute()));
    let fa = |a: Array<f64>| got(a.compute());
    let (spec, result) = match r.below(38) {
        0 => (format!("np.sum(x, axis={a})"), fa(x.sum_axis(Axis(a)))),
        1 => (format!("np.mean(x, axis={a})"), fa(x.mean_axis(Axis(a)))),
        2 => (
            format!("np.var(x, axis={a}, ddof={ddof})"),
            fa(x.var_axis(Axis(a), ddof)),
        ),
        3 => (
            format!("np.std(x, axis={a}, ddof={ddof})"),
            fa(x.std_axis(Axis(a), ddof)),
        ),
        4 => (
            format!("np.nanmean(x, axis={a})"),
            fa(x.nanmean_axis(Axis(a))),
        ),
        5 => (
            format!("np.nanvar(x, axis={a}, ddof={ddof})"),
            fa(x.nanvar_axes(&[a], ddof, false)),
        ),
        6 => (
            format!("np.nanstd(x, axis={a}, ddof={ddof})"),
            fa(x.nanstd_axes(&[a], ddof, false)),
        ),
        7 => (format!("np.min(x, axis={a})"), fa(x.min_axis(Axis(a)))),
        8 => (format!("np.max(x, axis={a})"), fa(x.max_axis(Axis(a)))),
        9 => (
            format!("np.nanmin(x, axis={a})"),
            fa(x.nanmin_axis(Axis(a))),
        ),
        10 => (
            format!("np.nanmax(x, axis={a})"),
            fa(x.nanmax_axis(Axis(a))),
        ),
        11 => (
            format!("np.argmin(x, axis={a})"),
            got(x.argmin_axis(Axis(a)).compute()),
        ),
        12 => (
            format!("np.argmax(x, axis={a})"),
            got(x.argmax_axis(Axis(a)).compute()),
        ),
        13 => (format!("np.cumsum(x, axis={a})"), fa(x.cumsum(Axis(a)))),
        14 => (
            format!("np.cumprod(x / 100, axis={a})"),
            fa((&x / 100.0).cumprod(Axis(a))),
        ),
        15 => (
            format!("np.nancumsum(x, axis={a})"),
            fa(x.nancumsum(Axis(a))),
        ),
        16 => (format!("np.median(x, axis={a})"), f(x.median_axis(Axis(a)))),
        17 => (
            format!("np.nanmedian(x, axis={a})"),
            f(x.nanmedian_axis(Axis(a))),
        ),
        // NumPy's quantile of an empty lane raises IndexError, its median
        // gives NaN; rask gives NaN for both.
        18 if shape[a] > 0 => (
            format!("np.quantile(x, {q:?}, axis={a})"),
            f(x.quantile_axis(q, Axis(a))),
        ),
        19 if shape[a] > 0 => (
            format!("np.nanquantile(x, {q:?}, axis={a})"),
            f(x.nanquantile_axis(q, Axis(a))),
        ),
        20 => (
            format!("np.nansum(x, axis={a})"),
            fa(x.nansum_axis(Axis(a))),
        ),
        21 => ("np.maximum(x, y)".into(), fa(x.maximum(&y))),
        22 => ("np.minimum(x, y)".into(), fa(x.minimum(&y))),
        23 => ("np.floor_divide(x, y)".into(), fa(x.floor_divide(&y))),
        24 => ("np.remainder(x, y)".into(), fa(&x % &y)),
        25 => ("np.hypot(x, y)".into(), fa(x.hypot(&y))),
        26 => ("np.arctan2(x, y)".into(), fa(x.arctan2(&y))),
        27 => ("x / y".into(), fa(&x / &y)),
        28 => {
            let (lo, hi) = (r.value(), r.value());
            let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
            (
                format!("np.clip(x, {}, {})", py_float(lo), py_float(hi)),
                fa(x.clip(lo, hi)),
            )
        }
        29 => {
            let n = shape[a] as isize;
            let pick = |r: &mut Rng| match r.below(3) {
                0 => None,
                _ => Some(r.below(2 * n as usize + 3) as isize - n - 1),
            };
            let (start, stop) = (pick(r), pick(r));
            let step = [1isize, 2, 3, -1, -2][r.below(5)];
            let mut elems = vec![rask_array::slicing::full(); ndim];
            elems[a] = SliceElem::Range { start, stop, step };
            let py = |v: Option<isize>| v.map_or(String::new(), |v| v.to_string());
            let index: Vec<String> = (0..ndim)
                .map(|i| {
                    if i == a {
                        format!("{}:{}:{step}", py(start), py(stop))
                    } else {
                        ":".into()
                    }
                })
                .collect();
            (format!("x[{}]", index.join(",")), f(x.slice(&elems)))
        }
        30 => {
            let n = shape[a];
            let k = r.below(4);
            // Out-of-range indices into an array with no elements are an
            // error in rask; NumPy checks none when there is nothing to take.
            let empty = shape.contains(&0);
            let idx: Vec<isize> = match (n, empty) {
                (0, true) => Vec::new(),
                (_, true) => (0..k).map(|_| r.below(n) as isize).collect(),
                _ => (0..k)
                    .map(|_| r.below(2 * n + 2) as isize - n as isize - 1)
                    .collect(),
            };
            (
                format!("np.take(x, {idx:?}, axis={a})"),
                f(x.take(&idx, Axis(a))),
            )
        }
        31 => {
            let mut perm: Vec<usize> = (0..ndim).collect();
            for i in (1..ndim).rev() {
                perm.swap(i, r.below(i + 1));
            }
            (
                format!("np.transpose(x, {perm:?})"),
                fa(x.permute_axes(&perm)),
            )
        }
        32 => {
            let n: usize = shape.iter().product();
            let to = if n == 0 {
                vec![0, 3]
            } else {
                let d = (1..=n).filter(|d| n.is_multiple_of(*d)).collect::<Vec<_>>();
                let first = d[r.below(d.len())];
                vec![first, n / first]
            };
            (format!("np.reshape(x, {to:?})"), f(x.reshape(&to)))
        }
        33 => (
            format!("np.concatenate([x, y], axis={a})"),
            f(rask_array::concatenate(Axis(a), &[&x, &y])),
        ),
        34 => (
            "np.where(x > y, x, y)".into(),
            fa(rask_array::where_(&x.gt(&y), &x, &y)),
        ),
        35 => (
            format!("np.any(x > 0, axis={a})"),
            got(x.gt(0.0).any_axes(&[a], false).compute()),
        ),
        36 => (
            format!("np.prod(x / 100, axis={a})"),
            fa((&x / 100.0).prod_axis(Axis(a))),
        ),
        _ => {
            // Another chunking of the same data.
            let chunks = r.chunks(&shape);
            ("x".into(), f(x.rechunk(chunks.as_slice())))
        }
    };
    (spec, input(&x), input(&y), result)
}

/// Integer data of type `T` (from `lo` to `hi`), zeros included.
fn int_array<T: rask_array::Element + TryFrom<i64>>(
    r: &mut Rng,
    shape: &[usize],
    lo: i64,
    hi: i64,
) -> Array<T>
where
    <T as TryFrom<i64>>::Error: std::fmt::Debug,
{
    let n: usize = shape.iter().product();
    let values: Vec<T> = (0..n)
        .map(|_| {
            let v = if r.below(6) == 0 {
                0
            } else {
                lo + r.below((hi - lo + 1) as usize) as i64
            };
            T::try_from(v).unwrap()
        })
        .collect();
    chunked(r, shape, values)
}

/// A case on integers: NumPy's result types (small integers sum to 64
/// bits, means are floats), wrap-around, division by zero.
fn int_case(r: &mut Rng) -> (String, Input, Input, Got) {
    let shape = r.shape(8, 6);
    let ndim = shape.len();
    let a = r.below(ndim);
    let ddof = r.below(2) as f64;
    let (x, y) = (
        int_array::<i32>(r, &shape, -1000, 1000),
        int_array::<i32>(r, &shape, -9, 9),
    );
    let (b, c) = (
        int_array::<i8>(r, &shape, -128, 127),
        int_array::<u8>(r, &shape, 0, 255),
    );
    let which = r.below(16);
    let (spec, result, inputs): (String, Got, (Input, Input)) = match which {
        0 => (
            "np.floor_divide(x, y)".into(),
            got(x.floor_divide(&y).compute()),
            (input(&x), input(&y)),
        ),
        1 => (
            "np.remainder(x, y)".into(),
            got((&x % &y).compute()),
            (input(&x), input(&y)),
        ),
        2 => (
            "x / y".into(),
            got((&x / &y).compute()),
            (input(&x), input(&y)),
        ),
        3 => (
            format!("np.sum(x, axis={a})"),
            got(b.sum_axis(Axis(a)).compute()),
            (input(&b), input(&c)),
        ),
        4 => (
            format!("np.sum(y, axis={a})"),
            got(c.sum_axis(Axis(a)).compute()),
            (input(&b), input(&c)),
        ),
        5 => (
            format!("np.cumsum(y, axis={a})"),
            got(c.cumsum(Axis(a)).compute()),
            (input(&b), input(&c)),
        ),
        6 => (
            format!("np.prod(x, axis={a})"),
            got(b.prod_axis(Axis(a)).compute()),
            (input(&b), input(&c)),
        ),
        7 => (
            format!("np.cumprod(x, axis={a})"),
            got(b.cumprod(Axis(a)).compute()),
            (input(&b), input(&c)),
        ),
        8 => (
            format!("np.mean(x, axis={a})"),
            got(x.mean_axis(Axis(a)).compute()),
            (input(&x), input(&y)),
        ),
        9 => (
            format!("np.var(x, axis={a}, ddof={ddof})"),
            got(x.var_axis(Axis(a), ddof).compute()),
            (input(&x), input(&y)),
        ),
        10 => (
            format!("np.argmax(x, axis={a})"),
            got(b.argmax_axis(Axis(a)).compute()),
            (input(&b), input(&c)),
        ),
        11 => (
            format!("np.median(x, axis={a})"),
            got(x.median_axis(Axis(a)).and_then(|m| m.compute())),
            (input(&x), input(&y)),
        ),
        12 => (
            "np.abs(x)".into(),
            got(b.abs().compute()),
            (input(&b), input(&c)),
        ),
        13 => (
            "x - y".into(),
            got((&c - &c.clip(7, 200)).compute()),
            (input(&c), input(&c.clip(7, 200))),
        ),
        14 => (
            format!("np.max(x, axis={a})"),
            got(x.max_axis(Axis(a)).compute()),
            (input(&x), input(&y)),
        ),
        _ => (
            "np.clip(x, -5, 500)".into(),
            got(x.clip(-5, 500).compute()),
            (input(&x), input(&y)),
        ),
    };
    (spec, inputs.0, inputs.1, result)
}

/// A case of `numpy.fft`: transforms along an axis held in one chunk (as
/// Dask, rask refuses a chunked one), over all axes, shifts and sample
/// frequencies; finite data, empty axes included.
fn fft_case(r: &mut Rng) -> (String, Input, Input, Got) {
    use rask_array::fft;
    let shape = r.shape(10, 7);
    let ndim = shape.len();
    let a = r.below(ndim);
    let x = random_array(r, &shape, false);
    // Axis `a` whole, the others chunked at random.
    let mut chunks = r.chunks(&shape);
    chunks[a] = shape[a].max(1);
    let x = x.rechunk(chunks.as_slice()).unwrap();
    let whole: Vec<usize> = shape.iter().map(|&s| s.max(1)).collect();
    let y = x.rechunk(whole.as_slice()).unwrap();
    let n = 1 + r.below(9);
    let d = [1.0, 0.5, 0.1][r.below(3)];
    let (spec, result) = match r.below(10) {
        0 => (
            format!("np.fft.fft(x, axis={a})"),
            got(fft::fft(&x, Axis(a)).and_then(|f| f.compute())),
        ),
        1 => (
            format!("np.fft.ifft(x, axis={a})"),
            got(fft::ifft(&x, Axis(a)).and_then(|f| f.compute())),
        ),
        2 => (
            format!("np.fft.rfft(x, axis={a})"),
            got(fft::rfft(&x, Axis(a)).and_then(|f| f.compute())),
        ),
        3 => (
            format!("np.fft.irfft(np.fft.rfft(x, axis={a}), axis={a})"),
            got(fft::rfft(&x, Axis(a))
                .and_then(|f| fft::irfft(&f, Axis(a)))
                .and_then(|f| f.compute())),
        ),
        4 => (
            format!("np.fft.fft(x, n={n}, axis={a})"),
            got(fft::fft_n(&x, n, Axis(a)).and_then(|f| f.compute())),
        ),
        5 => (
            "np.fft.fftn(y)".into(),
            got(fft::fftn(&y, None).and_then(|f| f.compute())),
        ),
        6 => (
            "np.fft.rfftn(y)".into(),
            got(fft::rfftn(&y, None).and_then(|f| f.compute())),
        ),
        7 => (
            "np.fft.fftshift(x)".into(),
            got(fft::fftshift(&x, None).and_then(|f| f.compute())),
        ),
        8 => (
            format!("np.fft.ifftshift(x, axes=({a},))"),
            got(fft::ifftshift(&x, Some(&[Axis(a)])).and_then(|f| f.compute())),
        ),
        _ => (
            format!("np.fft.fftfreq({n}, {d:?})"),
            got(fft::fftfreq(n, d, &[2]).and_then(|f| f.compute())),
        ),
    };
    (spec, input(&x), input(&y), result)
}

/// A case of PyWavelets' `wavedec` along an axis of any chunking (rask
/// gives neighbouring blocks the halos the filter needs), its
/// coefficients concatenated along that axis.
fn wavelet_case(r: &mut Rng) -> (String, Input, Input, Got) {
    use rask_array::wavelet;
    let ndim = 1 + r.below(2);
    let a = r.below(ndim);
    let mut shape: Vec<usize> = (0..ndim).map(|_| 1 + r.below(4)).collect();
    shape[a] = 2 + r.below(60);
    let x = random_array(r, &shape, false);
    let (name, len) = [
        ("haar", 2),
        ("db2", 4),
        ("db4", 8),
        ("sym4", 8),
        ("coif1", 6),
    ][r.below(5)];
    let (mode, py_mode) = match r.below(2) {
        0 => (wavelet::Mode::Symmetric, "symmetric"),
        _ => (wavelet::Mode::Periodization, "periodization"),
    };
    let level = wavelet::dwt_max_level(shape[a], len).max(1);
    let level = 1 + r.below(level);
    let result = wavelet::wavedec(&x, name, level, Axis(a), mode).and_then(|c| {
        let refs: Vec<&Array<f64>> = c.iter().collect();
        rask_array::concatenate(Axis(a), &refs)?.compute()
    });
    (
        format!(
            "np.concatenate(pywt.wavedec(x, {name:?}, mode={py_mode:?}, level={level}, axis={a}), axis={a})"
        ),
        input(&x),
        input(&x),
        got(result),
    )
}

/// A case of `scipy.ndimage`: a filter with a random size or sigma per
/// axis and a boundary mode, over random chunks (halos may be deeper than
/// a block: rask rechunks), finite data.
fn filter_case(r: &mut Rng) -> (String, Input, Input, Got) {
    use rask_array::ndimage::{self, Mode};
    let ndim = 1 + r.below(3);
    let shape: Vec<usize> = (0..ndim).map(|_| 1 + r.below(9)).collect();
    let x = random_array(r, &shape, false);
    let (mode, py_mode) = match r.below(5) {
        0 => (Mode::Reflect, "mode='reflect'".to_string()),
        1 => (Mode::Mirror, "mode='mirror'".to_string()),
        2 => (Mode::Nearest, "mode='nearest'".to_string()),
        3 => (Mode::Wrap, "mode='wrap'".to_string()),
        _ => {
            let c = (r.below(9) as f64 - 4.0) / 2.0;
            (Mode::Constant(c), format!("mode='constant', cval={c:?}"))
        }
    };
    let sigma: Vec<f64> = (0..ndim)
        .map(|_| [0.0, 0.5, 1.0, 1.7][r.below(4)])
        .collect();
    let size: Vec<usize> = (0..ndim).map(|_| 1 + r.below(4)).collect();
    let a = r.below(ndim);
    let c = |res: rask_core::Result<Array<f64>>| got(res.and_then(|f| f.compute()));
    let (spec, result) = match r.below(7) {
        0 => (
            format!("scipy.ndimage.gaussian_filter(x, {sigma:?}, {py_mode})"),
            c(ndimage::gaussian_filter(&x, &sigma, mode)),
        ),
        1 => (
            format!("scipy.ndimage.uniform_filter(x, {size:?}, {py_mode})"),
            c(ndimage::uniform_filter(&x, &size, mode)),
        ),
        2 => (
            format!("scipy.ndimage.median_filter(x, {size:?}, {py_mode})"),
            c(ndimage::median_filter(&x, &size, mode)),
        ),
        3 => (
            format!("scipy.ndimage.minimum_filter(x, {size:?}, {py_mode})"),
            c(ndimage::minimum_filter(&x, &size, mode)),
        ),
        4 => (
            format!("scipy.ndimage.maximum_filter(x, {size:?}, {py_mode})"),
            c(ndimage::maximum_filter(&x, &size, mode)),
        ),
        5 => (
            format!("scipy.ndimage.sobel(x, {a}, {py_mode})"),
            c(ndimage::sobel(&x, a, mode)),
        ),
        _ => (
            format!("scipy.ndimage.laplace(x, {py_mode})"),
            c(ndimage::laplace(&x, mode)),
        ),
    };
    (spec, input(&x), input(&x), result)
}

/// `v` as Python reads it.
fn py_float(v: f64) -> String {
    if v.is_nan() {
        "np.nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "np.inf".into()
        } else {
            "-np.inf".into()
        }
    } else {
        format!("{v:?}")
    }
}

/// Writes a computed result as `.npy`.
fn save<T: rask_array::Element>(a: ArrayD<T>, path: &std::path::Path) {
    let one: Vec<usize> = a.shape().iter().map(|&n| n.max(1)).collect();
    Array::from_ndarray(a, one.as_slice())
        .unwrap()
        .to_npy(path)
        .unwrap();
}

const ORACLE: &str = r#"
import sys, warnings, numpy as np
try:
    import pywt
except ImportError:
    pass
try:
    import scipy.ndimage
except ImportError:
    pass
d = sys.argv[1]
warnings.simplefilter("ignore")
bad = 0
n = 0
for line in open(f"{d}/spec.txt"):
    i, kind, expr = line.rstrip("\n").split(" ", 2)
    x = np.load(f"{d}/x{i}.npy"); y = np.load(f"{d}/y{i}.npy")
    n += 1
    try:
        with np.errstate(all="ignore"):
            want = np.asarray(eval(expr))
    except Exception as e:
        if kind != "err":
            print(f"MISMATCH {i} {expr}: NumPy raises {type(e).__name__}: {e}, rask gave a result")
            bad += 1
        continue
    if kind == "err":
        err = open(f"{d}/r{i}.txt").read()
        print(f"MISMATCH {i} {expr}: rask erred ({err}), NumPy gives {want!r}")
        bad += 1
        continue
    got = np.load(f"{d}/r{i}.npy")
    if got.shape != want.shape:
        print(f"MISMATCH {i} {expr}: shape {got.shape} != {want.shape}")
        bad += 1
        continue
    if got.dtype.kind != want.dtype.kind:
        print(f"MISMATCH {i} {expr}: dtype {got.dtype} != {want.dtype}")
        bad += 1
        continue
    if want.dtype.kind == "c" or expr.startswith("np.fft"):
        # Transforms round differently in each library: equal to a
        # millionth of a millionth of the largest magnitude.
        scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
        same = np.isclose(got, want, rtol=1e-9, atol=1e-12 * scale * max(1, x.size), equal_nan=True)
        ok = bool(same.all())
    elif want.dtype.kind == "f":
        w = want.astype(np.float64)
        same = np.isclose(got, w, rtol=1e-9, atol=1e-12, equal_nan=True)
        # The sign of a zero is NumPy's rule for elementwise operations;
        # its medians and reductions differ by implementation.
        # (np.maximum's SIMD loops give either zero of a tie.)
        if not expr.startswith(("np.median", "np.nanmedian", "np.quantile", "np.nanquantile",
                                "np.nan", "np.mean", "np.sum", "np.prod", "np.var", "np.std",
                                "np.cum", "np.min", "np.max", "np.clip")):
            zeros = (got == 0) & (w == 0)
            same &= ~zeros | (np.signbit(got) == np.signbit(w))
        inf = np.isinf(w)
        same &= ~inf | (got == w)
        ok = bool(same.all())
    else:
        ok = bool((got == want).all()) and got.dtype == want.dtype
    if not ok:
        where = np.argwhere(~same if want.dtype.kind in "fc" else got != want)[:3]
        at = [tuple(int(v) for v in p) for p in where]
        print(f"MISMATCH {i} {expr}: shape {x.shape}, at {at}: rask {[got[p] for p in at]}, numpy {[want[p] for p in at]}")
        bad += 1
print(f"CHECKED {n} {bad}")
"#;

#[test]
#[cfg_attr(
    not(rask_oracle_numpy),
    ignore = "no Python with NumPy was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn random_operations_equal_numpy() {
    let Some(python) = python_with("numpy") else {
        return no_oracle("NumPy");
    };
    let cases: usize = std::env::var("RASK_DIFFERENTIAL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let seed: u64 = std::env::var("RASK_DIFFERENTIAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261202);
    // Wavelet cases where PyWavelets is there too (CI installs it).
    let wavelets = python_with("pywt, numpy").is_some_and(|p| p == python);
    let scipy = python_with("scipy.ndimage, numpy").is_some_and(|p| p == python);
    let dir = TempDir::new("array", "differential");
    let mut r = Rng(seed);
    let mut spec = String::new();
    for i in 0..cases {
        let (expr, x, y, result) = case(&mut r, wavelets, scipy);
        x(&dir.0.join(format!("x{i}.npy")));
        y(&dir.0.join(format!("y{i}.npy")));
        let out = dir.0.join(format!("r{i}.npy"));
        let written = result.map(|write| write(&out));
        let kind = match written {
            Ok(()) => "ok",
            Err(e) => {
                std::fs::write(dir.0.join(format!("r{i}.txt")), e.to_string()).unwrap();
                "err"
            }
        };
        spec.push_str(&format!("{i} {kind} {expr}\n"));
    }
    std::fs::write(dir.0.join("spec.txt"), spec).unwrap();
    let lines = run_oracle(&python, ORACLE, &dir.0, &[]);
    let text: Vec<String> = lines.iter().map(|l| l.join(" ")).collect();
    let last = text.last().cloned().unwrap_or_default();
    assert!(
        last == format!("CHECKED {cases} 0"),
        "rask and NumPy differ (seed {seed}):\n{}",
        text.join("\n")
    );
}
