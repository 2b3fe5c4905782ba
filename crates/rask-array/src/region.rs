//! Region-wise evaluation as data.
//!
//! An elementwise or creation layer can make any *region* of any of its
//! blocks (see [`Slab`](crate::array::Slab)): consumers — an elementwise
//! layer reading it inline, a reduction reducing it tile by tile — evaluate
//! it where they need it, so whole expression trees run inside one task per
//! block and their intermediates are never stored.
//!
//! For such a task to leave the process, the evaluation itself must be data.
//! A [`RegionKernel`] is the region-wise counterpart of
//! [`Kernel`](rask_core::Kernel): a serde struct with a stable name, registered
//! once per element type, whose `eval` makes one region. A [`RegionRef`]
//! holds one as a trait object and serializes as `(name, parameters)`; on
//! the other side the name is looked up in this program's registry of region
//! kernels. An elementwise layer's evaluator holds its operands' evaluators
//! ([`RegionRef`]s) in turn, so an expression tree is a tree of region
//! kernels — the expression IR a worker evaluates region by region.
//!
//! [`RegionBlock`] is the one task kernel that makes a whole block of such a
//! layer.

use std::fmt;
use std::sync::{Arc, LazyLock};

use rask_core::{Kernel, TaskError, Value};
use rustc_hash::FxHashMap;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::array::{Region, whole};

/// Makes any region of any block of one layer, as data.
pub(crate) trait RegionKernel: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name in the registry of region kernels (per element type).
    const NAME: &'static str;

    /// The region `region` of block `idx`, from the values the block reads.
    /// `layout` is a hint: `Some(perm)` when the consumer views the region
    /// through the axis permutation `perm`; the values are the same either
    /// way.
    fn eval(
        &self,
        args: &[Value],
        idx: &[usize],
        region: &Region,
        layout: Option<&[usize]>,
    ) -> Result<Value, TaskError>;

    /// Whether every evaluation this one holds is data (see
    /// [`DynRegion::is_portable`]).
    fn is_portable(&self) -> bool {
        true
    }
}

/// The object-safe face of a [`RegionKernel`].
pub(crate) trait DynRegion: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn eval(
        &self,
        args: &[Value],
        idx: &[usize],
        region: &Region,
        layout: Option<&[usize]>,
    ) -> Result<Value, TaskError>;
    fn params(&self) -> Result<Vec<u8>, String>;
    /// Whether the evaluation (and every evaluation it holds) is data; a
    /// closure (`Array::map`) is not.
    fn is_portable(&self) -> bool;
}

impl<K: RegionKernel> DynRegion for K {
    fn name(&self) -> &'static str {
        K::NAME
    }
    fn eval(
        &self,
        args: &[Value],
        idx: &[usize],
        region: &Region,
        layout: Option<&[usize]>,
    ) -> Result<Value, TaskError> {
        RegionKernel::eval(self, args, idx, region, layout)
    }
    fn params(&self) -> Result<Vec<u8>, String> {
        postcard::to_allocvec(self).map_err(|e| e.to_string())
    }
    fn is_portable(&self) -> bool {
        RegionKernel::is_portable(self)
    }
}

type DecodeFn = fn(&[u8]) -> Result<Arc<dyn DynRegion>, String>;

/// One entry of the registry of region kernels.
pub(crate) struct RegionDef {
    name: &'static str,
    decode: DecodeFn,
}

rask_core::inventory::collect!(RegionDef);

impl RegionDef {
    pub(crate) const fn of<K: RegionKernel>() -> Self {
        RegionDef {
            name: K::NAME,
            decode: decode_region::<K>,
        }
    }
}

fn decode_region<K: RegionKernel>(bytes: &[u8]) -> Result<Arc<dyn DynRegion>, String> {
    let (k, rest) = postcard::take_from_bytes::<K>(bytes).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes left over", rest.len()));
    }
    Ok(Arc::new(k))
}

/// Registers region kernels by name.
macro_rules! register_region {
    ($($t:ty),+ $(,)?) => {$(
        rask_core::inventory::submit! { $crate::region::RegionDef::of::<$t>() }
    )+};
}
pub(crate) use register_region;

static REGISTRY: LazyLock<FxHashMap<&'static str, &'static RegionDef>> = LazyLock::new(|| {
    let mut m = FxHashMap::default();
    for d in rask_core::inventory::iter::<RegionDef> {
        m.entry(d.name).or_insert(d);
    }
    m
});

/// A region kernel as a shared trait object that serializes as its name and
/// parameters.
#[derive(Clone)]
pub(crate) struct RegionRef(pub(crate) Arc<dyn DynRegion>);

impl RegionRef {
    pub(crate) fn new<K: RegionKernel>(k: K) -> Self {
        RegionRef(Arc::new(k))
    }

    /// Whether the evaluation is data all the way down.
    pub(crate) fn is_portable(&self) -> bool {
        self.0.is_portable()
    }

    /// See [`RegionKernel::eval`].
    pub(crate) fn eval(
        &self,
        args: &[Value],
        idx: &[usize],
        region: &Region,
        layout: Option<&[usize]>,
    ) -> Result<Value, TaskError> {
        self.0.eval(args, idx, region, layout)
    }
}

impl fmt::Debug for RegionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegionRef({})", self.0.name())
    }
}

impl Serialize for RegionRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let params = self.0.params().map_err(serde::ser::Error::custom)?;
        (self.0.name(), params).serialize(s)
    }
}

impl<'de> Deserialize<'de> for RegionRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (name, params): (String, Vec<u8>) = Deserialize::deserialize(d)?;
        let def = REGISTRY.get(name.as_str()).ok_or_else(|| {
            D::Error::custom(format!(
                "no region kernel named `{name}` is registered in this program"
            ))
        })?;
        let k = (def.decode)(&params)
            .map_err(|e| D::Error::custom(format!("region kernel `{name}`: {e}")))?;
        Ok(RegionRef(k))
    }
}

/// The task that makes one whole block of a region-capable layer.
#[derive(Serialize, Deserialize)]
pub(crate) struct RegionBlock {
    /// How to make the layer's regions.
    pub region: RegionRef,
    /// The block's index.
    pub idx: Vec<usize>,
    /// The block's shape.
    pub shape: Vec<usize>,
    /// The operation's name, for errors and the profiler.
    pub label: String,
}

impl Kernel for RegionBlock {
    const NAME: &'static str = "rask.array.region-block";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        self.region.eval(args, &self.idx, &whole(&self.shape), None)
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Owned(self.label.clone())
    }
    fn is_portable(&self) -> bool {
        self.region.is_portable()
    }
}

/// A region evaluator that is a closure: runs only in this process
/// (`Array::map` with a user function).
pub(crate) struct ClosureRegion<F>(pub F);

impl<F> DynRegion for ClosureRegion<F>
where
    F: Fn(&[Value], &[usize], &Region, Option<&[usize]>) -> Result<Value, TaskError>
        + Send
        + Sync
        + 'static,
{
    fn name(&self) -> &'static str {
        "rask.array.closure"
    }
    fn eval(
        &self,
        args: &[Value],
        idx: &[usize],
        region: &Region,
        layout: Option<&[usize]>,
    ) -> Result<Value, TaskError> {
        (self.0)(args, idx, region, layout)
    }
    fn params(&self) -> Result<Vec<u8>, String> {
        Err(
            "it is a closure (a function passed to `Array::map`), which cannot leave the process"
                .into(),
        )
    }
    fn is_portable(&self) -> bool {
        false
    }
}

/// Registers `$outer<$inner<T>>` (or `$outer<T>`) as region kernels for
/// every element type, the number types, or the float types.
macro_rules! register_region_for {
    ($set:ident: $($k:tt)+) => {
        $crate::kernels::register_for!(region, $set: $($k)+);
    };
}
pub(crate) use register_region_for;

rask_core::register_kernel!(RegionBlock);

impl<T: crate::element::Element> crate::array::Array<T> {
    /// A region-capable layer: each block is a [`RegionBlock`] task
    /// evaluating `expr` over the whole block, and consumers may evaluate
    /// `expr` region by region instead (the layer's [`Slab`]). `deps` gives
    /// the keys a block reads (always `ndeps` of them), `inputs` the layers
    /// they belong to, and `cost` the leaves one evaluation touches. The
    /// layer's name is derived from `expr` and the inputs when `expr` is
    /// data, else it is fresh.
    ///
    /// [`Slab`]: crate::array::Slab
    pub(crate) fn region_layer(
        prefix: &'static str,
        chunks: crate::chunks::Chunks,
        inputs: Vec<crate::array::Input>,
        expr: RegionRef,
        deps: Arc<crate::array::DepsFn>,
        ndeps: usize,
        cost: usize,
    ) -> Self {
        let c = chunks.clone();
        let (e, d) = (expr.clone(), deps.clone());
        let make = move |idx: &[usize]| crate::array::BlockTask {
            op: rask_core::Op::kernel_blockwise(RegionBlock {
                region: e.clone(),
                idx: idx.to_vec(),
                shape: c.block_shape(idx),
                label: prefix.to_string(),
            }),
            deps: d(idx),
        };
        let mut out = if expr.is_portable() {
            crate::array::Array::kernel_layer(prefix, &expr, chunks, inputs.clone(), make)
        } else {
            crate::array::Array::layer(prefix, chunks, inputs.clone(), make)
        };
        if let Some(node) = Arc::get_mut(&mut out.node) {
            node.slab = Some(crate::array::Slab {
                inputs,
                deps,
                ndeps,
                expr,
                cost,
                reads: Vec::new(),
            });
        }
        out
    }
}
