//! One level of a wavelet transform along an axis as a layer of registered
//! kernels: `DwtBlock` (one filter of the analysis) and `IdwtBlock` (the
//! synthesis from an approximation and a detail). Each task gets the input
//! blocks its window touches (see [`super::plan`]) and, lane by lane along
//! the axis, gathers the window into a buffer (following the extension
//! mode) and convolves.

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use super::plan::{
    Mode, blocks_holding, coefficient, dwt_base, dwt_len, idwt_len, idwt_shift, offsets, partition,
    source,
};
use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::Float;
use crate::kernels::{elem_name, register_floats};

/// Where each window position of a task comes from: a block among the
/// task's arguments and the position in it, or `None` for a zero.
type Table = Vec<Option<(usize, usize)>>;

/// A run of a [`Table`]: window position, length, and the source of its
/// first element (consecutive elements of one block), or `None` (zeros).
type Run = (usize, usize, Option<(usize, usize)>);

/// The table of a window: position `w` is `pick(lo + w)` (an index along
/// the whole axis), found among the blocks starting at `starts` with the
/// lengths `lens`.
fn table(
    lo: i64,
    width: usize,
    starts: &[usize],
    lens: &[usize],
    pick: impl Fn(i64) -> Option<usize>,
) -> std::result::Result<Table, TaskError> {
    (0..width)
        .map(|w| match pick(lo + w as i64) {
            None => Ok(None),
            Some(p) => starts
                .iter()
                .zip(lens)
                .position(|(&s, &l)| s <= p && p < s + l)
                .map(|b| Some((b, p - starts[b])))
                .ok_or_else(|| {
                    TaskError::failed(format!(
                        "a wavelet task needs element {p} along its axis, which none of its \
                         blocks (starting at {starts:?}) holds"
                    ))
                }),
        })
        .collect()
}

/// The blocks of a task's arguments from `first` on, `count` of them,
/// checked to have the same shape apart from `axis` as `like` (or as the
/// first of them); their lengths along `axis`.
fn blocks<'a, T: Float>(
    args: &'a [Value],
    first: usize,
    count: usize,
    axis: usize,
    like: Option<&[usize]>,
) -> std::result::Result<(Vec<&'a ArrayD<T>>, Vec<usize>), TaskError> {
    let bs: Vec<&ArrayD<T>> = (first..first + count)
        .map(|i| block_arg::<T>(args, i))
        .collect::<std::result::Result<_, _>>()?;
    let like = like
        .or(bs.first().map(|b| b.shape()))
        .map(<[usize]>::to_vec);
    for b in &bs {
        let same = like.as_ref().is_some_and(|l| {
            b.ndim() == l.len() && (0..l.len()).all(|a| a == axis || b.shape()[a] == l[a])
        });
        if !same || axis >= b.ndim() {
            return Err(TaskError::failed(format!(
                "a wavelet task along axis {axis} got blocks of shapes {} and {}",
                fmt_shape(b.shape()),
                fmt_shape(like.as_deref().unwrap_or(&[]))
            )));
        }
    }
    let lens = bs.iter().map(|b| b.shape()[axis]).collect();
    Ok((bs, lens))
}

/// The shape of a task's output: `like` with `len` along `axis`.
fn out_shape(like: &[usize], axis: usize, len: usize) -> Vec<usize> {
    let mut s = like.to_vec();
    s[axis] = len;
    s
}

/// One part of one filter of a DWT level.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct DwtBlock<T> {
    axis: usize,
    filter: Vec<f64>,
    mode: Mode,
    /// The input's length along the axis.
    n: usize,
    /// The extended position of the window's first element.
    lo: i64,
    /// The number of outputs.
    len: usize,
    /// Where the blocks of the arguments start along the axis.
    starts: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Float> Kernel for DwtBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.wavelet.dwt", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let (bs, lens) = blocks::<T>(args, 0, self.starts.len(), self.axis, None)?;
        let Some(first) = bs.first() else {
            return Err(TaskError::failed("a wavelet task got no blocks"));
        };
        let f = self.filter.len();
        let width = 2 * self.len.saturating_sub(1) + f;
        let (n, mode) = (self.n, self.mode);
        let table = table(self.lo, width, &self.starts, &lens, |t| source(t, n, mode))?;
        let filter: Vec<T> = self.filter.iter().map(|&v| T::from_f64(v)).collect();
        let mut out = ArrayD::<T>::zeros(IxDyn(&out_shape(first.shape(), self.axis, self.len)));
        filter_axis(&mut out, &bs, self.axis, &table, &filter, 2, false);
        Ok(block_value(out))
    }
}

/// One part of an IDWT level: from the approximation's blocks, then the
/// detail's.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct IdwtBlock<T> {
    axis: usize,
    rec_lo: Vec<f64>,
    rec_hi: Vec<f64>,
    mode: Mode,
    /// The number of coefficients along the axis (the detail's length).
    m: usize,
    /// The upsampled position of the window's first element.
    lo: i64,
    /// The number of outputs.
    len: usize,
    /// Where the approximation's and the detail's blocks start.
    a_starts: Vec<usize>,
    d_starts: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Float> Kernel for IdwtBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.wavelet.idwt", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let (na, nd) = (self.a_starts.len(), self.d_starts.len());
        let (a, a_lens) = blocks::<T>(args, 0, na, self.axis, None)?;
        let like = a.first().map(|b| b.shape().to_vec());
        let (d, d_lens) = blocks::<T>(args, na, nd, self.axis, like.as_deref())?;
        let Some(first) = a.first().or(d.first()) else {
            return Err(TaskError::failed("a wavelet task got no blocks"));
        };
        let f = self.rec_lo.len();
        let width = self.len + f - 1;
        let (m, mode) = (self.m, self.mode);
        let pick = |t| coefficient(t, m, mode);
        let a_table = table(self.lo, width, &self.a_starts, &a_lens, pick)?;
        let d_table = table(self.lo, width, &self.d_starts, &d_lens, pick)?;
        let g: Vec<T> = self.rec_lo.iter().map(|&v| T::from_f64(v)).collect();
        let h: Vec<T> = self.rec_hi.iter().map(|&v| T::from_f64(v)).collect();
        let shape = out_shape(first.shape(), self.axis, self.len);
        // The approximation's part, then the detail's added to it, as
        // PyWavelets sums them.
        let mut out = ArrayD::<T>::zeros(IxDyn(&shape));
        filter_axis(&mut out, &a, self.axis, &a_table, &g, 1, false);
        filter_axis(&mut out, &d, self.axis, &d_table, &h, 1, true);
        Ok(block_value(out))
    }
}

register_floats!(DwtBlock);
register_floats!(IdwtBlock);

/// Elements along the axis's hyperplanes filtered at a time (so that a
/// window of rows of this many stays in cache).
const TILE: usize = 1024;

/// `out[.., k, ..] = sum_j filter[j] * window[.., (f - 1) + step k - j, ..]`
/// for every position `k` along `axis` of `out` (`f` the filter's length;
/// with `add`, added to what `out` holds), where window position `w` is
/// the element `table[w]` of `blocks` (or zero). The sum runs over `j` in
/// order, from zero, in both layouts below, so that the result does not
/// depend on how the other axes are chunked.
///
/// When the axis is the last (lanes contiguous), each lane is gathered
/// into a buffer and filtered; otherwise whole rows of the elements after
/// the axis are combined, a tile at a time, so the inner loop is a
/// contiguous multiply-add.
fn filter_axis<T: Float>(
    out: &mut ArrayD<T>,
    blocks: &[&ArrayD<T>],
    axis: usize,
    table: &Table,
    filter: &[T],
    step: usize,
    add: bool,
) {
    let shape = out.shape().to_vec();
    let len = shape[axis];
    let first = filter.len() - 1;
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let views: Vec<ndarray::CowArray<'_, T, IxDyn>> =
        blocks.iter().map(|b| b.as_standard_layout()).collect();
    let srcs: Vec<(&[T], usize)> = views
        .iter()
        .map(|v| {
            let data = v.as_slice().expect("a standard-layout block is contiguous");
            (data, v.shape()[axis])
        })
        .collect();
    let dst = out
        .as_slice_mut()
        .expect("a new array is in standard layout");
    if inner == 1 {
        let runs = runs(table);
        let mut buf = vec![T::zero(); table.len()];
        for o in 0..outer {
            for &(w, len, src) in &runs {
                let dst = &mut buf[w..w + len];
                match src {
                    Some((d, p)) => {
                        let (data, n) = srcs[d];
                        dst.copy_from_slice(&data[o * n + p..][..len]);
                    }
                    None => dst.fill(T::zero()),
                }
            }
            for (k, x) in dst[o * len..(o + 1) * len].iter_mut().enumerate() {
                let c = first + step * k;
                // buf[c], buf[c - 1], ..., buf[c - first]: tap j reads buf[c - j].
                let window = &buf[c - first..=c];
                let mut acc = T::zero();
                for (&fj, &v) in filter.iter().zip(window.iter().rev()) {
                    acc += fj * v;
                }
                if add { *x += acc } else { *x = acc }
            }
        }
        return;
    }
    let mut acc = vec![T::zero(); TILE.min(inner)];
    for o in 0..outer {
        for t0 in (0..inner).step_by(TILE) {
            let tw = TILE.min(inner - t0);
            let acc = &mut acc[..tw];
            for k in 0..len {
                acc.fill(T::zero());
                let c = first + step * k;
                for (j, &fj) in filter.iter().enumerate() {
                    // A zero (`None`) adds nothing.
                    if let Some((d, p)) = table[c - j] {
                        let (src, n) = srcs[d];
                        let row = &src[(o * n + p) * inner + t0..][..tw];
                        for (a, &v) in acc.iter_mut().zip(row) {
                            *a += fj * v;
                        }
                    }
                }
                let row = &mut dst[(o * len + k) * inner + t0..][..tw];
                if add {
                    for (x, &a) in row.iter_mut().zip(acc.iter()) {
                        *x += a;
                    }
                } else {
                    row.copy_from_slice(acc);
                }
            }
        }
    }
}

/// The table as runs `(window position, length, source)` of consecutive
/// elements of one block (`Some((block, first position))`) or of zeros.
fn runs(table: &Table) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for (w, &e) in table.iter().enumerate() {
        if let Some((start, len, src)) = out.last_mut() {
            let extends = match (*src, e) {
                (Some((d, p)), Some((d2, p2))) => d == d2 && p + *len == p2,
                (None, None) => true,
                _ => false,
            };
            if extends && *start + *len == w {
                *len += 1;
                continue;
            }
        }
        out.push((w, 1, e));
    }
    out
}

/// One output part of a level: its task's parameters besides the data.
struct Part {
    lo: i64,
    len: usize,
    /// Indices along the axis of the blocks it reads (of the first input,
    /// then of the second for an IDWT).
    deps: Vec<usize>,
    deps2: Vec<usize>,
}

/// One filter of one DWT level of `x` along `axis`: an array of
/// `dwt_len(n)` coefficients along it, split like `x`'s blocks, halved.
pub(crate) fn dwt_layer<T: Float>(
    x: &Array<T>,
    filter: &[f64],
    axis: usize,
    mode: Mode,
) -> Result<Array<T>> {
    let n = x.try_shape()?[axis];
    let f = filter.len();
    let total = dwt_len(n, f, mode);
    let in_off = x.chunks().offsets(axis);
    let cuts: Vec<usize> = in_off[1..in_off.len() - 1]
        .iter()
        .map(|s| s.div_ceil(2))
        .collect();
    let sizes = partition(cuts, total, f);
    let out_off = offsets(&sizes);
    let base = dwt_base(f, mode);
    let parts: Vec<Part> = sizes
        .iter()
        .zip(&out_off)
        .map(|(&len, &o0)| {
            let lo = base + 2 * o0 as i64 - (f as i64 - 1);
            let width = 2 * len.saturating_sub(1) + f;
            let held = (lo..lo + width as i64).filter_map(|t| source(t, n, mode));
            Part {
                lo,
                len,
                deps: blocks_holding(&in_off, held),
                deps2: Vec::new(),
            }
        })
        .collect();
    let mut per_axis = x.chunks().as_slices().to_vec();
    per_axis[axis] = sizes;
    let chunks = Chunks::from_vec(per_axis);
    let src = x.node.name.clone();
    let parts = Arc::new(parts);
    let params = (axis, filter, mode);
    let filter = filter.to_vec();
    Ok(Array::kernel_layer(
        "dwt",
        &params,
        chunks,
        vec![x.input()],
        move |idx| {
            let part = &parts[idx[axis]];
            let deps = part
                .deps
                .iter()
                .map(|&b| {
                    let mut i = idx.to_vec();
                    i[axis] = b;
                    block_key(&src, &i)
                })
                .collect();
            let kernel = DwtBlock::<T> {
                axis,
                filter: filter.clone(),
                mode,
                n,
                lo: part.lo,
                len: part.len,
                starts: part.deps.iter().map(|&b| in_off[b]).collect(),
                _t: PhantomData,
            };
            task(kernel, deps)
        },
    ))
}

/// One IDWT level along `axis` from the approximation `a` and the detail
/// `d` (`a` may be one longer along the axis, as PyWavelets allows; its
/// last element is then ignored).
pub(crate) fn idwt_layer<T: Float>(
    a: &Array<T>,
    d: &Array<T>,
    rec_lo: &[f64],
    rec_hi: &[f64],
    axis: usize,
    mode: Mode,
) -> Result<Array<T>> {
    let (sa, sd) = (a.try_shape()?.to_vec(), d.try_shape()?.to_vec());
    let m = sd[axis];
    let others_match = sa.len() == sd.len() && (0..sa.len()).all(|i| i == axis || sa[i] == sd[i]);
    if !others_match || !(sa[axis] == m || sa[axis] == m + 1) {
        return Err(Error::invalid(
            "wavelet coefficients",
            format!(
                "an approximation of shape {} does not go with a detail of shape {} along axis \
                 {axis}: they must have the same shape (the approximation may be one longer \
                 along the axis)",
                fmt_shape(&sa),
                fmt_shape(&sd)
            ),
        ));
    }
    let f = rec_lo.len();
    let total = idwt_len(m, f, mode).ok_or_else(|| {
        Error::invalid(
            "wavelet coefficients",
            format!(
                "{m} coefficients along axis {axis} are too few to reconstruct from with a \
                 filter of length {f} in {} mode",
                mode.name()
            ),
        )
    })?;
    // The detail's blocks must line up with the approximation's off the axis.
    let d = if (0..sa.len()).all(|i| i == axis || a.chunks().axis(i) == d.chunks().axis(i)) {
        d.clone()
    } else {
        let mut want = a.chunks().as_slices().to_vec();
        want[axis] = d.chunks().axis(axis).to_vec();
        d.rechunk(Chunks::new(want, &sd)?)?
    };
    let a_off = a.chunks().offsets(axis);
    let d_off = d.chunks().offsets(axis);
    let cuts: Vec<usize> = d_off[1..d_off.len() - 1].iter().map(|&c| 2 * c).collect();
    let sizes = partition(cuts, total, f);
    let out_off = offsets(&sizes);
    let shift = idwt_shift(f, mode);
    let parts: Vec<Part> = sizes
        .iter()
        .zip(&out_off)
        .map(|(&len, &k0)| {
            let lo = k0 as i64 + shift - (f as i64 - 1);
            let width = len + f - 1;
            let used: Vec<usize> = (lo..lo + width as i64)
                .filter_map(|t| coefficient(t, m, mode))
                .collect();
            Part {
                lo,
                len,
                deps: blocks_holding(&a_off, used.iter().copied()),
                deps2: blocks_holding(&d_off, used),
            }
        })
        .collect();
    let mut per_axis = a.chunks().as_slices().to_vec();
    per_axis[axis] = sizes;
    let chunks = Chunks::from_vec(per_axis);
    let (a_src, d_src) = (a.node.name.clone(), d.node.name.clone());
    let parts = Arc::new(parts);
    let params = (axis, rec_lo, rec_hi, mode);
    let (rec_lo, rec_hi) = (rec_lo.to_vec(), rec_hi.to_vec());
    Ok(Array::kernel_layer(
        "idwt",
        &params,
        chunks,
        vec![a.input(), d.input()],
        move |idx| {
            let part = &parts[idx[axis]];
            let key = |src: &Arc<str>, b: usize| {
                let mut i = idx.to_vec();
                i[axis] = b;
                block_key(src, &i)
            };
            let deps = part
                .deps
                .iter()
                .map(|&b| key(&a_src, b))
                .chain(part.deps2.iter().map(|&b| key(&d_src, b)))
                .collect();
            let kernel = IdwtBlock::<T> {
                axis,
                rec_lo: rec_lo.clone(),
                rec_hi: rec_hi.clone(),
                mode,
                m,
                lo: part.lo,
                len: part.len,
                a_starts: part.deps.iter().map(|&b| a_off[b]).collect(),
                d_starts: part.deps2.iter().map(|&b| d_off[b]).collect(),
                _t: PhantomData,
            };
            task(kernel, deps)
        },
    ))
}

/// A task of `kernel` reading `deps`: blockwise (fusable) when it reads one
/// block only, as `overlap`'s tasks.
fn task<K: Kernel>(kernel: K, deps: Vec<rask_core::Key>) -> BlockTask {
    let op = if deps.len() == 1 {
        Op::kernel_blockwise(kernel)
    } else {
        Op::kernel(kernel)
    };
    BlockTask { op, deps }
}
