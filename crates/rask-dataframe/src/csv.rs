//! Reading CSV files split into byte ranges.
//!
//! Each file is cut into blocks of `blocksize` bytes. Block `[s, e)` owns
//! the rows that *start* in it: it begins at the first row start at or
//! after `s` (after the header in a file's first block) and ends at the
//! first row start at or after `e`, so every row is read by exactly one
//! block whatever the block size.
//!
//! **Quoted newlines.** A row starts after a newline *outside* quotes; a
//! quoted field may hold newlines. A block's task learns whether its first
//! byte is inside quotes from the parity of the quote characters of the
//! blocks before it, counted once per block and cached per file in the
//! process (see `csv_rows`), then finds its first and last rows with
//! quote-aware scans. `ReadCsv::quote_char(None)` turns quoting off.
//!
//! The schema comes from a sample at the start of the first file (column
//! names from its header, types inferred by Polars from the sample's rows),
//! with per-column overrides. A row that does not parse fails its block's
//! task with the file and the line number: the block's first line number is
//! counted only then, and the bad line is found by bisecting the block.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use polars::prelude::{
    CsvParseOptions, CsvReadOptions, DataFrame as PlFrame, DataType, PlSmallStr, Schema, SchemaRef,
    SerReader,
};
use rask_core::{Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::csv_rows::{Syntax, file_states, next_row_start, read_at};
use crate::files;
use crate::frame::{DataFrame, Reader, Source};
use crate::kernels::{Part, polars_pool};
use crate::steps::{SerSchema, Step, run_steps};

/// Options of [`read_csv`], as a builder.
///
/// ```
/// # use rask_local as _;
/// use rask_dataframe::{ReadCsv, polars::prelude::DataType};
/// let dir = std::env::temp_dir().join(format!("rask-doc-csv-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("a.csv"), "id,x\n1,2.5\n2,3.5\n").unwrap();
/// let df = ReadCsv::new(dir.join("*.csv").to_str().unwrap())
///     .blocksize(8)
///     .dtype("id", DataType::Int32)
///     .finish()
///     .unwrap();
/// assert_eq!(df.dtype("id"), Some(&DataType::Int32));
/// assert_eq!(df.len().unwrap(), 2);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct ReadCsv {
    pattern: String,
    blocksize: u64,
    sample: usize,
    separator: u8,
    has_header: bool,
    quote: Option<u8>,
    dtypes: Vec<(String, DataType)>,
    categorical: Vec<String>,
}

/// Reads the CSV files matching `pattern` (a path or a glob), each split
/// into blocks of 64 MiB; see [`ReadCsv`] for options.
pub fn read_csv(pattern: impl AsRef<str>) -> Result<DataFrame> {
    ReadCsv::new(pattern).finish()
}

impl ReadCsv {
    /// Options for the files matching `pattern`.
    pub fn new(pattern: impl AsRef<str>) -> Self {
        ReadCsv {
            pattern: pattern.as_ref().to_string(),
            blocksize: 64 << 20,
            sample: 256 << 10,
            separator: b',',
            has_header: true,
            quote: Some(b'"'),
            dtypes: Vec::new(),
            categorical: Vec::new(),
        }
    }

    /// Bytes per block (partition); at least 1. Default 64 MiB.
    pub fn blocksize(mut self, bytes: u64) -> Self {
        self.blocksize = bytes.max(1);
        self
    }

    /// Bytes at the start of the first file from which types are
    /// inferred. Default 256 KiB.
    pub fn sample(mut self, bytes: usize) -> Self {
        self.sample = bytes.max(1);
        self
    }

    /// The field separator. Default `,`.
    pub fn separator(mut self, separator: u8) -> Self {
        self.separator = separator;
        self
    }

    /// Whether files start with a header line of column names (default
    /// `true`; without one, columns are named `column_1`, `column_2`, …).
    pub fn has_header(mut self, yes: bool) -> Self {
        self.has_header = yes;
        self
    }

    /// The quote character (default `"`), or `None` for files without
    /// quoting. With quoting on, a quoted field may hold newlines, commas
    /// and doubled quotes, whatever the block size.
    pub fn quote_char(mut self, quote: Option<u8>) -> Self {
        self.quote = quote;
        self
    }

    /// Reads string column `name` as a categorical whose categories are the
    /// same in every partition (see [`DataFrame::cast_categorical`]; the
    /// categories are found when [`ReadCsv::finish`] runs).
    pub fn categorical(mut self, name: impl Into<String>) -> Self {
        self.categorical.push(name.into());
        self
    }

    /// The type of column `name`, instead of the inferred one.
    pub fn dtype(mut self, name: impl Into<String>, dtype: DataType) -> Self {
        self.dtypes.push((name.into(), dtype));
        self
    }

    /// Lists the files, infers the schema and plans the blocks.
    pub fn finish(self) -> Result<DataFrame> {
        let ends_rows = |b: u8| b == b'\n' || b == b'\r';
        if ends_rows(self.separator)
            || self.quote.is_some_and(ends_rows)
            || self.quote == Some(self.separator)
        {
            return Err(rask_core::Error::invalid(
                "csv options",
                format!(
                    "{}: the separator {:?} and quote {:?} must differ, and neither may end \
                     rows (a newline or carriage return)",
                    self.pattern,
                    char::from(self.separator),
                    self.quote.map(char::from)
                ),
            ));
        }
        let paths = files::expand("csv pattern", &self.pattern)?;
        let sizes = paths
            .iter()
            .map(|path| {
                std::fs::metadata(path)
                    .map(|m| m.len())
                    .map_err(|e| files::io(path.clone(), e))
            })
            .collect::<Result<Vec<u64>>>()?;
        let count: u64 = sizes
            .iter()
            .map(|&n| n.div_ceil(self.blocksize).max(1))
            .sum();
        if count > crate::MAX_PARTITIONS as u64 {
            return Err(rask_core::Error::invalid(
                "csv blocksize",
                format!(
                    "{}: blocks of {} bytes cut the files into {count} partitions, more than {}; \
                     use a larger blocksize (it is in bytes)",
                    self.pattern,
                    self.blocksize,
                    crate::MAX_PARTITIONS
                ),
            ));
        }
        let schema = self.infer_schema(&paths[0])?;
        let mut blocks = Vec::new();
        for (file, &size) in sizes.iter().enumerate() {
            let mut start = 0;
            loop {
                let end = (start + self.blocksize).min(size);
                blocks.push(Block { file, start, end });
                if end >= size {
                    break;
                }
                start = end;
            }
        }
        let token = crate::frame::layer_name(
            "read_csv",
            &(
                &paths,
                &blocks,
                SerSchema(schema.clone()),
                self.separator,
                self.has_header,
                self.quote,
            ),
            &[],
        );
        let reader = CsvSource {
            paths: paths
                .into_iter()
                .map(|p| p.to_string_lossy().into())
                .collect(),
            blocks,
            schema,
            separator: self.separator,
            has_header: self.has_header,
            quote: self.quote,
            blocksize: self.blocksize,
            token,
        };
        let df = DataFrame::from_source(Source::Read(Arc::new(reader)), None);
        if self.categorical.is_empty() {
            return Ok(df);
        }
        df.cast_categorical(&self.categorical)
    }

    fn infer_schema(&self, path: &Path) -> Result<SchemaRef> {
        let mut f = File::open(path).map_err(|e| files::io(path, e))?;
        let mut buf = Vec::new();
        (&mut f)
            .take(self.sample as u64)
            .read_to_end(&mut buf)
            .map_err(|e| files::io(path, e))?;
        strip_bom(&mut buf);
        let whole = f.read(&mut [0u8]).map_err(|e| files::io(path, e))? == 0;
        let syntax = Syntax { quote: self.quote };
        if !whole && let Some(last) = syntax.row_starts(&buf).last().copied() {
            buf.truncate(last);
        }
        let bad = |msg: String| {
            rask_core::Error::invalid(
                "csv file",
                format!(
                    "{}: the schema cannot be inferred from its first {} bytes: {msg}; \
                     give the columns' types with ReadCsv::dtype",
                    path.display(),
                    buf.len()
                ),
            )
        };
        let infer = |bytes: &[u8]| {
            crate::steps::planned(|| {
                CsvReadOptions::default()
                    .with_has_header(self.has_header)
                    .with_infer_schema_length(None)
                    .with_n_threads(Some(1))
                    .with_raise_if_empty(false)
                    .with_parse_options(
                        CsvParseOptions::default()
                            .with_separator(self.separator)
                            .with_quote_char(self.quote),
                    )
                    .into_reader_with_file_handle(std::io::Cursor::new(bytes))
                    .finish()
            })
        };
        let df =
            infer(&buf).map_err(
                |e| match first_bad_line(&buf, syntax, |b| infer(b).is_err()) {
                    Some((line, text)) => rask_core::Error::invalid(
                        "csv file",
                        format!(
                            "{}, line {line}: the row `{text}` does not parse: {e}; fix the row",
                            path.display()
                        ),
                    ),
                    None => bad(e.to_string()),
                },
            )?;
        let mut schema: Schema = (**df.schema()).clone();
        for (name, dtype) in &self.dtypes {
            if !schema.contains(name) {
                return Err(rask_core::Error::invalid(
                    "csv dtype",
                    format!(
                        "{}: there is no column `{name}`; its columns are {}",
                        path.display(),
                        crate::frame::fmt_schema(&schema)
                    ),
                ));
            }
            schema.with_column(PlSmallStr::from(name.as_str()), dtype.clone());
        }
        Ok(Arc::new(schema))
    }
}

/// A UTF-8 byte order mark at the start of a file is not data.
fn strip_bom(buf: &mut Vec<u8>) {
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        buf.drain(..3);
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Block {
    file: usize,
    start: u64,
    end: u64,
}

struct CsvSource {
    paths: Vec<String>,
    blocks: Vec<Block>,
    schema: SchemaRef,
    separator: u8,
    has_header: bool,
    quote: Option<u8>,
    blocksize: u64,
    token: Arc<str>,
}

impl Reader for CsvSource {
    fn npartitions(&self) -> usize {
        self.blocks.len()
    }
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }
    fn token(&self) -> &str {
        &self.token
    }
    fn op(&self, i: usize, steps: &[Step], columns: Option<&[String]>) -> Op {
        let b = self.blocks[i];
        Op::kernel(ReadCsvBlock {
            path: self.paths[b.file].clone(),
            start: b.start,
            end: b.end,
            header: self.has_header,
            separator: self.separator,
            quote: self.quote,
            blocksize: self.blocksize,
            schema: SerSchema(self.schema.clone()),
            columns: columns.map(<[String]>::to_vec),
            steps: steps.to_vec(),
        })
    }
}

/// Reads one block of a CSV file and runs the partition's steps on it.
#[derive(Serialize, Deserialize)]
struct ReadCsvBlock {
    path: String,
    start: u64,
    end: u64,
    header: bool,
    separator: u8,
    quote: Option<u8>,
    blocksize: u64,
    schema: SerSchema,
    columns: Option<Vec<String>>,
    steps: Vec<Step>,
}

impl rask_core::Kernel for ReadCsvBlock {
    const NAME: &'static str = "rask.dataframe.read_csv";
    fn run(&self, _: &[Value]) -> std::result::Result<Value, TaskError> {
        let (offset, bytes) = self
            .block_bytes()
            .map_err(|e| TaskError::failed(format!("{}: cannot read: {e}", self.path)))?;
        let df = polars_pool(|| self.parse(&bytes))
            .map_err(|e| TaskError::failed(self.locate(offset, &bytes, &e)))?;
        let out = polars_pool(|| run_steps(&self.steps, df))
            .map_err(|e| TaskError::failed(format!("{}: {e}", self.path)))?;
        Ok(Part::value(out))
    }
}

impl ReadCsvBlock {
    /// The bytes of the rows this block owns, and their offset in the
    /// file.
    fn block_bytes(&self) -> std::io::Result<(u64, Vec<u8>)> {
        let mut f = File::open(&self.path)?;
        let meta = f.metadata()?;
        let size = meta.len();
        if self.start > 0 && self.start >= size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the file has {size} bytes, but this block starts at byte {}: it was cut \
                     short after the dataframe was planned; read it again",
                    self.start
                ),
            ));
        }
        let syntax = self.syntax();
        let states = file_states(&self.path, &meta, self.blocksize, syntax);
        // Where the first owned row starts.
        let begin = if self.start == 0 {
            let bom = {
                let mut b = [0u8; 3];
                let n = read_at(&mut f, 0, &mut b)?;
                if n == 3 && b == [0xEF, 0xBB, 0xBF] {
                    3
                } else {
                    0
                }
            };
            if self.header {
                next_row_start(&mut f, bom, false, syntax, size)?
            } else {
                bom
            }
        } else {
            states.row_start(&mut f, self.start)?
        };
        if begin >= self.end {
            return Ok((begin, Vec::new()));
        }
        let end = if self.end >= size {
            size
        } else {
            states.row_start(&mut f, self.end)?
        };
        let mut buf = vec![0u8; (end - begin) as usize];
        f.seek(SeekFrom::Start(begin))?;
        f.read_exact(&mut buf)?;
        Ok((begin, buf))
    }

    fn syntax(&self) -> Syntax {
        Syntax { quote: self.quote }
    }

    fn options(&self) -> CsvReadOptions {
        CsvReadOptions::default()
            .with_has_header(false)
            .with_schema(Some(self.schema.0.clone()))
            .with_n_threads(Some(1))
            .with_raise_if_empty(false)
            .with_columns(
                self.columns
                    .as_ref()
                    .map(|c| c.iter().map(|s| PlSmallStr::from(s.as_str())).collect()),
            )
            .with_parse_options(
                CsvParseOptions::default()
                    .with_separator(self.separator)
                    .with_quote_char(self.quote),
            )
    }

    fn parse(&self, bytes: &[u8]) -> polars::prelude::PolarsResult<PlFrame> {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            let schema = match &self.columns {
                Some(c) => self.schema.0.try_project(c.iter().map(|s| s.as_str()))?,
                None => (*self.schema.0).clone(),
            };
            return Ok(PlFrame::empty_with_schema(&schema));
        }
        self.options()
            .into_reader_with_file_handle(std::io::Cursor::new(bytes))
            .finish()
    }

    /// The message of a parse error: file, line and Polars' reason. The
    /// failing line is found by bisecting the block's lines (a handful of
    /// parses of shrinking prefixes), and its number by counting the
    /// newlines before the block.
    fn locate(&self, offset: u64, bytes: &[u8], err: &polars::prelude::PolarsError) -> String {
        let Some((lo, text)) = first_bad_line(bytes, self.syntax(), |b| self.parse(b).is_err())
        else {
            return format!("{}: {err}", self.path);
        };
        let before = count_newlines(&self.path, offset).unwrap_or(0);
        let line = before + lo as u64;
        format!(
            "{}, line {line}: the row `{text}` does not parse: {err}; fix the row, or give the \
             column a wider type with ReadCsv::dtype",
            self.path
        )
    }
}

rask_core::register_kernel!(ReadCsvBlock);

/// The first line of `bytes` (1-based) such that `fails` is true of the
/// lines up to it, and its text; `None` when all of `bytes` does not fail.
/// Bisects over line prefixes: a handful of parses of shrinking prefixes.
fn first_bad_line(
    bytes: &[u8],
    syntax: Syntax,
    fails: impl Fn(&[u8]) -> bool,
) -> Option<(usize, String)> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            syntax
                .row_starts(bytes)
                .into_iter()
                .filter(|&i| i < bytes.len()),
        )
        .collect();
    let prefix = |k: usize| &bytes[..starts.get(k).copied().unwrap_or(bytes.len())];
    let (mut lo, mut hi) = (1usize, starts.len());
    if !fails(prefix(hi)) {
        return None;
    }
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fails(prefix(mid)) {
            hi = mid
        } else {
            lo = mid + 1
        }
    }
    let s = starts[lo - 1];
    let e = starts.get(lo).copied().unwrap_or(bytes.len());
    // The row's line number: the lines before it, plus one.
    let line = 1 + bytes[..s].iter().filter(|&&b| b == b'\n').count();
    Some((
        line,
        String::from_utf8_lossy(&bytes[s..e]).trim_end().to_string(),
    ))
}

/// Number of `\n` in the first `upto` bytes of the file.
fn count_newlines(path: &str, upto: u64) -> std::io::Result<u64> {
    let f = File::open(path)?;
    let mut r = std::io::BufReader::new(f.take(upto));
    let mut buf = [0u8; 64 << 10];
    let mut count = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(count);
        }
        count += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}
