//! Accepting a client's graph (`UpdateGraph`).
//!
//! A submission is checked whole before anything is added: positions in
//! range, `Known` keys held, no cycle among the new tasks. Then the new tasks
//! are added in dependency order, so every input exists when its dependent
//! is created. A key the scheduler already knows is the same work and keeps
//! its record (its submitted op and inputs are ignored), which also makes a
//! key repeated within one submission harmless. Finally the client's wants
//! are recorded; wanting a task activates it and whatever of its lineage is
//! not in memory. New tasks nothing needs are forgotten in `drain`.

use std::sync::Arc;

use rask_core::Key;
use rask_protocol::{DepRef, SubmittedTask, WireKey};

use crate::ClientId;
use crate::Comm;
use crate::scheduler::{Refused, Scheduler, fmt_key};
use crate::task::{Restrictions, TaskId};

impl Scheduler {
    pub(crate) fn update_graph(
        &mut self,
        client: ClientId,
        mut tasks: Vec<SubmittedTask>,
        wanted: Vec<u32>,
        inline_results: bool,
        comm: &mut dyn Comm,
    ) -> Result<(), Refused> {
        let n = tasks.len();
        // Keys, sharing one name allocation between consecutive tasks of the
        // same name (blocks of one array, calls of one map).
        let mut keys = Vec::with_capacity(n);
        let mut last_name: Option<Arc<str>> = None;
        for st in &mut tasks {
            let name = match &last_name {
                Some(a) if **a == *st.key.name => a.clone(),
                _ => {
                    let a: Arc<str> = Arc::from(st.key.name.as_str());
                    last_name = Some(a.clone());
                    a
                }
            };
            keys.push(if st.key.index.is_empty() {
                Key::new(name)
            } else {
                Key::with_index(name, &st.key.index)
            });
            // The message's copy of the key is not needed any more.
            st.key = rask_protocol::WireKey {
                name: String::new(),
                index: Vec::new(),
            };
        }
        // A refused submission fails the futures of the keys it wants, but
        // not those this client already waits for from an earlier one: they
        // still resolve.
        let refuse = |message: String| Refused {
            message,
            keys: wanted
                .iter()
                .filter_map(|&w| keys.get(w as usize))
                .filter(|k| {
                    !self.keys.get(k, &self.tasks).is_some_and(|t| {
                        self.tasks[t as usize]
                            .wanted_by
                            .iter()
                            .any(|w| w.client == client)
                    })
                })
                .map(WireKey::from)
                .collect(),
        };
        // Check positions, known keys and wants.
        let mut existing: Vec<Option<TaskId>> = Vec::with_capacity(n);
        for (i, st) in tasks.iter().enumerate() {
            existing.push(self.keys.get(&keys[i], &self.tasks));
            for d in &st.deps {
                match d {
                    DepRef::Local(j) if *j as usize >= n => {
                        return Err(refuse(format!(
                            "task {} (position {i}) depends on position {j}, but the submission has only {n} tasks; the graph was not added",
                            keys[i]
                        )));
                    }
                    DepRef::Local(j) if *j as usize == i && existing[i].is_none() => {
                        return Err(refuse(format!(
                            "task {} depends on itself (a dependency cycle); the graph was not added",
                            keys[i]
                        )));
                    }
                    DepRef::Known(k) if self.lookup(k).is_none() => {
                        return Err(refuse(format!(
                            "task {} depends on {}, which the scheduler does not hold (released or never computed); keep a future for it or submit it with the graph",
                            keys[i],
                            fmt_key(k)
                        )));
                    }
                    _ => {}
                }
            }
        }
        if let Some(w) = wanted.iter().find(|&&w| w as usize >= n) {
            return Err(refuse(format!(
                "the submission wants position {w}, but has only {n} tasks; the graph was not added"
            )));
        }
        let order = topological_order(&tasks, &existing).map_err(|i| {
            refuse(format!(
                "the submission has a dependency cycle through task {}; the graph was not added",
                keys[i]
            ))
        })?;

        // Add the new tasks, inputs first.
        let new = existing.iter().filter(|e| e.is_none()).count();
        self.tasks
            .reserve(new.saturating_sub(self.free_slots.len()));
        self.keys.reserve(new, &self.tasks);
        self.generation += 1;
        let generation = self.generation;
        let mut ids: Vec<TaskId> = vec![0; n];
        let mut raw: Vec<TaskId> = Vec::new();
        let mut deps: Vec<TaskId> = Vec::new();
        let mut args: Vec<u32> = Vec::new();
        for i in order {
            let i = i as usize;
            if let Some(t) = self.keys.get(&keys[i], &self.tasks) {
                ids[i] = t;
                continue;
            }
            raw.clear();
            raw.extend(tasks[i].deps.iter().map(|d| match d {
                DepRef::Local(j) => ids[*j as usize],
                DepRef::Known(k) => self.lookup(k).expect("checked above"),
            }));
            let duplicated = dedup_inputs(&raw, &mut deps, &mut args);
            let st = &mut tasks[i];
            let ann = st.annotations.take().unwrap_or_default();
            let restrictions = (!ann.resources.is_empty() || !ann.workers.is_empty()).then(|| {
                Box::new(Restrictions {
                    resources: ann.resources,
                    workers: ann.workers,
                })
            });
            let priority = (ann.priority.saturating_neg(), generation as u32, st.order);
            let op = std::mem::take(&mut st.op).into_boxed_slice();
            ids[i] = self.new_task(
                keys[i].clone(),
                op,
                deps.clone(),
                duplicated.then(|| args.clone().into_boxed_slice()),
                priority,
                restrictions,
                ann.retries,
                false,
            );
            self.checks.push(ids[i]);
        }
        drop(tasks);
        if let Some(c) = self.clients.get_mut(&client) {
            c.inline = inline_results;
        }
        for w in wanted {
            self.add_want(client, ids[w as usize], comm);
        }
        Ok(())
    }
}

/// Distinct inputs of `raw` (in order of first use) into `deps`, and each
/// argument's position among them into `args`; whether any input repeats.
fn dedup_inputs(raw: &[TaskId], deps: &mut Vec<TaskId>, args: &mut Vec<u32>) -> bool {
    deps.clear();
    args.clear();
    if raw.len() <= 16 {
        for &id in raw {
            match deps.iter().position(|&x| x == id) {
                Some(p) => args.push(p as u32),
                None => {
                    args.push(deps.len() as u32);
                    deps.push(id);
                }
            }
        }
    } else {
        let mut seen = rustc_hash::FxHashMap::default();
        for &id in raw {
            let p = *seen.entry(id).or_insert_with(|| {
                deps.push(id);
                deps.len() as u32 - 1
            });
            args.push(p);
        }
    }
    deps.len() != raw.len()
}

/// The positions of the new tasks (those without an existing record) in an
/// order where every task comes after its `Local` inputs; existing tasks
/// come first and keep their own inputs. `Err(i)`: task `i` is on a cycle.
fn topological_order(
    tasks: &[SubmittedTask],
    existing: &[Option<TaskId>],
) -> Result<Vec<u32>, usize> {
    let n = tasks.len();
    let mut indegree = vec![0u32; n];
    // Reverse edges as a compressed adjacency list: input → dependents.
    let mut start = vec![0u32; n + 1];
    for (i, st) in tasks.iter().enumerate() {
        if existing[i].is_some() {
            continue;
        }
        for d in &st.deps {
            if let DepRef::Local(j) = d {
                indegree[i] += 1;
                start[*j as usize + 1] += 1;
            }
        }
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut edges = vec![0u32; start[n] as usize];
    for (i, st) in tasks.iter().enumerate() {
        if existing[i].is_some() {
            continue;
        }
        for d in &st.deps {
            if let DepRef::Local(j) = d {
                let slot = &mut fill[*j as usize];
                edges[*slot as usize] = i as u32;
                *slot += 1;
            }
        }
    }
    drop(fill);
    let mut order: Vec<u32> = (0..n as u32)
        .filter(|&i| indegree[i as usize] == 0)
        .collect();
    let mut next = 0;
    while next < order.len() {
        let j = order[next] as usize;
        next += 1;
        for &i in &edges[start[j] as usize..start[j + 1] as usize] {
            indegree[i as usize] -= 1;
            if indegree[i as usize] == 0 {
                order.push(i);
            }
        }
    }
    if order.len() < n {
        let i = (0..n)
            .find(|&i| indegree[i] > 0)
            .expect("some task is left");
        return Err(i);
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::WireKey;

    fn t(deps: &[u32]) -> SubmittedTask {
        SubmittedTask {
            key: WireKey {
                name: "k".into(),
                index: vec![],
            },
            op: vec![],
            deps: deps.iter().map(|&d| DepRef::Local(d)).collect(),
            order: 0,
            annotations: None,
        }
    }

    #[test]
    fn order_puts_inputs_first() {
        let tasks = [t(&[1, 2]), t(&[2]), t(&[])];
        let order = topological_order(&tasks, &[None, None, None]).unwrap();
        assert_eq!(order, [2, 1, 0]);
    }

    #[test]
    fn cycle_is_found_but_existing_tasks_break_it() {
        let tasks = [t(&[1]), t(&[0])];
        assert!(topological_order(&tasks, &[None, None]).is_err());
        // Task 1 exists already: its submitted inputs are ignored.
        assert_eq!(topological_order(&tasks, &[None, Some(9)]).unwrap(), [1, 0]);
    }

    #[test]
    fn repeated_inputs_become_argument_positions() {
        let (mut deps, mut args) = (Vec::new(), Vec::new());
        assert!(dedup_inputs(&[5, 6, 5], &mut deps, &mut args));
        assert_eq!(
            (deps.as_slice(), args.as_slice()),
            (&[5, 6][..], &[0, 1, 0][..])
        );
        let long: Vec<u32> = (0..20).chain([3]).collect();
        assert!(dedup_inputs(&long, &mut deps, &mut args));
        assert_eq!(deps.len(), 20);
        assert_eq!(args[20], 3);
        assert!(!dedup_inputs(&[1, 2], &mut deps, &mut args));
    }
}
