//! Histograms of arrays: [`histogram`] with equal-width bins over a given
//! range, and [`histogram_edges`] with explicit bin edges (NumPy's
//! `np.histogram`, Dask's `da.histogram`).
//!
//! # Plan
//!
//! Every block counts its elements into the bins (one task per block, which
//! fuses with the work that makes the block), giving a row of counts; the
//! rows form a `(blocks, bins)` array that is summed along axis 0 by the
//! ordinary reduction tree. Nothing but the counts leaves a block.
//!
//! As in Dask, equal-width bins need the range up front (finding the data's
//! minimum and maximum would take a pass of its own): compute
//! `x.min()` / `x.max()` first when it is not known.
//!
//! # Semantics
//!
//! As NumPy: bins are half-open `[e_i, e_{i+1})` except the last, which also
//! holds its right edge; values outside the edges and NaN are not counted.
//! An element's bin is found the way NumPy finds it for equal-width bins
//! (scaled position, then corrected against the edges themselves), so counts
//! equal NumPy's even for values that round onto an edge.
//!
//! The counting tasks are the registered kernel `rask.array.histogram`,
//! whose parameters are the binning; the rows are `int64` blocks.

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{Array1, ArrayD, IxDyn};
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::Chunks;
use crate::element::Number;
use crate::kernels::{elem_name, register_numbers};
use crate::manipulation::unravel;

/// How elements map to bins.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Binning {
    /// `bins` equal-width bins from `lo` to `hi`, and their edges.
    Equal {
        lo: f64,
        hi: f64,
        bins: usize,
        edges: Vec<f64>,
    },
    /// Explicit, non-decreasing edges.
    Edges(Vec<f64>),
}

impl Binning {
    fn edges(&self) -> &[f64] {
        match self {
            Binning::Equal { edges, .. } | Binning::Edges(edges) => edges,
        }
    }

    fn nbins(&self) -> usize {
        self.edges().len() - 1
    }

    /// Whether the binning is one `histogram` or `histogram_edges` makes:
    /// at least two finite, non-decreasing edges, as many as the bins say.
    /// [`Binning::bin`] may panic on others.
    fn is_valid(&self) -> bool {
        let edges = self.edges();
        let counted = match self {
            Binning::Equal { bins, .. } => edges.len() == bins.saturating_add(1),
            Binning::Edges(_) => true,
        };
        counted
            && edges.len() >= 2
            && edges.iter().all(|e| e.is_finite())
            && edges.windows(2).all(|w| w[0] <= w[1])
    }

    /// The bin of `v`, or `None` when it is outside the edges or NaN.
    fn bin(&self, v: f64) -> Option<usize> {
        let edges = self.edges();
        let (first, last) = (edges[0], edges[edges.len() - 1]);
        if !(v >= first && v <= last) {
            return None;
        }
        let n = self.nbins();
        match self {
            Binning::Equal { lo, hi, bins, .. } => {
                // NumPy: scaled position, then corrected against the edges.
                let mut i = (((v - lo) / (hi - lo) * *bins as f64) as usize).min(n - 1);
                if v < edges[i] {
                    i -= 1;
                } else if v >= edges[i + 1] && i != n - 1 {
                    i += 1;
                }
                Some(i)
            }
            Binning::Edges(_) => {
                // The last edge closes the last bin.
                if v == last {
                    return Some(edges.partition_point(|&e| e < last) - 1);
                }
                Some(edges.partition_point(|&e| e <= v) - 1)
            }
        }
    }
}

/// The most bins [`histogram`] counts into (2^28: the counts are one
/// block of 2 GiB).
pub const MAX_BINS: usize = 1 << 28;

/// Counts of `x`'s elements in `bins` equal-width bins over `range`, and the
/// `bins + 1` edges (NumPy's `np.histogram(x, bins, range)`).
///
/// The counts are a lazy 1-d `int64` array; the edges are known at once.
///
/// # Errors
///
/// When `bins` is 0 or above [`MAX_BINS`], or the range is not finite
/// with `lo < hi` or is wider than a float holds.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, histogram};
/// let x = Array::<f64>::arange(0.0, 10.0, 1.0, &[3]).unwrap();
/// let (counts, edges) = histogram(&x, 5, (0.0, 10.0)).unwrap();
/// assert_eq!(edges, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
/// assert_eq!(counts.compute().unwrap().into_raw_vec_and_offset().0, vec![2, 2, 2, 2, 2]);
/// ```
pub fn histogram<T: Number>(
    x: &Array<T>,
    bins: usize,
    range: (f64, f64),
) -> Result<(Array<i64>, Vec<f64>)> {
    let (lo, hi) = range;
    if bins == 0 {
        return Err(Error::invalid(
            "histogram",
            "bins must be at least 1".to_string(),
        ));
    }
    if bins > MAX_BINS {
        return Err(Error::invalid(
            "histogram",
            format!("{bins} bins: the most is {MAX_BINS} (the counts are one block)"),
        ));
    }
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(Error::invalid(
            "histogram",
            format!("range ({lo}, {hi}) must be finite with low < high"),
        ));
    }
    if !(hi - lo).is_finite() {
        return Err(Error::invalid(
            "histogram",
            format!(
                "range ({lo}, {hi}) is wider than a float can hold; {bins} bins of it would not \
                 have finite widths (NumPy: \"Too many bins for data range\")"
            ),
        ));
    }
    // NumPy's edges: linspace(lo, hi, bins + 1).
    let step = (hi - lo) / bins as f64;
    let edges: Vec<f64> = (0..=bins)
        .map(|i| if i == bins { hi } else { lo + i as f64 * step })
        .collect();
    let binning = Binning::Equal {
        lo,
        hi,
        bins,
        edges: edges.clone(),
    };
    Ok((counts(x, binning), edges))
}

/// Counts of `x`'s elements in the bins between consecutive `edges`, which
/// must be non-decreasing (NumPy's `np.histogram(x, bins=edges)`).
///
/// # Errors
///
/// When there are fewer than 2 edges, or they are not finite and
/// non-decreasing.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, histogram_edges};
/// let x = Array::<i32>::arange(0, 10, 1, &[4]).unwrap();
/// let counts = histogram_edges(&x, &[0.0, 1.0, 5.0, 9.0]).unwrap();
/// // [0, 1), [1, 5), [5, 9]: the last bin holds its right edge.
/// assert_eq!(counts.compute().unwrap().into_raw_vec_and_offset().0, vec![1, 4, 5]);
/// ```
pub fn histogram_edges<T: Number>(x: &Array<T>, edges: &[f64]) -> Result<Array<i64>> {
    if edges.len() < 2 {
        return Err(Error::invalid(
            "histogram",
            format!("{} edges given; at least 2 are needed", edges.len()),
        ));
    }
    if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[1] < w[0]) {
        return Err(Error::invalid(
            "histogram",
            format!("edges {edges:?} must be finite and non-decreasing"),
        ));
    }
    Ok(counts(x, Binning::Edges(edges.to_vec())))
}

/// The counts layer and its sum.
fn counts<T: Number>(x: &Array<T>, binning: Binning) -> Array<i64> {
    if let Some(e) = x.error() {
        return Array::invalid(e);
    }
    let nbins = binning.nbins();
    let numblocks = x.numblocks();
    let nblocks = x.nblocks();
    let src = x.node.name.clone();
    // The rows are int64 whatever `T` is: the input's dtype is a parameter.
    let params = (binning.clone(), T::DTYPE);
    let binning = Arc::new(binning);
    // One row of counts per block, in C order of the blocks.
    let rows = Array::<i64>::kernel_layer(
        "histogram",
        &params,
        Chunks::from_vec(vec![vec![1; nblocks], vec![nbins]]),
        vec![x.input()],
        move |idx| BlockTask {
            op: Op::kernel_blockwise(HistogramBlock::<T> {
                binning: (*binning).clone(),
                _t: PhantomData,
            }),
            deps: vec![block_key(&src, &unravel(idx[0], &numblocks))],
        },
    );
    // Every array has at least one block (an empty axis has one empty
    // block), so the sum has a row to start from.
    rows.sum_axis(ndarray::Axis(0))
}

/// The counts of one block of `T` in the bins, as a `(1, bins)` row of
/// `int64`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct HistogramBlock<T> {
    binning: Binning,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for HistogramBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.histogram", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        if !self.binning.is_valid() {
            return Err(TaskError::failed(format!(
                "histogram: edges {:?} are not at least 2 finite, non-decreasing edges",
                self.binning.edges()
            )));
        }
        let block = block_arg::<T>(args, 0)?;
        Ok(block_value(count_block(
            block,
            &self.binning,
            self.binning.nbins(),
        )?))
    }
}

register_numbers!(HistogramBlock);

/// The counts of one block as a `(1, bins)` row.
fn count_block<T: Number>(
    block: &ArrayD<T>,
    binning: &Binning,
    nbins: usize,
) -> std::result::Result<ArrayD<i64>, TaskError> {
    let mut row = Array1::<i64>::zeros(nbins);
    for &v in block.iter() {
        if let Some(i) = binning.bin(v.to_f64()) {
            row[i] += 1;
        }
    }
    row.into_shape_with_order(IxDyn(&[1, nbins]))
        .map_err(|e| TaskError::failed(format!("histogram row: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn equal(lo: f64, hi: f64, bins: usize) -> Binning {
        let step = (hi - lo) / bins as f64;
        Binning::Equal {
            lo,
            hi,
            bins,
            edges: (0..=bins)
                .map(|i| if i == bins { hi } else { lo + i as f64 * step })
                .collect(),
        }
    }

    #[test]
    fn edges_belong_to_the_bin_on_their_right_except_the_last() {
        let b = equal(0.0, 1.0, 4);
        assert_eq!(b.bin(0.0), Some(0));
        assert_eq!(b.bin(0.25), Some(1));
        assert_eq!(b.bin(0.999), Some(3));
        assert_eq!(b.bin(1.0), Some(3));
        assert_eq!(b.bin(-0.1), None);
        assert_eq!(b.bin(1.1), None);
        assert_eq!(b.bin(f64::NAN), None);
        let e = Binning::Edges(vec![0.0, 1.0, 1.0, 3.0]);
        assert_eq!(e.bin(1.0), Some(2));
        assert_eq!(e.bin(3.0), Some(2));
        assert_eq!(e.bin(0.5), Some(0));
    }

    #[test]
    fn malformed_binnings_are_task_errors() {
        let run = |binning| {
            let block = crate::array::block_value(ArrayD::from_elem(IxDyn(&[3]), 0.5f64));
            HistogramBlock::<f64> {
                binning,
                _t: PhantomData,
            }
            .run(&[block])
        };
        assert!(run(equal(0.0, 1.0, 2)).is_ok());
        assert!(run(Binning::Edges(vec![1.0])).is_err());
        assert!(run(Binning::Edges(vec![0.0, 2.0, 1.0])).is_err());
        assert!(run(Binning::Edges(vec![0.0, f64::NAN])).is_err());
        let Binning::Equal { edges, .. } = equal(0.0, 1.0, 2) else {
            unreachable!()
        };
        let wrong = Binning::Equal {
            lo: 0.0,
            hi: 1.0,
            bins: 5,
            edges,
        };
        assert!(run(wrong).is_err());
    }

    #[test]
    fn values_that_round_onto_an_edge_follow_the_edges() {
        // 0.3 / 0.1 rounds to 2.9999999999999996: the scaled position says
        // bin 2, the edge 0.30000000000000004 says bin 2 as well; check the
        // correction agrees with a search over the edges for many values.
        let b = equal(0.0, 1.0, 10);
        let edges = b.edges().to_vec();
        for k in 0..=1000 {
            let v = k as f64 / 1000.0;
            let by_search = if v == 1.0 {
                9
            } else {
                edges.partition_point(|&e| e <= v) - 1
            };
            assert_eq!(b.bin(v), Some(by_search), "{v}");
        }
    }
}
