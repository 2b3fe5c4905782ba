//! Partition operations as registered kernels, so a dataframe's graph can
//! leave the process (see `rask_core::kernel`).
//!
//! A partition is a [`Part`]: a Polars `DataFrame` with a real size and a
//! codec (Arrow IPC, Polars' own serde of frames), so partitions can travel
//! between workers and be spilled.
//!
//! **Threads.** rask runs partitions in parallel, one task per thread. Every
//! kernel runs its Polars work through `polars_pool`, which moves it onto
//! Polars' own thread pool (`POOL.install`) and blocks the rask thread until
//! it is done: Polars' nested parallelism then shares that one pool, so the
//! threads doing work never outnumber Polars' pool (`POLARS_MAX_THREADS`,
//! by default one per core) however many partitions rask runs at once.
//! Readers are also told to use one thread (`n_threads`, no parallel
//! row-group decoding), since the parallelism is across partitions.
//! Partition plans run on Polars' streaming engine where it implements
//! them (`collect`).

use polars::prelude::{Column, DataFrame as PlFrame, DataType, Engine, LazyFrame, PolarsError};
use polars_core::query_result::QueryResult;
use rask_core::{SizeOf, TaskError, Value};
use serde::{Deserialize, Serialize};

/// One partition of a dataframe: a Polars frame that knows its size and
/// travels as Arrow IPC.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Part(pub PlFrame);

impl SizeOf for Part {
    fn heap_bytes(&self) -> usize {
        frame_bytes(&self.0)
    }
}

/// The memory of a frame, for the memory manager: Polars'
/// `estimated_size`, with string and binary columns counted as Polars
/// stores them. `estimated_size` counts only their bytes of text, but
/// each row also has a 16-byte view, which holds a string of up to 12
/// bytes inline (so a column of 7-byte strings takes 16 bytes a row, not
/// 7). Longer strings count their bytes once more (the buffers may be
/// shared with other slices; their visible bytes are this frame's share).
pub(crate) fn frame_bytes(df: &PlFrame) -> usize {
    use polars::prelude::DataType;
    // Views of 16 bytes, the bytes of strings too long to inline and the
    // validity bits, over a column's chunks: one pass over the views
    // (`estimated_size` would walk them once more for the text's length).
    macro_rules! views {
        ($ca:expr) => {{
            // Without buffers every string is inline: nothing to walk.
            let long: usize = $ca
                .downcast_iter()
                .filter(|a| a.total_buffer_len() > 0)
                .flat_map(|a| a.views().iter())
                .map(|v| v.length as usize)
                .filter(|&l| l > 12)
                .sum();
            let nulls = if $ca.null_count() > 0 {
                $ca.len().div_ceil(8)
            } else {
                0
            };
            $ca.len() * 16 + long + nulls
        }};
    }
    df.columns()
        .iter()
        .map(|c| {
            // As `estimated_size`: a scalar column counts as materialized.
            let s = c.as_materialized_series();
            match s.dtype() {
                DataType::String => s.str().map_or(0, |ca| views!(ca)),
                DataType::Binary => s.binary().map_or(0, |ca| views!(ca)),
                _ => s.estimated_size(),
            }
        })
        .sum()
}

rask_core::register_type!(Vec<Part>);
rask_core::register_codec!(Part);

/// A partition travels as its number of rows, then Arrow IPC streams
/// (Polars' own, see [`write_ipc`]), each after its length, written
/// straight into the output or the spill file: its serde form would write
/// the stream into a buffer of its own and copy it again, and spilling a
/// partition would then touch three times its size in fresh memory. Read
/// back, the streams come one at a time through one buffer of a stream's
/// size ([`read_ipc`]), not the whole value at once. The row count catches
/// a stream cut at a batch boundary, which Polars' reader takes for a
/// shorter frame.
impl rask_core::codec::ValueCodec for Part {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.reserve(ipc_size_hint(&self.0));
        write_ipc(&self.0, out).map_err(|e| e.to_string())
    }

    fn encode_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        write_ipc(&self.0, w)
    }

    fn decode_from(bytes: &[u8]) -> Result<Self, String> {
        Self::decode_from_reader(&mut &bytes[..], bytes.len())
    }

    fn decode_from_reader(r: &mut dyn std::io::Read, len: usize) -> Result<Self, String> {
        let mut left = len as u64;
        let df = read_ipc(r, &mut left, &mut Vec::new())?;
        if left > 0 {
            return Err(format!("{left} bytes after the frame"));
        }
        Ok(Part(df))
    }
}

/// Bytes of codec output per Arrow IPC stream of a frame, about.
const STREAM_BYTES: usize = 1 << 20;

/// Bytes a row of `df` takes, about, from its first rows (at most 1,024):
/// enough to cut a frame into streams and to reserve room for its bytes,
/// without walking every string of a large frame once more per spill.
fn row_bytes(df: &PlFrame) -> usize {
    let n = df.height().min(1024);
    frame_bytes(&df.slice(0, n)) / n.max(1) + 1
}

/// About the bytes [`write_ipc`] writes for `df`: its rows, plus each
/// stream's length, schema and each buffer's padding (generous: a
/// reservation short of it would copy the output once more).
pub(crate) fn ipc_size_hint(df: &PlFrame) -> usize {
    let rows = df.height() * row_bytes(df);
    let streams = rows / STREAM_BYTES + 1;
    8 + rows + rows / 8 + streams * (8 + (4 << 10) * df.width().max(1))
}

/// Writes `df` as its height (8 bytes, little-endian), then its rows as
/// Arrow IPC streams of about [`STREAM_BYTES`] each (one stream for an
/// empty frame), each after its length in bytes (8, little-endian), so
/// that a reader can take one stream at a time. Each stream is encoded
/// into one buffer reused for all of them (Polars' writer encodes each
/// record batch into a buffer of its own anyway: small batches keep that
/// buffer small and reused, where one batch of a whole partition would be
/// a fresh buffer of its size at every spill).
pub(crate) fn write_ipc(df: &PlFrame, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let height = df.height();
    w.write_all(&(height as u64).to_le_bytes())?;
    let rows = (STREAM_BYTES / row_bytes(df)).max(1024);
    let mut stream = Vec::new();
    let mut at = 0;
    loop {
        let n = rows.min(height - at);
        stream.clear();
        df.slice(at as i64, n)
            .serialize_into_writer(&mut stream)
            .map_err(std::io::Error::other)?;
        w.write_all(&(stream.len() as u64).to_le_bytes())?;
        w.write_all(&stream)?;
        at += n;
        if at >= height {
            return Ok(());
        }
    }
}

/// Reads 8 bytes (a little-endian `u64`, `what`) of at most `left` more.
pub(crate) fn read_word(
    r: &mut dyn std::io::Read,
    left: &mut u64,
    what: &str,
) -> Result<u64, String> {
    let mut word = [0u8; 8];
    if *left < 8 || r.read_exact(&mut word).is_err() {
        return Err(format!("cut short in {what}"));
    }
    *left -= 8;
    Ok(u64::from_le_bytes(word))
}

/// Reads a frame [`write_ipc`] wrote, from at most `left` more bytes of
/// `r` (less what it reads), one stream at a time through `stream` (a
/// buffer of one stream's size, reused). The frame has a chunk per stream.
pub(crate) fn read_ipc(
    r: &mut dyn std::io::Read,
    left: &mut u64,
    stream: &mut Vec<u8>,
) -> Result<PlFrame, String> {
    let height = read_word(r, left, "a frame's row count")?;
    let mut df: Option<PlFrame> = None;
    let mut rows = 0u64;
    loop {
        let n = read_word(r, left, "a frame's stream length")?;
        if n > *left {
            return Err(format!(
                "an Arrow IPC stream of {n} bytes where {left} are left"
            ));
        }
        stream.clear();
        stream.resize(n as usize, 0);
        r.read_exact(stream)
            .map_err(|e| format!("the frame's Arrow IPC stream cannot be read: {e}"))?;
        *left -= n;
        let mut cursor = std::io::Cursor::new(&stream[..]);
        let part = PlFrame::deserialize_from_reader(&mut cursor).map_err(|e| e.to_string())?;
        // A whole stream ends with the end-of-stream marker (the
        // continuation word, then a message of length 0) and its length.
        if cursor.position() != n || !stream.ends_with(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]) {
            return Err("the frame's Arrow IPC stream is cut short".into());
        }
        rows += part.height() as u64;
        if part.height() == 0 && height > 0 {
            return Err("an empty Arrow IPC stream in a frame of rows".into());
        }
        match &mut df {
            None => df = Some(part),
            Some(df) => {
                df.vstack_mut_owned(part).map_err(|e| e.to_string())?;
            }
        }
        if rows >= height {
            break;
        }
    }
    if rows != height {
        return Err(format!(
            "the frame has {rows} rows where {height} were written"
        ));
    }
    df.ok_or_else(|| "no Arrow IPC stream".to_string())
}

impl Part {
    /// Wraps a frame as a task value.
    pub(crate) fn value(df: PlFrame) -> Value {
        Value::sized(Part(df))
    }
}

/// Runs `f` on Polars' thread pool and waits for it (see the module docs).
pub(crate) fn polars_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    polars_core::runtime::THREAD_POOL.install(f)
}

/// Runs a partition's lazy plan with Polars' streaming engine, which does
/// group-bys, joins and scans morsel by morsel and is about twice as fast
/// per thread as its in-memory engine (the `df-groupby-low` query on the
/// benchmark's 10 files, one thread: 0.275 s against 0.882 s, and 0.522 s
/// file by file as rask's tasks ran it). A plan the streaming engine does
/// not implement yet (it panics with "not yet implemented", which Polars'
/// own automatic mode catches the same way) runs on the in-memory engine;
/// any other panic is passed on. Polars' streaming engine runs on Polars'
/// thread pool, like everything else a kernel does (see `polars_pool`).
pub(crate) fn collect(lf: LazyFrame) -> Result<PlFrame, PolarsError> {
    let streaming = lf.clone();
    let run =
        std::panic::AssertUnwindSafe(move || streaming.collect_with_engine(Engine::Streaming));
    match std::panic::catch_unwind(run) {
        Ok(Ok(QueryResult::Single(df))) => Ok(df),
        Ok(Ok(QueryResult::Multiple(_))) => lf.collect(),
        Ok(Err(e)) => Err(e),
        Err(payload) => {
            let unimplemented = payload
                .downcast_ref::<&str>()
                .map(|s| s.starts_with("not yet implemented"))
                .or_else(|| {
                    payload
                        .downcast_ref::<String>()
                        .map(|s| s.starts_with("not yet implemented"))
                })
                .unwrap_or(false);
            if unimplemented {
                lf.collect()
            } else {
                std::panic::resume_unwind(payload)
            }
        }
    }
}

/// A Polars error as a task error.
pub(crate) fn failed(e: PolarsError) -> TaskError {
    TaskError::failed(e.to_string())
}

/// The frame of argument `i`.
pub(crate) fn part_arg(args: &[Value], i: usize) -> Result<&PlFrame, TaskError> {
    Ok(&args[i].get::<Part>(i)?.0)
}

/// `c` in one chunk if it is a string or binary column of several.
///
/// Polars gathers rows (`take`) from a view column of several chunks
/// value by value, copying each string into a new array: on
/// `df-set-index` that was a tenth of the run's CPU time. From one
/// chunk it copies the 16-byte views and shares the string buffers.
/// Putting the chunks together copies the views once (the buffers are
/// shared). Other types gather from several chunks as fast as from one.
pub(crate) fn views_in_one_chunk(c: &Column) -> Column {
    if c.n_chunks() > 1 && matches!(c.dtype(), DataType::String | DataType::Binary) {
        c.rechunk()
    } else {
        c.clone()
    }
}

/// `df` with its string and binary columns in one chunk each (see
/// [`views_in_one_chunk`]), for gathers of its rows.
pub(crate) fn strings_in_one_chunk(df: &PlFrame) -> Result<PlFrame, PolarsError> {
    PlFrame::new(df.height(), df.apply_columns(views_in_one_chunk))
}

/// Stacks frames of one schema vertically, in order.
pub(crate) fn concat(frames: impl IntoIterator<Item = PlFrame>) -> Result<PlFrame, PolarsError> {
    let mut it = frames.into_iter();
    let Some(mut out) = it.next() else {
        return Ok(PlFrame::empty());
    };
    for f in it {
        out.vstack_mut_owned(f)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::{Part, frame_bytes};
    use rask_core::codec::ValueCodec;

    /// A reader of at most 7 bytes per call.
    struct Trickle<'a>(&'a [u8]);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = out.len().min(7).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn large_frames_travel_as_several_streams_and_come_back_whole() {
        let n = 150_000;
        let df = df!(
            "i" => (0..n as i64).collect::<Vec<_>>(),
            "s" => (0..n).map(|i| format!("kind-{}", i % 977)).collect::<Vec<_>>(),
            "f" => (0..n).map(|i| (i % 5 != 0).then_some(i as f64 * 0.5)).collect::<Vec<_>>(),
        )
        .unwrap();
        for frame in [df.clone(), df.slice(1000, 0), df.slice(7, 70_001)] {
            let mut bytes = Vec::new();
            Part(frame.clone()).encode_into(&mut bytes).unwrap();
            let mut streamed = Vec::new();
            Part(frame.clone()).encode_to(&mut streamed).unwrap();
            assert_eq!(bytes, streamed);
            let back = Part::decode_from(&bytes).unwrap().0;
            assert!(back.equals_missing(&frame));
            assert_eq!(back.schema(), frame.schema());
            // Streamed back from a reader that hands out a few bytes at a
            // time, as from a spill file; a byte more is an error.
            let mut reader = Trickle(&bytes[..]);
            let back = Part::decode_from_reader(&mut reader, bytes.len())
                .unwrap()
                .0;
            assert!(back.equals_missing(&frame));
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Part::decode_from(&longer).is_err());
            // Cut anywhere (at stream boundaries too), the frame is an error.
            for k in 1..60 {
                let cut = bytes.len() * k / 60;
                assert!(Part::decode_from(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        // A frame of rows but no columns keeps its height.
        let mut bytes = Vec::new();
        Part(DataFrame::empty_with_height(5))
            .encode_into(&mut bytes)
            .unwrap();
        assert_eq!(Part::decode_from(&bytes).unwrap().0.height(), 5);
        // 150,000 rows of about 40 bytes: several streams.
        let mut bytes = Vec::new();
        Part(df).encode_into(&mut bytes).unwrap();
        let streams = bytes
            .windows(8)
            .filter(|w| *w == [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
            .count();
        assert!(streams >= 3, "{streams} streams");
    }

    #[test]
    fn frames_count_string_views_as_polars_stores_them() {
        let n = 1000;
        let df = df!(
            "i" => vec![1i64; n],
            "short" => vec!["PK-0851"; n],
            "long" => vec!["a string of 24 bytes...."; n],
        )
        .unwrap();
        // i64: 8 a row; short strings: a 16-byte view each (inline);
        // long ones: a view and their 24 bytes.
        assert_eq!(frame_bytes(&df), n * 8 + n * 16 + n * (16 + 24));
        // Polars' own estimate counts the text only.
        assert_eq!(df.estimated_size(), n * 8 + n * 7 + n * 24);
        // A slice counts its own rows.
        assert_eq!(frame_bytes(&df.slice(0, 10)), 10 * (8 + 16 + 40));
    }
}
