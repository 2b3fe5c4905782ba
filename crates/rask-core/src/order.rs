//! Static task priorities that keep memory low.
//!
//! The job of Dask's `order`: give every task a priority so that a scheduler
//! taking ready tasks lowest-priority-first finishes one branch of the graph
//! before starting the next. Intermediate values then die young: a tree
//! reduction holds about one value per level, and many independent chains
//! feeding a reduction hold about one value per running thread, not one per
//! chain.
//!
//! # Algorithm
//!
//! A depth-first traversal from the graph's sinks (tasks nothing depends on),
//! in the order the sinks were added, numbering each task after all of its
//! dependencies (post-order). Among a task's dependencies the traversal visits
//! the tallest first (height = longest path down to a task without
//! dependencies), ties in argument order — the Sethi–Ullman rule: the deep
//! branch is computed while nothing else waits, and short branches, whose
//! results would otherwise sit in memory, come last.
//!
//! One refinement, as in Dask: right after a task is numbered, any other
//! dependent of its dependencies whose inputs are now all numbered is
//! numbered next (for dependencies with few dependents). In `x + x.T`, the
//! task that reads blocks `(i, j)` and `(j, i)` is then followed at once by
//! the one that reads `(j, i)` and `(i, j)`, so both blocks are released
//! together instead of one waiting for the far end of the graph.
//!
//! A dependency with more than `SIBLING_SCAN_LIMIT` dependents is swept
//! once instead, the first time one of its dependents is numbered, and only
//! for dependents that need nothing else: the pieces taken out of a
//! shuffle's split, each read by a different gather, are then numbered
//! together right after the first, so the split's output is released at
//! once instead of being held (or spilled and read back for every piece)
//! until the far end of the graph. Dask's `order` treats such `getitem`
//! fan-outs the same way.
//!
//! That check is O(1): each task counts its dependencies not numbered yet,
//! and numbering a task decrements the count of each of its dependents. So
//! ordering is linear in the edges (times at most `SIBLING_SCAN_LIMIT`),
//! even for `collect(&parts)` next to a `map` of every part, where a rescan
//! of all the inputs of `collect` per part would be quadratic.
//!
//! The numbering is a topological order, so the sync scheduler simply runs
//! tasks by ascending priority. The traversal is iterative: a chain of a
//! million tasks does not touch the call stack.

use std::cmp::Reverse;

use crate::error::Result;
use crate::graph::{Graph, TaskId};

/// One priority per task (lower runs first); see the module docs.
///
/// ```
/// use rask_core::{order, GraphBuilder, Key, Op, Value};
/// let mut b = GraphBuilder::new();
/// b.insert(Key::new("a"), Op::value(Value::new(1)), vec![]);
/// b.insert(Key::new("b"), Op::value(Value::new(2)), vec![]);
/// b.insert(Key::new("sum"), Op::call("sum", |_: &[Value]| Ok(Value::new(3))), vec![Key::new("a"), Key::new("b")]);
/// let g = b.build().unwrap();
/// let p = order::priorities(&g).unwrap();
/// assert!(p[2] > p[0] && p[2] > p[1]);
/// ```
pub fn priorities(graph: &Graph) -> Result<Vec<u32>> {
    let n = graph.len();
    let height = heights(graph)?;
    let dependents = graph.dependents();
    let mut prio = vec![UNSEEN; n];
    // Dependencies not numbered yet, per task (an edge listed twice counts
    // twice, as `dependents` lists it twice): zero means "all inputs
    // numbered" in O(1), which keeps the sibling rule linear.
    let mut unnumbered: Vec<u32> = graph.tasks().iter().map(|t| t.deps.len() as u32).collect();
    let mut next = 0u32;
    // (task, expanded): expanded entries are numbered when popped.
    let mut stack: Vec<(TaskId, bool)> = Vec::new();
    let mut buf: Vec<TaskId> = Vec::new();
    // Wide dependencies already swept for siblings (see the module docs).
    let mut swept = vec![false; n];
    for sink in (0..n).filter(|&i| dependents.of(TaskId(i as u32)).is_empty()) {
        stack.push((TaskId(sink as u32), false));
        while let Some((t, expanded)) = stack.pop() {
            let p = &mut prio[t.index()];
            if expanded {
                *p = next;
                next += 1;
                for &u in users_of(dependents, t) {
                    unnumbered[u.index()] -= 1;
                }
                push_ready_siblings(
                    graph,
                    dependents,
                    &prio,
                    &unnumbered,
                    &mut swept,
                    t,
                    &mut stack,
                );
                continue;
            }
            if *p != UNSEEN {
                continue;
            }
            *p = OPEN;
            stack.push((t, true));
            buf.clear();
            buf.extend(
                deps_of(graph, t)
                    .iter()
                    .filter(|d| prio[d.index()] == UNSEEN),
            );
            buf.sort_by_key(|d| Reverse(height[d.index()]));
            // Reversed so the first preferred dependency is popped first.
            stack.extend(buf.iter().rev().map(|&d| (d, false)));
        }
    }
    debug_assert!(
        prio.iter().all(|&p| p < OPEN),
        "an acyclic graph numbers every task"
    );
    Ok(prio)
}

/// Priority of a task the traversal has not reached yet.
const UNSEEN: u32 = u32::MAX;
/// Priority of a task on the traversal's stack, waiting for its dependencies.
const OPEN: u32 = u32::MAX - 1;

/// Dependencies with more dependents than this are scanned for siblings
/// once only (and for single-input siblings), which keeps ordering linear
/// for values used everywhere.
const SIBLING_SCAN_LIMIT: usize = 16;

/// Pushes the dependents of `t`'s dependencies whose dependencies are all
/// numbered, so they are numbered next and those values can be released.
///
/// A dependency with more than [`SIBLING_SCAN_LIMIT`] dependents is swept
/// once (`swept`), for dependents whose only input it is: the pieces a
/// shuffle's split hands to its gathers.
///
/// Work: at most [`SIBLING_SCAN_LIMIT`] O(1) checks per edge into `t`, plus
/// one sweep per wide dependency.
fn push_ready_siblings(
    graph: &Graph,
    dependents: &crate::graph::Dependents,
    prio: &[u32],
    unnumbered: &[u32],
    swept: &mut [bool],
    t: TaskId,
    stack: &mut Vec<(TaskId, bool)>,
) {
    for &d in deps_of(graph, t) {
        let fan_out = dependents.of(d).len();
        if fan_out > SIBLING_SCAN_LIMIT {
            if std::mem::replace(&mut swept[d.index()], true) {
                continue;
            }
            for &u in users_of(dependents, d) {
                if prio[u.index()] == UNSEEN
                    && unnumbered[u.index()] == 0
                    && graph.task(u).deps.len() == 1
                {
                    stack.push((u, false));
                }
            }
            continue;
        }
        if fan_out < 2 {
            continue;
        }
        for &u in users_of(dependents, d) {
            if prio[u.index()] == UNSEEN && unnumbered[u.index()] == 0 {
                stack.push((u, false));
            }
        }
    }
}

// Every walk over edges in this module goes through `deps_of` or
// `users_of`, which count the edges they hand out in tests: the regression
// test of the sibling rule asserts that ordering is linear in the edges.

/// The dependencies of `t`.
#[inline]
fn deps_of(graph: &Graph, t: TaskId) -> &[TaskId] {
    let deps = &graph.task(t).deps;
    count_edge_visits(deps.len());
    deps
}

/// The dependents of `t`.
#[inline]
fn users_of(dependents: &crate::graph::Dependents, t: TaskId) -> &[TaskId] {
    let users = dependents.of(t);
    count_edge_visits(users.len());
    users
}

#[cfg(test)]
thread_local! {
    /// Edges handed out by `deps_of` and `users_of` on this thread.
    static EDGE_VISITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts `n` edge visits (in tests; nothing otherwise).
#[inline]
fn count_edge_visits(n: usize) {
    #[cfg(test)]
    EDGE_VISITS.with(|c| c.set(c.get() + n as u64));
    #[cfg(not(test))]
    let _ = n;
}

/// Longest path from each task down to a task without dependencies.
fn heights(graph: &Graph) -> Result<Vec<u32>> {
    let mut height = vec![0u32; graph.len()];
    // Graphs from a builder usually list every task after its dependencies:
    // then one pass in id order is enough.
    let mut in_id_order = true;
    for (i, t) in graph.tasks().iter().enumerate() {
        let mut h = 0;
        for d in &t.deps {
            if d.index() >= i {
                in_id_order = false;
                break;
            }
            h = h.max(height[d.index()] + 1);
        }
        if !in_id_order {
            break;
        }
        height[i] = h;
    }
    if in_id_order {
        return Ok(height);
    }
    for t in graph.topological_order()? {
        let h = graph
            .task(t)
            .deps
            .iter()
            .map(|d| height[d.index()] + 1)
            .max()
            .unwrap_or(0);
        height[t.index()] = h;
    }
    Ok(height)
}

/// Task ids sorted by ascending priority: the order the sync scheduler runs.
pub fn sorted_by_priority(priority: &[u32]) -> Vec<TaskId> {
    let mut ids: Vec<TaskId> = vec![TaskId(0); priority.len()];
    for (i, &p) in priority.iter().enumerate() {
        ids[p as usize] = TaskId(i as u32);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GraphBuilder, Key, Op, Value};

    fn lit() -> Op {
        Op::value(Value::new(0i64))
    }

    #[test]
    fn priorities_are_a_permutation_and_topological() {
        let mut b = GraphBuilder::new();
        for i in 0..8 {
            b.insert(format!("leaf-{i}").into(), lit(), vec![]);
        }
        for i in 0..4 {
            b.insert(
                format!("pair-{i}").into(),
                lit(),
                vec![
                    format!("leaf-{}", 2 * i).into(),
                    format!("leaf-{}", 2 * i + 1).into(),
                ],
            );
        }
        b.insert(
            "top".into(),
            lit(),
            (0..4).map(|i| Key::new(format!("pair-{i}"))),
        );
        let g = b.build().unwrap();
        let p = priorities(&g).unwrap();
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..g.len() as u32).collect::<Vec<_>>());
        for (i, t) in g.tasks().iter().enumerate() {
            for d in &t.deps {
                assert!(p[d.index()] < p[i]);
            }
        }
        // The first pair is finished before the third leaf starts.
        let id = |k: &str| g.id_of(&Key::new(k)).unwrap().index();
        assert!(p[id("pair-0")] < p[id("leaf-2")]);
    }

    #[test]
    fn tallest_dependency_first() {
        let mut b = GraphBuilder::new();
        b.insert("short".into(), lit(), vec![]);
        b.insert("deep-0".into(), lit(), vec![]);
        b.insert("deep-1".into(), lit(), vec!["deep-0".into()]);
        b.insert("deep-2".into(), lit(), vec!["deep-1".into()]);
        b.insert("top".into(), lit(), vec!["short".into(), "deep-2".into()]);
        let g = b.build().unwrap();
        let p = priorities(&g).unwrap();
        let id = |k: &str| g.id_of(&Key::new(k)).unwrap().index();
        assert!(p[id("deep-2")] < p[id("short")]);
    }

    #[test]
    fn a_sibling_sharing_the_same_inputs_runs_next() {
        // u and v both read a and b (like blocks (i, j) and (j, i) of
        // x + x.T). u feeds the first sink, v the second, with a long chain
        // between them in depth-first order: v must still follow u at once.
        let mut b = GraphBuilder::new();
        b.insert("a".into(), lit(), vec![]);
        b.insert("b".into(), lit(), vec![]);
        b.insert("u".into(), lit(), vec!["a".into(), "b".into()]);
        b.insert("v".into(), lit(), vec!["b".into(), "a".into()]);
        b.insert("c-0".into(), lit(), vec![]);
        for i in 1..10 {
            b.insert(
                format!("c-{i}").into(),
                lit(),
                vec![format!("c-{}", i - 1).into()],
            );
        }
        b.insert("sink-1".into(), lit(), vec!["u".into()]);
        b.insert("sink-2".into(), lit(), vec!["c-9".into(), "v".into()]);
        let g = b.build().unwrap();
        let p = priorities(&g).unwrap();
        let id = |k: &str| g.id_of(&Key::new(k)).unwrap().index();
        assert_eq!(p[id("v")], p[id("u")] + 1);
        for (i, t) in g.tasks().iter().enumerate() {
            for d in &t.deps {
                assert!(p[d.index()] < p[i], "still a topological order");
            }
        }
    }

    #[test]
    fn long_chain_does_not_overflow_the_stack() {
        let n = 200_000;
        let mut b = GraphBuilder::new();
        b.insert("c-0".into(), lit(), vec![]);
        for i in 1..n {
            b.insert(
                format!("c-{i}").into(),
                lit(),
                vec![format!("c-{}", i - 1).into()],
            );
        }
        let g = b.build().unwrap();
        let p = priorities(&g).unwrap();
        assert_eq!(p[n - 1], (n - 1) as u32);
        assert_eq!(sorted_by_priority(&p)[0], TaskId(0));
    }

    #[test]
    fn a_shuffle_splits_picks_run_right_after_it() {
        // A shuffle: n splits, a pick of each split's piece j for every
        // output j (fan-out n > SIBLING_SCAN_LIMIT), a gather j of the picks
        // j. All picks of a split come right after it, before the next
        // split, so its output is released at once.
        let n = 40;
        let mut b = GraphBuilder::new();
        for i in 0..n {
            b.insert(format!("split-{i}").into(), lit(), vec![]);
            for j in 0..n {
                b.insert(
                    format!("pick-{i}-{j}").into(),
                    lit(),
                    vec![format!("split-{i}").into()],
                );
            }
        }
        for j in 0..n {
            b.insert(
                format!("gather-{j}").into(),
                lit(),
                (0..n).map(|i| Key::new(format!("pick-{i}-{j}"))),
            );
        }
        let g = b.build().unwrap();
        let p = priorities(&g).unwrap();
        let prio = |k: String| p[g.id_of(&Key::new(k)).unwrap().index()];
        for i in 0..n - 1 {
            let last_pick = (0..n).map(|j| prio(format!("pick-{i}-{j}"))).max().unwrap();
            assert!(
                last_pick < prio(format!("split-{}", i + 1)),
                "a pick of split {i} waits for split {}",
                i + 1
            );
        }
    }

    #[test]
    fn ordering_a_collect_of_mapped_parts_is_linear() {
        // N parts, a map of each, and one collect of all parts, inserted
        // after the maps: every map numbered makes the sibling rule look at
        // the collect, which used to rescan all N of its inputs each time.
        let n = 20_000;
        let mut b = GraphBuilder::new();
        for i in 0..n {
            b.insert(format!("part-{i}").into(), lit(), vec![]);
        }
        for i in 0..n {
            b.insert(
                format!("map-{i}").into(),
                lit(),
                vec![format!("part-{i}").into()],
            );
        }
        b.insert(
            "collect".into(),
            lit(),
            (0..n).map(|i| Key::new(format!("part-{i}"))),
        );
        let g = b.build().unwrap();
        let edges: usize = g.tasks().iter().map(|t| t.deps.len()).sum();
        assert_eq!(edges, 2 * n);
        EDGE_VISITS.with(|c| c.set(0));
        let p = priorities(&g).unwrap();
        let visits = EDGE_VISITS.with(|c| c.get());
        assert!(
            visits <= 8 * edges as u64,
            "{visits} edge visits for {edges} edges: ordering is not linear"
        );
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..g.len() as u32).collect::<Vec<_>>());
        for (i, t) in g.tasks().iter().enumerate() {
            for d in &t.deps {
                assert!(p[d.index()] < p[i], "topological");
            }
        }
    }
}
