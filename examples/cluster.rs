//! A cluster on this machine: a scheduler in this process, two workers as
//! processes of this very program, futures and an array computed there.
//!
//! ```sh
//! cargo run --release --example cluster
//! ```

use std::time::Instant;

use rask::distributed::{Client, LocalCluster, as_completed};

#[rask::remote]
fn inc(x: &u64) -> u64 {
    x + 1
}

fn main() -> rask::Result<()> {
    rask::distributed::init()?; // becomes a worker when launched as one
    let start = Instant::now();
    let cluster = LocalCluster::builder()
        .workers(2)
        .threads_per_worker(1)
        .build()?;
    let client: Client = cluster.client()?; // or Client::connect("tcp://HOST:8786")?
    println!(
        "cluster at {} with {} worker processes, started in {:.2} s",
        cluster.address(),
        cluster.worker_pids().len(),
        start.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let f = client.submit(inc, (1u64,))?; // Future<u64>
    assert_eq!(f.result()?, 2);
    println!("submit + result: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);

    let t = Instant::now();
    let fs = client.map(inc, 0..10_000u64)?; // Vec<Future<u64>>, one message
    let xs: Vec<u64> = client.gather(&fs)?;
    assert_eq!(xs[9_999], 10_000);
    println!(
        "map + gather of 10,000 tasks: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let first: u64 = as_completed(&fs[..10])
        .map(|done| done.result())
        .sum::<rask::Result<u64>>()?;
    assert_eq!(first, (1..=10).sum::<u64>());

    let g = client.retries(2).priority(10).submit(inc, (&f,))?; // futures as arguments
    assert_eq!(g.result()?, 3);
    let big = client.scatter(vec![0u8; 1 << 20])?; // held on a worker
    assert_eq!(big.result()?.len(), 1 << 20);

    let t = Instant::now();
    let y = rask::array::random::uniform(&[4_000, 4_000], &[500, 500], 7)?;
    let s = client.compute(&y.sum())?.result()?; // as y.sum().compute()
    let kept = client.persist(&y)?; // blocks stay on the workers
    let _default = client.as_default(); // from here on, .compute() runs there too
    let m = kept.mean().compute_scalar()?;
    println!(
        "sum of a 4000 x 4000 random array: {:.1}, mean {m:.4} ({:.2} s on the cluster)",
        s.sum(),
        t.elapsed().as_secs_f64()
    );
    assert!((m - 0.5).abs() < 0.01);
    Ok(())
}
