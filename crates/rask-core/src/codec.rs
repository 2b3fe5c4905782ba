//! Value codecs and the type registry: how a value becomes bytes and back.
//!
//! Locally, values are never copied or serialized (see [`Value`]). To cross a
//! process boundary — a worker, a spill file — a value needs a *codec*,
//! found through a registry of types. Each [`TypeEntry`] names a type by a
//! *tag* (its Rust type name: stable within one build, which is what a
//! cluster requires anyway), and gives
//!
//! * its real size in bytes ([`SizeOf`]), used by [`Value::new`];
//! * optionally, an encoder and a decoder.
//!
//! Two encodings exist:
//!
//! * **n-d blocks** (`ndarray::ArrayD<T>` for the element types `bool`,
//!   `i8`–`i64`, `u8`–`u64`, `f32`, `f64`): a header (dtype code, number of
//!   axes, shape) followed by the elements' raw little-endian bytes — one
//!   copy, no per-element encoding;
//! * types with an encoding of their own ([`ValueCodec`], registered with
//!   [`register_codec!`](crate::register_codec)), such as dataframe
//!   partitions written as Arrow IPC straight into the output;
//! * **everything else** with serde through postcard.
//!
//! Common types are registered here (numbers, strings, vectors and tuples of
//! them, blocks); a program registers its own with
//! [`register_type!`](crate::register_type) (serde types) or
//! [`register_size!`](crate::register_size) (local-only types that should
//! report a real size). `#[rask::remote]` registers the argument and return
//! types of the functions it marks.
//!
//! Decoding never panics: bytes that do not decode to a value of the tagged
//! type give a [`CodecError`].
//!
//! ```
//! use rask_core::Value;
//! let v = Value::new(vec![1.5f64, 2.5]);
//! let encoded = v.encode().unwrap();
//! let back = Value::decode(&encoded.tag, &encoded.bytes).unwrap();
//! assert_eq!(back.downcast_ref::<Vec<f64>>(), Some(&vec![1.5, 2.5]));
//! assert!(Value::decode(&encoded.tag, &encoded.bytes[..3]).is_err());
//! ```

use std::any::{Any, TypeId};
use std::io::{Read, Write};
use std::sync::LazyLock;

use ndarray::{ArrayD, IxDyn};
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::size::SizeOf;
use crate::value::Value;

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The value's type has no codec registered.
    #[error(
        "values of type `{type_name}` cannot leave this process: no codec is registered for it; \
         register it with `rask::register_type!({type_name})` (it must implement serde's \
         Serialize and Deserialize)"
    )]
    NoCodec {
        /// The type.
        type_name: &'static str,
    },
    /// No type with this tag is registered in this program.
    #[error(
        "no value type `{tag}` is registered in this program; the sender was built from \
         other code, or the type was not registered with `rask::register_type!`"
    )]
    UnknownTag {
        /// The tag that was received.
        tag: String,
    },
    /// The bytes do not decode to a value of the tagged type.
    #[error("bytes of a `{tag}` value do not decode: {reason}")]
    Malformed {
        /// The type the bytes claimed to be.
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// Encoding failed (a serde error from the type's `Serialize`).
    #[error("a `{tag}` value could not be encoded: {reason}")]
    Encode {
        /// The type.
        tag: String,
        /// What went wrong.
        reason: String,
    },
    /// The type's encoder or decoder panicked (a bug in its `Serialize`,
    /// `Deserialize` or [`ValueCodec`]): caught and returned, as a task's
    /// panic is.
    #[error("the {during} of a `{tag}` value panicked: {message}")]
    Panicked {
        /// The type.
        tag: String,
        /// `"encoding"` or `"decoding"`.
        during: &'static str,
        /// The panic's message and where it happened.
        message: String,
    },
}

/// A value as bytes, with the tag of its type.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EncodedValue {
    /// The registered tag of the value's type.
    pub tag: String,
    /// The encoded value.
    pub bytes: Vec<u8>,
}

type SizeFn = fn(&dyn Any) -> usize;
type EncodeFn = fn(&dyn Any, &mut Vec<u8>) -> Result<(), CodecError>;
type DecodeFn = fn(&[u8]) -> Result<Value, CodecError>;
type CollectFn = fn(&[Value]) -> Result<Value, crate::TaskError>;
type WriteFn = fn(&dyn Any, &mut dyn Write) -> Result<(), CodecError>;
type ReadFn = fn(&mut dyn Read, usize) -> Result<Value, CodecError>;

/// One registered value type: its tag, size function and codec.
///
/// Made with the `const fn`s below and registered with `inventory` (the
/// [`register_type!`](crate::register_type) and
/// [`register_size!`](crate::register_size) macros do it).
pub struct TypeEntry {
    type_id: fn() -> TypeId,
    tag: fn() -> &'static str,
    size: SizeFn,
    codec: Option<(EncodeFn, DecodeFn)>,
    /// Streaming forms of the codec (same bytes), where the type has them:
    /// a value written to a file without its bytes in memory first, and
    /// read back without them.
    stream: Option<(WriteFn, ReadFn)>,
    /// Whether `size` is a [`SizeOf`] (preferred over an estimate when a
    /// type is registered twice).
    exact_size: bool,
    /// Gathers values of this type into a `Vec` of them (the portable form
    /// of `delayed::collect`).
    collect: Option<CollectFn>,
}

inventory::collect!(TypeEntry);

impl TypeEntry {
    /// A serde type: real size from [`SizeOf`], encoded with postcard.
    pub const fn serde<T: Serialize + DeserializeOwned + SizeOf + Clone + Any + Send + Sync>()
    -> Self {
        TypeEntry {
            type_id: TypeId::of::<T>,
            tag: std::any::type_name::<T>,
            size: size_of_any::<T>,
            codec: Some((encode_serde::<T>, decode_serde::<T>)),
            stream: None,
            exact_size: true,
            collect: Some(collect_values::<T>),
        }
    }

    /// A serde type without a [`SizeOf`]: its size is taken as the length
    /// of its encoding (a walk over the value, no allocation).
    pub const fn serde_unsized<T: Serialize + DeserializeOwned + Clone + Any + Send + Sync>() -> Self
    {
        TypeEntry {
            type_id: TypeId::of::<T>,
            tag: std::any::type_name::<T>,
            size: serialized_size::<T>,
            codec: Some((encode_serde::<T>, decode_serde::<T>)),
            stream: None,
            exact_size: false,
            collect: Some(collect_values::<T>),
        }
    }

    /// A type with its own encoding ([`ValueCodec`]).
    pub const fn custom<T: ValueCodec>() -> Self {
        TypeEntry {
            type_id: TypeId::of::<T>,
            tag: std::any::type_name::<T>,
            size: size_of_any::<T>,
            codec: Some((encode_custom::<T>, decode_custom::<T>)),
            stream: Some((write_custom::<T>, read_custom::<T>)),
            exact_size: true,
            collect: Some(collect_values::<T>),
        }
    }

    /// A local-only type that reports its real size.
    pub const fn sized<T: SizeOf + Any>() -> Self {
        TypeEntry {
            type_id: TypeId::of::<T>,
            tag: std::any::type_name::<T>,
            size: size_of_any::<T>,
            codec: None,
            stream: None,
            exact_size: true,
            collect: None,
        }
    }

    /// An n-d block of `T`, encoded as header + raw bytes.
    pub const fn block<T: BlockElement>() -> Self {
        TypeEntry {
            type_id: TypeId::of::<ArrayD<T>>,
            tag: std::any::type_name::<ArrayD<T>>,
            size: size_of_any::<ArrayD<T>>,
            codec: Some((encode_block::<T>, decode_block::<T>)),
            stream: Some((write_block::<T>, read_block::<T>)),
            exact_size: true,
            collect: Some(collect_values::<ArrayD<T>>),
        }
    }

    /// The type's tag.
    pub fn tag(&self) -> &'static str {
        (self.tag)()
    }

    /// Whether values of this type can be encoded.
    pub fn has_codec(&self) -> bool {
        self.codec.is_some()
    }

    /// Gathers `values`, each of this type, into one `Vec` of them; `None`
    /// when the type was registered without this ability.
    pub fn collect(&self, values: &[Value]) -> Option<Result<Value, crate::TaskError>> {
        self.collect.map(|f| f(values))
    }
}

fn collect_values<T: Clone + Any + Send + Sync>(
    values: &[Value],
) -> Result<Value, crate::TaskError> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| v.get::<T>(i).cloned())
        .collect::<Result<Vec<T>, _>>()
        .map(Value::new)
}

/// Registers serde types so their values can cross process boundaries and
/// report real sizes. Each type must implement `Serialize`,
/// `DeserializeOwned`, `Clone` and [`SizeOf`]. Register `Vec<T>` too when
/// values are gathered with `delayed::collect` and the list must travel.
///
/// ```
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Fit { slope: f64, points: Vec<f64> }
/// impl rask_core::SizeOf for Fit {
///     fn heap_bytes(&self) -> usize { self.points.heap_bytes() }
/// }
/// rask_core::register_type!(Fit);
///
/// let v = rask_core::Value::new(Fit { slope: 1.0, points: vec![0.0; 100] });
/// assert!(v.nbytes() >= 800);
/// assert!(v.is_portable());
/// ```
#[macro_export]
macro_rules! register_type {
    ($($t:ty),+ $(,)?) => {$(
        $crate::inventory::submit! { $crate::codec::TypeEntry::serde::<$t>() }
    )+};
}

/// Registers types with an encoding of their own ([`ValueCodec`]), so
/// their values can cross process boundaries and report real sizes.
#[macro_export]
macro_rules! register_codec {
    ($($t:ty),+ $(,)?) => {$(
        $crate::inventory::submit! { $crate::codec::TypeEntry::custom::<$t>() }
    )+};
}

/// Registers types that stay in this process but should report their real
/// size ([`SizeOf`]) to memory accounting and the profiler.
#[macro_export]
macro_rules! register_size {
    ($($t:ty),+ $(,)?) => {$(
        $crate::inventory::submit! { $crate::codec::TypeEntry::sized::<$t>() }
    )+};
}

struct Registry {
    by_type: FxHashMap<TypeId, &'static TypeEntry>,
    by_tag: FxHashMap<&'static str, &'static TypeEntry>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut by_type = FxHashMap::default();
    let mut by_tag = FxHashMap::default();
    for entry in inventory::iter::<TypeEntry> {
        // A type registered twice (by rask and by `#[rask::remote]`, say)
        // keeps the entry with a codec and an exact size.
        let rank = |e: &TypeEntry| (e.codec.is_some(), e.exact_size);
        let slot = by_type.entry((entry.type_id)()).or_insert(entry);
        if rank(entry) > rank(slot) {
            *slot = entry;
        }
        let slot = by_tag.entry((entry.tag)()).or_insert(entry);
        if rank(entry) > rank(slot) {
            *slot = entry;
        }
    }
    Registry { by_type, by_tag }
});

/// The registry entry of a type, if it has one.
pub fn entry_of(type_id: TypeId) -> Option<&'static TypeEntry> {
    REGISTRY.by_type.get(&type_id).copied()
}

/// The registry entry for a tag, if this program has one.
pub fn entry_for_tag(tag: &str) -> Option<&'static TypeEntry> {
    REGISTRY.by_tag.get(tag).copied()
}

/// The real size of `value` when its type is registered.
pub(crate) fn registered_size(value: &dyn Any) -> Option<usize> {
    entry_of(value.type_id()).map(|e| (e.size)(value))
}

/// Whether values of this type can be encoded.
pub fn has_codec(type_id: TypeId) -> bool {
    entry_of(type_id).is_some_and(TypeEntry::has_codec)
}

pub(crate) fn encode(value: &dyn Any, type_name: &'static str) -> Result<EncodedValue, CodecError> {
    let entry = entry_of(value.type_id()).ok_or(CodecError::NoCodec { type_name })?;
    let (enc, _) = entry.codec.ok_or(CodecError::NoCodec { type_name })?;
    let mut bytes = Vec::new();
    guard(entry.tag(), "encoding", || enc(value, &mut bytes))?;
    Ok(EncodedValue {
        tag: entry.tag().to_string(),
        bytes,
    })
}

/// Writes the bytes [`encode`] would make to `w` (streaming where the type
/// can), returning the type's tag. A failed write is an `Encode` error
/// whose reason is the I/O error's text; a caller that needs the I/O error
/// itself keeps it in its writer.
pub(crate) fn encode_to(
    value: &dyn Any,
    type_name: &'static str,
    w: &mut dyn Write,
) -> Result<&'static str, CodecError> {
    let entry = entry_of(value.type_id()).ok_or(CodecError::NoCodec { type_name })?;
    let (enc, _) = entry.codec.ok_or(CodecError::NoCodec { type_name })?;
    guard(entry.tag(), "encoding", || match entry.stream {
        Some((write, _)) => write(value, w),
        None => {
            let mut bytes = Vec::new();
            enc(value, &mut bytes)?;
            w.write_all(&bytes).map_err(|e| io_error(entry.tag(), &e))
        }
    })?;
    Ok(entry.tag())
}

/// Reads a value of the type tagged `tag` from exactly `len` bytes of `r`
/// (made by [`encode_to`] or [`encode`]), streaming where the type can.
pub(crate) fn decode_from_reader(
    tag: &str,
    r: &mut dyn Read,
    len: usize,
) -> Result<Value, CodecError> {
    let (entry, dec) = decoder(tag)?;
    match entry.stream {
        Some((_, read)) => guard(tag, "decoding", || read(r, len)),
        None => {
            let mut bytes = vec![0u8; len];
            r.read_exact(&mut bytes)
                .map_err(|e| CodecError::Malformed {
                    tag: tag.to_string(),
                    reason: e.to_string(),
                })?;
            guard(tag, "decoding", || dec(&bytes))
        }
    }
}

/// Runs a type's encoder or decoder (user code), turning a panic into
/// [`CodecError::Panicked`]: a value that cannot be encoded is an error
/// for whoever encodes it (a spill keeps the value in memory), never a
/// panic on a thread that runs no task.
fn guard<R>(
    tag: &str,
    during: &'static str,
    f: impl FnOnce() -> Result<R, CodecError>,
) -> Result<R, CodecError> {
    crate::panics::catch_message(f).unwrap_or_else(|message| {
        Err(CodecError::Panicked {
            tag: tag.to_string(),
            during,
            message,
        })
    })
}

fn io_error(tag: &str, e: &std::io::Error) -> CodecError {
    CodecError::Encode {
        tag: tag.into(),
        reason: format!("writing failed: {e}"),
    }
}

/// The entry and decoder of the type tagged `tag`.
fn decoder(tag: &str) -> Result<(&'static TypeEntry, DecodeFn), CodecError> {
    let unknown = || CodecError::UnknownTag {
        tag: tag.to_string(),
    };
    let entry = entry_for_tag(tag).ok_or_else(unknown)?;
    let (_, dec) = entry.codec.ok_or_else(unknown)?;
    Ok((entry, dec))
}

pub(crate) fn decode(tag: &str, bytes: &[u8]) -> Result<Value, CodecError> {
    let dec = decoder(tag)?.1;
    guard(tag, "decoding", || dec(bytes))
}

fn size_of_any<T: SizeOf + Any>(v: &dyn Any) -> usize {
    v.downcast_ref::<T>()
        .map_or(std::mem::size_of::<T>(), T::size_bytes)
}

/// Counts bytes without storing them.
struct Counter(usize);

impl postcard::ser_flavors::Flavor for Counter {
    type Output = usize;
    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0 += data.len();
        Ok(())
    }
    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.0)
    }
}

fn serialized_size<T: Serialize + Any>(v: &dyn Any) -> usize {
    let inline = std::mem::size_of::<T>();
    v.downcast_ref::<T>()
        .and_then(|t| postcard::serialize_with_flavor(t, Counter(0)).ok())
        .map_or(inline, |n| n.max(inline))
}

/// `v` as a `T`, or the encoding error of a value of another type.
fn downcast<T: Any>(v: &dyn Any) -> Result<&T, CodecError> {
    v.downcast_ref::<T>().ok_or_else(|| CodecError::Encode {
        tag: std::any::type_name::<T>().into(),
        reason: "the value is of another type".into(),
    })
}

/// Appends postcard's bytes to a `Vec` (no intermediate buffer).
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();
    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        self.0.push(b);
        Ok(())
    }
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }
    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

fn encode_serde<T: Serialize + Any>(v: &dyn Any, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let tag = std::any::type_name::<T>();
    let t = downcast::<T>(v)?;
    let start = out.len();
    postcard::serialize_with_flavor(t, AppendTo(out)).map_err(|e| {
        out.truncate(start);
        CodecError::Encode {
            tag: tag.into(),
            reason: e.to_string(),
        }
    })
}

/// A type with an encoding of its own, for values whose serde form would
/// cost extra copies (a large buffer serialized into a byte string, then
/// copied again). Register it with
/// [`register_codec!`](crate::register_codec).
///
/// ```
/// use rask_core::{SizeOf, Value, codec::ValueCodec};
///
/// #[derive(Clone)]
/// struct Samples(Vec<u16>);
/// impl SizeOf for Samples {
///     fn heap_bytes(&self) -> usize { self.0.heap_bytes() }
/// }
/// impl ValueCodec for Samples {
///     fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
///         out.reserve(2 * self.0.len());
///         self.0.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
///         Ok(())
///     }
///     fn decode_from(bytes: &[u8]) -> Result<Self, String> {
///         if bytes.len() % 2 != 0 {
///             return Err(format!("{} bytes is not a whole number of samples", bytes.len()));
///         }
///         Ok(Samples(bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect()))
///     }
/// }
/// rask_core::register_codec!(Samples);
///
/// let e = Value::new(Samples(vec![1, 2, 3])).encode().unwrap();
/// assert_eq!(e.bytes, [1, 0, 2, 0, 3, 0]);
/// let back = Value::decode(&e.tag, &e.bytes).unwrap();
/// assert_eq!(back.downcast_ref::<Samples>().unwrap().0, [1, 2, 3]);
/// assert!(Value::decode(&e.tag, &e.bytes[..3]).is_err());
/// ```
pub trait ValueCodec: SizeOf + Clone + Any + Send + Sync + Sized {
    /// Appends the value's bytes to `out`; on an error, the reason.
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String>;
    /// The value `bytes` encode (exactly those bytes); on an error, why
    /// they do not decode.
    fn decode_from(bytes: &[u8]) -> Result<Self, String>;

    /// Writes the bytes of [`encode_into`](Self::encode_into) to `w`. The
    /// default encodes into memory first; a type whose bytes can be made
    /// piece by piece writes them as it goes, so spilling it needs no copy
    /// of its size.
    fn encode_to(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let mut out = Vec::new();
        self.encode_into(&mut out).map_err(std::io::Error::other)?;
        w.write_all(&out)
    }

    /// Reads a value from exactly `len` bytes of `r`, as
    /// [`decode_from`](Self::decode_from) would from those bytes. The
    /// default reads them into memory first.
    fn decode_from_reader(r: &mut dyn Read, len: usize) -> Result<Self, String> {
        let mut bytes = vec![0u8; len];
        r.read_exact(&mut bytes).map_err(|e| e.to_string())?;
        Self::decode_from(&bytes)
    }
}

fn encode_custom<T: ValueCodec>(v: &dyn Any, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let tag = std::any::type_name::<T>();
    let t = downcast::<T>(v)?;
    let start = out.len();
    t.encode_into(out).map_err(|reason| {
        out.truncate(start);
        CodecError::Encode {
            tag: tag.into(),
            reason,
        }
    })
}

fn write_custom<T: ValueCodec>(v: &dyn Any, w: &mut dyn Write) -> Result<(), CodecError> {
    let tag = std::any::type_name::<T>();
    let t = downcast::<T>(v)?;
    t.encode_to(w).map_err(|e| CodecError::Encode {
        tag: tag.into(),
        reason: e.to_string(),
    })
}

fn read_custom<T: ValueCodec>(r: &mut dyn Read, len: usize) -> Result<Value, CodecError> {
    T::decode_from_reader(r, len)
        .map(Value::new)
        .map_err(|reason| CodecError::Malformed {
            tag: std::any::type_name::<T>().into(),
            reason,
        })
}

fn decode_custom<T: ValueCodec>(bytes: &[u8]) -> Result<Value, CodecError> {
    T::decode_from(bytes)
        .map(Value::new)
        .map_err(|reason| CodecError::Malformed {
            tag: std::any::type_name::<T>().into(),
            reason,
        })
}

fn decode_serde<T: DeserializeOwned + Any + Send + Sync>(
    bytes: &[u8],
) -> Result<Value, CodecError> {
    let malformed = |reason: String| CodecError::Malformed {
        tag: std::any::type_name::<T>().into(),
        reason,
    };
    let (value, rest) =
        postcard::take_from_bytes::<T>(bytes).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed(format!("{} bytes left over", rest.len())));
    }
    Ok(Value::new(value))
}

/// Element types of n-d blocks that travel as raw bytes.
pub trait BlockElement: Copy + Default + Send + Sync + 'static {
    /// A one-byte code of the type in the block header.
    const BLOCK_CODE: u8;
    /// Bytes per element.
    const SIZE: usize;
    /// Appends the elements' little-endian bytes.
    fn extend_le(xs: &[Self], out: &mut Vec<u8>);
    /// Reads elements from exactly `xs.len() * SIZE` little-endian bytes.
    fn read_le(bytes: &[u8], xs: &mut [Self]) -> Result<(), String>;
    /// The elements' memory as bytes, where that memory holds them in
    /// their little-endian form and every byte pattern is an element (so
    /// a reader may fill it directly): numbers on a little-endian machine.
    /// `None` (the default) where not, as for `bool`.
    fn le_bytes_mut(_xs: &mut [Self]) -> Option<&mut [u8]> {
        None
    }
    /// `bytes`, little-endian elements, seen as elements in place: where
    /// [`le_bytes_mut`](Self::le_bytes_mut) applies and `bytes` is aligned
    /// for the type and a whole number of elements. `None` (the default)
    /// otherwise.
    fn le_slice(_bytes: &[u8]) -> Option<&[Self]> {
        None
    }
    /// The elements' memory as their little-endian bytes, in place: where
    /// [`le_bytes_mut`](Self::le_bytes_mut) applies. `None` (the default)
    /// otherwise.
    fn le_bytes(_xs: &[Self]) -> Option<&[u8]> {
        None
    }
}

macro_rules! pod_block {
    ($($t:ty => $code:literal),*) => {$(
        impl BlockElement for $t {
            const BLOCK_CODE: u8 = $code;
            const SIZE: usize = std::mem::size_of::<$t>();
            fn extend_le(xs: &[Self], out: &mut Vec<u8>) {
                if cfg!(target_endian = "little") {
                    out.extend_from_slice(bytemuck::cast_slice(xs));
                } else {
                    for x in xs {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
            fn read_le(bytes: &[u8], xs: &mut [Self]) -> Result<(), String> {
                if cfg!(target_endian = "little") {
                    bytemuck::cast_slice_mut::<$t, u8>(xs).copy_from_slice(bytes);
                } else {
                    for (x, c) in xs.iter_mut().zip(bytes.chunks_exact(Self::SIZE)) {
                        let mut raw = [0u8; std::mem::size_of::<$t>()];
                        raw.copy_from_slice(c);
                        *x = <$t>::from_le_bytes(raw);
                    }
                }
                Ok(())
            }
            fn le_bytes_mut(xs: &mut [Self]) -> Option<&mut [u8]> {
                cfg!(target_endian = "little").then(|| bytemuck::cast_slice_mut::<$t, u8>(xs))
            }
            fn le_bytes(xs: &[Self]) -> Option<&[u8]> {
                cfg!(target_endian = "little").then(|| bytemuck::cast_slice::<$t, u8>(xs))
            }
            fn le_slice(bytes: &[u8]) -> Option<&[Self]> {
                if cfg!(target_endian = "little") {
                    bytemuck::try_cast_slice(bytes).ok()
                } else {
                    None
                }
            }
        }
    )*};
}

pod_block!(
    i8 => 1, i16 => 2, i32 => 3, i64 => 4,
    u8 => 5, u16 => 6, u32 => 7, u64 => 8,
    f32 => 9, f64 => 10
);

impl BlockElement for bool {
    const BLOCK_CODE: u8 = 11;
    const SIZE: usize = 1;
    fn extend_le(xs: &[Self], out: &mut Vec<u8>) {
        out.extend(xs.iter().map(|&b| b as u8));
    }
    fn read_le(bytes: &[u8], xs: &mut [Self]) -> Result<(), String> {
        for (i, (x, &b)) in xs.iter_mut().zip(bytes).enumerate() {
            *x = match b {
                0 => false,
                1 => true,
                other => return Err(format!("element {i} is the byte {other}, not a bool")),
            };
        }
        Ok(())
    }
}

/// Complex numbers (NumPy's `complex64` and `complex128`): the real part's
/// little-endian bytes, then the imaginary part's, as NumPy stores them.
macro_rules! complex_block {
    ($($t:ty => $code:literal),*) => {$(
        impl BlockElement for num_complex::Complex<$t> {
            const BLOCK_CODE: u8 = $code;
            const SIZE: usize = 2 * std::mem::size_of::<$t>();
            fn extend_le(xs: &[Self], out: &mut Vec<u8>) {
                if cfg!(target_endian = "little") {
                    out.extend_from_slice(bytemuck::cast_slice(xs));
                } else {
                    for x in xs {
                        out.extend_from_slice(&x.re.to_le_bytes());
                        out.extend_from_slice(&x.im.to_le_bytes());
                    }
                }
            }
            fn read_le(bytes: &[u8], xs: &mut [Self]) -> Result<(), String> {
                if cfg!(target_endian = "little") {
                    bytemuck::cast_slice_mut::<Self, u8>(xs).copy_from_slice(bytes);
                } else {
                    const HALF: usize = std::mem::size_of::<$t>();
                    for (x, c) in xs.iter_mut().zip(bytes.chunks_exact(Self::SIZE)) {
                        let mut raw = [0u8; HALF];
                        raw.copy_from_slice(&c[..HALF]);
                        x.re = <$t>::from_le_bytes(raw);
                        raw.copy_from_slice(&c[HALF..]);
                        x.im = <$t>::from_le_bytes(raw);
                    }
                }
                Ok(())
            }
        }
    )*};
}

complex_block!(f32 => 12, f64 => 13);

/// Header: magic `b"RB"`, element code, number of axes, then each axis
/// length as a little-endian u64.
const BLOCK_MAGIC: &[u8; 2] = b"RB";

/// A block's bytes ([`write_block`] into memory, reserved first).
fn encode_block<T: BlockElement>(v: &dyn Any, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if let Some(a) = v.downcast_ref::<ArrayD<T>>() {
        out.reserve(4 + 8 * a.ndim() + a.len() * T::SIZE);
    }
    write_block::<T>(v, out)
}

/// Elements a block is converted in at a time where its memory cannot be
/// read or written as its bytes (not contiguous, or not little-endian).
const ELEMENT_RUN: usize = 1 << 16;

/// A block to a writer: the header, then the elements straight
/// from the block's memory where it is contiguous (else in pieces).
fn write_block<T: BlockElement>(v: &dyn Any, w: &mut dyn Write) -> Result<(), CodecError> {
    let tag = std::any::type_name::<ArrayD<T>>();
    let a = downcast::<ArrayD<T>>(v)?;
    if a.ndim() > u8::MAX as usize {
        return Err(CodecError::Encode {
            tag: tag.into(),
            reason: format!("{} axes; blocks have at most 255", a.ndim()),
        });
    }
    let mut header = Vec::with_capacity(4 + 8 * a.ndim());
    header.extend_from_slice(BLOCK_MAGIC);
    header.push(T::BLOCK_CODE);
    header.push(a.ndim() as u8);
    for &n in a.shape() {
        header.extend_from_slice(&(n as u64).to_le_bytes());
    }
    let io = |e: std::io::Error| io_error(tag, &e);
    w.write_all(&header).map_err(io)?;
    if let Some(bytes) = a.as_slice().and_then(T::le_bytes) {
        return w.write_all(bytes).map_err(io);
    }
    // Not contiguous, or not little-endian in memory: a run at a time.
    let mut buf = Vec::new();
    let mut xs = Vec::with_capacity(ELEMENT_RUN);
    let mut it = a.iter().copied().peekable();
    while it.peek().is_some() {
        xs.clear();
        xs.extend(it.by_ref().take(ELEMENT_RUN));
        buf.clear();
        T::extend_le(&xs, &mut buf);
        w.write_all(&buf).map_err(io)?;
    }
    Ok(())
}

/// A block from exactly `len` bytes of a reader: the elements are
/// read straight into the new block's memory where they can be.
fn read_block<T: BlockElement>(r: &mut dyn Read, len: usize) -> Result<Value, CodecError> {
    let malformed = |reason: String| CodecError::Malformed {
        tag: std::any::type_name::<ArrayD<T>>().into(),
        reason,
    };
    let read = |r: &mut dyn Read, buf: &mut [u8]| {
        r.read_exact(buf)
            .map_err(|e| malformed(format!("reading the block: {e}")))
    };
    let mut head = [0u8; 4];
    if len < 4 {
        return Err(malformed("missing block header".into()));
    }
    read(r, &mut head)?;
    if &head[..2] != BLOCK_MAGIC {
        return Err(malformed("missing block header".into()));
    }
    if head[2] != T::BLOCK_CODE {
        return Err(malformed(format!(
            "element code {} where {} was expected",
            head[2],
            T::BLOCK_CODE
        )));
    }
    let ndim = head[3] as usize;
    if len < 4 + 8 * ndim {
        return Err(malformed(format!(
            "the header promises {ndim} axes but is cut short"
        )));
    }
    let mut dims = vec![0u8; 8 * ndim];
    read(r, &mut dims)?;
    let mut shape = Vec::with_capacity(ndim);
    let mut n: usize = 1;
    for c in dims.chunks_exact(8) {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(c);
        let d = usize::try_from(u64::from_le_bytes(raw))
            .map_err(|_| malformed("an axis length does not fit in memory".into()))?;
        n = n
            .checked_mul(d)
            .ok_or_else(|| malformed("the shape's size overflows".into()))?;
        shape.push(d);
    }
    let data = len - 4 - 8 * ndim;
    if n.checked_mul(T::SIZE) != Some(data) {
        return Err(malformed(format!(
            "shape {shape:?} needs {} bytes of elements, found {data}",
            n.saturating_mul(T::SIZE)
        )));
    }
    let mut xs = vec![T::default(); n];
    if let Some(bytes) = T::le_bytes_mut(&mut xs) {
        read(r, bytes)?;
    } else {
        let mut buf = vec![0u8; ELEMENT_RUN * T::SIZE];
        for part in xs.chunks_mut(ELEMENT_RUN) {
            let b = &mut buf[..part.len() * T::SIZE];
            read(r, b)?;
            T::read_le(b, part).map_err(malformed)?;
        }
    }
    let a = ArrayD::from_shape_vec(IxDyn(&shape), xs).map_err(|e| malformed(e.to_string()))?;
    Ok(Value::new(a))
}

/// A block from its bytes ([`read_block`] from memory).
fn decode_block<T: BlockElement>(bytes: &[u8]) -> Result<Value, CodecError> {
    read_block::<T>(&mut &bytes[..], bytes.len())
}

macro_rules! builtin_types {
    (serde: $($t:ty),* ; blocks: $($b:ty),*) => {
        $( inventory::submit! { TypeEntry::serde::<$t>() } )*
        $( inventory::submit! { TypeEntry::block::<$b>() } )*
    };
}

builtin_types!(
    serde: (), bool, char, u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64, String,
    Vec<bool>, Vec<u8>, Vec<u16>, Vec<u32>, Vec<u64>, Vec<usize>,
    Vec<i8>, Vec<i16>, Vec<i32>, Vec<i64>, Vec<f32>, Vec<f64>, Vec<String>,
    Vec<Vec<f64>>, Vec<Vec<i64>>, Vec<Vec<u64>>,
    (f64, f64), (i64, i64), (u64, u64), (f64, u64), (u64, f64), (String, f64), (String, i64),
    Option<f64>, Option<i64>, Option<u64>, Option<String>,
    Vec<(f64, f64)>, Vec<(u64, u64)>, Vec<(String, f64)>;
    blocks: bool, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64,
        num_complex::Complex<f32>, num_complex::Complex<f64>
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_for_every_element_type() {
        fn check<T: BlockElement + PartialEq + std::fmt::Debug>(xs: Vec<T>) {
            let a = ArrayD::from_shape_vec(IxDyn(&[2, xs.len() / 2]), xs).unwrap();
            let e = Value::new(a.clone()).encode().unwrap();
            let back = Value::decode(&e.tag, &e.bytes).unwrap();
            assert_eq!(back.downcast_ref::<ArrayD<T>>(), Some(&a));
        }
        check(vec![1.5f64, -2.0, 3.0, f64::NAN.min(0.0)]);
        check(vec![1.5f32, -2.0]);
        check(vec![i8::MIN, i8::MAX]);
        check(vec![u64::MAX, 0, 7, 9]);
        check(vec![true, false]);
        use num_complex::Complex;
        check(vec![Complex::new(1.5f32, -2.0), Complex::new(0.0, 3.25)]);
        check(vec![Complex::new(1.5f64, -2.0), Complex::new(-0.5, 1e300)]);
    }

    #[test]
    fn non_contiguous_blocks_encode_in_logical_order() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).map(|x| x as f64).collect()).unwrap();
        let t = a.t().to_owned();
        let e = Value::new(t.clone()).encode().unwrap();
        let back = Value::decode(&e.tag, &e.bytes).unwrap();
        assert_eq!(back.downcast_ref::<ArrayD<f64>>(), Some(&t));
    }

    #[test]
    fn blocks_have_real_sizes() {
        let a = ArrayD::<f64>::zeros(IxDyn(&[100, 10]));
        assert!(Value::new(a).nbytes() >= 8000);
        assert_eq!(Value::new(vec![0u8; 1 << 20]).nbytes(), 24 + (1 << 20));
    }

    #[test]
    fn unregistered_types_say_how_to_register() {
        struct Local;
        let err = Value::new(Local).encode().unwrap_err().to_string();
        assert!(err.contains("register_type"), "{err}");
    }

    #[test]
    fn wrong_tag_and_truncated_bytes_are_errors() {
        let e = Value::new(ArrayD::<f64>::zeros(IxDyn(&[3])))
            .encode()
            .unwrap();
        for cut in 0..e.bytes.len() {
            assert!(
                Value::decode(&e.tag, &e.bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let f32_tag = std::any::type_name::<ArrayD<f32>>();
        assert!(Value::decode(f32_tag, &e.bytes).is_err());
        assert!(matches!(
            Value::decode("no::such::Type", &e.bytes),
            Err(CodecError::UnknownTag { .. })
        ));
    }

    /// A type whose `Serialize` and `Deserialize` panic.
    #[derive(Clone)]
    struct Explosive;
    impl serde::Serialize for Explosive {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            panic!("Explosive cannot be serialized")
        }
    }
    impl<'de> serde::Deserialize<'de> for Explosive {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            panic!("Explosive cannot be deserialized")
        }
    }
    impl SizeOf for Explosive {
        fn heap_bytes(&self) -> usize {
            0
        }
    }
    crate::register_type!(Explosive);

    #[test]
    fn a_panicking_encoder_or_decoder_is_an_error_naming_the_type() {
        let v = Value::new(Explosive);
        let tag = v.codec_tag().unwrap();
        let err = v.encode().unwrap_err();
        assert!(
            matches!(&err, CodecError::Panicked { during: "encoding", message, .. }
                if message.contains("cannot be serialized")),
            "{err}"
        );
        assert!(err.to_string().contains("Explosive"), "{err}");
        assert!(matches!(
            v.encode_to(&mut Vec::new()),
            Err(CodecError::Panicked {
                during: "encoding",
                ..
            })
        ));
        for back in [
            Value::decode(tag, &[0]),
            Value::decode_from_reader(tag, &mut &[0u8][..], 1),
        ] {
            let err = back.unwrap_err();
            assert!(
                matches!(&err, CodecError::Panicked { during: "decoding", message, .. }
                    if message.contains("cannot be deserialized")),
                "{err}"
            );
        }
    }
}
