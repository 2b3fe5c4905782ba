//! to_csv, CSV rows with quoted newlines across block boundaries, and
//! predicate pushdown into the Parquet reader.

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd, ReadCsv};

use crate::support::{assert_frames_eq, data, random_parts, temp_dir};

fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn to_csv_round_trip() {
    let dir = temp_dir("to-csv");
    let pl = data(200, 71);
    let d = dd::from_partitions(random_parts(&pl, 4, 6)).unwrap();
    assert_eq!(d.to_csv(dir.join("out")).unwrap(), 200);
    assert_eq!(
        file_names(&dir.join("out")),
        ["part.0.csv", "part.1.csv", "part.2.csv", "part.3.csv"],
        "one file per partition, no temporary files left"
    );
    let back = ReadCsv::new(dir.join("out/*.csv").to_str().unwrap())
        .blocksize(300)
        .finish()
        .unwrap();
    assert_frames_eq(&back.compute().unwrap(), &pl);
}

#[test]
fn a_failed_to_csv_leaves_no_files() {
    let dir = temp_dir("to-csv-fail");
    let d = dd::from_polars(data(30, 2), 3).unwrap();
    // A directory in the way of a part file makes its rename fail.
    let out = dir.join("out");
    std::fs::create_dir_all(out.join("part.1.csv")).unwrap();
    std::fs::write(out.join("part.1.csv").join("x"), "x").unwrap();
    let e = d.to_csv(&out).unwrap_err().to_string();
    assert!(e.contains("part.1.csv"), "{e}");
    let leftovers: Vec<String> = file_names(&out)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn quoted_newlines_across_block_boundaries() {
    let dir = temp_dir("csv-quoted");
    // Rows whose text field holds newlines, commas and doubled quotes.
    let mut text = String::from("id,note,x\n");
    let mut ids = Vec::new();
    let mut notes = Vec::new();
    for i in 0..60i64 {
        let note = match i % 5 {
            0 => format!("line one\nline two of {i}"),
            1 => format!("plain {i}"),
            2 => format!("a \"quoted\" word,\nand\n\nmore {i}"),
            3 => "\n".to_string(),
            _ => format!("\"{i}\""),
        };
        let quoted = note.replace('"', "\"\"");
        text.push_str(&format!("{i},\"{quoted}\",{}\n", i * 2));
        ids.push(i);
        notes.push(note);
    }
    std::fs::write(dir.join("q.csv"), &text).unwrap();
    let xs: Vec<i64> = ids.iter().map(|i| i * 2).collect();
    let want = df!("id" => ids, "note" => notes, "x" => xs).unwrap();
    for blocksize in [1u64, 3, 7, 16, 50, 333, 1 << 20] {
        let d = ReadCsv::new(dir.join("q.csv").to_str().unwrap())
            .blocksize(blocksize)
            .finish()
            .unwrap();
        assert_frames_eq(&d.compute().unwrap(), &want);
    }
}

#[test]
fn a_bad_row_after_quoted_newlines_is_named_by_its_line() {
    let dir = temp_dir("csv-quoted-bad");
    let f = dir.join("b.csv");
    std::fs::write(&f, "id,note\n1,\"a\nb\"\n2,ok\nthree,x\n").unwrap();
    let e = ReadCsv::new(f.to_str().unwrap())
        .dtype("id", DataType::Int64)
        .blocksize(4)
        .finish()
        .unwrap()
        .compute()
        .unwrap_err()
        .to_string();
    assert!(e.contains("b.csv") && e.contains("line 5"), "{e}");
}

/// A Parquet file of 4 row groups of 100 rows, `w` sorted (so each row
/// group's statistics cover a separate range), with the data pages of row
/// group 1 overwritten: reading it fails unless the reader skips it.
fn file_with_a_broken_row_group(path: &std::path::Path) -> DataFrame {
    let w: Vec<i64> = (0..400).collect();
    let v: Vec<f64> = (0..400).map(|i| i as f64 / 2.0).collect();
    let mut pl = df!("w" => w, "v" => v).unwrap();
    let f = std::fs::File::create(path).unwrap();
    ParquetWriter::new(f)
        .with_row_group_size(Some(100))
        .with_compression(ParquetCompression::Uncompressed)
        .finish(&mut pl)
        .unwrap();
    let meta = ParquetReader::new(std::fs::File::open(path).unwrap())
        .get_metadata()
        .unwrap()
        .clone();
    assert_eq!(meta.row_groups.len(), 4);
    let mut bytes = std::fs::read(path).unwrap();
    for r in meta.row_groups[1].byte_ranges_iter() {
        for b in &mut bytes[r.start as usize..r.end as usize] {
            *b = 0xAB;
        }
    }
    std::fs::write(path, bytes).unwrap();
    pl
}

#[test]
fn a_filter_after_read_parquet_skips_row_groups_by_statistics() {
    let dir = temp_dir("pq-pushdown");
    let path = dir.join("f.parquet");
    let pl = file_with_a_broken_row_group(&path);
    for per_part in [1, 2, 4] {
        let d = dd::ReadParquet::new(path.to_str().unwrap())
            .row_groups_per_partition(per_part)
            .finish()
            .unwrap();
        // Without a filter the broken row group is read, and fails.
        assert!(d.compute().is_err());
        // Row group 1 holds w in 100..200; this filter excludes it.
        let q = d.filter(col("w").lt(lit(50)).or(col("w").gt_eq(lit(250))));
        let want = pl
            .clone()
            .lazy()
            .filter(col("w").lt(lit(50)).or(col("w").gt_eq(lit(250))))
            .collect()
            .unwrap();
        assert_frames_eq(&q.compute().unwrap(), &want);
        // Through a projection too.
        let q = d
            .select([col("v"), col("w")])
            .filter(col("w").gt(lit(300)))
            .select([col("v")]);
        assert_eq!(q.len().unwrap(), 99);
    }
}
