//! Joins of two partitioned dataframes.
//!
//! Every strategy ends in one Polars join per output partition
//! ([`JoinParts`]) between a left frame and a right frame that together
//! hold every match of their rows:
//!
//! * **Co-partitioned** (no shuffle): both sides were hash-partitioned by
//!   these keys, with the same key types and partition count (their
//!   [`HashPartitioning`]s agree), so partition `i` joins partition `i`.
//! * **Broadcast**: one side is stacked into one frame and joined with
//!   every partition of the other. Only the side whose unmatched rows the
//!   join does not keep may be broadcast, or they would appear once per
//!   partition: the right side of an inner, left, semi or anti join, the
//!   left side of an inner or right join. A full join never broadcasts
//!   (unless both sides are one partition). `Auto` broadcasts a side of
//!   one partition, or one with a tenth or fewer of the other's
//!   partitions.
//! * **Key ranges** (no shuffle, `Auto` only): both sides have known
//!   bounds of the one key column per partition (from Parquet statistics,
//!   kept through filters, selects and joins that leave left rows where
//!   they were; see [`crate::ranges`]), and they pair each left partition
//!   with few right ones, as files sorted by the key give. Left partition
//!   `i` joins the right partitions whose ranges overlap its own, stacked
//!   and filtered to its range. Right rows may reach several tasks, so
//!   only where the right side could be broadcast, and without a
//!   uniqueness check or `nulls_equal`. The result keeps the left side's
//!   ranges, divisions and partitioning.
//! * **Shuffle**: both sides are hash-shuffled by their keys (cast to a
//!   common type, so `i32` and `i64` keys hash alike) into the same number
//!   of partitions (the larger side's by default), then joined partition
//!   by partition. The result keeps the partitioning of the side whose keys
//!   it keeps, so a further join on the same keys needs no shuffle; a
//!   broadcast of the right side keeps the left side's partitioning and
//!   divisions, since left rows stay where they were.
//!
//! Where every task reads one left partition (co-partitioned, broadcast of
//! the right side, key ranges) and the left side is a Parquet read, the
//! task scans that partition itself, in the join's own Polars plan, rather
//! than receiving it from a read task: the left partition is never a
//! stored result, and Polars plans the scan (its columns and filters) and
//! the join together.
//!
//! Such a task also filters its left side to the keys its right frames
//! hold, where left rows without a match are dropped (inner, semi and
//! right joins on one integer, temporal or categorical key): Polars
//! pushes the filter into the scan, so rows that cannot match are never
//! gathered or probed ([`crate::key_filter`]).
//!
//! Steps that follow a join on its partitions (a filter, a select, the
//! chunk aggregation of a group-by) run in the join's tasks, in one Polars
//! plan, and narrow what the sides read ([`JoinPlan::narrowed`]). A join
//! task runs on Polars' in-memory engine, whose output order is fixed,
//! unless its steps aggregate without depending on row order: then on the
//! streaming engine, which joins and aggregates morsel by morsel without
//! materializing the joined rows (the streaming join's row order differs
//! from run to run, so only then).
//!
//! Polars' join options apply per partition. Checks of key uniqueness
//! (`validation`) are exact after a shuffle, and a side is not broadcast
//! when the check is on the other side (each partition would see only
//! part of it). A `slice` of the result is refused: take `head` instead.

use std::collections::HashSet;
use std::sync::Arc;

use polars::prelude::{
    AggExpr, DataFrame as PlFrame, DataType, Expr, IntoLazy, JoinArgs, JoinType, JoinValidation,
    LazyFrame, PlSmallStr, PolarsError, SchemaRef, UnionArgs, col, concat as concat_lf, lit,
};
use polars_core::utils::try_get_supertype;
use rask_core::{GraphBuilder, Key, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::eager::{Eager, MIN_ROWS_PER_KEY};
use crate::frame::{ConcatApply, DataFrame, Fuse, Layer, Source, fmt_schema, layer_name, part_key};
use crate::kernels::{Part, failed, part_arg, polars_pool};
use crate::parquet::ReadParquetPart;
use crate::ranges::{Bounds, RangePairs};
use crate::shuffle::{
    HashPartitioning, PlBytes, ShuffleOptions, hash_dtype, hash_shuffle, key_dtypes, plain_column,
};
use crate::steps::{SerExpr, Step, apply_all, needed_columns, output_schema, root_names};

/// How [`DataFrame::join_with`] brings matching rows together.
#[derive(Clone, Debug, Default)]
pub enum JoinStrategy {
    /// No shuffle when both sides are partitioned on the keys, broadcast a
    /// small side when the join type allows it, pair partitions by their
    /// known key ranges (Parquet statistics of files sorted by the key)
    /// when those pair each left partition with few right ones, shuffle
    /// otherwise (see the module docs of `join`).
    #[default]
    Auto,
    /// Broadcast the side the join type allows (the right one when both
    /// may be); an error for a full join of partitioned sides.
    Broadcast,
    /// Hash-shuffle both sides (unless they are already partitioned alike),
    /// with these options.
    Shuffle(ShuffleOptions),
}

impl DataFrame {
    /// Joins with `other` where `left_on` (on this dataframe) equals
    /// `right_on` (on `other`), with Polars' join `args`: inner, left,
    /// right, full, semi and anti joins. The result is what Polars gives
    /// on the two stacked frames, up to row order. The strategy (broadcast,
    /// key ranges or shuffle) is chosen automatically; see
    /// [`DataFrame::join_with`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let readings = df!("device_id" => [1i64, 2, 1, 3], "value" => [0.5, 1.5, 2.5, 3.5]).unwrap();
    /// let devices = df!("device_id" => [1i64, 2], "site" => ["north", "south"]).unwrap();
    /// let df = dd::from_polars(readings, 2).unwrap();
    /// let devices = dd::from_polars(devices, 1).unwrap();
    /// let j = df.join(&devices, [col("device_id")], [col("device_id")], JoinArgs::new(JoinType::Inner));
    /// assert_eq!(j.columns(), ["device_id", "value", "site"]);
    /// assert_eq!(j.len().unwrap(), 3);
    /// ```
    pub fn join<L: AsRef<[Expr]>, R: AsRef<[Expr]>>(
        &self,
        other: &DataFrame,
        left_on: L,
        right_on: R,
        args: JoinArgs,
    ) -> DataFrame {
        self.join_with(other, left_on, right_on, args, JoinStrategy::Auto)
    }

    /// Like [`DataFrame::join`], with the strategy chosen by the caller.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, JoinStrategy, ShuffleOptions, polars::prelude::*};
    /// let a = dd::from_polars(df!("k" => [1i64, 2, 3, 4], "x" => [1i64, 2, 3, 4]).unwrap(), 2).unwrap();
    /// let b = dd::from_polars(df!("k" => [2i64, 4, 5], "y" => [20i64, 40, 50]).unwrap(), 3).unwrap();
    /// let shuffle = JoinStrategy::Shuffle(ShuffleOptions::default().npartitions(4));
    /// let j = a.join_with(&b, [col("k")], [col("k")], JoinArgs::new(JoinType::Full), shuffle);
    /// assert_eq!(j.npartitions(), 4);
    /// assert_eq!(j.len().unwrap(), 5);
    /// ```
    pub fn join_with<L: AsRef<[Expr]>, R: AsRef<[Expr]>>(
        &self,
        other: &DataFrame,
        left_on: L,
        right_on: R,
        args: JoinArgs,
        strategy: JoinStrategy,
    ) -> DataFrame {
        match plan(
            self,
            other,
            left_on.as_ref(),
            right_on.as_ref(),
            &args,
            &strategy,
        ) {
            Ok(d) => d,
            Err(e) => self.with_error(format!("join: {e}")),
        }
    }
}

/// Which side a join may broadcast.
fn broadcastable(args: &JoinArgs) -> (bool, bool) {
    let (left, right) = match args.how {
        JoinType::Inner => (true, true),
        JoinType::Left | JoinType::Semi | JoinType::Anti => (false, true),
        JoinType::Right => (true, false),
        _ => (false, false),
    };
    // A uniqueness check must see all of its side at once.
    let checks_left = matches!(
        args.validation,
        JoinValidation::OneToMany | JoinValidation::OneToOne
    );
    let checks_right = matches!(
        args.validation,
        JoinValidation::ManyToOne | JoinValidation::OneToOne
    );
    (left && !checks_right, right && !checks_left)
}

/// Builds the join, or says why it cannot be.
fn plan(
    left: &DataFrame,
    right: &DataFrame,
    left_on: &[Expr],
    right_on: &[Expr],
    args: &JoinArgs,
    strategy: &JoinStrategy,
) -> Result<DataFrame, String> {
    if let Some(e) = left.error() {
        return Err(e.to_string());
    }
    if let Some(e) = right.error() {
        return Err(format!("the right dataframe is invalid: {e}"));
    }
    if left_on.is_empty() || left_on.len() != right_on.len() {
        return Err(format!(
            "{} left key(s) and {} right key(s); pass the same number of each, at least one",
            left_on.len(),
            right_on.len()
        ));
    }
    if !matches!(
        args.how,
        JoinType::Inner
            | JoinType::Left
            | JoinType::Right
            | JoinType::Full
            | JoinType::Semi
            | JoinType::Anti
    ) {
        return Err(format!(
            "{} joins are not supported; use inner, left, right, full, semi or anti",
            args.how
        ));
    }
    if args.slice.is_some() {
        return Err("a sliced join is not supported; take head() of the result".into());
    }
    // Names, key types and the result's schema, from empty frames.
    let ldt = key_dtypes("left keys", left, left_on)?;
    let rdt = key_dtypes("right keys", right, right_on)?;
    let schema = join_schema(left, right, left_on, right_on, args).map_err(|e| {
        format!(
            "{e}; the left schema is {}, the right schema is {}",
            fmt_schema(left.schema()),
            fmt_schema(right.schema())
        )
    })?;
    let dtypes: Vec<DataType> = ldt
        .iter()
        .zip(&rdt)
        .map(|(l, r)| hash_dtype(&try_get_supertype(l, r).unwrap_or_else(|_| l.clone())))
        .collect();

    let (nl, nr) = (left.npartitions(), right.npartitions());
    let (may_left, may_right) = broadcastable(args);
    let aligned = |n: usize| {
        let want = |on: &[Expr]| HashPartitioning {
            columns: on.iter().filter_map(plain_column).collect(),
            dtypes: dtypes.clone(),
            npartitions: n,
        };
        left_on.iter().all(|e| plain_column(e).is_some())
            && right_on.iter().all(|e| plain_column(e).is_some())
            && left.partitioning() == Some(&want(left_on))
            && right.partitioning() == Some(&want(right_on))
    };
    let at = |inputs: Inputs| JoinPlan {
        left: left.clone(),
        right: right.clone(),
        left_on: left_on.to_vec(),
        right_on: right_on.to_vec(),
        args: args.clone(),
        inputs,
        schema: schema.clone(),
    };
    let shuffled = |n: usize, options: &ShuffleOptions| {
        at(Inputs::Shuffled {
            dtypes: dtypes.clone(),
            n,
            options: options.clone(),
        })
    };
    let copartitioned = nl == nr && (nl == 1 || aligned(nl));
    // Partitions paired by the key's known ranges (see `crate::ranges`):
    // only where right rows may be read by several tasks (they are matched
    // only with the left rows of each), and no check needs a whole side.
    let ranged = || -> Option<RangePairs> {
        if !may_right
            || left_on.len() != 1
            || args.nulls_equal
            || !matches!(args.validation, JoinValidation::ManyToMany)
        {
            return None;
        }
        let (lc, rc) = (plain_column(&left_on[0])?, plain_column(&right_on[0])?);
        let (lt, rt) = (left.dtype(&lc)?, right.dtype(&rc)?);
        if lt != rt && !(lt.is_integer() && rt.is_integer()) {
            return None;
        }
        RangePairs::plan(&left.key_ranges(&lc)?.parts, &right.key_ranges(&rc)?.parts)
    };
    let planned = match strategy {
        JoinStrategy::Auto => {
            if copartitioned {
                at(Inputs::Zip)
            } else if let Some(pairs) = (nr > 1).then(ranged).flatten() {
                at(Inputs::Ranges(Arc::new(pairs)))
            } else {
                let small = |n: usize, other: usize| n == 1 || n * 10 <= other;
                let right_small = may_right && small(nr, nl);
                let left_small = may_left && small(nl, nr);
                match (left_small, right_small) {
                    (true, true) if nl < nr => at(Inputs::BroadcastLeft),
                    (_, true) => at(Inputs::BroadcastRight),
                    (true, false) => at(Inputs::BroadcastLeft),
                    (false, false) => shuffled(nl.max(nr), &ShuffleOptions::default()),
                }
            }
        }
        JoinStrategy::Broadcast => {
            if may_right {
                at(Inputs::BroadcastRight)
            } else if may_left {
                at(Inputs::BroadcastLeft)
            } else if copartitioned {
                at(Inputs::Zip)
            } else {
                return Err(format!(
                    "a {} join{} cannot broadcast either side (unmatched rows would repeat); \
                     use JoinStrategy::Shuffle or Auto",
                    args.how,
                    if matches!(args.validation, JoinValidation::ManyToMany) {
                        ""
                    } else {
                        " with a uniqueness check"
                    }
                ));
            }
        }
        JoinStrategy::Shuffle(options) => {
            let n = options.get_npartitions().unwrap_or(nl.max(nr));
            if nl == n && nr == n && (n == 1 || aligned(n)) {
                at(Inputs::Zip)
            } else {
                shuffled(n, options)
            }
        }
    };
    Ok(Arc::new(planned).frame())
}

/// How the two sides of a join meet.
#[derive(Clone)]
enum Inputs {
    /// Partition `i` with partition `i`, as they are.
    Zip,
    /// Both sides hash-shuffled by their keys into `n` partitions, then
    /// partition `i` with partition `i`.
    Shuffled {
        dtypes: Vec<DataType>,
        n: usize,
        options: ShuffleOptions,
    },
    /// Every left partition with the stacked right side.
    BroadcastRight,
    /// The stacked left side with every right partition.
    BroadcastLeft,
    /// Every left partition with the right partitions whose key ranges
    /// overlap its own, their rows outside its range dropped.
    Ranges(Arc<RangePairs>),
}

/// A planned join: its two sides, how they meet and the result's schema.
/// Kept after planning so that per-partition steps on the result can run
/// inside the join's tasks, with the sides narrowed to the columns the
/// steps need ([`JoinPlan::fused`]).
#[derive(Clone)]
struct JoinPlan {
    left: DataFrame,
    right: DataFrame,
    left_on: Vec<Expr>,
    right_on: Vec<Expr>,
    args: JoinArgs,
    inputs: Inputs,
    schema: SchemaRef,
}

/// How the tasks of a join read their inputs.
#[derive(Clone, Copy, Serialize)]
enum Shape {
    /// Partition i with partition i.
    Zip,
    /// Every left partition with the stacked right side.
    BroadcastRight,
    /// The stacked left side with every right partition.
    BroadcastLeft,
    /// Each left partition with the right partitions its key range
    /// overlaps ([`Inputs::Ranges`]).
    Ranges,
}

impl JoinPlan {
    /// The sides as the join's tasks read them (shuffled, when the plan
    /// shuffles), and how.
    fn sides(&self) -> (DataFrame, DataFrame, Shape) {
        match &self.inputs {
            Inputs::Zip => (self.left.clone(), self.right.clone(), Shape::Zip),
            Inputs::Shuffled { dtypes, n, options } => (
                hash_shuffle(&self.left, &self.left_on, dtypes, *n, options),
                hash_shuffle(&self.right, &self.right_on, dtypes, *n, options),
                Shape::Zip,
            ),
            Inputs::BroadcastRight => {
                (self.left.clone(), self.right.clone(), Shape::BroadcastRight)
            }
            Inputs::BroadcastLeft => (self.left.clone(), self.right.clone(), Shape::BroadcastLeft),
            Inputs::Ranges(_) => (self.left.clone(), self.right.clone(), Shape::Ranges),
        }
    }

    /// The join as a dataframe, with what is known of its rows' placement.
    fn frame(self: Arc<Self>) -> DataFrame {
        let (l, r, shape) = self.sides();
        let layer = self.layer(&l, &r, shape, None, &[], self.schema.clone());
        let out = DataFrame::from_source(Source::Layer(layer), None);
        let same = |side: &DataFrame, c: &str| {
            self.schema.get(c).is_some() && side.dtype(c) == self.schema.get(c)
        };
        match shape {
            // The result keeps the partitioning of the side whose key
            // columns it keeps, when they are there unchanged.
            Shape::Zip => {
                let (kept, side) = match self.args.how {
                    JoinType::Inner | JoinType::Left | JoinType::Semi | JoinType::Anti => {
                        (l.partitioning(), &l)
                    }
                    JoinType::Right => (r.partitioning(), &r),
                    _ => (None, &l),
                };
                let kept = kept.filter(|p| p.columns.iter().all(|c| same(side, c)));
                // Only the left side's: a right join's key column is not
                // the right side's own.
                let ranges = match self.args.how {
                    JoinType::Inner | JoinType::Left | JoinType::Semi | JoinType::Anti => {
                        kept_ranges(side, &self.schema)
                    }
                    _ => Vec::new(),
                };
                out.with_meta(None, kept.cloned()).with_ranges(ranges)
            }
            // Left rows stay in their partitions, so the left side's
            // divisions, partitioning and key ranges hold for the result
            // when their columns are there unchanged.
            Shape::BroadcastRight | Shape::Ranges => {
                let divisions = l.divisions().filter(|d| same(&l, &d.column)).cloned();
                let partitioning = l
                    .partitioning()
                    .filter(|p| p.columns.iter().all(|c| same(&l, c)))
                    .cloned();
                out.with_meta(divisions, partitioning)
                    .with_ranges(kept_ranges(&l, &self.schema))
            }
            Shape::BroadcastLeft => out,
        }
    }

    /// The kernel of this join's tasks, running `steps` (giving `schema`)
    /// after the join.
    fn kernel(&self, steps: &[Step], schema: &SchemaRef) -> JoinParts {
        JoinParts {
            left_on: self.left_on.iter().cloned().map(SerExpr).collect(),
            right_on: self.right_on.iter().cloned().map(SerExpr).collect(),
            args: PlBytes(self.args.clone()),
            steps: steps.to_vec(),
            streaming: streams(steps),
            keep: None,
            left: None,
            rights: 1,
            key_filter: self.key_filter(),
            eager: self.eager(steps, schema),
        }
    }

    /// The eager aggregation of `steps` (giving `schema`) after this join,
    /// where one applies: plain key columns, and no check that the left
    /// keys are unique (the first stage makes them so).
    fn eager(&self, steps: &[Step], schema: &SchemaRef) -> Option<Eager> {
        let plain = |on: &[Expr]| on.iter().map(plain_column).collect::<Option<Vec<_>>>();
        let (l, r) = (plain(&self.left_on)?, plain(&self.right_on)?);
        if matches!(
            self.args.validation,
            JoinValidation::OneToMany | JoinValidation::OneToOne
        ) {
            return None;
        }
        Eager::plan(
            &self.args.how,
            (self.left.schema(), &l),
            (self.right.schema(), &r),
            steps,
            schema,
        )
    }

    /// The key columns of a runtime key filter, where one applies: an
    /// inner, semi or right join (left rows without a match are dropped)
    /// on one plain column per side, of one integer, temporal or
    /// categorical type, where nulls do not match.
    fn key_filter(&self) -> Option<(String, String)> {
        let ([l], [r]) = (self.left_on.as_slice(), self.right_on.as_slice()) else {
            return None;
        };
        let (l, r) = (plain_column(l)?, plain_column(r)?);
        let drops_unmatched_left = matches!(
            self.args.how,
            JoinType::Inner | JoinType::Semi | JoinType::Right
        );
        let dtype = self.left.dtype(&l)?;
        // A check that the left keys are unique must see the rows the
        // filter would drop.
        let checks_left = matches!(
            self.args.validation,
            JoinValidation::OneToMany | JoinValidation::OneToOne
        );
        (drops_unmatched_left
            && !checks_left
            && !self.args.nulls_equal
            && self.right.dtype(&r) == Some(dtype)
            && crate::key_filter::filterable(dtype))
        .then_some((l, r))
    }

    /// Adds what the tasks of the join of `l` and `r` read (`stack`
    /// names the task of a stacked broadcast side) and gives, per output
    /// partition, the task's kernel (`kernel` with its own inputs) and
    /// inputs. `left`: the left side's partitions made inside the join's
    /// tasks, where they can be.
    #[allow(clippy::too_many_arguments)]
    fn tasks(
        &self,
        b: &mut GraphBuilder,
        l: &DataFrame,
        r: &DataFrame,
        shape: Shape,
        stack: &str,
        kernel: &JoinParts,
        left: Option<&PartPlans>,
    ) -> Vec<(JoinParts, Vec<Key>)> {
        let lefts: PartInputs = match (left, shape) {
            (_, Shape::BroadcastLeft) => Vec::new(),
            (Some(plans), _) => plans(b),
            (None, _) => l
                .add_parts(b, 0..l.npartitions())
                .into_iter()
                .map(|k| (None, vec![k]))
                .collect(),
        };
        let rk = r.add_parts(b, 0..r.npartitions());
        // A broadcast side is stacked once, in its own task.
        let stacked = |b: &mut GraphBuilder, side: &str, keys: Vec<Key>| {
            if keys.len() == 1 {
                return keys[0].clone();
            }
            let k = part_key(&format!("{stack}-{side}"), 0);
            if !b.contains(&k) {
                b.insert(
                    k.clone(),
                    Op::kernel(ConcatApply {
                        steps: Vec::new(),
                        keyed: false,
                    }),
                    keys,
                );
            }
            k
        };
        // Per task: its left input, its right inputs, and the bounds its
        // right rows must lie within.
        let tasks: Vec<(PartInput, Vec<Key>, Option<Keep>)> = match (
            shape,
            &self.inputs,
            self.right_on.first().and_then(plain_column),
        ) {
            (Shape::Ranges, Inputs::Ranges(ranges), Some(key)) => lefts
                .into_iter()
                .zip(&ranges.pairs)
                .map(|(left, (over, bounds))| {
                    let right = over.iter().map(|&j| rk[j].clone()).collect();
                    (left, right, Some((key.clone(), *bounds)))
                })
                .collect(),
            (Shape::Zip | Shape::Ranges, ..) => lefts
                .into_iter()
                .zip(rk)
                .map(|(left, k)| (left, vec![k], None))
                .collect(),
            (Shape::BroadcastRight, ..) => {
                let all = stacked(b, "right", rk);
                lefts
                    .into_iter()
                    .map(|left| (left, vec![all.clone()], None))
                    .collect()
            }
            (Shape::BroadcastLeft, ..) => {
                let lk = l.add_parts(b, 0..l.npartitions());
                let all = stacked(b, "left", lk);
                rk.into_iter()
                    .map(|k| ((None, vec![all.clone()]), vec![k], None))
                    .collect()
            }
        };
        tasks
            .into_iter()
            .map(|((plan, mut inputs), right, keep)| {
                let task = JoinParts {
                    left: plan.map(Box::new),
                    rights: right.len(),
                    keep,
                    ..kernel.clone()
                };
                inputs.extend(right);
                (task, inputs)
            })
            .collect()
    }

    /// The layer of join tasks over `l` and `r`, each running `steps` on
    /// its result (`schema` is the schema after them). Named `name`, or
    /// after the join and its inputs.
    ///
    /// A left side read from files is scanned inside each task that reads
    /// one of its partitions, in the join's own plan. When the steps
    /// aggregate without depending on row order (the task runs on the
    /// streaming engine), a left side that is itself such a join runs in
    /// the task too, so the whole chain is one pipelined plan.
    fn layer(
        self: &Arc<Self>,
        l: &DataFrame,
        r: &DataFrame,
        shape: Shape,
        name: Option<Arc<str>>,
        steps: &[Step],
        schema: SchemaRef,
    ) -> Arc<Layer> {
        let kernel = self.kernel(steps, &schema);
        let stack = self.plain_name(l, r, shape);
        let name = name.unwrap_or_else(|| stack.clone());
        let n = match shape {
            Shape::Zip | Shape::BroadcastRight | Shape::Ranges => l.npartitions(),
            Shape::BroadcastLeft => r.npartitions(),
        };
        let left = match shape {
            Shape::BroadcastLeft => None,
            _ => l.part_plans(kernel.streaming),
        };
        let (plan, l2, r2, name2) = (self.clone(), l.clone(), r.clone(), name.clone());
        let add = Box::new(move |b: &mut GraphBuilder| {
            let tasks = plan.tasks(b, &l2, &r2, shape, &stack, &kernel, left.as_ref());
            for (i, (task, inputs)) in tasks.into_iter().enumerate() {
                b.insert(part_key(&name2, i), Op::kernel(task), inputs);
            }
        });
        // Steps on the plain join's result run inside its tasks, and a
        // join downstream may run it inside its own.
        let (fuse, inline): (Option<Fuse>, Option<Inline>) = if steps.is_empty() {
            let (a, c) = (self.clone(), self.clone());
            (
                Some(Box::new(
                    move |name: &Arc<str>, steps: &[Step], schema: &SchemaRef| {
                        a.fused(name, steps, schema)
                    },
                )),
                Some(Box::new(move |steps: &[Step], schema: &SchemaRef| {
                    c.inlined(steps, schema)
                })),
            )
        } else {
            (None, None)
        };
        Arc::new(Layer {
            name,
            npartitions: n,
            schema,
            add,
            fuse,
            inline,
        })
    }

    /// The name of the plain join of `l` and `r` (no steps after it).
    fn plain_name(&self, l: &DataFrame, r: &DataFrame, shape: Shape) -> Arc<str> {
        let on = |v: &[Expr]| v.iter().cloned().map(SerExpr).collect::<Vec<_>>();
        layer_name(
            "join",
            &(
                on(&self.left_on),
                on(&self.right_on),
                PlBytes(self.args.clone()),
                shape,
            ),
            &[l.name(), r.name()],
        )
    }

    /// The layer `name` of this join followed by `steps` (giving `schema`)
    /// in the same tasks, its sides narrowed to what the steps need.
    fn fused(self: &Arc<Self>, name: &Arc<str>, steps: &[Step], schema: &SchemaRef) -> Arc<Layer> {
        let plan = self.narrowed(steps, schema).unwrap_or_else(|| self.clone());
        let (l, r, shape) = plan.sides();
        plan.layer(&l, &r, shape, Some(name.clone()), steps, schema.clone())
    }

    /// This join followed by `steps` (giving `schema`) as plans that run
    /// inside a downstream join's tasks, one per partition (see
    /// [`Layer::inline`]): where each partition's task reads one left
    /// partition and the steps do not depend on row order.
    fn inlined(self: &Arc<Self>, steps: &[Step], schema: &SchemaRef) -> Option<PartPlans> {
        if !order_free(steps) {
            return None;
        }
        let plan = self.narrowed(steps, schema).unwrap_or_else(|| self.clone());
        let (l, r, shape) = plan.sides();
        if matches!(shape, Shape::BroadcastLeft) {
            return None;
        }
        let kernel = plan.kernel(steps, schema);
        let stack = plan.plain_name(&l, &r, shape);
        let left = l.part_plans(true);
        Some(Box::new(move |b: &mut GraphBuilder| {
            plan.tasks(b, &l, &r, shape, &stack, &kernel, left.as_ref())
                .into_iter()
                .map(|(task, inputs)| (Some(LeftPlan::Join(Box::new(task))), inputs))
                .collect()
        }))
    }

    /// This join with each side reduced to the columns `steps` need from
    /// the result (and the keys), where that saves work: the side is read
    /// from files or made by a join (the `select` then runs in that task),
    /// or is about to be shuffled. `None` when nothing can be dropped or
    /// the steps' columns cannot all be named.
    ///
    /// Output names are kept as they were: a name is kept on both sides or
    /// on neither, so a right column is suffixed exactly when it was. The
    /// narrowed join must give the steps the same schema, or it is not
    /// used.
    fn narrowed(&self, steps: &[Step], schema: &SchemaRef) -> Option<Arc<JoinPlan>> {
        let needed: HashSet<PlSmallStr> =
            needed_columns(&self.schema, steps)?.into_iter().collect();
        let mut keys: HashSet<PlSmallStr> = HashSet::new();
        for e in self.left_on.iter().chain(&self.right_on) {
            keys.extend(root_names(e)?);
        }
        let suffix = self.args.suffix();
        let kept = |c: &PlSmallStr| {
            keys.contains(c)
                || needed.contains(c)
                || needed.contains(format!("{c}{suffix}").as_str())
        };
        let right_kept = |c: &PlSmallStr| match self.args.how {
            // Only the keys of the right side matter to these.
            JoinType::Semi | JoinType::Anti => keys.contains(c),
            _ => kept(c),
        };
        let shuffles = matches!(self.inputs, Inputs::Shuffled { .. });
        let narrow = |side: &DataFrame, keep: &dyn Fn(&PlSmallStr) -> bool| {
            let cols: Vec<Expr> = side
                .schema()
                .iter_names()
                .filter(|c| keep(c))
                .map(|c| col(c.clone()))
                .collect();
            if cols.len() < side.schema().len() && (shuffles || side.absorbs_steps()) {
                Some(side.select(cols))
            } else {
                None
            }
        };
        let left = narrow(&self.left, &kept);
        let right = narrow(&self.right, &right_kept);
        if left.is_none() && right.is_none() {
            return None;
        }
        let left = left.unwrap_or_else(|| self.left.clone());
        let right = right.unwrap_or_else(|| self.right.clone());
        let joined = join_schema(&left, &right, &self.left_on, &self.right_on, &self.args).ok()?;
        let after = output_schema(&joined, steps).ok()?;
        if after != *schema {
            return None;
        }
        Some(Arc::new(JoinPlan {
            left,
            right,
            schema: joined,
            ..self.clone()
        }))
    }
}

/// The schema of the join of `left` and `right`, found on empty frames.
fn join_schema(
    left: &DataFrame,
    right: &DataFrame,
    left_on: &[Expr],
    right_on: &[Expr],
    args: &JoinArgs,
) -> Result<SchemaRef, PolarsError> {
    crate::steps::planned(|| {
        PlFrame::empty_with_schema(left.schema())
            .lazy()
            .join(
                PlFrame::empty_with_schema(right.schema()).lazy(),
                left_on,
                right_on,
                args.clone(),
            )
            .collect_schema()
    })
}

/// Joins a left frame with right frames, then runs steps, in one Polars
/// plan. The left frame is the first argument, or made in the task
/// ([`LeftPlan`]: a scan, or another join reading the first arguments);
/// the next `rights` arguments are the right frames, stacked (several
/// where key ranges paired them).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct JoinParts {
    left_on: Vec<SerExpr>,
    right_on: Vec<SerExpr>,
    args: PlBytes<JoinArgs>,
    /// Per-partition steps on the join's result, in the same lazy plan.
    steps: Vec<Step>,
    /// Run on Polars' streaming engine (see [`streams`]).
    streaming: bool,
    /// Only the right rows whose key column (named) lies within these
    /// bounds (as `i64`) can match; `None` bounds: none can.
    keep: Option<Keep>,
    /// How the left side is made in the task (`None`: an argument).
    left: Option<Box<LeftPlan>>,
    /// How many right frames follow the left side's arguments.
    rights: usize,
    /// The left and right key columns of a runtime key filter
    /// ([`crate::key_filter`]): set where the join drops left rows without
    /// a match and its single keys are integers or dates of one type.
    #[serde(default)]
    key_filter: Option<(String, String)>,
    /// The steps as an eager aggregation ([`crate::eager`]), where they
    /// can be; used when the left partition has enough rows per right row.
    #[serde(default)]
    eager: Option<Eager>,
}

/// A right key column and the bounds its values must lie within.
type Keep = (String, Bounds);

/// How a join task makes its left side itself.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum LeftPlan {
    /// A Parquet partition, scanned in the task's plan.
    Scan(ReadParquetPart),
    /// Another join (and its steps), in the same plan; it reads its own
    /// arguments first.
    Join(Box<JoinParts>),
}

/// Per partition of a dataframe: the plan that makes it inside another
/// task (`None`: the partition itself is the input) and the keys of the
/// inputs it reads.
pub(crate) type PartInputs = Vec<PartInput>;

/// One partition's entry of [`PartInputs`].
pub(crate) type PartInput = (Option<LeftPlan>, Vec<Key>);

/// How another task can make a dataframe's partitions inside its own
/// plan: adds the tasks those plans read, and gives their plans and
/// inputs ([`DataFrame::part_plans`]).
pub(crate) type PartPlans = Box<dyn Fn(&mut GraphBuilder) -> PartInputs + Send + Sync>;

/// See [`Layer::inline`]: `(steps, schema) -> plans`.
pub(crate) type Inline = Box<dyn Fn(&[Step], &SchemaRef) -> Option<PartPlans> + Send + Sync>;

impl JoinParts {
    /// The files this task scans, for errors.
    fn paths(&self) -> Vec<&str> {
        match self.left.as_deref() {
            None => Vec::new(),
            Some(LeftPlan::Scan(s)) => vec![s.path()],
            Some(LeftPlan::Join(j)) => j.paths(),
        }
    }

    /// An error naming a file this task scans that cannot be opened.
    fn check(&self) -> Result<(), TaskError> {
        match self.left.as_deref() {
            None => Ok(()),
            Some(LeftPlan::Scan(s)) => s.check(),
            Some(LeftPlan::Join(j)) => j.check(),
        }
    }

    /// The lazy plan of this join and its steps, reading its frames from
    /// `args[*next..]` (and moving `next` past them).
    fn plan(&self, args: &[Value], next: &mut usize) -> Result<LazyFrame, TaskError> {
        // The left side, and its rows where known before it is made.
        let (l, left_rows) = match self.left.as_deref() {
            None => {
                *next += 1;
                let f = part_arg(args, *next - 1)?;
                (f.clone().lazy(), Some(f.height()))
            }
            Some(LeftPlan::Scan(s)) => (
                s.plan()
                    .map_err(|e| TaskError::failed(format!("{}: {e}", s.path())))?,
                Some(s.rows()),
            ),
            Some(LeftPlan::Join(j)) => (j.plan(args, next)?, None),
        };
        if self.rights == 0 || *next + self.rights > args.len() {
            return Err(TaskError::failed("a join task without its right side"));
        }
        let frames = (*next..*next + self.rights)
            .map(|i| part_arg(args, i).cloned())
            .collect::<Result<Vec<_>, _>>()?;
        *next += self.rights;
        // A left side made in this plan is filtered to the right side's
        // keys, which Polars pushes into its scan.
        let l = match (&self.key_filter, &self.left) {
            (Some((lk, rk)), Some(_)) => match crate::key_filter::filter(lk, rk, &frames) {
                Some(keep) => l.filter(keep),
                None => l,
            },
            _ => l,
        };
        let right_rows: usize = frames.iter().map(|f| f.height()).sum();
        let eager = self.eager.as_ref().filter(|_| {
            left_rows.is_some_and(|n| n >= right_rows.saturating_mul(MIN_ROWS_PER_KEY))
        });
        let l = match eager {
            Some(e) => e.first_stage(l),
            None => l,
        };
        let right: Vec<LazyFrame> = frames.into_iter().map(|f| f.lazy()).collect();
        let mut r = match right.len() {
            1 => right.into_iter().next().expect("one frame"),
            // One chunk: Polars gathers joined rows from several chunks
            // only for the types of its enabled features.
            _ => concat_lf(
                right,
                UnionArgs {
                    rechunk: true,
                    ..UnionArgs::default()
                },
            )
            .map_err(failed)?,
        };
        if let Some((key, bounds)) = &self.keep {
            let k = || col(key.as_str()).cast(DataType::Int64);
            r = r.filter(match bounds {
                Some((lo, hi)) => k().gt_eq(lit(*lo)).and(k().lt_eq(lit(*hi))),
                None => lit(false),
            });
        }
        let on = |v: &[SerExpr]| v.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
        let joined = l.join(
            r,
            on(&self.left_on),
            on(&self.right_on),
            self.args.0.clone(),
        );
        Ok(match eager {
            Some(e) => e.second_stage(joined),
            None => apply_all(&self.steps, joined),
        })
    }
}

/// The ranges of `side` (whose rows stay in their partitions) for the
/// columns that reach the join's result `schema` under the same name and
/// type.
fn kept_ranges(side: &DataFrame, schema: &SchemaRef) -> Vec<crate::ranges::KeyRanges> {
    let mut out = side.inner.ranges.clone();
    out.retain(|r| {
        schema.get(&r.column).is_some() && schema.get(&r.column) == side.dtype(&r.column)
    });
    out
}

/// Whether a join followed by `steps` may run on Polars' streaming engine:
/// when the steps aggregate by groups and nothing in them depends on the
/// order of rows, which the streaming join does not keep (it differs from
/// run to run). Only plain columns, literals, casts, arithmetic and
/// comparisons, conditionals, and sum, min, max, mean, count, length,
/// variance and distinct counts qualify; anything else (first, last, a
/// cumulative function, a head) keeps the in-memory engine, whose join
/// order is fixed.
fn streams(steps: &[Step]) -> bool {
    steps.iter().any(|s| matches!(s, Step::GroupBy(..))) && order_free(steps)
}

/// Whether `steps` give the same rows whatever the order of their input's
/// rows (up to the order of the result): only the expressions [`streams`]
/// allows, and no head.
fn order_free(steps: &[Step]) -> bool {
    let free = |e: &SerExpr| {
        (&e.0).into_iter().all(|node| match node {
            Expr::Column(_)
            | Expr::Literal(_)
            | Expr::Alias(..)
            | Expr::Cast { .. }
            | Expr::BinaryExpr { .. }
            | Expr::Ternary { .. }
            | Expr::Len => true,
            Expr::Agg(a) => matches!(
                a,
                AggExpr::Sum(_)
                    | AggExpr::Min { .. }
                    | AggExpr::Max { .. }
                    | AggExpr::Mean(_)
                    | AggExpr::Count { .. }
                    | AggExpr::Var(..)
                    | AggExpr::Std(..)
                    | AggExpr::NUnique(_)
            ),
            _ => false,
        })
    };
    steps.iter().all(|s| match s {
        Step::Select(e) | Step::WithColumns(e) => e.iter().all(free),
        Step::Filter(e) => free(e),
        Step::GroupBy(k, a) => k.iter().chain(a).all(free),
        Step::Sort(spec) => spec.by.iter().all(free),
        Step::Head(_) => false,
    })
}

impl rask_core::Kernel for JoinParts {
    const NAME: &'static str = "rask.dataframe.join";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        self.check()?;
        let plan = self.plan(args, &mut 0)?;
        let out = polars_pool(|| {
            if self.streaming {
                crate::kernels::collect(plan)
            } else {
                plan.collect()
            }
        })
        .map_err(|e| match self.paths().as_slice() {
            [] => failed(e),
            paths => TaskError::failed(format!("joining {}: {e}", paths.join(", "))),
        })?;
        Ok(Part::value(out))
    }
}

rask_core::register_kernel!(JoinParts);

#[cfg(test)]
mod tests {
    use polars::prelude::{col, len, lit};

    use super::*;

    fn ser(e: impl IntoIterator<Item = Expr>) -> Vec<SerExpr> {
        e.into_iter().map(SerExpr).collect()
    }

    #[test]
    fn key_filters_apply_where_unmatched_left_rows_are_dropped() {
        let l = crate::from_polars(
            polars::prelude::df!("a" => [1i64], "d" => [1i32], "s" => ["x"], "b" => [1i64])
                .unwrap(),
            1,
        )
        .unwrap();
        let r = l.clone();
        let filter = |lk: &[&str], rk: &[&str], args: JoinArgs| {
            JoinPlan {
                left: l.clone(),
                right: r.clone(),
                left_on: lk.iter().map(|c| col(*c)).collect(),
                right_on: rk.iter().map(|c| col(*c)).collect(),
                args,
                inputs: Inputs::BroadcastRight,
                schema: Default::default(),
            }
            .key_filter()
        };
        let how = |h: JoinType| JoinArgs::new(h);
        for h in [JoinType::Inner, JoinType::Semi, JoinType::Right] {
            assert_eq!(
                filter(&["a"], &["b"], how(h)),
                Some(("a".into(), "b".into()))
            );
        }
        // Joins that keep unmatched left rows.
        for h in [JoinType::Left, JoinType::Anti, JoinType::Full] {
            assert_eq!(filter(&["a"], &["b"], how(h)), None);
        }
        // Keys of two types, strings, several keys, expressions, null keys
        // that match.
        assert_eq!(filter(&["a"], &["d"], how(JoinType::Inner)), None);
        assert_eq!(filter(&["s"], &["s"], how(JoinType::Inner)), None);
        assert_eq!(filter(&["a", "d"], &["b", "d"], how(JoinType::Inner)), None);
        let expr = JoinPlan {
            left: l.clone(),
            right: r.clone(),
            left_on: vec![col("a") + lit(1)],
            right_on: vec![col("b")],
            args: how(JoinType::Inner),
            inputs: Inputs::BroadcastRight,
            schema: Default::default(),
        };
        assert_eq!(expr.key_filter(), None);
        let mut nulls = how(JoinType::Inner);
        nulls.nulls_equal = true;
        assert_eq!(filter(&["a"], &["b"], nulls), None);
        // A check of the left keys' uniqueness sees every left row.
        let mut unique = how(JoinType::Inner);
        unique.validation = JoinValidation::OneToMany;
        assert_eq!(filter(&["a"], &["b"], unique), None);
        assert_eq!(
            filter(&["d"], &["d"], how(JoinType::Inner)),
            Some(("d".into(), "d".into()))
        );
    }

    #[test]
    fn only_order_free_aggregations_stream() {
        let by_k = |aggs: Vec<Expr>| Step::GroupBy(ser([col("k")]), ser(aggs));
        let sum = by_k(vec![(col("v") * lit(2.0)).sum(), col("v").count(), len()]);
        let filter = Step::Filter(SerExpr(col("a").eq(col("b"))));
        assert!(streams(&[filter.clone(), sum.clone()]));
        // No aggregation: the join's own order is the result's.
        assert!(!streams(std::slice::from_ref(&filter)));
        // First and last depend on the order of rows.
        assert!(!streams(&[by_k(vec![col("v").first()])]));
        // So do functions this check does not know (a shift), and heads.
        let cum = Step::WithColumns(ser([col("v").shift(lit(1))]));
        assert!(!streams(&[cum, sum.clone()]));
        assert!(!streams(&[Step::Head(3), sum]));
    }
}
