//! `rechunk` against the data it started from.

use proptest::prelude::*;
use rask_array::{Array, ChunkSpec, Chunks};
use rask_local::Scheduler;

use crate::support::{chunks_for, data, shape};

fn shape_and_two_chunkings() -> impl Strategy<Value = (Vec<usize>, Chunks, Chunks)> {
    shape(4, 7).prop_flat_map(|s| (Just(s.clone()), chunks_for(s.clone()), chunks_for(s)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn rechunk_keeps_the_data((shape, from, to) in shape_and_two_chunkings(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &from).unwrap();
        let y = x.rechunk(&to);
        prop_assert_eq!(y.chunks(), &to);
        let got = y.compute_with(&Scheduler::sync()).unwrap();
        prop_assert_eq!(got, nd);
    }

    #[test]
    fn rechunk_twice_and_compute_together((shape, from, to) in shape_and_two_chunkings(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &from).unwrap();
        // There and back again, then combined with the original.
        let back = x.rechunk(&to).rechunk(&from);
        prop_assert_eq!(back.chunks(), &from);
        let sum = (&back + &x.rechunk(&to)).compute_with(&Scheduler::sync()).unwrap();
        prop_assert_eq!(sum, &nd + &nd);
    }
}

#[test]
fn same_chunks_is_the_same_array() {
    let x = Array::<f64>::ones(&[6, 4], &[2, 2]).unwrap();
    assert_eq!(x.rechunk(&[2, 2]).name(), x.name());
}

#[test]
fn splitting_only_reads_one_block_each() {
    let nd = data(&[8, 6], 3);
    let x = Array::from_ndarray(nd.clone(), &[4, 6]).unwrap();
    let y = x.rechunk(&[2, 3]);
    assert!(y.name().starts_with("rechunk-split"), "{}", y.name());
    assert_eq!(y.compute().unwrap(), nd);
}

#[test]
fn whole_and_auto_specs() {
    let nd = data(&[9, 5], 1);
    let x = Array::from_ndarray(nd.clone(), &[2, 2]).unwrap();
    let y = x.rechunk([ChunkSpec::Whole, ChunkSpec::Size(3)]);
    assert_eq!(y.chunks().as_slices(), &[vec![9], vec![3, 2]]);
    assert_eq!(y.compute().unwrap(), nd);
    let z = x.rechunk(ChunkSpec::Auto);
    assert_eq!(z.numblocks(), vec![1, 1]);
    assert_eq!(z.compute().unwrap(), nd);
}

#[test]
fn bad_chunks_give_an_invalid_array_naming_the_shape() {
    let x = Array::<f64>::ones(&[6, 4], &[2, 2]).unwrap();
    let err = x.rechunk(&[2]).compute().unwrap_err().to_string();
    assert!(err.contains("rechunk") && err.contains("(6, 4)"), "{err}");
    let err = x
        .rechunk(Chunks::new(vec![vec![3, 3], vec![1, 2]], &[6, 3]).unwrap())
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("sum to 3"), "{err}");
}

#[test]
fn zero_size_and_zero_d_arrays() {
    let nd = data(&[0, 5], 1);
    let x = Array::from_ndarray(nd.clone(), &[1, 2]).unwrap();
    let y = x.rechunk(&[3, 3]);
    assert_eq!(y.chunks().as_slices(), &[vec![0], vec![3, 2]]);
    assert_eq!(y.compute().unwrap(), nd);
    let s = Array::from_ndarray(data(&[], 2), &[] as &[usize]).unwrap();
    assert_eq!(s.rechunk(&[] as &[usize]).compute().unwrap(), data(&[], 2));
}
