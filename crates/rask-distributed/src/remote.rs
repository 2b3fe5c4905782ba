//! Typed submission of `#[rask::remote]` functions: `client.submit(inc, (1,))`.
//!
//! A function item is matched by its signature — each parameter taken by
//! reference (`&T`) or by value (`T`) — which fixes the argument types and
//! the result type of the [`Future`](crate::Future). Which kernel runs it is
//! looked up from the item's type in the registry that `#[rask::remote]`
//! feeds (`rask_core::kernel::remote_fn`). Each argument is either a plain
//! value (encoded into the task) or a future of a previous submission (the
//! task then depends on it, and runs where its data is).

use std::any::Any;

use rask_core::{Key, Value};
use serde::de::DeserializeOwned;

use crate::future::Future;

/// Marks a parameter taken by reference.
pub struct ByRef;
/// Marks a parameter taken by value.
pub struct ByValue;

/// A function item that can be submitted with argument types `A` (a tuple)
/// and parameter kinds `M` (a tuple of [`ByRef`] / [`ByValue`]); implemented
/// for every function of up to four parameters. Whether it is registered
/// with `#[rask::remote]` is checked when it is submitted.
pub trait Remote<A, M>: Copy + Send + 'static {
    /// What the function returns.
    type Output;
}

/// One argument of a submission: a plain value or a future.
pub trait SubmitArg<T> {
    /// The argument as a value to encode, or a key to depend on.
    fn into_source(self) -> ArgSource;
}

/// Where a submitted argument comes from.
pub enum ArgSource {
    /// A value, encoded into the task.
    Value(Value),
    /// The result of another future.
    Key(Key),
}

impl<T: Any + Send + Sync> SubmitArg<T> for T {
    fn into_source(self) -> ArgSource {
        ArgSource::Value(Value::new(self))
    }
}

impl<T> SubmitArg<T> for Future<T> {
    fn into_source(self) -> ArgSource {
        ArgSource::Key(self.key().clone())
    }
}

impl<T> SubmitArg<T> for &Future<T> {
    fn into_source(self) -> ArgSource {
        ArgSource::Key(self.key().clone())
    }
}

/// The arguments of a submission, as a tuple matching the function's
/// parameters.
pub trait SubmitArgs<A> {
    /// The arguments in order.
    fn into_sources(self) -> Vec<ArgSource>;
}

impl SubmitArgs<()> for () {
    fn into_sources(self) -> Vec<ArgSource> {
        Vec::new()
    }
}

macro_rules! remote_fn {
    ($( [$($a:ident : $m:ident),*] )*) => {$(
        impl<Func, Out, $($a,)*> Remote<($($a,)*), ($($m,)*)> for Func
        where
            Func: Fn($(remote_fn!(@param $a $m)),*) -> Out + Copy + Send + 'static,
            $($a: remote_fn!(@bound $m),)*
        {
            type Output = Out;
        }
    )*};
    (@param $a:ident ByRef) => { &$a };
    (@param $a:ident ByValue) => { $a };
    (@bound ByRef) => { 'static };
    (@bound ByValue) => { DeserializeOwned + 'static };
}

remote_fn! {
    []
    [A1: ByRef]
    [A1: ByValue]
    [A1: ByRef, A2: ByRef]
    [A1: ByRef, A2: ByValue]
    [A1: ByValue, A2: ByRef]
    [A1: ByValue, A2: ByValue]
    [A1: ByRef, A2: ByRef, A3: ByRef]
    [A1: ByRef, A2: ByRef, A3: ByValue]
    [A1: ByRef, A2: ByValue, A3: ByRef]
    [A1: ByRef, A2: ByValue, A3: ByValue]
    [A1: ByValue, A2: ByRef, A3: ByRef]
    [A1: ByValue, A2: ByRef, A3: ByValue]
    [A1: ByValue, A2: ByValue, A3: ByRef]
    [A1: ByValue, A2: ByValue, A3: ByValue]
    [A1: ByRef, A2: ByRef, A3: ByRef, A4: ByRef]
    [A1: ByRef, A2: ByRef, A3: ByRef, A4: ByValue]
    [A1: ByRef, A2: ByRef, A3: ByValue, A4: ByRef]
    [A1: ByRef, A2: ByRef, A3: ByValue, A4: ByValue]
    [A1: ByRef, A2: ByValue, A3: ByRef, A4: ByRef]
    [A1: ByRef, A2: ByValue, A3: ByRef, A4: ByValue]
    [A1: ByRef, A2: ByValue, A3: ByValue, A4: ByRef]
    [A1: ByRef, A2: ByValue, A3: ByValue, A4: ByValue]
    [A1: ByValue, A2: ByRef, A3: ByRef, A4: ByRef]
    [A1: ByValue, A2: ByRef, A3: ByRef, A4: ByValue]
    [A1: ByValue, A2: ByRef, A3: ByValue, A4: ByRef]
    [A1: ByValue, A2: ByRef, A3: ByValue, A4: ByValue]
    [A1: ByValue, A2: ByValue, A3: ByRef, A4: ByRef]
    [A1: ByValue, A2: ByValue, A3: ByRef, A4: ByValue]
    [A1: ByValue, A2: ByValue, A3: ByValue, A4: ByRef]
    [A1: ByValue, A2: ByValue, A3: ByValue, A4: ByValue]
}

macro_rules! submit_args {
    ($( ($($a:ident $x:ident $i:tt),+) )*) => {$(
        impl<$($a, $x: SubmitArg<$a>,)+> SubmitArgs<($($a,)+)> for ($($x,)+) {
            fn into_sources(self) -> Vec<ArgSource> {
                vec![$(self.$i.into_source()),+]
            }
        }
    )*};
}

submit_args! {
    (A1 X1 0)
    (A1 X1 0, A2 X2 1)
    (A1 X1 0, A2 X2 1, A3 X3 2)
    (A1 X1 0, A2 X2 1, A3 X3 2, A4 X4 3)
}
