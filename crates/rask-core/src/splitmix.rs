//! SplitMix64 (Steele, Lea and Flood, 2014) as a counter-based generator:
//! the 64 bits at position `i` of the stream `key` are a pure function of
//! the two, so any position can be made on its own, in any order, on any
//! worker. Used for seeded random arrays and for reproducible samples.

/// SplitMix64's increment (the golden ratio in 64 bits).
pub const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijection that scrambles every bit.
///
/// ```
/// use rask_core::splitmix::mix;
/// assert_ne!(mix(1), mix(2));
/// assert_eq!(mix(0), 0);
/// ```
#[inline(always)]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 64 random bits at position `i` of the stream with `key`.
///
/// ```
/// use rask_core::splitmix::bits;
/// // The same key and position always give the same bits.
/// assert_eq!(bits(7, 3), bits(7, 3));
/// assert_ne!(bits(7, 3), bits(7, 4));
/// ```
#[inline(always)]
pub fn bits(key: u64, i: u64) -> u64 {
    mix(key.wrapping_add(i.wrapping_add(1).wrapping_mul(GAMMA)))
}
