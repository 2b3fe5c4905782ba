//! `concatenate` and `stack` against ndarray's on the whole arrays.

use proptest::prelude::*;
use rask_array::ndarray::{self, ArrayD, Axis};
use rask_array::{Array, Chunks, concatenate, stack};
use rask_local::Scheduler;

use crate::support::{chunks_for, data};

/// 2 to 4 shapes equal but on `axis`, each with random chunks.
fn concat_case() -> impl Strategy<Value = (usize, Vec<(Vec<usize>, Chunks)>)> {
    (
        proptest::collection::vec(0..5usize, 1..=3),
        any::<prop::sample::Index>(),
    )
        .prop_flat_map(|(base, pick)| {
            let ax = pick.index(base.len());
            let one = (0..5usize).prop_flat_map(move |len| {
                let mut s = base.clone();
                s[ax] = len;
                (Just(s.clone()), chunks_for(s))
            });
            (Just(ax), proptest::collection::vec(one, 2..=4))
        })
}

/// 2 to 4 arrays of one shape with random chunks, and an axis to stack on.
fn stack_case() -> impl Strategy<Value = (usize, Vec<usize>, Vec<Chunks>)> {
    (
        proptest::collection::vec(0..5usize, 0..=3),
        any::<prop::sample::Index>(),
    )
        .prop_flat_map(|(shape, pick)| {
            let ax = pick.index(shape.len() + 1);
            (
                Just(ax),
                Just(shape.clone()),
                proptest::collection::vec(chunks_for(shape), 2..=4),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn concatenate_matches_ndarray((ax, parts) in concat_case(), seed in 0u64..1000) {
        let nds: Vec<ArrayD<f64>> = parts
            .iter()
            .enumerate()
            .map(|(i, (s, _))| data(s, seed + i as u64))
            .collect();
        let arrays: Vec<Array<f64>> = nds
            .iter()
            .zip(&parts)
            .map(|(nd, (_, c))| Array::from_ndarray(nd.clone(), c).unwrap())
            .collect();
        let refs: Vec<&Array<f64>> = arrays.iter().collect();
        let got = concatenate(Axis(ax), &refs).unwrap();
        let views: Vec<_> = nds.iter().map(|a| a.view()).collect();
        let want = ndarray::concatenate(Axis(ax), &views).unwrap();
        prop_assert_eq!(got.shape(), want.shape());
        prop_assert_eq!(got.compute_with(&Scheduler::sync()).unwrap(), want);
    }

    #[test]
    fn stack_matches_ndarray((ax, shape, chunks) in stack_case(), seed in 0u64..1000) {
        let nds: Vec<ArrayD<f64>> = (0..chunks.len()).map(|i| data(&shape, seed + i as u64)).collect();
        let arrays: Vec<Array<f64>> = nds
            .iter()
            .zip(&chunks)
            .map(|(nd, c)| Array::from_ndarray(nd.clone(), c).unwrap())
            .collect();
        let refs: Vec<&Array<f64>> = arrays.iter().collect();
        let got = stack(Axis(ax), &refs).unwrap();
        let ones = vec![1; chunks.len()];
        prop_assert_eq!(got.chunks().axis(ax), ones.as_slice());
        let views: Vec<_> = nds.iter().map(|a| a.view()).collect();
        let want = ndarray::stack(Axis(ax), &views).unwrap();
        // Joined blocks feed a fused elementwise operation too.
        prop_assert_eq!((&got + 1.0).compute_with(&Scheduler::sync()).unwrap(), want + 1.0);
    }
}

#[test]
fn blocks_pass_through_and_chunks_refine() {
    let a = Array::from_ndarray(data(&[4, 6], 1), &[2, 3]).unwrap();
    let b = Array::from_ndarray(data(&[3, 6], 2), &[3, 2]).unwrap();
    let c = concatenate(Axis(0), &[&a, &b]).unwrap();
    assert_eq!(c.chunks().as_slices(), &[vec![2, 2, 3], vec![2, 1, 1, 2]]);
    let same = concatenate(Axis(1), &[&a]).unwrap();
    assert_eq!(same.name(), a.name());
}

#[test]
fn contract_example_stacks_an_array_with_itself() {
    let a = Array::<f64>::ones(&[3, 2], &[2, 2]).unwrap();
    let s = stack(Axis(0), &[&a, &a]).unwrap();
    assert_eq!(s.shape(), &[2, 3, 2]);
    assert_eq!(s.sum().compute_scalar().unwrap(), 12.0);
}

#[test]
fn bad_inputs_are_errors_listing_the_shapes() {
    let a = Array::<f64>::ones(&[3, 2], &[2, 2]).unwrap();
    let b = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let v = Array::<f64>::ones(&[3], &[2]).unwrap();
    let none: [&Array<f64>; 0] = [];
    let err = concatenate(Axis(0), &none).unwrap_err().to_string();
    assert!(err.contains("at least one"), "{err}");
    let err = concatenate(Axis(0), &[&a, &b]).unwrap_err().to_string();
    assert!(
        err.contains("(3, 2), (3, 4)") && err.contains("axis 0"),
        "{err}"
    );
    assert_eq!(concatenate(Axis(1), &[&a, &b]).unwrap().shape(), &[3, 6]);
    let err = concatenate(Axis(0), &[&a, &v]).unwrap_err().to_string();
    assert!(
        err.contains("number of axes") && err.contains("(3,)"),
        "{err}"
    );
    let err = concatenate(Axis(2), &[&a, &a]).unwrap_err().to_string();
    assert!(err.contains("axis 2"), "{err}");
    let s0 = Array::<f64>::ones(&[], &[] as &[usize]).unwrap();
    let err = concatenate(Axis(0), &[&s0, &s0]).unwrap_err().to_string();
    assert!(err.contains("zero-dimensional"), "{err}");
    assert_eq!(stack(Axis(0), &[&s0, &s0]).unwrap().shape(), &[2]);
    let err = stack(Axis(0), &[&a, &b]).unwrap_err().to_string();
    assert!(
        err.contains("same shape") && err.contains("(3, 2), (3, 4)"),
        "{err}"
    );
    let err = stack(Axis(3), &[&a, &a]).unwrap_err().to_string();
    assert!(err.contains("axis 3") && err.contains("(3, 2)"), "{err}");
    // An invalid input (an operator on mismatched shapes) is an error.
    let bad = &a + &Array::<f64>::ones(&[3, 5], &[3, 5]).unwrap();
    let err = concatenate(Axis(0), &[&a, &bad]).unwrap_err().to_string();
    assert!(err.contains("(3, 5)") && err.contains("(3, 2)"), "{err}");
    let err = stack(Axis(0), &[&bad]).unwrap_err().to_string();
    assert!(err.contains("(3, 5)"), "{err}");
}

#[test]
fn joins_are_portable_with_deterministic_names() {
    let a = data(&[4, 5], 21);
    let b = data(&[3, 5], 22);
    let x = Array::from_ndarray(a.clone(), &[3, 2]).unwrap();
    let y = Array::from_ndarray(b.clone(), &[2, 3]).unwrap();
    let c = concatenate(Axis(0), &[&x, &y]).unwrap();
    assert_eq!(c.name(), concatenate(Axis(0), &[&x, &y]).unwrap().name());
    assert_ne!(c.name(), concatenate(Axis(0), &[&y, &x]).unwrap().name());
    let got = crate::support::assert_portable(&c);
    assert_eq!(
        got,
        ndarray::concatenate(Axis(0), &[a.view(), b.view()]).unwrap()
    );

    let z = Array::from_ndarray(b.clone(), &[3, 5]).unwrap();
    let s = stack(Axis(1), &[&y, &z]).unwrap();
    assert_eq!(s.name(), stack(Axis(1), &[&y, &z]).unwrap().name());
    assert_ne!(s.name(), stack(Axis(0), &[&y, &z]).unwrap().name());
    let got = crate::support::assert_portable(&s);
    assert_eq!(got, ndarray::stack(Axis(1), &[b.view(), b.view()]).unwrap());
}
