//! `rask_array::wavelet` against PyWavelets (filters, coefficient lengths
//! and values, reconstructions) on several shapes, chunkings and modes;
//! property tests that a transform along a chunked axis equals the
//! transform of the whole axis, for random chunkings; and bad input.

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, Axis};
use rask_array::wavelet::{self, Mode, Wavelet};
use rask_array::{Array, ChunkSpec, Chunks};
use rask_local as _;

use crate::support::{TempDir, chunks_for, data, err_text, no_oracle, python_with, run_oracle};

/// The largest difference relative to the largest magnitude of `want`.
fn rel_err(got: &ArrayD<f64>, want: &ArrayD<f64>) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let scale = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
    got.iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()))
        / scale
}

#[test]
#[cfg_attr(
    not(rask_oracle_pywt),
    ignore = "no Python with PyWavelets was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn filters_equal_pywavelets() {
    let Some(python) = python_with("pywt, numpy") else {
        return no_oracle("PyWavelets");
    };
    let names: Vec<String> = Wavelet::known().map(str::to_owned).collect();
    let script = r#"
import sys, pywt
for name in sys.argv[2:]:
    w = pywt.Wavelet(name)
    for f in (w.dec_lo, w.dec_hi, w.rec_lo, w.rec_hi):
        print(name, " ".join(repr(float(v)) for v in f))
"#;
    let dir = TempDir::new("wavelet", "filters");
    let lines = run_oracle(&python, script, &dir.0, &names);
    assert_eq!(lines.len(), 4 * names.len());
    for (i, name) in names.iter().enumerate() {
        let w = Wavelet::new(name).unwrap();
        let ours = [w.dec_lo(), w.dec_hi(), w.rec_lo(), w.rec_hi()];
        for (k, filter) in ours.iter().enumerate() {
            let line = &lines[4 * i + k];
            assert_eq!(&line[0], name);
            let theirs: Vec<f64> = line[1..].iter().map(|v| v.parse().unwrap()).collect();
            assert_eq!(
                filter, &theirs,
                "{name}: filter {k} differs from PyWavelets'"
            );
        }
    }
}

/// PyWavelets on every case: `{name}.in.npy` is the input; the file
/// `{name}.py` holds `wavelet mode level axis` (1-d) or `wavelet mode level
/// axis0 axis1` (2-d). Writes the coefficients, flattened in PyWavelets'
/// order, to `{name}.c{i}.npy`, the reconstruction to `{name}.rec.npy`,
/// and prints the name and the number of coefficient arrays.
const ORACLE: &str = r#"
import sys, numpy as np, pywt
d = sys.argv[1]
for name in sys.argv[2:]:
    x = np.load(f"{d}/{name}.in.npy")
    spec = open(f"{d}/{name}.py").read().split()
    w, mode, level = spec[0], spec[1], int(spec[2])
    axes = [int(a) for a in spec[3:]]
    if len(axes) == 1:
        c = pywt.wavedec(x, w, mode=mode, level=level, axis=axes[0])
        rec = pywt.waverec(c, w, mode=mode, axis=axes[0])
        flat = c
    else:
        c = pywt.wavedec2(x, w, mode=mode, level=level, axes=axes)
        rec = pywt.waverec2(c, w, mode=mode, axes=axes)
        flat = [c[0]] + [a for lvl in c[1:] for a in lvl]
    for i, a in enumerate(flat):
        np.save(f"{d}/{name}.c{i}.npy", a)
    np.save(f"{d}/{name}.rec.npy", rec)
    print(name, len(flat), rec.dtype.name)
"#;

struct Case {
    name: String,
    coeffs: Vec<ArrayD<f64>>,
    rec: ArrayD<f64>,
    tol: f64,
}

#[test]
#[cfg_attr(
    not(rask_oracle_pywt),
    ignore = "no Python with PyWavelets was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn transforms_equal_pywavelets() {
    let Some(python) = python_with("pywt, numpy") else {
        return no_oracle("PyWavelets");
    };
    let dir = TempDir::new("wavelet", "pywt");
    let mut cases: Vec<Case> = Vec::new();
    let modes = [
        Mode::Symmetric,
        Mode::Periodization,
        Mode::Reflect,
        Mode::Periodic,
        Mode::Zero,
        Mode::Constant,
    ];
    // 1-d transforms along a chunked axis: (shape, chunks, axis, level).
    let layouts: [(&[usize], &[usize], usize, usize); 4] = [
        (&[37], &[10], 0, 3),
        (&[64, 3, 2], &[16, 2, 2], 0, 3),
        (&[3, 29], &[2, 5], 1, 2),
        (&[5, 4], &[2, 4], 0, 4), // deeper than the data: boundary effects only
    ];
    let mut n = 0;
    for (li, &(shape, chunks, axis, level)) in layouts.iter().enumerate() {
        for wname in ["haar", "db2", "db4", "sym4", "coif1", "db8"] {
            let mode = modes[n % modes.len()];
            n += 1;
            let name = format!("w{li}_{wname}_{}", mode.name());
            let x = Array::from_ndarray(data(shape, n as u64), chunks).unwrap();
            x.to_npy(dir.path(&format!("{name}.in.npy"))).unwrap();
            let spec = format!("{wname} {} {level} {axis}", mode.name());
            std::fs::write(dir.path(&format!("{name}.py")), spec).unwrap();
            let c = wavelet::wavedec(&x, wname, level, Axis(axis), mode).unwrap();
            let rec = wavelet::waverec(&c, wname, Axis(axis), mode).unwrap();
            cases.push(Case {
                name,
                coeffs: c.iter().map(|a| a.compute().unwrap()).collect(),
                rec: rec.compute().unwrap(),
                tol: 1e-12,
            });
        }
    }
    // f32, the contract's call: time axis in blocks of 7 frames.
    let x = Array::from_ndarray(data(&[50, 4, 3], 99), &[7, 4, 3]).unwrap();
    x.to_npy(dir.path("f32.in.npy")).unwrap();
    let x32 = x.astype::<f32>();
    std::fs::write(dir.path("f32.py"), "db4 symmetric 3 0").unwrap();
    let c: Vec<Array<f32>> = wavelet::wavedec(&x32, "db4", 3, Axis(0), Mode::Symmetric).unwrap();
    let rec = wavelet::waverec(&c, "db4", Axis(0), Mode::Symmetric).unwrap();
    cases.push(Case {
        name: "f32".into(),
        coeffs: c
            .iter()
            .map(|a| a.astype::<f64>().compute().unwrap())
            .collect(),
        rec: rec.astype::<f64>().compute().unwrap(),
        tol: 1e-5,
    });
    // 2-d over chunked image axes.
    /// Shape, chunks, axes and level of a 2-d case.
    type Layout2 = (&'static [usize], &'static [usize], [usize; 2], usize);
    let layouts2: [Layout2; 3] = [
        (&[20, 17], &[6, 5], [0, 1], 2),
        (&[2, 33, 24], &[1, 8, 24], [1, 2], 2),
        (&[12, 3, 9], &[5, 3, 4], [2, 0], 1),
    ];
    for (li, &(shape, chunks, axes, level)) in layouts2.iter().enumerate() {
        for (wname, mode) in [
            ("db2", Mode::Symmetric),
            ("sym4", Mode::Periodization),
            ("haar", Mode::Reflect),
        ] {
            let name = format!("w2d{li}_{wname}_{}", mode.name());
            n += 1;
            let x = Array::from_ndarray(data(shape, n as u64), chunks).unwrap();
            x.to_npy(dir.path(&format!("{name}.in.npy"))).unwrap();
            let spec = format!("{wname} {} {level} {} {}", mode.name(), axes[0], axes[1]);
            std::fs::write(dir.path(&format!("{name}.py")), spec).unwrap();
            let axes = [Axis(axes[0]), Axis(axes[1])];
            let c = wavelet::wavedec2(&x, wname, level, axes, mode).unwrap();
            let rec = wavelet::waverec2(&c, wname, axes, mode).unwrap();
            let mut coeffs = vec![c.approx.compute().unwrap()];
            for lvl in &c.details {
                coeffs.extend(lvl.iter().map(|a| a.compute().unwrap()));
            }
            cases.push(Case {
                name,
                coeffs,
                rec: rec.compute().unwrap(),
                tol: 1e-12,
            });
        }
    }

    let names: Vec<String> = cases.iter().map(|c| c.name.clone()).collect();
    let lines = run_oracle(&python, ORACLE, &dir.0, &names);
    assert_eq!(lines.len(), cases.len());
    let load = |file: String| {
        Array::<f64>::from_npy(dir.path(&file), ChunkSpec::Whole)
            .unwrap()
            .compute()
            .unwrap()
    };
    for (case, line) in cases.iter().zip(&lines) {
        assert_eq!(line[0], case.name);
        let count: usize = line[1].parse().unwrap();
        assert_eq!(
            count,
            case.coeffs.len(),
            "{}: number of coefficient arrays",
            case.name
        );
        for (i, got) in case.coeffs.iter().enumerate() {
            let want = load(format!("{}.c{i}.npy", case.name));
            assert_eq!(
                got.shape(),
                want.shape(),
                "{}: shape of coefficients {i}",
                case.name
            );
            let err = rel_err(got, &want);
            assert!(
                err <= case.tol,
                "{}: coefficients {i} differ by {err:e}",
                case.name
            );
        }
        let want = load(format!("{}.rec.npy", case.name));
        assert_eq!(
            case.rec.shape(),
            want.shape(),
            "{}: reconstruction shape",
            case.name
        );
        let err = rel_err(&case.rec, &want);
        assert!(
            err <= case.tol,
            "{}: reconstruction differs by {err:e}",
            case.name
        );
    }
}

/// A random chunking of a 1-d axis of length `n` (blocks of at least 1).
fn axis_chunks(n: usize) -> impl Strategy<Value = Vec<usize>> {
    chunks_for(vec![n]).prop_map(|c: Chunks| c.axis(0).to_vec())
}

fn mode_strategy() -> impl Strategy<Value = Mode> {
    prop::sample::select(Mode::ALL.to_vec())
}

fn wavelet_strategy() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["haar", "db2", "db4", "sym4", "coif1", "coif3"])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Across block boundaries: a multilevel transform along an axis split
    /// at random equals the one of the whole axis, bit for bit, and the
    /// reconstruction from chunked coefficients equals the whole one too.
    #[test]
    fn chunked_axes_transform_as_the_whole_axis(
        (n, chunks) in (2usize..70).prop_flat_map(|n| (Just(n), axis_chunks(n))),
        cols in 1usize..3,
        wname in wavelet_strategy(),
        mode in mode_strategy(),
        level in 1usize..4,
        seed in 0u64..1000,
    ) {
        let nd = data(&[n, cols], seed);
        let whole = Array::from_ndarray(nd.clone(), &[n, cols]).unwrap();
        let split = Array::from_ndarray(
            nd,
            Chunks::new(vec![chunks.clone(), vec![cols]], &[n, cols]).unwrap(),
        )
        .unwrap();
        let cw = wavelet::wavedec(&whole, wname, level, Axis(0), mode).unwrap();
        let cs = wavelet::wavedec(&split, wname, level, Axis(0), mode).unwrap();
        for (a, b) in cw.iter().zip(&cs) {
            prop_assert_eq!(a.compute().unwrap(), b.compute().unwrap());
        }
        let rw = wavelet::waverec(&cw, wname, Axis(0), mode).unwrap().compute().unwrap();
        let rs = wavelet::waverec(&cs, wname, Axis(0), mode).unwrap().compute().unwrap();
        prop_assert_eq!(&rw, &rs);
        // Orthogonal wavelets reconstruct the signal (periodization and the
        // extension modes alike), up to one extra sample for odd lengths.
        let orig = whole.compute().unwrap();
        let back = rs.slice(rask_array::ndarray::s![..n, ..]).to_owned().into_dyn();
        prop_assert!(rel_err(&back, &orig) < 1e-10, "reconstruction off by {}", rel_err(&back, &orig));
    }

    /// The same across both axes of an image, with random chunkings.
    #[test]
    fn chunked_images_transform_as_the_whole_image(
        ((rows, cols), chunks) in (2usize..30, 2usize..30)
            .prop_flat_map(|(r, c)| (Just((r, c)), chunks_for(vec![r, c]))),
        wname in wavelet_strategy(),
        mode in mode_strategy(),
        level in 1usize..3,
    ) {
        let nd = data(&[rows, cols], 7);
        let whole = Array::from_ndarray(nd.clone(), &[rows, cols]).unwrap();
        let split = Array::from_ndarray(nd, chunks).unwrap();
        let axes = [Axis(0), Axis(1)];
        let cw = wavelet::wavedec2(&whole, wname, level, axes, mode).unwrap();
        let cs = wavelet::wavedec2(&split, wname, level, axes, mode).unwrap();
        prop_assert_eq!(cw.approx.compute().unwrap(), cs.approx.compute().unwrap());
        for (a, b) in cw.details.iter().zip(&cs.details) {
            for k in 0..3 {
                prop_assert_eq!(a[k].compute().unwrap(), b[k].compute().unwrap());
            }
        }
        let rw = wavelet::waverec2(&cw, wname, axes, mode).unwrap().compute().unwrap();
        let rs = wavelet::waverec2(&cs, wname, axes, mode).unwrap().compute().unwrap();
        prop_assert_eq!(rw, rs);
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let x = Array::<f64>::ones(&[10, 4], &[3, 4]).unwrap();
    let e = err_text(wavelet::wavedec(&x, "db99", 2, Axis(0), Mode::Symmetric));
    assert!(e.contains("unknown wavelet 'db99'"), "{e}");
    for known in ["haar", "db2", "db4", "sym4", "coif1"] {
        assert!(e.contains(known), "{e}");
    }
    let e = err_text(wavelet::wavedec(&x, "db2", 2, Axis(2), Mode::Symmetric));
    assert!(e.contains("axis 2") && e.contains("(10, 4)"), "{e}");
    let one = Array::<f64>::ones(&[1], &[1]).unwrap();
    let e = err_text(wavelet::wavedec(&one, "haar", 1, Axis(0), Mode::Reflect));
    assert!(e.contains("reflect") && e.contains("at least 2"), "{e}");
    let e = err_text(wavelet::waverec::<f64>(
        &[],
        "haar",
        Axis(0),
        Mode::Symmetric,
    ));
    assert!(e.contains("no coefficients"), "{e}");
    let c = wavelet::wavedec(&x, "db2", 2, Axis(0), Mode::Symmetric).unwrap();
    let e = err_text(wavelet::waverec(
        &[c[0].clone(), c[2].clone()],
        "db2",
        Axis(0),
        Mode::Symmetric,
    ));
    assert!(e.contains("does not go with"), "{e}");
    let e = err_text(wavelet::wavedec2(
        &x,
        "db2",
        1,
        [Axis(1), Axis(1)],
        Mode::Symmetric,
    ));
    assert!(e.contains("two different axes"), "{e}");
    let e = err_text(
        "sideways"
            .parse::<Mode>()
            .map_err(|e| rask_core::Error::invalid("mode", e)),
    );
    assert!(e.contains("periodization"), "{e}");
    // An invalid input array carries its error here.
    let bad = &x + &Array::<f64>::ones(&[3], &[3]).unwrap();
    assert!(wavelet::wavedec(&bad, "haar", 1, Axis(0), Mode::Symmetric).is_err());
    // Levels past any use are refused before anything is planned.
    for level in [wavelet::MAX_LEVEL + 1, usize::MAX] {
        let e = err_text(wavelet::wavedec(
            &x,
            "haar",
            level,
            Axis(0),
            Mode::Symmetric,
        ));
        assert!(e.contains(&format!("level {level}")), "{e}");
        let e = err_text(wavelet::wavedec2(
            &x,
            "haar",
            level,
            [Axis(0), Axis(1)],
            Mode::Symmetric,
        ));
        assert!(e.contains("the most is 64"), "{e}");
    }
    // Coefficients whose approximation lacks the details' axes.
    let c = wavelet::wavedec2(&x, "haar", 1, [Axis(1), Axis(0)], Mode::Symmetric).unwrap();
    let flat = wavelet::Coeffs2 {
        approx: Array::<f64>::ones(&[5], &[5]).unwrap(),
        details: c.details,
    };
    let e = err_text(wavelet::waverec2(
        &flat,
        "haar",
        [Axis(1), Axis(0)],
        Mode::Symmetric,
    ));
    assert!(e.contains("as many axes") && e.contains("(5,)"), "{e}");
}

#[test]
fn transforms_are_portable() {
    let x = Array::from_ndarray(data(&[30, 3, 4], 5), &[7, 2, 4]).unwrap();
    let c = wavelet::wavedec(&x.astype::<f32>(), "db4", 2, Axis(0), Mode::Symmetric).unwrap();
    for a in &c {
        crate::support::assert_portable(a);
    }
    crate::support::assert_portable(
        &wavelet::waverec(&c, "db4", Axis(0), Mode::Symmetric).unwrap(),
    );
    let c2 = wavelet::wavedec2(&x, "sym4", 1, [Axis(1), Axis(2)], Mode::Periodization).unwrap();
    crate::support::assert_portable(
        &wavelet::waverec2(&c2, "sym4", [Axis(1), Axis(2)], Mode::Periodization).unwrap(),
    );
}

#[test]
fn idwt_lines_up_coefficients_chunked_differently() {
    let x = Array::from_ndarray(data(&[20, 6], 3), &[20, 6]).unwrap();
    let (a, d) = wavelet::dwt(&x, "db2", Axis(0), Mode::Symmetric).unwrap();
    let want = wavelet::idwt(&a, &d, "db2", Axis(0), Mode::Symmetric)
        .unwrap()
        .compute()
        .unwrap();
    let a2 = a.rechunk(&[4, 2]).unwrap();
    let d2 = d.rechunk(&[3, 5]).unwrap();
    let got = wavelet::idwt(&a2, &d2, "db2", Axis(0), Mode::Symmetric).unwrap();
    assert_eq!(
        got.chunks().axis(1),
        &[2, 2, 2],
        "the approximation's blocks"
    );
    assert_eq!(got.compute().unwrap(), want);
    assert!(rel_err(&want, &x.compute().unwrap()) < 1e-12);
}
