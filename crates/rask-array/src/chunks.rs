//! Chunk arithmetic: how an array's shape splits into blocks.
//!
//! [`Chunks`] stores the block sizes along every axis, as Dask's `chunks`
//! tuple does: `((1000, 1000, 500), (250, 250))` for a `(2500, 500)` array.
//! Every axis has at least one block; a zero-length axis has one empty block.
//! [`ChunkSpec`] is how users ask for a chunking: a block size (the last
//! block may be smaller), explicit sizes, the whole axis (`-1` in Dask), or
//! `Auto`, which picks sizes so blocks are close to a target byte size
//! (`array.chunk-size` in the configuration, 128 MiB by default).

use rask_core::{Error, Result};

/// How to split one axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkSpec {
    /// Pick a size so blocks are near the target byte size.
    Auto,
    /// One block spanning the axis (Dask's `-1`).
    Whole,
    /// Blocks of this size; the last one may be smaller.
    Size(usize),
    /// Explicit block sizes, which must sum to the axis length.
    Sizes(Vec<usize>),
}

impl From<usize> for ChunkSpec {
    fn from(n: usize) -> Self {
        ChunkSpec::Size(n)
    }
}

impl From<Vec<usize>> for ChunkSpec {
    fn from(sizes: Vec<usize>) -> Self {
        ChunkSpec::Sizes(sizes)
    }
}

/// Block sizes along every axis.
///
/// ```
/// # use rask_local as _;
/// use rask_array::Chunks;
/// let c = Chunks::regular(&[10, 4], &[4, 4]).unwrap();
/// assert_eq!(c.axis(0), &[4, 4, 2]);
/// assert_eq!(c.numblocks(), vec![3, 1]);
/// assert_eq!(c.shape(), vec![10, 4]);
/// assert_eq!(c.block_shape(&[2, 0]), vec![2, 4]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chunks(Vec<Vec<usize>>);

/// Formats a shape the way NumPy prints it: `(3, 4)`, `(5,)`, `()`.
pub fn fmt_shape(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Regular sizes `size, size, ..., rest` covering `len`.
fn regular_axis(len: usize, size: usize) -> Vec<usize> {
    if len == 0 {
        return vec![0];
    }
    let mut v = vec![size; len / size];
    if !len.is_multiple_of(size) {
        v.push(len % size);
    }
    v
}

/// An error unless `shape`'s element count fits an index (`isize`).
fn check_elements(shape: &[usize]) -> Result<()> {
    let elements = shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .filter(|&n| n <= isize::MAX as usize);
    match elements {
        Some(_) => Ok(()),
        None => Err(Error::invalid(
            "shape",
            format!(
                "the shape {} has more elements than an index can count ({}); use a smaller \
                 shape",
                fmt_shape(shape),
                isize::MAX
            ),
        )),
    }
}

impl Chunks {
    /// Explicit block sizes per axis; each axis must sum to its length in
    /// `shape` and have no empty block (unless the axis is empty).
    pub fn new(per_axis: Vec<Vec<usize>>, shape: &[usize]) -> Result<Self> {
        check_elements(shape)?;
        if per_axis.len() != shape.len() {
            return Err(Error::invalid(
                "chunks",
                format!(
                    "chunks have {} axes but the shape {} has {}",
                    per_axis.len(),
                    fmt_shape(shape),
                    shape.len()
                ),
            ));
        }
        for (ax, (sizes, &len)) in per_axis.iter().zip(shape).enumerate() {
            let total: usize = sizes.iter().sum();
            if total != len {
                return Err(Error::invalid(
                    "chunks",
                    format!(
                        "block sizes {sizes:?} along axis {ax} sum to {total}, but the shape {} has {len} there",
                        fmt_shape(shape)
                    ),
                ));
            }
            let ok = if len == 0 {
                sizes.as_slice() == [0]
            } else {
                !sizes.is_empty() && sizes.iter().all(|&s| s > 0)
            };
            if !ok {
                return Err(Error::invalid(
                    "chunks",
                    format!(
                        "block sizes {sizes:?} along axis {ax} contain an empty block; use sizes > 0 (an empty axis has one block of size 0)"
                    ),
                ));
            }
        }
        Ok(Chunks(per_axis))
    }

    /// Builds chunks without checks; callers guarantee validity.
    pub(crate) fn from_vec(per_axis: Vec<Vec<usize>>) -> Self {
        debug_assert!(per_axis.iter().all(|a| !a.is_empty()));
        Chunks(per_axis)
    }

    /// Regular blocks of `sizes[i]` along axis `i`; the last may be smaller.
    pub fn regular(shape: &[usize], sizes: &[usize]) -> Result<Self> {
        let specs: Vec<ChunkSpec> = sizes.iter().map(|&s| ChunkSpec::Size(s)).collect();
        Chunks::from_specs(shape, &specs, 8, 128 << 20)
    }

    /// Resolves a spec per axis; `itemsize` and `target_bytes` drive `Auto`.
    pub fn from_specs(
        shape: &[usize],
        specs: &[ChunkSpec],
        itemsize: usize,
        target_bytes: u64,
    ) -> Result<Self> {
        if specs.len() != shape.len() {
            return Err(Error::invalid(
                "chunks",
                format!(
                    "{} chunk sizes given for the {}-d shape {}; give one per axis",
                    specs.len(),
                    shape.len(),
                    fmt_shape(shape)
                ),
            ));
        }
        check_elements(shape)?;
        let auto = auto_sizes(shape, specs, itemsize, target_bytes);
        // Blocks per axis, before any list of them is made.
        let blocks = specs
            .iter()
            .zip(shape)
            .enumerate()
            .map(|(ax, (spec, &len))| match spec {
                ChunkSpec::Whole => 1,
                ChunkSpec::Auto => len.div_ceil(auto[ax].max(1)).max(1),
                ChunkSpec::Size(s) => len.div_ceil((*s).max(1)).max(1),
                ChunkSpec::Sizes(v) => v.len(),
            })
            .try_fold(1usize, |acc, n| acc.checked_mul(n));
        if blocks.is_none_or(|b| b > MAX_BLOCKS) {
            return Err(Error::invalid(
                "chunks",
                format!(
                    "chunks {specs:?} cut the shape {} into more than {MAX_BLOCKS} blocks; use \
                     larger blocks",
                    fmt_shape(shape)
                ),
            ));
        }
        let mut per_axis = Vec::with_capacity(shape.len());
        for (ax, (spec, &len)) in specs.iter().zip(shape).enumerate() {
            per_axis.push(match spec {
                ChunkSpec::Whole => vec![len],
                ChunkSpec::Auto => regular_axis(len, auto[ax].max(1)),
                ChunkSpec::Size(0) if len > 0 => {
                    return Err(Error::invalid(
                        "chunks",
                        format!(
                            "block size 0 along axis {ax} of shape {}; use a size of at least 1",
                            fmt_shape(shape)
                        ),
                    ));
                }
                ChunkSpec::Size(s) => regular_axis(len, (*s).max(1)),
                ChunkSpec::Sizes(v) => v.clone(),
            });
        }
        Chunks::new(per_axis, shape)
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.0.len()
    }

    /// Block sizes along `axis`.
    ///
    /// # Panics
    ///
    /// When `axis` is not below [`Chunks::ndim`], as slice indexing does.
    pub fn axis(&self, axis: usize) -> &[usize] {
        &self.0[axis]
    }

    /// Block sizes along every axis.
    pub fn as_slices(&self) -> &[Vec<usize>] {
        &self.0
    }

    /// The array shape these chunks cover.
    pub fn shape(&self) -> Vec<usize> {
        self.0.iter().map(|a| a.iter().sum()).collect()
    }

    /// Number of blocks along every axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.0.iter().map(Vec::len).collect()
    }

    /// Total number of blocks.
    pub fn nblocks(&self) -> usize {
        self.0.iter().map(Vec::len).product()
    }

    /// Starting offsets of the blocks along `axis`, plus the axis length at
    /// the end.
    ///
    /// # Panics
    ///
    /// When `axis` is not below [`Chunks::ndim`].
    pub fn offsets(&self, axis: usize) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.0[axis].len() + 1);
        let mut acc = 0;
        v.push(0);
        for &s in &self.0[axis] {
            acc += s;
            v.push(acc);
        }
        v
    }

    /// Shape of the block at `index`.
    ///
    /// # Panics
    ///
    /// When `index` names a block these chunks lack.
    pub fn block_shape(&self, index: &[usize]) -> Vec<usize> {
        index
            .iter()
            .enumerate()
            .map(|(ax, &i)| self.0[ax][i])
            .collect()
    }

    /// Where the block at `index` starts in the array.
    ///
    /// # Panics
    ///
    /// When `index` names a block these chunks lack.
    pub fn block_start(&self, index: &[usize]) -> Vec<usize> {
        index
            .iter()
            .enumerate()
            .map(|(ax, &i)| self.0[ax][..i].iter().sum())
            .collect()
    }

    /// All block indices in C (row-major) order.
    pub fn block_indices(&self) -> BlockIndices {
        BlockIndices::new(self.numblocks())
    }

    /// The largest block's size in elements.
    pub fn max_block_len(&self) -> usize {
        self.0
            .iter()
            .map(|a| a.iter().copied().max().unwrap_or(0))
            .product()
    }
}

/// The most blocks one array may have (2^28: its graph alone would
/// take hundreds of gigabytes).
pub const MAX_BLOCKS: usize = 1 << 28;

/// Block sizes for `Auto` axes: square-ish blocks near `target_bytes`.
fn auto_sizes(
    shape: &[usize],
    specs: &[ChunkSpec],
    itemsize: usize,
    target_bytes: u64,
) -> Vec<usize> {
    let mut out = vec![0; shape.len()];
    let fixed: u64 = specs
        .iter()
        .zip(shape)
        .map(|(s, &len)| match s {
            ChunkSpec::Auto => 1,
            ChunkSpec::Whole => len.max(1) as u64,
            ChunkSpec::Size(n) => (*n).min(len).max(1) as u64,
            ChunkSpec::Sizes(v) => v.iter().copied().max().unwrap_or(1).max(1) as u64,
        })
        .fold(1u64, u64::saturating_mul);
    let mut budget = (target_bytes / itemsize.max(1) as u64 / fixed).max(1) as f64;
    let mut autos: Vec<usize> = (0..shape.len())
        .filter(|&a| specs[a] == ChunkSpec::Auto)
        .collect();
    // Short axes first: what they do not use goes to the longer ones.
    autos.sort_by_key(|&a| shape[a]);
    let mut left = autos.len();
    for a in autos {
        let ideal = budget.powf(1.0 / left as f64).floor().max(1.0);
        let size = (ideal as usize).min(shape[a].max(1));
        out[a] = size;
        budget = (budget / size as f64).max(1.0);
        left -= 1;
    }
    out
}

/// The common refinement of two chunkings of one axis: every boundary of
/// either is a boundary of the result.
///
/// ```
/// # use rask_local as _;
/// assert_eq!(rask_array::chunks::refine(&[4, 4, 2], &[5, 5]), vec![4, 1, 3, 2]);
/// ```
pub fn refine(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut bounds: Vec<usize> = Vec::with_capacity(a.len() + b.len());
    let (mut x, mut y) = (0, 0);
    for s in a {
        x += s;
        bounds.push(x);
    }
    for s in b {
        y += s;
        bounds.push(y);
    }
    bounds.sort_unstable();
    bounds.dedup();
    let mut prev = 0;
    let mut out = Vec::with_capacity(bounds.len());
    for b in bounds {
        if b > prev {
            out.push(b - prev);
            prev = b;
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

/// Every index in the product of half-open `ranges`, in C order.
pub(crate) fn ranges_product(
    ranges: &[(usize, usize)],
) -> impl Iterator<Item = Vec<usize>> + use<> {
    let counts: Vec<usize> = ranges.iter().map(|(a, b)| b - a).collect();
    let starts: Vec<usize> = ranges.iter().map(|(a, _)| *a).collect();
    BlockIndices::new(counts).map(move |i| i.iter().zip(&starts).map(|(k, s)| k + s).collect())
}

/// Iterator over block indices in C order.
pub struct BlockIndices {
    numblocks: Vec<usize>,
    next: Option<Vec<usize>>,
}

impl BlockIndices {
    fn new(numblocks: Vec<usize>) -> Self {
        let next = if numblocks.contains(&0) {
            None
        } else {
            Some(vec![0; numblocks.len()])
        };
        BlockIndices { numblocks, next }
    }
}

impl Iterator for BlockIndices {
    type Item = Vec<usize>;
    fn next(&mut self) -> Option<Vec<usize>> {
        let cur = self.next.take()?;
        let mut succ = cur.clone();
        let mut ax = succ.len();
        loop {
            if ax == 0 {
                break; // wrapped around: `cur` was the last index
            }
            ax -= 1;
            succ[ax] += 1;
            if succ[ax] < self.numblocks[ax] {
                self.next = Some(succ);
                break;
            }
            succ[ax] = 0;
        }
        Some(cur)
    }
}

/// Turns a user's chunk request into [`Chunks`] for a shape.
pub trait IntoChunks {
    /// Resolves the request for `shape`, with `itemsize`-byte elements.
    fn into_chunks(self, shape: &[usize], itemsize: usize) -> Result<Chunks>;
}

fn target_bytes() -> u64 {
    rask_config::get().array_chunk_size.as_u64()
}

impl IntoChunks for &[usize] {
    fn into_chunks(self, shape: &[usize], itemsize: usize) -> Result<Chunks> {
        let specs: Vec<ChunkSpec> = self.iter().map(|&s| ChunkSpec::Size(s)).collect();
        Chunks::from_specs(shape, &specs, itemsize, target_bytes())
    }
}

impl<const N: usize> IntoChunks for &[usize; N] {
    fn into_chunks(self, shape: &[usize], itemsize: usize) -> Result<Chunks> {
        self.as_slice().into_chunks(shape, itemsize)
    }
}

impl IntoChunks for Vec<usize> {
    fn into_chunks(self, shape: &[usize], itemsize: usize) -> Result<Chunks> {
        self.as_slice().into_chunks(shape, itemsize)
    }
}

impl IntoChunks for &[ChunkSpec] {
    fn into_chunks(self, shape: &[usize], itemsize: usize) -> Result<Chunks> {
        Chunks::from_specs(shape, self, itemsize, target_bytes())
    }
}

impl<const N: usize> IntoChunks for [ChunkSpec; N] {
    fn into_chunks(self, shape: &[usize], itemsize: usize) -> Result<Chunks> {
        self.as_slice().into_chunks(shape, itemsize)
    }
}

impl IntoChunks for Vec<ChunkSpec> {
    fn into_chunks(self, shape: &[usize], itemsize: usize) -> Result<Chunks> {
        self.as_slice().into_chunks(shape, itemsize)
    }
}

/// One spec for every axis, such as `ChunkSpec::Auto`.
impl IntoChunks for ChunkSpec {
    fn into_chunks(self, shape: &[usize], itemsize: usize) -> Result<Chunks> {
        IntoChunks::into_chunks(vec![self; shape.len()], shape, itemsize)
    }
}

impl IntoChunks for Chunks {
    fn into_chunks(self, shape: &[usize], _itemsize: usize) -> Result<Chunks> {
        Chunks::new(self.0, shape)
    }
}

impl IntoChunks for &Chunks {
    fn into_chunks(self, shape: &[usize], itemsize: usize) -> Result<Chunks> {
        self.clone().into_chunks(shape, itemsize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_with_uneven_last_block() {
        let c = Chunks::regular(&[7], &[3]).unwrap();
        assert_eq!(c.axis(0), &[3, 3, 1]);
        assert_eq!(c.offsets(0), vec![0, 3, 6, 7]);
    }

    #[test]
    fn whole_and_explicit() {
        let c = Chunks::from_specs(
            &[5, 6],
            &[ChunkSpec::Whole, ChunkSpec::Sizes(vec![1, 5])],
            8,
            1 << 20,
        )
        .unwrap();
        assert_eq!(c.as_slices(), &[vec![5], vec![1, 5]]);
    }

    #[test]
    fn mismatched_sums_are_rejected_with_the_shape() {
        let err = Chunks::new(vec![vec![3, 3]], &[7]).unwrap_err().to_string();
        assert!(err.contains("sum to 6") && err.contains("(7,)"), "{err}");
        let err = Chunks::from_specs(&[4], &[ChunkSpec::Size(0)], 8, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("block size 0"));
        let err = Chunks::new(vec![vec![2, 0, 2]], &[4]).unwrap_err();
        assert!(err.to_string().contains("empty block"));
    }

    #[test]
    fn zero_length_axes_have_one_empty_block() {
        let c = Chunks::regular(&[0, 3], &[2, 2]).unwrap();
        assert_eq!(c.as_slices(), &[vec![0], vec![2, 1]]);
        assert_eq!(c.nblocks(), 2);
    }

    #[test]
    fn auto_aims_at_the_target_size() {
        // 8-byte items, 1 MiB target: 131072 elements, about 362 x 362.
        let c = Chunks::from_specs(
            &[10_000, 10_000],
            &[ChunkSpec::Auto, ChunkSpec::Auto],
            8,
            1 << 20,
        )
        .unwrap();
        let bytes = c.max_block_len() * 8;
        assert!(bytes <= 1 << 20 && bytes > (1 << 20) / 2, "{c:?}");
        // A short axis is taken whole and the rest goes to the long one.
        let c = Chunks::from_specs(
            &[3, 1_000_000],
            &[ChunkSpec::Auto, ChunkSpec::Auto],
            8,
            1 << 20,
        )
        .unwrap();
        assert_eq!(c.axis(0), &[3]);
        assert_eq!(c.axis(1)[0], (1 << 20) / 8 / 3);
        // Fixed axes count against the budget.
        let c = Chunks::from_specs(
            &[1000, 1_000_000],
            &[ChunkSpec::Whole, ChunkSpec::Auto],
            8,
            8_000_000,
        )
        .unwrap();
        assert_eq!(c.axis(1)[0], 1000);
    }

    #[test]
    fn block_indices_in_c_order() {
        let c = Chunks::regular(&[4, 6], &[2, 3]).unwrap();
        let idx: Vec<_> = c.block_indices().collect();
        assert_eq!(idx, vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]);
        let scalar = Chunks::new(vec![], &[]).unwrap();
        assert_eq!(
            scalar.block_indices().collect::<Vec<_>>(),
            vec![Vec::<usize>::new()]
        );
    }

    #[test]
    fn refine_unions_boundaries() {
        assert_eq!(refine(&[2, 2], &[1, 3]), vec![1, 1, 2]);
        assert_eq!(refine(&[0], &[0]), vec![0]);
    }
}
