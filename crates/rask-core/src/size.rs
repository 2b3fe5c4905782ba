//! Real sizes of values in bytes.
//!
//! Memory accounting, the profiler and (later) the spill store need to know
//! how much memory a task's result holds — not `size_of::<T>()`, which is 24
//! bytes for a `Vec` of any length. [`SizeOf`] reports the bytes a value
//! owns: its inline size plus what it owns on the heap, recursively.
//!
//! [`Value::new`](crate::Value::new) finds the size of common types (`Vec`s,
//! strings, maps, n-d blocks, tuples of them) through the type registry
//! ([`crate::codec`]); register your own types with
//! [`register_type!`](crate::register_type) or make values with
//! [`Value::sized`](crate::Value::sized).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// The bytes a value holds in memory.
///
/// ```
/// use rask_core::SizeOf;
/// let v = vec![0f64; 1000];
/// assert!(v.size_bytes() >= 8000);
/// let nested = vec![String::from("abc"); 10];
/// assert!(nested.size_bytes() >= 10 * (24 + 3));
/// ```
pub trait SizeOf {
    /// Bytes owned on the heap, not counting the value's own inline size.
    fn heap_bytes(&self) -> usize;

    /// Inline size plus heap bytes.
    fn size_bytes(&self) -> usize
    where
        Self: Sized,
    {
        std::mem::size_of::<Self>() + self.heap_bytes()
    }
}

macro_rules! no_heap {
    ($($t:ty),* $(,)?) => {$(
        impl SizeOf for $t {
            #[inline]
            fn heap_bytes(&self) -> usize {
                0
            }
        }
    )*};
}

no_heap!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    &'static str,
    std::time::Duration,
);

impl SizeOf for String {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl SizeOf for std::path::PathBuf {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

impl<T: SizeOf> SizeOf for Vec<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * std::mem::size_of::<T>() + self.iter().map(T::heap_bytes).sum::<usize>()
    }
}

impl<T: SizeOf> SizeOf for VecDeque<T> {
    fn heap_bytes(&self) -> usize {
        self.capacity() * std::mem::size_of::<T>() + self.iter().map(T::heap_bytes).sum::<usize>()
    }
}

impl<T: SizeOf> SizeOf for Box<T> {
    fn heap_bytes(&self) -> usize {
        (**self).size_bytes()
    }
}

impl<T: SizeOf> SizeOf for Box<[T]> {
    fn heap_bytes(&self) -> usize {
        self.len() * std::mem::size_of::<T>() + self.iter().map(T::heap_bytes).sum::<usize>()
    }
}

impl SizeOf for Box<str> {
    fn heap_bytes(&self) -> usize {
        self.len()
    }
}

/// An `Arc` counts what it points to: the value it shares is held in memory
/// as long as this handle is.
impl<T: SizeOf> SizeOf for Arc<T> {
    fn heap_bytes(&self) -> usize {
        (**self).size_bytes()
    }
}

impl<T: SizeOf> SizeOf for Option<T> {
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, T::heap_bytes)
    }
}

impl<T: SizeOf, E: SizeOf> SizeOf for Result<T, E> {
    fn heap_bytes(&self) -> usize {
        match self {
            Ok(t) => t.heap_bytes(),
            Err(e) => e.heap_bytes(),
        }
    }
}

impl<T: SizeOf, const N: usize> SizeOf for [T; N] {
    fn heap_bytes(&self) -> usize {
        self.iter().map(T::heap_bytes).sum()
    }
}

/// Per-entry bookkeeping of hash tables (control bytes, spare capacity),
/// roughly as hashbrown lays them out.
fn table_bytes(capacity: usize, entry: usize) -> usize {
    capacity * (entry + 1)
}

impl<K: SizeOf, V: SizeOf, S> SizeOf for HashMap<K, V, S> {
    fn heap_bytes(&self) -> usize {
        table_bytes(
            self.capacity(),
            std::mem::size_of::<K>() + std::mem::size_of::<V>(),
        ) + self
            .iter()
            .map(|(k, v)| k.heap_bytes() + v.heap_bytes())
            .sum::<usize>()
    }
}

impl<K: SizeOf, S> SizeOf for HashSet<K, S> {
    fn heap_bytes(&self) -> usize {
        table_bytes(self.capacity(), std::mem::size_of::<K>())
            + self.iter().map(K::heap_bytes).sum::<usize>()
    }
}

/// B-tree nodes hold up to 11 entries plus links; count each entry once
/// with its share of a node's overhead.
impl<K: SizeOf, V: SizeOf> SizeOf for BTreeMap<K, V> {
    fn heap_bytes(&self) -> usize {
        self.len() * (std::mem::size_of::<K>() + std::mem::size_of::<V>() + 8)
            + self
                .iter()
                .map(|(k, v)| k.heap_bytes() + v.heap_bytes())
                .sum::<usize>()
    }
}

impl<K: SizeOf> SizeOf for BTreeSet<K> {
    fn heap_bytes(&self) -> usize {
        self.len() * (std::mem::size_of::<K>() + 8) + self.iter().map(K::heap_bytes).sum::<usize>()
    }
}

impl<A: ndarray::Data, D: ndarray::Dimension> SizeOf for ndarray::ArrayBase<A, D> {
    /// The element buffer (for a view, the elements it shows).
    fn heap_bytes(&self) -> usize {
        self.len() * std::mem::size_of::<A::Elem>() + self.ndim() * 2 * std::mem::size_of::<usize>()
    }
}

macro_rules! tuple_size {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: SizeOf),+> SizeOf for ($($name,)+) {
            fn heap_bytes(&self) -> usize {
                0 $(+ self.$idx.heap_bytes())+
            }
        }
    };
}

tuple_size!(A 0);
tuple_size!(A 0, B 1);
tuple_size!(A 0, B 1, C 2);
tuple_size!(A 0, B 1, C 2, D 3);
tuple_size!(A 0, B 1, C 2, D 3, E 4);
tuple_size!(A 0, B 1, C 2, D 3, E 4, F 5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_count_their_buffers() {
        let v = vec![0f64; 1_000_000];
        assert_eq!(v.size_bytes(), 24 + 8_000_000);
        let vv = vec![vec![0u8; 100]; 10];
        assert_eq!(vv.size_bytes(), 24 + 10 * 24 + 10 * 100);
    }

    #[test]
    fn blocks_count_their_elements() {
        let a = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[100, 100]));
        assert!(a.size_bytes() >= 40_000);
        assert!(a.size_bytes() < 40_000 + 256);
    }

    #[test]
    fn maps_count_keys_and_values() {
        let m: HashMap<String, Vec<u64>> = (0..10)
            .map(|i| (format!("key-{i}"), vec![0u64; 100]))
            .collect();
        assert!(m.size_bytes() > 10 * 800);
    }
}
