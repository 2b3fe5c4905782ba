//! Scheduler state-machine tests: a recording `Comm` and simulated workers,
//! no sockets.

mod harness;

mod graph;
mod loss;
mod placement;
mod property;
mod release;
mod scatter;
