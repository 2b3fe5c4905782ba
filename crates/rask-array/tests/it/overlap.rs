//! overlap, trim_internal and map_overlap against the whole array padded
//! by the boundary rule with ndarray.

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, Axis, Dimension, IxDyn, Slice};
use rask_array::{Array, Boundary, Chunks};
use rask_local::Scheduler;

use crate::support::{assert_close, chunks_for, data};

fn sync() -> Scheduler {
    Scheduler::sync()
}

/// The whole array padded by `depth[a]` on both sides of every axis whose
/// rule is not `None`, axis after axis (as Dask applies the rules).
fn pad(x: &ArrayD<f64>, depth: &[usize], boundaries: &[Boundary<f64>]) -> ArrayD<f64> {
    let mut out = x.clone();
    for (a, (&d, b)) in depth.iter().zip(boundaries).enumerate() {
        if d == 0 || *b == Boundary::None {
            continue;
        }
        let len = out.shape()[a] as isize;
        let mut shape = out.shape().to_vec();
        shape[a] += 2 * d;
        let prev = out;
        out = ArrayD::from_shape_fn(IxDyn(&shape), |idx| {
            let q = idx[a] as isize - d as isize;
            let src = if (0..len).contains(&q) {
                q
            } else {
                match b {
                    Boundary::Reflect if q < 0 => -q - 1,
                    Boundary::Reflect => 2 * len - q - 1,
                    Boundary::Periodic => q.rem_euclid(len),
                    Boundary::Nearest => q.clamp(0, len - 1),
                    Boundary::Constant(v) => return *v,
                    Boundary::None => unreachable!(),
                }
            };
            let mut at = idx.slice().to_vec();
            at[a] = src as usize;
            prev[IxDyn(&at)]
        });
    }
    out
}

/// Where the padding of `pad` starts along each axis: the original
/// element 0 is at this index of the padded array.
fn pad_offsets(depth: &[usize], boundaries: &[Boundary<f64>]) -> Vec<usize> {
    depth
        .iter()
        .zip(boundaries)
        .map(|(&d, b)| if *b == Boundary::None { 0 } else { d })
        .collect()
}

/// Crops the padding of `pad` off again.
fn crop(padded: &ArrayD<f64>, shape: &[usize], offsets: &[usize]) -> ArrayD<f64> {
    padded
        .slice_each_axis(|ax| {
            let a = ax.axis.index();
            Slice::from(offsets[a]..offsets[a] + shape[a])
        })
        .to_owned()
}

fn boundary() -> impl Strategy<Value = Boundary<f64>> {
    prop_oneof![
        Just(Boundary::Reflect),
        Just(Boundary::Periodic),
        Just(Boundary::Nearest),
        (-5i32..5).prop_map(|c| Boundary::Constant(f64::from(c) * 100.0)),
        Just(Boundary::None),
    ]
}

/// Random cuts (often small blocks) or regular blocks (deeper halos).
fn chunking(shape: Vec<usize>) -> impl Strategy<Value = Chunks> {
    let sizes: Vec<_> = shape.iter().map(|&n| 1..=n).collect();
    let regular = (Just(shape.clone()), sizes)
        .prop_map(|(shape, sizes)| Chunks::regular(&shape, &sizes).unwrap());
    prop_oneof![chunks_for(shape), regular]
}

/// A 1- to 3-d shape, a chunking, a depth per axis of at most the
/// smallest block there (at least `min_depth`), and a rule per axis.
fn case(
    min_depth: usize,
) -> impl Strategy<Value = (Vec<usize>, Chunks, Vec<usize>, Vec<Boundary<f64>>)> {
    proptest::collection::vec(1usize..=9, 1..=3)
        .prop_flat_map(|shape| (Just(shape.clone()), chunking(shape)))
        .prop_flat_map(move |(shape, chunks)| {
            let depths: Vec<BoxedStrategy<usize>> = chunks
                .as_slices()
                .iter()
                .map(|sizes| {
                    let smallest = *sizes.iter().min().unwrap();
                    (min_depth.min(smallest)..=smallest).boxed()
                })
                .collect();
            let rules = proptest::collection::vec(boundary(), shape.len());
            (Just(shape), Just(chunks), depths, rules)
        })
}

/// `(x[i-1] + x[i] + x[i+1]) / 3` along axis 0 wherever both neighbours
/// are inside `x`; other elements unchanged.
fn moving_average(x: &ArrayD<f64>) -> ArrayD<f64> {
    let n = x.shape()[0];
    let mut out = x.clone();
    for i in 1..n.saturating_sub(1) {
        let s = (&x.index_axis(Axis(0), i - 1) + &x.index_axis(Axis(0), i))
            + x.index_axis(Axis(0), i + 1);
        out.index_axis_mut(Axis(0), i).assign(&(s / 3.0));
    }
    out
}

/// The discrete Laplacian at every element whose neighbours along all
/// axes are inside `x`; other elements unchanged.
fn laplacian(x: &ArrayD<f64>) -> ArrayD<f64> {
    let shape = x.shape().to_vec();
    let mut out = x.clone();
    for (idx, v) in out.indexed_iter_mut() {
        let idx = idx.slice().to_vec();
        if idx.iter().zip(&shape).any(|(&i, &n)| i == 0 || i + 1 >= n) {
            continue;
        }
        let mut acc = -2.0 * shape.len() as f64 * x[IxDyn(&idx)];
        for a in 0..shape.len() {
            let mut at = idx.clone();
            at[a] -= 1;
            acc += x[IxDyn(&at)];
            at[a] += 2;
            acc += x[IxDyn(&at)];
        }
        *v = acc;
    }
    out
}

/// `stencil` on the whole array padded by the rules, cropped back.
fn whole_stencil(
    x: &ArrayD<f64>,
    depth: &[usize],
    boundaries: &[Boundary<f64>],
    stencil: fn(&ArrayD<f64>) -> ArrayD<f64>,
) -> ArrayD<f64> {
    let padded = stencil(&pad(x, depth, boundaries));
    crop(&padded, x.shape(), &pad_offsets(depth, boundaries))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn overlap_blocks_match_the_padded_whole_array(
        (shape, chunks, depth, rules) in case(0),
        seed in any::<u64>(),
    ) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), chunks.clone()).unwrap();
        let g = x.overlap(&depth, rules.as_slice()).unwrap();
        let got = g.compute_with(&sync()).unwrap();
        let padded = pad(&nd, &depth, &rules);
        let offsets = pad_offsets(&depth, &rules);
        // Each output block is [start - depth, end + depth) of the padded
        // array (clipped where the rule is None).
        let windows: Vec<Vec<(usize, usize)>> = (0..shape.len())
            .map(|a| {
                let starts = chunks.offsets(a);
                chunks.axis(a).iter().zip(&starts).map(|(&c, &s)| {
                    let lo = (s + offsets[a]).saturating_sub(depth[a]);
                    let hi = (s + c + offsets[a] + depth[a]).min(padded.shape()[a]);
                    (lo, hi)
                }).collect()
            })
            .collect();
        for (a, w) in windows.iter().enumerate() {
            let want: Vec<usize> = w.iter().map(|(lo, hi)| hi - lo).collect();
            prop_assert_eq!(g.chunks().axis(a), want.as_slice(), "chunks of axis {}", a);
        }
        for idx in g.chunks().block_indices() {
            let start = g.chunks().block_start(&idx);
            let bshape = g.chunks().block_shape(&idx);
            let block = got.slice_each_axis(|ax| {
                let a = ax.axis.index();
                Slice::from(start[a]..start[a] + bshape[a])
            });
            let want = padded.slice_each_axis(|ax| {
                let a = ax.axis.index();
                let (lo, hi) = windows[a][idx[a]];
                Slice::from(lo..hi)
            });
            prop_assert_eq!(block, want, "block {:?}", idx);
        }
    }

    #[test]
    fn trim_internal_undoes_overlap(
        (shape, chunks, depth, rules) in case(0),
        seed in any::<u64>(),
    ) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), chunks.clone()).unwrap();
        let back = x.overlap(&depth, rules.as_slice()).unwrap().trim_internal(&depth, rules.as_slice());
        prop_assert_eq!(back.chunks(), &chunks);
        prop_assert_eq!(back.compute_with(&sync()).unwrap(), nd);
    }

    #[test]
    fn map_overlap_laplacian_hides_the_block_boundaries(
        (shape, chunks, depth, rules) in case(1),
        seed in any::<u64>(),
    ) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), chunks.clone()).unwrap();
        let y = x.map_overlap(&depth, rules.as_slice(), laplacian).unwrap();
        prop_assert_eq!(y.chunks(), &chunks);
        let want = whole_stencil(&nd, &depth, &rules, laplacian);
        assert_close(&y.compute_with(&sync()).unwrap(), &want, 1e-12);
    }

    #[test]
    fn map_overlap_moving_average_along_one_axis(
        (shape, chunks, mut depth, rules) in case(1),
        seed in any::<u64>(),
    ) {
        // Halos only along axis 0, the axis the stencil reaches along.
        for d in depth.iter_mut().skip(1) {
            *d = 0;
        }
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), chunks.clone()).unwrap();
        let y = x.map_overlap(&depth, rules.as_slice(), moving_average).unwrap();
        prop_assert_eq!(y.chunks(), &chunks);
        let want = whole_stencil(&nd, &depth, &rules, moving_average);
        assert_close(&y.compute_with(&sync()).unwrap(), &want, 1e-12);
    }

    #[test]
    fn map_overlap_untrimmed_keeps_the_grown_blocks(
        (shape, chunks, depth, rules) in case(0),
        seed in any::<u64>(),
    ) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd, chunks).unwrap();
        let g = x.overlap(&depth, rules.as_slice()).unwrap();
        let y = x.map_overlap_untrimmed(&depth, rules.as_slice(), |b| b * 2.0).unwrap();
        prop_assert_eq!(y.chunks(), g.chunks());
        let want = g.compute_with(&sync()).unwrap() * 2.0;
        prop_assert_eq!(y.compute_with(&sync()).unwrap(), want);
    }
}

#[test]
fn overlap_of_a_2d_array_fills_corners_from_diagonal_neighbours() {
    let nd = ArrayD::from_shape_fn(IxDyn(&[4, 4]), |i| (10 * i[0] + i[1]) as i64);
    let x = Array::from_ndarray(nd, &[2, 2]).unwrap();
    let g = x.overlap(&[1, 1], Boundary::Constant(-1)).unwrap();
    assert_eq!(g.chunks().as_slices(), &[vec![4, 4], vec![4, 4]]);
    let got = g.compute_with(&sync()).unwrap();
    // Block (0, 0): constant row and column, then its own 2x2 and the
    // first row / column of its neighbours, with block (1, 1)'s corner.
    let block = got.slice_each_axis(|_| Slice::from(0..4));
    let want = rask_array::ndarray::array![
        [-1, -1, -1, -1],
        [-1, 0, 1, 2],
        [-1, 10, 11, 12],
        [-1, 20, 21, 22]
    ]
    .into_dyn();
    assert_eq!(block, want);
}

#[test]
fn constants_of_several_axes_compose_axis_after_axis() {
    // The corners take the last axis's constant, as Dask pads axis after
    // axis.
    let x = Array::from_ndarray(ArrayD::<i64>::zeros(IxDyn(&[2, 2])), &[2, 2]).unwrap();
    let g = x
        .overlap(&[1, 1], [Boundary::Constant(1), Boundary::Constant(2)])
        .unwrap();
    let got = g.compute_with(&sync()).unwrap();
    let want = rask_array::ndarray::array![[2, 1, 1, 2], [2, 0, 0, 2], [2, 0, 0, 2], [2, 1, 1, 2]]
        .into_dyn();
    assert_eq!(got, want);
}

#[test]
fn overlap_runs_on_the_threaded_scheduler() {
    let nd = data(&[30, 20], 7);
    let x = Array::from_ndarray(nd.clone(), &[7, 5]).unwrap();
    let rules = [Boundary::Periodic, Boundary::Reflect];
    let y = x.map_overlap(&[2, 3], rules, laplacian).unwrap();
    let got = y.compute_with(&Scheduler::threads(2).unwrap()).unwrap();
    assert_close(&got, &whole_stencil(&nd, &[2, 3], &rules, laplacian), 1e-12);
}

#[test]
fn zero_depth_is_the_array_itself() {
    let x = Array::<f64>::ones(&[5, 4], &[2, 3]).unwrap();
    let g = x.overlap(&[0, 0], Boundary::Reflect).unwrap();
    assert_eq!(g.chunks(), x.chunks());
    assert_eq!(
        g.compute_with(&sync()).unwrap(),
        x.compute_with(&sync()).unwrap()
    );
}

#[test]
fn overlap_of_a_0d_array_takes_no_depth() {
    let x = Array::from_ndarray(ArrayD::from_elem(IxDyn(&[]), 3.0), &[] as &[usize]).unwrap();
    let g = x.overlap(&[], Boundary::Nearest).unwrap();
    assert_eq!(
        g.compute_with(&sync()).unwrap(),
        ArrayD::from_elem(IxDyn(&[]), 3.0)
    );
}

fn error_of<T: rask_array::Element>(a: &Array<T>) -> String {
    a.compute_with(&sync()).unwrap_err().to_string()
}

#[test]
fn depth_beyond_the_smallest_block_is_an_error_suggesting_rechunk() {
    let x = Array::<f64>::ones(&[10, 7], &[4, 5]).unwrap();
    let err = x
        .overlap(&[1, 3], Boundary::Reflect)
        .unwrap_err()
        .to_string();
    for part in [
        "depth 3 along axis 1",
        "smallest block (2)",
        "shape (10, 7)",
        "chunks ((4, 4, 2), (5, 2))",
        "depths (1, 3)",
        "rechunk",
    ] {
        assert!(err.contains(part), "{part:?} not in {err}");
    }
    // The same for map_overlap, whatever the rule.
    let err = x
        .map_overlap(&[3, 0], Boundary::None, |b| b.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("depth 3 along axis 0"), "{err}");
}

#[test]
fn wrong_numbers_of_depths_or_rules_are_errors() {
    let x = Array::<f64>::ones(&[4, 6], &[2, 3]).unwrap();
    let err = x.overlap(&[1], Boundary::Periodic).unwrap_err().to_string();
    assert!(
        err.contains("1 depths") && err.contains("shape (4, 6)") && err.contains("2 axes"),
        "{err}"
    );
    let err = x
        .overlap(&[1, 1], [Boundary::Periodic])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1 boundary rules") && err.contains("2 axes"),
        "{err}"
    );
    let err = error_of(&x.trim_internal(&[1, 1, 1], Boundary::Periodic));
    assert!(
        err.contains("trim_internal") && err.contains("3 depths"),
        "{err}"
    );
    let err = x
        .map_overlap(&[1, 1], vec![Boundary::None; 3], |b| b.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("map_overlap") && err.contains("3 boundary rules"),
        "{err}"
    );
}

#[test]
fn trimming_more_than_a_block_holds_is_an_error() {
    let x = Array::from_ndarray(data(&[5], 1), &[2]).unwrap();
    let x = x
        .rechunk(Chunks::new(vec![vec![2, 3]], &[5]).unwrap())
        .unwrap();
    let err = error_of(&x.trim_internal(&[1], Boundary::Reflect));
    assert!(err.contains("block 0 along axis 0 has 2 elements"), "{err}");
    // With None the outer edges lose nothing, so this works.
    let ok = x.trim_internal(&[1], Boundary::None);
    assert_eq!(ok.chunks().axis(0), &[1, 2]);
}

#[test]
fn a_block_of_another_shape_from_the_function_fails_the_compute() {
    let x = Array::<f64>::ones(&[6], &[3]).unwrap();
    let y = x
        .map_overlap(&[1], Boundary::Reflect, |b| {
            b.slice_axis(Axis(0), Slice::from(1..)).to_owned()
        })
        .unwrap();
    let err = error_of(&y);
    assert!(
        err.contains("block [0]") && err.contains("(4,)") && err.contains("(5,)"),
        "{err}"
    );
}

#[test]
fn an_invalid_input_carries_its_error_through() {
    let x = Array::<f64>::ones(&[4], &[2]).unwrap();
    // An operator on mismatched shapes gives an invalid array.
    let bad = &x + &Array::<f64>::ones(&[5], &[5]).unwrap();
    assert!(!bad.is_valid());
    let err = error_of(&bad.trim_internal(&[1], Boundary::Reflect));
    assert!(err.contains("(5,)"), "{err}");
    let err = bad
        .map_overlap(&[1], Boundary::Reflect, |b| b.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("(5,)"), "{err}");
}

#[test]
fn empty_arrays_take_halos_only_along_non_empty_axes() {
    let x = Array::<f64>::zeros(&[0, 4], &[1, 2]).unwrap();
    let g = x.overlap(&[0, 1], Boundary::Reflect).unwrap();
    assert_eq!(g.shape(), &[0, 8]);
    assert_eq!(g.compute_with(&sync()).unwrap().shape(), &[0, 8]);
    let y = x
        .map_overlap(&[0, 2], Boundary::Constant(1.0), |b| b + 1.0)
        .unwrap();
    assert_eq!(y.chunks(), x.chunks());
    assert_eq!(y.compute_with(&sync()).unwrap().shape(), &[0, 4]);
    let err = x
        .overlap(&[1, 1], Boundary::Reflect)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("axis 0") && err.contains("is empty") && err.contains("depth 0"),
        "{err}"
    );
}

#[test]
fn overlap_and_trim_are_portable_with_deterministic_names() {
    use crate::support::assert_portable;
    let x = Array::from_ndarray(
        rask_array::ndarray::array![1, 2, 3, 4, 5, 6].into_dyn(),
        &[3],
    )
    .unwrap();
    let g = x.overlap(&[2], Boundary::Reflect).unwrap();
    assert_eq!(
        assert_portable(&g),
        rask_array::ndarray::array![2, 1, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 6, 5].into_dyn()
    );

    let nd = data(&[8, 6], 11);
    let x = Array::from_ndarray(nd.clone(), &[3, 2]).unwrap();
    let rules = [Boundary::Reflect, Boundary::Constant(-1.5)];
    let g = x.overlap(&[2, 1], rules).unwrap();
    assert_eq!(g.name(), x.overlap(&[2, 1], rules).unwrap().name());
    for other in [
        x.overlap(&[1, 1], rules).unwrap(),
        x.overlap(&[2, 1], [Boundary::Periodic, Boundary::Constant(-1.5)])
            .unwrap(),
        x.overlap(&[2, 1], [Boundary::Reflect, Boundary::Constant(2.0)])
            .unwrap(),
        x.overlap(&[2, 1], [Boundary::Nearest, Boundary::None])
            .unwrap(),
    ] {
        assert_ne!(g.name(), other.name());
        assert_portable(&other);
    }
    let got = assert_portable(&g);
    assert_eq!(got, g.compute_with(&sync()).unwrap());
    let back = g.trim_internal(&[2, 1], rules);
    assert_eq!(back.name(), g.trim_internal(&[2, 1], rules).name());
    assert_ne!(
        back.name(),
        g.trim_internal(&[1, 1], rules).name(),
        "another depth"
    );
    assert_eq!(assert_portable(&back), nd);
    // With `None`, the outer edges lose nothing.
    let none = [Boundary::None, Boundary::Nearest];
    let back = x
        .overlap(&[1, 1], none)
        .unwrap()
        .trim_internal(&[1, 1], none);
    assert_eq!(back.chunks(), x.chunks());
    assert_eq!(assert_portable(&back), nd);
}

#[test]
fn map_overlap_keeps_its_function_a_closure_between_kernels() {
    let nd = data(&[8, 6], 12);
    let x = Array::from_ndarray(nd.clone(), &[4, 3]).unwrap();
    let y = x
        .map_overlap(&[1, 1], Boundary::Periodic, laplacian)
        .unwrap();
    let layers = |prefix| crate::histogram::layers(&y, prefix);
    let found = layers("overlap");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1, "overlap is a closure");
    // The user's function and the trim after it are both named after the
    // function (`laplacian`): the function's layer is a closure, the trim
    // a kernel.
    let found = layers("laplacian");
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        found.iter().filter(|(_, portable)| *portable).count(),
        1,
        "{found:?}"
    );
    let z = x
        .map_overlap(&[1, 1], Boundary::Periodic, laplacian)
        .unwrap();
    assert_eq!(layers("overlap"), crate::histogram::layers(&z, "overlap"));
    assert_ne!(y.name(), z.name(), "the user's function has a fresh name");
    let want = whole_stencil(&nd, &[1, 1], &[Boundary::Periodic; 2], laplacian);
    assert_close(&y.compute_with(&sync()).unwrap(), &want, 1e-12);
}
