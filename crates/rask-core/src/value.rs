//! Values: results of tasks, shared without copies.
//!
//! A [`Value`] is a reference-counted, type-erased result. Locally a value is
//! never copied or serialized: dependents read it through a shared reference.
//! Each value remembers the name of its type (so a value of the wrong type
//! reaching a task gives an error that names both types) and its real size in
//! bytes (for memory accounting; see [`crate::size`]). Values whose type has a
//! registered codec can be encoded to bytes and decoded in another process
//! ([`Value::encode`], [`Value::decode`]; see [`crate::codec`]).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::error::TaskError;

/// Object-safe view of a stored value.
trait Stored: Any + Send + Sync {
    fn type_name(&self) -> &'static str;
    fn nbytes(&self) -> usize;
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

struct Slot<T> {
    nbytes: usize,
    value: T,
}

impl<T: Any + Send + Sync> Stored for Slot<T> {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn nbytes(&self) -> usize {
        self.nbytes
    }
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        &self.value
    }
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// The result of a task: shared, type-erased, sized.
///
/// # Examples
///
/// ```
/// use rask_core::Value;
/// let v = Value::new(vec![1.0f64, 2.0]);
/// assert_eq!(v.downcast_ref::<Vec<f64>>().unwrap().len(), 2);
/// assert!(v.downcast_ref::<i32>().is_none());
/// assert!(v.type_name().contains("Vec<f64>"));
/// ```
#[derive(Clone)]
pub struct Value(Arc<dyn Stored>);

impl Value {
    /// Wraps a value. Its size is its real size when the type is registered
    /// (numbers, strings, vectors, maps and n-d blocks are; see
    /// [`crate::codec`]), else the inline size `size_of::<T>()`; use
    /// [`Value::sized`] or [`Value::with_nbytes`] for other types that own
    /// heap memory.
    ///
    /// ```
    /// use rask_core::Value;
    /// assert_eq!(Value::new(vec![0f64; 1000]).nbytes(), 24 + 8000);
    /// ```
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        let nbytes = crate::codec::registered_size(&value).unwrap_or(std::mem::size_of::<T>());
        Value::with_nbytes(value, nbytes)
    }

    /// Wraps a value whose type reports its own size.
    ///
    /// ```
    /// use rask_core::{SizeOf, Value};
    /// struct Model { weights: Vec<f64> }
    /// impl SizeOf for Model {
    ///     fn heap_bytes(&self) -> usize { self.weights.heap_bytes() }
    /// }
    /// let v = Value::sized(Model { weights: vec![0.0; 100] });
    /// assert_eq!(v.nbytes(), 24 + 800);
    /// ```
    pub fn sized<T: crate::SizeOf + Any + Send + Sync>(value: T) -> Self {
        let nbytes = value.size_bytes();
        Value::with_nbytes(value, nbytes)
    }

    /// Wraps a value whose size in bytes is known.
    pub fn with_nbytes<T: Any + Send + Sync>(value: T, nbytes: usize) -> Self {
        Value(Arc::new(Slot { nbytes, value }))
    }

    /// A reference to the value if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }

    /// A reference to the value as a `T`, or [`TaskError::WrongType`] naming
    /// both types; `position` is the argument position used in that error.
    pub fn get<T: Any>(&self, position: usize) -> Result<&T, TaskError> {
        self.downcast_ref::<T>()
            .ok_or_else(|| TaskError::WrongType {
                position,
                expected: std::any::type_name::<T>(),
                found: self.type_name(),
            })
    }

    /// Takes the value out if this is its last handle, cloning it otherwise.
    ///
    /// ```
    /// use rask_core::Value;
    /// let v = Value::new(String::from("x"));
    /// let s: String = v.into_inner(0).unwrap();
    /// assert_eq!(s, "x");
    /// ```
    pub fn into_inner<T: Any + Clone + Send + Sync>(self, position: usize) -> Result<T, TaskError> {
        let found = self.type_name();
        let wrong = || TaskError::WrongType {
            position,
            expected: std::any::type_name::<T>(),
            found,
        };
        let any = self.0.into_any();
        let slot = any.downcast::<Slot<T>>().map_err(|_| wrong())?;
        Ok(match Arc::try_unwrap(slot) {
            Ok(slot) => slot.value,
            Err(shared) => shared.value.clone(),
        })
    }

    /// The name of the stored type, as `std::any::type_name` spells it.
    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }

    /// The size of the value in bytes, as reported when it was made.
    pub fn nbytes(&self) -> usize {
        self.0.nbytes()
    }

    /// The [`TypeId`](std::any::TypeId) of the stored value.
    pub fn value_type_id(&self) -> std::any::TypeId {
        self.0.as_any().type_id()
    }

    /// Whether the value's type has a codec, so it can leave the process.
    pub fn is_portable(&self) -> bool {
        crate::codec::has_codec(self.value_type_id())
    }

    /// The value as bytes with its type's tag, or
    /// [`CodecError::NoCodec`](crate::codec::CodecError::NoCodec) naming the
    /// type when it has no codec.
    pub fn encode(&self) -> Result<crate::codec::EncodedValue, crate::codec::CodecError> {
        crate::codec::encode(self.0.as_any(), self.type_name())
    }

    /// The tag [`Value::encode`] would give the value; `None` when its type
    /// has no codec.
    ///
    /// ```
    /// assert!(rask_core::Value::new(1.5f64).codec_tag().is_some());
    /// ```
    pub fn codec_tag(&self) -> Option<&'static str> {
        crate::codec::entry_of(self.value_type_id())
            .filter(|e| e.has_codec())
            .map(crate::codec::TypeEntry::tag)
    }

    /// Writes the bytes of [`Value::encode`] to `w` and returns the type's
    /// tag. Blocks and types with a streaming [`ValueCodec`] write them as
    /// they go, so a spill file is written without a copy of the value in
    /// memory; other types are encoded into memory first.
    ///
    /// [`ValueCodec`]: crate::codec::ValueCodec
    ///
    /// ```
    /// use rask_core::Value;
    /// let v = Value::new(ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 3])));
    /// let mut bytes = Vec::new();
    /// let tag = v.encode_to(&mut bytes).unwrap();
    /// assert_eq!(bytes, v.encode().unwrap().bytes);
    /// let back = Value::decode_from_reader(tag, &mut bytes.as_slice(), bytes.len()).unwrap();
    /// assert_eq!(back.encode().unwrap().bytes, bytes);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Value::encode`]; a failed write is an `Encode` error carrying
    /// the I/O error's text.
    pub fn encode_to(
        &self,
        w: &mut dyn std::io::Write,
    ) -> Result<&'static str, crate::codec::CodecError> {
        crate::codec::encode_to(self.0.as_any(), self.type_name(), w)
    }

    /// Reads a value tagged `tag` from exactly `len` bytes of `r`, as
    /// [`Value::decode`] would from those bytes (see [`Value::encode_to`]).
    ///
    /// # Errors
    ///
    /// As [`Value::decode`]; a read that fails or ends early is a
    /// `Malformed` error.
    pub fn decode_from_reader(
        tag: &str,
        r: &mut dyn std::io::Read,
        len: usize,
    ) -> Result<Value, crate::codec::CodecError> {
        crate::codec::decode_from_reader(tag, r, len)
    }

    /// Decodes bytes made by [`Value::encode`] (in this or another process
    /// of the same build). Never panics: bytes that do not decode give an
    /// error.
    pub fn decode(tag: &str, bytes: &[u8]) -> Result<Value, crate::codec::CodecError> {
        crate::codec::decode(tag, bytes)
    }

    /// How many handles to this value exist (this one included). A store
    /// that holds the only handle knows that writing the value to disk and
    /// dropping it frees its memory; with other handles alive (a running
    /// task's argument, a value being sent) it would not.
    ///
    /// ```
    /// use rask_core::Value;
    /// let v = Value::new(1u8);
    /// assert_eq!(v.handle_count(), 1);
    /// let w = v.clone();
    /// assert_eq!(v.handle_count(), 2);
    /// drop(w);
    /// assert_eq!(v.handle_count(), 1);
    /// ```
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// Whether two handles point at the same stored value.
    pub fn ptr_eq(&self, other: &Value) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Value {
    /// A typed handle to the value that shares it instead of copying it, or
    /// [`TaskError::WrongType`] naming both types; `position` is the
    /// argument position used in that error.
    ///
    /// ```
    /// use rask_core::Value;
    /// let v = Value::new(vec![1u8; 1 << 20]);
    /// let a = v.shared::<Vec<u8>>(0).unwrap();
    /// assert_eq!(a.len(), 1 << 20);
    /// assert!(v.shared::<String>(0).is_err());
    /// ```
    pub fn shared<T: Any>(&self, position: usize) -> Result<Shared<T>, TaskError> {
        self.get::<T>(position)?;
        Ok(Shared {
            value: self.clone(),
            _type: std::marker::PhantomData,
        })
    }
}

/// A typed, read-only handle to a task's value, shared rather than copied
/// (see [`Value::shared`]). Cloning it is cheap; it dereferences to `T`.
pub struct Shared<T> {
    value: Value,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T: Any> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // The type was checked when the handle was made, and a stored value
        // never changes.
        self.value
            .downcast_ref::<T>()
            .expect("a Shared handle holds a value of its type")
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            value: self.value.clone(),
            _type: std::marker::PhantomData,
        }
    }
}

impl<T: Any + fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value<{}>({} bytes)", self.type_name(), self.nbytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_type_names_both_types() {
        let v = Value::new(3i32);
        let err = v.get::<f64>(1).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("f64") && msg.contains("i32"), "{msg}");
    }

    #[test]
    fn into_inner_clones_when_shared() {
        let v = Value::new(vec![1u8, 2, 3]);
        let w = v.clone();
        let a: Vec<u8> = v.into_inner(0).unwrap();
        assert_eq!(a, vec![1, 2, 3]);
        assert_eq!(w.downcast_ref::<Vec<u8>>().unwrap(), &vec![1, 2, 3]);
    }

    #[test]
    fn value_handle_is_two_words() {
        assert_eq!(
            std::mem::size_of::<Value>(),
            2 * std::mem::size_of::<usize>()
        );
    }
}
