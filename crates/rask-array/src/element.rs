//! Element types of arrays.
//!
//! [`Element`] is every type an [`Array`](crate::Array) can hold: the
//! integers `i8`–`i64`, `u8`–`u64`, `f32`, `f64` and `bool`. [`Number`] adds
//! arithmetic (all but `bool`), [`Float`] the floating-point functions.
//! [`Accumulate`] says which types NumPy's sums, means and divisions return
//! for each element type (`uint16` sums to `uint64`, `int32 / int32` is
//! `float64`).
//! [`ComplexElement`] is `Complex<f32>` and `Complex<f64>` (NumPy's
//! `complex64` and `complex128`): elements, but not ordered `Number`s.

use std::fmt::Debug;

/// A type an array can hold.
pub trait Element:
    Copy
    + Send
    + Sync
    + 'static
    + Debug
    + PartialEq
    + Default
    + serde::Serialize
    + serde::de::DeserializeOwned
    + rask_core::codec::BlockElement
{
    /// NumPy's name for the type (`"float64"`, `"int32"`, `"bool"`).
    const DTYPE: &'static str;
    /// The type's position in [`crate::kernels::DTYPES`], which names the
    /// registered kernels of this element type.
    const INDEX: usize;
    /// Whether the value is "true" (non-zero), as in `any` / `all`.
    fn is_truthy(self) -> bool;
    /// NumPy's type code in a `.npy` header, without the byte order:
    /// kind and size in bytes (`"f8"`, `"i4"`, `"b1"`).
    const NPY_CODE: &'static str;
    /// Reads one element from its `size_of::<Self>()` bytes, stored
    /// big-endian when `big_endian`, else little-endian; `bool` is any
    /// non-zero byte, as NumPy reads it.
    fn from_npy_bytes(bytes: &[u8], big_endian: bool) -> Self;
    /// Appends the element's little-endian bytes to `out`.
    fn push_le_bytes(self, out: &mut Vec<u8>);
}

/// The types NumPy gives results in, per element type.
///
/// | element | [`Acc`](Accumulate::Acc) (`sum`, `prod`, `cumsum`, `cumprod`) | [`Real`](Accumulate::Real) (`mean`, `var`, `median`, `/`) |
/// |---|---|---|
/// | `bool`, `i8`, `i16`, `i32`, `i64` | `i64` | `f64` |
/// | `u8`, `u16`, `u32`, `u64` | `u64` | `f64` |
/// | `f32` | `f32` | `f32` |
/// | `f64` | `f64` | `f64` |
///
/// So a stack of `u16` frames sums without wrapping, and `&a / &b` of
/// integer arrays is true division (NumPy's `true_divide`):
///
/// ```
/// # use rask_local as _;
/// use rask_array::Array;
/// let frames = Array::<u16>::full(&[1000], &[100], 60_000).unwrap();
/// let total: Array<u64> = frames.sum();
/// assert_eq!(total.compute_scalar().unwrap(), 60_000_000);
/// let a = Array::<i32>::arange(0, 4, 1, &[2]).unwrap();
/// let q: Array<f64> = &a / 2;
/// assert_eq!(q.compute().unwrap().into_raw_vec_and_offset().0, vec![0.0, 0.5, 1.0, 1.5]);
/// ```
pub trait Accumulate: Element {
    /// What sums, products and cumulative sums and products return (and
    /// accumulate in): `i64` for `bool` and signed integers, `u64` for
    /// unsigned integers, the type itself for floats.
    type Acc: Number + CastFrom<Self> + CastFrom<Self::Wide>;
    /// What means, variances, quantiles and true division return: `f64` for
    /// `bool` and integers, the type itself for floats.
    type Real: Number + CastFrom<Self>;
    /// What partial sums are carried in between blocks: [`Accumulate::Acc`],
    /// except `f64` for `f32`, so long `f32` sums are at least as exact as
    /// NumPy's pairwise summation.
    type Wide: Number + CastFrom<Self>;
    /// The sum of a contiguous run in [`Accumulate::Wide`]: integers wrap
    /// around, floats are summed pairwise (blocks of eight lanes, merged as a
    /// binary tree), as NumPy does.
    fn sum_wide(xs: &[Self]) -> Self::Wide;
}

/// An element with arithmetic.
pub trait Number:
    Element
    + Accumulate
    + PartialOrd
    + num_traits::Num
    + num_traits::NumCast
    + num_traits::Bounded
    + std::ops::AddAssign
    + std::ops::MulAssign
{
    /// Converts to `f64` (possibly losing precision).
    fn to_f64(self) -> f64;
    /// Converts from `f64`, as NumPy's `astype` does for in-range values.
    fn from_f64(v: f64) -> Self;
    /// `a + b` with wrap-around on integer overflow, as NumPy does.
    fn wrapping_add(self, other: Self) -> Self;
    /// `a * b` with wrap-around on integer overflow, as NumPy does.
    fn wrapping_mul(self, other: Self) -> Self;
    /// `a - b` with wrap-around on integer overflow, as NumPy does.
    fn wrapping_sub(self, other: Self) -> Self;
    /// NumPy's `floor_divide` (`a // b`): the quotient rounded toward
    /// minus infinity. Integers wrap around on overflow (`MIN // -1` is
    /// `MIN`) and give 0 for a division by zero, as NumPy does, instead of
    /// panicking; floats follow NumPy's `divmod` (`-7.0 // 2.0` is `-4.0`,
    /// `x // 0.0` is `x / 0.0`).
    fn floor_divide(self, other: Self) -> Self;
    /// `a % b` as NumPy's `%` (`np.remainder`): the result has the sign of
    /// `b`; 0 for integers when `b` is 0, as NumPy does.
    fn wrapping_rem(self, other: Self) -> Self;
    /// `-a` with wrap-around on integer overflow (`-MIN` is `MIN`).
    fn wrapping_neg(self) -> Self;
    /// `|a|` with wrap-around on integer overflow (`|MIN|` is `MIN`, as in
    /// NumPy).
    fn wrapping_abs(self) -> Self;
    /// The identity of `min`: `+inf` for floats, the largest value for integers.
    fn min_identity() -> Self;
    /// The identity of `max`: `-inf` for floats, the smallest value for integers.
    fn max_identity() -> Self;
    /// Whether the value is NaN (never for integers).
    fn is_nan_value(self) -> bool;
}

/// A floating-point element.
pub trait Float: Number + num_traits::Float {}

impl Accumulate for bool {
    type Acc = i64;
    type Real = f64;
    type Wide = i64;
    fn sum_wide(xs: &[Self]) -> i64 {
        xs.iter().map(|&b| b as i64).sum()
    }
}

impl Element for bool {
    const DTYPE: &'static str = "bool";
    const INDEX: usize = 0;
    fn is_truthy(self) -> bool {
        self
    }
    const NPY_CODE: &'static str = "b1";
    fn from_npy_bytes(bytes: &[u8], _big_endian: bool) -> Self {
        bytes[0] != 0
    }
    fn push_le_bytes(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
}

/// The byte-level half of [`Element`] for the number types.
macro_rules! npy_bytes {
    ($t:ty, $code:literal) => {
        const NPY_CODE: &'static str = $code;
        fn from_npy_bytes(bytes: &[u8], big_endian: bool) -> Self {
            let mut raw = [0u8; size_of::<$t>()];
            raw.copy_from_slice(&bytes[..size_of::<$t>()]);
            if big_endian {
                <$t>::from_be_bytes(raw)
            } else {
                <$t>::from_le_bytes(raw)
            }
        }
        fn push_le_bytes(self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.to_le_bytes());
        }
    };
}

macro_rules! int_element {
    ($($t:ty => $name:literal, $code:literal, $index:literal, $acc:ty),*) => {$(
        impl Accumulate for $t {
            type Acc = $acc;
            type Real = f64;
            type Wide = $acc;
            fn sum_wide(xs: &[Self]) -> $acc {
                xs.iter().fold(0, |a: $acc, &b| a.wrapping_add(b as $acc))
            }
        }
        impl Element for $t {
            const DTYPE: &'static str = $name;
            const INDEX: usize = $index;
            fn is_truthy(self) -> bool {
                self != 0
            }
            npy_bytes!($t, $code);
        }
        impl Number for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn wrapping_add(self, other: Self) -> Self {
                <$t>::wrapping_add(self, other)
            }
            fn wrapping_mul(self, other: Self) -> Self {
                <$t>::wrapping_mul(self, other)
            }
            fn wrapping_sub(self, other: Self) -> Self {
                <$t>::wrapping_sub(self, other)
            }
            #[allow(unused_comparisons, clippy::absurd_extreme_comparisons)]
            fn floor_divide(self, other: Self) -> Self {
                if other == 0 {
                    return 0;
                }
                // Floor division, as NumPy's integer `//`.
                let q = <$t>::wrapping_div(self, other);
                let r = <$t>::wrapping_rem(self, other);
                if r != 0 && ((r < 0) != (other < 0)) { q.wrapping_sub(1) } else { q }
            }
            #[allow(unused_comparisons, clippy::absurd_extreme_comparisons)]
            fn wrapping_rem(self, other: Self) -> Self {
                if other == 0 {
                    return 0;
                }
                // The remainder takes the divisor's sign, as NumPy's `%`.
                let r = <$t>::wrapping_rem(self, other);
                if r != 0 && ((r < 0) != (other < 0)) { r.wrapping_add(other) } else { r }
            }
            fn wrapping_neg(self) -> Self {
                <$t>::wrapping_neg(self)
            }
            fn wrapping_abs(self) -> Self {
                if self < <$t as num_traits::Zero>::zero() { <$t>::wrapping_neg(self) } else { self }
            }
            fn min_identity() -> Self {
                <$t>::MAX
            }
            fn max_identity() -> Self {
                <$t>::MIN
            }
            fn is_nan_value(self) -> bool {
                false
            }
        }
    )*};
}

int_element!(i8 => "int8", "i1", 1, i64, i16 => "int16", "i2", 2, i64,
             i32 => "int32", "i4", 3, i64, i64 => "int64", "i8", 4, i64,
             u8 => "uint8", "u1", 5, u64, u16 => "uint16", "u2", 6, u64,
             u32 => "uint32", "u4", 7, u64, u64 => "uint64", "u8", 8, u64);

macro_rules! float_element {
    ($($t:ty => $name:literal, $code:literal, $index:literal),*) => {$(
        impl Accumulate for $t {
            type Acc = $t;
            type Real = $t;
            type Wide = f64;
            fn sum_wide(xs: &[Self]) -> f64 {
                pairwise_sum(xs)
            }
        }
        impl Element for $t {
            const DTYPE: &'static str = $name;
            const INDEX: usize = $index;
            fn is_truthy(self) -> bool {
                self != 0.0
            }
            npy_bytes!($t, $code);
        }
        impl Number for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn wrapping_add(self, other: Self) -> Self {
                self + other
            }
            fn wrapping_mul(self, other: Self) -> Self {
                self * other
            }
            fn wrapping_sub(self, other: Self) -> Self {
                self - other
            }
            fn floor_divide(self, other: Self) -> Self {
                // NumPy's `npy_floor_divide`, through `npy_divmod`.
                if other == 0.0 {
                    return self / other;
                }
                let m = self % other;
                let mut div = (self - m) / other;
                if m != 0.0 && ((other < 0.0) != (m < 0.0)) {
                    div -= 1.0;
                }
                if div != 0.0 {
                    let f = div.floor();
                    if div - f > 0.5 { f + 1.0 } else { f }
                } else {
                    (0.0 as $t).copysign(self / other)
                }
            }
            fn wrapping_rem(self, other: Self) -> Self {
                // NumPy's `%` (np.remainder, through `npy_divmod`): the
                // result takes the divisor's sign, a zero too.
                let r = self % other;
                if r == 0.0 {
                    (0.0 as $t).copysign(other)
                } else if (r < 0.0) != (other < 0.0) {
                    r + other
                } else {
                    r
                }
            }
            fn wrapping_neg(self) -> Self {
                -self
            }
            fn wrapping_abs(self) -> Self {
                self.abs()
            }
            fn min_identity() -> Self {
                <$t>::INFINITY
            }
            fn max_identity() -> Self {
                <$t>::NEG_INFINITY
            }
            fn is_nan_value(self) -> bool {
                self.is_nan()
            }
        }
        impl Float for $t {}
    )*};
}

float_element!(f32 => "float32", "f4", 9, f64 => "float64", "f8", 10);

/// Elements per leaf of [`pairwise_sum`]: NumPy's `PW_BLOCKSIZE`.
const PAIRWISE_BLOCK: usize = 128;

/// The sum of `xs` in `f64`, as NumPy's pairwise summation: leaves of
/// [`PAIRWISE_BLOCK`] elements are summed in eight independent lanes (so
/// the additions pipeline and vectorise; compiled for AVX2 as well, picked
/// at run time), and the leaves' sums are merged as a binary tree, so the
/// rounding error grows with `log n`, not `n`. For `f32` input every
/// addition is in `f64`, far more exact than NumPy's `float32` tree.
fn pairwise_sum<T: Copy + Into<f64>>(xs: &[T]) -> f64 {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            // Sums of complete subtrees, with their heights: a binary
            // counter, so a leaf merges with its equals as it arrives.
            let mut stack: [(f64, u32); 64] = [(0.0, 0); 64];
            let mut depth = 0usize;
            for leaf in xs.chunks(PAIRWISE_BLOCK) {
                let mut acc = [0.0f64; 8];
                let mut lanes = leaf.chunks_exact(8);
                for c in &mut lanes {
                    for i in 0..8 {
                        acc[i] += c[i].into();
                    }
                }
                let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3]))
                    + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
                for &x in lanes.remainder() {
                    s += x.into();
                }
                let mut height = 0;
                while depth > 0 && stack[depth - 1].1 == height {
                    depth -= 1;
                    s += stack[depth].0;
                    height += 1;
                }
                stack[depth] = (s, height);
                depth += 1;
            }
            stack[..depth].iter().rev().fold(0.0, |a, &(s, _)| a + s)
        },
    )
}

// Complex elements (NumPy's complex64 and complex128), for the spectra of
// `fft`. They have no order, so they are `Element`s but not `Number`s; their
// arithmetic lives in `crate::complex`.

/// The complex element types: `Complex<f32>` (NumPy's `complex64`) and
/// `Complex<f64>` (`complex128`).
pub trait ComplexElement:
    Element
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    /// The type of the real and imaginary parts.
    type Part: Float;
    /// `re + im·i`.
    fn from_parts(re: Self::Part, im: Self::Part) -> Self;
    /// The real part.
    fn re(self) -> Self::Part;
    /// The imaginary part.
    fn im(self) -> Self::Part;
    /// The magnitude `|z|` (`hypot(re, im)`, as NumPy's `abs`).
    fn magnitude(self) -> Self::Part;
    /// The phase angle in radians (`atan2(im, re)`, as NumPy's `angle`).
    fn phase(self) -> Self::Part;
}

macro_rules! complex_element {
    ($($t:ty => $name:literal, $code:literal, $index:literal),*) => {$(
        impl Element for num_complex::Complex<$t> {
            const DTYPE: &'static str = $name;
            const INDEX: usize = $index;
            fn is_truthy(self) -> bool {
                self.re != 0.0 || self.im != 0.0
            }
            const NPY_CODE: &'static str = $code;
            fn from_npy_bytes(bytes: &[u8], big_endian: bool) -> Self {
                let half = size_of::<$t>();
                let part = |b: &[u8]| {
                    let mut raw = [0u8; size_of::<$t>()];
                    raw.copy_from_slice(b);
                    if big_endian { <$t>::from_be_bytes(raw) } else { <$t>::from_le_bytes(raw) }
                };
                num_complex::Complex::new(part(&bytes[..half]), part(&bytes[half..2 * half]))
            }
            fn push_le_bytes(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.re.to_le_bytes());
                out.extend_from_slice(&self.im.to_le_bytes());
            }
        }
        impl ComplexElement for num_complex::Complex<$t> {
            type Part = $t;
            fn from_parts(re: $t, im: $t) -> Self {
                num_complex::Complex::new(re, im)
            }
            fn re(self) -> $t {
                self.re
            }
            fn im(self) -> $t {
                self.im
            }
            fn magnitude(self) -> $t {
                self.re.hypot(self.im)
            }
            fn phase(self) -> $t {
                self.im.atan2(self.re)
            }
        }
    )*};
}

complex_element!(f32 => "complex64", "c8", 11, f64 => "complex128", "c16", 12);

/// Converts between element types the way NumPy's `astype` does.
pub trait CastFrom<S> {
    /// The converted value.
    fn cast_from(s: S) -> Self;
}

macro_rules! casts {
    ($($t:ty),*) => {
        casts!(@each [$($t),*] [$($t),*]);
    };
    (@each [$($s:ty),*] $all:tt) => {$(
        casts!(@to $s $all);
    )*};
    (@to $s:ty [$($t:ty),*]) => {$(
        impl CastFrom<$s> for $t {
            #[allow(clippy::unnecessary_cast)]
            fn cast_from(s: $s) -> Self {
                s as $t
            }
        }
    )*};
}

casts!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

macro_rules! bool_casts {
    ($($t:ty),*) => {$(
        impl CastFrom<bool> for $t {
            fn cast_from(s: bool) -> Self {
                s as u8 as $t
            }
        }
        impl CastFrom<$t> for bool {
            #[allow(clippy::float_cmp)]
            fn cast_from(s: $t) -> Self {
                s != (0 as $t)
            }
        }
    )*};
}

bool_casts!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

impl CastFrom<bool> for bool {
    fn cast_from(s: bool) -> Self {
        s
    }
}

/// The Rust element type holding NumPy's dtype `name` (`"int32"` → `"i32"`),
/// for errors that tell users which `Array<T>` to ask for.
pub(crate) fn rust_type(name: &str) -> &'static str {
    match name {
        "bool" => "bool",
        "int8" => "i8",
        "int16" => "i16",
        "int32" => "i32",
        "int64" => "i64",
        "uint8" => "u8",
        "uint16" => "u16",
        "uint32" => "u32",
        "uint64" => "u64",
        "float32" => "f32",
        "complex64" => "Complex<f32>",
        "complex128" => "Complex<f64>",
        _ => "f64",
    }
}

#[cfg(test)]
mod tests {
    use super::Number;

    #[test]
    fn division_and_remainder_follow_numpy() {
        // NumPy: -7 // 2 == -4, -7 % 2 == 1, 7 % -2 == -1, 7 // -2 == -4.
        assert_eq!(Number::floor_divide(-7i32, 2), -4);
        assert_eq!(Number::wrapping_rem(-7i32, 2), 1);
        assert_eq!(Number::wrapping_rem(7i32, -2), -1);
        assert_eq!(Number::floor_divide(7i32, -2), -4);
        assert_eq!(Number::floor_divide(6i32, -2), -3);
        assert_eq!(Number::floor_divide(7u8, 2), 3);
        assert_eq!(Number::floor_divide(i8::MIN, -1), i8::MIN);
        assert_eq!(Number::wrapping_rem(5i64, 0), 0);
        // np.remainder(-7.5, 2) == 0.5; np.floor_divide(-7.0, 2.0) == -4.0.
        assert_eq!(Number::wrapping_rem(-7.5f64, 2.0), 0.5);
        assert_eq!(Number::floor_divide(-7.0f64, 2.0), -4.0);
        assert_eq!(Number::floor_divide(7.5f32, 2.0), 3.0);
        assert_eq!(Number::floor_divide(-0.5f64, 2.0), -1.0);
        assert!(Number::floor_divide(0.0f64, 0.0).is_nan());
        assert_eq!(Number::floor_divide(1.0f64, 0.0), f64::INFINITY);
        let z = Number::floor_divide(0.0f64, -3.0);
        assert!(z == 0.0 && z.is_sign_negative());
    }

    #[test]
    fn pairwise_sums_are_exact_on_long_f32_runs() {
        use super::Accumulate;
        // 0.1f32 four million times: a naive f32 loop drifts far off.
        let xs = vec![0.1f32; 1 << 22];
        let want = 0.1f32 as f64 * (1u32 << 22) as f64;
        assert!((f32::sum_wide(&xs) - want).abs() < 1e-6 * want);
        assert_eq!(f64::sum_wide(&[]), 0.0);
        assert_eq!(u16::sum_wide(&[u16::MAX; 3]), 3 * u16::MAX as u64);
        assert_eq!(i8::sum_wide(&[-128, -128]), -256);
        assert_eq!(bool::sum_wide(&[true, false, true]), 2);
    }
}
