//! Zarr arrays: round trips through rask's writer and reader, stores
//! built here file by file as the Zarr v2 and v3 specifications lay them
//! out, zarr-python itself when it is installed, and bad input.

use std::path::Path;

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, IxDyn};
use rask_array::zarr::{self, ZarrWriteOptions};
use rask_array::{Array, CastFrom, Chunks, Element};
use rask_local::Scheduler;

use crate::support::{
    TempDir, chunks_for, crc32, data, err_text, no_oracle, python_with, run_oracle, shape,
    usize_list,
};

/// A deterministic array of `T` of `shape`.
fn values<T: Element + CastFrom<f64>>(shape: &[usize], seed: u64) -> ArrayD<T> {
    data(shape, seed).mapv(|v| T::cast_from(v * 13.0))
}

/// Regular chunks for `shape`: a block size per axis.
fn regular_chunks_for(shape: Vec<usize>) -> impl Strategy<Value = Chunks> {
    let sizes: Vec<BoxedStrategy<usize>> = shape.iter().map(|&n| (1..=n.max(1)).boxed()).collect();
    sizes.prop_map(move |sizes| Chunks::regular(&shape, &sizes).unwrap())
}

/// A shape of up to 3 axes (zero-length ones included), regular chunks
/// to write it with and any chunks to read it back with.
fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Chunks, Chunks)> {
    shape(3, 7).prop_flat_map(|s| {
        (
            Just(s.clone()),
            regular_chunks_for(s.clone()),
            chunks_for(s),
        )
    })
}

/// Writes `a` chunked as `write`, reads it back chunked as `read` and in
/// the store's own chunks.
fn round_trip<T: Element + CastFrom<f64>>(
    a: ArrayD<T>,
    write: Chunks,
    read: Chunks,
    gzip: bool,
) -> Result<(), TestCaseError> {
    let dir = TempDir::new("zarr", "round-trip");
    let path = dir.path("a.zarr");
    let x = Array::from_ndarray(a.clone(), write.clone()).unwrap();
    let mut opts = ZarrWriteOptions::new();
    if gzip {
        opts = opts.gzip(1);
    }
    x.to_zarr_with(&path, &opts, &Scheduler::current().unwrap())
        .unwrap();
    let meta = zarr::read_metadata(&path).unwrap();
    prop_assert_eq!(meta.zarr_format, 3);
    prop_assert_eq!(&meta.shape, a.shape());
    prop_assert_eq!(meta.dtype.as_str(), T::DTYPE);
    prop_assert_eq!(&meta.chunks, &write);
    let back = Array::<T>::from_zarr_with_chunks(&path, read.clone()).unwrap();
    prop_assert_eq!(back.chunks(), &read);
    prop_assert_eq!(back.compute().unwrap(), a.clone());
    let native = Array::<T>::from_zarr(&path).unwrap();
    prop_assert_eq!(native.chunks(), &write);
    prop_assert_eq!(native.compute().unwrap(), a);
    prop_assert_eq!(dir.entries(), vec!["a.zarr".to_string()]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn round_trip_f64((s, w, r) in shape_and_chunks(), seed in any::<u64>(), gzip in any::<bool>()) {
        round_trip(values::<f64>(&s, seed), w, r, gzip)?;
    }

    #[test]
    fn round_trip_f32_i64((s, w, r) in shape_and_chunks(), seed in any::<u64>()) {
        round_trip(values::<f32>(&s, seed), w.clone(), r.clone(), false)?;
        round_trip(values::<i64>(&s, seed), w, r, true)?;
    }

    #[test]
    fn round_trip_i8_i16_i32((s, w, r) in shape_and_chunks(), seed in any::<u64>()) {
        round_trip(values::<i8>(&s, seed), w.clone(), r.clone(), false)?;
        round_trip(values::<i16>(&s, seed), w.clone(), r.clone(), false)?;
        round_trip(values::<i32>(&s, seed), w, r, false)?;
    }

    #[test]
    fn round_trip_unsigned_and_bool((s, w, r) in shape_and_chunks(), seed in any::<u64>()) {
        round_trip(values::<u8>(&s, seed), w.clone(), r.clone(), false)?;
        round_trip(values::<u16>(&s, seed), w.clone(), r.clone(), false)?;
        round_trip(values::<u32>(&s, seed), w.clone(), r.clone(), false)?;
        round_trip(values::<u64>(&s, seed), w.clone(), r.clone(), false)?;
        round_trip(values::<bool>(&s, seed), w, r, false)?;
    }
}

/// Writes `text` to `dir/name`, making the directories on the way.
fn put(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn reads_a_v3_store_laid_out_by_hand() {
    // A 3 x 5 int16 array in 2 x 2 chunks, uncompressed little-endian; the
    // chunk at (1, 2) is missing and so holds the fill value 7; edge
    // chunks are stored whole (padded), as the specification says.
    let dir = TempDir::new("zarr", "v3");
    let store = dir.path("a");
    put(
        &store,
        "zarr.json",
        br#"{"zarr_format": 3, "node_type": "array", "shape": [3, 5],
             "data_type": "int16",
             "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
             "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
             "fill_value": 7, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
             "attributes": {}}"#,
    );
    let want = ArrayD::from_shape_fn(IxDyn(&[3, 5]), |ix| {
        let (i, j) = (ix[0], ix[1]);
        if i >= 2 && j >= 4 {
            7i16
        } else {
            (i * 10 + j) as i16 - 20
        }
    });
    for ci in 0..2 {
        for cj in 0..3 {
            if (ci, cj) == (1, 2) {
                continue;
            }
            let mut bytes = Vec::new();
            for i in 2 * ci..2 * ci + 2 {
                for j in 2 * cj..2 * cj + 2 {
                    let v = want.get(IxDyn(&[i, j])).copied().unwrap_or(-1);
                    bytes.extend(v.to_le_bytes());
                }
            }
            put(&store, &format!("c/{ci}/{cj}"), &bytes);
        }
    }
    let x = Array::<i16>::from_zarr(&store).unwrap();
    assert_eq!(x.chunks().as_slices(), &[vec![2, 1], vec![2, 2, 1]]);
    assert_eq!(x.compute().unwrap(), want);
    let y = Array::<i16>::from_zarr_with_chunks(&store, &[3, 3]).unwrap();
    assert_eq!(y.compute().unwrap(), want);
}

#[test]
fn reads_a_big_endian_v2_store_laid_out_by_hand() {
    // A Zarr v2 float64 array of shape (5,) in chunks of 2, stored
    // big-endian and uncompressed, with "." keys.
    let dir = TempDir::new("zarr", "v2");
    let store = dir.path("b");
    put(
        &store,
        ".zarray",
        br#"{"zarr_format": 2, "shape": [5], "chunks": [2], "dtype": ">f8",
             "compressor": null, "fill_value": 0.0, "order": "C", "filters": null}"#,
    );
    let want = [1.5f64, -2.0, 0.25, 1e300, -0.0];
    for c in 0..3 {
        let mut bytes = Vec::new();
        for i in 2 * c..2 * c + 2 {
            bytes.extend(want.get(i).copied().unwrap_or(0.0).to_be_bytes());
        }
        put(&store, &c.to_string(), &bytes);
    }
    let meta = zarr::read_metadata(&store).unwrap();
    assert_eq!(meta.zarr_format, 2);
    assert_eq!(meta.dtype, "float64");
    let x = Array::<f64>::from_zarr_with_chunks(&store, &[3]).unwrap();
    assert_eq!(x.compute().unwrap().as_slice().unwrap(), &want);
    let native = Array::<f64>::from_zarr(&store).unwrap();
    assert_eq!(native.chunks().as_slices(), &[vec![2, 2, 1]]);
}

#[test]
fn writes_large_arrays_in_many_blocks() {
    let dir = TempDir::new("zarr", "large");
    let path = dir.path("x.zarr");
    let x = Array::<f64>::arange(0.0, 300_000.0, 1.0, &[70_000])
        .unwrap()
        .reshape(&[300, 1000])
        .unwrap();
    let y = (&x * 2.0).rechunk(&[64, 300]).unwrap();
    y.to_zarr(&path).unwrap();
    let back = Array::<f64>::from_zarr_with_chunks(&path, &[300, 7]).unwrap();
    assert_eq!(back.compute().unwrap(), y.compute().unwrap());
    let total: f64 = back.sum().compute_scalar().unwrap();
    assert_eq!(total, 2.0 * 299_999.0 * 300_000.0 / 2.0);
}

#[test]
fn chunks_of_zeros_are_not_stored_and_read_back_as_zeros() {
    let dir = TempDir::new("zarr", "zeros");
    let path = dir.path("z.zarr");
    // Blocks 0 and 2 are all zeros; block 1 is not.
    let i = Array::<i32>::arange(0, 9, 1, &[3]).unwrap();
    let x = i.ge(3).and(&i.lt(6)).astype::<i32>();
    x.to_zarr(&path).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(path.join("c"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, vec!["1".to_string()]);
    let back = Array::<i32>::from_zarr_with_chunks(&path, &[9]).unwrap();
    assert_eq!(back.compute().unwrap(), x.compute().unwrap());
}

#[test]
fn an_array_read_from_a_store_can_be_written_back_over_it() {
    let dir = TempDir::new("zarr", "overwrite");
    let path = dir.path("x.zarr");
    let a = values::<i64>(&[9, 4], 3);
    Array::from_ndarray(a.clone(), &[4, 4])
        .unwrap()
        .to_zarr(&path)
        .unwrap();
    let x = Array::<i64>::from_zarr_with_chunks(&path, &[2, 3]).unwrap();
    let over = ZarrWriteOptions::new().overwrite(true);
    (&x * 3)
        .rechunk(&[5, 2])
        .unwrap()
        .to_zarr_with(&path, &over, &Scheduler::current().unwrap())
        .unwrap();
    let back = Array::<i64>::from_zarr(&path).unwrap();
    assert_eq!(back.chunks().as_slices(), &[vec![5, 4], vec![2, 2]]);
    assert_eq!(back.compute().unwrap(), a.mapv(|v| v * 3));
    assert_eq!(dir.entries(), vec!["x.zarr".to_string()]);
    // An empty directory may be overwritten too. (`x` is not used again:
    // it read the store that was replaced.)
    let empty = dir.path("empty");
    std::fs::create_dir(&empty).unwrap();
    back.to_zarr_with(&empty, &over, &Scheduler::current().unwrap())
        .unwrap();
    assert!(empty.join("zarr.json").exists());
}

#[test]
fn missing_path_is_an_error_naming_it() {
    let dir = TempDir::new("zarr", "bad");
    let path = dir.path("nowhere.zarr");
    let e = err_text(Array::<f64>::from_zarr_with_chunks(&path, &[2]));
    assert!(e.contains(&path.display().to_string()), "{e}");
    let e = err_text(Array::<f64>::from_zarr(&path));
    assert!(e.contains(&path.display().to_string()), "{e}");
    let e = err_text(zarr::read_metadata(&path));
    assert!(e.contains(&path.display().to_string()), "{e}");
    // Writing into a directory that does not exist.
    let target = dir.path("no/such/dir/x.zarr");
    let e = err_text(Array::<f64>::ones(&[2], &[1]).unwrap().to_zarr(&target));
    assert!(e.contains("no/such/dir"), "{e}");
}

#[test]
fn not_a_zarr_array_is_an_error_naming_the_path() {
    let dir = TempDir::new("zarr", "bad");
    // A file.
    let file = dir.path("file.zarr");
    std::fs::write(&file, b"hello").unwrap();
    let e = err_text(Array::<f64>::from_zarr(&file));
    assert!(e.contains(&file.display().to_string()), "{e}");
    assert!(e.contains("not a Zarr array") && e.contains("file"), "{e}");
    // A directory without metadata.
    let plain = dir.path("plain");
    std::fs::create_dir(&plain).unwrap();
    let e = err_text(Array::<f64>::from_zarr_with_chunks(&plain, &[2]));
    assert!(e.contains(&plain.display().to_string()), "{e}");
    assert!(e.contains("zarr.json") && e.contains(".zarray"), "{e}");
    // Groups, v3 and v2.
    let group = dir.path("group");
    put(
        &group,
        "zarr.json",
        br#"{"zarr_format":3,"node_type":"group","attributes":{}}"#,
    );
    let e = err_text(Array::<f64>::from_zarr(&group));
    assert!(e.contains(&group.display().to_string()), "{e}");
    assert!(e.contains("group"), "{e}");
    let group2 = dir.path("group2");
    put(&group2, ".zgroup", br#"{"zarr_format":2}"#);
    let e = err_text(Array::<f64>::from_zarr(&group2));
    assert!(e.contains(&group2.display().to_string()), "{e}");
    assert!(e.contains("group"), "{e}");
    // Broken metadata.
    let broken = dir.path("broken");
    put(&broken, "zarr.json", b"{\"zarr_format\": 3, \"node_");
    let e = err_text(Array::<f64>::from_zarr(&broken));
    assert!(e.contains(&broken.display().to_string()), "{e}");
}

#[test]
fn an_unknown_codec_is_an_error_naming_it_and_the_path() {
    let dir = TempDir::new("zarr", "bad");
    let store = dir.path("blosc");
    put(
        &store,
        "zarr.json",
        br#"{"zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "float64",
             "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
             "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
             "fill_value": 0.0,
             "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                        {"name": "blosc", "configuration": {"cname": "lz4", "clevel": 5,
                         "shuffle": "shuffle", "typesize": 8, "blocksize": 0}}]}"#,
    );
    let e = err_text(Array::<f64>::from_zarr(&store));
    assert!(e.contains(&store.display().to_string()), "{e}");
    assert!(e.contains("blosc") && e.contains("gzip"), "{e}");
}

#[test]
fn wrong_dtype_is_an_error_saying_what_to_do() {
    let dir = TempDir::new("zarr", "bad");
    let path = dir.path("ints.zarr");
    Array::<i32>::zeros(&[4], &[2])
        .unwrap()
        .to_zarr(&path)
        .unwrap();
    let e = err_text(Array::<f64>::from_zarr_with_chunks(&path, &[2]));
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("int32") && e.contains("float64"), "{e}");
    assert!(
        e.contains("Array::<i32>::from_zarr") && e.contains("astype::<f64>()"),
        "{e}"
    );
    let e = err_text(Array::<bool>::from_zarr(&path));
    assert!(e.contains("int32") && e.contains("bool"), "{e}");
    // A data type no rask array holds.
    let half = dir.path("half");
    put(
        &half,
        "zarr.json",
        br#"{"zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "float16",
             "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
             "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
             "fill_value": 0.0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}"#,
    );
    let e = err_text(Array::<f32>::from_zarr(&half));
    assert!(e.contains(&half.display().to_string()), "{e}");
    assert!(e.contains("float16") && e.contains("cannot hold"), "{e}");
}

#[test]
fn irregular_chunks_on_write_are_an_error_suggesting_rechunk() {
    let dir = TempDir::new("zarr", "bad");
    let path = dir.path("irregular.zarr");
    let x = Array::<f64>::ones(
        &[6, 4],
        Chunks::new(vec![vec![2, 4], vec![4]], &[6, 4]).unwrap(),
    )
    .unwrap();
    let e = err_text(x.to_zarr(&path));
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(
        e.contains("axis 0") && e.contains("[2, 4]") && e.contains("rechunk"),
        "{e}"
    );
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
    // Rechunked as suggested, it writes.
    x.rechunk(&[4, 4]).unwrap().to_zarr(&path).unwrap();
}

#[test]
fn an_existing_path_is_kept_unless_overwrite_is_asked() {
    let dir = TempDir::new("zarr", "exists");
    let path = dir.path("x.zarr");
    let ones = Array::<u8>::ones(&[3], &[2]).unwrap();
    ones.to_zarr(&path).unwrap();
    let e = err_text(Array::<u8>::zeros(&[3], &[2]).unwrap().to_zarr(&path));
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("exists") && e.contains("overwrite(true)"), "{e}");
    let kept = Array::<u8>::from_zarr(&path).unwrap();
    assert_eq!(kept.compute().unwrap(), ArrayD::from_elem(IxDyn(&[3]), 1u8));
    // Something that is not a Zarr store is never deleted, even with
    // overwrite.
    let over = ZarrWriteOptions::new().overwrite(true);
    let precious = dir.path("precious");
    put(&precious, "notes.txt", b"keep me");
    let e = err_text(ones.to_zarr_with(&precious, &over, &Scheduler::current().unwrap()));
    assert!(e.contains(&precious.display().to_string()), "{e}");
    assert!(e.contains("not a Zarr store"), "{e}");
    assert_eq!(
        std::fs::read(precious.join("notes.txt")).unwrap(),
        b"keep me"
    );
    let file = dir.path("file");
    std::fs::write(&file, b"keep me too").unwrap();
    let e = err_text(ones.to_zarr_with(&file, &over, &Scheduler::current().unwrap()));
    assert!(e.contains(&file.display().to_string()), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me too");
    // A bad gzip level names itself and the path.
    let e = err_text(ones.to_zarr_with(
        dir.path("gz"),
        &ZarrWriteOptions::new().gzip(42),
        &Scheduler::current().unwrap(),
    ));
    assert!(e.contains("42") && e.contains("gz"), "{e}");
    assert_eq!(
        dir.entries(),
        vec![
            "file".to_string(),
            "precious".to_string(),
            "x.zarr".to_string()
        ]
    );
}

#[test]
fn a_failed_write_leaves_the_old_store_in_place() {
    let dir = TempDir::new("zarr", "atomic");
    let target = dir.path("out.zarr");
    Array::<f64>::full(&[4], &[4], 5.0)
        .unwrap()
        .to_zarr(&target)
        .unwrap();
    // An array whose compute fails: read from a store whose chunk is
    // corrupted after opening.
    let src = dir.path("src.zarr");
    Array::<f64>::ones(&[4], &[2])
        .unwrap()
        .to_zarr_with(
            &src,
            &ZarrWriteOptions::new().gzip(1),
            &Scheduler::current().unwrap(),
        )
        .unwrap();
    let x = Array::<f64>::from_zarr(&src).unwrap();
    std::fs::write(src.join("c/1"), b"not gzip").unwrap();
    let over = ZarrWriteOptions::new().overwrite(true);
    let e = err_text((&x + 1.0).to_zarr_with(&target, &over, &Scheduler::current().unwrap()));
    assert!(e.contains("src.zarr") && e.contains("block [1]"), "{e}");
    let old = Array::<f64>::from_zarr(&target).unwrap();
    assert_eq!(old.compute().unwrap(), ArrayD::from_elem(IxDyn(&[4]), 5.0));
    assert_eq!(
        dir.entries(),
        vec!["out.zarr".to_string(), "src.zarr".to_string()]
    );
}

/// Little-endian bytes of the element types checked against Python.
trait LeBytes: Element {
    fn le_bytes(self) -> Vec<u8>;
}

macro_rules! le_bytes {
    ($($t:ty),*) => {$(
        impl LeBytes for $t {
            fn le_bytes(self) -> Vec<u8> {
                self.to_le_bytes().to_vec()
            }
        }
    )*};
}

le_bytes!(f64, f32, i16, i32, u8);

impl LeBytes for bool {
    fn le_bytes(self) -> Vec<u8> {
        vec![self as u8]
    }
}

/// The CRC-32 of an array's elements, little-endian in C order.
fn checksum<T: LeBytes>(a: &ArrayD<T>) -> u32 {
    let bytes: Vec<u8> = a.iter().flat_map(|x| x.le_bytes()).collect();
    crc32(&bytes)
}

/// Per store rask wrote, zarr-python's dtype, shape, chunks and CRC-32 of
/// the little-endian C-order bytes; then stores of its own (zarr-python's
/// defaults, so zstd for v3; a sharded one; a v2 one), the same line each.
const ORACLE: &str = r#"
import sys, zlib
import numpy as np
import zarr
d = sys.argv[1]
def show(name):
    z = zarr.open_array(f"{d}/{name}", mode="r")
    a = z[...]
    le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    print(name, a.dtype.name, ",".join(str(n) for n in a.shape),
          ",".join(str(n) for n in z.chunks), zlib.crc32(le.tobytes()))
for name in sys.argv[2:]:
    show(name)
x = (np.arange(60, dtype=np.float64).reshape(3, 4, 5) * 0.37 - 4)
zarr.create_array(f"{d}/py_f8_default", data=x, chunks=(2, 3, 5))
zarr.create_array(f"{d}/py_i2_gzip", data=(np.arange(-50, 50, dtype=np.int16) * 331).reshape(10, 10),
                  chunks=(4, 3), compressors=zarr.codecs.GzipCodec(level=3))
zarr.create_array(f"{d}/py_i4_sharded", data=np.arange(96, dtype=np.int32).reshape(8, 12),
                  chunks=(2, 3), shards=(4, 6))
zarr.create_array(f"{d}/py_bool_v2", data=np.arange(17) % 3 == 0, chunks=(5,), zarr_format=2)
zarr.create_array(f"{d}/py_f4_v2_be", data=np.arange(12, dtype=">f4").reshape(3, 4) / 8,
                  chunks=(2, 2), zarr_format=2, compressors=None)
for name in ["py_f8_default", "py_i2_gzip", "py_i4_sharded", "py_bool_v2", "py_f4_v2_be"]:
    show(name)
"#;

/// What zarr-python should report for a store rask wrote: its name,
/// dtype, shape, chunks and checksum.
type Expected = (String, &'static str, Vec<usize>, Vec<usize>, u32);

#[test]
#[cfg_attr(
    not(rask_oracle_zarr),
    ignore = "no Python with zarr-python was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn zarr_python_reads_rask_stores_and_rask_reads_zarr_python_stores() {
    let Some(python) = python_with("zarr, numpy") else {
        return no_oracle("zarr-python");
    };
    let dir = TempDir::new("zarr", "python");
    let sched = Scheduler::current().unwrap();
    let mut expect: Vec<Expected> = Vec::new();
    let f = Array::<f64>::from_ndarray(data(&[7, 5, 3], 1), &[3, 2, 2]).unwrap();
    let f = &f * 1.5 - 0.25;
    f.to_zarr(dir.path("f64")).unwrap();
    expect.push((
        "f64".into(),
        "float64",
        vec![7, 5, 3],
        vec![3, 2, 2],
        checksum(&f.compute().unwrap()),
    ));
    let i = Array::<i32>::arange(-1000, 1000, 7, &[50]).unwrap();
    let i = (&i * &i)
        .reshape(&[2, 143])
        .unwrap()
        .rechunk(&[1, 50])
        .unwrap();
    i.to_zarr_with(
        dir.path("i32_gzip"),
        &ZarrWriteOptions::new().gzip(9),
        &sched,
    )
    .unwrap();
    expect.push((
        "i32_gzip".into(),
        "int32",
        vec![2, 143],
        vec![1, 50],
        checksum(&i.compute().unwrap()),
    ));
    let b = Array::<i64>::arange(0, 31, 1, &[4])
        .unwrap()
        .astype::<bool>();
    b.to_zarr(dir.path("bool")).unwrap();
    expect.push((
        "bool".into(),
        "bool",
        vec![31],
        vec![4],
        checksum(&b.compute().unwrap()),
    ));
    let u = Array::<u8>::full(&[], &[], 200).unwrap();
    u.to_zarr(dir.path("u8_0d")).unwrap();
    expect.push((
        "u8_0d".into(),
        "uint8",
        vec![],
        vec![],
        checksum(&u.compute().unwrap()),
    ));
    let e = Array::<f32>::zeros(&[0, 3], &[1, 2]).unwrap();
    e.to_zarr(dir.path("f32_empty")).unwrap();
    expect.push((
        "f32_empty".into(),
        "float32",
        vec![0, 3],
        vec![1, 2],
        checksum(&e.compute().unwrap()),
    ));

    let names: Vec<String> = expect.iter().map(|e| e.0.clone()).collect();
    let lines = run_oracle(&python, ORACLE, &dir.0, &names);
    assert_eq!(lines.len(), names.len() + 5, "{lines:?}");
    // zarr-python reads what rask wrote.
    for ((name, dtype, shape, chunks, crc), line) in expect.iter().zip(&lines) {
        assert_eq!(&line[0], name);
        assert_eq!(line[1], *dtype, "{name}");
        assert_eq!(usize_list(&line[2]), *shape, "{name}");
        assert_eq!(usize_list(&line[3]), *chunks, "{name}");
        assert_eq!(line[4].parse::<u32>().unwrap(), *crc, "{name}");
    }
    // rask reads what zarr-python wrote.
    let py = &lines[names.len()..];
    let store = |name: &str| dir.path(name);
    let check = |line: &Vec<String>, shape: &[usize], crc: u32| {
        assert_eq!(usize_list(&line[2]), shape, "{}", line[0]);
        assert_eq!(line[4].parse::<u32>().unwrap(), crc, "{}", line[0]);
    };
    let x = Array::<f64>::from_zarr(store("py_f8_default")).unwrap();
    assert_eq!(x.chunks().as_slices(), &[vec![2, 1], vec![3, 1], vec![5]]);
    check(&py[0], x.shape(), checksum(&x.compute().unwrap()));
    let x = Array::<i16>::from_zarr_with_chunks(store("py_i2_gzip"), &[5, 5]).unwrap();
    check(&py[1], x.shape(), checksum(&x.compute().unwrap()));
    // A sharded store: its chunks for rask are the shards.
    let x = Array::<i32>::from_zarr(store("py_i4_sharded")).unwrap();
    assert_eq!(x.chunks().as_slices(), &[vec![4, 4], vec![6, 6]]);
    check(&py[2], x.shape(), checksum(&x.compute().unwrap()));
    let x = Array::<i32>::from_zarr_with_chunks(store("py_i4_sharded"), &[3, 5]).unwrap();
    check(&py[2], x.shape(), checksum(&x.compute().unwrap()));
    let meta = zarr::read_metadata(store("py_bool_v2")).unwrap();
    assert_eq!((meta.zarr_format, meta.dtype.as_str()), (2, "bool"));
    let x = Array::<bool>::from_zarr(store("py_bool_v2")).unwrap();
    check(&py[3], x.shape(), checksum(&x.compute().unwrap()));
    let x = Array::<f32>::from_zarr_with_chunks(store("py_f4_v2_be"), &[3, 1]).unwrap();
    check(&py[4], x.shape(), checksum(&x.compute().unwrap()));
}

#[test]
fn zarr_reads_are_portable_with_names_that_follow_the_store() {
    let dir = TempDir::new("zarr", "portable");
    let path = dir.path("x.zarr");
    let a = values::<f32>(&[9, 6], 4);
    Array::from_ndarray(a.clone(), &[4, 3])
        .unwrap()
        .to_zarr_with(
            &path,
            &ZarrWriteOptions::new().gzip(1),
            &Scheduler::current().unwrap(),
        )
        .unwrap();
    let native = Array::<f32>::from_zarr(&path).unwrap();
    assert_eq!(crate::support::assert_portable(&native), a);
    let x = Array::<f32>::from_zarr_with_chunks(&path, &[5, 5]).unwrap();
    assert_eq!(crate::support::assert_portable(&x), a);
    // Opening the same store again: the same keys; other chunks: others.
    assert_eq!(
        x.name(),
        Array::<f32>::from_zarr_with_chunks(&path, &[5, 5])
            .unwrap()
            .name()
    );
    assert_eq!(
        native.name(),
        Array::<f32>::from_zarr(&path).unwrap().name()
    );
    assert_ne!(x.name(), native.name());
    // Rewritten: new keys.
    let b = values::<f32>(&[9, 6], 5);
    Array::from_ndarray(b.clone(), &[4, 3])
        .unwrap()
        .to_zarr_with(
            &path,
            &ZarrWriteOptions::new().overwrite(true).gzip(1),
            &Scheduler::current().unwrap(),
        )
        .unwrap();
    let y = Array::<f32>::from_zarr_with_chunks(&path, &[5, 5]).unwrap();
    assert_ne!(x.name(), y.name());
    assert_eq!(crate::support::assert_portable(&y), b);
}

#[test]
fn a_store_rewritten_or_removed_fails_the_blocks_read_from_it() {
    let dir = TempDir::new("zarr", "changes");
    let path = dir.path("x.zarr");
    let a = values::<f64>(&[8, 4], 2);
    Array::from_ndarray(a.clone(), &[4, 4])
        .unwrap()
        .to_zarr(&path)
        .unwrap();
    let x = Array::<f64>::from_zarr(&path).unwrap();
    // Smaller now: the second block lies outside the array.
    let over = ZarrWriteOptions::new().overwrite(true);
    Array::from_ndarray(values::<f64>(&[4, 4], 3), &[4, 4])
        .unwrap()
        .to_zarr_with(&path, &over, &Scheduler::current().unwrap())
        .unwrap();
    let e = err_text(x.compute());
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("block [1, 0]"), "{e}");
    // Another data type.
    Array::from_ndarray(values::<i64>(&[8, 4], 3), &[4, 4])
        .unwrap()
        .to_zarr_with(&path, &over, &Scheduler::current().unwrap())
        .unwrap();
    let e = err_text(x.compute());
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("block ["), "{e}");
    assert!(e.contains("int64"), "{e}");
    // Gone.
    std::fs::remove_dir_all(&path).unwrap();
    let e = err_text(x.compute());
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("block ["), "{e}");
}

/// Dask's `from_zarr(path)` uses the store's chunks; so does rask's.
#[test]
fn from_zarr_uses_the_stores_own_chunks_by_default() {
    let dir = TempDir::new("zarr", "default-chunks");
    let path = dir.path("x.zarr");
    Array::<u16>::ones(&[10, 7], &[4, 3])
        .unwrap()
        .to_zarr(&path)
        .unwrap();
    let x = Array::<u16>::from_zarr(&path).unwrap();
    assert_eq!(x.chunks().as_slices(), &[vec![4, 4, 2], vec![3, 3, 1]]);
    let y = Array::<u16>::from_zarr_with_chunks(&path, &[5, 7]).unwrap();
    assert_eq!(y.chunks().as_slices(), &[vec![5, 5], vec![7]]);
}
