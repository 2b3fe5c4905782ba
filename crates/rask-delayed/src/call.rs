//! `delayed!(f(a, &b, …))`: a lazy call of a named function with any
//! number of delayed or plain arguments, keyed by the function's name
//! (Dask's `delayed(f)(a, b)`).
//!
//! The macro takes each argument apart by how it is written:
//!
//! * `&x` — `f` receives a reference to the value of `x`;
//! * `x` — `f` receives a clone of the value of `x` (it must be `Clone`).
//!
//! and by its type: a `Delayed<T>` is a dependency (its computed `T` is
//! what `f` sees), anything else is a plain value put into the graph as
//! [`value`](crate::value) does. The choice between the two is made at
//! compile time by the method that a call on the argument's wrapper
//! resolves to: [`ViaDelayed`] for `Delayed`s, found first, and
//! [`ViaValue`] for everything else, found one auto-reference later.

use std::cell::Cell;
use std::marker::PhantomData;

use rask_core::{BoxError, Op, TaskError, Value};

use crate::{AnyDelayed, Data, Delayed};

/// An argument written `x`: moved into the call.
pub struct Owned<T>(Cell<Option<T>>);

impl<T> Owned<T> {
    /// Wraps the argument.
    pub fn new(x: T) -> Self {
        Owned(Cell::new(Some(x)))
    }

    fn take(&self) -> T {
        self.0
            .take()
            .expect("the delayed! macro takes each argument once")
    }
}

/// An argument written `&x`: borrowed while the call is built.
pub struct Borrowed<'a, T>(pub &'a T);

/// Arguments that are delayed values: dependencies of the call.
pub trait ViaDelayed {
    /// The type the function sees.
    type Out;
    /// The argument as a node of the graph.
    fn __rask_arg(&self) -> Delayed<Self::Out>;
}

impl<T: Data> ViaDelayed for Owned<Delayed<T>> {
    type Out = T;
    fn __rask_arg(&self) -> Delayed<T> {
        self.take()
    }
}

impl<T: Data> ViaDelayed for Borrowed<'_, Delayed<T>> {
    type Out = T;
    fn __rask_arg(&self) -> Delayed<T> {
        self.0.clone()
    }
}

/// Arguments that are plain values, put into the graph.
pub trait ViaValue {
    /// The type the function sees.
    type Out;
    /// The argument as a node of the graph.
    fn __rask_arg(&self) -> Delayed<Self::Out>;
}

impl<T: Data> ViaValue for &Owned<T> {
    type Out = T;
    fn __rask_arg(&self) -> Delayed<T> {
        crate::value(self.take())
    }
}

impl<T: Data + Clone> ViaValue for &Borrowed<'_, T> {
    type Out = T;
    fn __rask_arg(&self) -> Delayed<T> {
        crate::value(self.0.clone())
    }
}

/// The type of an argument's value, kept by the task to read it.
pub fn marker<T>(_: &Delayed<T>) -> PhantomData<fn() -> T> {
    PhantomData
}

/// The value of the next argument, of the type `marker` names.
pub fn next<'a, T: Data>(
    _: PhantomData<fn() -> T>,
    args: &mut std::iter::Enumerate<std::slice::Iter<'a, Value>>,
) -> Result<&'a T, TaskError> {
    let (i, value) = args
        .next()
        .expect("the argument count was checked before the call");
    value.get::<T>(i)
}

/// Checks the argument count, then walks the arguments in order.
pub fn args(
    args: &[Value],
    arity: usize,
) -> Result<std::iter::Enumerate<std::slice::Iter<'_, Value>>, TaskError> {
    if args.len() != arity {
        return Err(TaskError::WrongArity {
            expected: arity,
            found: args.len(),
        });
    }
    Ok(args.iter().enumerate())
}

/// The last segment of a function's path, `fit` for `model::fit`.
pub fn last_segment(path: &'static str) -> &'static str {
    path.rsplit("::").next().unwrap_or(path).trim()
}

/// A result the function returned, as the task's result.
pub fn ok<T: Data>(x: T) -> Result<T, TaskError> {
    Ok(x)
}

/// A fallible function's result, as the task's result.
pub fn try_ok<T: Data, E: Into<BoxError>>(x: Result<T, E>) -> Result<T, TaskError> {
    x.map_err(TaskError::failed)
}

/// The call of `func` named `name` on `deps`, keyed `name-<token>`.
pub fn call<T: Data>(
    name: &'static str,
    deps: Vec<AnyDelayed>,
    func: impl Fn(&[Value]) -> Result<T, TaskError> + Send + Sync + 'static,
) -> Delayed<T> {
    Delayed::from_parts(
        name,
        Op::call(name, move |args: &[Value]| func(args).map(Value::new)),
        deps.into_iter().map(|d| d.0).collect(),
    )
}

/// Builds the call of `delayed!` once its arguments are sorted.
#[doc(hidden)]
#[macro_export]
macro_rules! __delayed_call {
    (@munch $try:ident [$($f:tt)*] [$( ($how:ident $m:ident $e:expr) )*] ;) => {{
        #[allow(unused_imports)]
        use $crate::__private::{ViaDelayed as _, ViaValue as _};
        $( let $m = ($crate::__delayed_wrap!($how $e)).__rask_arg(); )*
        let __deps = ::std::vec![$( $m.erase() ),*];
        $( let $m = $crate::__private::marker(&$m); )*
        $crate::__private::call(
            $crate::__private::last_segment(::std::stringify!($($f)*)),
            __deps,
            move |__args: &[$crate::__private::Value]| {
                let __arity = <[&str]>::len(&[$( ::std::stringify!($m) ),*]);
                #[allow(unused_mut, unused_variables)]
                let mut __args = $crate::__private::args(__args, __arity)?;
                $crate::__private::$try($($f)*(
                    $( $crate::__delayed_pass!($how $crate::__private::next($m, &mut __args)?) ),*
                ))
            },
        )
    }};
    (@munch $try:ident $f:tt [$($acc:tt)*] ; & $a:expr $(, $($rest:tt)*)?) => {
        $crate::__delayed_call!(@munch $try $f [$($acc)* (r __m $a)] ; $($($rest)*)?)
    };
    (@munch $try:ident $f:tt [$($acc:tt)*] ; $a:expr $(, $($rest:tt)*)?) => {
        $crate::__delayed_call!(@munch $try $f [$($acc)* (v __m $a)] ; $($($rest)*)?)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __delayed_wrap {
    (r $e:expr) => {
        &$crate::__private::Borrowed(&$e)
    };
    (v $e:expr) => {
        &$crate::__private::Owned::new($e)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __delayed_pass {
    (r $e:expr) => {
        $e
    };
    (v $e:expr) => {
        ::std::clone::Clone::clone($e)
    };
}

/// A lazy call of the function `f` on any number of arguments, keyed by
/// the function's name (Dask's `delayed(f)(a, b)`): `delayed!(f(a, &b))`.
///
/// Each argument is a `Delayed<T>` (a dependency: `f` gets its computed
/// value) or a plain value (put into the graph). Write `&x` where `f` takes
/// a reference and `x` where it takes the value (a clone of it is passed,
/// so it must be `Clone`). End the call with `?` for a function returning
/// `Result`: its `Err` fails the task, and the error names the function.
///
/// The key is `f-<token>` and the operation is `f`, so an error reads
/// `task fit-3d30… (operation `fit`) failed: …`; add
/// [`Delayed::with_index`] to say which item of many it was.
///
/// ```
/// use rask_delayed::{delayed, Delayed};
///
/// fn clean(raw: &[f64], limit: f64) -> Vec<f64> {
///     raw.iter().copied().filter(|x| x.abs() < limit).collect()
/// }
/// fn fit(rows: &[f64], alpha: f64) -> Result<f64, String> {
///     if rows.is_empty() { return Err("no valid rows".into()) }
///     Ok(alpha * rows.iter().sum::<f64>() / rows.len() as f64)
/// }
///
/// let raw: Delayed<Vec<f64>> = rask_delayed::value(vec![1.0, 50.0, 3.0]);
/// let cleaned = delayed!(clean(&raw, 10.0));
/// let model = delayed!(fit(&cleaned, 2.0)?);
/// assert_eq!(model.key().prefix(), "fit");
/// # use rask_local as _;
/// assert_eq!(model.compute().unwrap(), 4.0);
///
/// let empty = delayed!(clean(&raw, 0.5));
/// let err = delayed!(fit(&empty, 2.0)?).with_index(7).compute().unwrap_err();
/// // The key names the function and the item: ('fit-3d30…', 7).
/// assert!(err.to_string().contains("', 7) (operation `fit`) failed: no valid rows"), "{err}");
/// ```
#[macro_export]
macro_rules! delayed {
    ($($f:ident)::+ ( $($args:tt)* ) ?) => {
        $crate::__delayed_call!(@munch try_ok [$($f)::+] [] ; $($args)*)
    };
    ($($f:ident)::+ ( $($args:tt)* )) => {
        $crate::__delayed_call!(@munch ok [$($f)::+] [] ; $($args)*)
    };
}

#[cfg(test)]
mod tests {
    use crate::{Delayed, value};

    mod model {
        pub fn scale(x: f64, by: f64) -> f64 {
            x * by
        }
    }

    fn answer() -> u32 {
        42
    }

    fn concat(a: &str, b: String, n: &usize) -> String {
        format!("{a}{b}{n}")
    }

    fn fit_plain(rows: &[f64]) -> Result<f64, String> {
        if rows.is_empty() {
            return Err("no valid rows".into());
        }
        Ok(rows.iter().sum())
    }

    fn sync<T: crate::Data + Clone>(d: &Delayed<T>) -> rask_core::Result<T> {
        d.compute_with(&rask_local::Scheduler::sync())
    }

    #[test]
    fn keys_and_operations_are_named_after_the_function() {
        let d = crate::delayed!(answer());
        assert_eq!(d.key().prefix(), "answer");
        assert_eq!(sync(&d).unwrap(), 42);
        let x = value(2.0);
        let s = crate::delayed!(model::scale(x, 1.5));
        assert_eq!(s.key().prefix(), "scale");
        assert_eq!(sync(&s).unwrap(), 3.0);
    }

    #[test]
    fn arguments_mix_delayed_and_plain_values_by_value_and_by_reference() {
        let a: Delayed<String> = value("x".to_string());
        let n = 3usize;
        let c = crate::delayed!(concat(&a, "y".to_string(), &n));
        assert_eq!(sync(&c).unwrap(), "xy3");
        // `a` was borrowed: still usable; a second call shares it.
        let d = crate::delayed!(concat(&a, a.clone(), &7usize));
        assert_eq!(sync(&d).unwrap(), "xx7");
    }

    #[test]
    fn a_failing_item_names_the_function_and_its_position() {
        let parts: Vec<Vec<f64>> = (0..50)
            .map(|i| if i == 31 { vec![] } else { vec![i as f64] })
            .collect();
        let fits: Vec<Delayed<f64>> = parts
            .into_iter()
            .enumerate()
            .map(|(i, rows)| crate::delayed!(fit_plain(&rows)?).with_index(i as u32))
            .collect();
        let err = sync(&crate::collect(&fits)).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("task ('fit_plain-"), "{text}");
        assert!(
            text.ends_with("', 31) (operation `fit_plain`) failed: no valid rows"),
            "{text}"
        );
        assert_eq!(err.task_key().map(|k| k.index().to_vec()), Some(vec![31]));
    }
}
