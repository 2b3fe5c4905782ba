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

use rask_core::Tokenizer;

/// NumPy names of the element types, in [`Element::INDEX`](crate::Element::INDEX)
/// order.
pub const DTYPES: [&str; 11] = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32",
    "float64",
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

/// Registers kernel `$k<T>` for every element type.
macro_rules! register_elements {
    ($k:ident) => {
        rask_core::register_kernel!(
            $k<bool>,
            $k<i8>,
            $k<i16>,
            $k<i32>,
            $k<i64>,
            $k<u8>,
            $k<u16>,
            $k<u32>,
            $k<u64>,
            $k<f32>,
            $k<f64>
        );
    };
}

/// Registers kernel `$k<T>` for the number types (all but `bool`).
#[allow(unused_macros)]
macro_rules! register_numbers {
    ($k:ident) => {
        rask_core::register_kernel!(
            $k<i8>,
            $k<i16>,
            $k<i32>,
            $k<i64>,
            $k<u8>,
            $k<u16>,
            $k<u32>,
            $k<u64>,
            $k<f32>,
            $k<f64>
        );
    };
}

/// Registers kernel `$k<T>` for `f32` and `f64`.
#[allow(unused_macros)]
macro_rules! register_floats {
    ($k:ident) => {
        rask_core::register_kernel!($k<f32>, $k<f64>);
    };
}

/// Registers kernel `$k<A, B>` for every pair of element types.
#[allow(unused_macros)]
macro_rules! register_element_pairs {
    ($k:ident) => {
        rask_core::register_kernel!($k<bool, bool>, $k<bool, i8>, $k<bool, i16>, $k<bool, i32>, $k<bool, i64>, $k<bool, u8>, $k<bool, u16>, $k<bool, u32>, $k<bool, u64>, $k<bool, f32>, $k<bool, f64>, $k<i8, bool>, $k<i8, i8>, $k<i8, i16>, $k<i8, i32>, $k<i8, i64>, $k<i8, u8>, $k<i8, u16>, $k<i8, u32>, $k<i8, u64>, $k<i8, f32>, $k<i8, f64>, $k<i16, bool>, $k<i16, i8>, $k<i16, i16>, $k<i16, i32>, $k<i16, i64>, $k<i16, u8>, $k<i16, u16>, $k<i16, u32>, $k<i16, u64>, $k<i16, f32>, $k<i16, f64>, $k<i32, bool>, $k<i32, i8>, $k<i32, i16>, $k<i32, i32>, $k<i32, i64>, $k<i32, u8>, $k<i32, u16>, $k<i32, u32>, $k<i32, u64>, $k<i32, f32>, $k<i32, f64>, $k<i64, bool>, $k<i64, i8>, $k<i64, i16>, $k<i64, i32>, $k<i64, i64>, $k<i64, u8>, $k<i64, u16>, $k<i64, u32>, $k<i64, u64>, $k<i64, f32>, $k<i64, f64>, $k<u8, bool>, $k<u8, i8>, $k<u8, i16>, $k<u8, i32>, $k<u8, i64>, $k<u8, u8>, $k<u8, u16>, $k<u8, u32>, $k<u8, u64>, $k<u8, f32>, $k<u8, f64>, $k<u16, bool>, $k<u16, i8>, $k<u16, i16>, $k<u16, i32>, $k<u16, i64>, $k<u16, u8>, $k<u16, u16>, $k<u16, u32>, $k<u16, u64>, $k<u16, f32>, $k<u16, f64>, $k<u32, bool>, $k<u32, i8>, $k<u32, i16>, $k<u32, i32>, $k<u32, i64>, $k<u32, u8>, $k<u32, u16>, $k<u32, u32>, $k<u32, u64>, $k<u32, f32>, $k<u32, f64>, $k<u64, bool>, $k<u64, i8>, $k<u64, i16>, $k<u64, i32>, $k<u64, i64>, $k<u64, u8>, $k<u64, u16>, $k<u64, u32>, $k<u64, u64>, $k<u64, f32>, $k<u64, f64>, $k<f32, bool>, $k<f32, i8>, $k<f32, i16>, $k<f32, i32>, $k<f32, i64>, $k<f32, u8>, $k<f32, u16>, $k<f32, u32>, $k<f32, u64>, $k<f32, f32>, $k<f32, f64>, $k<f64, bool>, $k<f64, i8>, $k<f64, i16>, $k<f64, i32>, $k<f64, i64>, $k<f64, u8>, $k<f64, u16>, $k<f64, u32>, $k<f64, u64>, $k<f64, f32>, $k<f64, f64>);
    };
}

#[allow(unused_imports)]
pub(crate) use {
    elem_name, elem_name2, register_element_pairs, register_elements, register_floats,
    register_numbers,
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
    let mut t = Tokenizer::new(prefix);
    t.serde(params);
    t.u64(inputs.len() as u64);
    for i in inputs {
        t.str(i);
    }
    t.finish_key(prefix).name().into()
}
