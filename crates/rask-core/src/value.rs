//! Values: results of tasks, shared without copies.
//!
//! A [`Value`] is a reference-counted, type-erased result. Locally a value is
//! never copied or serialized: dependents read it through a shared reference.
//! Each value remembers the name of its type (so a value of the wrong type
//! reaching a task gives an error that names both types) and its size in bytes
//! (for memory accounting).

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
    /// Wraps a value. Its size is taken as `size_of::<T>()`, the shallow size;
    /// use [`Value::with_nbytes`] when the value owns heap memory worth
    /// counting.
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Value::with_nbytes(value, std::mem::size_of::<T>())
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
