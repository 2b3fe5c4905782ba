//! The worker of rask's distributed runtime: runs tasks by kernel name, keeps and serves results.
