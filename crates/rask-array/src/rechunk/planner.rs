//! The staged rechunk planner: which intermediate chunkings a rechunk goes
//! through (Dask's `plan_rechunk`). The design note is in the parent
//! module's documentation ("Staged plans"); this file follows it.

use rask_core::{Error, Result};

use crate::chunks::{Chunks, fmt_shape, refine};

/// A direct gather is kept when its edges are at most this many times the
/// blocks it reads and writes (Dask's `array.rechunk.threshold`). Also the
/// most a staged step may shrink the split axes by.
pub const THRESHOLD: f64 = 4.0;

/// An intermediate block holds at most this fraction of the array, so that
/// a stage has at least this many tasks to run in parallel (unless the old
/// or new blocks are larger): with a large `array.chunk-size`, merging a
/// stack of frames would otherwise make one block of everything, built by
/// one task while the other workers wait.
pub const PARALLEL_BLOCKS: usize = 4;

/// The most intermediate chunkings a plan goes through.
pub const MAX_INTERMEDIATES: usize = 8;

/// Per-axis block sizes, as [`Chunks`] stores them.
type Axes = Vec<Vec<usize>>;

/// The chunkings a rechunk from `old` to `new` goes through: zero or more
/// intermediates, then `new` itself (always the last).
///
/// `itemsize` is the element size in bytes and `block_size_limit` the most
/// bytes an intermediate block may hold; it is raised to the largest old or
/// new block when those are bigger, so an intermediate block is never larger
/// than `block_size_limit` or the largest old or new block. Each stage is
/// then one direct gather (or only splits); the [module
/// documentation](crate::rechunk) says how the stages are chosen. [`Array::rechunk`] uses this plan with the `array.chunk-size`
/// configuration key as the limit, and [`Array::rechunk_plan`] shows it.
///
/// [`Array::rechunk`]: crate::Array::rechunk
/// [`Array::rechunk_plan`]: crate::Array::rechunk_plan
///
/// # Errors
///
/// When `old` and `new` do not cover the same shape.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Chunks, rechunk};
///
/// # fn main() -> rask_core::Result<()> {
/// // Columns of width 10 to rows of height 10: a direct gather would make
/// // each of the 400 new blocks read all 400 old ones.
/// let old = Chunks::regular(&[4000, 4000], &[4000, 10])?;
/// let new = Chunks::regular(&[4000, 4000], &[10, 4000])?;
///
/// // With 32 MiB blocks allowed, the plan first merges the columns into
/// // (4000, 1000) blocks, then each row gathers its part of those 4.
/// let stages = rechunk::plan(&old, &new, 8, 32 << 20)?;
/// assert_eq!(stages.len(), 2);
/// assert_eq!(stages[0].as_slices(), &[vec![4000], vec![1000; 4]]);
/// assert_eq!(stages[1], new);
///
/// // Same chunks, or an easy rechunk: one stage.
/// assert_eq!(rechunk::plan(&old, &old, 8, 32 << 20)?, vec![old.clone()]);
/// # Ok(())
/// # }
/// ```
pub fn plan(
    old: &Chunks,
    new: &Chunks,
    itemsize: usize,
    block_size_limit: u64,
) -> Result<Vec<Chunks>> {
    let (from, to) = (old.shape(), new.shape());
    if from != to {
        return Err(Error::invalid(
            "chunks",
            format!(
                "rechunk plan: the old chunks cover the shape {} but the new ones {}; both must cover the same shape",
                fmt_shape(&from),
                fmt_shape(&to)
            ),
        ));
    }
    Ok(
        stages(old.as_slices(), new.as_slices(), itemsize, block_size_limit)
            .into_iter()
            .map(Chunks::from_vec)
            .collect(),
    )
}

/// [`plan`] on per-axis sizes that callers guarantee cover one shape.
pub(crate) fn stages(
    old: &[Vec<usize>],
    new: &[Vec<usize>],
    itemsize: usize,
    block_size_limit: u64,
) -> Vec<Axes> {
    let direct = vec![new.to_vec()];
    let empty = old.iter().any(|a| a.iter().sum::<usize>() == 0);
    if old.len() <= 1 || empty || old == new || cheap(old, new) {
        return direct;
    }
    // Intermediate blocks hold at most the limit, and at most a
    // PARALLEL_BLOCKS-th of the array, so a stage has work for several
    // workers; never less than the largest old or new block.
    let total: u128 = old
        .iter()
        .map(|a| a.iter().sum::<usize>() as u128)
        .product();
    let limit = (u128::from(block_size_limit) / itemsize.max(1) as u128)
        .min(total.div_ceil(PARALLEL_BLOCKS as u128))
        .max(largest_block(old))
        .max(largest_block(new));
    let mut plan: Vec<Axes> = Vec::new();
    let mut cur = old.to_vec();
    while plan.len() < MAX_INTERMEDIATES && !cheap(&cur, new) {
        match step(&cur, new, limit) {
            Some(next) if next != new => {
                cur = next.clone();
                plan.push(next);
            }
            _ => break,
        }
    }
    plan.push(new.to_vec());
    if plan_edges(old, &plan) >= edges(old, new) {
        return direct;
    }
    plan
}

/// Graph edges of a direct gather from `a` to `b`: per axis, the pairs of
/// blocks that overlap are the pieces of the common refinement.
pub(crate) fn edges(a: &[Vec<usize>], b: &[Vec<usize>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| refine(x, y).len() as f64)
        .product()
}

/// Edges of all the stages of `plan`, starting from `old`.
fn plan_edges(old: &[Vec<usize>], plan: &[Axes]) -> f64 {
    let mut prev = old;
    let mut total = 0.0;
    for stage in plan {
        total += edges(prev, stage);
        prev = stage;
    }
    total
}

fn nblocks(a: &[Vec<usize>]) -> f64 {
    a.iter().map(|x| x.len() as f64).product()
}

/// Whether a direct gather from `a` to `b` has near-linear edges.
fn cheap(a: &[Vec<usize>], b: &[Vec<usize>]) -> bool {
    edges(a, b) <= THRESHOLD * (nblocks(a) + nblocks(b))
}

/// The widest block along one axis.
fn widest(axis: &[usize]) -> u128 {
    axis.iter().copied().max().unwrap_or(0) as u128
}

/// Elements of the largest block: the widest block along every axis
/// multiplied (saturating: only compared with limits).
fn largest_block(a: &[Vec<usize>]) -> u128 {
    a.iter()
        .map(|x| widest(x))
        .fold(1u128, |acc, w| acc.saturating_mul(w))
}

/// One intermediate chunking from `cur` towards `new` whose blocks hold at
/// most `limit` elements (`cur`'s do), or `None` when no merge is possible.
///
/// A pure merge (growing the axes the target widens, splitting nothing) is
/// tried first: each of its blocks reads a disjoint group of old blocks, so
/// old blocks are freed as the stage runs and memory stays low. Only when
/// the limit leaves no room to merge are the split axes shrunk first.
fn step(cur: &[Vec<usize>], new: &[Vec<usize>], limit: u128) -> Option<Axes> {
    step_with(cur, new, limit, false).or_else(|| step_with(cur, new, limit, true))
}

/// [`step`], shrinking the split axes first when `shrink_first`.
fn step_with(
    cur: &[Vec<usize>],
    new: &[Vec<usize>],
    limit: u128,
    shrink_first: bool,
) -> Option<Axes> {
    let ndim = cur.len();
    let c: Vec<u128> = cur.iter().map(|a| widest(a)).collect();
    let n: Vec<u128> = new.iter().map(|a| widest(a)).collect();
    let mut merge: Vec<usize> = (0..ndim).filter(|&a| n[a] > c[a]).collect();
    let mut split: Vec<usize> = (0..ndim).filter(|&a| n[a] < c[a]).collect();
    if merge.is_empty() {
        return None; // only splits are left: the direct stage splits
    }
    let ratio = |a: usize| (n[a] as f64 / c[a] as f64).ln().abs();
    // Smaller ratios first, so whole axes reach the target.
    merge.sort_by(|&x, &y| ratio(x).total_cmp(&ratio(y)));
    split.sort_by(|&x, &y| ratio(x).total_cmp(&ratio(y)));

    let headroom = ((limit as f64).ln() - (largest_block(cur) as f64).ln()).max(0.0);
    let grow: f64 = merge.iter().map(|&a| ratio(a)).sum();
    let shrink: f64 = split.iter().map(|&a| ratio(a)).sum();
    let sigma = if shrink_first {
        shrink.min(THRESHOLD.ln()).min((grow - headroom).max(0.0))
    } else {
        0.0
    };

    let mut next: Axes = cur.to_vec();
    // Shrink the split axes by e^sigma in all, inside current blocks.
    let mut left = sigma.exp();
    for &a in &split {
        if left <= 1.0 + 1e-9 {
            break;
        }
        let factor = (c[a] as f64 / n[a] as f64).min(left);
        let width = ((c[a] as f64 / factor).floor() as u128).max(n[a]);
        next[a] = group_within(&refine(&cur[a], &new[a]), &cur[a], width as usize);
        left /= c[a] as f64 / widest(&next[a]) as f64;
    }
    // Grow the merge axes as far as the limit allows, inside target blocks.
    let others = (0..ndim)
        .filter(|a| !merge.contains(a))
        .map(|a| widest(&next[a]))
        .fold(1u128, |acc, w| acc.saturating_mul(w));
    let mut budget = limit / others.max(1);
    for (i, &a) in merge.iter().enumerate() {
        // The widths the later merge axes keep until their turn.
        let later = merge[i + 1..]
            .iter()
            .fold(1u128, |acc, &b| acc.saturating_mul(c[b]));
        let width = n[a].min(budget / later.max(1));
        if width > c[a] {
            next[a] = group_within(&refine(&cur[a], &new[a]), &new[a], width as usize);
        }
        budget /= widest(&next[a]).max(1);
    }
    let merged = |x: &[Vec<usize>]| merge.iter().map(|&a| x[a].len()).product::<usize>();
    (merged(&next) < merged(cur)).then_some(next)
}

/// `pieces` grouped into consecutive runs no wider than `max_width` (no
/// piece is wider), never across a block of `coarse`, whose boundaries are
/// among the pieces'. Each run aims at an equal share of what is left of
/// its coarse block, so a block is cut into about equal runs.
fn group_within(pieces: &[usize], coarse: &[usize], max_width: usize) -> Vec<usize> {
    let max_width = max_width.max(1);
    let mut out = Vec::new();
    let mut it = pieces.iter().copied().peekable();
    for &block in coarse {
        let mut taken = 0;
        while taken < block {
            let rest = block - taken;
            let aim = rest.div_ceil(rest.div_ceil(max_width));
            let mut run = 0;
            while let Some(&piece) = it.peek() {
                let full = run > 0 && (run >= aim || run + piece > max_width);
                if full || taken + run == block {
                    break;
                }
                run += piece;
                it.next();
            }
            if run == 0 {
                break; // out of pieces; cannot happen when both tile one length
            }
            out.push(run);
            taken += run;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regular(len: usize, size: usize) -> Vec<usize> {
        let mut v = vec![size; len / size];
        if !len.is_multiple_of(size) {
            v.push(len % size);
        }
        v
    }

    #[test]
    fn grouping_cuts_coarse_blocks_into_equal_runs() {
        assert_eq!(
            group_within(&[50; 160], &[8000], 2097),
            vec![2000, 2000, 2000, 2000]
        );
        // Runs never cross a coarse boundary and never exceed the width.
        assert_eq!(group_within(&[1, 1, 1, 1, 1], &[2, 3], 2), vec![2, 2, 1]);
        assert_eq!(group_within(&[2, 1, 1, 2], &[3, 3], 3), vec![3, 3]);
        assert_eq!(group_within(&[2, 1, 1, 2], &[3, 3], 2), vec![2, 1, 1, 2]);
        assert_eq!(group_within(&[100; 10], &[1000], 250), vec![200; 5]);
    }

    #[test]
    fn easy_rechunks_have_one_stage() {
        let old = vec![regular(100, 10), regular(100, 10)];
        // Merges only, splits only, and a shift.
        for new in [
            vec![regular(100, 50), regular(100, 100)],
            vec![regular(100, 5), regular(100, 2)],
            vec![regular(100, 12), regular(100, 7)],
        ] {
            assert_eq!(stages(&old, &new, 8, 1 << 30), vec![new.clone()]);
        }
        // One axis is never staged.
        let new = vec![vec![100]];
        assert_eq!(stages(&[vec![1; 100]], &new, 8, 1 << 30), vec![new.clone()]);
    }

    #[test]
    fn crossed_rechunk_merges_then_splits() {
        let old = vec![vec![8000], vec![50; 160]];
        let new = vec![vec![50; 160], vec![8000]];
        // 128 MiB of f64: 16 Mi elements. A pure merge to (8000, 2000)
        // blocks (each reads 40 whole old blocks), then a gather.
        let plan = stages(&old, &new, 8, 128 << 20);
        assert_eq!(plan, vec![vec![vec![8000], vec![2000; 4]], new.clone()]);
        assert_eq!(plan_edges(&old, &plan), 640.0 + 160.0);
        assert_eq!(edges(&old, &new), 160.0 * 160.0);
        // Enough memory for the whole array: still four blocks in between,
        // so the merge runs in parallel.
        let plan = stages(&old, &new, 8, 1 << 30);
        assert_eq!(plan[0], vec![vec![8000], vec![2000; 4]]);
        // A stack of frames merged along time: four blocks, not one.
        let frames = vec![vec![1; 64], vec![512], vec![512]];
        let series = vec![vec![64], vec![32; 16], vec![512]];
        let plan = stages(&frames, &series, 8, 128 << 20);
        assert_eq!(plan[0], vec![vec![16; 4], vec![512], vec![512]]);
    }

    #[test]
    fn a_tight_limit_takes_several_small_steps() {
        let old = vec![vec![1000], vec![10; 100]];
        let new = vec![vec![10; 100], vec![1000]];
        // Nothing larger than the old and new blocks (10,000 elements).
        let plan = stages(&old, &new, 8, 0);
        assert!(plan.len() > 2, "{plan:?}");
        assert_eq!(plan.last(), Some(&new));
        for s in &plan {
            assert!(largest_block(s) <= 10_000, "{s:?}");
        }
        let total = plan_edges(&old, &plan);
        assert!(total * 4.0 < edges(&old, &new), "{total}");
    }

    #[test]
    fn a_time_series_stack_is_staged_within_the_limit() {
        // (T, Y, X) in (1, Y, X) frames to (T, y, x) pencils.
        let old = vec![vec![1; 1000], vec![1000], vec![1000]];
        let new = vec![vec![1000], regular(1000, 100), regular(1000, 100)];
        let limit = 128u64 << 20;
        let plan = stages(&old, &new, 8, limit);
        assert!(plan.len() >= 2, "{plan:?}");
        assert_eq!(plan.last(), Some(&new));
        for s in &plan {
            assert!(largest_block(s) * 8 <= u128::from(limit), "{s:?}");
        }
        assert!(plan_edges(&old, &plan) * 10.0 < edges(&old, &new));
    }
}
