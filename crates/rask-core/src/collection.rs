//! Things that can be computed: the contract between collections and
//! `compute`.
//!
//! A [`Collection`] adds its tasks to a [`GraphBuilder`] and names its output
//! keys; after execution it turns the outputs' values into its result type.
//! Tuples, vectors and references of collections are collections too, so
//! `compute((&a, &b))` merges both graphs and runs shared work once.

use crate::builder::GraphBuilder;
use crate::error::Result;
use crate::key::Key;
use crate::value::Value;

/// A lazy value or collection of values that can be computed.
pub trait Collection {
    /// What computing it gives.
    type Output;

    /// Adds this collection's tasks to `builder` (tasks already there are
    /// merged by key) and appends its output keys to `outputs`.
    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>);

    /// Builds the result from the values of the output keys, taking exactly
    /// as many values from `values` as keys were appended.
    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output>;

    /// Reports an error known before anything runs (an invalid collection),
    /// so `compute` can return it without building a graph.
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

impl<C: Collection + ?Sized> Collection for &C {
    type Output = C::Output;
    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        (**self).add_to_graph(builder, outputs)
    }
    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output> {
        (**self).finalize(values)
    }
    fn validate(&self) -> Result<()> {
        (**self).validate()
    }
}

impl<C: Collection> Collection for Vec<C> {
    type Output = Vec<C::Output>;
    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        self.as_slice().add_to_graph(builder, outputs)
    }
    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output> {
        self.as_slice().finalize(values)
    }
    fn validate(&self) -> Result<()> {
        self.as_slice().validate()
    }
}

impl<C: Collection> Collection for [C] {
    type Output = Vec<C::Output>;
    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        for c in self {
            c.add_to_graph(builder, outputs);
        }
    }
    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output> {
        self.iter().map(|c| c.finalize(values)).collect()
    }
    fn validate(&self) -> Result<()> {
        self.iter().try_for_each(|c| c.validate())
    }
}

macro_rules! tuple_collection {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Collection),+> Collection for ($($name,)+) {
            type Output = ($($name::Output,)+);
            fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
                $(self.$idx.add_to_graph(builder, outputs);)+
            }
            fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Self::Output> {
                Ok(($(self.$idx.finalize(values)?,)+))
            }
            fn validate(&self) -> Result<()> {
                $(self.$idx.validate()?;)+
                Ok(())
            }
        }
    };
}

tuple_collection!(A 0);
tuple_collection!(A 0, B 1);
tuple_collection!(A 0, B 1, C 2);
tuple_collection!(A 0, B 1, C 2, D 3);
tuple_collection!(A 0, B 1, C 2, D 3, E 4);
tuple_collection!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_collection!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_collection!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// A collection that can be computed and kept where an executor keeps its
/// results (Dask's `persist`): the returned collection has the same keys and
/// refers to the kept results, so later computations start from there.
pub trait Persist: Collection + Sized {
    /// Persists on `executor`.
    fn persist_on(&self, executor: &dyn crate::Executor) -> Result<Self>;
}
