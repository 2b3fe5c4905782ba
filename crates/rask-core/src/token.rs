//! Deterministic tokens: keys derived from what a task does (Dask's
//! `tokenize`).
//!
//! A task made from a registered kernel gets its key from the kernel's name,
//! its encoded parameters and the keys of its inputs. The same work built
//! twice — in one process or in two processes of the same build — then has
//! the same key, is merged into one task and is computed once. The hash is
//! 128-bit SipHash-1-3 with fixed keys, a defined algorithm that does not
//! depend on the process, the platform's hasher or the Rust release; tokens
//! are its 32 hex digits. Fields are length-prefixed, so `("ab", "c")` and
//! `("a", "bc")` never hash alike.
//!
//! Closures and impure kernels (I/O with side effects) keep fresh random
//! tokens ([`crate::fresh_token`]).
//!
//! ```
//! use rask_core::{Key, Tokenizer};
//! let token = |scale: f64| {
//!     let mut t = Tokenizer::new("rask.array.scale");
//!     t.bytes(&scale.to_le_bytes());
//!     t.key(&Key::with_index("x-1", &[0, 1]));
//!     t.finish()
//! };
//! assert_eq!(token(2.0), token(2.0));
//! assert_ne!(token(2.0), token(3.0));
//! assert_eq!(token(2.0).len(), 32);
//! ```

use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

use crate::key::Key;

/// Builds a deterministic token from the parts of a task.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    hasher: SipHasher13,
}

/// Fixed SipHash keys: "rask-tokenize-v1".
const K0: u64 = u64::from_le_bytes(*b"rask-tok");
const K1: u64 = u64::from_le_bytes(*b"enize-v1");

impl Tokenizer {
    /// A tokenizer for work of the kind `kind` (a kernel name, say).
    pub fn new(kind: &str) -> Self {
        let mut t = Tokenizer {
            hasher: SipHasher13::new_with_keys(K0, K1),
        };
        t.str(kind);
        t
    }

    /// Adds a string.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Adds bytes (length-prefixed).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.hasher.write_u64(b.len() as u64);
        self.hasher.write(b);
        self
    }

    /// Adds a number.
    pub fn u64(&mut self, x: u64) -> &mut Self {
        self.hasher.write_u64(x);
        self
    }

    /// Adds an input key: its name and block index.
    pub fn key(&mut self, k: &Key) -> &mut Self {
        self.str(k.name());
        self.hasher.write_u64(k.index().len() as u64);
        for &i in k.index() {
            self.hasher.write_u32(i);
        }
        self
    }

    /// Adds a serializable value through its postcard encoding; a value that
    /// cannot be encoded adds a fresh random token instead (so it never
    /// collides with anything).
    pub fn serde<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        match postcard::to_allocvec(value) {
            Ok(b) => self.bytes(&b),
            Err(_) => self.str(&crate::key::fresh_token()),
        }
    }

    /// The token: 32 hex digits.
    pub fn finish(&self) -> String {
        let h = self.hasher.finish128();
        format!("{:016x}{:016x}", h.h1, h.h2)
    }

    /// The key `prefix-<token>`.
    pub fn finish_key(&self, prefix: &str) -> Key {
        Key::new(format!("{prefix}-{}", self.finish()))
    }

    /// A deterministic layer name `prefix-<token>` for a collection's layer:
    /// the token hashes the operation (`prefix`), its parameters and the
    /// names of the layers it reads, so the same operation on the same
    /// inputs gets the same name in every build of a graph and in every
    /// process.
    ///
    /// ```
    /// use rask_core::Tokenizer;
    /// let a = Tokenizer::layer_name("add", &(1u8, "x"), &["in-1"]);
    /// assert_eq!(a, Tokenizer::layer_name("add", &(1u8, "x"), &["in-1"]));
    /// assert_ne!(a, Tokenizer::layer_name("add", &(2u8, "x"), &["in-1"]));
    /// assert!(a.starts_with("add-"));
    /// ```
    pub fn layer_name<P: serde::Serialize + ?Sized>(
        prefix: &str,
        params: &P,
        inputs: &[&str],
    ) -> std::sync::Arc<str> {
        let mut t = Tokenizer::new(prefix);
        t.serde(params);
        t.u64(inputs.len() as u64);
        for i in inputs {
            t.str(i);
        }
        t.finish_key(prefix).name().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_delimited() {
        let mut a = Tokenizer::new("k");
        a.str("ab").str("c");
        let mut b = Tokenizer::new("k");
        b.str("a").str("bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn the_token_is_fixed_across_builds() {
        // A changed algorithm would silently stop keys from matching those
        // of other processes (and of persisted results): pin one value.
        let mut t = Tokenizer::new("rask.test");
        t.u64(42).key(&Key::with_index("x-1", &[3]));
        assert_eq!(t.finish(), "33c7f7528484f1b0391bd199b20dab01");
    }
}
