//! Runtime key filters: a join task whose right side is already in memory
//! (broadcast, or paired by key ranges) filters its left side to the keys
//! the right side holds before joining, inside the left side's own plan.
//!
//! A left row whose key no right row holds cannot reach the result of an
//! inner, semi or right join. When the left side is scanned in the task
//! (a Parquet partition, or a join over one), Polars pushes the filter
//! into the scan, so those rows are dropped as they are decoded: they are
//! never gathered into the left frame, never probed against the join's
//! hash table, and never carried through a join further up. TPC-H's Q5
//! keeps about one line item in five after its supplier join; Q10 one in
//! twenty-five after its join with one quarter's orders.
//!
//! The filter holds the right side's keys as a bitmap over their range
//! (a bit per value, so a probe is one load) when that range spans at most
//! 2^27 values (16 MiB of bits), and as a hash set otherwise. Only single
//! integer, temporal or categorical keys of the same type on both sides
//! are filtered (a categorical by its codes), and only without
//! `nulls_equal` (a null key never matches, so it is filtered out too).

use std::sync::Arc;

use polars::prelude::{
    BooleanChunked, Column, DataFrame as PlFrame, DataType, Expr, Field, Int64Chunked, Int64Type,
    IntoColumn, PlHashSet, PolarsResult, Schema, col,
};
use polars_arrow::array::BooleanArray;
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::ArrowDataType;

/// The most keys a right side may hold for its filter to be built: a
/// larger side costs more to index than its filter saves.
const MAX_KEYS: usize = 4 << 20;

/// The widest range of key values a bitmap covers (16 MiB of bits); a
/// wider one is hashed.
const MAX_BITS: u64 = 1 << 27;

/// Whether a key column of this type can be filtered: integers, dates and
/// datetimes by value, categoricals by their codes (two columns of one
/// categorical type share one mapping of strings to codes).
pub(crate) fn filterable(dtype: &DataType) -> bool {
    dtype.is_integer()
        || matches!(
            dtype,
            DataType::Date
                | DataType::Datetime(..)
                | DataType::Categorical(..)
                | DataType::Enum(..)
        )
}

/// The set of a right side's key values.
#[derive(Debug)]
pub(crate) enum KeySet {
    /// Bit `v - min` is set for each value `v`.
    Bits { min: i64, bits: Vec<u64> },
    /// Values too spread for a bitmap.
    Hashed(PlHashSet<i64>),
}

impl KeySet {
    /// The non-null values of `columns` (one key column of each right
    /// frame), or `None` when they are too many or not of an integer or
    /// temporal type.
    pub(crate) fn of(columns: &[&Column]) -> Option<KeySet> {
        let mut values: Vec<i64> = Vec::new();
        for c in columns {
            if !filterable(c.dtype()) {
                return None;
            }
            let ca = as_i64(c).ok()?;
            if values.len() + ca.len() - ca.null_count() > MAX_KEYS {
                return None;
            }
            values.extend(ca.iter().flatten());
        }
        let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
            return Some(KeySet::Bits {
                min: 0,
                bits: Vec::new(),
            });
        };
        let span = max.abs_diff(min).saturating_add(1);
        if span <= MAX_BITS {
            let mut bits = vec![0u64; span.div_ceil(64) as usize];
            for v in values {
                let i = v.abs_diff(min) as usize;
                bits[i / 64] |= 1 << (i % 64);
            }
            Some(KeySet::Bits { min, bits })
        } else {
            Some(KeySet::Hashed(values.into_iter().collect()))
        }
    }

    /// Whether `v` is one of the keys.
    #[inline]
    pub(crate) fn contains(&self, v: i64) -> bool {
        match self {
            KeySet::Bits { min, bits } => {
                if v < *min {
                    return false;
                }
                let i = v.abs_diff(*min);
                bits.get((i / 64) as usize)
                    .is_some_and(|w| w & (1 << (i % 64)) != 0)
            }
            KeySet::Hashed(set) => set.contains(&v),
        }
    }

    /// The mask of `c`'s values that are keys (nulls are not), built a
    /// byte of the bitmap at a time.
    pub(crate) fn mask(&self, c: &Column) -> PolarsResult<Column> {
        let name = c.name().clone();
        let ca = as_i64(c)?;
        let chunks = ca.downcast_iter().map(|a| {
            let values = a.values().as_slice();
            let mut bytes = Vec::with_capacity(values.len().div_ceil(8));
            for eight in values.chunks(8) {
                let mut byte = 0u8;
                for (i, &v) in eight.iter().enumerate() {
                    byte |= u8::from(self.contains(v)) << i;
                }
                bytes.push(byte);
            }
            let mut keep = Bitmap::from_u8_vec(bytes, values.len());
            if let Some(valid) = a.validity() {
                keep = &keep & valid;
            }
            BooleanArray::new(ArrowDataType::Boolean, keep, None)
        });
        Ok(BooleanChunked::from_chunk_iter(name, chunks).into_column())
    }
}

/// The values of an integer, temporal or categorical column (its codes) as
/// `i64`s, one to one:
/// `u64`s by their bits (a cast would make those above `i64::MAX` null),
/// the rest by a cast, which is exact for them.
fn as_i64(c: &Column) -> PolarsResult<Int64Chunked> {
    let s = c.as_materialized_series().to_physical_repr();
    if let Ok(ca) = s.u64() {
        return Ok(
            ca.apply_nonnull_values_generic::<Int64Type, _, _>(DataType::Int64, |v| v as i64)
        );
    }
    Ok(s.cast(&DataType::Int64)?.i64()?.clone())
}

/// The filter expression keeping the rows of `left_key` whose value
/// `right_key` holds in one of `rights`, or `None` when the right side is
/// too large or its key not filterable.
pub(crate) fn filter(left_key: &str, right_key: &str, rights: &[PlFrame]) -> Option<Expr> {
    let columns = rights
        .iter()
        .map(|f| f.column(right_key).ok())
        .collect::<Option<Vec<_>>>()?;
    let set = Arc::new(KeySet::of(&columns)?);
    Some(col(left_key).map_with_fmt_str(
        move |c: Column| set.mask(&c),
        |_: &Schema, f: &Field| Ok(Field::new(f.name().clone(), DataType::Boolean)),
        "rask.join_key_filter",
    ))
}

#[cfg(test)]
mod tests {
    use polars::prelude::{IntoLazy, NamedFrom, Series, df};

    use super::*;

    fn set(values: &[Option<i64>]) -> KeySet {
        let c = Series::new("k".into(), values).into_column();
        KeySet::of(&[&c]).unwrap()
    }

    #[test]
    fn dense_keys_are_a_bitmap_and_spread_keys_a_hash_set() {
        let dense = set(&[Some(5), Some(7), None, Some(70)]);
        assert!(matches!(dense, KeySet::Bits { min: 5, .. }));
        let spread = set(&[Some(-(1 << 40)), Some(1 << 40)]);
        assert!(matches!(spread, KeySet::Hashed(_)));
        for s in [&dense, &spread] {
            assert!(!s.contains(6) && !s.contains(i64::MIN) && !s.contains(i64::MAX));
        }
        assert!(dense.contains(5) && dense.contains(7) && dense.contains(70));
        assert!(!dense.contains(4) && !dense.contains(71) && !dense.contains(1 << 20));
        assert!(spread.contains(1 << 40) && spread.contains(-(1 << 40)));
        let empty = set(&[None]);
        assert!(!empty.contains(0));
        // The widest span of all (its length does not fit a u64).
        let widest = set(&[Some(i64::MIN), Some(i64::MAX)]);
        assert!(matches!(widest, KeySet::Hashed(_)));
        assert!(widest.contains(i64::MIN) && widest.contains(i64::MAX) && !widest.contains(0));
    }

    #[test]
    fn a_mask_keeps_the_keys_and_drops_nulls() {
        let s = set(&[Some(1), Some(3)]);
        let c = Series::new("x".into(), &[Some(1i32), None, Some(2), Some(3)]).into_column();
        let m = s.mask(&c).unwrap();
        let m: Vec<Option<bool>> = m.bool().unwrap().iter().collect();
        assert_eq!(m, [Some(true), Some(false), Some(false), Some(true)]);
    }

    #[test]
    fn u64_keys_above_i64_max_match() {
        let big = u64::MAX - 1;
        let s = KeySet::of(&[&Series::new("k".into(), &[big, 3]).into_column()]).unwrap();
        let c = Series::new("x".into(), &[big, u64::MAX, 3, 4]).into_column();
        let m: Vec<Option<bool>> = s.mask(&c).unwrap().bool().unwrap().iter().collect();
        assert_eq!(m, [Some(true), Some(false), Some(true), Some(false)]);
    }

    #[test]
    fn masks_span_chunks_and_bytes() {
        let keys: Vec<i64> = (0..100).filter(|v| v % 3 == 0).collect();
        let s = KeySet::of(&[&Series::new("k".into(), &keys).into_column()]).unwrap();
        let mut a = Series::new("x".into(), (0..13).collect::<Vec<i64>>());
        a.append(&Series::new(
            "x".into(),
            (13..40i64).map(Some).chain([None]).collect::<Vec<_>>(),
        ))
        .unwrap();
        assert_eq!(a.n_chunks(), 2);
        let m: Vec<Option<bool>> = s
            .mask(&a.into_column())
            .unwrap()
            .bool()
            .unwrap()
            .iter()
            .collect();
        let want: Vec<Option<bool>> = (0..40)
            .map(|v| Some(v % 3 == 0))
            .chain([Some(false)])
            .collect();
        assert_eq!(m, want);
    }

    #[test]
    fn strings_and_floats_are_not_filtered() {
        let s = Series::new("k".into(), &["a"]).into_column();
        assert!(KeySet::of(&[&s]).is_none());
        let f = Series::new("k".into(), &[1.5f64]).into_column();
        assert!(KeySet::of(&[&f]).is_none());
    }

    #[test]
    fn the_filter_keeps_the_left_rows_a_right_frame_holds() {
        let left = df!("a" => [1i64, 2, 3, 4, 5], "v" => [10, 20, 30, 40, 50]).unwrap();
        let r1 = df!("b" => [2i64, 9]).unwrap();
        let r2 = df!("b" => [5i64]).unwrap();
        let f = filter("a", "b", &[r1, r2]).unwrap();
        let out = left.lazy().filter(f).collect().unwrap();
        let v: Vec<i32> = out
            .column("v")
            .unwrap()
            .i32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(v, [20, 50]);
    }
}
