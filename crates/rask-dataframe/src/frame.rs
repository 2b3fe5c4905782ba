//! The lazy partitioned dataframe: [`DataFrame`].
//!
//! A dataframe is a *source* of partitions plus a chain of per-partition
//! [`Step`]s. The source is either a layer of tasks (partition `i` is the
//! task `(layer, i)`: data from `from_polars`, the result of a reduction)
//! or a reader (CSV blocks, Parquet row groups) that makes partition `i`
//! from files. When the graph is built, the steps become one task per
//! partition running one Polars lazy plan; over a reader, the steps are
//! fused into the reader's own task, and the reader is told the columns the
//! steps need (projection pushdown).
//!
//! The schema is known without computing: every operation derives it by
//! running its plan on an empty frame with the input's schema, which also
//! checks column names and types. An invalid operation (an unknown column)
//! gives a dataframe that carries the error; `compute`, `len` and `head`
//! return it.

use std::sync::Arc;

use polars::prelude::{
    DataFrame as PlFrame, DataType, Expr, IntoLazy, PlSmallStr, PolarsError, Schema, SchemaRef,
    col, len, lit,
};
use rask_core::{Collection, Error, Executor, GraphBuilder, Key, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::kernels::{Part, concat, failed, part_arg, polars_pool};
use crate::ranges::KeyRanges;
use crate::steps::{SerExpr, Step, needed_columns, output_schema, run_steps};

/// Makes the partitions of a dataframe read from files.
pub(crate) trait Reader: Send + Sync {
    /// How many partitions.
    fn npartitions(&self) -> usize;
    /// The files' schema (before any step).
    fn schema(&self) -> &SchemaRef;
    /// What identifies this read in layer names.
    fn token(&self) -> &str;
    /// The task of partition `i`, running `steps` after reading only
    /// `columns` (all of them when `None`).
    fn op(&self, i: usize, steps: &[Step], columns: Option<&[String]>) -> Op;
    /// This read without the partitions that no row passing `predicate`
    /// can come from, when `predicate` follows `steps` (a filter on hive
    /// partition columns); `None` when nothing can be dropped.
    fn prune(&self, _steps: &[Step], _predicate: &Expr) -> Option<Arc<dyn Reader>> {
        None
    }
    /// The bounds of key columns per partition that the files tell
    /// (Parquet statistics), before any step.
    fn ranges(&self) -> Vec<KeyRanges> {
        Vec::new()
    }
    /// Partition `i`'s read as a kernel whose lazy plan another task can
    /// run inside its own (a join scans its side itself), where the
    /// reader has one.
    fn scan(
        &self,
        _i: usize,
        _steps: &[Step],
        _columns: Option<&[String]>,
    ) -> Option<crate::parquet::ReadParquetPart> {
        None
    }
}

/// A layer of tasks, one per partition.
pub(crate) struct Layer {
    pub name: Arc<str>,
    pub npartitions: usize,
    pub schema: SchemaRef,
    /// Adds the layer's tasks, and those of what it reads, to a graph.
    pub add: Box<dyn Fn(&mut GraphBuilder) + Send + Sync>,
    /// For a layer that can run per-partition steps inside its own tasks
    /// (a join, a shuffle's gathers): the layer named `name` whose
    /// partitions are this layer's with `steps` run on them, giving
    /// `schema`. A join's also reads fewer columns of its inputs, those
    /// the steps need.
    pub fuse: Option<Fuse>,
    /// For a layer whose partitions another task can make inside its own
    /// plan (a join whose tasks each read one left partition): given the
    /// steps on it and their schema, the plans and inputs per partition
    /// ([`DataFrame::part_plans`]); `None` where the steps prevent it.
    pub inline: Option<crate::join::Inline>,
}

/// See [`Layer::fuse`]: `(name, steps, schema) -> layer`.
pub(crate) type Fuse = Box<dyn Fn(&Arc<str>, &[Step], &SchemaRef) -> Arc<Layer> + Send + Sync>;

#[derive(Clone)]
pub(crate) enum Source {
    Layer(Arc<Layer>),
    Read(Arc<dyn Reader>),
}

impl Source {
    fn schema(&self) -> &SchemaRef {
        match self {
            Source::Layer(l) => &l.schema,
            Source::Read(r) => r.schema(),
        }
    }
    fn npartitions(&self) -> usize {
        match self {
            Source::Layer(l) => l.npartitions,
            Source::Read(r) => r.npartitions(),
        }
    }
    fn token(&self) -> &str {
        match self {
            Source::Layer(l) => &l.name,
            Source::Read(r) => r.token(),
        }
    }
}

/// Sorted boundaries of the index over the partitions: partition `i` holds
/// the rows whose index is in `[bounds[i], bounds[i + 1])` (the last one
/// closed). Carried through operations that keep rows where they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Divisions {
    /// The index column.
    pub column: String,
    /// `npartitions + 1` boundaries, as `f64` (numbers and timestamps).
    pub bounds: Vec<f64>,
}

/// A lazy dataframe split into partitions, each a Polars `DataFrame`.
///
/// Cheap to clone; nothing runs until [`DataFrame::compute`],
/// [`DataFrame::len`], [`DataFrame::head`] or a writer. The schema is known
/// without computing.
///
/// ```
/// # use rask_local as _;
/// use rask_dataframe::{self as dd, polars::prelude::*};
/// let pl = df!("k" => ["a", "b", "a", "c"], "v" => [1i64, 2, 3, 4]).unwrap();
/// let d = dd::from_polars(pl, 2).unwrap();
/// let big = d.filter(col("v").gt(lit(1))).with_columns([(col("v") * lit(10)).alias("w")]);
/// assert_eq!(big.columns(), ["k", "v", "w"]);
/// assert_eq!(big.len().unwrap(), 3);
/// assert_eq!(big.compute().unwrap().column("w").unwrap().i64().unwrap().get(0), Some(20));
/// ```
#[derive(Clone)]
#[must_use = "a DataFrame is lazy: compute it, or use it in another operation"]
pub struct DataFrame {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub source: Source,
    pub steps: Vec<Step>,
    pub schema: SchemaRef,
    pub name: Arc<str>,
    pub divisions: Option<Divisions>,
    /// How rows are placed by hash, when a shuffle placed them.
    pub partitioning: Option<crate::shuffle::HashPartitioning>,
    /// Known bounds of integer columns per partition.
    pub ranges: Vec<KeyRanges>,
    pub error: Option<Arc<str>>,
}

impl std::fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rask DataFrame {} ({} partitions) {}",
            self.inner.name,
            self.npartitions(),
            fmt_schema(&self.inner.schema)
        )
    }
}

/// `name: type, …` of a schema, for messages.
pub(crate) fn fmt_schema(schema: &Schema) -> String {
    let cols: Vec<String> = schema.iter().map(|(n, t)| format!("{n}: {t}")).collect();
    format!("[{}]", cols.join(", "))
}

/// The columns a read must give for `steps` (all when `None`). A plan
/// that reads no column (a row count) still needs the rows: it reads the
/// first column.
fn read_columns(reader: &dyn Reader, steps: &[Step]) -> Option<Vec<String>> {
    needed_columns(reader.schema(), steps).map(|mut c| {
        if c.is_empty()
            && let Some(first) = reader.schema().iter_names().next()
        {
            c.push(first.clone());
        }
        c.iter().map(|s| s.to_string()).collect()
    })
}

/// The name of a layer made by `prefix` from `params` and `inputs`: the
/// same operation on the same inputs gets the same name.
pub(crate) fn layer_name<P: Serialize + ?Sized>(
    prefix: &str,
    params: &P,
    inputs: &[&str],
) -> Arc<str> {
    rask_core::Tokenizer::layer_name(prefix, params, inputs)
}

/// The key of partition `i` of layer `name`.
pub(crate) fn part_key(name: &str, i: usize) -> Key {
    Key::with_index(name, &[i as u32])
}

impl DataFrame {
    /// Whether steps added to this dataframe run inside the task that
    /// makes a partition (a reader's, a join's) rather than in a task of
    /// their own, so narrowing it with a `select` saves work upstream.
    pub(crate) fn absorbs_steps(&self) -> bool {
        match &self.inner.source {
            Source::Read(_) => true,
            Source::Layer(l) => l.fuse.is_some(),
        }
    }

    /// A dataframe of `source`'s partitions, no steps.
    pub(crate) fn from_source(source: Source, divisions: Option<Divisions>) -> DataFrame {
        let (name, ranges): (Arc<str>, _) = match &source {
            Source::Layer(l) => (l.name.clone(), Vec::new()),
            Source::Read(r) => (layer_name("read", &(), &[r.token()]), r.ranges()),
        };
        DataFrame {
            inner: Arc::new(Inner {
                schema: source.schema().clone(),
                source,
                steps: Vec::new(),
                name,
                divisions,
                partitioning: None,
                ranges,
                error: None,
            }),
        }
    }

    /// This dataframe with one more per-partition step (`what` names the
    /// operation in errors).
    pub(crate) fn with_step(&self, what: &str, step: Step) -> DataFrame {
        let mut steps = self.inner.steps.clone();
        let (schema, error) = match &self.inner.error {
            Some(e) => (self.inner.schema.clone(), Some(e.clone())),
            None => match output_schema(&self.inner.schema, std::slice::from_ref(&step)) {
                Ok(s) => (s, None),
                Err(e) => (
                    self.inner.schema.clone(),
                    Some(step_error(what, &e, &self.inner.schema).into()),
                ),
            },
        };
        steps.push(step);
        let name = layer_name(what, &steps, &[self.inner.source.token()]);
        // Rows stay where they are, so divisions survive while the step
        // passes the index column through unchanged (under its name, or
        // renamed by an alias): the rules of key ranges.
        let divisions = match (&self.inner.divisions, steps.last()) {
            (Some(d), Some(step)) if error.is_none() => {
                let index = KeyRanges {
                    column: d.column.as_str().into(),
                    parts: Arc::from(Vec::new()),
                };
                // Where the step passes it through twice, its own name first.
                let out = crate::ranges::after_step(std::slice::from_ref(&index), step);
                out.iter()
                    .find(|r| r.column == index.column)
                    .or(out.first())
                    .filter(|r| schema.contains(&r.column))
                    .map(|r| Divisions {
                        column: r.column.to_string(),
                        bounds: d.bounds.clone(),
                    })
            }
            _ => None,
        };
        // Filters, limits and sorts keep rows in their partitions and
        // columns as they are.
        let partitioning = self.inner.partitioning.clone().filter(|_| {
            matches!(
                steps.last(),
                Some(Step::Filter(_) | Step::Head(_) | Step::Sort(_))
            )
        });
        let ranges = match steps.last() {
            Some(step) if error.is_none() => crate::ranges::after_step(&self.inner.ranges, step),
            _ => Vec::new(),
        };
        DataFrame {
            inner: Arc::new(Inner {
                source: self.inner.source.clone(),
                steps,
                schema,
                name,
                divisions,
                partitioning,
                ranges,
                error,
            }),
        }
    }

    /// This dataframe marked invalid with `message` (unless it already is).
    pub(crate) fn with_error(&self, message: String) -> DataFrame {
        if self.inner.error.is_some() {
            return self.clone();
        }
        DataFrame {
            inner: Arc::new(Inner {
                source: self.inner.source.clone(),
                steps: self.inner.steps.clone(),
                schema: self.inner.schema.clone(),
                name: self.inner.name.clone(),
                divisions: None,
                partitioning: None,
                ranges: Vec::new(),
                error: Some(message.into()),
            }),
        }
    }

    /// The schema: column names and types, known without computing.
    pub fn schema(&self) -> &SchemaRef {
        &self.inner.schema
    }

    /// The column names, in order.
    pub fn columns(&self) -> Vec<String> {
        self.inner
            .schema
            .iter_names()
            .map(|n| n.to_string())
            .collect()
    }

    /// The type of column `name`, if there is one.
    pub fn dtype(&self, name: &str) -> Option<&DataType> {
        self.inner.schema.get(name)
    }

    /// Number of partitions.
    pub fn npartitions(&self) -> usize {
        self.inner.source.npartitions()
    }

    /// The known index boundaries of the partitions, if any.
    pub fn divisions(&self) -> Option<&Divisions> {
        self.inner.divisions.as_ref()
    }

    /// The bounds of column `name` per partition, where known (see
    /// [`crate::ranges`]).
    pub(crate) fn key_ranges(&self, name: &str) -> Option<&KeyRanges> {
        self.inner.ranges.iter().find(|r| r.column == name)
    }

    /// This dataframe with its known key ranges replaced.
    pub(crate) fn with_ranges(&self, ranges: Vec<KeyRanges>) -> DataFrame {
        let i = &*self.inner;
        self.with_metadata(i.divisions.clone(), i.partitioning.clone(), ranges)
    }

    /// This dataframe with what is known of its rows' placement replaced:
    /// divisions, hash partitioning and key ranges.
    pub(crate) fn with_metadata(
        &self,
        divisions: Option<Divisions>,
        partitioning: Option<crate::shuffle::HashPartitioning>,
        ranges: Vec<KeyRanges>,
    ) -> DataFrame {
        let i = &*self.inner;
        DataFrame {
            inner: Arc::new(Inner {
                source: i.source.clone(),
                steps: i.steps.clone(),
                schema: i.schema.clone(),
                name: i.name.clone(),
                divisions,
                partitioning,
                ranges,
                error: i.error.clone(),
            }),
        }
    }

    /// The error this dataframe carries, if an operation on it was invalid.
    pub fn error(&self) -> Option<&str> {
        self.inner.error.as_deref()
    }

    /// The name of the layer of output partitions (partition `i` is the key
    /// `(name, i)`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The keys of the output partitions, in order.
    pub fn keys(&self) -> Vec<Key> {
        (0..self.npartitions())
            .map(|i| part_key(&self.inner.name, i))
            .collect()
    }

    /// Keeps the results of `exprs` (Polars expressions), per partition.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let d = dd::from_polars(df!("a" => [1i64, 2], "b" => [3i64, 4]).unwrap(), 2).unwrap();
    /// assert_eq!(d.select([(col("a") + col("b")).alias("s")]).columns(), ["s"]);
    /// assert!(d.select([col("zz")]).error().unwrap().contains("zz"));
    /// ```
    pub fn select<E: AsRef<[Expr]>>(&self, exprs: E) -> DataFrame {
        let exprs = exprs.as_ref().iter().cloned().map(SerExpr).collect();
        self.with_step("select", Step::Select(exprs))
    }

    /// Keeps the rows where `predicate` is true (nulls count as false).
    ///
    /// Over a Parquet read, the predicate reaches the reader (row groups
    /// whose statistics exclude every row are skipped). Over a
    /// hive-partitioned read (see [`crate::read_parquet`]), the parts of
    /// the predicate on partition columns alone (comparisons, `&`, `|`,
    /// `not`, null tests, casts) are evaluated on each file's values when
    /// the dataframe is planned, and files that cannot match are not read:
    /// they are no longer partitions of the result.
    pub fn filter(&self, predicate: Expr) -> DataFrame {
        if let Some(pruned) = self.pruned_read(&predicate) {
            return pruned.with_step("filter", Step::Filter(SerExpr(predicate)));
        }
        self.with_step("filter", Step::Filter(SerExpr(predicate)))
    }

    /// This dataframe over a read without the partitions `predicate` (a
    /// filter about to be added) rules out, if its reader can tell.
    fn pruned_read(&self, predicate: &Expr) -> Option<DataFrame> {
        if self.inner.error.is_some() {
            return None;
        }
        let Source::Read(reader) = &self.inner.source else {
            return None;
        };
        let pruned = reader.prune(&self.inner.steps, predicate)?;
        let mut df = DataFrame::from_source(Source::Read(pruned), None);
        for step in &self.inner.steps {
            df = df.with_step("replay", step.clone());
        }
        Some(df)
    }

    /// Adds columns, or replaces those of the same name.
    pub fn with_columns<E: AsRef<[Expr]>>(&self, exprs: E) -> DataFrame {
        let exprs = exprs.as_ref().iter().cloned().map(SerExpr).collect();
        self.with_step("with_columns", Step::WithColumns(exprs))
    }

    /// Adds one column, or replaces the one of the same name.
    pub fn with_column(&self, expr: Expr) -> DataFrame {
        self.with_columns([expr])
    }

    /// The first `n` rows, computing partitions from the first on, as many
    /// as needed (one, then twice as many each round).
    pub fn head(&self, n: usize) -> Result<PlFrame> {
        self.head_with(n, &*rask_core::executor::current()?)
    }

    /// Like [`DataFrame::head`], on `executor`.
    pub fn head_with(&self, n: usize, executor: &(impl Executor + ?Sized)) -> Result<PlFrame> {
        self.check()?;
        let limited = self.with_step("head", Step::Head(n as u64));
        let mut frames = Vec::new();
        let mut have = 0usize;
        let (mut start, mut batch) = (0usize, 1usize);
        let total = self.npartitions();
        while have < n && start < total {
            let end = (start + batch).min(total);
            let parts = PartRange {
                df: &limited,
                range: start..end,
            };
            for f in rask_core::compute::compute_with(&parts, executor)? {
                have += f.height();
                frames.push(f);
            }
            start = end;
            batch *= 2;
        }
        if frames.is_empty() {
            return Ok(PlFrame::empty_with_schema(&self.inner.schema));
        }
        let out = concat(frames).map_err(|e| polars_error("head", e))?;
        Ok(out.head(Some(n)))
    }

    /// The number of rows, counted per partition and summed.
    pub fn len(&self) -> Result<usize> {
        self.len_with(&*rask_core::executor::current()?)
    }

    /// Like [`DataFrame::len`], on `executor`.
    pub fn len_with(&self, executor: &(impl Executor + ?Sized)) -> Result<usize> {
        self.check()?;
        let counts = self.with_step("len", Step::Select(vec![SerExpr(len().alias("len"))]));
        let total = crate::tree::reduce(
            &counts,
            "len",
            vec![Step::Select(vec![SerExpr(col("len").sum().alias("len"))])],
            Vec::new(),
            rask_config::try_get()?.split_every,
            false,
        );
        let out = rask_core::compute::compute_with(&total, executor)?;
        let n = out
            .column("len")
            .and_then(|c| c.cast(&DataType::UInt64))
            .map_err(|e| polars_error("len", e))?;
        Ok(n.u64().ok().and_then(|c| c.get(0)).unwrap_or(0) as usize)
    }

    /// Whether the dataframe has no rows (computes [`DataFrame::len`]).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Computes every partition and stacks them, in order, into one Polars
    /// frame.
    pub fn compute(&self) -> Result<PlFrame> {
        rask_core::compute::compute(self)
    }

    /// Like [`DataFrame::compute`], on `executor`.
    pub fn compute_with(&self, executor: &(impl Executor + ?Sized)) -> Result<PlFrame> {
        rask_core::compute::compute_with(self, executor)
    }

    /// Computes the partitions and returns them, one Polars frame each.
    pub fn compute_partitions(&self) -> Result<Vec<PlFrame>> {
        let parts = PartRange {
            df: self,
            range: 0..self.npartitions(),
        };
        rask_core::compute::compute(&parts)
    }

    /// The error carried by an invalid dataframe.
    pub(crate) fn check(&self) -> Result<()> {
        match &self.inner.error {
            Some(e) => Err(Error::invalid("dataframe operation", e.to_string())),
            None => Ok(()),
        }
    }

    /// Adds the tasks of partitions `range` to `builder` and returns their
    /// keys.
    /// This dataframe's partitions (with its steps) as plans another task
    /// can run inside its own: a Parquet read's scans, or (with `joins`) a
    /// join's tasks that each read one left partition, their steps free
    /// of row order. `None` where the partitions must come as inputs.
    pub(crate) fn part_plans(&self, joins: bool) -> Option<crate::join::PartPlans> {
        use crate::join::LeftPlan;
        let inner = &*self.inner;
        if inner.error.is_some() {
            return None;
        }
        match &inner.source {
            Source::Read(reader) => {
                let columns = read_columns(&**reader, &inner.steps);
                let scans = (0..reader.npartitions())
                    .map(|i| reader.scan(i, &inner.steps, columns.as_deref()))
                    .collect::<Option<Vec<_>>>()?;
                Some(Box::new(move |_: &mut GraphBuilder| {
                    scans
                        .iter()
                        .map(|s| (Some(LeftPlan::Scan(s.clone())), Vec::new()))
                        .collect()
                }))
            }
            Source::Layer(layer) if joins => (layer.inline.as_ref()?)(&inner.steps, &inner.schema),
            Source::Layer(_) => None,
        }
    }

    pub(crate) fn add_parts(
        &self,
        builder: &mut GraphBuilder,
        range: std::ops::Range<usize>,
    ) -> Vec<Key> {
        let inner = &*self.inner;
        let keys: Vec<Key> = range.clone().map(|i| part_key(&inner.name, i)).collect();
        if keys.iter().all(|k| builder.contains(k)) {
            return keys;
        }
        match &inner.source {
            Source::Layer(layer) => {
                if !inner.steps.is_empty()
                    && let Some(fuse) = &layer.fuse
                {
                    // The steps run inside the layer's own tasks.
                    if !builder.contains(&part_key(&inner.name, 0)) {
                        let fused = fuse(&inner.name, &inner.steps, &inner.schema);
                        (fused.add)(builder);
                    }
                    return keys;
                }
                let first = part_key(&layer.name, 0);
                if layer.npartitions > 0 && !builder.contains(&first) {
                    (layer.add)(builder);
                }
                if !inner.steps.is_empty() {
                    let kernel = Arc::new(Apply {
                        steps: inner.steps.clone(),
                    });
                    for (i, key) in range.zip(&keys) {
                        builder.insert(
                            key.clone(),
                            Op::from_kernel(kernel.clone(), true),
                            [part_key(&layer.name, i)],
                        );
                    }
                }
            }
            Source::Read(reader) => {
                let columns = read_columns(&**reader, &inner.steps);
                for (i, key) in range.zip(&keys) {
                    builder.insert(
                        key.clone(),
                        reader.op(i, &inner.steps, columns.as_deref()),
                        [],
                    );
                }
            }
        }
        keys
    }
}

/// Some partitions of a dataframe, as a collection (for `head` and
/// `compute_partitions`).
pub(crate) struct PartRange<'a> {
    pub df: &'a DataFrame,
    pub range: std::ops::Range<usize>,
}

impl Collection for PartRange<'_> {
    type Output = Vec<PlFrame>;
    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        outputs.extend(self.df.add_parts(builder, self.range.clone()));
    }
    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output> {
        self.range
            .clone()
            .map(|i| take_part(values, &self.df.inner.name, i))
            .collect()
    }
    fn validate(&self) -> Result<()> {
        self.df.check()
    }
}

fn take_part(values: &mut dyn Iterator<Item = Value>, name: &str, i: usize) -> Result<PlFrame> {
    let v = values
        .next()
        .ok_or_else(|| Error::Scheduler("internal error: a partition is missing".into()))?;
    v.into_inner::<Part>(0)
        .map(|p| p.0)
        .map_err(|cause| Error::Task {
            key: part_key(name, i),
            op: "partition".into(),
            cause,
        })
}

impl Collection for DataFrame {
    type Output = PlFrame;
    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        outputs.extend(self.add_parts(builder, 0..self.npartitions()));
    }
    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<PlFrame> {
        let parts: Vec<PlFrame> = (0..self.npartitions())
            .map(|i| take_part(values, &self.inner.name, i))
            .collect::<Result<_>>()?;
        if parts.is_empty() {
            return Ok(PlFrame::empty_with_schema(&self.inner.schema));
        }
        concat(parts).map_err(|e| polars_error("compute", e))
    }
    fn validate(&self) -> Result<()> {
        self.check()
    }
}

/// A Polars error from the driver side (stacking results) as a rask error.
pub(crate) fn polars_error(what: &str, e: PolarsError) -> Error {
    Error::invalid(what, e.to_string())
}

/// The message of an invalid step: Polars' reason and the input's schema.
fn step_error(what: &str, e: &PolarsError, schema: &Schema) -> String {
    format!(
        "{what}: {e}; the dataframe's schema is {}",
        fmt_schema(schema)
    )
}

/// Runs per-partition steps on the partition in argument 0.
#[derive(Serialize, Deserialize)]
pub(crate) struct Apply {
    pub steps: Vec<Step>,
}

impl rask_core::Kernel for Apply {
    const NAME: &'static str = "rask.dataframe.apply";
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let df = part_arg(args, 0)?.clone();
        let out = polars_pool(|| run_steps(&self.steps, df)).map_err(failed)?;
        Ok(Part::value(out))
    }
}

/// Stacks the partitions in its arguments and runs steps on the result (a
/// level of a tree reduction).
#[derive(Serialize, Deserialize)]
pub(crate) struct ConcatApply {
    pub steps: Vec<Step>,
    /// The inputs are group-by results keyed like the first step's group-by
    /// (each key once per input): when that group-by has one plain integer
    /// or temporal key and only re-aggregations that give a lone row back
    /// (sum, min, max, first, last of a column, under its own name), and
    /// the inputs' key ranges do not overlap (they may touch: then only
    /// the rows of the touching keys are re-aggregated), every other group
    /// is already whole and its re-aggregation is skipped. Data sorted by
    /// the key (orders and their line items by order key) gives such
    /// partials.
    pub keyed: bool,
}

impl rask_core::Kernel for ConcatApply {
    const NAME: &'static str = "rask.dataframe.concat_apply";
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let frames = (0..args.len())
            .map(|i| part_arg(args, i).cloned())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let out = polars_pool(|| {
            let shared = if self.keyed {
                shared_keys(&self.steps, &frames)
            } else {
                None
            };
            let Some((key, shared)) = shared else {
                return concat(frames).and_then(|df| run_steps(&self.steps, df));
            };
            let mut df = concat(frames)?;
            if !shared.is_empty() {
                // Only the groups of keys at the edge of two inputs' ranges
                // can be split between inputs: re-aggregate those rows.
                let key = col(key).cast(DataType::Int64);
                let on_edge = shared
                    .iter()
                    .map(|&x| key.clone().eq(lit(x)))
                    .reduce(|a, b| a.or(b))
                    .unwrap_or_else(|| lit(false));
                let lf = df.lazy();
                let edge = lf.clone().filter(on_edge.clone()).collect()?;
                let edge = run_steps(&self.steps[..1], edge)?;
                let rest = lf.filter(on_edge.not()).collect()?;
                df = concat([rest, edge])?;
            }
            run_steps(&self.steps[1..], df)
        })
        .map_err(failed)?;
        Ok(Part::value(out))
    }
}

/// When the first step of `steps` is a group-by that leaves `frames`
/// stacked as they are but for the groups of the returned keys — keys
/// where one input's range ends and the next one's begins — those keys;
/// `None` when the group-by must run on everything (see
/// [`ConcatApply::keyed`]). A key in two inputs whose ranges only touch
/// is the end of one and the start of the other, so the touching keys are
/// the only ones whose groups can be split.
fn shared_keys(steps: &[Step], frames: &[PlFrame]) -> Option<(PlSmallStr, Vec<i64>)> {
    use polars::prelude::{AggExpr, ChunkAgg};
    let Some(Step::GroupBy(keys, aggs)) = steps.first() else {
        return None;
    };
    let [key] = keys.as_slice() else {
        return None;
    };
    let Expr::Column(key) = &key.0 else {
        return None;
    };
    let identity = |e: &SerExpr| match &e.0 {
        Expr::Alias(inner, name) => match &**inner {
            Expr::Agg(
                AggExpr::Sum(x)
                | AggExpr::Min { input: x, .. }
                | AggExpr::Max { input: x, .. }
                | AggExpr::First(x)
                | AggExpr::Last(x),
            ) => matches!(&**x, Expr::Column(c) if c == name),
            _ => false,
        },
        _ => false,
    };
    // A first/last combine takes the partials of inputs that saw rows
    // (`groupby::decompose`); a group's partial always has rows, so it
    // too gives a lone row back.
    let seen_first_or_last = |e: &SerExpr| match &e.0 {
        Expr::Alias(inner, name) => match &**inner {
            Expr::Agg(AggExpr::First(x) | AggExpr::Last(x)) => matches!(
                &**x,
                Expr::Filter { input, .. } if matches!(&**input, Expr::Column(c) if c == name)
            ),
            _ => false,
        },
        _ => false,
    };
    if !aggs.iter().all(|e| identity(e) || seen_first_or_last(e)) {
        return None;
    }
    // The key ranges, as i64 (integer and temporal keys only, no nulls).
    let mut ranges: Vec<(i64, i64)> = Vec::with_capacity(frames.len());
    for f in frames {
        if f.height() == 0 {
            continue;
        }
        let Ok(c) = f.column(key) else { return None };
        let physical = c.dtype().to_physical();
        let fits = physical.is_integer() && !matches!(physical, DataType::UInt64);
        if !fits || c.null_count() > 0 {
            return None;
        }
        let Ok(v) = c
            .as_materialized_series()
            .to_physical_repr()
            .cast(&DataType::Int64)
        else {
            return None;
        };
        let Ok(v) = v.i64() else { return None };
        match (v.min(), v.max()) {
            (Some(lo), Some(hi)) => ranges.push((lo, hi)),
            _ => return None,
        }
    }
    ranges.sort_unstable();
    if !ranges.windows(2).all(|w| w[0].1 <= w[1].0) {
        return None;
    }
    let mut shared: Vec<i64> = ranges
        .windows(2)
        .filter(|w| w[0].1 == w[1].0)
        .map(|w| w[0].1)
        .collect();
    shared.dedup();
    // The stacked frames must have the group-by's own output schema.
    let Some(first) = frames.iter().find(|f| f.height() > 0).or(frames.first()) else {
        return Some((key.clone(), shared));
    };
    let same =
        matches!(output_schema(first.schema(), &steps[..1]), Ok(s) if *s == **first.schema());
    same.then(|| (key.clone(), shared))
}

rask_core::register_kernel!(Apply, ConcatApply);

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use polars::prelude::*;

    use super::*;

    /// A reader that records the columns each partition is asked for.
    struct Recording {
        schema: SchemaRef,
        asked: Mutex<Vec<Option<Vec<String>>>>,
    }

    impl Reader for Recording {
        fn npartitions(&self) -> usize {
            2
        }
        fn schema(&self) -> &SchemaRef {
            &self.schema
        }
        fn token(&self) -> &str {
            "recording"
        }
        fn op(&self, _: usize, _: &[Step], columns: Option<&[String]>) -> Op {
            self.asked
                .lock()
                .unwrap()
                .push(columns.map(<[String]>::to_vec));
            Op::value(Value::new(0u8))
        }
    }

    #[test]
    fn readers_are_asked_only_for_the_columns_the_steps_need() {
        let schema = Arc::new(Schema::from_iter([
            Field::new("a".into(), DataType::Int64),
            Field::new("b".into(), DataType::Int64),
            Field::new("c".into(), DataType::Int64),
        ]));
        let r = Arc::new(Recording {
            schema,
            asked: Mutex::new(Vec::new()),
        });
        let df = super::DataFrame::from_source(Source::Read(r.clone()), None);
        let q = df
            .filter(col("c").gt(lit(1)))
            .select([(col("a") * lit(2)).alias("x")]);
        q.add_parts(&mut GraphBuilder::new(), 0..2);
        let counted = df.with_step("len", Step::Select(vec![SerExpr(len())]));
        counted.add_parts(&mut GraphBuilder::new(), 0..1);
        df.add_parts(&mut GraphBuilder::new(), 0..1);
        let asked = r.asked.lock().unwrap().clone();
        let ac = Some(vec!["a".to_string(), "c".to_string()]);
        assert_eq!(
            asked,
            vec![ac.clone(), ac, Some(vec!["a".to_string()]), None]
        );
    }

    #[test]
    fn steps_after_a_join_narrow_both_readers() {
        let reader = |names: &[&str]| {
            Arc::new(Recording {
                schema: Arc::new(Schema::from_iter(
                    names
                        .iter()
                        .map(|n| Field::new((*n).into(), DataType::Int64)),
                )),
                asked: Mutex::new(Vec::new()),
            })
        };
        let (l, r) = (reader(&["a", "b", "c", "e"]), reader(&["a", "b", "d"]));
        let left = super::DataFrame::from_source(Source::Read(l.clone()), None);
        let right = super::DataFrame::from_source(Source::Read(r.clone()), None);
        let j = left
            .join(
                &right,
                [col("a")],
                [col("a")],
                JoinArgs::new(JoinType::Inner),
            )
            .select([col("b_right"), col("c")]);
        j.add_parts(&mut GraphBuilder::new(), 0..2);
        let names = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        // `b` stays on the left too, so the right one is still `b_right`.
        assert_eq!(l.asked.lock().unwrap()[0], names(&["a", "b", "c"]));
        assert_eq!(r.asked.lock().unwrap()[0], names(&["a", "b"]));
        // A semi join reads only the right side's keys.
        let (l, r) = (reader(&["a", "b", "c", "e"]), reader(&["a", "b", "d"]));
        let left = super::DataFrame::from_source(Source::Read(l.clone()), None);
        let right = super::DataFrame::from_source(Source::Read(r.clone()), None);
        left.join(
            &right,
            [col("a")],
            [col("a")],
            JoinArgs::new(JoinType::Semi),
        )
        .select([col("e")])
        .add_parts(&mut GraphBuilder::new(), 0..2);
        assert_eq!(l.asked.lock().unwrap()[0], names(&["a", "e"]));
        assert_eq!(r.asked.lock().unwrap()[0], names(&["a"]));
    }

    #[test]
    fn disjoint_key_ranges_skip_the_re_aggregation() {
        let ser = |v: Vec<Expr>| v.into_iter().map(SerExpr).collect::<Vec<_>>();
        let resum = |c: &str| col(c).sum().alias(c);
        let combine = Step::GroupBy(
            ser(vec![col("k")]),
            ser(vec![resum("s"), col("f").first().alias("f")]),
        );
        let one = std::slice::from_ref(&combine);
        let part = |k: Vec<i64>| {
            let n = k.len();
            df!("k" => k, "s" => vec![1i64; n], "f" => vec![2.0f64; n]).unwrap()
        };
        let (a, b) = (part(vec![5, 1, 3]), part(vec![9, 7]));
        let shared = |frames: &[PlFrame]| shared_keys(one, frames).map(|(_, s)| s);
        assert_eq!(shared(&[a.clone(), part(vec![]), b.clone()]), Some(vec![]));
        // Ranges that touch share their edge key: only its rows regroup.
        assert_eq!(
            shared(&[a.clone(), part(vec![5, 6]), b.clone()]),
            Some(vec![5])
        );
        assert_eq!(
            shared(&[part(vec![5]), a.clone(), part(vec![5, 7])]),
            Some(vec![5])
        );
        // Overlapping ranges must be re-aggregated whole.
        assert_eq!(shared(&[a.clone(), part(vec![4, 8])]), None);
        // A null key, a re-aggregation that is not an identity on one row,
        // a renamed one and two keys all keep the whole re-aggregation.
        let nulls =
            df!("k" => [Some(10i64), None], "s" => [1i64, 1], "f" => [2.0f64, 2.0]).unwrap();
        assert_eq!(shared(&[a.clone(), nulls]), None);
        let mean = Step::GroupBy(ser(vec![col("k")]), ser(vec![col("s").mean().alias("s")]));
        assert!(shared_keys(&[mean], &[a.clone(), b.clone()]).is_none());
        let renamed = Step::GroupBy(ser(vec![col("k")]), ser(vec![col("s").sum().alias("t")]));
        assert!(shared_keys(&[renamed], &[a.clone(), b.clone()]).is_none());
        let two = Step::GroupBy(ser(vec![col("k"), col("f")]), ser(vec![resum("s")]));
        assert!(shared_keys(&[two], &[a.clone(), b.clone()]).is_none());
        // A first of the partials that saw rows (`s` counts them) is one.
        let seen = Step::GroupBy(
            ser(vec![col("k")]),
            ser(vec![
                resum("s"),
                col("f").filter(col("s").gt(lit(0))).first().alias("f"),
            ]),
        );
        assert_eq!(shared_keys(&[seen], &[a, b]).map(|(_, s)| s), Some(vec![]));
    }
}
