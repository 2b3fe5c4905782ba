//! `rask_array::fft` against `numpy.fft` (NumPy 2: `complex64` results for
//! `float32` input), on several shapes and chunkings, and the complex
//! element types through `.npy` files both ways.

use rask_array::ndarray::{ArrayD, Axis};
use rask_array::{Array, ChunkSpec, Complex, Element, fft};
use rask_local as _;

use crate::support::{TempDir, data, no_oracle, python_with, run_oracle};

/// Runs NumPy on every case: `{name}.in.npy` is the input `x`, the text
/// file `{name}.py` an expression of `x` and `np`; the result goes to
/// `{name}.out.npy` and its dtype is printed.
const ORACLE: &str = r#"
import sys, numpy as np
d = sys.argv[1]
for name in sys.argv[2:]:
    x = np.load(f"{d}/{name}.in.npy")
    expr = open(f"{d}/{name}.py").read()
    y = np.asarray(eval(expr, {"np": np, "x": x}))
    np.save(f"{d}/{name}.out.npy", y)
    print(name, y.dtype.name, ",".join(map(str, y.shape)))
"#;

/// One case: the input, the NumPy expression, and rask's result.
struct Case {
    name: String,
    expr: String,
    got: Got,
}

enum Got {
    C64(ArrayD<Complex<f32>>),
    C128(ArrayD<Complex<f64>>),
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

/// The largest difference between two arrays, relative to the largest
/// magnitude in `want` (so a sum of many terms is judged by its scale).
fn rel_err<T: Copy + Default>(got: &ArrayD<T>, want: &ArrayD<T>, abs: impl Fn(T, T) -> f64) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let scale = want
        .iter()
        .map(|&w| abs(w, T::default()))
        .fold(1.0, f64::max);
    got.iter()
        .zip(want)
        .map(|(&g, &w)| abs(g, w))
        .fold(0.0, f64::max)
        / scale
}

#[test]
#[cfg_attr(
    not(rask_oracle_numpy),
    ignore = "no Python with NumPy was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn transforms_equal_numpy_fft() {
    let Some(python) = python_with("numpy") else {
        return no_oracle("NumPy");
    };
    let dir = TempDir::new("fft", "numpy");
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |name: &str, x_f64: &Array<f64>, expr: &str, got: Got| {
        x_f64.to_npy(dir.path(&format!("{name}.in.npy"))).unwrap();
        std::fs::write(dir.path(&format!("{name}.py")), expr).unwrap();
        cases.push(Case {
            name: name.into(),
            expr: expr.into(),
            got,
        });
    };
    let whole = ChunkSpec::Whole;
    // 3-d, the last axis whole, the others chunked unevenly.
    let x = Array::from_ndarray(data(&[5, 6, 16], 1), [2.into(), 4.into(), whole.clone()]).unwrap();
    let x32 = x.astype::<f32>();
    let ax = Axis(2);
    add(
        "fft",
        &x,
        "np.fft.fft(x, axis=2)",
        Got::C128(fft::fft(&x, ax).unwrap().compute().unwrap()),
    );
    add(
        "rfft",
        &x,
        "np.fft.rfft(x, axis=2)",
        Got::C128(fft::rfft(&x, ax).unwrap().compute().unwrap()),
    );
    add(
        "rfft_f32",
        &x,
        "np.fft.rfft(x.astype(np.float32), axis=2)",
        Got::C64(fft::rfft(&x32, ax).unwrap().compute().unwrap()),
    );
    add(
        "fft_f32",
        &x,
        "np.fft.fft(x.astype(np.float32), axis=2)",
        Got::C64(fft::fft(&x32, ax).unwrap().compute().unwrap()),
    );
    add(
        "rfft_n_pad",
        &x,
        "np.fft.rfft(x, n=21, axis=2)",
        Got::C128(fft::rfft_n(&x, 21, ax).unwrap().compute().unwrap()),
    );
    add(
        "fft_n_crop",
        &x,
        "np.fft.fft(x, n=7, axis=2)",
        Got::C128(fft::fft_n(&x, 7, ax).unwrap().compute().unwrap()),
    );
    let spec = fft::fft(&x, ax).unwrap();
    add(
        "ifft",
        &x,
        "np.fft.ifft(np.fft.fft(x, axis=2), axis=2)",
        Got::C128(fft::ifft(&spec, ax).unwrap().compute().unwrap()),
    );
    add(
        "ifft_n",
        &x,
        "np.fft.ifft(np.fft.fft(x, axis=2), n=9, axis=2)",
        Got::C128(fft::ifft_n(&spec, 9, ax).unwrap().compute().unwrap()),
    );
    let rspec = fft::rfft(&x, ax).unwrap();
    add(
        "irfft",
        &x,
        "np.fft.irfft(np.fft.rfft(x, axis=2), axis=2)",
        Got::F64(fft::irfft(&rspec, ax).unwrap().compute().unwrap()),
    );
    add(
        "irfft_n_odd",
        &x,
        "np.fft.irfft(np.fft.rfft(x, axis=2), n=15, axis=2)",
        Got::F64(fft::irfft_n(&rspec, 15, ax).unwrap().compute().unwrap()),
    );
    // Complex input whose DC imaginary part NumPy ignores.
    let skew = &rspec * Complex::new(0.5, 2.0);
    add(
        "irfft_skew",
        &x,
        "np.fft.irfft(np.fft.rfft(x, axis=2) * (0.5+2j), axis=2)",
        Got::F64(fft::irfft(&skew, ax).unwrap().compute().unwrap()),
    );
    let rspec32 = fft::rfft(&x32, ax).unwrap();
    add(
        "irfft_f32",
        &x,
        "np.fft.irfft(np.fft.rfft(x.astype(np.float32), axis=2), axis=2)",
        Got::F32(fft::irfft(&rspec32, ax).unwrap().compute().unwrap()),
    );
    // Reductions of spectra.
    add(
        "sum_axis",
        &x,
        "np.fft.fft(x, axis=2).sum(axis=1)",
        Got::C128(spec.sum_axis(Axis(1)).compute().unwrap()),
    );
    add(
        "sum",
        &x,
        "np.fft.fft(x, axis=2).sum()",
        Got::C128(spec.sum().compute().unwrap()),
    );
    add(
        "mean_f32",
        &x,
        "np.fft.rfft(x.astype(np.float32), axis=2).mean(axis=(0, 2))",
        Got::C64(rspec32.mean_axes(&[0, 2], false).compute().unwrap()),
    );
    // Along the first axis, a prime length.
    let y = Array::from_ndarray(data(&[13, 4, 3], 2), [whole.clone(), 3.into(), 2.into()]).unwrap();
    add(
        "fft_axis0",
        &y,
        "np.fft.fft(x, axis=0)",
        Got::C128(fft::fft(&y, Axis(0)).unwrap().compute().unwrap()),
    );
    add(
        "rfft_axis0",
        &y,
        "np.fft.rfft(x, axis=0)",
        Got::C128(fft::rfft(&y, Axis(0)).unwrap().compute().unwrap()),
    );
    // 2-d and n-d.
    let z = Array::from_ndarray(
        data(&[3, 10, 12], 3),
        [1.into(), whole.clone(), whole.clone()],
    )
    .unwrap();
    add(
        "fft2",
        &z,
        "np.fft.fft2(x)",
        Got::C128(fft::fft2(&z).unwrap().compute().unwrap()),
    );
    add(
        "rfft2",
        &z,
        "np.fft.rfft2(x)",
        Got::C128(fft::rfft2(&z).unwrap().compute().unwrap()),
    );
    add(
        "ifft2",
        &z,
        "np.fft.ifft2(x)",
        Got::C128(fft::ifft2(&z).unwrap().compute().unwrap()),
    );
    let r2 = fft::rfft2(&z).unwrap();
    add(
        "irfft2",
        &z,
        "np.fft.irfft2(np.fft.rfft2(x))",
        Got::F64(fft::irfft2(&r2).unwrap().compute().unwrap()),
    );
    add(
        "irfftn_s",
        &z,
        "np.fft.irfftn(np.fft.rfft2(x), s=(10, 11), axes=(1, 2))",
        Got::F64(
            fft::irfftn_s(&r2, &[10, 11], Some(&[Axis(1), Axis(2)]))
                .unwrap()
                .compute()
                .unwrap(),
        ),
    );
    let w = z.rechunk(&[3, 10, 12]).unwrap();
    add(
        "fftn",
        &z,
        "np.fft.fftn(x)",
        Got::C128(fft::fftn(&w, None).unwrap().compute().unwrap()),
    );
    add(
        "rfftn",
        &z,
        "np.fft.rfftn(x)",
        Got::C128(fft::rfftn(&w, None).unwrap().compute().unwrap()),
    );
    add(
        "ifftn",
        &z,
        "np.fft.ifftn(x, axes=(0, 2))",
        Got::C128(
            fft::ifftn(&w, Some(&[Axis(0), Axis(2)]))
                .unwrap()
                .compute()
                .unwrap(),
        ),
    );
    add(
        "fftshift",
        &z,
        "np.fft.fftshift(x)",
        Got::F64(fft::fftshift(&z, None).unwrap().compute().unwrap()),
    );
    add(
        "ifftshift",
        &z,
        "np.fft.ifftshift(x, axes=1)",
        Got::F64(
            fft::ifftshift(&z, Some(&[Axis(1)]))
                .unwrap()
                .compute()
                .unwrap(),
        ),
    );
    for n in [1usize, 8, 9] {
        add(
            &format!("fftfreq{n}"),
            &x,
            &format!("np.fft.fftfreq({n}, 0.1)"),
            Got::F64(fft::fftfreq(n, 0.1, &[4]).unwrap().compute().unwrap()),
        );
        add(
            &format!("rfftfreq{n}"),
            &x,
            &format!("np.fft.rfftfreq({n}, 0.1)"),
            Got::F64(fft::rfftfreq(n, 0.1, &[2]).unwrap().compute().unwrap()),
        );
    }

    let names: Vec<String> = cases.iter().map(|c| c.name.clone()).collect();
    let lines = run_oracle(&python, ORACLE, &dir.0, &names);
    assert_eq!(lines.len(), cases.len());
    for (case, line) in cases.iter().zip(&lines) {
        let out = dir.path(&format!("{}.out.npy", case.name));
        let (dtype, err, tol) = match &case.got {
            Got::C64(g) => {
                let want = Array::<Complex<f32>>::from_npy(&out, ChunkSpec::Whole)
                    .unwrap()
                    .compute()
                    .unwrap();
                (
                    Complex::<f32>::DTYPE,
                    rel_err(g, &want, |a, b| (a - b).norm() as f64),
                    1e-5,
                )
            }
            Got::C128(g) => {
                let want = Array::<Complex<f64>>::from_npy(&out, ChunkSpec::Whole)
                    .unwrap()
                    .compute()
                    .unwrap();
                (
                    Complex::<f64>::DTYPE,
                    rel_err(g, &want, |a, b| (a - b).norm()),
                    1e-12,
                )
            }
            Got::F32(g) => {
                let want = Array::<f32>::from_npy(&out, ChunkSpec::Whole)
                    .unwrap()
                    .compute()
                    .unwrap();
                (
                    f32::DTYPE,
                    rel_err(g, &want, |a, b| (a - b).abs() as f64),
                    1e-5,
                )
            }
            Got::F64(g) => {
                let want = Array::<f64>::from_npy(&out, ChunkSpec::Whole)
                    .unwrap()
                    .compute()
                    .unwrap();
                (f64::DTYPE, rel_err(g, &want, |a, b| (a - b).abs()), 1e-12)
            }
        };
        assert_eq!(line[0], case.name);
        assert_eq!(
            line[1], dtype,
            "{}: NumPy's {} gives {}",
            case.name, case.expr, line[1]
        );
        assert!(
            err <= tol,
            "{}: {} differs from rask by {err:e} (relative)",
            case.name,
            case.expr
        );
    }
}

#[test]
#[cfg_attr(
    not(rask_oracle_numpy),
    ignore = "no Python with NumPy was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn complex_npy_files_round_trip_with_numpy() {
    let Some(python) = python_with("numpy") else {
        return no_oracle("NumPy");
    };
    let dir = TempDir::new("fft", "complex-npy");
    let re = Array::from_ndarray(data(&[4, 5], 4), &[3, 2]).unwrap();
    let z = (re.to_complex() * Complex::new(1.0, -0.5)).conj();
    z.to_npy(dir.path("z128.npy")).unwrap();
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
z = np.load(f"{d}/z128.npy")
assert z.dtype == np.complex128, z.dtype
np.save(f"{d}/back64.npy", (z * 2).astype(np.complex64))
np.save(f"{d}/big.npy", (z * 2).astype(">c16"))
print(z.dtype.name, repr(complex(z[3, 4])))
"#;
    let lines = run_oracle(&python, script, &dir.0, &[]);
    assert_eq!(lines[0][0], "complex128");
    let zz = z.compute().unwrap();
    let back = Array::<Complex<f32>>::from_npy(dir.path("back64.npy"), &[2, 5]).unwrap();
    let big = Array::<Complex<f64>>::from_npy(dir.path("big.npy"), &[4, 5]).unwrap();
    assert_eq!(big.compute().unwrap(), zz.mapv(|v| v * 2.0));
    let back = back.compute().unwrap();
    for (b, w) in back.iter().zip(&zz) {
        assert_eq!(*b, Complex::new((w.re * 2.0) as f32, (w.im * 2.0) as f32));
    }
    // A complex file is not an f64 array: the error names the type to use.
    let e = Array::<f64>::from_npy(dir.path("z128.npy"), &[2, 2])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("complex128") && e.contains("Complex<f64>"),
        "{e}"
    );
}

#[test]
fn transforms_are_portable() {
    let x =
        Array::from_ndarray(data(&[4, 6, 8], 5), [2.into(), 3.into(), ChunkSpec::Whole]).unwrap();
    let spec = fft::rfft(&x.astype::<f32>(), Axis(2)).unwrap();
    crate::support::assert_portable(&spec);
    let z = fft::fftn(&spec.rechunk(&[4, 6, 5]).unwrap(), None).unwrap();
    let back = fft::irfft(&(&z.conj() * Complex::new(0.5f32, 0.0)), Axis(2)).unwrap();
    crate::support::assert_portable(&back);
    crate::support::assert_portable(&fft::fftshift(&z.abs(), None).unwrap());
    crate::support::assert_portable(&z.mean_axis(Axis(0)));
}

/// Spectra go to Zarr (`complex64`/`complex128`, as zarr-python names
/// them) and back.
#[cfg(feature = "zarr")]
#[test]
fn spectra_round_trip_through_zarr() {
    let dir = TempDir::new("fft", "zarr");
    let x = Array::from_ndarray(data(&[6, 8], 6), [3.into(), ChunkSpec::Whole]).unwrap();
    let spec = fft::rfft(&x.astype::<f32>(), Axis(1)).unwrap();
    spec.to_zarr(dir.path("spec.zarr")).unwrap();
    let back = Array::<Complex<f32>>::from_zarr(dir.path("spec.zarr")).unwrap();
    assert_eq!(back.compute().unwrap(), spec.compute().unwrap());
    let z = fft::fft(&x, Axis(1)).unwrap();
    z.to_zarr(dir.path("z.zarr")).unwrap();
    let back = Array::<Complex<f64>>::from_zarr(dir.path("z.zarr")).unwrap();
    assert_eq!(back.compute().unwrap(), z.compute().unwrap());
    let e = Array::<f64>::from_zarr(dir.path("z.zarr"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("complex128"), "{e}");
}
