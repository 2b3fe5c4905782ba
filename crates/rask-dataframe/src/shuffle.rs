//! Shuffles: moving rows between partitions by the value of a key.
//!
//! A shuffle of `n_in` partitions into `n_out` is two layers of tasks, as in
//! Dask's task-based shuffle:
//!
//! * one **split** task per input partition ([`Split`]) computes each row's
//!   output partition (a [`Partitioner`]: a hash of key expressions, or
//!   the range of a sort key between sampled boundaries) and cuts the
//!   partition into `n_out` pieces, returned together as one [`Pieces`]
//!   value;
//! * one **gather** task per output partition ([`Gather`]) takes piece `j`
//!   of every split, in input order, and stacks them (then sorts them, for
//!   a sort).
//!
//! So the graph has `n_in + n_out` tasks (and `n_in × n_out` edges), plus,
//! by default, one **pick** task per (input, output) pair ([`Pick`]) that
//! takes one piece out of a split's output, so each piece is a result of
//! its own (see below). Since pieces are stacked in input order, rows with
//! equal keys keep their relative order (a stable sort stays stable).
//! A range shuffle that knows which outputs each input can reach (from the
//! sort's sample of every partition's key range) gives each gather only
//! the splits that reach it.
//!
//! **Hashing.** Rows are placed by Polars' own row hash
//! (`Column::vec_hash`, combined over the key columns) with a fixed seed,
//! so equal keys land in the same output partition whatever partition they
//! come from, in every process of the same build. The hash of an integer
//! depends on its type, so a join hashes both sides' keys cast to one
//! common type. A shuffled dataframe records its [`HashPartitioning`], so
//! a later join on the same keys with the same partition count needs no
//! second shuffle.
//!
//! **Memory and spilling.** A shuffle holds all its pieces at once — the
//! gathers can only start when every split has run — so a shuffle larger
//! than memory must put pieces on disk. The scheduler's memory manager
//! (`rask-memory`'s spill store, the same in the threads scheduler and on
//! a worker) does it: pieces are ordinary results, counted by their sizes
//! and spilled, those needed last first, once results pass the store's
//! goal (a fraction of `memory-limit`), then read back when their gather
//! runs. That is why each piece is its own result by default: the store
//! spills and reads whole values, and a gather reading a spilled split's
//! whole output (all its pieces) for one piece would bring every split
//! back into memory at once. A split's output lives only until its picks
//! have run — they are its only dependents, and run right after it — so
//! at any time the pieces, in memory or on disk, are the shuffle's only
//! copy of the data. [`ShuffleOptions::piece_tasks`]`(false)` drops the
//! pick tasks (fewer tasks, for a shuffle known to fit in memory).

use std::sync::Arc;

use polars::polars_utils::aliases::{PlSeedableRandomStateQuality, SeedableFromU64SeedExt};
use polars::polars_utils::pl_serialize;
use polars::prelude::{
    ChunkCompareIneq, ChunkedArray, Column, DataFrame as PlFrame, DataType, Expr, Float32Type,
    Float64Type, IdxCa, IdxSize, Int32Type, Int64Type, IntoColumn, IntoLazy, IntoSeries,
    PolarsResult, SchemaRef, Series, SortMultipleOptions, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type, polars_err,
};
use rask_core::{GraphBuilder, Key, Op, TaskError, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::frame::{DataFrame, Fuse, Layer, Source, layer_name, part_key};
use crate::kernels::{Part, concat, failed, part_arg, polars_pool, views_in_one_chunk};
use crate::pieces::Pieces;
use crate::steps::{SerExpr, Step, run_steps};

/// The seed of the row hash that places rows: fixed, so every process of
/// a build places equal keys alike.
const HASH_SEED: u64 = 0x7261_736b_5f73_6866; // "rask_shf"

/// How a shuffle placed rows: by the hash of these columns, each cast to
/// its type in `dtypes`, into `npartitions` partitions.
///
/// Two dataframes with equal `HashPartitioning`s hold equal keys in
/// partitions of the same number, so they can be joined partition by
/// partition.
#[derive(Clone, Debug, PartialEq)]
pub struct HashPartitioning {
    /// The key columns.
    pub columns: Vec<String>,
    /// The type each key was cast to before hashing.
    pub dtypes: Vec<DataType>,
    /// The number of partitions.
    pub npartitions: usize,
}

/// Options of a shuffle ([`DataFrame::shuffle_with`], and the shuffles of
/// joins and sorts).
///
/// Spilling needs no option of its own: the pieces of a shuffle are
/// results like any other, spilled by the scheduler's memory manager under
/// the `memory-limit` setting, to `memory.spill-directory`.
///
/// ```
/// use rask_dataframe::ShuffleOptions;
/// let o = ShuffleOptions::default().npartitions(8);
/// assert_eq!(o.get_npartitions(), Some(8));
/// assert!(o.get_piece_tasks());
/// ```
#[derive(Clone, Debug)]
pub struct ShuffleOptions {
    npartitions: Option<usize>,
    piece_tasks: bool,
}

impl Default for ShuffleOptions {
    fn default() -> Self {
        ShuffleOptions {
            npartitions: None,
            piece_tasks: true,
        }
    }
}

impl ShuffleOptions {
    /// The number of output partitions (by default the input's, or the
    /// larger input's for a join).
    pub fn npartitions(mut self, n: usize) -> Self {
        self.npartitions = Some(n.max(1));
        self
    }

    /// Whether one small task per (input, output) pair takes out one piece
    /// of a split's output (on by default). Each piece is then a result of
    /// its own: the memory manager can spill pieces one by one, and a
    /// gather reads (or, on a cluster, fetches) only its own pieces. Off,
    /// the graph has `n_in × n_out` fewer tasks and each gather reads every
    /// split's whole output — best for a shuffle known to fit in memory on
    /// one machine, but a shuffle larger than memory then reads whole
    /// spilled splits back for every gather.
    pub fn piece_tasks(mut self, on: bool) -> Self {
        self.piece_tasks = on;
        self
    }

    /// The number of output partitions asked for, if any.
    pub fn get_npartitions(&self) -> Option<usize> {
        self.npartitions
    }

    /// Whether pieces are taken out by tasks of their own.
    pub fn get_piece_tasks(&self) -> bool {
        self.piece_tasks
    }
}

impl DataFrame {
    /// Moves rows into `npartitions` partitions by the hash of `keys`
    /// (Polars expressions, usually columns): rows with equal keys end up in
    /// the same partition. Rows keep their relative order within a
    /// partition. See [`DataFrame::shuffle_with`] for options.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let pl = df!("k" => [1i64, 2, 1, 3, 2, 1], "v" => [1i64, 2, 3, 4, 5, 6]).unwrap();
    /// let d = dd::from_polars(pl, 3).unwrap().shuffle([col("k")], 2);
    /// assert_eq!(d.npartitions(), 2);
    /// let parts = d.compute_partitions().unwrap();
    /// // Each key is in one partition only.
    /// let ones: Vec<usize> = parts
    ///     .iter()
    ///     .map(|p| p.column("k").unwrap().i64().unwrap().iter().filter(|k| *k == Some(1)).count())
    ///     .collect();
    /// assert!(ones.contains(&3));
    /// ```
    pub fn shuffle<E: AsRef<[Expr]>>(&self, keys: E, npartitions: usize) -> DataFrame {
        self.shuffle_with(keys, &ShuffleOptions::default().npartitions(npartitions))
    }

    /// Like [`DataFrame::shuffle`], with options (the partition count,
    /// piece tasks).
    pub fn shuffle_with<E: AsRef<[Expr]>>(&self, keys: E, options: &ShuffleOptions) -> DataFrame {
        let keys = keys.as_ref();
        if keys.is_empty() {
            return self.with_error("shuffle: no key given; pass at least one expression".into());
        }
        let dtypes = match key_dtypes("shuffle", self, keys) {
            Ok(d) => d.iter().map(hash_dtype).collect::<Vec<_>>(),
            Err(e) => return self.with_error(e),
        };
        let n = options.npartitions.unwrap_or(self.npartitions());
        hash_shuffle(self, keys, &dtypes, n, options)
    }

    /// How this dataframe's rows are placed by hash, when a shuffle placed
    /// them (and no operation since moved or changed the key columns).
    pub fn partitioning(&self) -> Option<&HashPartitioning> {
        self.inner.partitioning.as_ref()
    }

    /// This dataframe with its divisions and partitioning replaced (its
    /// key ranges kept).
    pub(crate) fn with_meta(
        &self,
        divisions: Option<crate::Divisions>,
        partitioning: Option<HashPartitioning>,
    ) -> DataFrame {
        self.with_metadata(divisions, partitioning, self.inner.ranges.clone())
    }
}

/// The type a key of type `dt` is cast to for hashing: itself, except
/// that a categorical is hashed as its string (its own hash depends on
/// the process's category mapping; an enum's codes do not).
pub(crate) fn hash_dtype(dt: &DataType) -> DataType {
    if dt.is_categorical() {
        DataType::String
    } else {
        dt.clone()
    }
}

/// The types of `keys` evaluated on `df`'s schema, or an error naming the
/// schema.
pub(crate) fn key_dtypes(
    what: &str,
    df: &DataFrame,
    keys: &[Expr],
) -> Result<Vec<DataType>, String> {
    if let Some(e) = df.error() {
        return Err(e.to_string());
    }
    crate::steps::planned(|| {
        PlFrame::empty_with_schema(df.schema())
            .lazy()
            .select(keys)
            .collect_schema()
    })
    .map(|s| s.iter_values().cloned().collect())
    .map_err(|e| {
        format!(
            "{what}: {e}; the dataframe's schema is {}",
            crate::frame::fmt_schema(df.schema())
        )
    })
}

/// `df` hash-partitioned by `keys` cast to `dtypes` into `n` partitions.
pub(crate) fn hash_shuffle(
    df: &DataFrame,
    keys: &[Expr],
    dtypes: &[DataType],
    n: usize,
    options: &ShuffleOptions,
) -> DataFrame {
    let n = n.max(1);
    if let Some(msg) = crate::bad_npartitions(n) {
        return df.with_error(format!("shuffle: {msg}"));
    }
    let cast: Vec<SerExpr> = keys
        .iter()
        .zip(dtypes)
        .map(|(k, t)| SerExpr(k.clone().cast(t.clone())))
        .collect();
    let out = shuffle(
        df,
        "shuffle",
        Partitioner::Hash {
            keys: cast,
            n: n as u32,
        },
        n,
        None,
        options,
        None,
    );
    let columns: Option<Vec<String>> = keys.iter().map(plain_column).collect();
    let partitioning = columns.map(|columns| HashPartitioning {
        columns,
        dtypes: dtypes.to_vec(),
        npartitions: n,
    });
    out.with_meta(None, partitioning)
}

/// The name of a plain column expression.
pub(crate) fn plain_column(e: &Expr) -> Option<String> {
    match e {
        Expr::Column(name) => Some(name.to_string()),
        _ => None,
    }
}

/// A dataframe of `n_out` partitions: `input`'s rows placed by `by`, each
/// output partition then sorted by `sort` if given.
///
/// `reach`, when known, lists for every input partition the output
/// partitions its rows can go to (in increasing order): a gather then
/// depends only on the inputs that reach it, so outputs can be made, and
/// their pieces released, before every split has run. Each split checks
/// that its rows keep to its reach, and fails, naming the partition, if
/// the input changed since the reach was found.
pub(crate) fn shuffle(
    input: &DataFrame,
    what: &str,
    by: Partitioner,
    n_out: usize,
    sort: Option<SortSpec>,
    options: &ShuffleOptions,
    reach: Option<Vec<Vec<u32>>>,
) -> DataFrame {
    if input.error().is_some() {
        return input.clone();
    }
    if let Some(msg) = crate::bad_npartitions(n_out) {
        return input.with_error(format!("{what}: {msg}"));
    }
    let name = layer_name(
        what,
        &(&by, &sort, options.piece_tasks, &reach),
        &[input.name()],
    );
    let plan = Arc::new(ShufflePlan {
        name: name.clone(),
        input: input.clone(),
        by,
        n_out,
        sort,
        piece_tasks: options.piece_tasks,
        reach,
    });
    DataFrame::from_source(
        Source::Layer(plan.layer(name, Vec::new(), input.schema().clone())),
        None,
    )
}

/// A planned shuffle, kept so that the steps on its partitions can run in
/// its gather tasks ([`Layer::fuse`]).
struct ShufflePlan {
    /// The plain shuffle's layer name, which also names its split and
    /// piece tasks (shared by a fused and a plain use of one shuffle).
    name: Arc<str>,
    input: DataFrame,
    by: Partitioner,
    n_out: usize,
    sort: Option<SortSpec>,
    piece_tasks: bool,
    /// Per input partition, the output partitions its rows can go to;
    /// `None`: every one.
    reach: Option<Vec<Vec<u32>>>,
}

impl ShufflePlan {
    /// Whether input `i`'s rows can go to output `j`.
    fn reaches(&self, i: usize, j: u32) -> bool {
        match &self.reach {
            None => true,
            Some(r) => r.get(i).is_none_or(|outs| outs.binary_search(&j).is_ok()),
        }
    }

    /// The layer `name` of the shuffle's gathers, each running `steps` on
    /// its partition (giving `schema`).
    fn layer(self: &Arc<Self>, name: Arc<str>, steps: Vec<Step>, schema: SchemaRef) -> Arc<Layer> {
        let plan = self.clone();
        let name2 = name.clone();
        let fused = !steps.is_empty();
        let add = Box::new(move |b: &mut GraphBuilder| {
            let input = &plan.input;
            let base = &plan.name;
            let parts = input.add_parts(b, 0..input.npartitions());
            let split_name = format!("{base}-split");
            let piece_name = format!("{base}-piece");
            let shared = Arc::new(Split {
                by: plan.by.clone(),
                reach: None,
            });
            let splits: Vec<_> = parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let k = part_key(&split_name, i);
                    if !b.contains(&k) {
                        let split = match plan.reach.as_ref().and_then(|r| r.get(i)) {
                            Some(outs) => Arc::new(Split {
                                by: plan.by.clone(),
                                reach: Some((i as u32, outs.clone())),
                            }),
                            None => shared.clone(),
                        };
                        b.insert(k.clone(), Op::from_kernel(split, false), [p]);
                    }
                    k
                })
                .collect();
            for j in 0..plan.n_out {
                let gather = Gather {
                    index: j as u32,
                    sort: plan.sort.clone(),
                    steps: steps.clone(),
                };
                // An output no input reaches still reads one split (its
                // empty piece gives the partition its columns).
                let none_reach = !(0..splits.len()).any(|i| plan.reaches(i, j as u32));
                let reaching = splits
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| plan.reaches(*i, j as u32) || (none_reach && *i == 0));
                let inputs: Vec<_> = if plan.piece_tasks {
                    reaching
                        .map(|(i, split)| {
                            let k = Key::with_index(piece_name.as_str(), &[i as u32, j as u32]);
                            if !b.contains(&k) {
                                let pick = Pick { index: j as u32 };
                                b.insert(k.clone(), Op::kernel(pick), [split.clone()]);
                            }
                            k
                        })
                        .collect()
                } else {
                    reaching.map(|(_, split)| split.clone()).collect()
                };
                b.insert(part_key(&name2, j), Op::kernel(gather), inputs);
            }
        });
        let fuse: Option<Fuse> = (!fused).then(|| {
            let plan = self.clone();
            Box::new(move |name: &Arc<str>, steps: &[Step], schema: &SchemaRef| {
                plan.layer(name.clone(), steps.to_vec(), schema.clone())
            }) as Fuse
        });
        Arc::new(Layer {
            name,
            npartitions: self.n_out,
            schema,
            add,
            fuse,
            inline: None,
        })
    }
}

/// Where each row of a partition goes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Partitioner {
    /// By the hash of the keys (already cast to their hashing types),
    /// into `n` partitions.
    Hash { keys: Vec<SerExpr>, n: u32 },
    /// By the range of one key: partition `i` holds the rows whose key is
    /// at least `bounds[i - 1]` and below `bounds[i]` (`bounds` sorted,
    /// ascending). Nulls go first, or last with `nulls_last`; with
    /// `descending` the partitions are in the opposite order.
    Range {
        key: SerExpr,
        bounds: PlBytes<Series>,
        descending: bool,
        nulls_last: bool,
    },
}

impl Partitioner {
    /// The number of output partitions.
    fn npartitions(&self) -> usize {
        match self {
            Partitioner::Hash { n, .. } => *n as usize,
            Partitioner::Range { bounds, .. } => bounds.0.len() + 1,
        }
    }

    /// The output partition of every row of `df`.
    fn targets(&self, df: &PlFrame) -> PolarsResult<Vec<u32>> {
        let h = df.height();
        let eval = |keys: Vec<Expr>| -> PolarsResult<PlFrame> {
            let k = df.clone().lazy().select(keys).collect()?;
            if k.height() != h {
                return Err(polars_err!(
                    ComputeError: "shuffle keys give {} values for {} rows; use expressions with one value per row",
                    k.height(), h
                ));
            }
            Ok(k)
        };
        match self {
            Partitioner::Hash { keys, n } => {
                let k = eval(keys.iter().map(|e| e.0.clone()).collect())?;
                let state = PlSeedableRandomStateQuality::seed_from_u64(HASH_SEED);
                let mut hashes = Vec::with_capacity(h);
                let mut cols = k.columns().iter();
                if let Some(first) = cols.next() {
                    first.vec_hash(state.clone(), &mut hashes)?;
                    for c in cols {
                        c.vec_hash_combine(state.clone(), &mut hashes)?;
                    }
                }
                hashes.resize(h, 0);
                // The high bits of hash × n: a multiply instead of a
                // division, and uniform over the partitions.
                let n = *n as u128;
                Ok(hashes
                    .into_iter()
                    .map(|x| ((x as u128 * n) >> 64) as u32)
                    .collect())
            }
            Partitioner::Range {
                key,
                bounds,
                descending,
                nulls_last,
            } => {
                let k = eval(vec![key.0.clone()])?;
                let s = k.columns()[0].as_materialized_series();
                range_targets(s, &bounds.0, *descending, *nulls_last)
            }
        }
    }
}

/// The output partition of every value of the key `s` in a range shuffle
/// (see [`Partitioner::Range`]).
pub(crate) fn range_targets(
    s: &Series,
    bounds: &Series,
    descending: bool,
    nulls_last: bool,
) -> PolarsResult<Vec<u32>> {
    let m = bounds.len() as u32;
    let mut t = bounds_below(s, bounds)?;
    let nulls = s.is_null();
    for (t, null) in t.iter_mut().zip(nulls.iter()) {
        if null == Some(true) {
            *t = if nulls_last { m } else { 0 };
        } else if descending {
            *t = m - *t;
        }
    }
    // Nulls go at the end or start of the whole order, so with
    // `descending` only the non-null rows were flipped.
    Ok(t)
}

/// For every value of `s`, how many of the sorted `bounds` are at most it
/// (nulls: 0), compared as Polars' sort orders them: by binary search for
/// numbers, timestamps and strings (floats with NaN above every number),
/// one comparison per boundary for other types.
fn bounds_below(s: &Series, bounds: &Series) -> PolarsResult<Vec<u32>> {
    fn count<T>(
        values: impl Iterator<Item = Option<T>>,
        bounds: &[T],
        le: impl Fn(&T, &T) -> bool,
    ) -> Vec<u32> {
        values
            .map(|v| v.map_or(0, |v| bounds.partition_point(|b| le(b, &v)) as u32))
            .collect()
    }
    let (sp, bp) = (s.to_physical_repr(), bounds.to_physical_repr());
    let dt = sp.dtype();
    if dt.is_float() {
        let (sv, bv) = (sp.cast(&DataType::Float64)?, bp.cast(&DataType::Float64)?);
        let b: Vec<f64> = bv.f64()?.iter().flatten().collect();
        // NaN sorts above every number, and equals itself.
        let le = |b: &f64, x: &f64| b.is_nan() <= x.is_nan() && (x.is_nan() || b <= x);
        return Ok(count(sv.f64()?.iter(), &b, le));
    }
    if *dt == DataType::UInt64 {
        let b: Vec<u64> = bp.u64()?.iter().flatten().collect();
        return Ok(count(sp.u64()?.iter(), &b, |b, x| b <= x));
    }
    if dt.is_integer() {
        let (sv, bv) = (sp.cast(&DataType::Int64)?, bp.cast(&DataType::Int64)?);
        let b: Vec<i64> = bv.i64()?.iter().flatten().collect();
        return Ok(count(sv.i64()?.iter(), &b, |b, x| b <= x));
    }
    if dt.is_string() {
        let b: Vec<&str> = bp.str()?.iter().flatten().collect();
        return Ok(count(sp.str()?.iter(), &b, |b, x| b <= x));
    }
    let mut t = vec![0u32; s.len()];
    for i in 0..bounds.len() {
        let ge = s.gt_eq(&bounds.slice(i as i64, 1))?;
        for (t, ge) in t.iter_mut().zip(ge.iter()) {
            *t += u32::from(ge == Some(true));
        }
    }
    Ok(t)
}

/// Cuts `df` into `n` frames by `targets` (one per row), keeping row order.
///
/// The rows are put in target order once (a stable counting sort), then
/// each piece is a slice of that frame, without a copy. Numeric columns
/// without nulls (and the logical types stored as numbers: dates, times,
/// categoricals) are *scattered*: read in order and written to their
/// places, so every access runs forward through memory. A gather of the
/// rows of each target, as `take` does it, reads the column out of order,
/// and on the benchmark's TPC-H joins that cache-missing read was a
/// quarter of the query's time. Other columns are gathered.
pub(crate) fn split_by(df: &PlFrame, targets: &[u32], n: usize) -> PolarsResult<Vec<PlFrame>> {
    if n == 1 {
        return Ok(vec![df.clone()]);
    }
    let mut start = vec![0usize; n + 1];
    for &t in targets {
        start[t as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    // Where each row goes.
    let mut next = start.clone();
    let dest: Vec<IdxSize> = targets
        .iter()
        .map(|&t| {
            let at = &mut next[t as usize];
            *at += 1;
            (*at - 1) as IdxSize
        })
        .collect();
    let mut order: Option<IdxCa> = None;
    let columns = df
        .columns()
        .iter()
        .map(|c| match scatter(c.as_materialized_series(), &dest) {
            Some(s) => Ok(s.into_column()),
            None => {
                let order = order.get_or_insert_with(|| {
                    let mut o = vec![0 as IdxSize; dest.len()];
                    for (row, &d) in dest.iter().enumerate() {
                        o[d as usize] = row as IdxSize;
                    }
                    IdxCa::from_vec("".into(), o)
                });
                views_in_one_chunk(c).take(order)
            }
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    let sorted = PlFrame::new(df.height(), columns)?;
    Ok((0..n)
        .map(|i| sorted.slice(start[i] as i64, start[i + 1] - start[i]))
        .collect())
}

/// `s` with row `i` moved to `dest[i]` (a permutation), written in one
/// forward pass; `None` where `s` has nulls or is not stored as numbers.
fn scatter(s: &Series, dest: &[IdxSize]) -> Option<Series> {
    if s.null_count() > 0 || s.len() != dest.len() {
        return None;
    }
    let physical = s.to_physical_repr();
    if !physical.dtype().is_primitive_numeric() {
        return None;
    }
    let physical = physical.rechunk();
    macro_rules! scattered {
        ($t:ty) => {{
            let ca: &ChunkedArray<$t> = physical.unpack::<$t>().ok()?;
            let values = ca.cont_slice().ok()?;
            let mut out = vec![Default::default(); values.len()];
            for (&v, &d) in values.iter().zip(dest) {
                *out.get_mut(d as usize)? = v;
            }
            ChunkedArray::<$t>::from_vec(s.name().clone(), out).into_series()
        }};
    }
    let out = match physical.dtype() {
        DataType::UInt8 => scattered!(UInt8Type),
        DataType::UInt16 => scattered!(UInt16Type),
        DataType::UInt32 => scattered!(UInt32Type),
        DataType::UInt64 => scattered!(UInt64Type),
        DataType::Int32 => scattered!(Int32Type),
        DataType::Int64 => scattered!(Int64Type),
        DataType::Float32 => scattered!(Float32Type),
        DataType::Float64 => scattered!(Float64Type),
        _ => return None,
    };
    if out.dtype() == s.dtype() {
        Some(out)
    } else {
        // Back to the logical type: a reinterpretation for dates and
        // times, a check of the codes for categoricals.
        out.cast(s.dtype()).ok().filter(|o| o.dtype() == s.dtype())
    }
}

/// How to sort each output partition of a shuffle.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SortSpec {
    pub by: Vec<SerExpr>,
    pub options: PlBytes<SortMultipleOptions>,
}

impl SortSpec {
    pub(crate) fn run(&self, df: PlFrame) -> PolarsResult<PlFrame> {
        self.apply(df.lazy()).collect()
    }

    /// Appends the sort to a lazy plan.
    pub(crate) fn apply(&self, lf: polars::prelude::LazyFrame) -> polars::prelude::LazyFrame {
        let by: Vec<Expr> = self.by.iter().map(|e| e.0.clone()).collect();
        lf.sort_by_exprs(by, self.options.0.clone())
    }
}

/// Splits the partition in argument 0 into the pieces of every output
/// partition.
#[derive(Serialize, Deserialize)]
pub(crate) struct Split {
    by: Partitioner,
    /// The input partition's number and the outputs its rows may go to,
    /// when the shuffle's gathers read only the splits that reach them.
    reach: Option<(u32, Vec<u32>)>,
}

impl rask_core::Kernel for Split {
    const NAME: &'static str = "rask.dataframe.shuffle_split";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let df = part_arg(args, 0)?;
        let n = self.by.npartitions();
        let pieces = polars_pool(|| {
            let targets = self.by.targets(df)?;
            if let Some((input, outs)) = &self.reach
                && let Some(t) = first_outside(&targets, outs, n)
            {
                return Err(polars_err!(
                    ComputeError: "partition {input} has a row for output partition {t}, outside \
                    the key range sampled from it before the shuffle ({outs:?}): the input \
                    changed between the sample and the shuffle; make it deterministic, or \
                    compute it first (persist)"
                ));
            }
            split_by(df, &targets, n)
        })
        .map_err(failed)?;
        Ok(Value::sized(Pieces::new(pieces)))
    }
}

/// The first of `targets` (outputs below `n`) that is not in `outs`.
fn first_outside(targets: &[u32], outs: &[u32], n: usize) -> Option<u32> {
    let mut allowed = vec![false; n];
    for &o in outs {
        if let Some(a) = allowed.get_mut(o as usize) {
            *a = true;
        }
    }
    targets
        .iter()
        .copied()
        .find(|&t| !allowed.get(t as usize).copied().unwrap_or(false))
}

/// Stacks piece `index` of every split in its arguments, in order, and
/// sorts the result if asked.
#[derive(Serialize, Deserialize)]
pub(crate) struct Gather {
    index: u32,
    sort: Option<SortSpec>,
    /// Per-partition steps on the gathered (and sorted) partition.
    steps: Vec<Step>,
}

impl rask_core::Kernel for Gather {
    const NAME: &'static str = "rask.dataframe.shuffle_gather";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let frames = args
            .iter()
            .enumerate()
            .map(|(i, v)| match v.downcast_ref::<Pieces>() {
                Some(p) => p.load(self.index as usize),
                None => part_arg(args, i).cloned(),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = polars_pool(|| {
            let df = concat(frames)?;
            let df = match &self.sort {
                Some(s) => s.run(df)?,
                None => df,
            };
            run_steps(&self.steps, df)
        })
        .map_err(failed)?;
        Ok(Part::value(out))
    }
}

/// Takes piece `index` out of the split in argument 0 (see
/// [`ShuffleOptions::piece_tasks`]).
#[derive(Serialize, Deserialize)]
pub(crate) struct Pick {
    index: u32,
}

impl rask_core::Kernel for Pick {
    const NAME: &'static str = "rask.dataframe.shuffle_piece";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let piece = args[0].get::<Pieces>(0)?.load(self.index as usize)?;
        Ok(Part::value(piece))
    }
}

rask_core::register_kernel!(Split, Gather, Pick);

/// A Polars value (a series, sort options, join options) that travels as
/// bytes in Polars' own encoding, like expressions (see `steps`).
#[derive(Clone, Debug)]
pub(crate) struct PlBytes<T>(pub T);

impl<T: Serialize> Serialize for PlBytes<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        pl_serialize::SerializeOptions::default()
            .serialize_into_writer::<_, _, false>(&mut bytes, &self.0)
            .map_err(serde::ser::Error::custom)?;
        bytes.serialize(s)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for PlBytes<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        pl_serialize::SerializeOptions::default()
            .deserialize_from_reader::<T, _, false>(bytes.as_slice())
            .map(PlBytes)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;
    use rask_core::Kernel;

    use super::*;

    fn frame() -> PlFrame {
        df!("k" => [Some(1i64), Some(2), None, Some(1), Some(5)], "v" => [1i64, 2, 3, 4, 5])
            .unwrap()
    }

    #[test]
    fn equal_keys_get_equal_targets_whatever_the_partition() {
        let p = Partitioner::Hash {
            keys: vec![SerExpr(col("k"))],
            n: 3,
        };
        let a = p.targets(&frame()).unwrap();
        let b = p.targets(&frame().slice(3, 2)).unwrap();
        assert_eq!(a[0], a[3]);
        assert_eq!(b[0], a[0]);
        assert!(a.iter().all(|t| *t < 3));
    }

    #[test]
    fn range_targets_put_nulls_first_or_last() {
        let bounds = Series::new("k".into(), [2i64, 5]);
        let mk = |descending, nulls_last| Partitioner::Range {
            key: SerExpr(col("k")),
            bounds: PlBytes(bounds.clone()),
            descending,
            nulls_last,
        };
        assert_eq!(mk(false, false).targets(&frame()).unwrap(), [0, 1, 0, 0, 2]);
        assert_eq!(mk(false, true).targets(&frame()).unwrap(), [0, 1, 2, 0, 2]);
        assert_eq!(mk(true, false).targets(&frame()).unwrap(), [2, 1, 0, 2, 0]);
    }

    #[test]
    fn split_pick_and_gather_round_trip_through_postcard() {
        let split = Split {
            by: Partitioner::Hash {
                keys: vec![SerExpr(col("k"))],
                n: 2,
            },
            reach: None,
        };
        let bytes = postcard::to_allocvec(&split).unwrap();
        let split: Split = postcard::from_bytes(&bytes).unwrap();
        let pieces = split.run(&[Part::value(frame())]).unwrap();
        // The split's output travels (and spills) through its codec.
        let enc = pieces.encode().unwrap();
        let back = Value::decode(&enc.tag, &enc.bytes).unwrap();
        assert_eq!(back.nbytes(), pieces.nbytes());
        let mut rows = 0;
        for j in 0..2 {
            let g = Gather {
                index: j,
                sort: None,
                steps: Vec::new(),
            };
            let a = g.run(std::slice::from_ref(&pieces)).unwrap();
            let b = g.run(std::slice::from_ref(&back)).unwrap();
            // A gather of picked pieces gives the same frame.
            let picked = Pick { index: j }.run(std::slice::from_ref(&back)).unwrap();
            let c = g.run(std::slice::from_ref(&picked)).unwrap();
            let (a, b, c) = (
                &a.get::<Part>(0).unwrap().0,
                &b.get::<Part>(0).unwrap().0,
                &c.get::<Part>(0).unwrap().0,
            );
            assert!(a.equals_missing(b));
            assert!(a.equals_missing(c));
            rows += a.height();
        }
        assert_eq!(rows, 5);
    }

    #[test]
    fn split_by_moves_every_row_of_multi_chunk_columns_to_its_target() {
        // Strings inline and too long to inline, nulls, and numbers, each
        // in three chunks (as a Parquet read or a spill read-back gives).
        let chunk = |at: i64| {
            df!(
                "s" => [Some(format!("short-{at}")), None, Some(format!("a string longer than twelve bytes {at}"))],
                "i" => [at, at + 1, at + 2],
                "b" => [true, false, true],
            )
            .unwrap()
        };
        let df = super::concat([chunk(0), chunk(3), chunk(6)]).unwrap();
        assert_eq!(df.column("s").unwrap().n_chunks(), 3);
        let targets = [2u32, 0, 1, 0, 2, 2, 1, 0, 0];
        let pieces = split_by(&df, &targets, 3).unwrap();
        for (j, piece) in pieces.iter().enumerate() {
            let rows: Vec<IdxSize> = (0..targets.len() as IdxSize)
                .filter(|&r| targets[r as usize] == j as u32)
                .collect();
            let want = df.take(&IdxCa::from_vec("".into(), rows)).unwrap();
            assert!(
                piece.equals_missing(&want),
                "piece {j}: {piece} against {want}"
            );
        }
    }
}
