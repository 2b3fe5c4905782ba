//! Arrays of complex numbers: `Array<Complex<f32>>` and
//! `Array<Complex<f64>>` (NumPy's `complex64` and `complex128`), the
//! spectra of [`crate::fft`].
//!
//! Complex elements are [`Element`]s — they chunk, rechunk, slice,
//! transpose, join, compute and go through `.npy` files like any other —
//! but not [`Number`](crate::Number)s, since they have no order. What they
//! add is here: the arithmetic operators (`+ - * /` between arrays, with a
//! complex scalar, and unary `-`), [`real`](Array::real),
//! [`imag`](Array::imag), [`conj`](Array::conj), [`abs`](Array::abs)
//! (giving real arrays, as NumPy's), [`angle`](Array::angle),
//! [`Array::to_complex`] from a real array, and `sum` / `mean` (whole or
//! along axes, accumulated in `Complex<f64>`). Every one is a registered
//! kernel (elementwise ones fuse with their neighbours), so it runs on a
//! cluster. Complex arrays have no order: no comparisons, `min`, `max` or
//! sorting.
//!
//! ```
//! # use rask_local as _;
//! use rask_array::{Array, Complex, ndarray::array};
//! # fn main() -> rask_core::Result<()> {
//! let re = Array::from_ndarray(array![1.0f64, 0.0, -2.0].into_dyn(), &[2])?;
//! let z = re.to_complex() * Complex::new(0.0, 1.0); // times i
//! assert_eq!(z.imag().compute()?, array![1.0, 0.0, -2.0].into_dyn());
//! assert_eq!(z.abs().compute()?, array![1.0, 0.0, 2.0].into_dyn());
//! assert_eq!((&z * &z.conj()).real().compute()?, array![1.0, 0.0, 4.0].into_dyn());
//! # Ok(())
//! # }
//! ```

use std::marker::PhantomData;

use ndarray::ArrayD;
use num_complex::Complex;
use rask_core::TaskError;
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::creation::BlockInfo;
use crate::element::{ComplexElement, Element, Float, Number};
use crate::elementwise::{ElemFn, ElementwiseRegion, NamedElemFn, Operands, binary, unary, zip2};
use crate::kernels::elem_name;
use crate::reduction::{ChunkReduce, ChunkRegions, Combine, Finish, Reducer};

/// An arithmetic operation on complex numbers.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum ComplexOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl ComplexOp {
    fn apply<C: ComplexElement>(self, a: C, b: C) -> C {
        match self {
            ComplexOp::Add => a + b,
            ComplexOp::Sub => a - b,
            ComplexOp::Mul => a * b,
            ComplexOp::Div => a / b,
        }
    }
}

/// `op` of two complex arrays' elements.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct ComplexBinary<C>(ComplexOp, PhantomData<C>);

impl<C: ComplexElement> ElemFn for ComplexBinary<C> {
    type Out = C;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<C>, TaskError> {
        let op = self.0;
        binary(ops, move |a: C, b: C| op.apply(a, b))
    }
}

impl<C: ComplexElement> NamedElemFn for ComplexBinary<C> {
    const NAME: &'static str = elem_name!("rask.array.complex.binary", C);
}

/// Complex functions of one array's elements, giving complex elements.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum ComplexFn<C: Element> {
    Neg,
    Conj,
    /// `x op scalar`.
    Right(ComplexOp, C),
    /// `scalar op x`.
    Left(ComplexOp, C),
    /// Both parts divided by the scalar's real part (NumPy's complex / real).
    DivReal(C),
}

#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct ComplexUnary<C: Element>(ComplexFn<C>);

impl<C: ComplexElement> ElemFn for ComplexUnary<C> {
    type Out = C;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<C>, TaskError> {
        match self.0 {
            ComplexFn::Neg => unary(ops, |a: C| -a),
            ComplexFn::Conj => unary(ops, |a: C| C::from_parts(a.re(), -a.im())),
            ComplexFn::Right(op, s) => unary(ops, move |a: C| op.apply(a, s)),
            ComplexFn::Left(op, s) => unary(ops, move |a: C| op.apply(s, a)),
            ComplexFn::DivReal(s) => unary(ops, move |a: C| {
                C::from_parts(a.re() / s.re(), a.im() / s.re())
            }),
        }
    }
}

impl<C: ComplexElement> NamedElemFn for ComplexUnary<C> {
    const NAME: &'static str = elem_name!("rask.array.complex.unary", C);
}

/// A real number from each complex element.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum Part {
    Real,
    Imag,
    Abs,
    Angle,
}

#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct ComplexPart<C>(Part, PhantomData<C>);

impl<C: ComplexElement> ElemFn for ComplexPart<C> {
    type Out = C::Part;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<C::Part>, TaskError> {
        match self.0 {
            Part::Real => unary(ops, |a: C| a.re()),
            Part::Imag => unary(ops, |a: C| a.im()),
            Part::Abs => unary(ops, |a: C| a.magnitude()),
            Part::Angle => unary(ops, |a: C| a.phase()),
        }
    }
}

impl<C: ComplexElement> NamedElemFn for ComplexPart<C> {
    const NAME: &'static str = elem_name!("rask.array.complex.part", C);
}

/// A real array's elements as complex numbers with imaginary part 0.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct ToComplex<R>(PhantomData<R>);

impl<R: RealElement> ElemFn for ToComplex<R> {
    type Out = R::Complex;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<R::Complex>, TaskError> {
        unary(ops, |a: R| {
            R::Complex::from_parts(a, <R as num_traits::Zero>::zero())
        })
    }
}

impl<R: RealElement> NamedElemFn for ToComplex<R> {
    const NAME: &'static str = elem_name!("rask.array.complex.from_real", R);
}

/// The sum of complex elements, accumulated in `Complex<f64>`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct ComplexSum;

impl<C: ComplexElement> Reducer<C> for ComplexSum {
    type Partial = ArrayD<Complex<f64>>;
    type Out = C;
    const NAMES: [&'static str; 4] = [
        elem_name!("rask.array.reduce.complex-sum.chunk", C),
        elem_name!("rask.array.reduce.complex-sum.chunk-regions", C),
        elem_name!("rask.array.reduce.complex-sum.combine", C),
        elem_name!("rask.array.reduce.complex-sum.finish", C),
    ];
    fn chunk(
        &self,
        block: &ndarray::ArrayRef<C, ndarray::IxDyn>,
        axes: &[usize],
        _: &BlockInfo,
    ) -> ArrayD<Complex<f64>> {
        let mut out = block.mapv(|v| Complex::new(v.re().to_f64(), v.im().to_f64()));
        for &ax in axes {
            out = out
                .sum_axis(ndarray::Axis(ax))
                .insert_axis(ndarray::Axis(ax));
        }
        out
    }
    fn combine(&self, parts: Vec<&ArrayD<Complex<f64>>>) -> ArrayD<Complex<f64>> {
        let mut out = parts[0].clone();
        for p in &parts[1..] {
            out += *p;
        }
        out
    }
    fn finish(&self, part: &ArrayD<Complex<f64>>) -> Result<ArrayD<C>, TaskError> {
        Ok(part.mapv(|v| C::from_parts(C::Part::from_f64(v.re), C::Part::from_f64(v.im))))
    }
}

rask_core::register_kernel!(
    ChunkReduce<Complex<f32>, ComplexSum>,
    ChunkRegions<Complex<f32>, ComplexSum>,
    Combine<Complex<f32>, ComplexSum>,
    Finish<Complex<f32>, ComplexSum>,
    ChunkReduce<Complex<f64>, ComplexSum>,
    ChunkRegions<Complex<f64>, ComplexSum>,
    Combine<Complex<f64>, ComplexSum>,
    Finish<Complex<f64>, ComplexSum>
);

/// The real element types with a complex counterpart: `f32`
/// (`Complex<f32>`) and `f64` (`Complex<f64>`).
pub trait RealElement: Float {
    /// The complex type whose parts are `Self`.
    type Complex: ComplexElement<Part = Self>;
}

impl RealElement for f32 {
    type Complex = Complex<f32>;
}

impl RealElement for f64 {
    type Complex = Complex<f64>;
}

impl<R: RealElement> Array<R> {
    /// The array as complex numbers with imaginary part 0 (NumPy's
    /// `x.astype(complex)`).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, Complex};
    /// let z = Array::<f32>::ones(&[3], &[2]).unwrap().to_complex();
    /// assert_eq!(z.dtype(), "complex64");
    /// assert_eq!(z.compute().unwrap()[[1]], Complex::new(1.0f32, 0.0));
    /// ```
    pub fn to_complex(&self) -> Array<R::Complex> {
        self.map1("to_complex", ToComplex::<R>(PhantomData))
    }
}

/// The methods and operators of `Array<$c>`, for each complex type
/// (concrete impls, so that they sit beside the generic ones of `Number`
/// arrays without overlapping).
macro_rules! complex_array {
    ($($c:ty),*) => {$(
        impl Array<$c> {
            /// The real part of every element (NumPy's `x.real`).
            ///
            /// ```
            /// # use rask_local as _;
            /// use rask_array::{Array, Complex, ndarray::array};
            /// let z = Array::from_ndarray(array![Complex::new(1.0f64, 2.0)].into_dyn(), &[1]).unwrap();
            /// assert_eq!(z.real().compute().unwrap(), array![1.0].into_dyn());
            /// ```
            pub fn real(&self) -> Array<<$c as ComplexElement>::Part> {
                self.map1("real", ComplexPart::<$c>(Part::Real, PhantomData))
            }

            /// The imaginary part of every element (NumPy's `x.imag`).
            pub fn imag(&self) -> Array<<$c as ComplexElement>::Part> {
                self.map1("imag", ComplexPart::<$c>(Part::Imag, PhantomData))
            }

            /// The magnitude `|z|` of every element, a real array (NumPy's
            /// `abs`, computed as `hypot(re, im)`).
            pub fn abs(&self) -> Array<<$c as ComplexElement>::Part> {
                self.map1("absolute", ComplexPart::<$c>(Part::Abs, PhantomData))
            }

            /// The phase angle of every element in radians, in `[-π, π]`
            /// (NumPy's `angle`).
            pub fn angle(&self) -> Array<<$c as ComplexElement>::Part> {
                self.map1("angle", ComplexPart::<$c>(Part::Angle, PhantomData))
            }

            /// The complex conjugate of every element (NumPy's `conj`).
            pub fn conj(&self) -> Array<$c> {
                self.map1("conj", ComplexUnary::<$c>(ComplexFn::Conj))
            }

            /// The sum of all elements (a 0-d array), accumulated in
            /// `Complex<f64>` (NumPy's `sum`).
            ///
            /// ```
            /// # use rask_local as _;
            /// use rask_array::{Array, Complex};
            /// let z = Array::<f64>::ones(&[3, 4], &[2, 3]).unwrap().to_complex();
            /// let s = (z * Complex::new(1.0, -2.0)).sum().compute_scalar().unwrap();
            /// assert_eq!(s, Complex::new(12.0, -24.0));
            /// ```
            pub fn sum(&self) -> Array<$c> {
                self.sum_axes(&self.every_axis(), false)
            }

            /// The sum along one axis (NumPy's `sum(axis=)`).
            pub fn sum_axis(&self, axis: ndarray::Axis) -> Array<$c> {
                self.sum_axes(&[axis.index()], false)
            }

            /// The sum over several axes, keeping them with length 1 if
            /// `keepdims`.
            pub fn sum_axes(&self, axes: &[usize], keepdims: bool) -> Array<$c> {
                self.reduce("sum", ComplexSum, axes, keepdims, false)
            }

            /// The mean of all elements (a 0-d array): the sum with both
            /// parts divided by the count, as NumPy's `mean`.
            pub fn mean(&self) -> Array<$c> {
                self.mean_axes(&self.every_axis(), false)
            }

            /// The mean along one axis (NumPy's `mean(axis=)`).
            pub fn mean_axis(&self, axis: ndarray::Axis) -> Array<$c> {
                self.mean_axes(&[axis.index()], false)
            }

            /// The mean over several axes, keeping them with length 1 if
            /// `keepdims`.
            pub fn mean_axes(&self, axes: &[usize], keepdims: bool) -> Array<$c> {
                let sum = self.sum_axes(axes, keepdims);
                let count: usize = axes
                    .iter()
                    .filter_map(|&a| self.shape().get(a))
                    .product();
                let n = <$c as ComplexElement>::Part::from_f64(count as f64);
                sum.map1("mean", ComplexUnary::<$c>(ComplexFn::DivReal(<$c>::new(n, 0.0))))
            }
        }

        impl std::ops::Neg for &Array<$c> {
            type Output = Array<$c>;
            fn neg(self) -> Array<$c> {
                self.map1("neg", ComplexUnary::<$c>(ComplexFn::Neg))
            }
        }

        impl std::ops::Neg for Array<$c> {
            type Output = Array<$c>;
            fn neg(self) -> Array<$c> {
                -&self
            }
        }

        complex_array!(@op $c, Add, add, "add");
        complex_array!(@op $c, Sub, sub, "sub");
        complex_array!(@op $c, Mul, mul, "mul");
        complex_array!(@op $c, Div, div, "div");
    )*};
    (@op $c:ty, $trait:ident, $method:ident, $prefix:literal) => {
        impl std::ops::$trait<&Array<$c>> for &Array<$c> {
            type Output = Array<$c>;
            fn $method(self, rhs: &Array<$c>) -> Array<$c> {
                zip2($prefix, self, rhs, ComplexBinary::<$c>(ComplexOp::$trait, PhantomData))
            }
        }
        impl std::ops::$trait<Array<$c>> for &Array<$c> {
            type Output = Array<$c>;
            fn $method(self, rhs: Array<$c>) -> Array<$c> {
                std::ops::$trait::$method(self, &rhs)
            }
        }
        impl std::ops::$trait<&Array<$c>> for Array<$c> {
            type Output = Array<$c>;
            fn $method(self, rhs: &Array<$c>) -> Array<$c> {
                std::ops::$trait::$method(&self, rhs)
            }
        }
        impl std::ops::$trait<Array<$c>> for Array<$c> {
            type Output = Array<$c>;
            fn $method(self, rhs: Array<$c>) -> Array<$c> {
                std::ops::$trait::$method(&self, &rhs)
            }
        }
        impl std::ops::$trait<$c> for &Array<$c> {
            type Output = Array<$c>;
            fn $method(self, rhs: $c) -> Array<$c> {
                self.map1($prefix, ComplexUnary::<$c>(ComplexFn::Right(ComplexOp::$trait, rhs)))
            }
        }
        impl std::ops::$trait<$c> for Array<$c> {
            type Output = Array<$c>;
            fn $method(self, rhs: $c) -> Array<$c> {
                std::ops::$trait::$method(&self, rhs)
            }
        }
        impl std::ops::$trait<&Array<$c>> for $c {
            type Output = Array<$c>;
            fn $method(self, rhs: &Array<$c>) -> Array<$c> {
                rhs.map1($prefix, ComplexUnary::<$c>(ComplexFn::Left(ComplexOp::$trait, self)))
            }
        }
    };
}

complex_array!(Complex<f32>, Complex<f64>);

crate::region::register_region!(
    ElementwiseRegion<ComplexBinary<Complex<f32>>>,
    ElementwiseRegion<ComplexBinary<Complex<f64>>>,
    ElementwiseRegion<ComplexUnary<Complex<f32>>>,
    ElementwiseRegion<ComplexUnary<Complex<f64>>>,
    ElementwiseRegion<ComplexPart<Complex<f32>>>,
    ElementwiseRegion<ComplexPart<Complex<f64>>>,
    ElementwiseRegion<ToComplex<f32>>,
    ElementwiseRegion<ToComplex<f64>>
);

#[cfg(test)]
mod tests {
    use ndarray::array;
    use num_complex::Complex;
    use rask_local as _;

    use crate::Array;

    #[test]
    fn arithmetic_and_parts_follow_numpy() {
        let z = Array::from_ndarray(
            array![Complex::new(1.0f64, 2.0), Complex::new(-3.0, 0.5)].into_dyn(),
            &[1],
        )
        .unwrap();
        let w = Array::from_ndarray(
            array![Complex::new(0.5f64, -1.0), Complex::new(2.0, 2.0)].into_dyn(),
            &[2],
        )
        .unwrap();
        let (zz, ww) = (z.compute().unwrap(), w.compute().unwrap());
        assert_eq!((&z + &w).compute().unwrap(), &zz + &ww);
        assert_eq!((&z - &w).compute().unwrap(), &zz - &ww);
        assert_eq!((&z * &w).compute().unwrap(), &zz * &ww);
        assert_eq!((&z / &w).compute().unwrap(), &zz / &ww);
        assert_eq!((-&z).compute().unwrap(), -&zz);
        let i = Complex::new(0.0, 1.0);
        assert_eq!((&z * i).compute().unwrap(), zz.mapv(|v| v * i));
        assert_eq!((i - &z).compute().unwrap(), zz.mapv(|v| i - v));
        assert_eq!(z.real().compute().unwrap(), array![1.0, -3.0].into_dyn());
        assert_eq!(z.imag().compute().unwrap(), array![2.0, 0.5].into_dyn());
        assert_eq!(
            z.conj().compute().unwrap(),
            array![Complex::new(1.0, -2.0), Complex::new(-3.0, -0.5)].into_dyn()
        );
        let abs = z.abs().compute().unwrap();
        assert!((abs[[0]] - 5f64.sqrt()).abs() < 1e-15);
        let angle = z.angle().compute().unwrap();
        assert!((angle[[0]] - 2f64.atan2(1.0)).abs() < 1e-15);
        assert_eq!(z.dtype(), "complex128");
    }

    #[test]
    fn complex_arrays_chunk_transpose_and_join_like_any_other() {
        let re = Array::<f32>::arange(0.0, 12.0, 1.0, &[5])
            .unwrap()
            .reshape(&[3, 4])
            .unwrap();
        let z = re.to_complex() * Complex::new(1.0f32, 1.0);
        let t = z.t().rechunk(&[3, 1]).unwrap().compute().unwrap();
        assert_eq!(t.shape(), &[4, 3]);
        assert_eq!(t[[3, 2]], Complex::new(11.0, 11.0));
        let both = crate::concatenate(ndarray::Axis(0), &[&z, &z]).unwrap();
        assert_eq!(both.compute().unwrap()[[5, 3]], Complex::new(11.0, 11.0));
    }
}
