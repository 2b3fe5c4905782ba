//! Basic indexing and `take` against a reference built from explicit index
//! lists on the whole ndarray (ndarray's own negative steps differ from
//! NumPy's, so they are not the reference).

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, Axis};
use rask_array::slicing::{idx, range, range_step};
use rask_array::{Array, Chunks, NewAxis, SliceElem, s};
use rask_local::Scheduler;

use crate::support::{data, shape_and_chunks};

/// Python's `list(range(len))[start:stop:step]`.
fn py_positions(start: Option<isize>, stop: Option<isize>, step: isize, len: usize) -> Vec<usize> {
    let n = len as isize;
    let adj = |v: isize| if v < 0 { v + n } else { v };
    let mut out = Vec::new();
    if step > 0 {
        let s = start.map_or(0, adj).clamp(0, n);
        let e = stop.map_or(n, adj).clamp(0, n);
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let s = start.map_or(n - 1, adj).clamp(-1, n - 1);
        let e = stop.map_or(-1, adj).clamp(-1, n - 1);
        let mut i = s;
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

/// NumPy's `x[elems]` on a whole array, by index lists.
fn reference(nd: &ArrayD<f64>, elems: &[SliceElem]) -> ArrayD<f64> {
    let mut out = nd.clone();
    let mut cur = 0;
    for e in elems {
        match *e {
            SliceElem::NewAxis => {
                out = out.insert_axis(Axis(cur));
                cur += 1;
            }
            SliceElem::Index(i) => {
                let len = out.shape()[cur] as isize;
                let pos = if i < 0 { i + len } else { i };
                out = out.index_axis_move(Axis(cur), pos as usize);
            }
            SliceElem::Range { start, stop, step } => {
                let pos = py_positions(start, stop, step, out.shape()[cur]);
                out = out.select(Axis(cur), &pos);
                cur += 1;
            }
            SliceElem::Full => cur += 1,
        }
    }
    out
}

fn elem_for(len: usize) -> BoxedStrategy<SliceElem> {
    let n = len as isize;
    let end = proptest::option::of(-n - 2..=n + 2);
    let step = prop_oneof![1..=3isize, -3..=-1isize];
    let range = (end.clone(), end, step).prop_map(|(start, stop, step)| SliceElem::Range {
        start,
        stop,
        step,
    });
    if len == 0 {
        prop_oneof![Just(SliceElem::Full), range].boxed()
    } else {
        prop_oneof![
            Just(SliceElem::Full),
            (-n..n).prop_map(SliceElem::Index),
            range.clone(),
            range,
        ]
        .boxed()
    }
}

/// A shape, chunks, and an index: one element per axis (the last few
/// possibly left out) with new axes sprinkled in.
fn indexed() -> impl Strategy<Value = (Vec<usize>, Chunks, Vec<SliceElem>)> {
    shape_and_chunks(3, 7).prop_flat_map(|(shape, chunks)| {
        let per_axis: Vec<_> = shape.iter().map(|&l| elem_for(l)).collect();
        let ndim = shape.len();
        (
            Just(shape),
            Just(chunks),
            per_axis,
            0..=ndim,
            proptest::collection::vec(0..=ndim, 0..3),
        )
            .prop_map(|(shape, chunks, elems, keep, new_axes)| {
                let mut elems: Vec<SliceElem> = elems[..keep].to_vec();
                for at in new_axes {
                    elems.insert(at.min(elems.len()), SliceElem::NewAxis);
                }
                (shape, chunks, elems)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn slice_matches_numpy((shape, chunks, elems) in indexed(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &chunks).unwrap();
        let y = x.slice(&elems).unwrap();
        let want = reference(&nd, &elems);
        prop_assert_eq!(y.shape(), want.shape());
        prop_assert_eq!(y.chunks().shape(), want.shape().to_vec());
        let got = y.compute_with(&Scheduler::sync()).unwrap();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn slice_of_slice_fuses_and_matches((shape, chunks, elems) in indexed(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &chunks).unwrap();
        // Reverse every axis of the result, then compare with the reference.
        let y = x.slice(&elems).unwrap();
        let rev = vec![range_step(None, None, -1); y.ndim()];
        let got = (&y.slice(&rev).unwrap() * 2.0).compute_with(&Scheduler::sync()).unwrap();
        let want = reference(&reference(&nd, &elems), &rev) * 2.0;
        prop_assert_eq!(got, want);
    }

    #[test]
    fn take_matches_select(
        (shape, chunks) in shape_and_chunks(3, 6).prop_filter("has an axis", |(s, _)| !s.is_empty()),
        picks in proptest::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..12),
        axis_pick in any::<prop::sample::Index>(),
        seed in 0u64..1000,
    ) {
        let ax = axis_pick.index(shape.len());
        let len = shape[ax];
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &chunks).unwrap();
        let (indices, positions): (Vec<isize>, Vec<usize>) = if len == 0 {
            (Vec::new(), Vec::new())
        } else {
            picks
                .iter()
                .map(|(i, neg)| {
                    let p = i.index(len);
                    (if *neg { p as isize - len as isize } else { p as isize }, p)
                })
                .unzip()
        };
        let y = x.take(&indices, Axis(ax)).unwrap();
        let want = nd.select(Axis(ax), &positions);
        prop_assert_eq!(y.shape(), want.shape());
        prop_assert_eq!(y.compute_with(&Scheduler::sync()).unwrap(), want);
    }
}

#[test]
fn slicing_keeps_blocks_apart() {
    let nd = data(&[10, 6], 7);
    let x = Array::from_ndarray(nd.clone(), &[4, 3]).unwrap();
    let y = x.slice(&[range(1, 9), range_step(None, None, -2)]).unwrap();
    assert_eq!(y.chunks().as_slices(), &[vec![3, 4, 1], vec![2, 1]]);
    let z = x.slice(&s![2, NewAxis, 1..;2]).unwrap();
    assert_eq!(z.chunks().as_slices(), &[vec![1], vec![1, 2]]);
    assert_eq!(z.compute().unwrap(), reference(&nd, &s![2, NewAxis, 1..;2]));
}

#[test]
fn the_most_extreme_steps_select_one_element_as_in_numpy() {
    let nd = data(&[10, 6], 3);
    let x = Array::from_ndarray(nd.clone(), &[4, 4]).unwrap();
    // x[::-2**63] and x[:, ::2**63 - 1]: the last row, the first column.
    let y = x.slice(&[range_step(None, None, isize::MIN)]).unwrap();
    assert_eq!(y.shape(), &[1, 6]);
    assert_eq!(y.compute().unwrap(), reference(&nd, &s![9..10, ..]));
    let z = x
        .slice(&[full_(), range_step(None, None, isize::MAX)])
        .unwrap();
    assert_eq!(z.compute().unwrap(), reference(&nd, &s![.., 0..1]));
}

#[test]
fn whole_slices_return_the_array() {
    let x = Array::<f64>::ones(&[4, 5], &[2, 2]).unwrap();
    assert_eq!(x.slice(&[]).unwrap().name(), x.name());
    assert_eq!(x.slice(&s![.., 0..5]).unwrap().name(), x.name());
}

#[test]
fn empty_selections_have_zero_length_axes() {
    let nd = data(&[6, 3], 1);
    let x = Array::from_ndarray(nd.clone(), &[2, 2]).unwrap();
    let y = x.slice(&[range(5, 2)]).unwrap();
    assert_eq!(y.shape(), &[0, 3]);
    assert_eq!(y.chunks().axis(0), &[0]);
    assert_eq!(y.compute().unwrap(), reference(&nd, &[range(5, 2)]));
    let e = x.take(&[], Axis(0)).unwrap();
    assert_eq!(e.shape(), &[0, 3]);
    assert_eq!(e.compute().unwrap().shape(), &[0, 3]);
}

#[test]
fn scalar_results_and_zero_d_arrays() {
    let nd = data(&[3, 4], 2);
    let x = Array::from_ndarray(nd.clone(), &[2, 3]).unwrap();
    assert_eq!(
        x.slice(&[idx(-1), idx(2)])
            .unwrap()
            .compute_scalar()
            .unwrap(),
        nd[[2, 2]]
    );
    let s0 = Array::from_ndarray(data(&[], 3), &[] as &[usize]).unwrap();
    let y = s0.slice(&[SliceElem::NewAxis, SliceElem::NewAxis]).unwrap();
    assert_eq!(y.shape(), &[1, 1]);
    assert_eq!(y.compute().unwrap().sum(), data(&[], 3).sum());
}

#[test]
fn bad_indices_name_the_axis_and_length() {
    let x = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let err = x.slice(&[full_(), idx(4)]).unwrap_err().to_string();
    assert!(
        err.contains("index 4")
            && err.contains("axis 1")
            && err.contains("length 4")
            && err.contains("(3, 4)"),
        "{err}"
    );
    let err = x.slice(&[idx(-4)]).unwrap_err().to_string();
    assert!(err.contains("index -4") && err.contains("axis 0"), "{err}");
    let err = x.slice(&[range_step(0, 2, 0)]).unwrap_err().to_string();
    assert!(err.contains("step 0") && err.contains("axis 0"), "{err}");
    let err = x.slice(&[idx(0), idx(0), idx(0)]).unwrap_err().to_string();
    assert!(err.contains("3 indices") && err.contains("(3, 4)"), "{err}");
    let err = x.take(&[0, 7], Axis(1)).unwrap_err().to_string();
    assert!(
        err.contains("index 7") && err.contains("axis 1") && err.contains("length 4"),
        "{err}"
    );
    let err = x.take(&[0], Axis(2)).unwrap_err().to_string();
    assert!(err.contains("axis 2") && err.contains("(3, 4)"), "{err}");
}

fn full_() -> SliceElem {
    rask_array::slicing::full()
}

#[test]
fn slices_are_portable_with_deterministic_names() {
    let nd = data(&[7, 6, 4], 11);
    let x = Array::from_ndarray(nd.clone(), &[3, 4, 2]).unwrap();
    let y = x.slice(&s![1..;2, ..;-1, -1, NewAxis]).unwrap();
    assert_eq!(
        y.name(),
        x.slice(&s![1..;2, ..;-1, -1, NewAxis]).unwrap().name()
    );
    // The same selection written another way is the same layer.
    assert_eq!(
        y.name(),
        x.slice(&s![1..7;2, ..;-1, 3, NewAxis]).unwrap().name()
    );
    assert_ne!(
        y.name(),
        x.slice(&s![1..;2, ..;-1, -2, NewAxis]).unwrap().name()
    );
    assert_ne!(
        y.name(),
        x.slice(&s![..;2, ..;-1, -1, NewAxis]).unwrap().name()
    );
    let got = crate::support::assert_portable(&y);
    let want = ArrayD::from_shape_fn(vec![3, 6, 1], |i| nd[[1 + 2 * i[0], 5 - i[1], 3]]);
    assert_eq!(got, want);
    // Whole blocks read as they are, a single index, an empty selection.
    let whole = x.slice(&s![0..3, .., ..]).unwrap();
    assert_eq!(
        crate::support::assert_portable(&whole),
        nd.slice(rask_array::ndarray::s![0..3, .., ..]).into_dyn()
    );
    let one = x.slice(&s![2, 5, 1]).unwrap();
    assert_eq!(
        crate::support::assert_portable(&one)
            .into_raw_vec_and_offset()
            .0,
        vec![nd[[2, 5, 1]]]
    );
    let empty = x.slice(&[range(4, 2)]).unwrap();
    assert_eq!(crate::support::assert_portable(&empty).shape(), &[0, 6, 4]);
}

#[test]
fn takes_are_portable_with_deterministic_names() {
    let nd = data(&[5, 7], 12);
    let x = Array::from_ndarray(nd.clone(), &[2, 3]).unwrap();
    let y = x.take(&[6, 0, -1, 3, 3], Axis(1)).unwrap();
    assert_eq!(y.name(), x.take(&[6, 0, -1, 3, 3], Axis(1)).unwrap().name());
    assert_eq!(
        y.name(),
        x.take(&[-1, 0, 6, 3, -4], Axis(1)).unwrap().name()
    );
    assert_ne!(y.name(), x.take(&[6, 0, 5, 3, 3], Axis(1)).unwrap().name());
    assert_ne!(y.name(), x.take(&[4, 0, -1, 3, 3], Axis(0)).unwrap().name());
    let got = crate::support::assert_portable(&y);
    assert_eq!(got, nd.select(Axis(1), &[6, 0, 6, 3, 3]));
    let none = x.take(&[], Axis(0)).unwrap();
    assert_eq!(crate::support::assert_portable(&none).shape(), &[0, 7]);
}
