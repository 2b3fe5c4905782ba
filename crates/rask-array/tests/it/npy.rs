//! NumPy `.npy` files: rask's writer against a reference writer built
//! here, rask's reader against files built here byte by byte (both byte
//! orders, C and Fortran order, header versions 1.0–3.0), NumPy itself
//! when it is installed, and bad input.

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, IxDyn, ShapeBuilder};
use rask_array::{Array, CastFrom, Chunks, Element, npy};
use rask_local::Scheduler;

use crate::support::{
    TempDir, chunks_for, crc32, data, err_text, no_oracle, python_with, run_oracle, shape,
    usize_list,
};

/// Element types with their bytes spelled out independently of the
/// library: code, and bytes in either order.
trait Raw: Element + CastFrom<f64> {
    const CODE: &'static str;
    fn bytes(self, big_endian: bool) -> Vec<u8>;
}

macro_rules! raw {
    ($($t:ty => $code:literal),*) => {$(
        impl Raw for $t {
            const CODE: &'static str = $code;
            fn bytes(self, big_endian: bool) -> Vec<u8> {
                if big_endian { self.to_be_bytes().to_vec() } else { self.to_le_bytes().to_vec() }
            }
        }
    )*};
}

raw!(f64 => "f8", f32 => "f4", i8 => "i1", i16 => "i2", i32 => "i4", i64 => "i8",
     u8 => "u1", u16 => "u2", u32 => "u4", u64 => "u8");

impl Raw for bool {
    const CODE: &'static str = "b1";
    fn bytes(self, _: bool) -> Vec<u8> {
        vec![self as u8]
    }
}

/// How a reference file is laid out.
#[derive(Clone, Copy, Debug)]
struct Form {
    big_endian: bool,
    fortran: bool,
    version: u8,
    align: usize,
}

const NUMPY_DEFAULT: Form = Form {
    big_endian: false,
    fortran: false,
    version: 1,
    align: 64,
};

/// A `.npy` file written the way the format's description says, without
/// the library's writer.
fn reference_npy<T: Raw>(a: &ArrayD<T>, form: Form) -> Vec<u8> {
    let order = if size_of::<T>() == 1 {
        '|'
    } else if form.big_endian {
        '>'
    } else {
        '<'
    };
    let shape: String = match a.shape() {
        [n] => format!("({n},)"),
        s => format!(
            "({})",
            s.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let fortran = if form.fortran { "True" } else { "False" };
    let mut dict = format!(
        "{{'descr': '{order}{}', 'fortran_order': {fortran}, 'shape': {shape}, }}",
        T::CODE
    );
    let prefix = if form.version == 1 { 10 } else { 12 };
    while (prefix + dict.len() + 1) % form.align != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([form.version, 0]);
    if form.version == 1 {
        out.extend((dict.len() as u16).to_le_bytes());
    } else {
        out.extend((dict.len() as u32).to_le_bytes());
    }
    out.extend(dict.as_bytes());
    // Elements in the file's order: Fortran order is C order of the
    // transpose.
    let ordered: Vec<T> = if form.fortran {
        a.t().iter().copied().collect()
    } else {
        a.iter().copied().collect()
    };
    for x in ordered {
        out.extend(x.bytes(form.big_endian));
    }
    out
}

/// A deterministic array of `T` of `shape`.
fn values<T: Raw>(shape: &[usize], seed: u64) -> ArrayD<T> {
    data(shape, seed).mapv(|v| T::cast_from(v * 13.0))
}

/// A shape of up to 3 axes (zero-length ones included) and two chunkings.
fn shape_and_two_chunks() -> impl Strategy<Value = (Vec<usize>, Chunks, Chunks)> {
    shape(3, 6).prop_flat_map(|s| (Just(s.clone()), chunks_for(s.clone()), chunks_for(s)))
}

/// Writes `a` with rask chunked as `write`, checks the bytes against the
/// reference writer, reads it back chunked as `read`.
fn round_trip<T: Raw>(a: ArrayD<T>, write: Chunks, read: Chunks) -> Result<(), TestCaseError> {
    let dir = TempDir::new("npy", "round-trip");
    let path = dir.path("a.npy");
    Array::from_ndarray(a.clone(), write)
        .unwrap()
        .to_npy(&path)
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    prop_assert!(
        bytes == reference_npy(&a, NUMPY_DEFAULT),
        "the file differs from the reference"
    );
    let back = Array::<T>::from_npy(&path, read.clone()).unwrap();
    prop_assert_eq!(back.chunks(), &read);
    prop_assert_eq!(back.compute().unwrap(), a);
    prop_assert_eq!(dir.entries(), vec!["a.npy".to_string()]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn round_trip_f64((s, w, r) in shape_and_two_chunks(), seed in any::<u64>()) {
        round_trip(values::<f64>(&s, seed), w, r)?;
    }

    #[test]
    fn round_trip_f32((s, w, r) in shape_and_two_chunks(), seed in any::<u64>()) {
        round_trip(values::<f32>(&s, seed), w, r)?;
    }

    #[test]
    fn round_trip_i32((s, w, r) in shape_and_two_chunks(), seed in any::<u64>()) {
        round_trip(values::<i32>(&s, seed), w, r)?;
    }

    #[test]
    fn round_trip_i8_u16_u64((s, w, r) in shape_and_two_chunks(), seed in any::<u64>()) {
        round_trip(values::<i8>(&s, seed), w.clone(), r.clone())?;
        round_trip(values::<u16>(&s, seed), w.clone(), r.clone())?;
        round_trip(values::<u64>(&s, seed), w, r)?;
    }

    #[test]
    fn round_trip_bool_u8((s, w, r) in shape_and_two_chunks(), seed in any::<u64>()) {
        round_trip(values::<bool>(&s, seed), w.clone(), r.clone())?;
        round_trip(values::<u8>(&s, seed), w, r)?;
    }

    /// Files in every layout the format allows, built here, read with any
    /// chunks.
    #[test]
    fn reads_every_layout(
        (s, c, _) in shape_and_two_chunks(),
        seed in any::<u64>(),
        big_endian in any::<bool>(),
        fortran in any::<bool>(),
        version in 1u8..=3,
        align in prop::sample::select(vec![16usize, 64]),
    ) {
        let form = Form { big_endian, fortran, version, align };
        let dir = TempDir::new("npy", "layouts");
        let path = dir.path("f.npy");
        let a = values::<f64>(&s, seed);
        std::fs::write(&path, reference_npy(&a, form)).unwrap();
        prop_assert_eq!(Array::<f64>::from_npy(&path, c.clone()).unwrap().compute().unwrap(), a);
        let b = values::<i16>(&s, seed);
        std::fs::write(&path, reference_npy(&b, form)).unwrap();
        prop_assert_eq!(Array::<i16>::from_npy(&path, c.clone()).unwrap().compute().unwrap(), b);
        let t = values::<bool>(&s, seed);
        std::fs::write(&path, reference_npy(&t, form)).unwrap();
        prop_assert_eq!(Array::<bool>::from_npy(&path, c).unwrap().compute().unwrap(), t);
    }
}

/// A square file in any layout, chunked into blocks bigger than a
/// reduction's tile, so `(x + x.T).sum()` and `x.sum()` read the file a
/// tile at a time inside their own tasks (in place where the elements are
/// native, copied where not).
fn tiled_case() -> impl Strategy<Value = (usize, usize, u64, Form)> {
    (260usize..=420)
        .prop_flat_map(|n| (Just(n), 182usize..=n))
        .prop_flat_map(|(n, c)| {
            (
                Just(n),
                Just(c),
                any::<u64>(),
                (
                    any::<bool>(),
                    any::<bool>(),
                    1u8..=3,
                    prop::sample::select(vec![16usize, 64]),
                ),
            )
        })
        .prop_map(|(n, c, seed, (big_endian, fortran, version, align))| {
            (
                n,
                c,
                seed,
                Form {
                    big_endian,
                    fortran,
                    version,
                    align,
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn tiles_read_from_the_file_equal_the_array((n, c, seed, form) in tiled_case()) {
        let dir = TempDir::new("npy", "tiles");
        let path = dir.path("x.npy");
        let a = values::<i32>(&[n, n], seed);
        std::fs::write(&path, reference_npy(&a, form)).unwrap();
        let x = Array::<i32>::from_npy(&path, &[c, c]).unwrap();
        let want: i64 = a.iter().map(|&v| v as i64).sum();
        prop_assert_eq!((&x + &x.t()).sum().compute_scalar().unwrap(), 2 * want);
        prop_assert_eq!(x.sum().compute_scalar().unwrap(), want);
        // An elementwise tree over the file and its transpose, reduced
        // along one axis.
        let got = (&x * 3 - &x.t()).sum_axis(rask_array::ndarray::Axis(0)).compute().unwrap();
        let want = (a.mapv(|v| 3 * v as i64) - a.t().mapv(|v| v as i64)).sum_axis(rask_array::ndarray::Axis(0));
        prop_assert_eq!(got, want);
        let t = values::<bool>(&[n, n], seed);
        std::fs::write(&path, reference_npy(&t, form)).unwrap();
        let xt = Array::<bool>::from_npy(&path, &[c, c]).unwrap();
        let want = t.iter().filter(|&&v| v).count() as i64;
        prop_assert_eq!(xt.sum().compute_scalar().unwrap(), want);
    }
}

#[test]
fn a_reduction_of_an_expression_over_a_file_reads_it_inside_its_tasks() {
    use rask_core::{Collection, GraphBuilder, Plan, PlanOptions};
    let dir = TempDir::new("npy", "inline");
    let path = dir.path("x.npy");
    Array::from_ndarray(values::<f64>(&[400, 400], 3), &[400, 400])
        .unwrap()
        .to_npy(&path)
        .unwrap();
    let x = Array::<f64>::from_npy(&path, &[200, 200]).unwrap();
    let total = (&x + &x.t()).sum();
    let mut b = GraphBuilder::new();
    let mut keys = Vec::new();
    total.add_to_graph(&mut b, &mut keys);
    let plan = Plan::new(b, &keys, PlanOptions { fuse: true }).unwrap();
    let reads = plan
        .graph
        .tasks()
        .iter()
        .filter(|t| t.key.prefix() == "from-npy")
        .count();
    assert_eq!(reads, 0, "no block of the file is stored");
    let want = 2.0 * x.sum().compute_scalar().unwrap();
    let got = total.compute_scalar().unwrap();
    assert!((got - want).abs() <= 1e-9 * want.abs(), "{got} vs {want}");
}

/// Writes `a` as one block to the `.npy` file at `path`, replacing it.
fn overwrite(path: &std::path::Path, a: ArrayD<f64>) {
    let shape = a.shape().to_vec();
    Array::from_ndarray(a, &shape[..])
        .unwrap()
        .to_npy_with(
            path,
            &npy::NpyWriteOptions::new().overwrite(true),
            &Scheduler::sync(),
        )
        .unwrap()
}

#[test]
fn a_file_rewritten_after_opening_fails_the_tiles_read_from_it() {
    let dir = TempDir::new("npy", "bad");
    let path = dir.path("tiles.npy");
    let write = |seed| overwrite(&path, values::<f64>(&[400, 400], seed));
    write(1);
    let x = Array::<f64>::from_npy(&path, &[400, 400]).unwrap();
    let total = (&x + &x.t()).sum();
    assert!(total.compute_scalar().is_ok());
    // Same shape, other values: a new file renamed over the old one.
    write(2);
    let e = err_text(total.compute_scalar());
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("changed since the array was opened"), "{e}");
}

#[test]
fn reads_big_endian_f8_fixture() {
    // np.save of np.array([[1.5, -2.0, 0.25], [1e300, -0.0, 3.0]], dtype='>f8'),
    // spelled out byte by byte.
    let mut file = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    let dict = b"{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }";
    file.extend(dict);
    file.resize(127, b' ');
    file.push(b'\n');
    let want = [1.5f64, -2.0, 0.25, 1e300, -0.0, 3.0];
    for x in want {
        file.extend(x.to_be_bytes());
    }
    let dir = TempDir::new("npy", "fixture");
    let path = dir.path("be.npy");
    std::fs::write(&path, &file).unwrap();
    let h = npy::read_header(&path).unwrap();
    assert_eq!(
        (h.version, h.descr.as_str(), h.data_offset),
        ((1, 0), ">f8", 128)
    );
    let x = Array::<f64>::from_npy(&path, &[1, 2]).unwrap();
    let got = x.compute().unwrap();
    assert_eq!(got.shape(), &[2, 3]);
    assert_eq!(got.iter().copied().collect::<Vec<_>>(), want);
    assert!(got[[1, 1]].is_sign_negative());
}

#[test]
fn reads_version_2_fixture_in_fortran_order() {
    // Version 2.0: a 4-byte header length. Fortran order: the first axis
    // varies fastest in the file.
    let mut file = b"\x93NUMPY\x02\x00\x74\x00\x00\x00".to_vec();
    file.extend(b"{'descr': '<u2', 'fortran_order': True, 'shape': (2, 3), }");
    file.resize(127, b' ');
    file.push(b'\n');
    for x in [1u16, 4, 2, 5, 3, 6] {
        file.extend(x.to_le_bytes());
    }
    let dir = TempDir::new("npy", "fixture");
    let path = dir.path("v2.npy");
    std::fs::write(&path, &file).unwrap();
    let got = Array::<u16>::from_npy(&path, &[1, 2])
        .unwrap()
        .compute()
        .unwrap();
    let want = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1u16, 2, 3, 4, 5, 6]).unwrap();
    assert_eq!(got, want);
    // The same values as a Fortran-layout ndarray, for good measure.
    let f = ArrayD::from_shape_vec(IxDyn(&[2, 3]).f(), vec![1u16, 4, 2, 5, 3, 6]).unwrap();
    assert_eq!(got, f);
}

#[test]
fn writes_large_arrays_in_many_blocks() {
    // Blocks that span whole trailing axes and ones that do not, on an
    // array of a few hundred thousand elements computed from operations.
    let dir = TempDir::new("npy", "large");
    let path = dir.path("x.npy");
    let x = Array::<f64>::arange(0.0, 300_000.0, 1.0, &[70_000])
        .unwrap()
        .reshape(&[300, 1000])
        .unwrap();
    let y = (&x * 2.0).rechunk(&[64, 300]).unwrap();
    y.to_npy(&path).unwrap();
    let back = Array::<f64>::from_npy(&path, &[300, 7]).unwrap();
    assert_eq!(back.compute().unwrap(), y.compute().unwrap());
    let total: f64 = back.sum().compute_scalar().unwrap();
    assert_eq!(total, 2.0 * 299_999.0 * 300_000.0 / 2.0);
}

#[test]
fn an_array_read_from_a_file_can_be_written_back_to_it() {
    let dir = TempDir::new("npy", "overwrite");
    let path = dir.path("x.npy");
    let a = values::<i64>(&[9, 4], 3);
    Array::from_ndarray(a.clone(), &[4, 4])
        .unwrap()
        .to_npy(&path)
        .unwrap();
    let x = Array::<i64>::from_npy(&path, &[2, 3]).unwrap();
    // Refused unless asked for, like to_zarr.
    let e = err_text((&x * 3).to_npy(&path));
    assert!(
        e.contains("the path exists") && e.contains("overwrite(true)"),
        "{e}"
    );
    let replace = npy::NpyWriteOptions::new().overwrite(true);
    (&x * 3)
        .to_npy_with(&path, &replace, &Scheduler::sync())
        .unwrap();
    let back = Array::<i64>::from_npy(&path, &[9, 4]).unwrap();
    assert_eq!(back.compute().unwrap(), a.mapv(|v| v * 3));
    assert_eq!(dir.entries(), vec!["x.npy".to_string()]);
}

#[test]
fn not_an_npy_file_is_an_error_naming_the_path() {
    let dir = TempDir::new("npy", "bad");
    let path = dir.path("hello.npy");
    std::fs::write(&path, b"hello, world").unwrap();
    let e = err_text(Array::<f64>::from_npy(&path, &[2]));
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("not an npy file"), "{e}");
    std::fs::write(&path, b"").unwrap();
    let e = err_text(Array::<f64>::from_npy(&path, &[2]));
    assert!(e.contains("not an npy file"), "{e}");
    // A broken header dict.
    let mut file = b"\x93NUMPY\x01\x00\x10\x00".to_vec();
    file.extend(b"{'descr': '<f8'\n");
    std::fs::write(&path, &file).unwrap();
    let e = err_text(Array::<f64>::from_npy(&path, &[2]));
    assert!(
        e.contains(&path.display().to_string()) && e.contains("header"),
        "{e}"
    );
    // A shape whose bytes, with the header's, pass 2^64.
    let mut file = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    file.extend(b"{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693950,), }");
    file.resize(127, b' ');
    file.push(b'\n');
    std::fs::write(&path, &file).unwrap();
    let e = err_text(Array::<f64>::from_npy(&path, &[2]));
    assert!(e.contains("too large"), "{e}");
    // An unknown version.
    std::fs::write(&path, b"\x93NUMPY\x09\x00\x00\x00").unwrap();
    let e = err_text(Array::<f64>::from_npy(&path, &[2]));
    assert!(e.contains("version 9.0"), "{e}");
}

#[test]
fn wrong_dtype_is_an_error_saying_what_to_do() {
    let dir = TempDir::new("npy", "bad");
    let path = dir.path("ints.npy");
    Array::<i32>::zeros(&[4], &[2])
        .unwrap()
        .to_npy(&path)
        .unwrap();
    let e = err_text(Array::<f64>::from_npy(&path, &[2]));
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("'<i4'") && e.contains("float64"), "{e}");
    assert!(
        e.contains("Array::<i32>::from_npy") && e.contains("astype::<f64>()"),
        "{e}"
    );
    // A dtype no rask array holds (half floats).
    let mut file = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    file.extend(b"{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }");
    file.resize(127, b' ');
    file.push(b'\n');
    file.extend([0u8; 16]);
    std::fs::write(&path, &file).unwrap();
    let e = err_text(Array::<f64>::from_npy(&path, &[2]));
    assert!(e.contains("'<f2'") && e.contains("cannot hold"), "{e}");
}

#[test]
fn truncated_file_is_an_error_naming_sizes() {
    let dir = TempDir::new("npy", "bad");
    let path = dir.path("short.npy");
    Array::<f64>::ones(&[3, 4], &[2, 2])
        .unwrap()
        .to_npy(&path)
        .unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(len, 128 + 96);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 8)
        .unwrap();
    let e = err_text(Array::<f64>::from_npy(&path, &[2, 2]));
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(
        e.contains("truncated") && e.contains("224") && e.contains("216"),
        "{e}"
    );
}

#[test]
fn missing_file_is_an_error_naming_the_path() {
    let dir = TempDir::new("npy", "bad");
    let path = dir.path("nowhere.npy");
    let e = err_text(Array::<f64>::from_npy(&path, &[2]));
    assert!(e.contains(&path.display().to_string()), "{e}");
    let e = err_text(npy::read_header(&path));
    assert!(e.contains(&path.display().to_string()), "{e}");
    // Writing into a directory that does not exist.
    let target = dir.path("no/such/dir/x.npy");
    let e = err_text(Array::<f64>::ones(&[2], &[1]).unwrap().to_npy(&target));
    assert!(e.contains("no/such/dir"), "{e}");
}

#[test]
fn a_file_that_shrinks_after_opening_fails_the_block_that_reads_past_its_end() {
    let dir = TempDir::new("npy", "bad");
    let path = dir.path("shrinks.npy");
    Array::<f64>::ones(&[4, 4], &[4, 4])
        .unwrap()
        .to_npy(&path)
        .unwrap();
    let x = Array::<f64>::from_npy(&path, &[2, 4]).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(128 + 8 * 8)
        .unwrap();
    let e = err_text(x.compute());
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("block [1, 0]"), "{e}");
}

#[test]
fn a_failed_write_leaves_no_file_behind() {
    let dir = TempDir::new("npy", "atomic");
    let target = dir.path("out.npy");
    std::fs::write(&target, b"old contents").unwrap();
    // An array whose compute fails: read from a file that shrinks.
    let src = dir.path("src.npy");
    Array::<f64>::ones(&[6], &[6])
        .unwrap()
        .to_npy(&src)
        .unwrap();
    let x = Array::<f64>::from_npy(&src, &[2]).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&src)
        .unwrap()
        .set_len(128 + 8)
        .unwrap();
    let replace = npy::NpyWriteOptions::new().overwrite(true);
    let e = err_text((&x + 1.0).to_npy_with(&target, &replace, &Scheduler::sync()));
    assert!(e.contains("src.npy"), "{e}");
    assert_eq!(std::fs::read(&target).unwrap(), b"old contents");
    assert_eq!(
        dir.entries(),
        vec!["out.npy".to_string(), "src.npy".to_string()]
    );
    // An invalid array is refused before anything is written.
    let bad = &Array::<f64>::ones(&[2], &[1]).unwrap() + &Array::<f64>::ones(&[3], &[1]).unwrap();
    let e = err_text(bad.to_npy(dir.path("new.npy")));
    assert!(e.contains("shape"), "{e}");
    assert_eq!(
        dir.entries(),
        vec!["out.npy".to_string(), "src.npy".to_string()]
    );
}

/// The CRC-32 of an array's elements, little-endian in C order.
fn checksum<T: Raw>(a: &ArrayD<T>) -> u32 {
    let bytes: Vec<u8> = a.iter().flat_map(|x| x.bytes(false)).collect();
    crc32(&bytes)
}

/// Per file, NumPy's dtype, shape and CRC-32 of the little-endian C-order
/// bytes; and `np.save`s some arrays of its own.
const ORACLE: &str = r#"
import sys, zlib
import numpy as np
d = sys.argv[1]
for name in sys.argv[2:]:
    a = np.load(f"{d}/{name}.npy")
    le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    shape = ",".join(str(n) for n in a.shape)
    print(name, a.dtype.name, shape, zlib.crc32(le.tobytes()))
x = (np.arange(60, dtype=np.float64).reshape(3, 4, 5) * 0.37 - 4).astype(">f8")
np.save(f"{d}/np_f8_be_fortran.npy", np.asfortranarray(x))
np.save(f"{d}/np_i2.npy", (np.arange(-50, 50, dtype=np.int16) * 331).reshape(10, 10))
np.save(f"{d}/np_bool.npy", np.arange(17) % 3 == 0)
np.save(f"{d}/np_f4_0d.npy", np.float32(2.5))
for name in ["np_f8_be_fortran", "np_i2", "np_bool", "np_f4_0d"]:
    a = np.load(f"{d}/{name}.npy")
    le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    print(name, a.dtype.name, ",".join(str(n) for n in a.shape), zlib.crc32(le.tobytes()))
"#;

#[test]
#[cfg_attr(
    not(rask_oracle_numpy),
    ignore = "no Python with NumPy was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn numpy_reads_rask_files_and_rask_reads_numpy_files() {
    let Some(python) = python_with("numpy") else {
        return no_oracle("NumPy");
    };
    let dir = TempDir::new("npy", "numpy");
    let mut expect: Vec<(String, &str, Vec<usize>, u32)> = Vec::new();
    let mut save = |name: &str, dtype: &'static str, shape: Vec<usize>, crc: u32| {
        expect.push((name.to_string(), dtype, shape, crc));
    };
    let f = Array::<f64>::from_ndarray(data(&[7, 5, 3], 1), &[3, 2, 2]).unwrap();
    let f = &f * 1.5 - 0.25;
    f.to_npy(dir.path("f64.npy")).unwrap();
    save(
        "f64",
        "float64",
        vec![7, 5, 3],
        checksum(&f.compute().unwrap()),
    );
    let i = Array::<i32>::arange(-1000, 1000, 7, &[50]).unwrap();
    let i = (&i * &i).reshape(&[2, 143]).unwrap();
    i.to_npy(dir.path("i32.npy")).unwrap();
    save(
        "i32",
        "int32",
        vec![2, 143],
        checksum(&i.compute().unwrap()),
    );
    let b = Array::<i64>::arange(0, 31, 1, &[4])
        .unwrap()
        .astype::<bool>();
    b.to_npy(dir.path("bool.npy")).unwrap();
    save("bool", "bool", vec![31], checksum(&b.compute().unwrap()));
    let u = Array::<u8>::full(&[], &[], 200).unwrap();
    u.to_npy(dir.path("u8.npy")).unwrap();
    save("u8", "uint8", vec![], checksum(&u.compute().unwrap()));
    let e = Array::<f32>::zeros(&[0, 3], &[1, 2]).unwrap();
    e.to_npy(dir.path("f32_empty.npy")).unwrap();
    save(
        "f32_empty",
        "float32",
        vec![0, 3],
        checksum(&e.compute().unwrap()),
    );

    let names: Vec<String> = expect.iter().map(|e| e.0.clone()).collect();
    let lines = run_oracle(&python, ORACLE, &dir.0, &names);
    assert_eq!(lines.len(), names.len() + 4, "{lines:?}");
    // NumPy reads what rask wrote.
    for ((name, dtype, shape, crc), line) in expect.iter().zip(&lines) {
        assert_eq!(&line[0], name);
        assert_eq!(line[1], *dtype, "{name}");
        assert_eq!(usize_list(&line[2]), *shape, "{name}");
        assert_eq!(line[3].parse::<u32>().unwrap(), *crc, "{name}");
    }
    // rask reads what NumPy wrote.
    let numpy = &lines[names.len()..];
    let read = |name: &str| dir.path(&format!("{name}.npy"));
    let check = |line: &Vec<String>, shape: &[usize], crc: u32| {
        assert_eq!(usize_list(&line[2]), shape, "{}", line[0]);
        assert_eq!(line[3].parse::<u32>().unwrap(), crc, "{}", line[0]);
    };
    let x = Array::<f64>::from_npy(read("np_f8_be_fortran"), &[2, 3, 2]).unwrap();
    check(&numpy[0], x.shape(), checksum(&x.compute().unwrap()));
    let h = npy::read_header(read("np_f8_be_fortran")).unwrap();
    assert!(h.fortran_order && h.descr == ">f8", "{h:?}");
    let x = Array::<i16>::from_npy(read("np_i2"), &[3, 4]).unwrap();
    check(&numpy[1], x.shape(), checksum(&x.compute().unwrap()));
    let x = Array::<bool>::from_npy(read("np_bool"), &[5]).unwrap();
    check(&numpy[2], x.shape(), checksum(&x.compute().unwrap()));
    let x = Array::<f32>::from_npy(read("np_f4_0d"), &[]).unwrap();
    check(&numpy[3], x.shape(), checksum(&x.compute().unwrap()));
    assert_eq!(x.compute_scalar().unwrap(), 2.5);
}

#[test]
fn npy_reads_are_portable_with_names_that_follow_the_file() {
    let dir = TempDir::new("npy", "portable");
    let path = dir.path("x.npy");
    // A Fortran-order, big-endian file, so the layout travels too.
    let a = values::<i32>(&[7, 5], 11);
    let form = Form {
        big_endian: true,
        fortran: true,
        ..NUMPY_DEFAULT
    };
    std::fs::write(&path, reference_npy(&a, form)).unwrap();
    let x = Array::<i32>::from_npy(&path, &[3, 2]).unwrap();
    assert_eq!(crate::support::assert_portable(&x), a);
    // Reading the same file again: the same keys.
    assert_eq!(
        x.name(),
        Array::<i32>::from_npy(&path, &[3, 2]).unwrap().name()
    );
    assert_ne!(
        x.name(),
        Array::<i32>::from_npy(&path, &[7, 2]).unwrap().name()
    );
    // Rewritten (with the same shape and size): new keys.
    Array::from_ndarray(values::<i32>(&[7, 5], 12), &[7, 5])
        .unwrap()
        .to_npy_with(
            &path,
            &npy::NpyWriteOptions::new().overwrite(true),
            &Scheduler::sync(),
        )
        .unwrap();
    let y = Array::<i32>::from_npy(&path, &[3, 2]).unwrap();
    assert_ne!(x.name(), y.name());
    assert_eq!(
        crate::support::assert_portable(&y),
        values::<i32>(&[7, 5], 12)
    );
}

#[test]
fn a_file_rewritten_with_another_shape_fails_the_blocks_read_from_it() {
    let dir = TempDir::new("npy", "bad");
    let path = dir.path("changes.npy");
    let write = |shape: &[usize]| overwrite(&path, values::<f64>(shape, 1));
    write(&[4, 4]);
    let x = Array::<f64>::from_npy(&path, &[2, 4]).unwrap();
    write(&[16]);
    let e = err_text(x.compute());
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("block ["), "{e}");
    assert!(e.contains("changed since the array was opened"), "{e}");
    std::fs::remove_file(&path).unwrap();
    let e = err_text(x.compute());
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("block ["), "{e}");
}
