//! Histograms against counting on the whole array.

use proptest::prelude::*;
use rask_array::ndarray::ArrayD;
use rask_array::{Array, histogram, histogram_edges};

use crate::support::{data, shape_and_chunks};

/// NumPy's rule on the whole array: the bin whose edges hold the value, the
/// last bin closed on the right, values outside and NaN dropped.
fn reference(x: &ArrayD<f64>, edges: &[f64]) -> Vec<i64> {
    let n = edges.len() - 1;
    let mut counts = vec![0; n];
    for &v in x {
        if v.is_nan() || v < edges[0] || v > edges[n] {
            continue;
        }
        let i = if v == edges[n] {
            edges.partition_point(|&e| e < edges[n]) - 1
        } else {
            edges.partition_point(|&e| e <= v) - 1
        };
        counts[i] += 1;
    }
    counts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn equal_width_bins_count_like_the_whole_array(
        (shape, chunks) in shape_and_chunks(3, 12),
        seed in any::<u64>(),
        bins in 1usize..12,
        lo in -3.0f64..0.5,
        width in 0.1f64..6.0,
    ) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), chunks).unwrap();
        let (counts, edges) = histogram(&x, bins, (lo, lo + width)).unwrap();
        prop_assert_eq!(edges.len(), bins + 1);
        let got = counts.compute().unwrap().into_raw_vec_and_offset().0;
        prop_assert_eq!(got, reference(&nd, &edges));
    }

    #[test]
    fn explicit_edges_count_like_the_whole_array(
        (shape, chunks) in shape_and_chunks(3, 12),
        seed in any::<u64>(),
        mut edges in proptest::collection::vec(-3.0f64..3.0, 2..8),
    ) {
        edges.sort_by(f64::total_cmp);
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), chunks).unwrap();
        let got = histogram_edges(&x, &edges).unwrap().compute().unwrap();
        prop_assert_eq!(got.into_raw_vec_and_offset().0, reference(&nd, &edges));
    }
}

#[test]
fn values_on_edges_nan_and_integers() {
    let nd = ArrayD::from_shape_vec(vec![7], vec![0.0, 0.1, 0.2, 0.3, f64::NAN, 1.0, 1.5]).unwrap();
    let x = Array::from_ndarray(nd.clone(), &[3]).unwrap();
    let (counts, edges) = histogram(&x, 10, (0.0, 1.0)).unwrap();
    assert_eq!(
        counts.compute().unwrap().into_raw_vec_and_offset().0,
        reference(&nd, &edges)
    );
    // What numpy.histogram([0, .1, .2, .3, nan, 1, 1.5], 10, (0, 1)) gives:
    // the edge 3 * 0.1 is 0.30000000000000004, so 0.3 falls in bin 2; the
    // NaN and 1.5 are dropped, 1.0 closes the last bin.
    assert_eq!(
        counts.compute().unwrap().into_raw_vec_and_offset().0,
        vec![1, 1, 2, 0, 0, 0, 0, 0, 0, 1]
    );
    let ints = Array::<u8>::arange(0, 200, 1, &[64]).unwrap();
    let (c, _) = histogram(&ints, 4, (0.0, 200.0)).unwrap();
    assert_eq!(
        c.compute().unwrap().into_raw_vec_and_offset().0,
        vec![50; 4]
    );
    // An empty array has all-zero counts.
    let empty = Array::<f64>::zeros(&[0, 3], &[1, 2]).unwrap();
    let (c, _) = histogram(&empty, 3, (0.0, 1.0)).unwrap();
    assert_eq!(c.compute().unwrap().into_raw_vec_and_offset().0, vec![0; 3]);
}

#[test]
fn bad_bins_and_ranges_are_errors() {
    let x = Array::<f64>::ones(&[4], &[2]).unwrap();
    for (bins, range) in [
        (0, (0.0, 1.0)),
        (3, (1.0, 1.0)),
        (3, (0.0, f64::INFINITY)),
        (3, (-f64::MAX, f64::MAX)),
        (usize::MAX, (0.0, 1.0)),
    ] {
        let err = histogram(&x, bins, range).unwrap_err().to_string();
        assert!(err.contains("histogram"), "{err}");
    }
    assert!(histogram_edges(&x, &[1.0]).is_err());
    let err = histogram_edges(&x, &[0.0, 2.0, 1.0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-decreasing"), "{err}");
}

/// The layers of `x`'s graph (unoptimized, so nothing is fused) whose keys
/// have the prefix `prefix`, each with whether all its tasks are portable,
/// sorted by name.
pub fn layers<T: rask_array::Element>(x: &Array<T>, prefix: &str) -> Vec<(String, bool)> {
    use rask_core::{Collection, GraphBuilder};
    let mut builder = GraphBuilder::new();
    x.add_to_graph(&mut builder, &mut Vec::new());
    let graph = builder.build().unwrap();
    let mut found = std::collections::BTreeMap::<String, bool>::new();
    for t in graph.tasks() {
        if t.key.prefix() == prefix {
            *found.entry(t.key.name().to_string()).or_insert(true) &= t.op.is_portable();
        }
    }
    found.into_iter().collect()
}

#[test]
fn counting_tasks_are_portable_with_deterministic_names() {
    // The sum of the rows is a reduction: it is portable once reductions
    // are; the counting layer is checked here.
    let nd = data(&[9, 4], 5);
    let x = Array::from_ndarray(nd.clone(), &[4, 3]).unwrap();
    let (counts, edges) = histogram(&x, 6, (-8.0, 8.0)).unwrap();
    let rows = layers(&counts, "histogram");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].1, "a counting task is a closure");
    assert_eq!(
        counts.compute().unwrap().into_raw_vec_and_offset().0,
        reference(&nd, &edges)
    );
    let again = histogram(&x, 6, (-8.0, 8.0)).unwrap().0;
    assert_eq!(layers(&again, "histogram"), rows);
    for other in [
        histogram(&x, 5, (-8.0, 8.0)).unwrap().0,
        histogram(&x, 6, (-8.0, 9.0)).unwrap().0,
        histogram_edges(&x, &edges).unwrap(),
    ] {
        let other = layers(&other, "histogram");
        assert_eq!(other.len(), 1);
        assert_ne!(other[0].0, rows[0].0);
    }
    // Explicit edges, on integers.
    let ints = ArrayD::from_shape_fn(vec![10], |i| i[0] as i32);
    let xi = Array::from_ndarray(ints, &[4]).unwrap();
    let ci = histogram_edges(&xi, &[0.0, 1.0, 5.0, 9.0]).unwrap();
    let li = layers(&ci, "histogram");
    assert!(li.iter().all(|(_, portable)| *portable), "{li:?}");
    assert_eq!(
        ci.compute().unwrap().into_raw_vec_and_offset().0,
        vec![1, 4, 5]
    );
}
