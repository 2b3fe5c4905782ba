//! Client, futures and clusters of rask's distributed runtime.
