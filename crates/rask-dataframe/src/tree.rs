//! Tree reductions over partitions.
//!
//! Partitions are combined `split_every` at a time, level by level, until
//! one is left; every combination stacks its inputs and runs the `combine`
//! steps on them, and the last one runs `finish` after `combine`. The
//! combine steps must be *re-aggregations*: running them on stacked results
//! of themselves gives the same answer as running them once on everything
//! (a sum of partial sums, a minimum of minima), so the shape of the tree
//! never changes the result.

use std::sync::Arc;

use rask_core::{GraphBuilder, Op};

use crate::frame::{ConcatApply, DataFrame, Layer, Source, layer_name, part_key};
use crate::steps::{Step, output_schema};

/// A one-partition dataframe: `input`'s partitions reduced by `combine`,
/// then `finish`. `keyed`: the partitions are group-by results that
/// `combine`'s first step re-groups (see `ConcatApply::keyed`).
pub(crate) fn reduce(
    input: &DataFrame,
    what: &str,
    combine: Vec<Step>,
    finish: Vec<Step>,
    split_every: usize,
    keyed: bool,
) -> DataFrame {
    let split_every = split_every.max(2);
    let schema = {
        let all: Vec<Step> = combine.iter().chain(&finish).cloned().collect();
        match output_schema(input.schema(), &all) {
            Ok(s) => s,
            Err(e) => return input.with_error(format!("{what}: {e}")),
        }
    };
    let name = layer_name(what, &(&combine, &finish, split_every), &[input.name()]);
    let input2 = input.clone();
    let name2 = name.clone();
    let add = Box::new(move |b: &mut GraphBuilder| {
        let mut level = input2.add_parts(b, 0..input2.npartitions());
        let combine_k = Arc::new(ConcatApply {
            steps: combine.clone(),
            keyed,
        });
        let mut depth = 0usize;
        while level.len() > split_every {
            let lname = format!("{name2}-level{depth}");
            level = level
                .chunks(split_every)
                .enumerate()
                .map(|(j, group)| {
                    let k = part_key(&lname, j);
                    b.insert(
                        k.clone(),
                        Op::from_kernel(combine_k.clone(), false),
                        group.iter().cloned(),
                    );
                    k
                })
                .collect();
            depth += 1;
        }
        let last = ConcatApply {
            steps: combine.iter().chain(&finish).cloned().collect(),
            keyed,
        };
        b.insert(part_key(&name2, 0), Op::kernel(last), level);
    });
    DataFrame::from_source(
        Source::Layer(Arc::new(Layer {
            name,
            npartitions: 1,
            schema,
            add,
            fuse: None,
            inline: None,
        })),
        None,
    )
}
