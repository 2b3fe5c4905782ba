//! Registered kernels: task operations that are data.
//!
//! A closure cannot leave its process. A *kernel* can: it is a type with a
//! stable name ([`Kernel::NAME`]) in a link-time registry, whose value — the
//! task's parameters — is serialized with serde. A task holding a kernel
//! ([`Op::kernel`](crate::Op::kernel)) is therefore portable: its graph can be
//! encoded ([`crate::wire`]), sent to another rask process of the same build,
//! decoded there by looking the name up in that process's registry, and run.
//!
//! Every built-in operation of rask's collections is a kernel. Programs
//! register their own functions with `#[rask::remote]`, or implement
//! [`Kernel`] by hand and register it with
//! [`register_kernel!`](crate::register_kernel):
//!
//! ```
//! use rask_core::{Kernel, Op, TaskError, Value};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Scale { by: f64 }
//!
//! impl Kernel for Scale {
//!     const NAME: &'static str = "example.scale";
//!     fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
//!         let x: &f64 = args[0].get(0)?;
//!         Ok(Value::new(x * self.by))
//!     }
//! }
//! rask_core::register_kernel!(Scale);
//!
//! let op = Op::kernel(Scale { by: 2.0 });
//! assert!(op.is_portable());
//! let (name, params) = op.kernel_parts().unwrap();
//! let decoded = rask_core::kernel::decode(name, &params.unwrap()).unwrap();
//! let out = decoded.run(&[Value::new(21.0f64)]).unwrap();
//! assert_eq!(out.downcast_ref::<f64>(), Some(&42.0));
//! ```

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::TaskError;
use crate::value::Value;

/// A task operation with a stable name and serializable parameters.
///
/// The value of the implementing type *is* the parameters. `run` receives
/// the task's dependencies' values, in argument order.
pub trait Kernel: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name in the registry: unique in the program and stable across
    /// builds of the same code (`"rask.array.sum"`, `"my_crate::clean"`).
    const NAME: &'static str;

    /// Runs the kernel on its arguments.
    fn run(&self, args: &[Value]) -> Result<Value, TaskError>;

    /// The name shown in errors, the progress report and the profiler;
    /// by default the last segment of [`Kernel::NAME`].
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed(short_name(Self::NAME))
    }

    /// Whether the parameters are data all the way down. A kernel that
    /// wraps something local-only (a closure among its parameters) says
    /// `false`, and its task is refused by executors in other processes.
    fn is_portable(&self) -> bool {
        true
    }
}

/// The part of a kernel name after its last `.` or `::`, without a
/// trailing `<…>` of type parameters (`rask.array.sum<float64>` is `sum`).
pub fn short_name(name: &str) -> &str {
    let base = name.split('<').next().unwrap_or(name);
    let after_dots = base.rsplit('.').next().unwrap_or(base);
    after_dots.rsplit("::").next().unwrap_or(after_dots)
}

/// The object-safe face of a [`Kernel`], as tasks hold it.
pub trait DynKernel: Send + Sync + 'static {
    /// The registry name.
    fn kernel_name(&self) -> &'static str;
    /// Runs the kernel.
    fn run(&self, args: &[Value]) -> Result<Value, TaskError>;
    /// The parameters, encoded with postcard.
    fn encode_params(&self) -> Result<Vec<u8>, String>;
    /// The display name.
    fn label(&self) -> Cow<'static, str>;
    /// See [`Kernel::is_portable`].
    fn is_portable(&self) -> bool;
}

impl<K: Kernel> DynKernel for K {
    fn kernel_name(&self) -> &'static str {
        K::NAME
    }
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        Kernel::run(self, args)
    }
    fn encode_params(&self) -> Result<Vec<u8>, String> {
        postcard::to_allocvec(self).map_err(|e| e.to_string())
    }
    fn label(&self) -> Cow<'static, str> {
        Kernel::label(self)
    }
    fn is_portable(&self) -> bool {
        Kernel::is_portable(self)
    }
}

type DecodeFn = fn(&[u8]) -> Result<Arc<dyn DynKernel>, String>;

/// One entry of the kernel registry: a name and how to decode parameters.
pub struct KernelDef {
    name: &'static str,
    decode: DecodeFn,
}

inventory::collect!(KernelDef);

impl KernelDef {
    /// The entry of kernel `K`.
    pub const fn of<K: Kernel>() -> Self {
        KernelDef {
            name: K::NAME,
            decode: decode_params::<K>,
        }
    }

    /// The kernel's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

fn decode_params<K: Kernel>(bytes: &[u8]) -> Result<Arc<dyn DynKernel>, String> {
    let (k, rest) = postcard::take_from_bytes::<K>(bytes).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes left over after the parameters",
            rest.len()
        ));
    }
    Ok(Arc::new(k))
}

/// Registers kernel types by their [`Kernel::NAME`], so that other processes
/// of the same build can decode and run tasks that use them.
#[macro_export]
macro_rules! register_kernel {
    ($($t:ty),+ $(,)?) => {$(
        $crate::inventory::submit! { $crate::kernel::KernelDef::of::<$t>() }
    )+};
}

/// Why a kernel could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// No kernel of this name is registered in this program.
    #[error(
        "no kernel named `{name}` is registered in this program; it was built from other code, \
         or the function is not marked `#[rask::remote]` (or registered with \
         `rask::register_kernel!`) here"
    )]
    Unknown {
        /// The name received.
        name: String,
    },
    /// The parameters do not decode.
    #[error("the parameters of kernel `{name}` do not decode: {reason}")]
    BadParams {
        /// The kernel.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

static KERNELS: LazyLock<FxHashMap<&'static str, &'static KernelDef>> = LazyLock::new(|| {
    let mut m = FxHashMap::default();
    for def in inventory::iter::<KernelDef> {
        m.entry(def.name).or_insert(def);
    }
    m
});

/// The registry entry of a kernel name.
pub fn lookup(name: &str) -> Option<&'static KernelDef> {
    KERNELS.get(name).copied()
}

/// Names of every kernel registered in this program, sorted.
pub fn registered() -> Vec<&'static str> {
    let mut v: Vec<_> = KERNELS.keys().copied().collect();
    v.sort_unstable();
    v
}

/// Decodes a kernel from its name and encoded parameters. Never panics.
pub fn decode(name: &str, params: &[u8]) -> Result<Arc<dyn DynKernel>, KernelError> {
    let def = lookup(name).ok_or_else(|| KernelError::Unknown { name: name.into() })?;
    (def.decode)(params).map_err(|reason| KernelError::BadParams {
        name: name.into(),
        reason,
    })
}

/// A function registered with `#[rask::remote]`, found from the function
/// item itself: `client.submit(inc, (1,))` looks up the [`TypeId`] of
/// `inc`'s item type here to learn the kernel it runs.
///
/// [`TypeId`]: std::any::TypeId
pub struct RemoteFn {
    /// The `TypeId` of the function item's type (a function, so that the
    /// entry can be built in a static).
    pub type_id: fn() -> std::any::TypeId,
    /// The kernel that runs the function.
    pub kernel: &'static str,
    /// Whether the function returns a `Result` (the kernel's value is then
    /// the `Ok` value).
    pub fallible: bool,
    /// Whether a call is determined by its arguments (`pure = false` gives
    /// every call a fresh key).
    pub pure: bool,
}

inventory::collect!(RemoteFn);

/// The `TypeId` of a value's type; the remote macro uses it for function
/// items, whose types cannot be named.
pub fn type_id_of<T: 'static>(_: &T) -> std::any::TypeId {
    std::any::TypeId::of::<T>()
}

static REMOTE_FNS: LazyLock<FxHashMap<std::any::TypeId, &'static RemoteFn>> = LazyLock::new(|| {
    inventory::iter::<RemoteFn>
        .into_iter()
        .map(|f| ((f.type_id)(), f))
        .collect()
});

/// The registry entry of the function item of type `F`, if it was marked
/// `#[rask::remote]`.
pub fn remote_fn<F: 'static>() -> Option<&'static RemoteFn> {
    REMOTE_FNS.get(&std::any::TypeId::of::<F>()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct AddConst {
        c: i64,
    }

    impl Kernel for AddConst {
        const NAME: &'static str = "rask.test.add_const";
        fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
            Ok(Value::new(args[0].get::<i64>(0)? + self.c))
        }
    }

    crate::register_kernel!(AddConst);

    #[test]
    fn registered_kernels_decode_and_run() {
        let params = DynKernel::encode_params(&AddConst { c: 5 }).unwrap();
        let k = decode("rask.test.add_const", &params).unwrap();
        assert_eq!(k.label(), "add_const");
        let v = k.run(&[Value::new(1i64)]).unwrap();
        assert_eq!(v.downcast_ref::<i64>(), Some(&6));
    }

    #[test]
    fn unknown_names_and_bad_params_are_errors() {
        assert!(matches!(
            decode("no.such.kernel", &[]),
            Err(KernelError::Unknown { .. })
        ));
        assert!(matches!(
            decode(
                "rask.test.add_const",
                &[
                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
                ]
            ),
            Err(KernelError::BadParams { .. })
        ));
        assert!(registered().contains(&"rask.test.add_const"));
    }

    #[test]
    fn short_names() {
        assert_eq!(short_name("rask.array.sum"), "sum");
        assert_eq!(short_name("my_crate::stats::clean"), "clean");
        assert_eq!(short_name("plain"), "plain");
        assert_eq!(short_name("rask.array.sum<float64>"), "sum");
    }
}
