//! Creation functions and chunk normalisation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use rask_array::ndarray::{Array2, ArrayD, Dimension, IxDyn};
use rask_array::{Array, BlockInfo, ChunkSpec, Chunks, random};
use rask_local::Scheduler;

use crate::support::{config_unchanged, data, shape_and_chunks};

fn sync() -> Scheduler {
    Scheduler::sync()
}

fn vec_of<T: Clone>(a: ArrayD<T>) -> Vec<T> {
    a.iter().cloned().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn from_ndarray_round_trips_with_any_chunks((s, c) in shape_and_chunks(4, 6), seed in any::<u64>()) {
        let a = data(&s, seed);
        let x = Array::from_ndarray(a.clone(), c.clone()).unwrap();
        prop_assert_eq!(x.chunks(), &c);
        prop_assert_eq!(x.shape(), a.shape());
        prop_assert_eq!(x.compute_with(&sync()).unwrap(), a);
    }

    #[test]
    fn constants_have_the_requested_shape_and_chunks((s, c) in shape_and_chunks(3, 6), v in -100i64..100) {
        let x = Array::full(&s, c.clone(), v).unwrap();
        prop_assert_eq!(x.chunks(), &c);
        prop_assert_eq!(x.compute_with(&sync()).unwrap(), ArrayD::from_elem(IxDyn(&s), v));
        let z = Array::<f32>::zeros(&s, c.clone()).unwrap().compute_with(&sync()).unwrap();
        prop_assert_eq!(z, ArrayD::<f32>::zeros(IxDyn(&s)));
        let o = Array::<u8>::ones(&s, c).unwrap().compute_with(&sync()).unwrap();
        prop_assert_eq!(o, ArrayD::from_elem(IxDyn(&s), 1u8));
    }

    #[test]
    fn integer_arange_matches_numpy(start in -50i64..50, stop in -50i64..50, step in -7i64..8, size in 1usize..6) {
        prop_assume!(step != 0);
        let x = Array::arange(start, stop, step, &[size]).unwrap();
        // NumPy: ceil((stop - start) / step) elements, start + i * step.
        let mut want = Vec::new();
        let mut v = start;
        while (step > 0 && v < stop) || (step < 0 && v > stop) {
            want.push(v);
            v += step;
        }
        prop_assert_eq!(x.shape(), &[want.len()]);
        prop_assert_eq!(vec_of(x.compute_with(&sync()).unwrap()), want);
    }

    #[test]
    fn float_arange_and_linspace(start in -10.0f64..10.0, len in 0.0f64..20.0, n in 0usize..30, size in 1usize..7, up in any::<bool>()) {
        let step = if up { 0.75 } else { -0.75 };
        let stop = start + if up { len } else { -len };
        let x = Array::arange(start, stop, step, &[size]).unwrap();
        let count = ((stop - start) / step).ceil().max(0.0) as usize;
        let want: Vec<f64> = (0..count).map(|i| start + i as f64 * step).collect();
        prop_assert_eq!(vec_of(x.compute_with(&sync()).unwrap()), want);

        let l = Array::linspace(start, stop, n, &[size]).unwrap();
        let got = vec_of(l.compute_with(&sync()).unwrap());
        prop_assert_eq!(got.len(), n);
        if n >= 1 {
            prop_assert_eq!(got[0], start);
        }
        if n >= 2 {
            prop_assert_eq!(got[n - 1], stop, "the end point is exact");
            let step = (stop - start) / (n - 1) as f64;
            for (i, g) in got.iter().enumerate().take(n - 1) {
                prop_assert_eq!(*g, start + i as f64 * step);
            }
        }
    }

    #[test]
    fn eye_with_any_chunks(n in 0usize..9, rows in 1usize..5, cols in 1usize..5) {
        let i = Array::<i32>::eye(n, &[rows, cols]).unwrap();
        let want = Array2::<i32>::eye(n).into_dyn();
        prop_assert_eq!(i.compute_with(&sync()).unwrap(), want);
    }

    #[test]
    fn from_fn_sees_where_each_block_is((s, c) in shape_and_chunks(3, 6)) {
        // Each element computed from its global position.
        let x = Array::from_fn(&s, c, |info: &BlockInfo| {
            ArrayD::from_shape_fn(IxDyn(&info.shape), |i| {
                i.slice()
                    .iter()
                    .zip(&info.start)
                    .zip(&info.array_shape)
                    .fold(0usize, |acc, ((&k, &s), &n)| acc * n + s + k) as i64
            })
        })
        .unwrap();
        let want = ArrayD::from_shape_vec(IxDyn(&s), (0..s.iter().product::<usize>() as i64).collect()).unwrap();
        prop_assert_eq!(x.compute_with(&sync()).unwrap(), want);
    }
}

#[test]
fn arange_rejects_a_zero_step_and_an_infinite_length() {
    let err = Array::arange(0, 10, 0, &[3]).unwrap_err().to_string();
    assert!(err.contains("step"), "{err}");
    let err = Array::arange(0.0, f64::INFINITY, 1.0, &[3])
        .unwrap_err()
        .to_string();
    assert!(err.contains("length"), "{err}");
    let err = Array::arange(0.0, 1.0, f64::NAN, &[3])
        .unwrap_err()
        .to_string();
    assert!(err.contains("length"), "{err}");
}

#[test]
fn from_fn_with_a_wrong_block_shape_fails_naming_both_shapes() {
    let x = Array::from_fn(&[4, 4], &[2, 2], |_| ArrayD::<f64>::zeros(IxDyn(&[3, 2]))).unwrap();
    let err = x.compute().unwrap_err().to_string();
    assert!(err.contains("(3, 2)") && err.contains("(2, 2)"), "{err}");
}

#[test]
fn from_delayed_assembles_blocks_and_checks_their_shapes() {
    let parts: Vec<_> = (0..6)
        .map(|i| {
            rask_delayed::delayed(move || {
                ArrayD::from_shape_fn(IxDyn(&[2, 3]), |ix| (i * 10 + ix[0] * 3 + ix[1]) as f64)
            })
        })
        .collect();
    let grid = ArrayD::from_shape_vec(IxDyn(&[3, 2]), parts).unwrap();
    let chunks = Chunks::new(vec![vec![2, 2, 2], vec![3, 3]], &[6, 6]).unwrap();
    let x = Array::from_delayed(&grid, chunks.clone()).unwrap();
    let got = x.compute().unwrap();
    assert_eq!(got[[0, 0]], 0.0);
    assert_eq!(got[[0, 3]], 10.0, "block (0, 1) is delayed 1");
    assert_eq!(got[[2, 0]], 20.0, "block (1, 0) is delayed 2");
    assert_eq!(got[[5, 5]], 55.0);
    assert_eq!(x.sum().compute_scalar().unwrap(), got.sum());

    // A grid that does not match the chunks.
    let err = Array::from_delayed(&grid, Chunks::new(vec![vec![3, 3]], &[6]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("(3, 2)") && err.contains("(2,)"), "{err}");
    // A block of the wrong shape fails the compute, naming the shapes.
    let bad = ArrayD::from_shape_vec(
        IxDyn(&[1]),
        vec![rask_delayed::delayed(|| ArrayD::<f64>::zeros(IxDyn(&[4])))],
    )
    .unwrap();
    let x = Array::from_delayed(&bad, Chunks::new(vec![vec![5]], &[5]).unwrap()).unwrap();
    let err = x.compute().unwrap_err().to_string();
    assert!(err.contains("(4,)") && err.contains("(5,)"), "{err}");
}

#[test]
fn random_arrays_are_deterministic_per_seed_and_chunks() {
    let a = random::uniform(&[50, 40], &[16, 15], 7).unwrap();
    let b = random::uniform(&[50, 40], &[16, 15], 7).unwrap();
    let (va, vb) = (a.compute().unwrap(), b.compute().unwrap());
    assert_eq!(va, vb);
    assert_eq!(va, a.compute_with(&Scheduler::threads(2).unwrap()).unwrap());
    assert!(va.iter().all(|&v| (0.0..1.0).contains(&v)));
    let c = random::uniform(&[50, 40], &[16, 15], 8).unwrap();
    assert_ne!(va, c.compute().unwrap(), "another seed, other values");
    // Blocks differ from each other.
    assert_ne!(
        va.slice(rask_array::ndarray::s![0..16, 0..15]),
        va.slice(rask_array::ndarray::s![16..32, 0..15])
    );
    let m = a.mean().compute_scalar().unwrap();
    assert!((m - 0.5).abs() < 0.05, "{m}");

    let r = random::uniform_range(-3.0, 2.0, &[1000], &[300], 1)
        .unwrap()
        .compute()
        .unwrap();
    assert!(r.iter().all(|&v| (-3.0..2.0).contains(&v)));
    let n = random::normal_with(5.0, 2.0, &[20_000], &[6000], 3).unwrap();
    let (mean, std) = (
        n.mean().compute_scalar().unwrap(),
        n.std(0.0).compute_scalar().unwrap(),
    );
    assert!(
        (mean - 5.0).abs() < 0.1 && (std - 2.0).abs() < 0.1,
        "{mean} {std}"
    );
    let z = random::normal(&[0, 3], &[2, 2], 3)
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(z.shape(), &[0, 3]);
}

#[test]
fn auto_chunks_aim_at_the_configured_size() {
    let _config = config_unchanged();
    let target = rask_config::get().array_chunk_size.as_u64();
    let x = Array::<f64>::zeros(&[100_000, 50_000], ChunkSpec::Auto).unwrap();
    let want = Chunks::from_specs(
        &[100_000, 50_000],
        &[ChunkSpec::Auto, ChunkSpec::Auto],
        8,
        target,
    )
    .unwrap();
    assert_eq!(x.chunks(), &want);
    let bytes = x.chunks().max_block_len() as u64 * 8;
    assert!(bytes <= target && bytes > target / 2, "{bytes}");
    // Smaller elements get more of them per block.
    let y = Array::<u8>::zeros(&[100_000, 50_000], ChunkSpec::Auto).unwrap();
    assert!(y.chunks().max_block_len() > x.chunks().max_block_len());
    // Auto next to fixed axes.
    let z = Array::<f64>::zeros(&[10, 1 << 30], [ChunkSpec::Whole, ChunkSpec::Auto]).unwrap();
    assert_eq!(z.chunks().axis(0), &[10]);
    assert_eq!(z.chunks().axis(1)[0] as u64, target / 8 / 10);
}

#[test]
fn chunk_requests_are_normalised() {
    // Whole, explicit, regular with an uneven last block.
    let x = Array::<f64>::zeros(
        &[7, 5, 4],
        vec![
            ChunkSpec::Size(3),
            ChunkSpec::Whole,
            ChunkSpec::Sizes(vec![1, 3]),
        ],
    )
    .unwrap();
    assert_eq!(
        x.chunks().as_slices(),
        &[vec![3, 3, 1], vec![5], vec![1, 3]]
    );
    assert_eq!(x.numblocks(), vec![3, 1, 2]);
    assert_eq!(x.chunksize(), vec![3, 5, 3]);
    // A size larger than the axis is one block.
    let y = Array::<f64>::zeros(&[4], &[10]).unwrap();
    assert_eq!(y.chunks().axis(0), &[4]);
    // Zero-length axes have one empty block.
    let e = Array::<f64>::zeros(&[0, 3], &[2, 2]).unwrap();
    assert_eq!(e.chunks().as_slices(), &[vec![0], vec![2, 1]]);
    assert_eq!(e.compute().unwrap().shape(), &[0, 3]);
    // One spec for every axis.
    let w = Array::<f64>::zeros(&[3, 4], ChunkSpec::Whole).unwrap();
    assert_eq!(w.nblocks(), 1);
}

#[test]
fn bad_chunk_requests_are_rejected_naming_the_shape() {
    let err = Array::<f64>::zeros(&[7], vec![ChunkSpec::Sizes(vec![3, 3])])
        .unwrap_err()
        .to_string();
    assert!(err.contains("sum to 6") && err.contains("(7,)"), "{err}");
    let err = Array::<f64>::zeros(&[7, 2], &[3]).unwrap_err().to_string();
    assert!(
        err.contains("(7, 2)") && err.contains("1 chunk sizes"),
        "{err}"
    );
    let err = Array::<f64>::zeros(&[7], &[0]).unwrap_err().to_string();
    assert!(
        err.contains("block size 0") && err.contains("(7,)"),
        "{err}"
    );
    let err = Array::from_ndarray(data(&[3, 4], 1), &[1, 1, 1])
        .unwrap_err()
        .to_string();
    assert!(err.contains("(3, 4)"), "{err}");
    let err = Array::<f64>::zeros(&[4], vec![ChunkSpec::Whole, ChunkSpec::Auto])
        .unwrap_err()
        .to_string();
    assert!(err.contains("(4,)"), "{err}");
    // More elements than an index counts, whatever the chunks.
    let huge = [1usize << 16; 4];
    for chunks in [
        vec![ChunkSpec::Whole; 4],
        vec![ChunkSpec::Auto; 4],
        vec![ChunkSpec::Size(1 << 10); 4],
    ] {
        let err = Array::<u8>::zeros(&huge, chunks).unwrap_err().to_string();
        assert!(
            err.contains("(65536, 65536, 65536, 65536)") && err.contains("more elements"),
            "{err}"
        );
    }
    // Lazy arrays may be huge, but not cut into more blocks than a graph
    // can hold.
    let lazy = Array::<f64>::zeros(&[1 << 40], &[1 << 20]).unwrap();
    assert_eq!(lazy.chunks().numblocks(), vec![1 << 20]);
    let err = Array::<f64>::zeros(&[1 << 40], &[1])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("blocks") && err.contains("(1099511627776,)"),
        "{err}"
    );
}

#[test]
fn compute_scalar_needs_a_0d_array() {
    let x = Array::<f64>::ones(&[2, 3], &[1, 2]).unwrap();
    let err = x.compute_scalar().unwrap_err().to_string();
    assert!(err.contains("(2, 3)") && err.contains("0-d"), "{err}");
    assert_eq!(x.sum().compute_scalar().unwrap(), 6.0);
    let s = Array::full(&[], &[] as &[usize], 4i32).unwrap();
    assert_eq!(s.compute_scalar().unwrap(), 4);
}

#[test]
fn persist_keeps_keys_and_values_and_does_not_recompute() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let x = Array::from_fn(&[6, 4], &[2, 4], move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        ArrayD::from_elem(IxDyn(&info.shape), info.index[0] as f64)
    })
    .unwrap();
    let before = x.compute().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let p = x.persist().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    assert_eq!(p.name(), x.name());
    assert_eq!(p.chunks(), x.chunks());
    assert_eq!(p.compute().unwrap(), before);
    assert_eq!(
        (&p + 1.0).sum().compute_scalar().unwrap(),
        before.sum() + 24.0
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "persisted blocks are not made again"
    );
}

#[test]
fn to_delayed_gives_each_block() {
    let a = data(&[5, 7], 4);
    let x = Array::from_ndarray(a.clone(), &[2, 3]).unwrap();
    let blocks = x.to_delayed();
    assert_eq!(blocks.shape(), &[3, 3]);
    for (idx, d) in blocks.indexed_iter() {
        let (i, j) = (idx[0], idx[1]);
        let want = a.slice(rask_array::ndarray::s![
            2 * i..(2 * i + 2).min(5),
            3 * j..(3 * j + 3).min(7)
        ]);
        assert_eq!(
            d.compute().unwrap(),
            want.to_owned().into_dyn(),
            "block {idx:?}"
        );
    }
    // Derived arrays' blocks include the work.
    let y = (&x * 2.0).to_delayed();
    assert_eq!(
        y[[2, 2]].compute().unwrap(),
        a.slice(rask_array::ndarray::s![4..5, 6..7])
            .mapv(|v| v * 2.0)
            .into_dyn()
    );
}
