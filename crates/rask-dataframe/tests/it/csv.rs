//! read_csv: byte-range blocks, schema from a sample with overrides,
//! errors naming file and line.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd, ReadCsv};

use crate::support::{assert_frames_eq, data, temp_dir};

/// Writes `df` as CSV with Polars.
fn write_csv(df: &DataFrame, path: &std::path::Path) {
    let mut df = df.clone();
    let mut f = std::fs::File::create(path).unwrap();
    CsvWriter::new(&mut f).finish(&mut df).unwrap();
}

#[test]
fn blocks_of_any_size_read_every_row_once() {
    let dir = temp_dir("csv-blocks");
    let parts = [data(120, 1), data(0, 2), data(75, 3)];
    for (i, p) in parts.iter().enumerate() {
        write_csv(p, &dir.join(format!("f{i}.csv")));
    }
    let want = {
        let mut all = parts[0].clone();
        all.vstack_mut(&parts[1]).unwrap();
        all.vstack_mut(&parts[2]).unwrap();
        all
    };
    let pattern = dir.join("*.csv");
    for blocksize in [1u64, 7, 64, 333, 1 << 20] {
        let d = ReadCsv::new(pattern.to_str().unwrap())
            .blocksize(blocksize)
            .finish()
            .unwrap();
        assert_eq!(d.columns(), ["k", "g", "v", "w"]);
        let got = d.compute().unwrap();
        assert_frames_eq(&got, &want);
        assert_eq!(d.len().unwrap(), want.height());
        // Fused steps with projection into the reader.
        let q = d.filter(col("w").gt(lit(5))).select([col("v"), col("k")]);
        let w = want
            .clone()
            .lazy()
            .filter(col("w").gt(lit(5)))
            .select([col("v"), col("k")])
            .collect()
            .unwrap();
        assert_frames_eq(&q.compute().unwrap(), &w);
    }
}

#[test]
fn dtype_overrides_and_bom() {
    let dir = temp_dir("csv-dtypes");
    let f = dir.join("a.csv");
    std::fs::write(&f, b"\xEF\xBB\xBFid,x\n1,2\n2,3\n3,\n").unwrap();
    let d = ReadCsv::new(f.to_str().unwrap())
        .dtype("x", DataType::Float64)
        .blocksize(5)
        .finish()
        .unwrap();
    assert_eq!(d.columns(), ["id", "x"]);
    assert_eq!(d.dtype("x"), Some(&DataType::Float64));
    assert_eq!(d.dtype("id"), Some(&DataType::Int64));
    let got = d.compute().unwrap();
    let want = df!("id" => [1i64, 2, 3], "x" => [Some(2.0), Some(3.0), None]).unwrap();
    assert_frames_eq(&got, &want);

    let e = ReadCsv::new(f.to_str().unwrap())
        .dtype("nope", DataType::Int32)
        .finish()
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope") && e.contains("a.csv"), "{e}");
}

#[test]
fn header_only_file_gives_no_rows() {
    let dir = temp_dir("csv-header");
    let f = dir.join("h.csv");
    std::fs::write(&f, "a,b\n").unwrap();
    let d = dd::read_csv(f.to_str().unwrap()).unwrap();
    assert_eq!(d.columns(), ["a", "b"]);
    assert_eq!(d.len().unwrap(), 0);
}

#[test]
fn a_bad_row_is_named_by_file_and_line() {
    let dir = temp_dir("csv-bad");
    let mut text = String::from("id,x\n");
    for i in 0..200 {
        text.push_str(&format!("{i},{}\n", i * 2));
    }
    text.push_str("200,oops\n");
    for i in 201..260 {
        text.push_str(&format!("{i},{}\n", i * 2));
    }
    std::fs::write(dir.join("a.csv"), "id,x\n1,2\n").unwrap();
    std::fs::write(dir.join("b.csv"), &text).unwrap();
    for blocksize in [100u64, 1 << 20] {
        let d = ReadCsv::new(dir.join("*.csv").to_str().unwrap())
            .blocksize(blocksize)
            .sample(64)
            .finish()
            .unwrap();
        let e = d.compute().unwrap_err().to_string();
        // The header is line 1, so row `200,oops` is line 202.
        assert!(e.contains("b.csv, line 202"), "{e}");
        assert!(e.contains("oops"), "{e}");
    }
}

#[test]
fn a_ragged_row_is_named_by_file_and_line() {
    let dir = temp_dir("csv-ragged");
    let f = dir.join("r.csv");
    std::fs::write(&f, "a,b\n1,2\n3,4\n5,6,7\n8,9\n").unwrap();
    // In the sample: reading fails at once.
    let e = dd::read_csv(f.to_str().unwrap()).unwrap_err().to_string();
    assert!(e.contains("r.csv, line 4") && e.contains("5,6,7"), "{e}");
    // Past the sample: the block's task fails.
    let e = ReadCsv::new(f.to_str().unwrap())
        .sample(8)
        .blocksize(6)
        .finish()
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("r.csv, line 4") && e.contains("5,6,7"), "{e}");
}

#[test]
fn a_file_cut_short_after_planning_is_an_error_naming_it() {
    let dir = temp_dir("csv-cut");
    let f = dir.join("a.csv");
    write_csv(&data(200, 4), &f);
    let d = ReadCsv::new(f.to_str().unwrap())
        .blocksize(256)
        .finish()
        .unwrap();
    assert!(d.npartitions() > 2);
    // The file loses its second half after the blocks were planned.
    let len = std::fs::metadata(&f).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let e = d.compute().unwrap_err().to_string();
    assert!(
        e.contains("a.csv") && e.contains("cut short") && !e.contains("panicked"),
        "{e}"
    );
}

#[test]
fn separators_and_quotes_that_cannot_split_rows_are_refused() {
    let dir = temp_dir("csv-options");
    let f = dir.join("a.csv");
    write_csv(&data(5, 1), &f);
    let path = f.to_str().unwrap();
    for (sep, quote) in [(b'"', Some(b'"')), (b'\n', Some(b'"')), (b',', Some(b'\r'))] {
        let e = ReadCsv::new(path)
            .separator(sep)
            .quote_char(quote)
            .finish()
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.csv") && e.contains("must differ"), "{e}");
    }
    // No quote character at all is fine.
    let d = ReadCsv::new(path).quote_char(None).finish().unwrap();
    assert_eq!(d.compute().unwrap().height(), 5);
}

#[test]
fn a_blocksize_that_makes_too_many_partitions_is_refused_before_any_read() {
    let dir = temp_dir("csv-tiny-blocks");
    let f = dir.join("big.csv");
    // 32 MiB that take no disk (a sparse file); blocks of 1 byte would be
    // 2^25 partitions.
    std::fs::File::create(&f).unwrap().set_len(1 << 25).unwrap();
    let e = ReadCsv::new(f.to_str().unwrap())
        .blocksize(1)
        .finish()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("big.csv") && e.contains("larger blocksize"),
        "{e}"
    );
}
