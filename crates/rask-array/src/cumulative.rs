//! Cumulative sums and products along an axis: `cumsum`, `cumprod`,
//! `nancumsum`, `nancumprod`.
//!
//! # Plan (Dask's)
//!
//! Let the blocks along the axis be `0..n`, for every lane of blocks (a
//! fixed index along the other axes):
//!
//! 1. **Local**: every block is scanned on its own (a blockwise task, so it
//!    fuses with the elementwise operations feeding it).
//! 2. **Carries**: `carry_1` is the last slice of `local_0` along the axis
//!    (the block's total, kept as an axis of length 1); `carry_k` is
//!    `carry_{k-1}` combined with the last slice of `local_{k-1}`. This is a
//!    sequential chain of small tasks per lane, the only part that cannot run
//!    in parallel; each reads one slice per block, so it is cheap. (Taking
//!    the last slice happens inside the carry task, which saves a layer of
//!    tasks.)
//! 3. **Result**: block `k > 0` is `local_k` combined with `carry_k`
//!    broadcast along the axis; block 0 is `local_0` unchanged.
//!
//! With a single block along the axis (including a zero-length axis) the
//! local scan is the whole result. The input is first cast to the type
//! NumPy accumulates in ([`Accumulate::Acc`]: `u16` scans in `u64`), a cast
//! that fuses with the local scan; `i64`/`u64` wrap around on overflow, as
//! in NumPy; the NaN-skipping versions replace NaN by the identity (0 for sums,
//! 1 for products) before scanning.
//!
//! The three steps are the registered kernels `rask.array.cumulative`,
//! `rask.array.cumulative_carry` and `rask.array.cumulative_apply`, whose
//! parameters are the scan (operation, NaN handling) and the axis.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use ndarray::{ArrayD, Axis, IxDyn, Slice};
use rask_core::{Kernel, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::{Accumulate, Number};
use crate::kernels::{elem_name, register_numbers};

/// The operation of a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum ScanOp {
    Sum,
    Prod,
}

/// Which scan: the operation, and whether NaN counts as its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Scan {
    op: ScanOp,
    /// Replace NaN by the identity before scanning.
    skip_nan: bool,
}

impl Scan {
    const fn sum(skip_nan: bool) -> Self {
        Scan {
            op: ScanOp::Sum,
            skip_nan,
        }
    }

    const fn prod(skip_nan: bool) -> Self {
        Scan {
            op: ScanOp::Prod,
            skip_nan,
        }
    }

    /// NumPy's name of the scan.
    fn name(self) -> &'static str {
        match (self.op, self.skip_nan) {
            (ScanOp::Sum, false) => "cumsum",
            (ScanOp::Sum, true) => "nancumsum",
            (ScanOp::Prod, false) => "cumprod",
            (ScanOp::Prod, true) => "nancumprod",
        }
    }

    /// The combining function (wrapping for integers).
    fn combine<T: Number>(self) -> fn(T, T) -> T {
        match self.op {
            ScanOp::Sum => T::wrapping_add,
            ScanOp::Prod => T::wrapping_mul,
        }
    }

    fn identity<T: Number>(self) -> T {
        match self.op {
            ScanOp::Sum => T::zero(),
            ScanOp::Prod => T::one(),
        }
    }

    /// That `axis` is an axis of `block`, for a task of this scan.
    fn check_axis<T>(self, block: &ArrayD<T>, axis: usize) -> Result<(), TaskError> {
        if axis < block.ndim() {
            return Ok(());
        }
        Err(TaskError::failed(format!(
            "{}: axis {axis} is out of range for a block of shape {}",
            self.name(),
            fmt_shape(block.shape())
        )))
    }

    /// The scan of one block along `axis`.
    fn local<T: Number>(self, block: &ArrayD<T>, axis: usize) -> Result<ArrayD<T>, TaskError> {
        self.check_axis(block, axis)?;
        let mut out = if self.skip_nan {
            let id = self.identity();
            block.mapv(|v| if v.is_nan_value() { id } else { v })
        } else {
            block.clone()
        };
        let f = self.combine::<T>();
        out.accumulate_axis_inplace(Axis(axis), |&prev, cur| *cur = f(prev, *cur));
        Ok(out)
    }

    /// The last slice of a scanned block along `axis`, as an axis of length
    /// 1 (the identity if the block is empty along the axis).
    fn last<T: Number>(self, scanned: &ArrayD<T>, axis: usize) -> Result<ArrayD<T>, TaskError> {
        self.check_axis(scanned, axis)?;
        let len = scanned.len_of(Axis(axis));
        if len == 0 {
            let mut shape = scanned.shape().to_vec();
            shape[axis] = 1;
            return Ok(ArrayD::from_elem(IxDyn(&shape), self.identity()));
        }
        Ok(scanned
            .slice_axis(Axis(axis), Slice::from(len - 1..len))
            .to_owned())
    }
}

/// Step 1: the scan of one block on its own.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct ScanBlock<T> {
    scan: Scan,
    axis: usize,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for ScanBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.cumulative", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let block = block_arg::<T>(args, 0)?;
        Ok(block_value(self.scan.local(block, self.axis)?))
    }
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.scan.name())
    }
}

/// Step 2: a carry from the previous carry (if any) and the last slice of
/// a scanned block (the last argument).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct ScanCarry<T> {
    scan: Scan,
    axis: usize,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for ScanCarry<T> {
    const NAME: &'static str = elem_name!("rask.array.cumulative_carry", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let last = self.scan.last(
            block_arg::<T>(args, args.len().saturating_sub(1))?,
            self.axis,
        )?;
        if args.len() == 1 {
            return Ok(block_value(last));
        }
        let mut carry = block_arg::<T>(args, 0)?.clone();
        check_same_shape(&carry, &last)?;
        let f = self.scan.combine::<T>();
        carry.zip_mut_with(&last, |c, &l| *c = f(*c, l));
        Ok(block_value(carry))
    }
}

/// Step 3: a scanned block combined with its carry (the second argument)
/// broadcast along the axis; without a carry, the block itself.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct ScanApply<T> {
    scan: Scan,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for ScanApply<T> {
    const NAME: &'static str = elem_name!("rask.array.cumulative_apply", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let block = block_arg::<T>(args, 0)?;
        if args.len() == 1 {
            return Ok(args[0].clone());
        }
        let mut out = block.clone();
        let carry = block_arg::<T>(args, 1)?;
        let bc = carry.broadcast(out.raw_dim()).ok_or_else(|| {
            TaskError::failed(format!(
                "a carry of shape {} does not broadcast to its block of shape {}",
                fmt_shape(carry.shape()),
                fmt_shape(out.shape())
            ))
        })?;
        let f = self.scan.combine::<T>();
        out.zip_mut_with(&bc, |x, &c| *x = f(c, *x));
        Ok(block_value(out))
    }
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.scan.name())
    }
}

register_numbers!(ScanBlock);
register_numbers!(ScanCarry);
register_numbers!(ScanApply);

impl<T: Accumulate> Array<T> {
    /// Cumulative sum along `axis` (NumPy's `cumsum(axis=...)`), in the
    /// type NumPy accumulates in ([`Accumulate::Acc`]: `i64` for `bool` and
    /// signed integers, `u64` for unsigned, floats their own type); only
    /// `i64`/`u64` wrap around on overflow.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::{Axis, array}};
    /// let x = Array::from_ndarray(array![[1i32, 2, 3], [4, 5, 6]].into_dyn(), &[1, 2]).unwrap();
    /// // int32 accumulates in int64, as NumPy's.
    /// let rows: Array<i64> = x.cumsum(Axis(1));
    /// assert_eq!(rows.compute().unwrap(), array![[1, 3, 6], [4, 9, 15]].into_dyn());
    /// assert_eq!(x.cumsum(Axis(0)).compute().unwrap(), array![[1, 2, 3], [5, 7, 9]].into_dyn());
    /// let frames = Array::<u16>::full(&[3], &[1], u16::MAX).unwrap();
    /// let run: Array<u64> = frames.cumsum(Axis(0));
    /// assert_eq!(run.compute().unwrap()[2], 3 * u16::MAX as u64);
    /// ```
    pub fn cumsum(&self, axis: Axis) -> Array<T::Acc> {
        self.cast_or_same::<T::Acc>()
            .scan(Scan::sum(false), axis.index())
    }

    /// Cumulative product along `axis` (NumPy's `cumprod(axis=...)`), in
    /// [`Accumulate::Acc`] as [`Array::cumsum`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::{Axis, array}};
    /// let x = Array::from_ndarray(array![1u8, 2, 3, 4, 5].into_dyn(), &[2]).unwrap();
    /// assert_eq!(x.cumprod(Axis(0)).compute().unwrap(), array![1u64, 2, 6, 24, 120].into_dyn());
    /// ```
    pub fn cumprod(&self, axis: Axis) -> Array<T::Acc> {
        self.cast_or_same::<T::Acc>()
            .scan(Scan::prod(false), axis.index())
    }

    /// Cumulative sum along `axis` treating NaN as zero (NumPy's
    /// `nancumsum`), in [`Accumulate::Acc`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::{Axis, array}};
    /// let x = Array::from_ndarray(array![f64::NAN, 1.0, f64::NAN, 2.0].into_dyn(), &[3]).unwrap();
    /// assert_eq!(x.nancumsum(Axis(0)).compute().unwrap(), array![0.0, 1.0, 1.0, 3.0].into_dyn());
    /// ```
    pub fn nancumsum(&self, axis: Axis) -> Array<T::Acc> {
        self.cast_or_same::<T::Acc>()
            .scan(Scan::sum(true), axis.index())
    }

    /// Cumulative product along `axis` treating NaN as one (NumPy's
    /// `nancumprod`), in [`Accumulate::Acc`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::{Axis, array}};
    /// let x = Array::from_ndarray(array![2.0, f64::NAN, 3.0].into_dyn(), &[1]).unwrap();
    /// assert_eq!(x.nancumprod(Axis(0)).compute().unwrap(), array![2.0, 2.0, 6.0].into_dyn());
    /// ```
    pub fn nancumprod(&self, axis: Axis) -> Array<T::Acc> {
        self.cast_or_same::<T::Acc>()
            .scan(Scan::prod(true), axis.index())
    }
}

impl<T: Number> Array<T> {
    /// Builds the local / carry / result layers of a scan along `axis`.
    fn scan(&self, scan: Scan, axis: usize) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let name = scan.name();
        if axis >= self.ndim() {
            return Array::invalid(format!(
                "{name}: axis {axis} is out of range for an array of shape {} ({} axes)",
                fmt_shape(self.shape()),
                self.ndim()
            ));
        }

        // 1. Scan every block on its own.
        let src = self.node.name.clone();
        let params = (scan, axis);
        let local: Array<T> = Array::kernel_layer(
            name,
            &params,
            self.chunks().clone(),
            vec![self.input()],
            move |idx| BlockTask {
                op: Op::kernel_blockwise(ScanBlock::<T> {
                    scan,
                    axis,
                    _t: PhantomData,
                }),
                deps: vec![block_key(&src, idx)],
            },
        );
        let n = self.numblocks()[axis];
        if n <= 1 {
            return local;
        }

        // 2. Carries: block j of this layer is the carry of block j + 1. The
        // chain reads the layer's own blocks, so the closure learns the
        // layer's name once the layer exists.
        let mut carry_chunks = self.chunks().as_slices().to_vec();
        carry_chunks[axis] = vec![1; n - 1];
        let local_name = local.node.name.clone();
        let own_name: Arc<OnceLock<Arc<str>>> = Arc::new(OnceLock::new());
        let own = own_name.clone();
        let carry: Array<T> = Array::kernel_layer(
            "cumulative-carry",
            &params,
            Chunks::from_vec(carry_chunks),
            vec![local.input()],
            move |idx| {
                let j = idx[axis];
                let mut deps = Vec::with_capacity(2);
                if j > 0 {
                    let mut prev = idx.to_vec();
                    prev[axis] = j - 1;
                    let own = own
                        .get()
                        .expect("the name is set right after the layer is made, before any task");
                    deps.push(block_key(own, &prev));
                }
                deps.push(block_key(&local_name, idx));
                BlockTask {
                    op: Op::kernel(ScanCarry::<T> {
                        scan,
                        axis,
                        _t: PhantomData,
                    }),
                    deps,
                }
            },
        );
        own_name
            .set(carry.node.name.clone())
            .expect("the name is set only here");

        // 3. Results: local blocks plus their carries.
        let (local_name, carry_name) = (local.node.name.clone(), carry.node.name.clone());
        Array::kernel_layer(
            name,
            &params,
            self.chunks().clone(),
            vec![local.input(), carry.input()],
            move |idx| {
                let op = Op::kernel_blockwise(ScanApply::<T> {
                    scan,
                    _t: PhantomData,
                });
                let k = idx[axis];
                if k == 0 {
                    return BlockTask {
                        op,
                        deps: vec![block_key(&local_name, idx)],
                    };
                }
                let mut cidx = idx.to_vec();
                cidx[axis] = k - 1;
                BlockTask {
                    op,
                    deps: vec![block_key(&local_name, idx), block_key(&carry_name, &cidx)],
                }
            },
        )
    }
}

/// Carries of one lane must have equal shapes.
fn check_same_shape<T>(a: &ArrayD<T>, b: &ArrayD<T>) -> Result<(), TaskError> {
    if a.shape() == b.shape() {
        Ok(())
    } else {
        Err(TaskError::failed(format!(
            "a carry of shape {} meets a block total of shape {}",
            fmt_shape(a.shape()),
            fmt_shape(b.shape())
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(shape: &[usize]) -> Value {
        block_value(ArrayD::from_elem(IxDyn(shape), 2i64))
    }

    #[test]
    fn axes_and_carries_that_do_not_fit_are_task_errors() {
        let scan = Scan::sum(false);
        let local = |axis| ScanBlock::<i64> {
            scan,
            axis,
            _t: PhantomData,
        };
        assert!(local(1).run(&[block(&[2, 3])]).is_ok());
        assert!(local(2).run(&[block(&[2, 3])]).is_err());
        let carry = |axis| ScanCarry::<i64> {
            scan,
            axis,
            _t: PhantomData,
        };
        assert!(carry(0).run(&[block(&[1, 3]), block(&[2, 3])]).is_ok());
        assert!(carry(0).run(&[block(&[1, 2]), block(&[2, 3])]).is_err());
        assert!(carry(5).run(&[block(&[2, 3])]).is_err());
        assert!(carry(0).run(&[]).is_err());
        let apply = ScanApply::<i64> {
            scan,
            _t: PhantomData,
        };
        assert!(apply.run(&[block(&[2, 3]), block(&[1, 3])]).is_ok());
        assert!(apply.run(&[block(&[2, 3]), block(&[1, 2])]).is_err());
    }
}
