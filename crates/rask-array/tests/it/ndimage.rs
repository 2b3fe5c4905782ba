//! Image filters (`ndimage`): every filter and mode against scipy.ndimage
//! on the whole array (exchanged as `.npy`), chunked results against the
//! single-block result over random shapes and chunkings, automatic
//! rechunking for halos deeper than a block, and bad input.

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, IxDyn};
use rask_array::ndimage::{self, Mode, block};
use rask_array::{Array, Chunks, Element};
use rask_local::Scheduler;

use crate::support::{
    TempDir, assert_close, assert_portable, chunks_for, data, err_text, no_oracle, python_with,
    run_oracle,
};

fn sync() -> Scheduler {
    Scheduler::sync()
}

/// One filter with its parameters, the way both sides name it.
#[derive(Clone, Debug)]
enum Filter {
    Gaussian(Vec<f64>),
    Uniform(Vec<usize>),
    Median(Vec<usize>),
    Minimum(Vec<usize>),
    Maximum(Vec<usize>),
    Sobel(usize),
    Laplace,
    GradientMagnitude(Vec<f64>),
}

impl Filter {
    /// scipy's function name and its parameter list as `a,b,c`.
    fn scipy(&self) -> (&'static str, String) {
        let list = |v: &[f64]| {
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let ints = |v: &[usize]| {
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Filter::Gaussian(s) => ("gaussian_filter", list(s)),
            Filter::Uniform(s) => ("uniform_filter", ints(s)),
            Filter::Median(s) => ("median_filter", ints(s)),
            Filter::Minimum(s) => ("minimum_filter", ints(s)),
            Filter::Maximum(s) => ("maximum_filter", ints(s)),
            Filter::Sobel(a) => ("sobel", a.to_string()),
            Filter::Laplace => ("laplace", String::new()),
            Filter::GradientMagnitude(s) => ("gaussian_gradient_magnitude", list(s)),
        }
    }

    /// The filter on a whole float array.
    fn apply<T: rask_array::Float>(&self, x: &Array<T>, mode: Mode) -> rask_core::Result<Array<T>> {
        match self {
            Filter::Gaussian(s) => ndimage::gaussian_filter(x, s, mode),
            Filter::Uniform(s) => ndimage::uniform_filter(x, s, mode),
            Filter::Median(s) => ndimage::median_filter(x, s, mode),
            Filter::Minimum(s) => ndimage::minimum_filter(x, s, mode),
            Filter::Maximum(s) => ndimage::maximum_filter(x, s, mode),
            Filter::Sobel(a) => ndimage::sobel(x, *a, mode),
            Filter::Laplace => ndimage::laplace(x, mode),
            Filter::GradientMagnitude(s) => ndimage::gaussian_gradient_magnitude(x, s, mode),
        }
    }

    /// The rank filters on a whole array of any number type.
    fn apply_rank<T: rask_array::Number>(
        &self,
        x: &Array<T>,
        mode: Mode,
    ) -> rask_core::Result<Array<T>> {
        match self {
            Filter::Median(s) => ndimage::median_filter(x, s, mode),
            Filter::Minimum(s) => ndimage::minimum_filter(x, s, mode),
            Filter::Maximum(s) => ndimage::maximum_filter(x, s, mode),
            other => panic!("{other:?} is not a rank filter"),
        }
    }
}

const MODES: [Mode; 5] = [
    Mode::Reflect,
    Mode::Mirror,
    Mode::Nearest,
    Mode::Wrap,
    Mode::Constant(1.5),
];

fn mode_name(m: Mode) -> (&'static str, f64) {
    match m {
        Mode::Reflect => ("reflect", 0.0),
        Mode::Mirror => ("mirror", 0.0),
        Mode::Nearest => ("nearest", 0.0),
        Mode::Wrap => ("wrap", 0.0),
        Mode::Constant(c) => ("constant", c),
    }
}

const ORACLE: &str = r#"
import os, sys
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
from scipy import ndimage as ndi
d = sys.argv[1]
for spec in sys.argv[2:]:
    name, src, fn, mode, cval, param = spec.split(':')
    x = np.load(f"{d}/{src}.npy")
    got = np.load(f"{d}/{name}.npy")
    kw = dict(mode=mode, cval=float(cval))
    p = [float(v) for v in param.split(',')] if param else []
    if fn in ('gaussian_filter', 'gaussian_gradient_magnitude'):
        want = getattr(ndi, fn)(x, p, **kw)
    elif fn in ('uniform_filter', 'median_filter', 'minimum_filter', 'maximum_filter'):
        want = getattr(ndi, fn)(x, [int(v) for v in p], **kw)
    elif fn == 'sobel':
        want = ndi.sobel(x, int(p[0]), **kw)
    else:
        want = ndi.laplace(x, **kw)
    same = got.dtype == want.dtype and got.shape == want.shape
    g, w = got.astype(np.float64), want.astype(np.float64)
    diff = float(np.max(np.abs(g - w))) if w.size and same else 0.0
    scale = float(np.max(np.abs(w))) if w.size else 0.0
    print(name, int(same), repr(diff), repr(scale), got.dtype, want.dtype)
"#;

/// The cases of one input: rask's result written as `case<n>.npy`, the
/// oracle's spec, the case's description and its tolerance relative to
/// the result's largest magnitude.
struct Cases {
    dir: TempDir,
    specs: Vec<String>,
    about: Vec<(String, f64)>,
}

impl Cases {
    fn input<T: Element>(&self, name: &str, x: &Array<T>) {
        x.to_npy(self.dir.path(&format!("{name}.npy"))).unwrap();
    }

    fn add<T: Element>(
        &mut self,
        src: &str,
        filter: &Filter,
        mode: Mode,
        got: Array<T>,
        rtol: f64,
    ) {
        let name = format!("case{}", self.specs.len());
        if mode == Mode::Reflect {
            // Portability is the kernel's; once per filter is enough.
            assert_portable(&got);
        }
        got.to_npy(self.dir.path(&format!("{name}.npy"))).unwrap();
        let (f, p) = filter.scipy();
        let (m, c) = mode_name(mode);
        self.specs.push(format!("{name}:{src}:{f}:{m}:{c}:{p}"));
        self.about.push((
            format!("{f}({p}) mode {m} on {src} {:?}", got.chunks()),
            rtol,
        ));
    }
}

#[test]
#[cfg_attr(
    not(rask_oracle_scipy),
    ignore = "no Python with scipy was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn scipy_agrees_on_every_filter_and_mode() {
    let Some(python) = python_with("scipy.ndimage, numpy") else {
        return no_oracle("scipy");
    };
    let mut cases = Cases {
        dir: TempDir::new("ndimage", "scipy"),
        specs: Vec::new(),
        about: Vec::new(),
    };
    // Blocks smaller than some halos (rechunked), a short axis that the
    // extension crosses many times, f32 and integers.
    let a = Array::from_ndarray(data(&[9, 12, 10], 1), &[4, 5, 3]).unwrap();
    let b = Array::from_ndarray(data(&[15, 22], 2), &[4, 6])
        .unwrap()
        .astype::<f32>();
    let c = Array::from_ndarray(data(&[10, 13], 3), &[3, 5])
        .unwrap()
        .astype::<i32>();
    let d = Array::from_ndarray(data(&[3, 40], 4), &[1, 7]).unwrap();
    cases.input("a", &a);
    cases.input("b", &b);
    cases.input("c", &c);
    cases.input("d", &d);
    let float_filters = |ndim: usize| -> Vec<Filter> {
        if ndim == 3 {
            vec![
                Filter::Gaussian(vec![0.0, 1.5, 2.0]),
                Filter::Uniform(vec![3, 4, 1]),
                Filter::Median(vec![3, 2, 3]),
                Filter::Minimum(vec![2, 3, 4]),
                Filter::Maximum(vec![3, 1, 5]),
                Filter::Sobel(1),
                Filter::Laplace,
                Filter::GradientMagnitude(vec![1.0, 0.0, 1.5]),
                // Nothing along axis 0: filtered image by image.
                Filter::Uniform(vec![1, 3, 4]),
                Filter::Minimum(vec![1, 2, 3]),
                Filter::GradientMagnitude(vec![0.0, 1.0, 1.5]),
            ]
        } else {
            vec![
                Filter::Gaussian(vec![2.0, 1.0]),
                Filter::Uniform(vec![5, 2]),
                Filter::Median(vec![3, 4]),
                Filter::Minimum(vec![4, 3]),
                Filter::Maximum(vec![2, 5]),
                Filter::Sobel(0),
                Filter::Laplace,
                Filter::GradientMagnitude(vec![1.0, 2.0]),
                // Windows longer than the arrays.
                Filter::Uniform(vec![7, 101]),
                Filter::Gaussian(vec![3.0, 30.0]),
            ]
        }
    };
    for mode in MODES {
        for f in float_filters(3) {
            let got = f.apply(&a, mode).unwrap();
            cases.add("a", &f, mode, got, 1e-13);
        }
        for f in float_filters(2) {
            let got = f.apply(&b, mode).unwrap();
            cases.add("b", &f, mode, got, 1e-6);
            let got = f.apply(&d, mode).unwrap();
            cases.add("d", &f, mode, got, 1e-13);
        }
        for f in [
            Filter::Median(vec![3, 3]),
            Filter::Minimum(vec![2, 4]),
            Filter::Maximum(vec![5, 3]),
        ] {
            let got = f.apply_rank(&c, mode).unwrap();
            cases.add("c", &f, mode, got, 0.0);
        }
    }
    let rows = run_oracle(&python, ORACLE, &cases.dir.0, &cases.specs);
    assert_eq!(rows.len(), cases.specs.len());
    for (row, (about, rtol)) in rows.iter().zip(&cases.about) {
        assert_eq!(
            row[1], "1",
            "{about}: dtype or shape differs from scipy's: {row:?}"
        );
        let diff: f64 = row[2].parse().unwrap();
        let scale: f64 = row[3].parse().unwrap();
        assert!(
            diff <= rtol * scale.max(1.0),
            "{about}: differs from scipy by {diff} (largest value {scale})"
        );
    }
}

/// The filters the property test draws from, with reaches up to 4.
fn any_filter(ndim: usize) -> impl Strategy<Value = Filter> {
    let sigmas = proptest::collection::vec(prop_oneof![Just(0.0), 0.3f64..1.2], ndim..=ndim);
    let sizes = proptest::collection::vec(1usize..=5, ndim..=ndim);
    prop_oneof![
        sigmas.clone().prop_map(Filter::Gaussian),
        sizes.clone().prop_map(Filter::Uniform),
        sizes.clone().prop_map(Filter::Median),
        sizes.clone().prop_map(Filter::Minimum),
        sizes.prop_map(Filter::Maximum),
        (0..ndim).prop_map(Filter::Sobel),
        Just(Filter::Laplace),
        sigmas.prop_map(Filter::GradientMagnitude),
    ]
}

fn any_mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Reflect),
        Just(Mode::Mirror),
        Just(Mode::Nearest),
        Just(Mode::Wrap),
        (-3.0f64..3.0).prop_map(Mode::Constant),
    ]
}

fn case() -> impl Strategy<Value = (Vec<usize>, Chunks, Filter, Mode)> {
    proptest::collection::vec(1usize..=10, 1..=3).prop_flat_map(|shape| {
        let n = shape.len();
        (
            Just(shape.clone()),
            chunks_for(shape),
            any_filter(n),
            any_mode(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Halos make the block boundaries invisible: the chunked result equals
    /// the one of the whole array in one block (to rounding of the running
    /// sums), and the per-block function agrees with the latter.
    #[test]
    fn chunked_results_equal_the_single_block_result(
        (shape, chunks, filter, mode) in case(),
        seed in any::<u64>(),
    ) {
        let nd = data(&shape, seed);
        let chunked = Array::from_ndarray(nd.clone(), chunks).unwrap();
        let whole = Array::from_ndarray(nd.clone(), shape.as_slice()).unwrap();
        let got = filter.apply(&chunked, mode).unwrap().compute_with(&sync()).unwrap();
        let want = filter.apply(&whole, mode).unwrap().compute_with(&sync()).unwrap();
        assert_close(&got, &want, 1e-12);
        let direct = match &filter {
            Filter::Gaussian(s) => block::gaussian_filter(&nd, s, mode),
            Filter::Uniform(s) => block::uniform_filter(&nd, s, mode),
            Filter::Median(s) => block::median_filter(&nd, s, mode),
            Filter::Minimum(s) => block::minimum_filter(&nd, s, mode),
            Filter::Maximum(s) => block::maximum_filter(&nd, s, mode),
            Filter::Sobel(a) => block::sobel(&nd, *a, mode),
            Filter::Laplace => block::laplace(&nd, mode),
            Filter::GradientMagnitude(s) => block::gaussian_gradient_magnitude(&nd, s, mode),
        }
        .unwrap();
        prop_assert_eq!(direct, want);
    }
}

#[test]
fn halos_deeper_than_a_block_rechunk_automatically() {
    let nd = data(&[30, 7], 5);
    let x = Array::from_ndarray(nd.clone(), &[2, 7]).unwrap();
    // Radius int(4 * 2 + 0.5) = 8 along axis 0: blocks of 2 are merged.
    let y = ndimage::gaussian_filter(&x, &[2.0, 0.0], Mode::Reflect).unwrap();
    assert!(
        y.chunks().axis(0).iter().all(|&c| c >= 8),
        "{:?}",
        y.chunks()
    );
    assert_eq!(y.chunks().axis(0).iter().sum::<usize>(), 30);
    let want = block::gaussian_filter(&nd, &[2.0, 0.0], Mode::Reflect).unwrap();
    assert_close(&y.compute_with(&sync()).unwrap(), &want, 1e-12);
    // An axis shorter than the halo becomes one block.
    let z = ndimage::uniform_filter(&x, &[1, 15], Mode::Wrap).unwrap();
    assert_eq!(z.chunks().axis(1), &[7]);
    // Blocks large enough keep their chunks.
    let w = ndimage::median_filter(&x, &[3, 3], Mode::Mirror).unwrap();
    assert_eq!(w.chunks(), x.chunks());
}

#[test]
fn rank_filters_take_integers_and_are_exact() {
    let nd = ArrayD::from_shape_fn(IxDyn(&[9, 8]), |i| {
        (i[0] * 7919 + i[1] * 104_729) as u64 % 1000 + (1 << 60)
    });
    let x = Array::from_ndarray(nd.clone(), &[4, 3]).unwrap();
    for mode in MODES {
        let med = ndimage::median_filter(&x, &[3, 2], mode).unwrap();
        assert_eq!(
            med.compute_with(&sync()).unwrap(),
            block::median_filter(&nd, &[3, 2], mode).unwrap()
        );
        let mx = ndimage::maximum_filter(&x, &[4, 3], mode).unwrap();
        assert_eq!(
            mx.compute_with(&sync()).unwrap(),
            block::maximum_filter(&nd, &[4, 3], mode).unwrap()
        );
    }
}

#[test]
fn f32_is_computed_in_f64_and_rounded() {
    let nd = data(&[6, 50], 6).mapv(|v| v as f32);
    let x = Array::from_ndarray(nd.clone(), &[3, 10]).unwrap();
    let y: Array<f32> = ndimage::gaussian_filter(&x, &[0.0, 2.0], Mode::Nearest).unwrap();
    let got = y.compute_with(&sync()).unwrap().mapv(f64::from);
    let want = block::gaussian_filter(&nd.mapv(f64::from), &[0.0, 2.0], Mode::Nearest).unwrap();
    // One rounding to f32 at the end: within half an f32 ulp of the f64 result.
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= w.abs() * 6e-8 + 1e-30, "{g} vs {w}");
    }
}

#[test]
fn empty_and_zero_dimensional_arrays() {
    let e = Array::<f64>::zeros(&[0, 5], &[1, 2]).unwrap();
    let y = ndimage::gaussian_filter(&e, &[1.0, 1.0], Mode::Reflect).unwrap();
    assert_eq!(y.compute_with(&sync()).unwrap().shape(), &[0, 5]);
    let s = Array::from_ndarray(ArrayD::from_elem(IxDyn(&[]), 2.5), &[] as &[usize]).unwrap();
    let y = ndimage::median_filter(&s, &[], Mode::Reflect).unwrap();
    assert_eq!(y.compute_with(&sync()).unwrap()[IxDyn(&[])], 2.5);
}

#[test]
fn bad_parameters_are_errors_naming_them() {
    let x = Array::<f32>::ones(&[4, 6, 6], &[2, 3, 3]).unwrap();
    let e = err_text(ndimage::gaussian_filter(&x, &[2.0, 2.0], Mode::Reflect));
    assert!(e.contains("2 sigmas") && e.contains("(4, 6, 6)"), "{e}");
    let e = err_text(ndimage::gaussian_filter(
        &x,
        &[0.0, -1.0, 2.0],
        Mode::Reflect,
    ));
    assert!(e.contains("sigma -1") && e.contains("axis 1"), "{e}");
    let e = err_text(ndimage::gaussian_filter(
        &x,
        &[0.0, f64::NAN, 2.0],
        Mode::Reflect,
    ));
    assert!(e.contains("sigma NaN"), "{e}");
    let e = err_text(ndimage::gaussian_filter_truncated(
        &x,
        &[1.0; 3],
        Mode::Reflect,
        -1.0,
    ));
    assert!(e.contains("truncate -1"), "{e}");
    let e = err_text(ndimage::gaussian_filter(
        &x,
        &[1e300, 1.0, 1.0],
        Mode::Reflect,
    ));
    assert!(e.contains("radius"), "{e}");
    let e = err_text(ndimage::gaussian_gradient_magnitude(
        &x,
        &[1.0],
        Mode::Reflect,
    ));
    assert!(e.contains("1 sigmas"), "{e}");
    let e = err_text(ndimage::uniform_filter(&x, &[3, 0, 3], Mode::Reflect));
    assert!(e.contains("size 0 along axis 1"), "{e}");
    let e = err_text(ndimage::median_filter(&x, &[3, 3], Mode::Reflect));
    assert!(e.contains("2 sizes"), "{e}");
    let e = err_text(ndimage::median_filter(&x, &[4096, 4096, 4], Mode::Reflect));
    assert!(e.contains("2^24"), "{e}");
    let e = err_text(ndimage::sobel(&x, 3, Mode::Reflect));
    assert!(e.contains("axis 3"), "{e}");
    // An invalid input's own error comes back.
    let bad = &x + &Array::<f32>::ones(&[4, 6, 5], &[2, 3, 3]).unwrap();
    let e = err_text(ndimage::laplace(&bad, Mode::Reflect));
    assert!(e.contains("(4, 6, 5)"), "{e}");
    // The per-block functions check the same.
    let nd = ArrayD::<f64>::zeros(IxDyn(&[3, 3]));
    let e = err_text(block::gaussian_filter(&nd, &[1.0], Mode::Wrap));
    assert!(e.contains("1 sigmas"), "{e}");
    let e = err_text(block::minimum_filter(&nd, &[1, 0], Mode::Wrap));
    assert!(e.contains("size 0"), "{e}");
}

#[test]
fn graphs_are_portable_and_deterministic() {
    let x = Array::from_ndarray(data(&[12, 12], 7), &[5, 5]).unwrap();
    let y = ndimage::gaussian_gradient_magnitude(&x, &[1.0, 1.0], Mode::Constant(0.5)).unwrap();
    assert_portable(&y);
    let again = ndimage::gaussian_gradient_magnitude(&x, &[1.0, 1.0], Mode::Constant(0.5)).unwrap();
    assert_eq!(y.name(), again.name());
    let other = ndimage::gaussian_gradient_magnitude(&x, &[1.0, 1.0], Mode::Reflect).unwrap();
    assert_ne!(y.name(), other.name());
}

#[test]
fn block_functions_take_views_in_any_layout() {
    let nd = data(&[7, 9], 8);
    let t = nd.t();
    let owned = t.to_owned();
    for mode in MODES {
        assert_eq!(
            block::gaussian_filter(&t, &[1.0, 0.5], mode).unwrap(),
            block::gaussian_filter(&owned, &[1.0, 0.5], mode).unwrap()
        );
        assert_eq!(
            block::median_filter(&t, &[2, 3], mode).unwrap(),
            block::median_filter(&owned, &[2, 3], mode).unwrap()
        );
        assert_eq!(
            block::minimum_filter(&t.slice(rask_array::ndarray::s![..;2, ..]), &[3, 2], mode)
                .unwrap(),
            block::minimum_filter(
                &owned.slice(rask_array::ndarray::s![..;2, ..]).to_owned(),
                &[3, 2],
                mode
            )
            .unwrap()
        );
    }
}

/// A window far longer than the array: the extension repeats, and the
/// tile buffers stay bounded.
#[test]
fn windows_longer_than_the_array_extend_repeatedly() {
    let nd = data(&[4, 3], 9);
    for mode in MODES {
        let x = Array::from_ndarray(nd.clone(), &[1, 2]).unwrap();
        let got = ndimage::uniform_filter(&x, &[9, 1001], mode).unwrap();
        let want = block::uniform_filter(&nd, &[9, 1001], mode).unwrap();
        assert_close(&got.compute_with(&sync()).unwrap(), &want, 1e-12);
    }
}
