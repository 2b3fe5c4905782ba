//! Task transitions: every change of a task's state goes through here.
//!
//! Invariants kept by [`Scheduler::set_state`]:
//! - `waiters` of a task = its dependents in an active state (waiting,
//!   queued, no-worker, processing); when it drops to zero the task is
//!   queued for a check, and released or forgotten in `drain` if no client
//!   wants it either.
//! - `waiting_on` of a waiting task = its inputs not in memory.
//! - a processing task is in its worker's `processing` set (or, for
//!   scattered data not yet confirmed, its `pending_store` set); a queued
//!   task is in `queue`; a no-worker task in `no_worker`.

use std::sync::Arc;

use bytes::Bytes;
use rask_core::Key;
use rask_protocol::{
    BulkRef, ComputeTask, DepLocation, Failure, FailureKind, SchedulerToClient, SchedulerToWorker,
    WireKey,
};

use crate::scheduler::Scheduler;
use crate::task::{Priority, Restrictions, Task, TaskId, TaskState, Want};
use crate::{ClientId, Comm, WorkerId};

impl Scheduler {
    /// A new record in state released.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_task(
        &mut self,
        key: Key,
        op: Box<[u8]>,
        deps: Vec<TaskId>,
        args: Option<Box<[u32]>>,
        priority: Priority,
        restrictions: Option<Box<Restrictions>>,
        retries: u32,
        scattered: bool,
    ) -> TaskId {
        let task = Task {
            key,
            op,
            scattered,
            deps: deps.into_boxed_slice(),
            args,
            priority,
            restrictions,
            retries_left: retries,
            state: TaskState::Released,
            ..Task::blank()
        };
        let t = match self.free_slots.pop() {
            Some(t) => {
                self.tasks[t as usize] = task;
                t
            }
            None => {
                self.tasks.push(task);
                (self.tasks.len() - 1) as TaskId
            }
        };
        self.counts[TaskState::Released as usize] += 1;
        self.keys.insert(t, &self.tasks);
        for i in 0..self.tasks[t as usize].deps.len() {
            let d = self.tasks[t as usize].deps[i];
            self.tasks[d as usize].dependents.insert(t);
        }
        t
    }

    /// Change a task's state, keeping `counts` and the inputs' `waiters`.
    pub(crate) fn set_state(&mut self, t: TaskId, new: TaskState) {
        let task = &mut self.tasks[t as usize];
        let old = task.state;
        if old == new {
            return;
        }
        task.state = new;
        self.counts[old as usize] -= 1;
        self.counts[new as usize] += 1;
        match (old.is_active(), new.is_active()) {
            (false, true) => {
                for i in 0..self.tasks[t as usize].deps.len() {
                    let d = self.tasks[t as usize].deps[i];
                    self.tasks[d as usize].waiters += 1;
                }
            }
            (true, false) => {
                for i in 0..self.tasks[t as usize].deps.len() {
                    let d = self.tasks[t as usize].deps[i];
                    let dep = &mut self.tasks[d as usize];
                    dep.waiters -= 1;
                    if dep.waiters == 0 {
                        self.checks.push(d);
                    }
                }
            }
            _ => {}
        }
    }

    /// Release or forget `t` if nothing needs it any more.
    pub(crate) fn maybe_unneeded(&mut self, t: TaskId) {
        let task = &self.tasks[t as usize];
        if task.state == TaskState::Forgotten || !task.wanted_by.is_empty() || task.waiters > 0 {
            return;
        }
        match task.state {
            TaskState::Memory => self.release_memory(t),
            s if s.is_active() => self.cancel_pending(t),
            _ => {}
        }
        let task = &self.tasks[t as usize];
        if matches!(task.state, TaskState::Released | TaskState::Erred)
            && task.dependents.is_empty()
        {
            self.forget(t);
        }
    }

    /// Remove a record nothing refers to.
    fn forget(&mut self, t: TaskId) {
        self.keys.remove(t, &self.tasks);
        let task = std::mem::replace(&mut self.tasks[t as usize], Task::blank());
        self.counts[task.state as usize] -= 1;
        for &d in task.deps.iter() {
            self.tasks[d as usize].dependents.remove(t);
            self.checks.push(d);
        }
        self.free_slots.push(t);
    }

    /// Free a result nobody needs on the workers holding it.
    fn release_memory(&mut self, t: TaskId) {
        let holders = std::mem::take(&mut self.tasks[t as usize].who_has);
        let nbytes = self.tasks[t as usize].nbytes;
        for &w in holders.iter() {
            if let Some(worker) = self.workers.get_mut(&w) {
                worker.has_what.remove(&t);
                worker.managed_bytes = worker.managed_bytes.saturating_sub(nbytes);
                self.frees
                    .entry(w)
                    .or_default()
                    .push(WireKey::from(&self.tasks[t as usize].key));
            }
        }
        self.set_state(t, TaskState::Released);
    }

    /// Take an active task out of wherever it waits (queue, no-worker set,
    /// a worker, with `Free` to it) into state released... the caller sets
    /// the new state. Returns the worker it was on.
    pub(crate) fn take_out(&mut self, t: TaskId) -> Option<WorkerId> {
        let task = &self.tasks[t as usize];
        match task.state {
            TaskState::Queued => {
                let p = task.priority;
                self.queue.remove(&(p, t));
                None
            }
            TaskState::NoWorker => {
                self.no_worker.remove(&t);
                None
            }
            TaskState::Processing => {
                self.steals.remove(&t);
                let w = self.unassign(t)?;
                self.frees
                    .entry(w)
                    .or_default()
                    .push(WireKey::from(&self.tasks[t as usize].key));
                Some(w)
            }
            _ => None,
        }
    }

    /// Drop an active task nobody needs.
    fn cancel_pending(&mut self, t: TaskId) {
        self.take_out(t);
        self.set_state(t, TaskState::Released);
    }

    /// Remove `t` from the worker it is processing on (no message).
    pub(crate) fn unassign(&mut self, t: TaskId) -> Option<WorkerId> {
        let w = self.tasks[t as usize].processing_on.take()?;
        if let Some(worker) = self.workers.get_mut(&w) {
            if !worker.processing.remove(&t) {
                worker.pending_store.remove(&t);
            }
            self.refresh_room(w);
            self.refill.push(w);
        }
        Some(w)
    }

    /// Make `t` and whatever of its lineage is not in memory run again.
    /// Post-order walk: inputs are activated before their dependents.
    pub(crate) fn activate(&mut self, root: TaskId, comm: &mut dyn Comm) {
        if self.tasks[root as usize].state != TaskState::Released {
            return;
        }
        self.epoch = self.epoch.wrapping_add(1);
        let epoch = self.epoch;
        let mut stack: Vec<(TaskId, bool)> = vec![(root, false)];
        while let Some((t, expanded)) = stack.pop() {
            if expanded {
                self.activate_one(t, comm);
                continue;
            }
            let task = &mut self.tasks[t as usize];
            if task.state != TaskState::Released || task.visit == epoch {
                continue;
            }
            task.visit = epoch;
            stack.push((t, true));
            for &d in self.tasks[t as usize].deps.iter() {
                let dep = &self.tasks[d as usize];
                if dep.state == TaskState::Released && dep.visit != epoch {
                    stack.push((d, false));
                }
            }
        }
    }

    /// A released task whose inputs are active or in memory: wait or run.
    fn activate_one(&mut self, t: TaskId, comm: &mut dyn Comm) {
        let task = &self.tasks[t as usize];
        if task.state != TaskState::Released {
            return;
        }
        if task.scattered {
            let failure = Failure {
                key: WireKey::from(&task.key),
                op: "scatter".into(),
                kind: FailureKind::Lost,
                message: format!(
                    "{} was scattered and its data was lost with its worker; it cannot be recomputed, scatter it again",
                    task.key
                ),
                worker: None,
            };
            self.fail(t, Arc::new(failure), comm);
            return;
        }
        let erred = task
            .deps
            .iter()
            .find_map(|&d| self.tasks[d as usize].cause.clone());
        if let Some(cause) = erred {
            self.fail(t, cause, comm);
            return;
        }
        self.set_state(t, TaskState::Waiting);
        self.recount(t);
        if self.tasks[t as usize].waiting_on == 0 {
            self.make_ready(t, comm);
        }
    }

    /// Recompute `waiting_on` from the inputs' states.
    pub(crate) fn recount(&mut self, t: TaskId) {
        let task = &self.tasks[t as usize];
        let n = task
            .deps
            .iter()
            .filter(|&&d| self.tasks[d as usize].state != TaskState::Memory)
            .count();
        self.tasks[t as usize].waiting_on = n as u32;
    }

    /// A waiting task whose inputs are all in memory: send it to a worker,
    /// withhold it (root tasks while no worker has room) or park it (no
    /// worker may run it).
    pub(crate) fn make_ready(&mut self, t: TaskId, comm: &mut dyn Comm) {
        let task = &self.tasks[t as usize];
        let root = task.deps.is_empty() && task.restrictions.is_none();
        if root && self.cfg.withhold_factor > 0.0 {
            if let Some(w) = self.pick_room_worker() {
                self.assign(t, w, comm);
            } else if self.running.is_empty() {
                self.no_worker.insert(t);
                self.set_state(t, TaskState::NoWorker);
            } else {
                let p = task.priority;
                self.queue.insert((p, t));
                self.set_state(t, TaskState::Queued);
            }
            return;
        }
        match self.best_worker(t) {
            Some(w) => self.assign(t, w, comm),
            None => {
                self.no_worker.insert(t);
                self.set_state(t, TaskState::NoWorker);
            }
        }
    }

    /// Send `t` to `w`.
    pub(crate) fn assign(&mut self, t: TaskId, w: WorkerId, comm: &mut dyn Comm) {
        self.set_state(t, TaskState::Processing);
        self.tasks[t as usize].processing_on = Some(w);
        if let Some(worker) = self.workers.get_mut(&w) {
            worker.processing.insert(t);
        }
        self.refresh_room(w);
        self.flush_frees(w, comm);
        let task = &self.tasks[t as usize];
        let location = |d: TaskId| {
            let dep = &self.tasks[d as usize];
            DepLocation {
                key: WireKey::from(&dep.key),
                nbytes: dep.nbytes,
                who_has: self.addresses(&dep.who_has),
            }
        };
        let deps = match &task.args {
            Some(args) => args
                .iter()
                .map(|&a| location(task.deps[a as usize]))
                .collect(),
            None => task.deps.iter().map(|&d| location(d)).collect(),
        };
        let inline = task
            .wanted_by
            .iter()
            .any(|w| self.clients.get(&w.client).is_some_and(|c| c.inline));
        let msg = ComputeTask {
            key: WireKey::from(&task.key),
            op: task.op.to_vec(),
            deps,
            priority: (
                task.priority.0 as i64,
                task.priority.1 as u64,
                task.priority.2,
            ),
            resources: task
                .restrictions
                .as_ref()
                .map(|r| r.resources.clone())
                .unwrap_or_default(),
            inline_limit: if inline { self.cfg.inline_limit } else { 0 },
        };
        comm.to_worker(w, SchedulerToWorker::Compute(msg), Vec::new());
    }

    /// Give withheld root tasks to `w` while it has room, best first.
    pub(crate) fn fill(&mut self, w: WorkerId, comm: &mut dyn Comm) {
        while self.room.contains(&w) {
            let Some((_, t)) = self.queue.pop_first() else {
                return;
            };
            self.assign(t, w, comm);
        }
    }

    /// A result arrived from `w` (a task finished, or scattered data
    /// confirmed): record it, wake dependents, tell wanting clients.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finished(
        &mut self,
        t: TaskId,
        w: WorkerId,
        nbytes: u64,
        tag: &str,
        duration_us: Option<u64>,
        inline: Option<(BulkRef, Bytes)>,
        comm: &mut dyn Comm,
    ) {
        let state = self.tasks[t as usize].state;
        match state {
            TaskState::Memory => {
                self.add_replica(t, w);
                return;
            }
            TaskState::Released | TaskState::Erred | TaskState::Forgotten => {
                let key = WireKey::from(&self.tasks[t as usize].key);
                self.frees.entry(w).or_default().push(key);
                return;
            }
            TaskState::Processing if self.tasks[t as usize].processing_on == Some(w) => {
                self.steals.remove(&t);
                self.unassign(t);
            }
            _ => {
                // Finished somewhere else than where we think it runs (a
                // steal or a reschedule raced): take the result.
                self.take_out(t);
            }
        }
        let tag = self.intern_tag(tag);
        let task = &mut self.tasks[t as usize];
        task.nbytes = nbytes;
        task.tag = tag;
        self.add_replica(t, w);
        self.set_state(t, TaskState::Memory);
        if let Some(us) = duration_us {
            self.avg_duration = 0.9 * self.avg_duration + 0.1 * (us as f64 * 1e-6);
            self.avg_nbytes = if self.avg_nbytes.is_finite() {
                0.9 * self.avg_nbytes + 0.1 * nbytes as f64
            } else {
                nbytes as f64
            };
        }
        // Wake dependents.
        let mut deps = std::mem::take(&mut self.scratch);
        self.tasks[t as usize].dependents.copy_into(&mut deps);
        for &d in &deps {
            let dep = &mut self.tasks[d as usize];
            if dep.state == TaskState::Waiting {
                dep.waiting_on = dep.waiting_on.saturating_sub(1);
                if dep.waiting_on == 0 {
                    self.make_ready(d, comm);
                }
            }
        }
        self.scratch = deps;
        self.report_memory(t, inline, comm);
        self.checks.push(t);
    }

    /// Record that `w` holds `t`.
    pub(crate) fn add_replica(&mut self, t: TaskId, w: WorkerId) {
        let task = &mut self.tasks[t as usize];
        if task.who_has.contains(&w) {
            return;
        }
        let nbytes = task.nbytes;
        if let Some(worker) = self.workers.get_mut(&w) {
            task.who_has.push(w);
            worker.has_what.insert(t);
            worker.managed_bytes += nbytes;
        }
    }

    /// Record that `w` no longer holds `t`; whether nobody holds it now.
    pub(crate) fn remove_replica(&mut self, t: TaskId, w: WorkerId) -> bool {
        let task = &mut self.tasks[t as usize];
        if let Some(i) = task.who_has.iter().position(|&x| x == w) {
            task.who_has.swap_remove(i);
            if let Some(worker) = self.workers.get_mut(&w) {
                worker.has_what.remove(&t);
                worker.managed_bytes = worker.managed_bytes.saturating_sub(task.nbytes);
            }
        }
        task.who_has.is_empty()
    }

    /// Tell clients that want `t` and were not told yet that it is in memory.
    fn report_memory(&mut self, t: TaskId, inline: Option<(BulkRef, Bytes)>, comm: &mut dyn Comm) {
        let task = &mut self.tasks[t as usize];
        if task.wanted_by.iter().all(|w| w.told) {
            return;
        }
        let mut wants = std::mem::take(&mut task.wanted_by);
        let task = &self.tasks[t as usize];
        let key = WireKey::from(&task.key);
        let who_has = self.addresses(&task.who_has);
        for want in wants.iter_mut().filter(|w| !w.told) {
            want.told = true;
            let inline_ok = self.clients.get(&want.client).is_some_and(|c| c.inline);
            let (inline, bulk) = match &inline {
                Some((r, frame)) if inline_ok => (
                    Some(BulkRef {
                        frame: 0,
                        tag: r.tag.clone(),
                    }),
                    vec![frame.clone()],
                ),
                _ => (None, Vec::new()),
            };
            let msg = SchedulerToClient::InMemory {
                key: key.clone(),
                nbytes: task.nbytes,
                tag: self.tags[task.tag as usize].clone(),
                inline,
                who_has: who_has.clone(),
            };
            comm.to_client(want.client, msg, bulk);
        }
        self.tasks[t as usize].wanted_by = wants;
    }

    /// The failure reported for `t` (its own, or its failed input's).
    fn failure_for(&self, t: TaskId) -> Option<Failure> {
        let task = &self.tasks[t as usize];
        let cause = task.cause.as_ref()?;
        let key = WireKey::from(&task.key);
        if cause.key == key {
            return Some((**cause).clone());
        }
        let cause_key = Key::from(&cause.key);
        Some(Failure {
            key,
            op: task.key.prefix().to_string(),
            kind: FailureKind::Dependency,
            message: format!("dependency {cause_key} failed: {}", cause.message),
            worker: cause.worker.clone(),
        })
    }

    fn report_erred(&mut self, t: TaskId, comm: &mut dyn Comm) {
        if self.tasks[t as usize].wanted_by.iter().all(|w| w.told) {
            return;
        }
        let Some(failure) = self.failure_for(t) else {
            return;
        };
        for want in self.tasks[t as usize]
            .wanted_by
            .iter_mut()
            .filter(|w| !w.told)
        {
            want.told = true;
            comm.to_client(
                want.client,
                SchedulerToClient::Erred(failure.clone()),
                Vec::new(),
            );
        }
    }

    /// `t` failed for good: it and its active dependents err with `cause`.
    pub(crate) fn fail(&mut self, t: TaskId, cause: Arc<Failure>, comm: &mut dyn Comm) {
        let mut stack = vec![t];
        let mut deps = Vec::new();
        while let Some(t) = stack.pop() {
            let state = self.tasks[t as usize].state;
            if matches!(
                state,
                TaskState::Erred | TaskState::Memory | TaskState::Forgotten
            ) {
                continue;
            }
            self.take_out(t);
            let task = &mut self.tasks[t as usize];
            task.cause = Some(cause.clone());
            // Clients told it was in memory must hear that it is gone.
            task.wanted_by.iter_mut().for_each(|w| w.told = false);
            self.set_state(t, TaskState::Erred);
            self.report_erred(t, comm);
            self.tasks[t as usize].dependents.copy_into(&mut deps);
            stack.extend(
                deps.iter()
                    .filter(|&&d| self.tasks[d as usize].state.is_active()),
            );
            self.checks.push(t);
        }
    }

    /// `client` wants `t`: report it now if it is done, run it if released.
    ///
    /// A client asking again for a key it already wants is told again: its
    /// ask means it holds a future that may not have heard (one made after
    /// the client dropped and forgot an earlier one for the same key).
    pub(crate) fn add_want(&mut self, client: ClientId, t: TaskId, comm: &mut dyn Comm) {
        let task = &mut self.tasks[t as usize];
        if let Some(want) = task.wanted_by.iter_mut().find(|w| w.client == client) {
            want.told = false;
            match task.state {
                TaskState::Memory => self.report_memory(t, None, comm),
                TaskState::Erred => self.report_erred(t, comm),
                _ => {}
            }
            return;
        }
        task.wanted_by.push(Want {
            client,
            told: false,
        });
        if let Some(c) = self.clients.get_mut(&client) {
            c.wants.push(t);
            c.live += 1;
        }
        match task.state {
            TaskState::Memory => self.report_memory(t, None, comm),
            TaskState::Erred => self.report_erred(t, comm),
            TaskState::Released => self.activate(t, comm),
            _ => {}
        }
    }

    /// Nobody holds `t` any more (its workers died or lost it): send its
    /// active dependents back to waiting, and recompute it if still needed.
    pub(crate) fn lose_key(&mut self, t: TaskId, comm: &mut dyn Comm) {
        if self.tasks[t as usize].state != TaskState::Memory {
            return;
        }
        self.set_state(t, TaskState::Released);
        let mut deps = Vec::new();
        self.tasks[t as usize].dependents.copy_into(&mut deps);
        for &d in &deps {
            if self.tasks[d as usize].state.is_active() {
                self.take_out(d);
                self.set_state(d, TaskState::Waiting);
            }
        }
        let task = &self.tasks[t as usize];
        if !task.wanted_by.is_empty() || task.waiters > 0 {
            self.activate(t, comm);
        } else {
            self.checks.push(t);
        }
        for &d in &deps {
            if self.tasks[d as usize].state == TaskState::Waiting {
                self.recount(d);
                if self.tasks[d as usize].waiting_on == 0 {
                    self.make_ready(d, comm);
                }
            }
        }
    }
}
