//! Image files in, results out: TIFF stacks and multi-page TIFF, FITS
//! images, raw binary files, and Zarr writes with compression,
//! attributes, regions and appends — against files tifffile, astropy and
//! NumPy wrote (and zarr-python reading rask's stores) when they are
//! installed, against files written here otherwise, and bad input.

use std::path::Path;

use rask_array::ndarray::{ArrayD, Dimension, IxDyn};
use rask_array::raw::RawLayout;
use rask_array::tiff::{self, TiffOptions};
use rask_array::zarr::serde_json::json;
use rask_array::zarr::{ZarrCompression, ZarrWriteOptions};
use rask_array::{self as array, Array, ChunkSpec, Chunks, Element, IntoChunks, fits};
use rask_local::Scheduler;

use proptest::prelude::*;

use crate::support::{
    TempDir, assert_portable, chunks_for, err_text, no_oracle, python_with, run_oracle,
};

/// The whole `.npy` file at `path`, as rask reads it.
fn npy<T: Element>(path: &Path) -> ArrayD<T> {
    Array::<T>::from_npy(path, ChunkSpec::Whole)
        .unwrap()
        .compute()
        .unwrap()
}

/// Whether two arrays are equal bit for bit (NaNs included), via their
/// little-endian bytes.
fn same_bits<T: Element>(a: &ArrayD<T>, b: &ArrayD<T>) -> bool {
    let bytes = |x: &ArrayD<T>| {
        let mut out = Vec::new();
        for &v in x.iter() {
            v.push_le_bytes(&mut out);
        }
        out
    };
    a.shape() == b.shape() && bytes(a) == bytes(b)
}

// ---------------------------------------------------------------- TIFF

#[test]
fn tiff_stacks_read_one_image_per_block_or_grouped() {
    let dir = TempDir::new("imageio", "stack");
    for i in 0..5 {
        tiff::tests_support::write_gray16(&dir.path(&format!("f{i:02}.tif")), 6, 4, 1);
    }
    let pattern = dir.path("f*.tif");
    let pattern = pattern.to_str().unwrap();
    let frames: Array<u16> = array::from_tiff_stack(pattern).unwrap();
    assert_eq!(frames.shape(), &[5, 4, 6]);
    assert_eq!(frames.chunks().axis(0), &[1, 1, 1, 1, 1]);
    let want = ArrayD::from_shape_fn(IxDyn(&[5, 4, 6]), |i| (i[1] * 6 + i[2]) as u16);
    assert_eq!(assert_portable(&frames), want);
    let grouped: Array<u16> =
        tiff::from_tiff_stack_with(pattern, &TiffOptions::new().images_per_block(2)).unwrap();
    assert_eq!(grouped.chunks().axis(0), &[2, 2, 1]);
    assert_eq!(grouped.compute().unwrap(), want);
    // Lazy: the same files give the same keys; a sum accumulates as u64.
    let total: u64 = frames.astype::<u64>().sum().compute_scalar().unwrap();
    assert_eq!(total, want.iter().map(|&v| v as u64).sum::<u64>());
}

#[test]
fn lzw_and_packbits_tiff_files_decode() {
    use ::tiff::encoder::{Compression, TiffEncoder, colortype};
    let dir = TempDir::new("imageio", "lzw");
    let data: Vec<f32> = (0..6 * 5).map(|i| i as f32 * 0.5 - 3.0).collect();
    for (name, c) in [
        ("a.tif", Compression::Lzw),
        ("b.tif", Compression::Packbits),
    ] {
        let file = std::fs::File::create(dir.path(name)).unwrap();
        let mut enc = TiffEncoder::new(file).unwrap().with_compression(c);
        enc.write_image::<colortype::Gray32Float>(6, 5, &data)
            .unwrap();
    }
    let x: Array<f32> = array::from_tiff_stack(dir.path("*.tif").to_str().unwrap()).unwrap();
    let want = ArrayD::from_shape_vec(IxDyn(&[5, 6]), data).unwrap();
    let got = x.compute().unwrap();
    assert_eq!(got.shape(), &[2, 5, 6]);
    for i in 0..2 {
        assert_eq!(got.index_axis(rask_array::ndarray::Axis(0), i), want);
    }
}

#[test]
fn multi_page_tiff_puts_pages_on_the_first_axis() {
    let dir = TempDir::new("imageio", "pages");
    let path = dir.path("movie.tif");
    tiff::tests_support::write_gray16(&path, 5, 3, 7);
    let movie: Array<u16> = array::from_tiff(&path).unwrap();
    assert_eq!(movie.shape(), &[7, 3, 5]);
    assert_eq!(movie.numblocks(), vec![7, 1, 1]);
    let want = ArrayD::from_shape_fn(IxDyn(&[7, 3, 5]), |i| (i[0] * 100 + i[1] * 5 + i[2]) as u16);
    assert_eq!(assert_portable(&movie), want);
    let grouped: Array<u16> =
        tiff::from_tiff_with(&path, &TiffOptions::new().images_per_block(3)).unwrap();
    assert_eq!(grouped.chunks().axis(0), &[3, 3, 1]);
    assert_eq!(grouped.compute().unwrap(), want);
    let info = tiff::read_info(&path).unwrap();
    assert_eq!((info.pages, info.dtype.as_str()), (7, "uint16"));
    // A stack of multi-page files: (files, pages, height, width).
    tiff::tests_support::write_gray16(&dir.path("movie2.tif"), 5, 3, 7);
    let both: Array<u16> =
        array::from_tiff_stack(dir.path("movie*.tif").to_str().unwrap()).unwrap();
    assert_eq!(both.shape(), &[2, 7, 3, 5]);
    assert_eq!(
        both.compute()
            .unwrap()
            .index_axis(rask_array::ndarray::Axis(0), 1),
        want
    );
}

#[test]
fn tiff_stack_bad_input_names_the_file() {
    let dir = TempDir::new("imageio", "tiffbad");
    let w =
        |name: &str, width: u32| tiff::tests_support::write_gray16(&dir.path(name), width, 4, 1);
    w("a0.tif", 6);
    w("a1.tif", 7); // another width
    w("a2.tif", 6);
    let pattern = dir.path("a*.tif");
    let pattern = pattern.to_str().unwrap();
    // Lazily: the block of the odd file fails, naming it.
    let x: Array<u16> = array::from_tiff_stack(pattern).unwrap();
    let msg = err_text(x.compute());
    assert!(msg.contains("a1.tif") && msg.contains("(4, 7)"), "{msg}");
    // Eagerly, with check_headers.
    let opts = TiffOptions::new().check_headers(true);
    let msg = err_text(tiff::from_tiff_stack_with::<u16>(pattern, &opts));
    assert!(msg.contains("a1.tif"), "{msg}");
    // Another element type than the files'.
    let msg = err_text(array::from_tiff_stack::<f32>(pattern));
    assert!(msg.contains("a0.tif") && msg.contains("uint16"), "{msg}");
    // A truncated file: its data are cut.
    w("b0.tif", 6);
    w("b1.tif", 6);
    let b1 = dir.path("b1.tif");
    let len = std::fs::metadata(&b1).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&b1)
        .unwrap()
        .set_len(len - 20)
        .unwrap();
    let x: Array<u16> = array::from_tiff_stack(dir.path("b*.tif").to_str().unwrap()).unwrap();
    let msg = err_text(x.compute());
    assert!(msg.contains("b1.tif"), "{msg}");
    // A truncated header, no files, a bad pattern.
    std::fs::write(dir.path("c0.tif"), b"II*\0\x08").unwrap();
    let msg = err_text(array::from_tiff::<u16>(dir.path("c0.tif")));
    assert!(msg.contains("c0.tif"), "{msg}");
    let msg = err_text(array::from_tiff_stack::<u16>(
        dir.path("zz*.tif").to_str().unwrap(),
    ));
    assert!(msg.contains("zz*.tif") && msg.contains("no file"), "{msg}");
    let msg = err_text(array::from_tiff_stack::<u16>("[.tif"));
    assert!(msg.contains("[.tif"), "{msg}");
}

/// Files cut at every length fail with an error naming them (at open or
/// at compute), never a panic, and never read as something else.
#[test]
fn files_cut_anywhere_fail_naming_the_file() {
    let dir = TempDir::new("imageio", "cut");
    let whole = dir.path("whole.tif");
    tiff::tests_support::write_gray16(&whole, 9, 7, 3);
    let tif = std::fs::read(&whole).unwrap();
    let cut = dir.path("cut.tif");
    for len in (0..tif.len()).step_by(7) {
        std::fs::write(&cut, &tif[..len]).unwrap();
        let result = array::from_tiff::<u16>(&cut).and_then(|x| x.compute());
        match result {
            Err(e) => assert!(e.to_string().contains("cut.tif"), "{len}: {e}"),
            // Cut inside the last page's unused tail only.
            Ok(a) => assert_eq!(a.shape()[0], 3, "{len}"),
        }
    }
    let fits_bytes = fits::tests_support::tiny_fits(-64, &[30, 20], 0.0);
    let cut = dir.path("cut.fits");
    for len in (0..fits_bytes.len()).step_by(97) {
        std::fs::write(&cut, &fits_bytes[..len]).unwrap();
        let result = Array::<f64>::from_fits(&cut, &[7, 30]).and_then(|x| x.compute());
        let end_of_data = 2880 + 30 * 20 * 8;
        if len >= end_of_data {
            assert!(result.is_ok(), "{len}");
        } else {
            let e = result.unwrap_err().to_string();
            assert!(e.contains("cut.fits"), "{len}: {e}");
        }
    }
}

/// tifffile writes a stack (uncompressed, zlib, zlib with the
/// horizontal predictor; LZW needs imagecodecs to write), multi-page files of every sample type, an RGB
/// image, and bad stacks; NumPy saves what tifffile reads back.
const TIFF_ORACLE: &str = r#"
import os, sys
import numpy as np, tifffile
d = sys.argv[1]
rng = np.random.default_rng(7)
os.makedirs(f"{d}/stack")
frames = rng.integers(0, 65535, size=(5, 32, 24), dtype=np.uint16)
comps = [None, "zlib", None, "zlib", "zlib"]
for i, f in enumerate(frames):
    kw = {"predictor": True} if i == 4 else {}
    tifffile.imwrite(f"{d}/stack/f{i:03d}.tif", f, compression=comps[i], **kw)
names = sorted(os.listdir(f"{d}/stack"))
np.save(f"{d}/stack.npy", np.stack([tifffile.imread(f"{d}/stack/{n}") for n in names]))
for name in ["uint8", "int8", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"]:
    dt = np.dtype(name)
    if dt.kind == "f":
        a = rng.normal(size=(4, 10, 12)).astype(dt)
    else:
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=(4, 10, 12), dtype=dt, endpoint=True)
    comp = "zlib" if name in ("int16", "float32") else None
    tifffile.imwrite(f"{d}/{name}.tif", a, compression=comp, photometric="minisblack")
    np.save(f"{d}/{name}.npy", tifffile.imread(f"{d}/{name}.tif"))
rgb = rng.integers(0, 255, size=(10, 12, 3), dtype=np.uint8)
tifffile.imwrite(f"{d}/rgb.tif", rgb, photometric="rgb")
np.save(f"{d}/rgb.npy", tifffile.imread(f"{d}/rgb.tif"))
tiled = rng.integers(0, 65535, size=(3, 40, 50), dtype=np.uint16)
tifffile.imwrite(f"{d}/tiled.tif", tiled, tile=(16, 32), compression="zlib", photometric="minisblack")
planar = rng.integers(0, 65535, size=(2, 3, 20, 30), dtype=np.uint16)
tifffile.imwrite(f"{d}/planar.tif", planar, photometric="rgb", planarconfig="separate")
np.save(f"{d}/planar.npy", tifffile.imread(f"{d}/planar.tif"))
np.save(f"{d}/tiled.npy", tifffile.imread(f"{d}/tiled.tif"))
one = rng.integers(0, 1000, size=(9, 11), dtype=np.uint16)
tifffile.imwrite(f"{d}/one.tif", one)
np.save(f"{d}/one.npy", tifffile.imread(f"{d}/one.tif"))
os.makedirs(f"{d}/badtype")
tifffile.imwrite(f"{d}/badtype/f0.tif", frames[0])
tifffile.imwrite(f"{d}/badtype/f1.tif", frames[1].astype(np.int16))
os.makedirs(f"{d}/trunc")
tifffile.imwrite(f"{d}/trunc/f0.tif", frames[0])
tifffile.imwrite(f"{d}/trunc/f1.tif", frames[1])
size = os.path.getsize(f"{d}/trunc/f1.tif")
with open(f"{d}/trunc/f1.tif", "r+b") as f:
    f.truncate(size - 500)
print("ok")
"#;

fn check_tiff<T: Element>(dir: &Path, name: &str) {
    let x: Array<T> = array::from_tiff(dir.join(format!("{name}.tif"))).unwrap();
    let want = npy::<T>(&dir.join(format!("{name}.npy")));
    assert_eq!(x.dtype(), name);
    assert!(same_bits(&x.compute().unwrap(), &want), "{name}");
}

#[test]
#[cfg_attr(
    not(rask_oracle_tifffile),
    ignore = "no Python with tifffile was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn tifffile_files_read_as_tifffile_reads_them() {
    let Some(python) = python_with("tifffile, numpy") else {
        return no_oracle("tifffile");
    };
    let dir = TempDir::new("imageio", "tifffile");
    run_oracle(&python, TIFF_ORACLE, &dir.0, &[]);
    let d = &dir.0;
    let frames: Array<u16> =
        array::from_tiff_stack(d.join("stack/*.tif").to_str().unwrap()).unwrap();
    assert_eq!(frames.numblocks(), vec![5, 1, 1]);
    assert_eq!(frames.compute().unwrap(), npy::<u16>(&d.join("stack.npy")));
    check_tiff::<u8>(d, "uint8");
    check_tiff::<i8>(d, "int8");
    check_tiff::<i16>(d, "int16");
    check_tiff::<u32>(d, "uint32");
    check_tiff::<i32>(d, "int32");
    check_tiff::<u64>(d, "uint64");
    check_tiff::<i64>(d, "int64");
    check_tiff::<f32>(d, "float32");
    check_tiff::<f64>(d, "float64");
    let rgb: Array<u8> = array::from_tiff(d.join("rgb.tif")).unwrap();
    assert_eq!(rgb.shape(), &[10, 12, 3]);
    assert_eq!(rgb.compute().unwrap(), npy::<u8>(&d.join("rgb.npy")));
    // Tiled, with partial tiles at the edges.
    let tiled: Array<u16> =
        tiff::from_tiff_with(d.join("tiled.tif"), &TiffOptions::new().images_per_block(2)).unwrap();
    assert_eq!(tiled.compute().unwrap(), npy::<u16>(&d.join("tiled.npy")));
    // Two pages of planar RGB: (pages, samples, height, width).
    let planar: Array<u16> = array::from_tiff(d.join("planar.tif")).unwrap();
    assert_eq!(planar.shape(), &[2, 3, 20, 30]);
    assert_eq!(planar.compute().unwrap(), npy::<u16>(&d.join("planar.npy")));
    let one: Array<u16> = array::from_tiff(d.join("one.tif")).unwrap();
    assert_eq!(one.shape(), &[9, 11]);
    assert_eq!(one.compute().unwrap(), npy::<u16>(&d.join("one.npy")));
    // Bad stacks name the file.
    let x: Array<u16> = array::from_tiff_stack(d.join("badtype/*.tif").to_str().unwrap()).unwrap();
    let msg = err_text(x.compute());
    assert!(msg.contains("f1.tif") && msg.contains("int16"), "{msg}");
    let x: Array<u16> = array::from_tiff_stack(d.join("trunc/*.tif").to_str().unwrap()).unwrap();
    let msg = err_text(x.compute());
    assert!(msg.contains("f1.tif"), "{msg}");
}

#[test]
fn a_tiny_tiff_claiming_a_huge_image_is_an_error_not_an_abort() {
    let dir = TempDir::new("imageio", "tiff-huge");
    let path = dir.path("liar.tif");
    // A little-endian TIFF of one 200000 x 200000 16-bit image (80 GB)
    // whose one strip holds 2 bytes.
    let entry = |tag: u16, kind: u16, value: u32| {
        let mut e = tag.to_le_bytes().to_vec();
        e.extend(kind.to_le_bytes());
        e.extend(1u32.to_le_bytes());
        e.extend(value.to_le_bytes());
        e
    };
    let (short, long) = (3u16, 4u16);
    let entries = [
        entry(256, long, 200_000),
        entry(257, long, 200_000),
        entry(258, short, 16),
        entry(259, short, 1),
        entry(262, short, 1),
        entry(273, long, 8 + 2 + 9 * 12 + 4),
        entry(277, short, 1),
        entry(278, long, 200_000),
        entry(279, long, 2),
    ];
    let mut bytes = b"II*\0".to_vec();
    bytes.extend(8u32.to_le_bytes());
    bytes.extend((entries.len() as u16).to_le_bytes());
    for e in &entries {
        bytes.extend(e);
    }
    bytes.extend(0u32.to_le_bytes());
    bytes.extend([0u8, 0]);
    std::fs::write(&path, &bytes).unwrap();
    // Opening reads headers only; the block's read refuses the size.
    let x: Array<u16> = array::from_tiff(&path).unwrap();
    assert_eq!(x.shape(), &[200_000, 200_000]);
    let corner = [
        rask_array::slicing::range(0, 1),
        rask_array::slicing::range(0, 1),
    ];
    let msg = err_text(x.slice(&corner).unwrap().compute());
    assert!(msg.contains("liar.tif") && msg.contains("corrupt"), "{msg}");
}

// ---------------------------------------------------------------- FITS

#[test]
fn fits_files_written_here_read_and_fail_naming_the_file() {
    let dir = TempDir::new("imageio", "fits");
    let path = dir.path("a.fits");
    std::fs::write(&path, fits::tests_support::tiny_fits(32, &[5, 4, 3], 0.0)).unwrap();
    let x = Array::<i32>::from_fits(&path, &[2, 2, 5]).unwrap();
    assert_eq!(x.shape(), &[3, 4, 5]);
    let want = ArrayD::from_shape_fn(IxDyn(&[3, 4, 5]), |i| (i[0] * 20 + i[1] * 5 + i[2]) as i32);
    assert_eq!(assert_portable(&x), want);
    // Another element type.
    let msg = err_text(Array::<f32>::from_fits(&path, &[2, 2, 5]));
    assert!(msg.contains("a.fits") && msg.contains("int32"), "{msg}");
    // Truncated in the data, then in the header.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path("cut.fits");
    std::fs::write(&cut, &bytes[..2880 + 100]).unwrap();
    let msg = err_text(Array::<i32>::from_fits(&cut, &[1, 4, 5]));
    assert!(
        msg.contains("cut.fits") && msg.contains("truncated"),
        "{msg}"
    );
    std::fs::write(&cut, &bytes[..1000]).unwrap();
    let msg = err_text(Array::<i32>::from_fits(&cut, &[1, 4, 5]));
    assert!(
        msg.contains("cut.fits") && msg.contains("truncated"),
        "{msg}"
    );
    // An image whose GCOUNT of 0 would claim no data: refused at open,
    // naming the file, not read past its end.
    let mut header = String::new();
    for card in [
        "SIMPLE  =                    T",
        "BITPIX  =                  -64",
        "NAXIS   =                    2",
        "NAXIS1  =                 1000",
        "NAXIS2  =                 1000",
        "GCOUNT  =                    0",
        "END",
    ] {
        header.push_str(&format!("{card:<80}"));
    }
    let mut no_data = header.into_bytes();
    no_data.resize(2880, b' ');
    let groups = dir.path("groups.fits");
    std::fs::write(&groups, &no_data).unwrap();
    let msg = err_text(Array::<f64>::from_fits(&groups, &[100, 100]));
    assert!(
        msg.contains("groups.fits") && msg.contains("GCOUNT 0"),
        "{msg}"
    );
    // Truncated after opening: the block read fails naming the file.
    std::fs::write(&cut, &bytes).unwrap();
    let y = Array::<i32>::from_fits(&cut, &[1, 4, 5]).unwrap();
    std::fs::write(&cut, &bytes[..2880 + 100]).unwrap();
    let msg = err_text(y.compute());
    assert!(msg.contains("cut.fits"), "{msg}");
    // Bytes after the last HDU are ignored, as astropy ignores them.
    std::fs::write(&cut, [&bytes[..], &[0u8; 100][..]].concat()).unwrap();
    let z = Array::<i32>::from_fits(&cut, &[1, 4, 5]).unwrap();
    assert_eq!(z.compute().unwrap(), want);
    assert_eq!(fits::read_images(&cut).unwrap().len(), 1);
    // Not FITS at all.
    std::fs::write(&cut, b"hello").unwrap();
    let msg = err_text(Array::<i32>::from_fits(&cut, &[1]));
    assert!(
        msg.contains("cut.fits") && msg.contains("not a FITS file"),
        "{msg}"
    );
}

/// astropy writes images of every BITPIX, the unsigned conventions,
/// scaled images with BLANK, a file of several HDUs and truncated files;
/// NumPy saves what `fits.getdata` gives.
const FITS_ORACLE: &str = r#"
import os, sys
import numpy as np
from astropy.io import fits
d = sys.argv[1]
rng = np.random.default_rng(3)
def ints(dt, shape):
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
arrays = {
    "uint8": ints(np.uint8, (6, 7)),
    "int8": ints(np.int8, (6, 7)),
    "int16": ints(np.int16, (3, 6, 7)),
    "uint16": ints(np.uint16, (6, 7)),
    "int32": ints(np.int32, (6, 7)),
    "uint32": ints(np.uint32, (6, 7)),
    "int64": ints(np.int64, (6, 7)),
    "uint64": ints(np.uint64, (6, 7)),
    "float32": rng.normal(size=(2, 6, 7)).astype(np.float32),
    "float64": rng.normal(size=(6, 7)),
}
def save(name, ext=None):
    data = fits.getdata(f"{d}/{name}.fits", ext) if ext is not None else fits.getdata(f"{d}/{name}.fits")
    np.save(f"{d}/{name}{'' if ext is None else ext}.npy", data)
    print(name, data.dtype.name)
for name, a in arrays.items():
    fits.PrimaryHDU(a).writeto(f"{d}/{name}.fits")
    save(name)
def scaled(name, raw, bscale, bzero, blank=None):
    fits.PrimaryHDU(raw).writeto(f"{d}/{name}.fits")
    with fits.open(f"{d}/{name}.fits", mode="update", do_not_scale_image_data=True) as h:
        h[0].header["BSCALE"] = bscale
        h[0].header["BZERO"] = bzero
        if blank is not None:
            h[0].header["BLANK"] = blank
    save(name)
raw16 = ints(np.int16, (8, 9)); raw16[0, :3] = -32768
scaled("scaled16", raw16, 0.37, 100.25, -32768)
scaled("scaled8", ints(np.uint8, (8, 9)), 1.0, 10.0)
scaled("scaled32", ints(np.int32, (8, 9)), 1e-3, -5.0)
scaled("scaled64", ints(np.int64, (8, 9)), 0.5, 3.0)
scaled("scaledf32", rng.normal(size=(8, 9)).astype(np.float32), 2.5, 1.5)
scaled("scaledf64", rng.normal(size=(8, 9)), 2.5, 1.5)
fits.HDUList([
    fits.PrimaryHDU(),
    fits.ImageHDU(rng.normal(size=(4, 6)).astype(np.float32), name="SCI"),
    fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.arange(3.0))]),
    fits.ImageHDU(ints(np.uint16, (2, 3)), name="DQ"),
]).writeto(f"{d}/multi.fits")
save("multi")
save("multi", 3)
fits.PrimaryHDU(rng.normal(size=(20, 20))).writeto(f"{d}/trunc.fits")
with open(f"{d}/trunc.fits", "r+b") as f:
    f.truncate(2880 + 1000)
"#;

fn check_fits<T: Element>(dir: &Path, name: &str, chunks: &[usize]) {
    let x = Array::<T>::from_fits(dir.join(format!("{name}.fits")), chunks).unwrap();
    let want = npy::<T>(&dir.join(format!("{name}.npy")));
    let got = x.compute().unwrap();
    assert!(same_bits(&got, &want), "{name}: {got:?} vs {want:?}");
}

#[test]
#[cfg_attr(
    not(rask_oracle_astropy),
    ignore = "no Python with astropy was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn astropy_files_read_as_astropy_reads_them() {
    let Some(python) = python_with("astropy.io.fits, numpy") else {
        return no_oracle("astropy");
    };
    let dir = TempDir::new("imageio", "astropy");
    let lines = run_oracle(&python, FITS_ORACLE, &dir.0, &[]);
    let d = &dir.0;
    // astropy's dtypes are the ones rask reports.
    for line in &lines {
        let images = fits::read_images(d.join(format!("{}.fits", line[0]))).unwrap();
        let image = images.iter().find(|i| !i.shape.is_empty()).unwrap();
        if line[0] != "multi" {
            assert_eq!(image.dtype, line[1], "{}", line[0]);
        }
    }
    check_fits::<u8>(d, "uint8", &[4, 4]);
    check_fits::<i8>(d, "int8", &[4, 4]);
    check_fits::<i16>(d, "int16", &[2, 4, 3]);
    check_fits::<u16>(d, "uint16", &[4, 4]);
    check_fits::<i32>(d, "int32", &[4, 4]);
    check_fits::<u32>(d, "uint32", &[4, 4]);
    check_fits::<i64>(d, "int64", &[4, 4]);
    check_fits::<u64>(d, "uint64", &[4, 4]);
    check_fits::<f32>(d, "float32", &[1, 6, 2]);
    check_fits::<f64>(d, "float64", &[4, 4]);
    check_fits::<f32>(d, "scaled16", &[3, 5]);
    check_fits::<f32>(d, "scaled8", &[3, 5]);
    check_fits::<f64>(d, "scaled32", &[3, 5]);
    check_fits::<f64>(d, "scaled64", &[3, 5]);
    check_fits::<f32>(d, "scaledf32", &[3, 5]);
    check_fits::<f64>(d, "scaledf64", &[3, 5]);
    // The first image with data: extension 1 behind an empty primary HDU.
    check_fits::<f32>(d, "multi", &[2, 6]);
    let dq = Array::<u16>::from_fits_hdu(d.join("multi.fits"), 3, &[1, 3]).unwrap();
    assert_eq!(dq.compute().unwrap(), npy::<u16>(&d.join("multi3.npy")));
    let images = fits::read_images(d.join("multi.fits")).unwrap();
    let names: Vec<_> = images.iter().map(|i| (i.hdu, i.extname.clone())).collect();
    assert_eq!(
        names,
        vec![(0, None), (1, Some("SCI".into())), (3, Some("DQ".into()))]
    );
    let msg = err_text(Array::<f32>::from_fits_hdu(d.join("multi.fits"), 2, &[1]));
    assert!(
        msg.contains("multi.fits") && msg.contains("binary table"),
        "{msg}"
    );
    let msg = err_text(Array::<f64>::from_fits(d.join("trunc.fits"), &[5, 5]));
    assert!(
        msg.contains("trunc.fits") && msg.contains("truncated"),
        "{msg}"
    );
}

// ----------------------------------------------------------------- raw

#[test]
fn raw_files_read_by_range_in_any_layout() {
    let dir = TempDir::new("imageio", "raw");
    let path = dir.path("x.bin");
    let a = ArrayD::from_shape_fn(IxDyn(&[5, 6, 7]), |i| {
        (i[0] * 42 + i[1] * 7 + i[2]) as i32 - 50
    });
    let header = [7u8; 16];
    let mut bytes = header.to_vec();
    a.iter()
        .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
    bytes.extend_from_slice(&[1, 2, 3]); // a trailer is ignored
    std::fs::write(&path, &bytes).unwrap();
    let x = Array::<i32>::from_raw(&path, &[5, 6, 7], &[2, 4, 3], 16).unwrap();
    assert_eq!(assert_portable(&x), a);
    // Big-endian, Fortran order.
    let mut be = Vec::new();
    a.t()
        .iter()
        .for_each(|v| be.extend_from_slice(&v.to_be_bytes()));
    std::fs::write(dir.path("f.bin"), &be).unwrap();
    let layout = RawLayout::new(&[5, 6, 7])
        .big_endian(true)
        .fortran_order(true);
    let y = Array::<i32>::from_raw_with(dir.path("f.bin"), &layout, &[3, 3, 3]).unwrap();
    assert_eq!(y.compute().unwrap(), a);
    // Too short, named.
    let msg = err_text(Array::<i64>::from_raw(&path, &[5, 6, 7], &[5, 6, 7], 16));
    assert!(msg.contains("x.bin") && msg.contains("too short"), "{msg}");
    let msg = err_text(Array::<i32>::from_raw(dir.path("none.bin"), &[1], &[1], 0));
    assert!(msg.contains("none.bin"), "{msg}");
    // Shrunk after opening: the block read names the file.
    std::fs::write(&path, &bytes[..100]).unwrap();
    let msg = err_text(x.compute());
    assert!(msg.contains("x.bin"), "{msg}");
}

#[test]
fn raw_files_reduced_tile_by_tile_read_each_tile_from_the_file() {
    // Blocks of 300 x 300 (more than a reduction's tile): `(x + x.T).sum()`
    // and `x.sum()` read tiles of the file inside their own tasks, in place
    // (little-endian, after a header of 8 bytes) or copied (big-endian,
    // Fortran order).
    let dir = TempDir::new("imageio", "raw-tiles");
    let n = 450;
    let a = ArrayD::from_shape_fn(IxDyn(&[n, n]), |i| {
        (i[0] * 7 + i[1] * 3) as i32 % 1001 - 500
    });
    let want: i64 = a.iter().map(|&v| v as i64).sum();
    let mut le = vec![0u8; 8];
    a.iter()
        .for_each(|v| le.extend_from_slice(&v.to_le_bytes()));
    std::fs::write(dir.path("le.bin"), &le).unwrap();
    let mut be = Vec::new();
    a.t()
        .iter()
        .for_each(|v| be.extend_from_slice(&v.to_be_bytes()));
    std::fs::write(dir.path("be.bin"), &be).unwrap();
    let x = Array::<i32>::from_raw(dir.path("le.bin"), &[n, n], &[300, 300], 8).unwrap();
    let layout = RawLayout::new(&[n, n]).big_endian(true).fortran_order(true);
    let y = Array::<i32>::from_raw_with(dir.path("be.bin"), &layout, &[300, 300]).unwrap();
    for z in [&x, &y] {
        assert_eq!((z + &z.t()).sum().compute_scalar().unwrap(), 2 * want);
        assert_eq!(z.sum().compute_scalar().unwrap(), want);
        assert_eq!(
            (z - &x.t())
                .sum_axis(rask_array::ndarray::Axis(1))
                .compute()
                .unwrap(),
            (&a - &a.t())
                .mapv(i64::from)
                .sum_axis(rask_array::ndarray::Axis(1))
        );
    }
    // A file rewritten after opening fails the tiles read from it, named.
    std::fs::write(dir.path("le.bin"), &le[..le.len() - 4]).unwrap();
    let msg = err_text((&x + &x.t()).sum().compute_scalar());
    // (A tile's read says the file changed; a whole block's, that it shrank.)
    assert!(
        msg.contains("le.bin") && (msg.contains("changed") || msg.contains("shrank")),
        "{msg}"
    );
}

const RAW_ORACLE: &str = r#"
import sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(5)
a = rng.normal(size=(9, 8, 7)).astype(">f4")
with open(f"{d}/a.raw", "wb") as f:
    f.write(b"H" * 100)
    a.tofile(f)
np.save(f"{d}/a.npy", a)
b = rng.integers(0, 65535, size=(30, 40), dtype="<u2")
b.tofile(f"{d}/b.raw")
np.save(f"{d}/b.npy", np.memmap(f"{d}/b.raw", dtype="<u2", mode="r", shape=(30, 40)))
"#;

#[test]
#[cfg_attr(
    not(rask_oracle_numpy),
    ignore = "no Python with NumPy was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn numpy_raw_files_read_as_numpy_reads_them() {
    let Some(python) = python_with("numpy") else {
        return no_oracle("NumPy");
    };
    let dir = TempDir::new("imageio", "rawnp");
    run_oracle(&python, RAW_ORACLE, &dir.0, &[]);
    let layout = RawLayout::new(&[9, 8, 7]).offset(100).big_endian(true);
    let a = Array::<f32>::from_raw_with(dir.path("a.raw"), &layout, &[4, 3, 7]).unwrap();
    assert_eq!(a.compute().unwrap(), npy::<f32>(&dir.path("a.npy")));
    let b = Array::<u16>::from_raw(dir.path("b.raw"), &[30, 40], &[7, 40], 0).unwrap();
    assert_eq!(b.compute().unwrap(), npy::<u16>(&dir.path("b.npy")));
}

// ---------------------------------------------------------------- Zarr

fn sample(shape: &[usize], chunks: impl IntoChunks) -> (ArrayD<f32>, Array<f32>) {
    let a = ArrayD::from_shape_fn(IxDyn(shape), |i| {
        i.slice()
            .iter()
            .enumerate()
            .map(|(k, &v)| (v * (k + 3)) as f32)
            .sum::<f32>()
            - 7.5
    });
    let x = Array::from_ndarray(a.clone(), chunks).unwrap();
    (a, x)
}

#[test]
fn zarr_compression_and_attributes_round_trip() {
    let dir = TempDir::new("imageio", "zopts");
    let (a, x) = sample(&[9, 10], &[4, 5]);
    let sched = Scheduler::current().unwrap();
    for (name, c) in [
        ("none", ZarrCompression::None),
        ("gzip", ZarrCompression::Gzip(5)),
        ("zstd", ZarrCompression::Zstd(3)),
    ] {
        let path = dir.path(name);
        let opts = ZarrWriteOptions::new()
            .compress(c)
            .attribute("units", "DN/s")
            .attribute("wcs", json!({"CRPIX1": 1024.5, "CTYPE1": "HPLN-TAN"}));
        x.to_zarr_with(&path, &opts, &sched).unwrap();
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path.join("zarr.json")).unwrap()).unwrap();
        assert_eq!(meta["attributes"]["units"], "DN/s");
        assert_eq!(meta["attributes"]["wcs"]["CTYPE1"], "HPLN-TAN");
        let codecs = meta["codecs"].to_string();
        match c {
            ZarrCompression::Gzip(_) => assert!(codecs.contains("gzip"), "{codecs}"),
            ZarrCompression::Zstd(_) => assert!(codecs.contains("zstd"), "{codecs}"),
            ZarrCompression::None => assert!(!codecs.contains("zstd"), "{codecs}"),
        }
        let back = Array::<f32>::from_zarr(&path).unwrap();
        assert_eq!(back.compute().unwrap(), a, "{name}");
    }
    // A bad level names the path and writes nothing.
    let bad = dir.path("bad");
    let msg = err_text(x.to_zarr_with(&bad, &ZarrWriteOptions::new().zstd(99), &sched));
    assert!(msg.contains("bad") && msg.contains("zstd"), "{msg}");
    assert!(!bad.exists());
    // to_zarr as before: uncompressed.
    x.to_zarr(dir.path("plain")).unwrap();
    let meta = std::fs::read_to_string(dir.path("plain/zarr.json")).unwrap();
    assert!(!meta.contains("zstd") && !meta.contains("gzip"), "{meta}");
}

#[test]
fn zarr_region_writes_land_where_numpy_would_put_them() {
    let dir = TempDir::new("imageio", "region");
    let path = dir.path("z");
    Array::<f32>::zeros(&[12, 10], &[4, 5])
        .unwrap()
        .to_zarr(&path)
        .unwrap();
    let mut want = ArrayD::<f32>::zeros(IxDyn(&[12, 10]));
    // Aligned blocks; the region's edges cover stored chunks partly.
    let blocks = Chunks::new(vec![vec![2, 4, 1], vec![5, 3]], &[7, 8]).unwrap();
    let (a, x) = sample(&[7, 8], blocks);
    x.to_zarr_region(&path, &[2, 0]).unwrap();
    want.slice_mut(rask_array::ndarray::s![2..9, 0..8])
        .assign(&a);
    let (b, y) = sample(&[3, 3], &[3, 3]);
    y.to_zarr_region(&path, &[9, 7]).unwrap();
    want.slice_mut(rask_array::ndarray::s![9..12, 7..10])
        .assign(&b);
    assert_eq!(
        Array::<f32>::from_zarr(&path).unwrap().compute().unwrap(),
        want
    );
    // Misaligned: two blocks would share a stored chunk. Nothing written.
    let before = Array::<f32>::from_zarr(&path).unwrap().compute().unwrap();
    let (_, m) = sample(&[8, 5], &[3, 5]);
    let msg = err_text(m.to_zarr_region(&path, &[0, 0]));
    assert!(
        msg.contains(path.to_str().unwrap()) && msg.contains("lock"),
        "{msg}"
    );
    // Outside the array; wrong element type; wrong number of axes.
    let msg = err_text(m.to_zarr_region(&path, &[5, 0]));
    assert!(
        msg.contains(path.to_str().unwrap()) && msg.contains("inside"),
        "{msg}"
    );
    let msg = err_text(m.astype::<f64>().to_zarr_region(&path, &[0, 0]));
    assert!(msg.contains("float32"), "{msg}");
    let msg = err_text(m.to_zarr_region(&path, &[0]));
    assert!(msg.contains("axes"), "{msg}");
    assert_eq!(
        Array::<f32>::from_zarr(&path).unwrap().compute().unwrap(),
        before
    );
}

/// A Zarr v3 array of f32 with `shape` and the chunk grid `grid` (its JSON),
/// written by hand as other tools write them.
fn hand_made_zarr(path: &std::path::Path, shape: &str, grid: &str) {
    std::fs::create_dir_all(path).unwrap();
    let meta = format!(
        r#"{{"zarr_format":3,"node_type":"array","shape":{shape},"data_type":"float32",
        "chunk_grid":{grid},
        "chunk_key_encoding":{{"name":"default","configuration":{{"separator":"/"}}}},
        "fill_value":0.0,"codecs":[{{"name":"bytes","configuration":{{"endian":"little"}}}}]}}"#
    );
    std::fs::write(path.join("zarr.json"), meta).unwrap();
}

#[test]
fn a_stored_chunk_larger_than_memory_is_an_error_not_an_abort() {
    let dir = TempDir::new("imageio", "huge-chunk");
    let path = dir.path("huge");
    // A few hundred bytes of metadata declaring one chunk of 2^62 bytes
    // (no chunk files: the fill value stands for them).
    hand_made_zarr(
        &path,
        "[1073741824, 1073741824]",
        r#"{"name":"regular","configuration":{"chunk_shape":[1073741824,1073741824]}}"#,
    );
    let x = Array::<f32>::from_zarr(&path).unwrap();
    let msg = err_text(x.compute());
    assert!(
        msg.contains("cannot hold a block") && msg.contains("smaller blocks"),
        "{msg}"
    );
}

#[test]
fn region_writes_follow_the_stores_own_chunk_grid() {
    let dir = TempDir::new("imageio", "grid");
    // Started empty along time with chunks of 10 (as zarr-python makes an
    // array to append to): blocks of 3 would share the first chunk.
    let path = dir.path("empty");
    hand_made_zarr(
        &path,
        "[0, 4]",
        r#"{"name":"regular","configuration":{"chunk_shape":[10,4]}}"#,
    );
    let (_, x) = sample(&[6, 4], &[3, 4]);
    let msg = err_text(x.append_to_zarr(&path, rask_array::ndarray::Axis(0)));
    assert!(msg.contains("element 3") && msg.contains("lock"), "{msg}");
    assert_eq!(Array::<f32>::from_zarr(&path).unwrap().shape(), &[0, 4]);
    // Blocks meeting at 10 only: written, every row.
    let (a, y) = sample(&[12, 4], &[10, 4]);
    y.append_to_zarr(&path, rask_array::ndarray::Axis(0))
        .unwrap();
    assert_eq!(
        Array::<f32>::from_zarr(&path).unwrap().compute().unwrap(),
        a
    );
    // A rectangular grid (chunks 10, 5, 10): blocks meeting at 20, inside
    // the chunk of 15..25, are refused; at 10 and 15 they are not.
    let path = dir.path("rect");
    hand_made_zarr(
        &path,
        "[25, 4]",
        r#"{"name":"rectangular","configuration":{"chunk_shape":[[10,5,10],4]}}"#,
    );
    let (_, bad) = sample(&[25, 4], &[10, 4]);
    let msg = err_text(bad.to_zarr_region(&path, &[0, 0]));
    assert!(
        msg.contains("element 20") && msg.contains("starts at element 15"),
        "{msg}"
    );
    let blocks = Chunks::new(vec![vec![10, 5, 10], vec![4]], &[25, 4]).unwrap();
    let (b, good) = sample(&[25, 4], blocks);
    good.to_zarr_region(&path, &[0, 0]).unwrap();
    assert_eq!(
        Array::<f32>::from_zarr(&path).unwrap().compute().unwrap(),
        b
    );
}

#[test]
fn zarr_append_grows_the_array_and_undoes_a_failed_write() {
    let dir = TempDir::new("imageio", "append");
    let path = dir.path("z");
    let (a, x) = sample(&[3, 4, 5], &[2, 4, 5]);
    x.to_zarr(&path).unwrap();
    let (b, y) = sample(&[2, 4, 5], &[2, 4, 5]);
    y.append_to_zarr(&path, rask_array::ndarray::Axis(0))
        .unwrap();
    let (c, z) = sample(&[3, 4, 5], &[1, 4, 5]);
    // Placed from element 5, where stored chunks (of 2) start at 6 and 8,
    // blocks of 1 meet at 7, inside a chunk: refused. Blocks 1, 2 meet at
    // 6 only.
    let msg = err_text(z.append_to_zarr(&path, rask_array::ndarray::Axis(0)));
    assert!(msg.contains("lock"), "{msg}");
    let z = z
        .rechunk(Chunks::new(vec![vec![1, 2], vec![4], vec![5]], &[3, 4, 5]).unwrap())
        .unwrap();
    z.append_to_zarr(&path, rask_array::ndarray::Axis(0))
        .unwrap();
    let want = rask_array::ndarray::concatenate(
        rask_array::ndarray::Axis(0),
        &[a.view(), b.view(), c.view()],
    )
    .unwrap();
    let back = Array::<f32>::from_zarr(&path).unwrap();
    assert_eq!(back.shape(), &[8, 4, 5]);
    assert_eq!(back.compute().unwrap(), want);
    // Along the last axis.
    let (d, w) = sample(&[8, 4, 2], &[2, 4, 2]);
    w.append_to_zarr(&path, rask_array::ndarray::Axis(2))
        .unwrap();
    let want =
        rask_array::ndarray::concatenate(rask_array::ndarray::Axis(2), &[want.view(), d.view()])
            .unwrap();
    assert_eq!(
        Array::<f32>::from_zarr(&path).unwrap().compute().unwrap(),
        want
    );
    // Another shape along another axis: refused, named.
    let (_, v) = sample(&[1, 3, 7], &[1, 3, 7]);
    let msg = err_text(v.append_to_zarr(&path, rask_array::ndarray::Axis(0)));
    assert!(
        msg.contains(path.to_str().unwrap()) && msg.contains("same length"),
        "{msg}"
    );
    // A compute that fails part way puts the old shape back.
    let raw = dir.path("frame.bin");
    std::fs::write(&raw, vec![0u8; 8 * 4 * 7 * 4]).unwrap();
    let f = Array::<f32>::from_raw(&raw, &[8, 4, 7], &[2, 4, 7], 0).unwrap();
    std::fs::write(&raw, [0u8; 10]).unwrap();
    assert!(
        f.append_to_zarr(&path, rask_array::ndarray::Axis(2))
            .is_err()
    );
    let back = Array::<f32>::from_zarr(&path).unwrap();
    assert_eq!(back.shape(), &[8, 4, 7]);
    assert_eq!(back.compute().unwrap(), want);
}

#[test]
fn a_failed_append_leaves_no_chunk_past_the_old_end() {
    let dir = TempDir::new("imageio", "append-undo");
    let path = dir.path("z");
    Array::<f32>::ones(&[2, 3], &[2, 3])
        .unwrap()
        .to_zarr(&path)
        .unwrap();
    // Three blocks of two rows of ones (not the fill value, so stored),
    // the second made with a wrong shape: in order (one thread), the
    // first block is written as a new chunk, then the second fails.
    let rows = Array::<f32>::from_fn(&[6, 3], &[2, 3], |info| {
        let rows = if info.index[0] == 1 { 1 } else { 2 };
        ArrayD::from_elem(IxDyn(&[rows, 3]), 1.0)
    })
    .unwrap();
    let sync = Scheduler::sync();
    assert!(
        rows.append_to_zarr_with(&path, rask_array::ndarray::Axis(0), &sync)
            .is_err()
    );
    assert_eq!(Array::<f32>::from_zarr(&path).unwrap().shape(), &[2, 3]);
    let mut chunk_files = Vec::new();
    let mut stack = vec![path.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "zarr.json" {
                chunk_files.push(p.strip_prefix(&path).unwrap().display().to_string());
            }
        }
    }
    assert_eq!(
        chunk_files,
        vec!["c/0/0".to_string()],
        "chunks left: {chunk_files:?}"
    );
}

/// zarr-python reads rask's compressed stores with their attributes.
const ZARR_ORACLE: &str = r#"
import json, sys
import numpy as np, zarr
d = sys.argv[1]
for name in sys.argv[2:]:
    z = zarr.open_array(f"{d}/{name}", mode="r")
    np.save(f"{d}/{name}.npy", z[...])
    codecs = ",".join(type(c).__name__ for c in z.compressors)
    dims = ",".join(z.metadata.dimension_names or ["-"])
    print(name, codecs, json.dumps(dict(z.attrs), sort_keys=True).replace(" ", ""), dims)
"#;

#[test]
#[cfg_attr(
    not(rask_oracle_zarr),
    ignore = "no Python with zarr-python was found when rask-array was built: set RASK_PYTHON (or run bench/run) and test again"
)]
fn zarr_python_reads_rask_compressed_stores_with_attributes() {
    let Some(python) = python_with("zarr, numpy") else {
        return no_oracle("zarr-python");
    };
    let dir = TempDir::new("imageio", "zpy");
    let sched = Scheduler::current().unwrap();
    let (a, x) = sample(&[6, 9, 5], &[2, 4, 5]);
    let attrs = ZarrWriteOptions::new()
        .attribute("units", "DN")
        .attribute("cdelt", json!([0.6, 0.6]));
    let named = attrs.clone().zstd(0).dimension_names(["t", "y", "x"]);
    x.to_zarr_with(dir.path("zstd"), &named, &sched).unwrap();
    let msg = err_text(x.to_zarr_with(dir.path("bad"), &named.dimension_names(["t"]), &sched));
    assert!(msg.contains("one name per axis"), "{msg}");
    x.to_zarr_with(dir.path("gzip"), &attrs.gzip(6), &sched)
        .unwrap();
    // A store grown by appends and a region write.
    let (_, y) = sample(&[2, 9, 5], &[2, 4, 5]);
    x.to_zarr(dir.path("grown")).unwrap();
    y.append_to_zarr(dir.path("grown"), rask_array::ndarray::Axis(0))
        .unwrap();
    let names = ["zstd", "gzip", "grown"].map(String::from);
    let lines = run_oracle(&python, ZARR_ORACLE, &dir.0, &names);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0][1], "ZstdCodec");
    assert_eq!(lines[0][3], "t,y,x");
    assert_eq!(lines[1][1], "GzipCodec");
    for line in &lines[..2] {
        assert_eq!(line[2], r#"{"cdelt":[0.6,0.6],"units":"DN"}"#);
        assert_eq!(npy::<f32>(&dir.path(&format!("{}.npy", line[0]))), a);
    }
    let grown = npy::<f32>(&dir.path("grown.npy"));
    assert_eq!(grown.shape(), &[8, 9, 5]);
    let want = rask_array::ndarray::concatenate(
        rask_array::ndarray::Axis(0),
        &[a.view(), y.compute().unwrap().view()],
    )
    .unwrap();
    assert_eq!(grown, want);
}

/// A store's shape and chunk shape, a region inside it and blocks for it.
fn region_case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>, Chunks)> {
    proptest::collection::vec((1usize..=10, 1usize..=10), 1..=2)
        .prop_flat_map(|axes| {
            let shape: Vec<usize> = axes.iter().map(|&(n, _)| n).collect();
            let chunk: Vec<usize> = axes.iter().map(|&(n, c)| c.min(n)).collect();
            let starts: Vec<_> = shape.iter().map(|&n| 0..n).collect();
            (Just(shape), Just(chunk), starts)
        })
        .prop_flat_map(|(shape, chunk, start)| {
            let lens: Vec<_> = shape.iter().zip(&start).map(|(&n, &s)| 1..=n - s).collect();
            (Just(shape), Just(chunk), Just(start), lens)
        })
        .prop_flat_map(|(shape, chunk, start, lens)| {
            (Just(shape), Just(chunk), Just(start), chunks_for(lens))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A region write succeeds, and lands where NumPy's `z[region] = x`
    /// would, exactly when every place two blocks meet is a stored chunk
    /// boundary; otherwise it is refused and nothing is written.
    #[test]
    fn region_writes_are_refused_exactly_when_blocks_would_share_a_chunk(
        (shape, chunk, start, blocks) in region_case()
    ) {
        let dir = TempDir::new("imageio", "regionprop");
        let path = dir.path("z");
        Array::<f32>::zeros(&shape, &chunk[..]).unwrap().to_zarr(&path).unwrap();
        let region = blocks.shape();
        let (a, x) = sample(&region, blocks.clone());
        let aligned = (0..shape.len()).all(|axis| {
            let sizes = blocks.axis(axis);
            let mut at = start[axis];
            sizes[..sizes.len() - 1].iter().all(|&len| {
                at += len;
                at % chunk[axis] == 0
            })
        });
        let result = x.to_zarr_region(&path, &start);
        let back = Array::<f32>::from_zarr(&path).unwrap().compute().unwrap();
        let mut want = ArrayD::<f32>::zeros(IxDyn(&shape));
        if aligned {
            prop_assert!(result.is_ok(), "{result:?}");
            let slices: Vec<_> = (0..shape.len())
                .map(|ax| rask_array::ndarray::SliceInfoElem::from(start[ax]..start[ax] + region[ax]))
                .collect();
            want.slice_mut(slices.as_slice()).assign(&a);
        } else {
            let msg = err_text(result);
            prop_assert!(msg.contains("lock"), "{msg}");
        }
        prop_assert_eq!(back, want);
    }
}
