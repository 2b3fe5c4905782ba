//! The array contract through the facade, on small sizes.

use rask::array::ndarray::{self, Axis};
use rask::array::{self, Array};

#[test]
fn the_array_contract_compiles_and_matches_ndarray() -> rask::Result<()> {
    let x: Array<f64> = array::random::uniform(&[200, 200], &[50, 50], 42)?;
    let xs = x.compute()?;
    let nd = ndarray::Array2::<f64>::from_shape_fn((40, 30), |(i, j)| (i * 30 + j) as f64);
    let a: Array<f64> = Array::from_ndarray(nd.clone().into_dyn(), &[15, 7])?;
    let total: f64 = (&x + &x.t()).sum().compute_scalar()?;
    let want = (&xs + &xs.t()).sum();
    assert!((total - want).abs() <= 1e-9 * want);
    let col_means: ndarray::ArrayD<f64> = x.mean_axis(Axis(0)).compute()?;
    let want = xs.mean_axis(Axis(0)).unwrap();
    assert!(
        col_means
            .iter()
            .zip(want.iter())
            .all(|(g, w)| (g - w).abs() < 1e-12)
    );
    let s: f64 = x.std(0.0).compute_scalar()?;
    assert!((s - xs.std(0.0)).abs() < 1e-12);
    let p: Array<f64> = x.matmul(&x.t())?;
    let x2 = xs.clone().into_dimensionality::<ndarray::Ix2>().unwrap();
    let want = x2.dot(&x2.t());
    let got = p.compute()?;
    assert!(
        got.iter()
            .zip(want.iter())
            .all(|(g, w)| (g - w).abs() < 1e-9 * w.abs().max(1.0))
    );
    let y = x.map_blocks(|b| b.mapv(f64::sqrt));
    assert_eq!(y.compute()?, xs.mapv(f64::sqrt));
    let z = rask::array::stack(Axis(0), &[&a, &a])?;
    assert_eq!(z.shape(), &[2, 40, 30]);
    assert_eq!(
        z.compute()?,
        ndarray::stack(Axis(0), &[nd.view(), nd.view()])
            .unwrap()
            .into_dyn()
    );
    Ok(())
}

#[test]
fn array_errors_come_back_from_compute_without_panics() {
    let a = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let b = Array::<f64>::ones(&[5], &[5]).unwrap();
    let err = (&a + &b).sum().compute_scalar().unwrap_err().to_string();
    assert!(err.contains("(3, 4) (5,)"), "{err}");
    // An invalid array says so before compute.
    let c = &a + &b;
    assert!(!c.is_valid() && c.try_shape().is_err() && c.try_chunks().is_err());
    assert!(c.error().is_some_and(|e| e.contains("(3, 4) (5,)")));
    assert!(format!("{c:?}").contains("invalid"));
    assert!(c.rechunk(&[1]).unwrap_err().to_string().contains("(5,)"));
    let err = a.mean_axis(Axis(2)).compute().unwrap_err().to_string();
    assert!(err.contains("axis 2") && err.contains("(3, 4)"), "{err}");
    // A fallible method returns the error where it is called.
    let err = a.reshape(&[5, 2]).unwrap_err().to_string();
    assert!(err.contains("(3, 4)") && err.contains("(5, 2)"), "{err}");
    let err = Array::<f64>::zeros(&[10], &[3, 3]).unwrap_err().to_string();
    assert!(err.contains("(10,)"), "{err}");
    let bad = a.map_blocks(|b| b.slice(ndarray::s![.., ..1]).to_owned().into_dyn());
    let err = bad.compute().unwrap_err().to_string();
    assert!(
        err.contains("block") && err.contains("(2, 1)") && err.contains("(2, 2)"),
        "{err}"
    );
}
