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
/// Marks a slice parameter (`&[T]`), given as a `Vec<T>`.
pub struct BySlice;
/// Marks a string parameter (`&str`), given as a `String`.
pub struct ByStr;

/// A function item that can be submitted with argument types `A` (a tuple)
/// and parameter kinds `M` (a tuple of [`ByRef`], [`ByValue`], [`BySlice`],
/// [`ByStr`]); implemented for functions of up to four parameters. Whether it is registered
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

// One impl per arity and combination of parameter kinds: up to two
// parameters of any kind, three or four taken by reference or by value. A
// by-value parameter must be `DeserializeOwned`, which keeps a
// by-reference function from also matching the by-value impl.
impl<Func, Out> Remote<(), ()> for Func
where
    Func: Fn() -> Out + Copy + Send + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1> Remote<(A1,), (ByRef,)> for Func
where
    Func: Fn(&A1) -> Out + Copy + Send + 'static,
    A1: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1> Remote<(A1,), (ByValue,)> for Func
where
    Func: Fn(A1) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1> Remote<(Vec<A1>,), (BySlice,)> for Func
where
    Func: Fn(&[A1]) -> Out + Copy + Send + 'static,
    A1: 'static,
{
    type Output = Out;
}

impl<Func, Out> Remote<(String,), (ByStr,)> for Func
where
    Func: Fn(&str) -> Out + Copy + Send + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2> Remote<(A1, A2), (ByRef, ByRef)> for Func
where
    Func: Fn(&A1, &A2) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2> Remote<(A1, A2), (ByRef, ByValue)> for Func
where
    Func: Fn(&A1, A2) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2> Remote<(A1, Vec<A2>), (ByRef, BySlice)> for Func
where
    Func: Fn(&A1, &[A2]) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1> Remote<(A1, String), (ByRef, ByStr)> for Func
where
    Func: Fn(&A1, &str) -> Out + Copy + Send + 'static,
    A1: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2> Remote<(A1, A2), (ByValue, ByRef)> for Func
where
    Func: Fn(A1, &A2) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2> Remote<(A1, A2), (ByValue, ByValue)> for Func
where
    Func: Fn(A1, A2) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2> Remote<(A1, Vec<A2>), (ByValue, BySlice)> for Func
where
    Func: Fn(A1, &[A2]) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1> Remote<(A1, String), (ByValue, ByStr)> for Func
where
    Func: Fn(A1, &str) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2> Remote<(Vec<A1>, A2), (BySlice, ByRef)> for Func
where
    Func: Fn(&[A1], &A2) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2> Remote<(Vec<A1>, A2), (BySlice, ByValue)> for Func
where
    Func: Fn(&[A1], A2) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2> Remote<(Vec<A1>, Vec<A2>), (BySlice, BySlice)> for Func
where
    Func: Fn(&[A1], &[A2]) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1> Remote<(Vec<A1>, String), (BySlice, ByStr)> for Func
where
    Func: Fn(&[A1], &str) -> Out + Copy + Send + 'static,
    A1: 'static,
{
    type Output = Out;
}

impl<Func, Out, A2> Remote<(String, A2), (ByStr, ByRef)> for Func
where
    Func: Fn(&str, &A2) -> Out + Copy + Send + 'static,
    A2: 'static,
{
    type Output = Out;
}

impl<Func, Out, A2> Remote<(String, A2), (ByStr, ByValue)> for Func
where
    Func: Fn(&str, A2) -> Out + Copy + Send + 'static,
    A2: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A2> Remote<(String, Vec<A2>), (ByStr, BySlice)> for Func
where
    Func: Fn(&str, &[A2]) -> Out + Copy + Send + 'static,
    A2: 'static,
{
    type Output = Out;
}

impl<Func, Out> Remote<(String, String), (ByStr, ByStr)> for Func
where
    Func: Fn(&str, &str) -> Out + Copy + Send + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3> Remote<(A1, A2, A3), (ByRef, ByRef, ByRef)> for Func
where
    Func: Fn(&A1, &A2, &A3) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
    A3: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3> Remote<(A1, A2, A3), (ByRef, ByRef, ByValue)> for Func
where
    Func: Fn(&A1, &A2, A3) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
    A3: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3> Remote<(A1, A2, A3), (ByRef, ByValue, ByRef)> for Func
where
    Func: Fn(&A1, A2, &A3) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: DeserializeOwned + 'static,
    A3: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3> Remote<(A1, A2, A3), (ByRef, ByValue, ByValue)> for Func
where
    Func: Fn(&A1, A2, A3) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: DeserializeOwned + 'static,
    A3: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3> Remote<(A1, A2, A3), (ByValue, ByRef, ByRef)> for Func
where
    Func: Fn(A1, &A2, &A3) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: 'static,
    A3: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3> Remote<(A1, A2, A3), (ByValue, ByRef, ByValue)> for Func
where
    Func: Fn(A1, &A2, A3) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: 'static,
    A3: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3> Remote<(A1, A2, A3), (ByValue, ByValue, ByRef)> for Func
where
    Func: Fn(A1, A2, &A3) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: DeserializeOwned + 'static,
    A3: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3> Remote<(A1, A2, A3), (ByValue, ByValue, ByValue)> for Func
where
    Func: Fn(A1, A2, A3) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: DeserializeOwned + 'static,
    A3: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByRef, ByRef, ByRef, ByRef)> for Func
where
    Func: Fn(&A1, &A2, &A3, &A4) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
    A3: 'static,
    A4: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByRef, ByRef, ByRef, ByValue)> for Func
where
    Func: Fn(&A1, &A2, &A3, A4) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
    A3: 'static,
    A4: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByRef, ByRef, ByValue, ByRef)> for Func
where
    Func: Fn(&A1, &A2, A3, &A4) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
    A3: DeserializeOwned + 'static,
    A4: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByRef, ByRef, ByValue, ByValue)> for Func
where
    Func: Fn(&A1, &A2, A3, A4) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: 'static,
    A3: DeserializeOwned + 'static,
    A4: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByRef, ByValue, ByRef, ByRef)> for Func
where
    Func: Fn(&A1, A2, &A3, &A4) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: DeserializeOwned + 'static,
    A3: 'static,
    A4: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByRef, ByValue, ByRef, ByValue)> for Func
where
    Func: Fn(&A1, A2, &A3, A4) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: DeserializeOwned + 'static,
    A3: 'static,
    A4: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByRef, ByValue, ByValue, ByRef)> for Func
where
    Func: Fn(&A1, A2, A3, &A4) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: DeserializeOwned + 'static,
    A3: DeserializeOwned + 'static,
    A4: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByRef, ByValue, ByValue, ByValue)>
    for Func
where
    Func: Fn(&A1, A2, A3, A4) -> Out + Copy + Send + 'static,
    A1: 'static,
    A2: DeserializeOwned + 'static,
    A3: DeserializeOwned + 'static,
    A4: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByValue, ByRef, ByRef, ByRef)> for Func
where
    Func: Fn(A1, &A2, &A3, &A4) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: 'static,
    A3: 'static,
    A4: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByValue, ByRef, ByRef, ByValue)> for Func
where
    Func: Fn(A1, &A2, &A3, A4) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: 'static,
    A3: 'static,
    A4: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByValue, ByRef, ByValue, ByRef)> for Func
where
    Func: Fn(A1, &A2, A3, &A4) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: 'static,
    A3: DeserializeOwned + 'static,
    A4: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByValue, ByRef, ByValue, ByValue)>
    for Func
where
    Func: Fn(A1, &A2, A3, A4) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: 'static,
    A3: DeserializeOwned + 'static,
    A4: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByValue, ByValue, ByRef, ByRef)> for Func
where
    Func: Fn(A1, A2, &A3, &A4) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: DeserializeOwned + 'static,
    A3: 'static,
    A4: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByValue, ByValue, ByRef, ByValue)>
    for Func
where
    Func: Fn(A1, A2, &A3, A4) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: DeserializeOwned + 'static,
    A3: 'static,
    A4: DeserializeOwned + 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByValue, ByValue, ByValue, ByRef)>
    for Func
where
    Func: Fn(A1, A2, A3, &A4) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: DeserializeOwned + 'static,
    A3: DeserializeOwned + 'static,
    A4: 'static,
{
    type Output = Out;
}

impl<Func, Out, A1, A2, A3, A4> Remote<(A1, A2, A3, A4), (ByValue, ByValue, ByValue, ByValue)>
    for Func
where
    Func: Fn(A1, A2, A3, A4) -> Out + Copy + Send + 'static,
    A1: DeserializeOwned + 'static,
    A2: DeserializeOwned + 'static,
    A3: DeserializeOwned + 'static,
    A4: DeserializeOwned + 'static,
{
    type Output = Out;
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
