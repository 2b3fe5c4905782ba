//! Integration tests of the `rask` facade: delayed, schedulers, ordering and
//! memory release, errors on bad input, profiling.

mod array;
#[cfg(feature = "dataframe")]
mod automotive;
#[cfg(feature = "dataframe")]
mod dataframe;
mod delayed;
mod diagnostics;
mod distributed;
mod errors;
mod ordering;
mod portable;
mod schedulers;
mod supervisor;
mod support;
