//! `repartition(n)`: change the number of partitions, keeping row order.
//!
//! Fewer partitions: runs of neighbouring partitions are stacked
//! (partition `j` of the output stacks inputs `j·m/n … (j+1)·m/n`), which
//! keeps known divisions. More partitions: each input is cut into nearly
//! equal row slices, the extra cuts spread over the inputs; rows per
//! partition are not known before computing, so the outputs are as even
//! as the inputs are.

use std::sync::Arc;

use rask_core::{GraphBuilder, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::frame::{ConcatApply, DataFrame, Divisions, Layer, Source, layer_name, part_key};
use crate::kernels::{Part, part_arg};

impl DataFrame {
    /// The same rows, in the same order, in `npartitions` partitions
    /// (see the module docs of `repartition`).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let pl = df!("a" => (0..10i64).collect::<Vec<_>>()).unwrap();
    /// let d = dd::from_polars(pl.clone(), 3).unwrap();
    /// for n in [1, 2, 7] {
    ///     let r = d.repartition(n);
    ///     assert_eq!(r.npartitions(), n);
    ///     assert!(r.compute().unwrap().equals(&pl));
    /// }
    /// assert!(d.repartition(0).error().is_some());
    /// ```
    pub fn repartition(&self, npartitions: usize) -> DataFrame {
        if self.error().is_some() {
            return self.clone();
        }
        if let Some(msg) = crate::bad_npartitions(npartitions) {
            return self.with_error(format!("repartition: {msg}"));
        }
        let m = self.npartitions();
        if npartitions == m {
            return self.clone();
        }
        let name = layer_name("repartition", &npartitions, &[self.name()]);
        let (input, name2) = (self.clone(), name.clone());
        let n = npartitions;
        let divisions;
        let add: Box<dyn Fn(&mut GraphBuilder) + Send + Sync> = if n < m {
            let starts: Vec<usize> = (0..=n).map(|j| j * m / n).collect();
            divisions = self.divisions().map(|d| Divisions {
                column: d.column.clone(),
                bounds: starts.iter().map(|&s| d.bounds[s]).collect(),
            });
            Box::new(move |b: &mut GraphBuilder| {
                let parts = input.add_parts(b, 0..m);
                let kernel = Arc::new(ConcatApply {
                    steps: Vec::new(),
                    keyed: false,
                });
                for j in 0..n {
                    b.insert(
                        part_key(&name2, j),
                        Op::from_kernel(kernel.clone(), false),
                        parts[starts[j]..starts[j + 1]].iter().cloned(),
                    );
                }
            })
        } else {
            divisions = None;
            // Input i is cut into pieces[i] slices, the pieces summing to n.
            let pieces: Vec<usize> = (0..m).map(|i| (i + 1) * n / m - i * n / m).collect();
            Box::new(move |b: &mut GraphBuilder| {
                let parts = input.add_parts(b, 0..m);
                let mut j = 0;
                for (p, &k) in parts.iter().zip(&pieces) {
                    for piece in 0..k {
                        let slice = Slice {
                            piece: piece as u32,
                            of: k as u32,
                        };
                        b.insert(part_key(&name2, j), Op::kernel(slice), [p.clone()]);
                        j += 1;
                    }
                }
            })
        };
        DataFrame::from_source(
            Source::Layer(Arc::new(Layer {
                name,
                npartitions: n,
                schema: self.schema().clone(),
                add,
                fuse: None,
                inline: None,
            })),
            divisions,
        )
    }
}

/// Slice `piece` of `of` nearly equal row slices of the partition in
/// argument 0.
#[derive(Serialize, Deserialize)]
pub(crate) struct Slice {
    piece: u32,
    of: u32,
}

impl rask_core::Kernel for Slice {
    const NAME: &'static str = "rask.dataframe.slice";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let df = part_arg(args, 0)?;
        let h = df.height();
        let (p, of) = (self.piece as usize, self.of.max(1) as usize);
        let (start, end) = (p * h / of, (p + 1) * h / of);
        Ok(Part::value(df.slice(start as i64, end - start)))
    }
}

rask_core::register_kernel!(Slice);
