//! `rechunk` against the data it started from.

use proptest::prelude::*;
use rask_array::{Array, ChunkSpec, Chunks, chunks::refine, rechunk};
use rask_core::{Collection, GraphBuilder};
use rask_local::Scheduler;

use crate::support::{chunks_for, data, shape};

fn shape_and_two_chunkings() -> impl Strategy<Value = (Vec<usize>, Chunks, Chunks)> {
    shape(4, 7).prop_flat_map(|s| (Just(s.clone()), chunks_for(s.clone()), chunks_for(s)))
}

/// A 1-3-d shape and two random chunkings of it.
fn small_rechunk() -> impl Strategy<Value = (Vec<usize>, Chunks, Chunks)> {
    proptest::collection::vec(0..=16usize, 1..=3)
        .prop_flat_map(|s| (Just(s.clone()), chunks_for(s.clone()), chunks_for(s)))
}

/// Sizes of blocks covering `len`, cut after each element with
/// probability `p`.
fn random_cuts(len: usize, p: f64) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(proptest::bool::weighted(p), len - 1).prop_map(|cuts| {
        let mut sizes = vec![1];
        for cut in cuts {
            if cut {
                sizes.push(1);
            } else {
                *sizes.last_mut().expect("starts with one block") += 1;
            }
        }
        sizes
    })
}

/// A 2-3-d shape and two "crossed" chunkings: along every axis one side has
/// small blocks and the other large ones (irregular, cut at random), small
/// in `from` along axis 0 and in `to` along axis 1 or the other way round,
/// so a direct gather reads many blocks per task.
fn crossed_rechunk() -> impl Strategy<Value = (Vec<usize>, Chunks, Chunks)> {
    (
        proptest::collection::vec((8..=32usize, any::<bool>()), 2..=3),
        any::<bool>(),
    )
        .prop_flat_map(|(mut axes, flip)| {
            axes[0].1 = flip;
            axes[1].1 = !flip;
            let shape: Vec<usize> = axes.iter().map(|a| a.0).collect();
            let (small, large) = (0.8, 0.04);
            let from: Vec<_> = axes
                .iter()
                .map(|&(len, s)| random_cuts(len, if s { small } else { large }))
                .collect();
            let to: Vec<_> = axes
                .iter()
                .map(|&(len, s)| random_cuts(len, if s { large } else { small }))
                .collect();
            (Just(shape), from, to).prop_map(|(shape, from, to)| {
                let from = Chunks::new(from, &shape).expect("cuts cover the axis");
                let to = Chunks::new(to, &shape).expect("cuts cover the axis");
                (shape, from, to)
            })
        })
}

/// Edges of a direct gather from `a` to `b`: the pairs of blocks that
/// overlap, per axis the pieces of the common refinement.
fn direct_edges(a: &Chunks, b: &Chunks) -> usize {
    (0..a.ndim())
        .map(|ax| refine(a.axis(ax), b.axis(ax)).len())
        .product()
}

/// The graph edges into rechunk tasks, and the most one such task reads.
fn rechunk_edges(a: &Array<f64>) -> (usize, usize) {
    let mut builder = GraphBuilder::new();
    a.add_to_graph(&mut builder, &mut Vec::new());
    let graph = builder.build().unwrap();
    let reads: Vec<usize> = graph
        .tasks()
        .iter()
        .filter(|t| t.key.prefix().starts_with("rechunk"))
        .map(|t| t.deps.len())
        .collect();
    (reads.iter().sum(), reads.iter().copied().max().unwrap_or(0))
}

/// Checks a staged rechunk from `from` to `to` with blocks of at most
/// `limit` bytes: the plan's stages, the graph's edges, and the data.
fn check_staged(
    shape: &[usize],
    from: &Chunks,
    to: &Chunks,
    limit: u64,
    seed: u64,
) -> Result<(), TestCaseError> {
    let stages = rechunk::plan(from, to, 8, limit).unwrap();
    prop_assert_eq!(stages.last(), Some(to));
    let allowed = (limit as usize)
        .max(from.max_block_len() * 8)
        .max(to.max_block_len() * 8);
    for s in &stages {
        prop_assert_eq!(s.shape(), shape.to_vec());
        prop_assert!(
            s.max_block_len() * 8 <= allowed,
            "a stage {:?} has blocks over {} bytes",
            s,
            allowed
        );
    }
    let nd = data(shape, seed);
    let x = Array::from_ndarray(nd.clone(), from).unwrap();
    let y = x.rechunk_with_limit(to, limit).unwrap();
    prop_assert_eq!(y.chunks(), to);
    // Staging never adds edges, and the graph has exactly the plan's.
    let (edges, _) = rechunk_edges(&y);
    let mut planned = 0;
    let mut prev = from;
    for s in &stages {
        if s != prev {
            planned += direct_edges(prev, s);
        }
        prev = s;
    }
    prop_assert_eq!(edges, planned);
    prop_assert!(edges <= direct_edges(from, to));
    let got = y.compute_with(&Scheduler::sync()).unwrap();
    prop_assert_eq!(got, nd);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn rechunk_keeps_the_data((shape, from, to) in shape_and_two_chunkings(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &from).unwrap();
        let y = x.rechunk(&to).unwrap();
        prop_assert_eq!(y.chunks(), &to);
        let got = y.compute_with(&Scheduler::sync()).unwrap();
        prop_assert_eq!(got, nd);
    }

    #[test]
    fn rechunk_twice_and_compute_together((shape, from, to) in shape_and_two_chunkings(), seed in 0u64..1000) {
        let nd = data(&shape, seed);
        let x = Array::from_ndarray(nd.clone(), &from).unwrap();
        // There and back again, then combined with the original.
        let back = x.rechunk(&to).unwrap().rechunk(&from).unwrap();
        prop_assert_eq!(back.chunks(), &from);
        let sum = (&back + &x.rechunk(&to).unwrap()).compute_with(&Scheduler::sync()).unwrap();
        prop_assert_eq!(sum, &nd + &nd);
    }

    #[test]
    fn staged_rechunk_keeps_the_data_within_the_limit(
        (shape, from, to) in small_rechunk(),
        limit in 0u64..=320,
        seed in 0u64..1000,
    ) {
        check_staged(&shape, &from, &to, limit, seed)?;
    }

    #[test]
    fn crossed_rechunk_keeps_the_data_within_the_limit(
        (shape, from, to) in crossed_rechunk(),
        limit in prop_oneof![0u64..=320, Just(1u64 << 30)],
        seed in 0u64..1000,
    ) {
        check_staged(&shape, &from, &to, limit, seed)?;
    }
}

#[test]
fn same_chunks_is_the_same_array() {
    let x = Array::<f64>::ones(&[6, 4], &[2, 2]).unwrap();
    assert_eq!(x.rechunk(&[2, 2]).unwrap().name(), x.name());
}

#[test]
fn splitting_only_reads_one_block_each() {
    let nd = data(&[8, 6], 3);
    let x = Array::from_ndarray(nd.clone(), &[4, 6]).unwrap();
    let y = x.rechunk(&[2, 3]).unwrap();
    assert!(y.name().starts_with("rechunk-split"), "{}", y.name());
    assert_eq!(y.compute().unwrap(), nd);
}

#[test]
fn whole_and_auto_specs() {
    let nd = data(&[9, 5], 1);
    let x = Array::from_ndarray(nd.clone(), &[2, 2]).unwrap();
    let y = x.rechunk([ChunkSpec::Whole, ChunkSpec::Size(3)]).unwrap();
    assert_eq!(y.chunks().as_slices(), &[vec![9], vec![3, 2]]);
    assert_eq!(y.compute().unwrap(), nd);
    let z = x.rechunk(ChunkSpec::Auto).unwrap();
    assert_eq!(z.numblocks(), vec![1, 1]);
    assert_eq!(z.compute().unwrap(), nd);
}

#[test]
fn bad_chunks_give_an_invalid_array_naming_the_shape() {
    let x = Array::<f64>::ones(&[6, 4], &[2, 2]).unwrap();
    let err = x.rechunk(&[2]).unwrap_err().to_string();
    assert!(err.contains("rechunk") && err.contains("(6, 4)"), "{err}");
    let err = x
        .rechunk(Chunks::new(vec![vec![3, 3], vec![1, 2]], &[6, 3]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("sum to 3"), "{err}");
}

#[test]
fn zero_size_and_zero_d_arrays() {
    let nd = data(&[0, 5], 1);
    let x = Array::from_ndarray(nd.clone(), &[1, 2]).unwrap();
    let y = x.rechunk(&[3, 3]).unwrap();
    assert_eq!(y.chunks().as_slices(), &[vec![0], vec![3, 2]]);
    assert_eq!(y.compute().unwrap(), nd);
    let s = Array::from_ndarray(data(&[], 2), &[] as &[usize]).unwrap();
    assert_eq!(
        s.rechunk(&[] as &[usize]).unwrap().compute().unwrap(),
        data(&[], 2)
    );
}

#[test]
fn a_crossed_rechunk_goes_through_an_intermediate_with_far_fewer_edges() {
    // Columns of width 10 to rows of height 10: a direct gather makes each
    // of the 400 new blocks read all 400 old ones.
    let x = Array::<f64>::ones(&[4000, 4000], &[4000, 10]).unwrap();
    let to = Chunks::regular(&[4000, 4000], &[10, 4000]).unwrap();
    let direct = direct_edges(x.chunks(), &to);
    assert_eq!(direct, 400 * 400);
    let stages = x.rechunk_plan(&to).unwrap();
    assert!(stages.len() >= 2, "{stages:?}");
    assert_eq!(stages.last(), Some(&to));
    let y = x.rechunk(&to).unwrap();
    assert_eq!(y.chunks(), &to);
    // Four intermediate blocks even though one would fit in 128 MiB, so the
    // merge runs in parallel: 2,000 edges, 80 times fewer.
    let (edges, _) = rechunk_edges(&y);
    assert!(edges * 50 < direct, "{edges} edges");
    // With a 32 MiB limit the intermediate has 4 blocks of (4000, 1000),
    // each merged from 100 whole columns; then each of the 400 rows reads
    // its part of the 4 intermediate blocks.
    let z = x.rechunk_with_limit(&to, 32 << 20).unwrap();
    let (edges, widest) = rechunk_edges(&z);
    assert_eq!(edges, 400 + 400 * 4, "{edges} edges");
    assert_eq!(widest, 100);
}

#[test]
fn a_tight_limit_gives_several_stages_of_few_reads_each() {
    let nd = data(&[200, 200], 9);
    let x = Array::from_ndarray(nd.clone(), &[200, 1]).unwrap();
    let to = Chunks::regular(&[200, 200], &[1, 200]).unwrap();
    // Nothing larger than the old and new blocks: 200 elements.
    let stages = rechunk::plan(x.chunks(), &to, 8, 0).unwrap();
    assert!(stages.len() > 2, "{stages:?}");
    for s in &stages {
        assert!(s.max_block_len() <= 200, "{s:?}");
    }
    let y = x.rechunk_with_limit(&to, 0).unwrap();
    let (edges, widest) = rechunk_edges(&y);
    assert!(edges * 4 < direct_edges(x.chunks(), &to), "{edges} edges");
    assert!(widest <= 25, "a task reads {widest} blocks");
    assert_eq!(y.compute_with(&Scheduler::sync()).unwrap(), nd);
}

#[test]
fn plans_of_mismatched_shapes_are_an_error() {
    let a = Chunks::regular(&[4, 4], &[2, 2]).unwrap();
    let b = Chunks::regular(&[4, 5], &[2, 2]).unwrap();
    let err = rechunk::plan(&a, &b, 8, 1 << 20).unwrap_err().to_string();
    assert!(err.contains("(4, 4)") && err.contains("(4, 5)"), "{err}");
    let x = Array::<f64>::ones(&[6, 4], &[2, 2]).unwrap();
    let err = x.rechunk_plan(&[2]).unwrap_err().to_string();
    assert!(err.contains("(6, 4)"), "{err}");
}

#[test]
fn rechunks_are_portable_with_deterministic_names() {
    let nd = data(&[12, 10], 31);
    let x = Array::from_ndarray(nd.clone(), &[5, 3]).unwrap();
    // A gather that merges and splits, a split, and a staged plan.
    let y = x.rechunk(&[4, 7]).unwrap();
    assert_eq!(y.name(), x.rechunk(&[4, 7]).unwrap().name());
    assert_ne!(y.name(), x.rechunk(&[4, 6]).unwrap().name());
    assert_eq!(crate::support::assert_portable(&y), nd);
    let split = x.rechunk(&[1, 1]).unwrap();
    assert!(
        split.name().starts_with("rechunk-split"),
        "{}",
        split.name()
    );
    assert_eq!(split.name(), x.rechunk(&[1, 1]).unwrap().name());
    assert_eq!(crate::support::assert_portable(&split), nd);
    let rows = Array::from_ndarray(nd.clone(), &[12, 1]).unwrap();
    let staged = rows.rechunk_with_limit(&[1, 10], 0).unwrap();
    assert!(
        rechunk::plan(rows.chunks(), staged.chunks(), 8, 0)
            .unwrap()
            .len()
            > 1
    );
    assert_eq!(
        staged.name(),
        rows.rechunk_with_limit(&[1, 10], 0).unwrap().name()
    );
    assert_eq!(crate::support::assert_portable(&staged), nd);
}

/// Under a `memory-limit`, a rechunk's intermediate blocks take at most a
/// sixteenth of it per worker thread, so merges fit under the limit.
#[test]
fn intermediate_blocks_shrink_under_a_memory_limit() {
    let x = Array::<f64>::zeros(&[4096, 4096], &[4096, 16]).unwrap();
    let largest = |stages: &[Chunks]| {
        stages
            .iter()
            .map(|c| {
                let rows = c.axis(0).iter().max().copied().unwrap_or(0);
                let cols = c.axis(1).iter().max().copied().unwrap_or(0);
                rows * cols * 8
            })
            .max()
            .unwrap_or(0)
    };
    let unlimited = {
        let _g = crate::support::override_config(|c| {
            c.memory_limit = None;
            c.num_workers = Some(2);
        });
        x.rechunk_plan(&[16, 4096]).unwrap()
    };
    let limited = {
        let _g = crate::support::override_config(|c| {
            c.memory_limit = Some(rask_config::ByteSize(64 << 20));
            c.num_workers = Some(2);
        });
        x.rechunk_plan(&[16, 4096]).unwrap()
    };
    // Old and new blocks are 512 KiB; 64 MiB / 16 / 2 threads = 2 MiB.
    assert!(largest(&unlimited) > 2 << 20, "{unlimited:?}");
    assert!(largest(&limited) <= 2 << 20, "{limited:?}");
    assert!(limited.len() > unlimited.len());
}
