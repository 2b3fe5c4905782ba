//! Task keys: the stable, printable names of tasks.
//!
//! A [`Key`] is a name — a short prefix saying what the task does plus a token
//! that makes it unique, like `inc-3f2a9c01d2e4b5a7` — and an optional block
//! index for tasks that produce one block of a chunked collection, like Dask's
//! `("add-3f2a", 0, 4)`. Keys show up in errors, the dashboard and the
//! profiler, so their `Display` form is meant for people.
//!
//! Two keys are equal when name and index are equal; graphs merged from
//! several collections treat equal keys as one task.
//!
//! Keys are cloned for every dependency edge of a graph, so cloning one never
//! allocates, and a `Key` is 32 bytes. A name of at most 30 bytes without a
//! block index — the common `prefix-<16 hex digits>` of a task from a
//! closure — is stored in the key itself: making such a key allocates
//! nothing, and hashing or comparing it reads no other memory. Any other key
//! holds a shared `Arc<str>` name and a block index of up to three axes
//! inline (more axes share one allocation behind an `Arc`).
//!
//! The representation is canonical: a key whose name fits and whose index is
//! empty is always stored inline, whichever constructor made it.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The name and optional block index of a task.
///
/// Cloning a key is cheap and never allocates: the name is shared and the
/// block index is stored inline (or shared, for more than three axes).
///
/// # Examples
///
/// ```
/// use rask_core::Key;
/// let k = Key::new("inc-1a2b");
/// assert_eq!(k.to_string(), "inc-1a2b");
/// let b = Key::with_index("add-3f2a", &[0, 4]);
/// assert_eq!(b.to_string(), "('add-3f2a', 0, 4)");
/// assert_eq!(b.prefix(), "add");
/// ```
#[derive(Clone)]
pub struct Key {
    repr: Repr,
}

/// Longest name stored inside a [`Key`].
const INLINE_NAME: usize = 30;

/// How a key is stored; see the module docs. Both variants fit in 32 bytes:
/// the inline one is laid out around the tag byte of [`BlockIndex`].
#[derive(Clone)]
enum Repr {
    /// A name of at most [`INLINE_NAME`] bytes (`bytes[..len]`), no index.
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    /// Any other name, and the block index.
    Shared { name: Arc<str>, index: BlockIndex },
}

/// Axes of a block index stored inside the key itself.
const INLINE_AXES: usize = 3;

/// A block index whose clone never allocates.
///
/// Three inline axes keep the whole enum at two words (the tag and length
/// share the first one), so a `Key` is no bigger than with a boxed slice.
/// Longer indices use a thin `Arc` (to the boxed slice) for the same reason.
#[derive(Clone)]
enum BlockIndex {
    /// `axes[..len]` is the index.
    Inline { len: u8, axes: [u32; INLINE_AXES] },
    /// More than [`INLINE_AXES`] axes.
    Shared(Arc<Box<[u32]>>),
}

impl BlockIndex {
    fn new(index: &[u32]) -> Self {
        if index.len() > INLINE_AXES {
            return BlockIndex::Shared(Arc::new(index.into()));
        }
        let mut axes = [0; INLINE_AXES];
        axes[..index.len()].copy_from_slice(index);
        BlockIndex::Inline {
            len: index.len() as u8,
            axes,
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            BlockIndex::Inline { len, axes } => &axes[..usize::from(*len)],
            BlockIndex::Shared(axes) => axes,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Inline { len: a, bytes: x }, Repr::Inline { len: b, bytes: y }) => {
                a == b && x == y
            }
            (Repr::Shared { name: a, index: i }, Repr::Shared { name: b, index: j }) => {
                (Arc::ptr_eq(a, b) || a == b) && i.as_slice() == j.as_slice()
            }
            // The representation is canonical: equal keys are stored alike.
            _ => false,
        }
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    /// By name, then by index (lexicographically, a shorter prefix first).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name_bytes()
            .cmp(other.name_bytes())
            .then_with(|| self.index().cmp(other.index()))
    }
}

impl Key {
    /// The key of `name` and `index`, inline when it fits.
    fn from_parts(name: &str, index: &[u32]) -> Option<Self> {
        if !index.is_empty() || name.len() > INLINE_NAME {
            return None;
        }
        let mut bytes = [0; INLINE_NAME];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Some(Key {
            repr: Repr::Inline {
                len: name.len() as u8,
                bytes,
            },
        })
    }

    /// A key without a block index.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Key::with_index(name, &[])
    }

    /// A key for one block of a chunked collection.
    pub fn with_index(name: impl Into<Arc<str>>, index: &[u32]) -> Self {
        let name = name.into();
        Key::from_parts(&name, index).unwrap_or_else(|| Key {
            repr: Repr::Shared {
                name,
                index: BlockIndex::new(index),
            },
        })
    }

    /// A fresh key `prefix-<token>`, unique within this process. For a
    /// prefix of up to 13 bytes it allocates nothing.
    ///
    /// ```
    /// use rask_core::Key;
    /// let a = Key::unique("load");
    /// let b = Key::unique("load");
    /// assert_ne!(a, b);
    /// assert!(a.name().starts_with("load-"));
    /// ```
    pub fn unique(prefix: &str) -> Self {
        let token = fresh_token_bits();
        let len = prefix.len() + 1 + 16;
        if len > INLINE_NAME {
            return Key::new(format!("{prefix}-{token:016x}"));
        }
        let mut bytes = [0; INLINE_NAME];
        bytes[..prefix.len()].copy_from_slice(prefix.as_bytes());
        bytes[prefix.len()] = b'-';
        for (i, b) in bytes[prefix.len() + 1..len].iter_mut().enumerate() {
            let nibble = (token >> (60 - 4 * i)) & 0xf;
            *b = b"0123456789abcdef"[nibble as usize];
        }
        Key {
            repr: Repr::Inline {
                len: len as u8,
                bytes,
            },
        }
    }

    /// The name's bytes.
    #[inline]
    fn name_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared { name, .. } => name.as_bytes(),
        }
    }

    /// The full name, prefix and token.
    pub fn name(&self) -> &str {
        match &self.repr {
            Repr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("an inline name is a copy of a whole `str`"),
            Repr::Shared { name, .. } => name,
        }
    }

    /// The name as a shared string, for building sibling keys: the key's
    /// own `Arc` for a long name, a new one for a short name (which the key
    /// stores inline).
    pub fn shared_name(&self) -> Arc<str> {
        match &self.repr {
            Repr::Inline { .. } => Arc::from(self.name()),
            Repr::Shared { name, .. } => name.clone(),
        }
    }

    /// The block index; empty for keys without one.
    pub fn index(&self) -> &[u32] {
        match &self.repr {
            Repr::Inline { .. } => &[],
            Repr::Shared { index, .. } => index.as_slice(),
        }
    }

    /// The part of the name before the token: what the task does.
    ///
    /// Names without a `-` are their own prefix.
    pub fn prefix(&self) -> &str {
        let name = self.name();
        match name.rfind('-') {
            Some(i) if i > 0 => &name[..i],
            _ => name,
        }
    }
}

impl Hash for Key {
    /// Hashes what `str` and `[u32]` would: the name's bytes, a terminator,
    /// then the index.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.name_bytes());
        state.write_u8(0xff);
        self.index().hash(state);
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.index().is_empty() {
            return f.write_str(self.name());
        }
        write!(f, "('{}'", self.name())?;
        for i in self.index() {
            write!(f, ", {i}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<&str> for Key {
    fn from(name: &str) -> Self {
        Key::from_parts(name, &[]).unwrap_or_else(|| Key::new(name))
    }
}

impl From<String> for Key {
    fn from(name: String) -> Self {
        Key::from_parts(&name, &[]).unwrap_or_else(|| Key::new(name))
    }
}

/// A 16-hex-digit token, unique within the process and unlikely to repeat
/// across processes (the counter is mixed with the process id and start time).
pub fn fresh_token() -> String {
    format!("{:016x}", fresh_token_bits())
}

/// The bits of a [`fresh_token`].
fn fresh_token_bits() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        splitmix64(nanos ^ (u64::from(std::process::id()) << 32))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    splitmix64(seed.wrapping_add(n))
}

/// SplitMix64: a bijective mixer, so distinct counters give distinct tokens.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_strips_the_token() {
        assert_eq!(Key::new("sum-ab12").prefix(), "sum");
        assert_eq!(Key::new("rolling-mean-ab12").prefix(), "rolling-mean");
        assert_eq!(Key::new("plain").prefix(), "plain");
        assert_eq!(Key::new("-x").prefix(), "-x");
    }

    #[test]
    fn tokens_do_not_repeat() {
        let set: std::collections::HashSet<String> = (0..10_000).map(|_| fresh_token()).collect();
        assert_eq!(set.len(), 10_000);
    }

    #[test]
    fn index_is_part_of_identity() {
        assert_ne!(Key::with_index("a", &[0]), Key::with_index("a", &[1]));
        assert_ne!(Key::new("a"), Key::with_index("a", &[0]));
        assert_eq!(Key::with_index("a", &[2, 3]), Key::with_index("a", &[2, 3]));
    }

    #[test]
    fn short_names_are_stored_inline_and_long_ones_shared() {
        let short = "delayed-0123456789abcdef";
        let long = "value-0123456789abcdef0123456789abcdef";
        for (k, inline) in [
            (Key::new(short), true),
            (Key::from(short), true),
            (Key::from(short.to_string()), true),
            (Key::with_index(short, &[]), true),
            (Key::new("x".repeat(INLINE_NAME)), true),
            (Key::new("x".repeat(INLINE_NAME + 1)), false),
            (Key::new(long), false),
            (Key::with_index("a", &[1]), false),
        ] {
            assert_eq!(matches!(k.repr, Repr::Inline { .. }), inline, "{k}");
        }
        // Either way, equality, order, hashing and display follow the name.
        assert_eq!(Key::new(short), Key::from(short.to_string()));
        assert_eq!(Key::new(short).to_string(), short);
        assert_eq!(Key::new(long).name(), long);
        assert_eq!(Key::new(short).shared_name().as_ref(), short);
        assert!(Key::new("a") < Key::new(long) && Key::new(long) < Key::new("w"));
        assert!(Key::new("a") < Key::with_index("a", &[0]));
        let set: std::collections::HashSet<Key> = [
            Key::new(short),
            Key::from(short),
            Key::new(long),
            Key::from(long),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn unique_keys_are_prefix_dash_sixteen_hex_digits() {
        for prefix in ["delayed", "a-much-longer-function-name", ""] {
            let k = Key::unique(prefix);
            let (p, token) = k.name().rsplit_once('-').unwrap();
            assert_eq!(p, prefix);
            assert_eq!(token.len(), 16);
            assert!(
                token
                    .bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
            assert!(k.index().is_empty());
        }
    }

    #[test]
    fn a_key_is_four_words() {
        assert_eq!(std::mem::size_of::<Key>(), 32);
    }

    #[test]
    fn inline_and_shared_indices_keep_identity_and_order() {
        for len in 0..=6u32 {
            let idx: Vec<u32> = (0..len).map(|i| i * 7 + 1).collect();
            let k = Key::with_index("x", &idx);
            assert_eq!(k.index(), idx.as_slice());
            assert_eq!(k.clone(), k);
            let mut longer = idx.clone();
            longer.push(0);
            let l = Key::with_index("x", &longer);
            assert_ne!(k, l);
            assert!(k < l, "a prefix sorts first, as for slices");
        }
        assert!(Key::with_index("a", &[9, 9, 9, 9]) < Key::with_index("b", &[0]));
        assert!(Key::with_index("a", &[1, 2, 3, 4]) < Key::with_index("a", &[1, 2, 4]));
        let set: std::collections::HashSet<Key> = [
            Key::with_index("a", &[1, 2, 3, 4]),
            Key::with_index("a", &[1, 2, 3, 4]),
            Key::with_index("a", &[1, 2, 3]),
            Key::with_index("a", &[1, 2, 3]),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 2);
        assert_eq!(
            Key::with_index("add-3f2a", &[0, 4, 1, 2]).to_string(),
            "('add-3f2a', 0, 4, 1, 2)"
        );
    }
}
