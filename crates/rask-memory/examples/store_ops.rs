//! Cost of the store's hot path (insert, get, remove of values in memory)
//! against striped `Mutex<FxHashMap>`s (what the threads scheduler used
//! before the store), one thread (informal measurement).
use std::sync::Mutex;
use std::time::Instant;

use rask_core::Value;
use rask_memory::{SpillOptions, SpillStore};
use rustc_hash::FxHashMap;

fn main() {
    let n = 1_000_000u32;
    let values: Vec<Value> = (0..64).map(|i| Value::new(i as u64)).collect();
    for _ in 0..3 {
        let store = SpillStore::<u32>::new(SpillOptions::default());
        let t = Instant::now();
        for i in 0..n {
            store.insert(i, values[(i % 64) as usize].clone());
            let _ = store.spill_if_needed();
            if i >= 8 {
                let v = store.get(&(i - 8)).unwrap();
                drop(v);
                drop(store.remove(&(i - 8)));
            }
        }
        let a = t.elapsed().as_secs_f64() * 1e9 / n as f64;
        let stripes: Vec<Mutex<FxHashMap<u32, Value>>> =
            (0..64).map(|_| Mutex::new(FxHashMap::default())).collect();
        let t = Instant::now();
        for i in 0..n {
            stripes[(i % 64) as usize]
                .lock()
                .unwrap()
                .insert(i, values[(i % 64) as usize].clone());
            if i >= 8 {
                let k = i - 8;
                let v = stripes[(k % 64) as usize].lock().unwrap().get(&k).cloned();
                drop(v);
                let r = stripes[(k % 64) as usize].lock().unwrap().remove(&k);
                drop(r);
            }
        }
        let b = t.elapsed().as_secs_f64() * 1e9 / n as f64;
        println!("store {a:.1} ns per insert+get+remove; striped FxHashMap {b:.1} ns");
    }
}
