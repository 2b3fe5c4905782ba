//! A full consistency check of the scheduler's bookkeeping, for tests.
//!
//! It walks every record (O(tasks + edges)), so it is never called on the
//! event path; tests call it after every event.

use crate::scheduler::Scheduler;
use crate::task::{TaskId, TaskState};

impl Scheduler {
    /// Check every invariant of the task, worker and queue bookkeeping;
    /// `Err` says which one broke, for which key. For tests: it costs a walk
    /// over all tasks.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut counts = [0u64; 8];
        let mut live = 0usize;
        for (i, task) in self.tasks.iter().enumerate() {
            let t = i as TaskId;
            counts[task.state as usize] += 1;
            if task.state == TaskState::Forgotten {
                continue;
            }
            live += 1;
            let k = &task.key;
            if self.keys.get(k, &self.tasks) != Some(t) {
                return Err(format!("{k} is not in the key index"));
            }
            for &d in task.deps.iter() {
                let dep = &self.tasks[d as usize];
                if dep.state == TaskState::Forgotten {
                    return Err(format!("{k} depends on a forgotten record"));
                }
                let mut ds = Vec::new();
                dep.dependents.copy_into(&mut ds);
                if !ds.contains(&t) {
                    return Err(format!("{k} is missing from {}'s dependents", dep.key));
                }
            }
            let mut ds = Vec::new();
            task.dependents.copy_into(&mut ds);
            let active = ds
                .iter()
                .filter(|&&d| {
                    let dep = &self.tasks[d as usize];
                    if !dep.deps.contains(&t) {
                        return false;
                    }
                    dep.state.is_active()
                })
                .count();
            if ds
                .iter()
                .any(|&d| !self.tasks[d as usize].deps.contains(&t))
            {
                return Err(format!("{k} lists a dependent that does not depend on it"));
            }
            if active as u32 != task.waiters {
                return Err(format!(
                    "{k}: waiters {} but {active} active dependents",
                    task.waiters
                ));
            }
            if task.scattered && !task.deps.is_empty() {
                return Err(format!("{k} is scattered data but keeps inputs"));
            }
            if task.state == TaskState::Waiting {
                let n = task
                    .deps
                    .iter()
                    .filter(|&&d| self.tasks[d as usize].state != TaskState::Memory)
                    .count();
                if n as u32 != task.waiting_on {
                    return Err(format!(
                        "{k}: waiting_on {} but {n} inputs not in memory",
                        task.waiting_on
                    ));
                }
            }
            if task.state.is_active()
                && task
                    .deps
                    .iter()
                    .any(|&d| self.tasks[d as usize].state == TaskState::Erred)
            {
                return Err(format!("{k} is active with an erred input"));
            }
            match task.state {
                TaskState::Processing => {
                    let Some(w) = task.processing_on else {
                        return Err(format!("{k} is processing nowhere"));
                    };
                    let x = self
                        .workers
                        .get(&w)
                        .ok_or(format!("{k} processing on a gone worker"))?;
                    if !x.processing.contains(&t) && !x.pending_store.contains(&t) {
                        return Err(format!("{k} is not in its worker's processing set"));
                    }
                    if !task.scattered
                        && task
                            .deps
                            .iter()
                            .any(|&d| self.tasks[d as usize].state != TaskState::Memory)
                    {
                        return Err(format!("{k} is processing with an input not in memory"));
                    }
                }
                TaskState::Queued if !self.queue.contains(&(task.priority, t)) => {
                    return Err(format!("{k} is queued but not in the queue"));
                }
                TaskState::NoWorker if !self.no_worker.contains(&t) => {
                    return Err(format!("{k} is no-worker but not in that set"));
                }
                TaskState::Memory if task.who_has.is_empty() => {
                    return Err(format!("{k} is in memory nowhere"));
                }
                _ => {}
            }
            if task.state != TaskState::Processing && task.processing_on.is_some() {
                return Err(format!("{k} is {:?} but has a worker", task.state));
            }
            if task.state != TaskState::Memory && !task.who_has.is_empty() {
                return Err(format!("{k} is {:?} but has holders", task.state));
            }
            for &w in task.who_has.iter() {
                let x = self
                    .workers
                    .get(&w)
                    .ok_or(format!("{k} held by a gone worker"))?;
                if !x.has_what.contains(&t) {
                    return Err(format!("{k} is not in its holder's has_what"));
                }
            }
            for want in task.wanted_by.iter() {
                if !self.clients.contains_key(&want.client) {
                    return Err(format!("{k} wanted by a gone client"));
                }
            }
            if task.wanted_by.is_empty() && task.waiters == 0 && task.state.is_active() {
                return Err(format!("{k} is {:?} but nothing needs it", task.state));
            }
        }
        if counts[..7] != self.counts[..7] {
            return Err(format!(
                "state counts {:?} but records say {counts:?}",
                self.counts
            ));
        }
        if live != self.keys.len() {
            return Err(format!("{live} live records but {} keys", self.keys.len()));
        }
        if self.queue.len() as u64 != counts[TaskState::Queued as usize] {
            return Err("queue and queued count differ".into());
        }
        if self.no_worker.len() as u64 != counts[TaskState::NoWorker as usize] {
            return Err("no-worker set and count differ".into());
        }
        for (w, x) in &self.workers {
            for &t in x.processing.iter().chain(x.pending_store.iter()) {
                if self.tasks[t as usize].processing_on != Some(*w) {
                    return Err(format!(
                        "worker {} lists {} as processing",
                        w.0, self.tasks[t as usize].key
                    ));
                }
            }
            for &t in &x.has_what {
                if !self.tasks[t as usize].who_has.contains(w) {
                    return Err(format!(
                        "worker {} lists {} as held",
                        w.0, self.tasks[t as usize].key
                    ));
                }
            }
        }
        for (c, client) in &self.clients {
            let wanted = client
                .wants
                .iter()
                .filter(|&&t| {
                    self.tasks[t as usize]
                        .wanted_by
                        .iter()
                        .any(|w| w.client == *c)
                })
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            if wanted != client.live {
                return Err(format!(
                    "client {} wants {wanted} tasks but counts {}",
                    c.0, client.live
                ));
            }
        }
        Ok(())
    }
}
