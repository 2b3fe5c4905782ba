//! The arithmetic of a one-level transform along an axis, apart from any
//! data: output lengths, where an extended signal position comes from, how
//! the outputs are split into blocks and which input blocks each reads.
//!
//! # One level of the analysis (DWT)
//!
//! With a filter `f` of length `F` and the input `x` of length `N`
//! extended past its ends by the [`Mode`], PyWavelets computes
//!
//! ```text
//! out[o] = sum_{j < F} f[j] * ext(base + 2 o - j)
//! ```
//!
//! with `base = 1` and `(N + F - 1) / 2` outputs for the extension modes,
//! and `base = F / 2` and `ceil(N / 2)` outputs for periodization (which
//! first repeats the last sample of an odd-length signal, then wraps).
//! [`source`] maps an extended position to the input element it copies.
//!
//! # One level of the synthesis (IDWT)
//!
//! From approximation `a` and detail `d`, both of length `M`, with the
//! reconstruction filters `g` and `h`,
//!
//! ```text
//! out[k] = sum_{j < F} g[j] * up_a(k + s - j) + h[j] * up_d(k + s - j)
//! ```
//!
//! where `up_c(t)` is `c[t / 2]` for even `t` and 0 for odd `t` (upsampling),
//! `s = F - 2` and `2 M - F + 2` outputs for the extension modes (no
//! extension: only the "valid" part), `s = F / 2 - 1`, `2 M` outputs and
//! `t` taken modulo `2 M` for periodization ([`coefficient`]).
//!
//! # Blocks
//!
//! Every output depends on a window of `F` (DWT: `2 (n - 1) + F` for `n`
//! outputs) consecutive extended positions. The outputs are split into
//! parts that follow the input's chunks (halved for a DWT, doubled for an
//! IDWT), merged so that no part is shorter than the filter; a part's
//! task reads exactly the input blocks its window touches: its own, the
//! neighbour holding the halo of `F - 2` elements (more when blocks are
//! small), and, at the array's ends, the blocks the extension mirrors or
//! wraps around to. The result equals the transform of the whole axis for
//! any chunking, with no rechunk.

use serde::{Deserialize, Serialize};

/// How a signal is extended past its ends for a DWT (PyWavelets' `mode`).
///
/// For the signal `[1, 2, 3, 4]` the extensions are:
///
/// | mode | extended |
/// | --- | --- |
/// | `Symmetric` | `3 2 1 [1 2 3 4] 4 3 2` (half-sample mirror) |
/// | `Reflect` | `4 3 2 [1 2 3 4] 3 2 1` (whole-sample mirror) |
/// | `Periodic` | `2 3 4 [1 2 3 4] 1 2 3` |
/// | `Zero` | `0 0 0 [1 2 3 4] 0 0 0` |
/// | `Constant` | `1 1 1 [1 2 3 4] 4 4 4` |
///
/// `Periodization` is periodic extension with the fewest coefficients:
/// `ceil(N / 2)` per level instead of `(N + F - 1) / 2`, an odd-length
/// signal first getting its last sample repeated.
///
/// ```
/// use rask_array::wavelet::Mode;
/// assert_eq!(Mode::Symmetric.name(), "symmetric");
/// assert_eq!("periodization".parse::<Mode>().unwrap(), Mode::Periodization);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// Half-sample symmetric extension (PyWavelets' default `"symmetric"`).
    Symmetric,
    /// Whole-sample symmetric extension (`"reflect"`); needs at least 2
    /// samples.
    Reflect,
    /// Periodic extension (`"periodic"`).
    Periodic,
    /// Zeros (`"zero"`).
    Zero,
    /// The edge values repeated (`"constant"`).
    Constant,
    /// Periodic, with `ceil(N / 2)` coefficients per level
    /// (`"periodization"`).
    Periodization,
}

impl Mode {
    /// Every mode, in the order errors list them.
    pub const ALL: [Mode; 6] = [
        Mode::Symmetric,
        Mode::Reflect,
        Mode::Periodic,
        Mode::Zero,
        Mode::Constant,
        Mode::Periodization,
    ];

    /// PyWavelets' name of the mode.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Symmetric => "symmetric",
            Mode::Reflect => "reflect",
            Mode::Periodic => "periodic",
            Mode::Zero => "zero",
            Mode::Constant => "constant",
            Mode::Periodization => "periodization",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    /// The mode named as PyWavelets names it.
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown wavelet mode '{s}'; rask knows {}",
                    names.join(", ")
                )
            })
    }
}

/// The number of coefficients of one DWT level of `n` samples with a
/// filter of length `f`.
pub(crate) fn dwt_len(n: usize, f: usize, mode: Mode) -> usize {
    match mode {
        Mode::Periodization => n.div_ceil(2),
        _ => (n + f - 1) / 2,
    }
}

/// The number of samples one IDWT level gives from `m` coefficients each,
/// or `None` when `m` is too short for the filter.
pub(crate) fn idwt_len(m: usize, f: usize, mode: Mode) -> Option<usize> {
    match mode {
        Mode::Periodization => Some(2 * m),
        _ => (2 * m + 2).checked_sub(f).filter(|&n| n > 0),
    }
}

/// The extended position of output 0's first tap (`j = 0`) in a DWT.
pub(crate) fn dwt_base(f: usize, mode: Mode) -> i64 {
    match mode {
        Mode::Periodization => (f / 2) as i64,
        _ => 1,
    }
}

/// The shift `s` of an IDWT: output `k` reads upsampled positions
/// `k + s - j`.
pub(crate) fn idwt_shift(f: usize, mode: Mode) -> i64 {
    match mode {
        Mode::Periodization => (f / 2) as i64 - 1,
        _ => f as i64 - 2,
    }
}

/// The input element that extended position `t` of a signal of `n`
/// samples copies, or `None` where the extension is zero.
pub(crate) fn source(t: i64, n: usize, mode: Mode) -> Option<usize> {
    let n_i = n as i64;
    if (0..n_i).contains(&t) {
        return Some(t as usize);
    }
    let k = match mode {
        Mode::Symmetric => {
            let k = t.rem_euclid(2 * n_i);
            if k < n_i { k } else { 2 * n_i - 1 - k }
        }
        Mode::Reflect => {
            if n == 1 {
                0
            } else {
                let k = t.rem_euclid(2 * n_i - 2);
                if k < n_i { k } else { 2 * n_i - 2 - k }
            }
        }
        Mode::Periodic => t.rem_euclid(n_i),
        Mode::Zero => return None,
        Mode::Constant => t.clamp(0, n_i - 1),
        Mode::Periodization => {
            let padded = n_i + n_i % 2;
            t.rem_euclid(padded).min(n_i - 1)
        }
    };
    Some(k as usize)
}

/// The coefficient that upsampled position `t` of an IDWT from `m`
/// coefficients holds, or `None` where it is zero (odd positions, and
/// outside the signal unless periodization wraps it).
pub(crate) fn coefficient(t: i64, m: usize, mode: Mode) -> Option<usize> {
    let len = 2 * m as i64;
    let t = match mode {
        Mode::Periodization => t.rem_euclid(len),
        _ if (0..len).contains(&t) => t,
        _ => return None,
    };
    (t % 2 == 0).then_some((t / 2) as usize)
}

/// Splits `total` outputs into parts at the `cuts` (ascending), skipping a
/// cut that would leave a part shorter than `min` (unless the whole is).
/// Returns the part sizes; never an empty part, one part of 0 for
/// `total == 0`.
pub(crate) fn partition(
    cuts: impl IntoIterator<Item = usize>,
    total: usize,
    min: usize,
) -> Vec<usize> {
    let min = min.max(1);
    let mut sizes = Vec::new();
    let mut last = 0;
    for c in cuts {
        if c >= last + min && c + min <= total {
            sizes.push(c - last);
            last = c;
        }
    }
    sizes.push(total - last);
    sizes
}

/// The blocks (indices into `offsets`, the blocks' start positions, with
/// the axis length last) holding any of `positions`, ascending, without
/// repeats.
pub(crate) fn blocks_holding(
    offsets: &[usize],
    positions: impl IntoIterator<Item = usize>,
) -> Vec<usize> {
    let nblocks = offsets.len() - 1;
    let mut hit = vec![false; nblocks];
    for p in positions {
        // The last block starting at or before p.
        let b = offsets[..nblocks].partition_point(|&s| s <= p) - 1;
        hit[b] = true;
    }
    (0..nblocks).filter(|&b| hit[b]).collect()
}

/// The positions `0..=total` where the parts of `sizes` start, and `total`.
pub(crate) fn offsets(sizes: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(sizes.len() + 1);
    let mut at = 0;
    out.push(0);
    for &s in sizes {
        at += s;
        out.push(at);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_follow_pywavelets() {
        let ext = |mode, range: std::ops::Range<i64>| -> Vec<Option<usize>> {
            range.map(|t| source(t, 4, mode)).collect()
        };
        let s = |v: &[usize]| v.iter().map(|&i| Some(i)).collect::<Vec<_>>();
        assert_eq!(
            ext(Mode::Symmetric, -3..7),
            s(&[2, 1, 0, 0, 1, 2, 3, 3, 2, 1])
        );
        assert_eq!(
            ext(Mode::Reflect, -3..7),
            s(&[3, 2, 1, 0, 1, 2, 3, 2, 1, 0])
        );
        assert_eq!(
            ext(Mode::Periodic, -3..7),
            s(&[1, 2, 3, 0, 1, 2, 3, 0, 1, 2])
        );
        assert_eq!(
            ext(Mode::Constant, -3..7),
            s(&[0, 0, 0, 0, 1, 2, 3, 3, 3, 3])
        );
        assert_eq!(
            ext(Mode::Zero, -1..5),
            vec![None, Some(0), Some(1), Some(2), Some(3), None]
        );
        // Odd length: the last sample repeated, then wrapped (period 4).
        let p: Vec<_> = (-2..6).map(|t| source(t, 3, Mode::Periodization)).collect();
        assert_eq!(p, s(&[2, 2, 0, 1, 2, 2, 0, 1]));
        // Far past the ends: mirrored again and again.
        assert_eq!(source(-9, 2, Mode::Symmetric), Some(0));
        assert_eq!(source(-7, 2, Mode::Symmetric), Some(1));
    }

    #[test]
    fn lengths_follow_pywavelets() {
        // pywt.dwt_coeff_len(13, 8, 'symmetric') == 10, 'periodization' == 7.
        assert_eq!(dwt_len(13, 8, Mode::Symmetric), 10);
        assert_eq!(dwt_len(13, 8, Mode::Periodization), 7);
        assert_eq!(idwt_len(10, 8, Mode::Symmetric), Some(14));
        assert_eq!(idwt_len(3, 8, Mode::Symmetric), None);
        assert_eq!(idwt_len(7, 8, Mode::Periodization), Some(14));
    }

    #[test]
    fn partitions_skip_short_parts() {
        assert_eq!(partition([4, 8, 12], 14, 3), vec![4, 4, 6]);
        assert_eq!(partition([2, 4, 6], 7, 3), vec![4, 3]);
        assert_eq!(partition([1], 2, 8), vec![2]);
        assert_eq!(partition([], 0, 8), vec![0]);
        assert_eq!(blocks_holding(&[0, 3, 6, 9], [0, 1, 7, 8]), vec![0, 2]);
        assert_eq!(offsets(&[3, 3, 1]), vec![0, 3, 6, 7]);
    }
}
