//! Differential tests: random data (nulls, NaNs, signed zeros, few and many
//! distinct keys), random partitionings (empty partitions included) and a
//! random pipeline — a filter or a derived column, then one of the
//! operations below — computed by rask and by Polars on the concatenated
//! data. Results are equal, up to row order where the operation does not
//! define it. `RASK_DIFFERENTIAL_CASES` sets the number of cases (default
//! 48).

use proptest::prelude::*;
use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd, JoinStrategy};

use crate::support::{Rng, assert_frames_eq, random_parts, sorted};

/// `rows` rows: `k` (string, 5 values and null), `g` (int key with
/// `groups` values and null), `v` (float: nulls, NaNs, ±0.0), `w` (int).
fn data(rows: usize, groups: u64, seed: u64) -> DataFrame {
    let mut r = Rng::new(seed);
    let k = crate::support::kinds(&mut r, rows);
    let g: Vec<Option<i64>> = (0..rows)
        .map(|_| (r.below(10) != 0).then(|| r.below(groups) as i64 - 2))
        .collect();
    let v: Vec<Option<f64>> = (0..rows)
        .map(|_| match r.below(40) {
            0 => None,
            1 => Some(f64::NAN),
            2 => Some(-0.0),
            3 => Some(0.0),
            _ => Some(r.below(1000) as f64 / 7.0 - 50.0),
        })
        .collect();
    let w: Vec<i64> = (0..rows).map(|_| r.below(100) as i64 - 20).collect();
    df!("k" => k, "g" => g, "v" => v, "w" => w).unwrap()
}

/// A small right side keyed by `g`: some keys twice, some missing, a null.
fn right(seed: u64, groups: u64) -> DataFrame {
    let mut r = Rng::new(seed);
    let n = 1 + r.below(groups + 4) as usize;
    let g: Vec<Option<i64>> = (0..n)
        .map(|_| (r.below(12) != 0).then(|| r.below(groups + 3) as i64 - 3))
        .collect();
    let x: Vec<i64> = (0..n).map(|_| r.below(50) as i64).collect();
    let kinds = ["alpha", "beta", "gamma", "zeta"];
    let k: Vec<Option<&str>> = (0..n)
        .map(|_| {
            let i = r.below(5) as usize;
            (i < 4).then(|| kinds[i])
        })
        .collect();
    df!("g" => g, "x" => x, "kr" => k).unwrap()
}

/// What runs before the operation.
#[derive(Clone, Debug)]
enum Pre {
    Nothing,
    /// `filter(w > t)`.
    Filter(i64),
    /// `with_columns(d = v * 2 + w)`.
    Derive,
}

impl Pre {
    fn polars(&self, lf: LazyFrame) -> LazyFrame {
        match self {
            Pre::Nothing => lf,
            Pre::Filter(t) => lf.filter(col("w").gt(lit(*t))),
            Pre::Derive => lf.with_columns([(col("v") * lit(2.0) + col("w")).alias("d")]),
        }
    }
    fn rask(&self, d: &dd::DataFrame) -> dd::DataFrame {
        match self {
            Pre::Nothing => d.clone(),
            Pre::Filter(t) => d.filter(col("w").gt(lit(*t))),
            Pre::Derive => d.with_columns([(col("v") * lit(2.0) + col("w")).alias("d")]),
        }
    }
}

/// The aggregations a case picks from (each aliased by its position).
fn aggregation(i: usize) -> Expr {
    let e = match i % 14 {
        0 => col("v").sum(),
        1 => col("v").mean(),
        2 => col("v").count(),
        3 => col("v").min(),
        4 => col("v").max(),
        5 => col("w").sum(),
        6 => col("w").mean(),
        7 => col("w").min(),
        8 => col("w").max(),
        9 => col("v").std(1),
        10 => col("w").var(0),
        11 => len(),
        12 => col("w").first(),
        _ => col("v").last(),
    };
    e.alias(format!("a{i}"))
}

#[derive(Clone, Debug)]
enum Op {
    GroupBy {
        keys: Vec<&'static str>,
        aggs: Vec<usize>,
        split_out: Option<usize>,
        split_every: usize,
        categorical: bool,
    },
    Agg(Vec<usize>),
    Join {
        how: usize,
        right_parts: usize,
        right_seed: u64,
        broadcast: Option<bool>,
        /// On `k = kr` (strings) instead of `g = g`.
        strings: bool,
    },
    Sort {
        by: Vec<&'static str>,
        head: usize,
        /// Per key: descending; then nulls last, and the partition count.
        descending: Vec<bool>,
        nulls_last: bool,
        npartitions: Option<usize>,
    },
    DropDuplicates(Option<Vec<&'static str>>),
    NUnique(Vec<&'static str>),
    ValueCounts(&'static str),
    Len,
    /// A join with the right side, then a group-by by `key` of left
    /// columns' aggregations (eager aggregation, key filters).
    JoinGroupBy {
        left_join: bool,
        key: &'static str,
        aggs: Vec<usize>,
        right_seed: u64,
    },
    SetIndex(&'static str),
    Repartition(usize),
    Shuffle(usize),
    /// `sum`, `mean`, `min`, `max` or `count` of every column it takes.
    Reduce(usize),
    Head(usize),
    /// Written to Parquet and CSV files and read back.
    RoundTrip {
        csv: bool,
    },
}

fn keys() -> impl Strategy<Value = Vec<&'static str>> {
    prop_oneof![
        Just(vec!["k"]),
        Just(vec!["g"]),
        Just(vec!["k", "g"]),
        Just(vec!["g", "k"]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    // Distinct aggregations: each names its own column.
    let aggs = proptest::collection::btree_set(0usize..14, 1..5)
        .prop_map(|s| s.into_iter().collect::<Vec<_>>());
    prop_oneof![
        (
            keys(),
            aggs.clone(),
            prop_oneof![Just(None), Just(Some(1)), Just(Some(3))],
            2usize..5,
            any::<bool>()
        )
            .prop_map(|(keys, aggs, split_out, split_every, categorical)| {
                Op::GroupBy {
                    keys,
                    aggs,
                    split_out,
                    split_every,
                    categorical,
                }
            }),
        aggs.prop_map(Op::Agg),
        (
            0usize..6,
            1usize..4,
            any::<u64>(),
            prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
            any::<bool>()
        )
            .prop_map(
                |(how, right_parts, right_seed, broadcast, strings)| Op::Join {
                    how,
                    right_parts,
                    right_seed,
                    broadcast,
                    strings,
                }
            ),
        (
            prop_oneof![
                Just(vec!["g"]),
                Just(vec!["v"]),
                Just(vec!["k", "v"]),
                Just(vec!["w", "g"]),
            ],
            0usize..12,
            proptest::collection::vec(any::<bool>(), 2),
            any::<bool>(),
            prop_oneof![Just(None), (1usize..7).prop_map(Some)]
        )
            .prop_map(|(by, head, descending, nulls_last, npartitions)| {
                let descending = descending[..by.len()].to_vec();
                Op::Sort {
                    by,
                    head,
                    descending,
                    nulls_last,
                    npartitions,
                }
            }),
        prop_oneof![
            Just(None),
            Just(Some(vec!["k"])),
            Just(Some(vec!["g", "k"]))
        ]
        .prop_map(Op::DropDuplicates),
        prop_oneof![Just(vec!["k"]), Just(vec!["g", "v"])].prop_map(Op::NUnique),
        prop_oneof![Just("k"), Just("g")].prop_map(Op::ValueCounts),
        Just(Op::Len),
        (
            any::<bool>(),
            prop_oneof![Just("x"), Just("g")],
            proptest::collection::btree_set(0usize..14, 1..4)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
            any::<u64>()
        )
            .prop_map(|(left_join, key, aggs, right_seed)| Op::JoinGroupBy {
                left_join,
                key,
                aggs,
                right_seed,
            }),
        prop_oneof![Just("w"), Just("g"), Just("v")].prop_map(Op::SetIndex),
        (1usize..14).prop_map(Op::Repartition),
        (1usize..6).prop_map(Op::Shuffle),
        (0usize..5).prop_map(Op::Reduce),
        (0usize..30).prop_map(Op::Head),
        any::<bool>().prop_map(|csv| Op::RoundTrip { csv }),
    ]
}

fn join_type(how: usize) -> JoinType {
    match how {
        0 => JoinType::Inner,
        1 => JoinType::Left,
        2 => JoinType::Right,
        3 => JoinType::Full,
        4 => JoinType::Semi,
        _ => JoinType::Anti,
    }
}

/// Every column's name, for sorting frames whose row order is not defined.
fn all_columns(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn sorted_all(df: &DataFrame) -> DataFrame {
    let cols = all_columns(df);
    let refs: Vec<&str> = cols.iter().map(String::as_str).collect();
    sorted(df, &refs)
}

/// Runs `op` after `pre` on `d` (rask) and on `pl` (Polars) and compares.
fn check(pl: &DataFrame, d: &dd::DataFrame, pre: &Pre, op: &Op, groups: u64) {
    let lf = pre.polars(pl.clone().lazy());
    let rd = pre.rask(d);
    match op {
        Op::GroupBy {
            keys,
            aggs,
            split_out,
            split_every,
            categorical,
        } => {
            let (rd, lf) = if *categorical && keys.contains(&"k") {
                let c = rd.cast_categorical(["k"]).unwrap();
                let dtype = c.dtype("k").unwrap().clone();
                (c, lf.with_column(col("k").cast(dtype)))
            } else {
                (rd, lf)
            };
            let kx: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
            let ax: Vec<Expr> = aggs.iter().map(|&i| aggregation(i)).collect();
            let mut gb = rd.group_by(&kx).split_every(*split_every);
            if let Some(n) = split_out {
                gb = gb.split_out(*n);
            }
            let got = gb.agg(&ax).compute().unwrap();
            let want = lf.group_by(&kx).agg(&ax).collect().unwrap();
            let got = got.cast_to_string_if_categorical();
            let want = want.cast_to_string_if_categorical();
            assert_frames_eq(&sorted(&got, keys), &sorted(&want, keys));
        }
        Op::Agg(aggs) => {
            // first/last of a whole frame are defined by row order, which
            // a filter keeps: all are comparable.
            let ax: Vec<Expr> = aggs.iter().map(|&i| aggregation(i)).collect();
            let got = rd.agg(&ax).compute().unwrap();
            let want = lf.select(&ax).collect().unwrap();
            assert_frames_eq(&got, &want);
        }
        Op::Join {
            how,
            right_parts,
            right_seed,
            broadcast,
            strings,
        } => {
            let r = right(*right_seed, groups);
            let (lk, rk) = if *strings { ("k", "kr") } else { ("g", "g") };
            let rdd = dd::from_partitions(random_parts(&r, *right_parts, *right_seed ^ 7)).unwrap();
            let args = JoinArgs::new(join_type(*how));
            let strategy = match broadcast {
                None => JoinStrategy::Auto,
                Some(true) => JoinStrategy::Broadcast,
                Some(false) => JoinStrategy::Shuffle(Default::default()),
            };
            let joined = rd.join_with(&rdd, [col(lk)], [col(rk)], args.clone(), strategy);
            if let Some(e) = joined.error() {
                // A broadcast the join type does not allow is refused with
                // a reason; nothing else is.
                assert!(
                    *broadcast == Some(true) && e.contains("cannot broadcast"),
                    "{e}"
                );
                return;
            }
            let got = joined.compute().unwrap();
            let want = lf
                .join(r.lazy(), [col(lk)], [col(rk)], args)
                .collect()
                .unwrap();
            assert_frames_eq(&sorted_all(&got), &sorted_all(&want));
        }
        Op::Sort {
            by,
            head,
            descending,
            nulls_last,
            npartitions,
        } => {
            let bx: Vec<Expr> = by.iter().map(|c| col(*c)).collect();
            let options = SortMultipleOptions::default()
                .with_order_descending_multi(descending.clone())
                .with_nulls_last(*nulls_last);
            let shuffle = match npartitions {
                Some(n) => dd::ShuffleOptions::default().npartitions(*n),
                None => dd::ShuffleOptions::default(),
            };
            let sorted_d = rd.sort_with(&bx, options.clone(), &shuffle).unwrap();
            let want = lf.sort_by_exprs(&bx, options).collect().unwrap();
            let got = sorted_d.compute().unwrap();
            // The keys come in Polars' order (nulls first, NaN last); rows
            // of equal keys in any order.
            let key_cols = |f: &DataFrame| f.select(by.iter().copied()).unwrap();
            assert_frames_eq(&key_cols(&got), &key_cols(&want));
            assert_frames_eq(&sorted_all(&got), &sorted_all(&want));
            let first = sorted_d.head(*head).unwrap();
            assert_frames_eq(&key_cols(&first), &key_cols(&want.head(Some(*head))));
        }
        Op::DropDuplicates(subset) => {
            let got = rd.drop_duplicates(subset.as_deref()).compute().unwrap();
            let want = lf
                .unique_stable(
                    subset.as_ref().map(|s| cols(s.iter().copied())),
                    UniqueKeepStrategy::First,
                )
                .collect()
                .unwrap();
            assert_frames_eq(&sorted_all(&got), &sorted_all(&want));
        }
        Op::NUnique(columns) => {
            let got = rd.nunique(columns.iter().copied()).compute().unwrap();
            let want = lf
                .select(
                    columns
                        .iter()
                        .map(|c| col(*c).n_unique())
                        .collect::<Vec<_>>(),
                )
                .collect()
                .unwrap();
            assert_frames_eq(&got, &want);
        }
        Op::ValueCounts(c) => {
            let got = rd.value_counts(c).compute().unwrap();
            let want = lf
                .group_by([col(*c)])
                .agg([len().alias("count")])
                .collect()
                .unwrap();
            assert_frames_eq(&sorted(&got, &[c]), &sorted(&want, &[c]));
        }
        Op::Len => {
            let want = lf.collect().unwrap().height();
            assert_eq!(rd.len().unwrap(), want);
        }
        Op::JoinGroupBy {
            left_join,
            key,
            aggs,
            right_seed,
        } => {
            let r = right(*right_seed, groups);
            let rdd = dd::from_polars(r.clone(), 1).unwrap();
            let how = if *left_join {
                JoinType::Left
            } else {
                JoinType::Inner
            };
            let ax: Vec<Expr> = aggs.iter().map(|&i| aggregation(i)).collect();
            let got = rd
                .join(&rdd, [col("g")], [col("g")], JoinArgs::new(how.clone()))
                .group_by([col(*key)])
                .agg(&ax)
                .compute()
                .unwrap();
            let joined = lf
                .join(r.lazy(), [col("g")], [col("g")], JoinArgs::new(how))
                .collect()
                .unwrap();
            // first/last after a join: the join's row order is not defined,
            // so those are compared only where a group has one row.
            let want = joined
                .lazy()
                .group_by([col(*key)])
                .agg(&ax)
                .collect()
                .unwrap();
            let order_free: Vec<String> = aggs
                .iter()
                .filter(|&&i| !matches!(i % 14, 12 | 13))
                .map(|i| format!("a{i}"))
                .collect();
            let pick = |f: &DataFrame| {
                let mut names = vec![key.to_string()];
                names.extend(order_free.iter().cloned());
                f.select(names).unwrap()
            };
            assert_frames_eq(&sorted(&pick(&got), &[key]), &sorted(&pick(&want), &[key]));
        }
        Op::SetIndex(c) => {
            let got = rd.set_index(c).unwrap().compute().unwrap();
            let want = lf
                .sort([*c], SortMultipleOptions::default())
                .collect()
                .unwrap();
            let key_cols = |f: &DataFrame| f.select([*c]).unwrap();
            assert_frames_eq(&key_cols(&got), &key_cols(&want));
            assert_frames_eq(&sorted_all(&got), &sorted_all(&want));
        }
        Op::Repartition(n) => {
            let re = rd.repartition(*n);
            assert_eq!(re.npartitions(), *n);
            assert_frames_eq(&re.compute().unwrap(), &lf.collect().unwrap());
        }
        Op::Shuffle(n) => {
            let sh = rd.shuffle([col("g")], *n);
            let parts = sh.compute_partitions().unwrap();
            assert_eq!(parts.len(), *n);
            // Each key in one partition.
            let mut owner = std::collections::HashMap::new();
            for (i, p) in parts.iter().enumerate() {
                for g in p.column("g").unwrap().i64().unwrap().iter() {
                    assert_eq!(
                        *owner.entry(g).or_insert(i),
                        i,
                        "key {g:?} in two partitions"
                    );
                }
            }
            assert_frames_eq(
                &sorted_all(&sh.compute().unwrap()),
                &sorted_all(&lf.collect().unwrap()),
            );
        }
        Op::Reduce(which) => {
            let (got, want) = match which {
                0 => (rd.sum(), lf.sum()),
                1 => (rd.mean(), lf.mean()),
                2 => (rd.min(), lf.min()),
                3 => (rd.max(), lf.max()),
                _ => (rd.count(), lf.count()),
            };
            let got = got.compute().unwrap();
            let want = want.collect().unwrap();
            // Polars reduces every column (a string's sum or mean is
            // null); rask those of the types the reduction takes.
            let want = want.select(got.get_column_names_owned()).unwrap();
            assert_frames_eq(&got, &want);
        }
        Op::Head(n) => {
            let got = rd.head(*n).unwrap();
            assert_frames_eq(&got, &lf.collect().unwrap().head(Some(*n)));
        }
        Op::RoundTrip { csv } => {
            let dir = crate::support::temp_dir(&format!("differential-{}", rand_name()));
            let back = if *csv {
                rd.to_csv(&*dir).unwrap();
                let mut read = dd::ReadCsv::new(format!("{}/*.csv", dir.display()));
                for (name, dtype) in rd.schema().iter() {
                    read = read.dtype(name.as_str(), dtype.clone());
                }
                read.finish().unwrap()
            } else {
                rd.to_parquet(&*dir).unwrap();
                dd::read_parquet(format!("{}/*.parquet", dir.display())).unwrap()
            };
            let got = back.compute().unwrap();
            let want = lf.collect().unwrap();
            if *csv {
                // CSV has one spelling for an empty string and a null.
                assert_frames_eq(&sorted_all(&got), &sorted_all(&want));
            } else {
                // Files in partition order, rows in file order.
                assert_frames_eq(&got, &want);
            }
        }
    }
}

/// A name no other case running at the same time uses.
fn rand_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Categorical key columns as strings, so the two sides' frames compare by
/// value whatever mapping each one holds.
trait AsStrings {
    fn cast_to_string_if_categorical(self) -> DataFrame;
}

impl AsStrings for DataFrame {
    fn cast_to_string_if_categorical(self) -> DataFrame {
        let columns: Vec<Column> = self
            .columns()
            .iter()
            .map(|c| match c.dtype() {
                DataType::Categorical(..) | DataType::Enum(..) => {
                    c.cast(&DataType::String).unwrap()
                }
                _ => c.clone(),
            })
            .collect();
        DataFrame::new(self.height(), columns).unwrap()
    }
}

fn cases() -> u32 {
    std::env::var("RASK_DIFFERENTIAL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48)
}

fn pre() -> impl Strategy<Value = Pre> {
    prop_oneof![
        Just(Pre::Nothing),
        (-30i64..90).prop_map(Pre::Filter),
        Just(Pre::Derive),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_pipelines_equal_polars(
        rows in 0usize..400,
        groups in prop_oneof![Just(3u64), Just(40), Just(1000)],
        seed in any::<u64>(),
        parts in prop_oneof![4 => 1usize..9, 1 => 30usize..45],
        pre in pre(),
        op in op(),
    ) {
        let pl = data(rows, groups, seed);
        let d = dd::from_partitions(random_parts(&pl, parts, seed.rotate_left(17))).unwrap();
        check(&pl, &d, &pre, &op, groups);
    }
}

/// A text field from characters that CSV must quote: separators, quotes,
/// newlines (`\n` and `\r\n`), spaces, non-ASCII, and empty strings.
fn csv_text() -> impl Strategy<Value = Option<String>> {
    let piece = prop_oneof![
        Just("a"),
        Just("bc"),
        Just(","),
        Just("\""),
        Just("\n"),
        Just("\r\n"),
        Just(" "),
        Just("é"),
        Just("1"),
    ];
    prop_oneof![
        1 => Just(None),
        6 => proptest::collection::vec(piece, 0..6).prop_map(|p| Some(p.concat())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// CSV files written by Polars (fields with separators, quotes and
    /// newlines), cut into blocks of any size: rask reads the rows Polars
    /// reads from the whole files, in order, each once.
    #[test]
    fn csv_blocks_of_any_size_equal_polars(
        files in proptest::collection::vec(
            proptest::collection::vec((csv_text(), -50i64..50, csv_text()), 0..25),
            1..4,
        ),
        blocksize in prop_oneof![1u64..40, 40u64..400],
    ) {
        let dir = crate::support::temp_dir(&format!("differential-csv-{}", rand_name()));
        let mut want: Option<DataFrame> = None;
        for (i, rows) in files.iter().enumerate() {
            let s: Vec<Option<&str>> = rows.iter().map(|r| r.0.as_deref()).collect();
            let n: Vec<i64> = rows.iter().map(|r| r.1).collect();
            let t: Vec<Option<&str>> = rows.iter().map(|r| r.2.as_deref()).collect();
            let mut df = df!("s" => s, "n" => n, "t" => t).unwrap();
            let path = dir.join(format!("f{i}.csv"));
            let mut f = std::fs::File::create(&path).unwrap();
            CsvWriter::new(&mut f).finish(&mut df).unwrap();
            // The oracle: Polars reading the whole file.
            let back = CsvReadOptions::default()
                .with_has_header(true)
                .with_schema(Some(std::sync::Arc::new(df.schema().as_ref().clone())))
                .try_into_reader_with_file_path(Some(path.clone()))
                .unwrap()
                .finish()
                .unwrap();
            match &mut want {
                None => want = Some(back),
                Some(w) => {
                    w.vstack_mut(&back).unwrap();
                }
            }
        }
        let got = dd::ReadCsv::new(format!("{}/*.csv", dir.display()))
            .blocksize(blocksize)
            .dtype("s", DataType::String)
            .dtype("n", DataType::Int64)
            .dtype("t", DataType::String)
            .finish()
            .unwrap()
            .compute()
            .unwrap();
        assert_frames_eq(&got, &want.unwrap());
    }
}
