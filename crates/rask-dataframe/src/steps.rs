//! Per-partition steps: the part of a dataframe's plan that runs on each
//! partition alone (`select`, `filter`, `with_columns`).
//!
//! Steps are kept as data, not as tasks: a chain of them is fused into one
//! Polars lazy plan per partition, run inside the task that makes the
//! partition (a reader's task, when the dataframe comes from files), so
//! Polars optimizes the chain as a whole and a reader is told which columns
//! the chain needs ([`needed_columns`]).
//!
//! Expressions and schemas travel inside kernel parameters as bytes in
//! Polars' own compact encoding (`polars_utils::pl_serialize`, bincode):
//! rask's parameters are postcard, which is not self-describing, and the
//! Polars encoding is the one Polars keeps working for its own plans.

use std::collections::BTreeSet;

use polars::polars_utils::pl_serialize;
use polars::prelude::{
    DataFrame as PlFrame, Expr, IdxSize, IntoLazy, LazyFrame, PlSmallStr, PolarsError, Schema,
    SchemaRef,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One step of a per-partition plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Step {
    /// Keep only these expressions' results.
    Select(Vec<SerExpr>),
    /// Keep the rows where the predicate is true.
    Filter(SerExpr),
    /// Add or replace columns.
    WithColumns(Vec<SerExpr>),
    /// Keep the first `n` rows.
    Head(u64),
    /// Group by keys and aggregate (a stage of a tree reduction).
    GroupBy(Vec<SerExpr>, Vec<SerExpr>),
    /// Sort the partition's rows (a sort whose partitions already hold
    /// disjoint, ordered key ranges; see `sort`).
    Sort(crate::shuffle::SortSpec),
}

impl Step {
    /// Appends this step to a lazy plan.
    pub(crate) fn apply(&self, lf: LazyFrame) -> LazyFrame {
        match self {
            Step::Select(e) => lf.select(e.iter().map(|e| e.0.clone()).collect::<Vec<_>>()),
            Step::Filter(e) => lf.filter(e.0.clone()),
            Step::WithColumns(e) => {
                lf.with_columns(e.iter().map(|e| e.0.clone()).collect::<Vec<_>>())
            }
            // A partition holds at most `IdxSize::MAX` rows, so a larger
            // `n` keeps them all.
            Step::Head(n) => lf.limit(IdxSize::try_from(*n).unwrap_or(IdxSize::MAX)),
            Step::GroupBy(keys, aggs) => lf
                .group_by(keys.iter().map(|e| e.0.clone()).collect::<Vec<_>>())
                .agg(aggs.iter().map(|e| e.0.clone()).collect::<Vec<_>>()),
            Step::Sort(spec) => spec.apply(lf),
        }
    }
}

/// Appends every step to a lazy plan.
pub(crate) fn apply_all(steps: &[Step], mut lf: LazyFrame) -> LazyFrame {
    for s in steps {
        lf = s.apply(lf);
    }
    lf
}

/// Runs the steps on one partition (no copy when there are none).
pub(crate) fn run_steps(steps: &[Step], df: PlFrame) -> Result<PlFrame, PolarsError> {
    if steps.is_empty() {
        return Ok(df);
    }
    crate::kernels::collect(apply_all(steps, df.lazy()))
}

/// The schema the steps give from `input`, found on an empty frame: checks
/// column names and types without reading data ([`planned`]).
pub(crate) fn output_schema(input: &Schema, steps: &[Step]) -> Result<SchemaRef, PolarsError> {
    planned(|| apply_all(steps, PlFrame::empty_with_schema(input).lazy()).collect_schema())
}

/// `plan()`, a Polars call made while planning in the caller's thread
/// (schemas found on empty frames), with a panic inside Polars (an
/// expression it cannot plan) turned into an error: no panic leaves the
/// public API.
pub(crate) fn planned<R>(plan: impl FnOnce() -> Result<R, PolarsError>) -> Result<R, PolarsError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(plan)).unwrap_or_else(|p| {
        Err(PolarsError::ComputeError(
            format!("Polars panicked while planning: {}", panic_message(p)).into(),
        ))
    })
}

/// The message a panic was raised with (as a task's panic reports it).
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match rask_core::TaskError::from_panic(payload) {
        rask_core::TaskError::Panicked(message) => message,
        other => other.to_string(),
    }
}

/// The columns of the input that the steps read, or `None` for all of them
/// (a wildcard or regex selection, or no `select` that narrows the frame).
/// Walks the steps backwards: a `select` resets the set to what its
/// expressions read; a `filter` adds what its predicate reads; a
/// `with_columns` replaces the columns it makes by what it reads.
pub(crate) fn needed_columns(input: &Schema, steps: &[Step]) -> Option<Vec<PlSmallStr>> {
    let mut needed: Option<BTreeSet<PlSmallStr>> = None;
    let roots = |exprs: &[SerExpr]| -> Option<BTreeSet<PlSmallStr>> {
        let mut out = BTreeSet::new();
        for e in exprs {
            out.extend(root_names(&e.0)?);
        }
        Some(out)
    };
    let widen =
        |needed: Option<BTreeSet<PlSmallStr>>, r: Option<BTreeSet<PlSmallStr>>| match (needed, r) {
            (Some(mut n), Some(r)) => {
                n.extend(r);
                Some(n)
            }
            _ => None,
        };
    for step in steps.iter().rev() {
        match step {
            Step::Select(exprs) => needed = roots(exprs),
            Step::Head(_) => {}
            Step::GroupBy(keys, aggs) => {
                needed = roots(keys).zip(roots(aggs)).map(|(mut k, a)| {
                    k.extend(a);
                    k
                });
            }
            // Rows are dropped or reordered: what the step reads is needed
            // besides what comes after it.
            Step::Filter(e) => needed = widen(needed, roots(std::slice::from_ref(e))),
            Step::Sort(spec) => needed = widen(needed, roots(&spec.by)),
            Step::WithColumns(exprs) => {
                let Some(mut n) = needed else { continue };
                for e in exprs {
                    if let Some(name) = plain_output_name(&e.0) {
                        n.remove(name);
                    }
                }
                needed = roots(exprs).map(|r| {
                    n.extend(r);
                    n
                });
            }
        }
    }
    // Keep the input's order, and only names it has (an expression may name
    // a column made by an earlier step of the same chain).
    needed.map(|n| {
        input
            .iter_names()
            .filter(|c| n.contains(*c))
            .cloned()
            .collect()
    })
}

/// The columns an expression reads, or `None` when it selects columns by
/// pattern (a wildcard, a regex, a selector).
pub(crate) fn root_names(e: &Expr) -> Option<BTreeSet<PlSmallStr>> {
    let mut out = BTreeSet::new();
    for node in e {
        match node {
            Expr::Column(name) => {
                if name.as_str() == "*" || (name.starts_with('^') && name.ends_with('$')) {
                    return None;
                }
                out.insert(name.clone());
            }
            Expr::Selector(_) => return None,
            _ => {}
        }
    }
    Some(out)
}

/// The output name of an aliased expression or a plain column; `None`
/// when finding it would need Polars' full rules (then nothing is assumed).
fn plain_output_name(e: &Expr) -> Option<&PlSmallStr> {
    match e {
        Expr::Alias(_, name) | Expr::Column(name) => Some(name),
        _ => None,
    }
}

/// An expression that serializes as bytes in Polars' compact encoding.
#[derive(Clone, Debug)]
pub(crate) struct SerExpr(pub Expr);

impl Serialize for SerExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        pl_serialize::SerializeOptions::default()
            .serialize_into_writer::<_, _, false>(&mut bytes, &self.0)
            .map_err(serde::ser::Error::custom)?;
        s.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for SerExpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde_bytes_vec(d)?;
        pl_serialize::SerializeOptions::default()
            .deserialize_from_reader::<Expr, _, false>(bytes.as_slice())
            .map(SerExpr)
            .map_err(serde::de::Error::custom)
    }
}

/// A schema that serializes as bytes in Polars' compact encoding.
#[derive(Clone, Debug)]
pub(crate) struct SerSchema(pub SchemaRef);

impl Serialize for SerSchema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        pl_serialize::SerializeOptions::default()
            .serialize_into_writer::<_, _, false>(&mut bytes, &*self.0)
            .map_err(serde::ser::Error::custom)?;
        s.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for SerSchema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde_bytes_vec(d)?;
        pl_serialize::SerializeOptions::default()
            .deserialize_from_reader::<Schema, _, false>(bytes.as_slice())
            .map(|s| SerSchema(std::sync::Arc::new(s)))
            .map_err(serde::de::Error::custom)
    }
}

/// Reads a byte string (postcard writes `serialize_bytes` as a length and
/// the bytes).
fn serde_bytes_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_borrowed_bytes<E: serde::de::Error>(self, v: &'de [u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = a.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    d.deserialize_byte_buf(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn schema() -> Schema {
        Schema::from_iter([
            Field::new("a".into(), DataType::Int64),
            Field::new("b".into(), DataType::Float64),
            Field::new("c".into(), DataType::String),
        ])
    }

    #[test]
    fn expressions_round_trip_through_postcard() {
        let steps = vec![
            Step::Filter(SerExpr(col("a").gt(lit(3)))),
            Step::WithColumns(vec![SerExpr((col("b") * lit(2.0)).alias("d"))]),
            Step::Select(vec![SerExpr(col("d")), SerExpr(col("c"))]),
        ];
        let bytes = postcard::to_allocvec(&steps).unwrap();
        let back: Vec<Step> = postcard::from_bytes(&bytes).unwrap();
        let s = output_schema(&schema(), &back).unwrap();
        assert_eq!(
            s.iter_names().map(|n| n.as_str()).collect::<Vec<_>>(),
            ["d", "c"]
        );
        let sch = SerSchema(Arc::new(schema()));
        let b = postcard::to_allocvec(&sch).unwrap();
        let back: SerSchema = postcard::from_bytes(&b).unwrap();
        assert_eq!(*back.0, schema());
    }

    #[test]
    fn needed_columns_follow_the_chain() {
        let s = schema();
        let steps = vec![
            Step::Filter(SerExpr(col("a").gt(lit(3)))),
            Step::WithColumns(vec![SerExpr((col("b") * lit(2.0)).alias("d"))]),
            Step::Select(vec![SerExpr(col("d"))]),
        ];
        let n = needed_columns(&s, &steps).unwrap();
        assert_eq!(n, ["a", "b"]);
        assert_eq!(needed_columns(&s, &steps[..1]), None);
        assert_eq!(
            needed_columns(&s, &[Step::Select(vec![SerExpr(all().as_expr())])]),
            None
        );
    }
}
