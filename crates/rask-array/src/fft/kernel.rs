//! The tasks of the transforms: one registered kernel per block applying
//! a list of 1-d steps (complex, real-to-complex, complex-to-real) along
//! axes that are whole in the block, through `rustfft` and `realfft`.

use std::marker::PhantomData;

use ndarray::{ArrayD, Axis, IxDyn, Zip};
use num_complex::Complex;
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use super::{FftElement, FftFloat, Work};
use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::ComplexElement;

/// One 1-d transform along an axis of a block.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(super) enum Step {
    /// Complex to complex, `n` points (the axis cropped or zero-padded),
    /// inverse (scaled by `1/n`) or forward.
    C2c {
        axis: usize,
        n: usize,
        inverse: bool,
    },
    /// Real to complex (`rfft`): `n` points in, `n / 2 + 1` out.
    R2c { axis: usize, n: usize },
    /// Complex to real (`irfft`): the first `n / 2 + 1` points in (cropped
    /// or zero-padded), `n` out, scaled by `1/n`.
    C2r { axis: usize, n: usize },
}

impl Step {
    fn axis(self) -> usize {
        match self {
            Step::C2c { axis, .. } | Step::R2c { axis, .. } | Step::C2r { axis, .. } => axis,
        }
    }

    /// The length of the axis after the step.
    fn out_len(self) -> usize {
        match self {
            Step::C2c { n, .. } | Step::C2r { n, .. } => n,
            Step::R2c { n, .. } => n / 2 + 1,
        }
    }
}

/// The task of one block: its steps, in order. The input and output
/// element types name the kernel.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct FftBlock<I, O> {
    steps: Vec<Step>,
    _t: PhantomData<(I, O)>,
}

/// Kernel names by the input's and output's element types, in
/// `Element::INDEX` order from `float32` (9) to `complex128` (12).
const FFT_NAMES: [[&str; 4]; 4] = [
    [
        "rask.array.fft<float32,float32>",
        "rask.array.fft<float32,float64>",
        "rask.array.fft<float32,complex64>",
        "rask.array.fft<float32,complex128>",
    ],
    [
        "rask.array.fft<float64,float32>",
        "rask.array.fft<float64,float64>",
        "rask.array.fft<float64,complex64>",
        "rask.array.fft<float64,complex128>",
    ],
    [
        "rask.array.fft<complex64,float32>",
        "rask.array.fft<complex64,float64>",
        "rask.array.fft<complex64,complex64>",
        "rask.array.fft<complex64,complex128>",
    ],
    [
        "rask.array.fft<complex128,float32>",
        "rask.array.fft<complex128,float64>",
        "rask.array.fft<complex128,complex64>",
        "rask.array.fft<complex128,complex128>",
    ],
];

impl<I, O> Kernel for FftBlock<I, O>
where
    I: FftElement,
    O: FftElement<Real = I::Real>,
{
    const NAME: &'static str = FFT_NAMES[I::INDEX - 9][O::INDEX - 9];
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let block = block_arg::<I>(args, 0)?;
        let mut work = I::into_work(block.clone());
        for &step in &self.steps {
            work = apply_step(work, step)?;
        }
        let out = O::from_work(work).map_err(|found| {
            TaskError::failed(format!(
                "an FFT block ends as {found}, where {} was expected",
                O::DTYPE
            ))
        })?;
        Ok(block_value(out))
    }
}

rask_core::register_kernel!(
    FftBlock<f32, Complex<f32>>,
    FftBlock<f64, Complex<f64>>,
    FftBlock<Complex<f32>, Complex<f32>>,
    FftBlock<Complex<f64>, Complex<f64>>,
    FftBlock<Complex<f32>, f32>,
    FftBlock<Complex<f64>, f64>
);

/// The block after one step. Lanes along the axis are copied into a
/// buffer of `rustfft`'s complex type (cropped or zero-padded), transformed
/// in place and copied out.
fn apply_step<R: FftFloat>(work: Work<R>, step: Step) -> std::result::Result<Work<R>, TaskError> {
    let axis = step.axis();
    let mut shape = match &work {
        Work::Real(b) => b.shape().to_vec(),
        Work::Complex(b) => b.shape().to_vec(),
    };
    if axis >= shape.len() {
        return Err(TaskError::failed(format!(
            "an FFT along axis {axis} got a block with {} axes",
            shape.len()
        )));
    }
    shape[axis] = step.out_len();
    let zero = Complex::new(R::zero(), R::zero());
    let to_c = |v: R::Spectrum| Complex::new(v.re(), v.im());
    let from_c = |c: Complex<R>| R::Spectrum::from_parts(c.re, c.im);
    let n_as_r = |n: usize| <R as num_traits::NumCast>::from(n).unwrap_or_else(R::one);
    match step {
        Step::C2c { n, inverse, .. } => {
            let input = match work {
                Work::Complex(b) => b,
                Work::Real(b) => b.mapv(|v| R::Spectrum::from_parts(v, R::zero())),
            };
            let mut out = ArrayD::from_elem(IxDyn(&shape), from_c(zero));
            let mut planner = rustfft::FftPlanner::<R>::new();
            let plan = if inverse {
                planner.plan_fft_inverse(n)
            } else {
                planner.plan_fft_forward(n)
            };
            let mut scratch = vec![zero; plan.get_inplace_scratch_len()];
            let mut buf = vec![zero; n];
            let scale = if inverse {
                R::one() / n_as_r(n)
            } else {
                R::one()
            };
            Zip::from(out.lanes_mut(Axis(axis)))
                .and(input.lanes(Axis(axis)))
                .for_each(|mut o, i| {
                    fill(&mut buf, i.iter().map(|&v| to_c(v)), zero);
                    plan.process_with_scratch(&mut buf, &mut scratch);
                    for (o, &b) in o.iter_mut().zip(&buf) {
                        *o = from_c(if inverse { b * scale } else { b });
                    }
                });
            Ok(Work::Complex(out))
        }
        Step::R2c { n, .. } => {
            let Work::Real(input) = work else {
                return Err(TaskError::failed("an rfft got a complex block"));
            };
            let mut out = ArrayD::from_elem(IxDyn(&shape), from_c(zero));
            let plan = realfft::RealFftPlanner::<R>::new().plan_fft_forward(n);
            let mut scratch = plan.make_scratch_vec();
            let mut buf = vec![R::zero(); n];
            let mut spec = plan.make_output_vec();
            let mut failed = None;
            Zip::from(out.lanes_mut(Axis(axis)))
                .and(input.lanes(Axis(axis)))
                .for_each(|mut o, i| {
                    fill(&mut buf, i.iter().copied(), R::zero());
                    if let Err(e) = plan.process_with_scratch(&mut buf, &mut spec, &mut scratch) {
                        failed = Some(e.to_string());
                    }
                    for (o, &s) in o.iter_mut().zip(&spec) {
                        *o = from_c(s);
                    }
                });
            match failed {
                Some(e) => Err(TaskError::failed(format!("rfft of {n} points: {e}"))),
                None => Ok(Work::Complex(out)),
            }
        }
        Step::C2r { n, .. } => {
            let input = match work {
                Work::Complex(b) => b,
                Work::Real(b) => b.mapv(|v| R::Spectrum::from_parts(v, R::zero())),
            };
            let mut out = ArrayD::from_elem(IxDyn(&shape), R::zero());
            let plan = realfft::RealFftPlanner::<R>::new().plan_fft_inverse(n);
            let mut scratch = plan.make_scratch_vec();
            let mut spec = plan.make_input_vec();
            let mut buf = vec![R::zero(); n];
            let scale = R::one() / n_as_r(n);
            let mut failed = None;
            Zip::from(out.lanes_mut(Axis(axis)))
                .and(input.lanes(Axis(axis)))
                .for_each(|mut o, i| {
                    fill(&mut spec, i.iter().map(|&v| to_c(v)), zero);
                    // NumPy ignores the imaginary parts that the spectrum
                    // of a real signal cannot have.
                    spec[0].im = R::zero();
                    if n % 2 == 0 {
                        spec[n / 2].im = R::zero();
                    }
                    if let Err(e) = plan.process_with_scratch(&mut spec, &mut buf, &mut scratch) {
                        failed = Some(e.to_string());
                    }
                    for (o, &b) in o.iter_mut().zip(&buf) {
                        *o = b * scale;
                    }
                });
            match failed {
                Some(e) => Err(TaskError::failed(format!("irfft to {n} points: {e}"))),
                None => Ok(Work::Real(out)),
            }
        }
    }
}

/// `buf` filled from `src`, cropped or padded with `pad`.
fn fill<T: Copy>(buf: &mut [T], src: impl Iterator<Item = T>, pad: T) {
    let mut k = 0;
    for (b, v) in buf.iter_mut().zip(src) {
        *b = v;
        k += 1;
    }
    for b in &mut buf[k..] {
        *b = pad;
    }
}

/// The layer applying `steps` to every block of `x` (input `I`, output
/// `O`); every axis of a step must be one chunk.
pub(super) fn transform<I, O>(what: &str, x: &Array<I>, steps: Vec<Step>) -> Result<Array<O>>
where
    I: FftElement,
    O: FftElement<Real = I::Real>,
{
    let x = x.clone().into_result()?;
    let mut per_axis = x.chunks().as_slices().to_vec();
    for &step in &steps {
        let axis = step.axis();
        let chunks = &x.chunks().as_slices()[axis];
        if chunks.len() > 1 {
            return Err(Error::invalid(
                "fft axis",
                format!(
                    "{what} along axis {axis} needs that axis in one chunk, but the array of shape \
                     {} is split into {} chunks along it ({chunks:?}); rechunk it first with \
                     ChunkSpec::Whole for axis {axis} (Dask's x.rechunk({{{axis}: -1}}))",
                    fmt_shape(x.shape()),
                    chunks.len(),
                ),
            ));
        }
        per_axis[axis] = vec![step.out_len()];
    }
    let chunks = Chunks::from_vec(per_axis);
    let src = x.node.name.clone();
    let op_steps = steps.clone();
    Ok(Array::kernel_layer(
        what,
        &steps,
        chunks,
        vec![x.input()],
        move |idx| BlockTask {
            op: Op::kernel_blockwise(FftBlock::<I, O> {
                steps: op_steps.clone(),
                _t: PhantomData,
            }),
            deps: vec![block_key(&src, idx)],
        },
    ))
}
