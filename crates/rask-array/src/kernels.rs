//! Array operations as registered kernels: how an array graph leaves the
//! process.
//!
//! Every built-in array operation is a [`Kernel`](rask_core::Kernel): a
//! struct holding the task's parameters (serde), generic over the element
//! type, and registered once per element type under a name such as
//! `rask.array.transpose<float64>` (`elem_name!`). A worker of the same
//! build decodes the parameters, finds the kernel by name and runs it. Layer
//! names are derived from the operation's parameters and the names of the
//! layers it reads (`layer_name`), so the same array built twice, in one
//! process or two, has the same keys.
//!
//! The pattern, for an operation `Foo` on blocks of `T`:
//!
//! ```ignore
//! #[derive(Serialize, Deserialize)]
//! #[serde(bound = "")]
//! struct FooBlock<T> { /* parameters */ _t: PhantomData<T> }
//! impl<T: Element> Kernel for FooBlock<T> {
//!     const NAME: &'static str = elem_name!("rask.array.foo", T);
//!     fn run(&self, args: &[Value]) -> Result<Value, TaskError> { ... }
//! }
//! register_elements!(FooBlock);
//! // in the layer: Op::kernel_blockwise(FooBlock::<T> { ... })
//! ```

use std::sync::Arc;

/// NumPy names of the element types, in [`Element::INDEX`](crate::Element::INDEX)
/// order.
pub const DTYPES: [&str; 13] = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    // The complex types (`Complex<f32>`, `Complex<f64>`), for `fft`.
    "complex64",
    "complex128",
];

/// The registry name of kernel `$base` for element type `$t`:
/// `"$base<float64>"`. A constant expression, for `Kernel::NAME`.
macro_rules! elem_name {
    ($base:expr, $t:ty) => {
        [
            concat!($base, "<bool>"),
            concat!($base, "<int8>"),
            concat!($base, "<int16>"),
            concat!($base, "<int32>"),
            concat!($base, "<int64>"),
            concat!($base, "<uint8>"),
            concat!($base, "<uint16>"),
            concat!($base, "<uint32>"),
            concat!($base, "<uint64>"),
            concat!($base, "<float32>"),
            concat!($base, "<float64>"),
            // The complex types.
            concat!($base, "<complex64>"),
            concat!($base, "<complex128>"),
        ][<$t as $crate::element::Element>::INDEX]
    };
}

/// The registry name of kernel `$base` for the element types `$a` and `$b`
/// (a cast, say): `"$base<int32,float64>"`.
#[allow(unused_macros)]
macro_rules! elem_name2 {
    ($base:expr, $a:ty, $b:ty) => {
        [
            [
                concat!($base, "<bool,bool>"),
                concat!($base, "<bool,int8>"),
                concat!($base, "<bool,int16>"),
                concat!($base, "<bool,int32>"),
                concat!($base, "<bool,int64>"),
                concat!($base, "<bool,uint8>"),
                concat!($base, "<bool,uint16>"),
                concat!($base, "<bool,uint32>"),
                concat!($base, "<bool,uint64>"),
                concat!($base, "<bool,float32>"),
                concat!($base, "<bool,float64>"),
            ],
            [
                concat!($base, "<int8,bool>"),
                concat!($base, "<int8,int8>"),
                concat!($base, "<int8,int16>"),
                concat!($base, "<int8,int32>"),
                concat!($base, "<int8,int64>"),
                concat!($base, "<int8,uint8>"),
                concat!($base, "<int8,uint16>"),
                concat!($base, "<int8,uint32>"),
                concat!($base, "<int8,uint64>"),
                concat!($base, "<int8,float32>"),
                concat!($base, "<int8,float64>"),
            ],
            [
                concat!($base, "<int16,bool>"),
                concat!($base, "<int16,int8>"),
                concat!($base, "<int16,int16>"),
                concat!($base, "<int16,int32>"),
                concat!($base, "<int16,int64>"),
                concat!($base, "<int16,uint8>"),
                concat!($base, "<int16,uint16>"),
                concat!($base, "<int16,uint32>"),
                concat!($base, "<int16,uint64>"),
                concat!($base, "<int16,float32>"),
                concat!($base, "<int16,float64>"),
            ],
            [
                concat!($base, "<int32,bool>"),
                concat!($base, "<int32,int8>"),
                concat!($base, "<int32,int16>"),
                concat!($base, "<int32,int32>"),
                concat!($base, "<int32,int64>"),
                concat!($base, "<int32,uint8>"),
                concat!($base, "<int32,uint16>"),
                concat!($base, "<int32,uint32>"),
                concat!($base, "<int32,uint64>"),
                concat!($base, "<int32,float32>"),
                concat!($base, "<int32,float64>"),
            ],
            [
                concat!($base, "<int64,bool>"),
                concat!($base, "<int64,int8>"),
                concat!($base, "<int64,int16>"),
                concat!($base, "<int64,int32>"),
                concat!($base, "<int64,int64>"),
                concat!($base, "<int64,uint8>"),
                concat!($base, "<int64,uint16>"),
                concat!($base, "<int64,uint32>"),
                concat!($base, "<int64,uint64>"),
                concat!($base, "<int64,float32>"),
                concat!($base, "<int64,float64>"),
            ],
            [
                concat!($base, "<uint8,bool>"),
                concat!($base, "<uint8,int8>"),
                concat!($base, "<uint8,int16>"),
                concat!($base, "<uint8,int32>"),
                concat!($base, "<uint8,int64>"),
                concat!($base, "<uint8,uint8>"),
                concat!($base, "<uint8,uint16>"),
                concat!($base, "<uint8,uint32>"),
                concat!($base, "<uint8,uint64>"),
                concat!($base, "<uint8,float32>"),
                concat!($base, "<uint8,float64>"),
            ],
            [
                concat!($base, "<uint16,bool>"),
                concat!($base, "<uint16,int8>"),
                concat!($base, "<uint16,int16>"),
                concat!($base, "<uint16,int32>"),
                concat!($base, "<uint16,int64>"),
                concat!($base, "<uint16,uint8>"),
                concat!($base, "<uint16,uint16>"),
                concat!($base, "<uint16,uint32>"),
                concat!($base, "<uint16,uint64>"),
                concat!($base, "<uint16,float32>"),
                concat!($base, "<uint16,float64>"),
            ],
            [
                concat!($base, "<uint32,bool>"),
                concat!($base, "<uint32,int8>"),
                concat!($base, "<uint32,int16>"),
                concat!($base, "<uint32,int32>"),
                concat!($base, "<uint32,int64>"),
                concat!($base, "<uint32,uint8>"),
                concat!($base, "<uint32,uint16>"),
                concat!($base, "<uint32,uint32>"),
                concat!($base, "<uint32,uint64>"),
                concat!($base, "<uint32,float32>"),
                concat!($base, "<uint32,float64>"),
            ],
            [
                concat!($base, "<uint64,bool>"),
                concat!($base, "<uint64,int8>"),
                concat!($base, "<uint64,int16>"),
                concat!($base, "<uint64,int32>"),
                concat!($base, "<uint64,int64>"),
                concat!($base, "<uint64,uint8>"),
                concat!($base, "<uint64,uint16>"),
                concat!($base, "<uint64,uint32>"),
                concat!($base, "<uint64,uint64>"),
                concat!($base, "<uint64,float32>"),
                concat!($base, "<uint64,float64>"),
            ],
            [
                concat!($base, "<float32,bool>"),
                concat!($base, "<float32,int8>"),
                concat!($base, "<float32,int16>"),
                concat!($base, "<float32,int32>"),
                concat!($base, "<float32,int64>"),
                concat!($base, "<float32,uint8>"),
                concat!($base, "<float32,uint16>"),
                concat!($base, "<float32,uint32>"),
                concat!($base, "<float32,uint64>"),
                concat!($base, "<float32,float32>"),
                concat!($base, "<float32,float64>"),
            ],
            [
                concat!($base, "<float64,bool>"),
                concat!($base, "<float64,int8>"),
                concat!($base, "<float64,int16>"),
                concat!($base, "<float64,int32>"),
                concat!($base, "<float64,int64>"),
                concat!($base, "<float64,uint8>"),
                concat!($base, "<float64,uint16>"),
                concat!($base, "<float64,uint32>"),
                concat!($base, "<float64,uint64>"),
                concat!($base, "<float64,float32>"),
                concat!($base, "<float64,float64>"),
            ],
        ][<$a as $crate::element::Element>::INDEX][<$b as $crate::element::Element>::INDEX]
    };
}

/// Registers `$k<T>` (or `$outer<$inner<T>>`) for every element type, the
/// number types (all but `bool`) or the float types, as task kernels
/// (`kernel`) or region kernels (`region`, see [`crate::region`]). The one
/// list of element types behind every registration macro.
macro_rules! register_for {
    ($what:ident, elements: $($k:tt)+) => {
        $crate::kernels::register_for!(@each $what [bool, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64] $($k)+);
        // The complex types, for `fft`.
        $crate::kernels::register_for!(@each $what [num_complex::Complex<f32>, num_complex::Complex<f64>] $($k)+);
    };
    // Every element type but the complex ones (which have no order).
    ($what:ident, ordered: $($k:tt)+) => {
        $crate::kernels::register_for!(@each $what [bool, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64] $($k)+);
    };
    ($what:ident, numbers: $($k:tt)+) => {
        $crate::kernels::register_for!(@each $what [i8, i16, i32, i64, u8, u16, u32, u64, f32, f64] $($k)+);
    };
    ($what:ident, floats: $($k:tt)+) => {
        $crate::kernels::register_for!(@each $what [f32, f64] $($k)+);
    };
    // `$outer<$inner<A, B>>` for every pair of element types (a cast).
    (region, pairs: $outer:ident < $inner:ident >) => {
        $crate::kernels::register_for!(
            @rows [bool, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64]
            [bool, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64]
            $outer<$inner>
        );
    };
    (@rows [$($a:ty),*] $all:tt $outer:ident < $inner:ident >) => {
        $( $crate::kernels::register_for!(@row $a $all $outer<$inner>); )*
    };
    (@row $a:ty [$($b:ty),*] $outer:ident < $inner:ident >) => {
        $crate::region::register_region!($($outer<$inner<$a, $b>>),*);
    };
    (@each kernel [$($t:ty),*] $outer:ident < $inner:ident >) => {
        rask_core::register_kernel!($($outer<$inner<$t>>),*);
    };
    (@each kernel [$($t:ty),*] $k:ident) => {
        rask_core::register_kernel!($($k<$t>),*);
    };
    (@each region [$($t:ty),*] $outer:ident < $inner:ident >) => {
        $crate::region::register_region!($($outer<$inner<$t>>),*);
    };
    (@each region [$($t:ty),*] $k:ident) => {
        $crate::region::register_region!($($k<$t>),*);
    };
}

/// Registers kernel `$k<T>` for every element type.
macro_rules! register_elements {
    ($k:ident) => {
        $crate::kernels::register_for!(kernel, elements: $k);
    };
}

/// Registers kernel `$k<T>` for the number types (all but `bool`).
#[allow(unused_macros)]
macro_rules! register_numbers {
    ($k:ident) => {
        $crate::kernels::register_for!(kernel, numbers: $k);
    };
}

/// Registers kernel `$k<T>` for `f32` and `f64`.
#[allow(unused_macros)]
macro_rules! register_floats {
    ($k:ident) => {
        $crate::kernels::register_for!(kernel, floats: $k);
    };
}

#[allow(unused_imports)]
pub(crate) use {
    elem_name, elem_name2, register_elements, register_floats, register_for, register_numbers,
};

/// A deterministic layer name `prefix-<token>`: the token hashes the
/// operation (`prefix`), its parameters and the names of the layers it
/// reads, so the same operation on the same inputs gets the same name in
/// every build of the graph and in every process.
pub(crate) fn layer_name<P: serde::Serialize + ?Sized>(
    prefix: &str,
    params: &P,
    inputs: &[&str],
) -> Arc<str> {
    rask_core::Tokenizer::layer_name(prefix, params, inputs)
}
