//! The scheduler of rask's distributed runtime: a pure state machine and the server around it.
