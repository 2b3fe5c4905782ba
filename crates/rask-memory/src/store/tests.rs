use std::path::PathBuf;

use super::*;

/// A spill parent directory of its own per test, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("rask-store-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        TempDir(d)
    }

    fn store<K: Hash + Eq + Clone>(&self) -> SpillStore<K> {
        SpillStore::new(SpillOptions {
            directory: Some(self.0.clone()),
            ..SpillOptions::default()
        })
    }

    fn files(&self) -> usize {
        walk(&self.0)
    }
}

/// Spill files under `p` (not the directories' lock files).
fn walk(p: &Path) -> usize {
    std::fs::read_dir(p).map_or(0, |es| {
        es.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    usize::from(e.path().extension().is_some_and(|x| x == "spill"))
                }
            })
            .sum()
    })
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn block(x: f64) -> Value {
    Value::new(vec![x; 1000])
}

fn read(v: &Value) -> f64 {
    v.downcast_ref::<Vec<f64>>().unwrap()[0]
}

#[test]
fn least_recently_used_values_spill_first() {
    let tmp = TempDir::new("lru");
    let store = tmp.store::<u32>();
    for k in 0..5 {
        store.insert(k, block(k as f64));
    }
    // Use 0 and 1 again: 2 is now the least recently used.
    store.get(&0).unwrap();
    store.get(&1).unwrap();
    let one = store.nbytes_of(&0).unwrap();
    store.set_goal(3 * one);
    store.spill_if_needed().unwrap();
    let spilled: Vec<u32> = (0..5)
        .filter(|k| store.is_spilled(k) == Some(true))
        .collect();
    // Down to 1/16 under 3 values: three go, the oldest unused first.
    assert_eq!(spilled, vec![2, 3, 4]);
    assert_eq!(store.stats().spilled_count, 3);
    assert_eq!(store.managed(), 2 * one);
    assert_eq!(tmp.files(), 3);
}

#[test]
fn values_needed_last_spill_first_then_the_least_recently_used() {
    let tmp = TempDir::new("next-use");
    let store = tmp.store::<u32>();
    // Inserted in order 0..6; next needed at 50, 10, 40, 20, and two whose
    // next use is not known (an output), which go first, the older first.
    for (k, next) in [(0, 50), (1, 10), (2, 40), (3, 20)] {
        store.insert_with_next_use(k, block(k as f64), next);
    }
    store.insert(4, block(4.0));
    store.insert(5, block(5.0));
    // 4 is used again: 5 is now the least recently used of the two.
    store.get(&4).unwrap();
    let one = store.nbytes_of(&0).unwrap();
    // Each spill goes down to 1/16 under the goal: the goals below are
    // half a value over a whole number of values, so each spills one.
    let spilled_at = |goal: u64| {
        store.set_goal(goal);
        store.spill_if_needed().unwrap();
        (0..6)
            .filter(|k| store.is_spilled(k) == Some(true))
            .collect::<Vec<u32>>()
    };
    assert_eq!(spilled_at(one * 11 / 2), vec![5]);
    assert_eq!(spilled_at(one * 9 / 2), vec![4, 5]);
    assert_eq!(spilled_at(one * 7 / 2), vec![0, 4, 5]);
    // A reader of 1 ran: 1 is next needed at 60, after everything else.
    store.update_next_use(&1, |next| (next == 10).then_some(60));
    store.update_next_use(&3, |next| (next == 10).then_some(70));
    assert_eq!(spilled_at(one * 5 / 2), vec![0, 1, 4, 5]);
    // 0 read back (next use 50) stays for a grace period after its read;
    // the next farthest (2, at 40) goes instead.
    store.get(&0).unwrap();
    assert_eq!(spilled_at(one * 5 / 2), vec![1, 2, 4, 5]);
    store.set_next_use(&3, 100);
    assert_eq!(spilled_at(one * 3 / 2), vec![1, 2, 3, 4, 5]);
}

#[test]
fn values_with_other_handles_are_not_spilled() {
    let tmp = TempDir::new("pinned");
    let store = tmp.store::<u32>();
    store.insert(0, block(0.0));
    store.insert(1, block(1.0));
    // A running task holds value 0.
    let pinned = store.get(&0).unwrap().unwrap();
    store.spill_to(0).unwrap();
    assert_eq!(store.is_spilled(&0), Some(false));
    assert_eq!(store.is_spilled(&1), Some(true));
    drop(pinned);
    store.spill_to(0).unwrap();
    assert_eq!(store.is_spilled(&0), Some(true));
    assert_eq!(store.managed(), 0);
}

#[test]
fn values_without_a_codec_are_counted_and_kept() {
    let tmp = TempDir::new("no-codec");
    let store = tmp.store::<u32>();
    struct Local(#[allow(dead_code)] [u8; 64]);
    store.insert(0, Value::new(Local([0; 64])));
    assert_eq!(store.managed(), 64);
    store.spill_to(0).unwrap();
    assert_eq!(store.is_spilled(&0), Some(false));
    assert_eq!(store.managed(), 64);
}

#[test]
fn read_back_equals_the_original_and_stays_in_memory() {
    let tmp = TempDir::new("read-back");
    for compression in [SpillCompression::Lz4, SpillCompression::None] {
        let store = SpillStore::<String>::new(SpillOptions {
            directory: Some(tmp.0.clone()),
            compression,
            ..SpillOptions::default()
        });
        let original: Vec<f64> = (0..10_000).map(|i| (i as f64).sin()).collect();
        let zeros = vec![0u64; 10_000];
        store.insert("sines".into(), Value::new(original.clone()));
        store.insert("zeros".into(), Value::new(zeros.clone()));
        store.spill_to(0).unwrap();
        assert_eq!(store.managed(), 0);
        let st = store.stats();
        assert_eq!(st.spilled, 2 * 24 + 160_000);
        let sines = store.get(&"sines".to_string()).unwrap().unwrap();
        assert_eq!(sines.downcast_ref::<Vec<f64>>(), Some(&original));
        let back = store.get(&"zeros".to_string()).unwrap().unwrap();
        assert_eq!(back.downcast_ref::<Vec<u64>>(), Some(&zeros));
        assert_eq!(store.is_spilled(&"sines".to_string()), Some(false));
        assert_eq!(store.stats().reads, 2);
        assert_eq!(store.stats().spilled_count, 0);
        assert_eq!(store.managed(), 2 * 24 + 160_000);
        // The files are kept while the values live: spilling again writes
        // nothing new.
        let disk = store.stats().spilled_disk;
        assert!(disk > 0);
        drop((sines, back));
        store.spill_to(0).unwrap();
        assert_eq!(store.stats().spilled_disk, disk);
        assert_eq!(store.stats().spilled_count, 2);
        assert_eq!(store.stats().spills, 4);
        assert_eq!(store.managed(), 0);
        let back = store.get(&"sines".to_string()).unwrap().unwrap();
        assert_eq!(back.downcast_ref::<Vec<f64>>(), Some(&original));
        store.remove(&"sines".to_string());
        store.remove(&"zeros".to_string());
        assert_eq!(
            store.stats(),
            StoreStats {
                spills: 4,
                // Both values, spilled twice.
                spilled_total: 2 * (2 * 24 + 160_000),
                reads: 3,
                ..StoreStats::default()
            }
        );
    }
    assert_eq!(tmp.files(), 0);
}

#[test]
fn a_damaged_spill_file_is_an_error_naming_the_key() {
    let tmp = TempDir::new("corrupt");
    let store = tmp.store::<String>();
    let key = "block-3f2a-7".to_string();
    store.insert(key.clone(), block(7.0));
    store.spill_to(0).unwrap();
    let dir = store.directory().unwrap().to_owned();
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let err = store.get(&key).unwrap_err();
    assert!(matches!(err, SpillError::Corrupt { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&key), "{message}");
    assert!(message.contains(&file.display().to_string()), "{message}");
    let message = err.into_error().to_string();
    assert!(
        message.contains(&key) && message.contains("damaged"),
        "{message}"
    );

    // A file removed behind the store's back names the key too.
    let store = tmp.store::<String>();
    store.insert(key.clone(), block(7.0));
    store.spill_to(0).unwrap();
    std::fs::remove_dir_all(store.directory().unwrap()).unwrap();
    let err = store.get(&key).unwrap_err();
    assert!(matches!(err, SpillError::Read { .. }), "{err}");
    assert!(err.to_string().contains(&key), "{err}");
}

#[test]
fn files_are_gone_after_remove_and_drop() {
    let tmp = TempDir::new("cleanup");
    let store = tmp.store::<u32>();
    for k in 0..4 {
        store.insert(k, block(k as f64));
    }
    store.spill_to(0).unwrap();
    assert_eq!(tmp.files(), 4);
    assert!(matches!(store.remove(&0), Some(Held::Disk)));
    assert_eq!(tmp.files(), 3);
    assert_eq!(store.stats().spilled_count, 3);
    // Replacing a spilled value deletes its file.
    assert!(matches!(store.insert(1, block(9.0)), Some(Held::Disk)));
    assert_eq!(tmp.files(), 2);
    assert_eq!(read(&store.get(&1).unwrap().unwrap()), 9.0);
    let dir = store.directory().unwrap().to_owned();
    assert!(dir.starts_with(&tmp.0));
    drop(store);
    assert!(!dir.exists());
    assert_eq!(tmp.files(), 0);
}

#[test]
fn directories_of_dead_stores_are_removed_and_live_ones_kept() {
    let tmp = TempDir::new("stale");
    // A dead store's directory: its lock file, locked by nobody.
    let stale = tmp.0.join("rask-spill-0-3");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("1.spill"), b"x").unwrap();
    std::fs::write(stale.join(".lock"), b"").unwrap();
    let other = tmp.0.join("not-rask");
    std::fs::create_dir_all(&other).unwrap();
    let first = tmp.store::<u32>();
    first.insert(0, block(0.0));
    first.spill_to(0).unwrap();
    assert!(!stale.exists());
    assert!(other.exists());
    // A live store's directory stays, whatever its name says.
    let second = tmp.store::<u32>();
    second.insert(0, block(0.0));
    second.spill_to(0).unwrap();
    assert!(first.directory().unwrap().exists());
    assert_eq!(read(&first.get(&0).unwrap().unwrap()), 0.0);
}

#[test]
fn max_spill_keeps_values_in_memory() {
    let tmp = TempDir::new("max-spill");
    let store = SpillStore::<u32>::new(SpillOptions {
        directory: Some(tmp.0.clone()),
        max_spill: 12_000,
        compression: SpillCompression::None,
    });
    for k in 0..3 {
        store.insert(k, block(k as f64));
    }
    store.spill_to(0).unwrap();
    assert_eq!(store.stats().spilled_count, 1);
}

#[test]
fn an_unwritable_directory_is_an_error_naming_it() {
    let tmp = TempDir::new("unwritable");
    std::fs::create_dir_all(&tmp.0).unwrap();
    // A file where the directory should be.
    let file = tmp.0.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let store = SpillStore::<u32>::new(SpillOptions {
        directory: Some(file.clone()),
        ..SpillOptions::default()
    });
    store.insert(0, block(0.0));
    let err = store.spill_to(0).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&file.display().to_string()) && message.contains("spill-directory"),
        "{message}"
    );
    // The value is still there.
    assert_eq!(read(&store.get(&0).unwrap().unwrap()), 0.0);
}

#[test]
fn concurrent_use_keeps_every_value() {
    let tmp = TempDir::new("concurrent");
    let store = tmp.store::<u32>();
    let one = block(0.0).nbytes() as u64;
    store.set_goal(8 * one);
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let store = &store;
            s.spawn(move || {
                for i in 0..50u32 {
                    let k = t * 1000 + i;
                    store.insert(k, block(k as f64));
                    store.spill_if_needed().unwrap();
                    if i > 0 {
                        let v = store.get(&(k - 1)).unwrap().unwrap();
                        assert_eq!(read(&v), (k - 1) as f64);
                    }
                }
            });
        }
    });
    assert_eq!(store.len(), 200);
    for t in 0..4u32 {
        for i in 0..50u32 {
            let k = t * 1000 + i;
            assert_eq!(read(&store.get(&k).unwrap().unwrap()), k as f64);
        }
    }
    let st = store.stats();
    assert_eq!(st.managed, 200 * one);
    assert_eq!(st.spilled_count, 0);
    assert!(st.spills > 0);
}

#[test]
fn a_full_disk_says_so_naming_the_key_and_the_file() {
    let err: SpillError<String> = SpillError::Write {
        key: "rechunk-merge-9c1e-(3, 0)".into(),
        path: PathBuf::from("/scratch/rask-spill-1-0/17.spill"),
        source: std::io::Error::from_raw_os_error(28),
    };
    let message = err.to_string();
    assert!(message.contains("rechunk-merge-9c1e-(3, 0)"), "{message}");
    assert!(
        message.contains("/scratch/rask-spill-1-0/17.spill"),
        "{message}"
    );
    assert!(message.contains("disk is full"), "{message}");
    assert!(message.contains("memory.spill-directory"), "{message}");
    let error = err.into_error();
    assert!(matches!(error, rask_core::Error::Spill { .. }));
    assert!(error.to_string().contains("disk is full"), "{error}");
}

#[test]
fn a_value_read_back_stays_while_it_is_in_use_then_goes_again_for_free() {
    let tmp = TempDir::new("grace");
    let mut store = tmp.store::<u32>();
    // Long enough that this test's steps fit in it on a busy machine.
    store.grace = Duration::from_secs(600);
    store.insert(0, block(0.0));
    store.insert(1, block(1.0));
    store.set_goal(0);
    store.spill_if_needed().unwrap();
    assert_eq!(store.stats().spills, 2);
    // Read back for one user, then asked for again by the next ones: the
    // automatic spill leaves it in memory meanwhile.
    assert_eq!(read(&store.get(&0).unwrap().unwrap()), 0.0);
    store.spill_if_needed().unwrap();
    assert_eq!(store.is_spilled(&0), Some(false));
    assert_eq!(read(&store.get(&0).unwrap().unwrap()), 0.0);
    assert_eq!(store.stats().reads, 1);
    // An explicit spill takes it (its file was kept: no write).
    store.spill_to(0).unwrap();
    assert_eq!(store.is_spilled(&0), Some(true));
    assert_eq!(store.stats().spills, 3);
    assert_eq!(tmp.files(), 2);
    // Once unused for the grace period, the automatic spill takes it too.
    store.get(&0).unwrap();
    store.grace = Duration::ZERO;
    store.spill_if_needed().unwrap();
    assert_eq!(store.is_spilled(&0), Some(true));
    assert_eq!(store.stats().reads, 2);
    assert_eq!(tmp.files(), 2);
}

/// 8 kB whose encoder writes part of its bytes, then panics; counts its
/// calls.
#[derive(Clone)]
struct PanicsWhenEncoded(Vec<u8>);

static ENCODE_CALLS: AtomicUsize = AtomicUsize::new(0);

impl rask_core::SizeOf for PanicsWhenEncoded {
    fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

impl rask_core::codec::ValueCodec for PanicsWhenEncoded {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&self.0[..100]);
        ENCODE_CALLS.fetch_add(1, Ordering::Relaxed);
        panic!("the encoder of PanicsWhenEncoded panics")
    }
    fn encode_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(&self.0[..100])?;
        ENCODE_CALLS.fetch_add(1, Ordering::Relaxed);
        panic!("the encoder of PanicsWhenEncoded panics")
    }
    fn decode_from(bytes: &[u8]) -> Result<Self, String> {
        Ok(PanicsWhenEncoded(bytes.to_vec()))
    }
}

/// 8 kB that encodes, but whose decoder panics.
#[derive(Clone)]
struct PanicsWhenDecoded(Vec<u8>);

impl rask_core::SizeOf for PanicsWhenDecoded {
    fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

impl rask_core::codec::ValueCodec for PanicsWhenDecoded {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
    fn decode_from(_: &[u8]) -> Result<Self, String> {
        panic!("the decoder of PanicsWhenDecoded panics")
    }
}

rask_core::register_codec!(PanicsWhenEncoded, PanicsWhenDecoded);

#[test]
fn a_panicking_encoder_keeps_the_value_in_memory_and_leaves_no_file() {
    let tmp = TempDir::new("encoder-panics");
    let store = tmp.store::<String>();
    let key = "explode-9c1e".to_string();
    store.insert(key.clone(), Value::sized(PanicsWhenEncoded(vec![7; 8000])));
    store.insert("ok".into(), block(1.0));
    // The panic is caught: the other value is spilled, this one stays.
    store.spill_to(0).unwrap();
    assert_eq!(store.is_spilled(&key), Some(false));
    assert_eq!(store.is_spilled(&"ok".to_string()), Some(true));
    assert_eq!(tmp.files(), 1, "no partial file is left");
    let calls = ENCODE_CALLS.load(Ordering::Relaxed);
    let failures = store.take_encode_failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, key);
    let why = failures[0].1.to_string();
    assert!(why.contains("encoder of PanicsWhenEncoded panics"), "{why}");
    assert!(store.take_encode_failures().is_empty());
    // Not tried again.
    store.spill_to(0).unwrap();
    assert_eq!(ENCODE_CALLS.load(Ordering::Relaxed), calls);
    assert!(store.take_encode_failures().is_empty());
    // Nothing counted as being written.
    assert_eq!(store.in_flight.load(Ordering::Relaxed), 0);
    let v = store.get(&key).unwrap().unwrap();
    assert_eq!(v.downcast_ref::<PanicsWhenEncoded>().unwrap().0[0], 7);
}

#[test]
fn a_panicking_decoder_is_an_error_naming_the_key() {
    let tmp = TempDir::new("decoder-panics");
    let store = tmp.store::<String>();
    let key = "implode-77".to_string();
    store.insert(key.clone(), Value::sized(PanicsWhenDecoded(vec![3; 8000])));
    store.spill_to(0).unwrap();
    assert_eq!(store.is_spilled(&key), Some(true));
    let err = store.get(&key).unwrap_err();
    assert!(matches!(err, SpillError::Decode { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&key), "{message}");
    assert!(
        message.contains("decoder of PanicsWhenDecoded panics"),
        "{message}"
    );
}
