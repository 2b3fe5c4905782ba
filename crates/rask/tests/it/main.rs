//! Integration tests of the `rask` facade: delayed, schedulers, ordering and
//! memory release, errors on bad input.

mod array;
mod delayed;
mod errors;
mod ordering;
mod schedulers;
mod support;
