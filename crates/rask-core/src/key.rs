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
//! allocates: the name is a shared `Arc<str>`, and a block index of up to
//! three axes is stored inline (more axes share one allocation behind an
//! `Arc`). A `Key` is 32 bytes, two words for the name and two for the index.

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
    name: Arc<str>,
    index: BlockIndex,
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
    const EMPTY: BlockIndex = BlockIndex::Inline {
        len: 0,
        axes: [0; INLINE_AXES],
    };

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
        self.name == other.name && self.index() == other.index()
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
        self.name
            .cmp(&other.name)
            .then_with(|| self.index().cmp(other.index()))
    }
}

impl Key {
    /// A key without a block index.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Key {
            name: name.into(),
            index: BlockIndex::EMPTY,
        }
    }

    /// A key for one block of a chunked collection.
    pub fn with_index(name: impl Into<Arc<str>>, index: &[u32]) -> Self {
        Key {
            name: name.into(),
            index: BlockIndex::new(index),
        }
    }

    /// A fresh key `prefix-<token>`, unique within this process.
    ///
    /// ```
    /// use rask_core::Key;
    /// let a = Key::unique("load");
    /// let b = Key::unique("load");
    /// assert_ne!(a, b);
    /// assert!(a.name().starts_with("load-"));
    /// ```
    pub fn unique(prefix: &str) -> Self {
        Key::new(format!("{prefix}-{}", fresh_token()))
    }

    /// The full name, prefix and token.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared name, for building sibling keys without copying it.
    pub fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The block index; empty for keys without one.
    pub fn index(&self) -> &[u32] {
        self.index.as_slice()
    }

    /// The part of the name before the token: what the task does.
    ///
    /// Names without a `-` are their own prefix.
    pub fn prefix(&self) -> &str {
        match self.name.rfind('-') {
            Some(i) if i > 0 => &self.name[..i],
            _ => &self.name,
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.index().hash(state);
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.index().is_empty() {
            return f.write_str(&self.name);
        }
        write!(f, "('{}'", self.name)?;
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
        Key::new(name)
    }
}

impl From<String> for Key {
    fn from(name: String) -> Self {
        Key::new(name)
    }
}

/// A 16-hex-digit token, unique within the process and unlikely to repeat
/// across processes (the counter is mixed with the process id and start time).
pub fn fresh_token() -> String {
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
    format!("{:016x}", splitmix64(seed.wrapping_add(n)))
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
