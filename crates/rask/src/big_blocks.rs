//! The global allocator of the `mimalloc` feature on Linux: mimalloc for
//! everything but large blocks, which are mapped from the system and kept,
//! when freed, in a pool that never holds more than the program once used.
//!
//! # Why
//!
//! Array work allocates and frees blocks of several MiB all the time: a
//! block read, its halo'd copy, a filtered image, a compressed chunk.
//! Handing each back to the system at once (as glibc's `malloc` does above
//! its mmap threshold) makes the next allocation fault its pages in again
//! and the kernel zero them. mimalloc keeps freed memory for a while
//! instead, so blocks are reused warm, but what it keeps is bounded by
//! time, not size, and blocks of mixed sizes (a halo'd block is a little
//! larger than its neighbour) fragment its arenas, so that back-to-back
//! computes touch fresh memory every time. Measured on a 3-level wavelet
//! transform of a 256 MB stack holding 300 MB of results: 700 MB of
//! private memory at the first compute, 1.1 GB after eight.
//!
//! # How
//!
//! A large block ([`MIN_BIG`] bytes or more, page alignment or less) is a
//! page-aligned range of `round_up(size)` bytes of an anonymous mapping.
//! A freed one joins the pool. An allocation takes the smallest pooled
//! block at least as large, splitting off what it does not need as a
//! pooled block of its own; if none is large enough it grows the largest
//! with `mremap` (its pages move, no bytes are copied, and only the new
//! tail is faulted in); with the pool empty it maps a new range. A freed
//! block merges with pooled neighbours (the other pieces of a split).
//!
//! Why 4 MiB: array blocks and images are that size or more, while Polars
//! grows many column buffers of 1–4 MiB; with a 1 MiB threshold those left
//! mimalloc's warm pages and a CSV-to-Parquet conversion ran 10–15%
//! slower (measured), with no change for the arrays.
//!
//! The pool's bound: blocks in use plus pooled never exceed the most
//! that was ever in use at once (the high-water mark). When growing a
//! block would pass it, the oldest pooled blocks are unmapped first. So
//! large blocks cost at most the program's peak use, however sizes mix,
//! and at most [`CAP`] bytes stay pooled when nothing is in use. The pool
//! is emptied (and the high-water mark reset) when rask releases free
//! memory (after a compute that held a lot, and under memory pressure),
//! and nothing is pooled while under pressure.
//!
//! # Safety
//!
//! A block's length is always recomputed from its layout's size, which Rust
//! guarantees is the one it was allocated with, and a block handed out has
//! exactly `round_up(size)` bytes, so it is unmapped or moved whole.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use mimalloc::MiMalloc;

/// Blocks of at least this many bytes are mapped from the system.
pub(crate) const MIN_BIG: usize = 4 << 20;
/// Bytes the pool may hold whatever the high-water mark.
pub(crate) const CAP: usize = 1 << 30;
/// Blocks the pool may hold.
pub(crate) const SLOTS: usize = 128;
/// The page size large blocks are rounded to and split at. Only kernels
/// with this page size (Linux on x86-64 and most aarch64) pool: on one with
/// 16 or 64 KiB pages a split would fall inside a page, and unmapping one
/// piece would unmap the start of its neighbour, so there every block is
/// mimalloc's ([`pools`]).
const PAGE: usize = 4096;

/// Whether this kernel's page size is [`PAGE`] (read once: 1 yes, 2 no).
static PAGE_OK: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Whether large blocks are mapped and pooled here (see [`PAGE`]).
fn pools() -> bool {
    match PAGE_OK.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // SAFETY: `sysconf` only reads a value; it does not allocate.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let ok = page == PAGE as libc::c_long;
            PAGE_OK.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

/// The program's global allocator with the `mimalloc` feature on Linux.
pub struct Allocator;

/// Freed large blocks (oldest first) and the accounting of their bound.
struct Pool {
    slots: [(usize, usize); SLOTS],
    len: usize,
    /// Bytes pooled.
    bytes: usize,
    /// Bytes of large blocks in use.
    live: usize,
    /// The most `live` has been since the last release.
    peak: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool::new());

/// Whether freed large blocks are pooled freely; under memory pressure
/// the pool holds at most [`PRESSED_CAP`] bytes.
static KEEP: AtomicBool = AtomicBool::new(true);

/// Bytes the pool may hold under memory pressure: enough for the next few
/// blocks to come warm, while the rest of what is freed goes back.
pub(crate) const PRESSED_CAP: usize = 64 << 20;

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|p| p.into_inner())
}

fn round_up(size: usize) -> usize {
    size.div_ceil(PAGE) * PAGE
}

fn is_big(layout: &Layout) -> bool {
    layout.size() >= MIN_BIG && layout.align() <= PAGE && pools()
}

/// Ranges to unmap once the pool's lock is let go: the allocator must not
/// allocate (or make system calls) while holding it.
struct Unmap {
    ranges: [(usize, usize); SLOTS + 1],
    len: usize,
}

impl Unmap {
    fn new() -> Self {
        Unmap {
            ranges: [(0, 0); SLOTS + 1],
            len: 0,
        }
    }

    fn push(&mut self, range: (usize, usize)) {
        self.ranges[self.len] = range;
        self.len += 1;
    }

    fn run(&self) {
        for &(addr, len) in &self.ranges[..self.len] {
            // SAFETY: only ranges of freed blocks, or the unused rest of a
            // block being handed out, are pushed here.
            unsafe { unmap(addr, len) };
        }
    }
}

impl Pool {
    const fn new() -> Self {
        Pool {
            slots: [(0, 0); SLOTS],
            len: 0,
            bytes: 0,
            live: 0,
            peak: 0,
        }
    }

    /// What the pool may hold now.
    fn cap(&self) -> usize {
        if KEEP.load(Ordering::Relaxed) {
            CAP
        } else {
            PRESSED_CAP
        }
    }

    fn remove(&mut self, i: usize) -> (usize, usize) {
        let slot = self.slots[i];
        self.slots.copy_within(i + 1..self.len, i);
        self.len -= 1;
        self.bytes -= slot.1;
        slot
    }

    /// Unmaps the oldest pooled blocks until in use plus pooled is within
    /// the high-water mark (and pooled within [`CAP`]) with `extra` bytes
    /// more to come.
    fn trim(&mut self, extra: usize, out: &mut Unmap) {
        while self.len > 0
            && (self.live + self.bytes + extra > self.peak || self.bytes + extra > self.cap())
        {
            out.push(self.remove(0));
        }
    }

    /// Pools a block, merged with pooled blocks right before and after it
    /// (the pieces of an earlier split); a merged block over the cap goes
    /// to `out` whole.
    fn put(&mut self, mut addr: usize, mut len: usize, out: &mut Unmap) {
        if let Some(i) = self.slots[..self.len]
            .iter()
            .position(|&(a, l)| a + l == addr)
        {
            let (a, l) = self.remove(i);
            addr = a;
            len += l;
        }
        if let Some(i) = self.slots[..self.len]
            .iter()
            .position(|&(a, _)| a == addr + len)
        {
            len += self.remove(i).1;
        }
        if len > self.cap() {
            out.push((addr, len));
            return;
        }
        if self.len == SLOTS {
            out.push(self.remove(0));
        }
        self.trim(len, out);
        self.slots[self.len] = (addr, len);
        self.len += 1;
        self.bytes += len;
    }

    /// A block for a request of `len` bytes, now counted in use: the
    /// smallest pooled block of at least `len` bytes (its rest pooled or,
    /// if small, unmapped), else the largest pooled block (to be grown:
    /// `have < len`), else nothing (to be mapped).
    fn take(&mut self, len: usize, out: &mut Unmap) -> Option<(usize, usize)> {
        self.live += len;
        self.peak = self.peak.max(self.live);
        let blocks = self.slots[..self.len].iter().enumerate();
        let fits = blocks
            .clone()
            .filter(|(_, (_, l))| *l >= len)
            .min_by_key(|(_, (_, l))| *l)
            .map(|(i, _)| i);
        if let Some(i) = fits {
            let (addr, have) = self.remove(i);
            let rest = (addr + len, have - len);
            if rest.1 >= MIN_BIG {
                self.put(rest.0, rest.1, out);
            } else if rest.1 > 0 {
                out.push(rest);
            }
            return Some((addr, len));
        }
        let (i, _) = blocks.max_by_key(|(_, (_, l))| *l)?;
        let (addr, have) = self.remove(i);
        // Growing adds `len - have` pages: make room under the mark.
        self.trim(0, out);
        Some((addr, have))
    }

    /// A block of `len` bytes is freed: pooled (or, over the cap, put in
    /// `out`).
    fn free(&mut self, addr: usize, len: usize, out: &mut Unmap) {
        self.live -= len.min(self.live);
        self.put(addr, len, out);
    }

    /// Shrinks the pool to `keep` bytes (oldest blocks first) into `out`
    /// and lowers the high-water mark to what is left.
    fn release(&mut self, keep: usize, out: &mut Unmap) {
        while self.len > 0 && self.bytes > keep {
            out.push(self.remove(0));
        }
        self.peak = self.live + self.bytes;
    }
}

/// A new private anonymous mapping of `len` bytes (zeroed), or null.
fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous mapping at an address the kernel picks touches
    // no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Unmaps `len` bytes at `addr`.
///
/// # Safety
/// The range is (part of) a large block nothing refers to any more.
unsafe fn unmap(addr: usize, len: usize) {
    if len > 0 {
        // SAFETY: the caller's contract; a failure leaves the range mapped
        // (a leak, not unsoundness).
        unsafe { libc::munmap(addr as *mut libc::c_void, len) };
    }
}

/// Moves (if need be) and resizes the block of `have` bytes at `addr` to
/// `len` bytes, or null (the block is then untouched).
///
/// # Safety
/// `addr` is a large block of `have` bytes owned by the caller.
unsafe fn remap(addr: usize, have: usize, len: usize) -> *mut u8 {
    // SAFETY: the caller's contract; the kernel moves page tables, not
    // bytes, and a new tail reads as zeros.
    let p = unsafe { libc::mremap(addr as *mut libc::c_void, have, len, libc::MREMAP_MAYMOVE) };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

/// rask's release hook: every pooled block goes back to the system, or,
/// under memory pressure, all but [`PRESSED_CAP`] bytes (released every
/// few milliseconds then, the pool would otherwise never be reused).
pub(crate) fn release() {
    let keep = if KEEP.load(Ordering::Acquire) {
        0
    } else {
        PRESSED_CAP
    };
    let mut out = Unmap::new();
    lock().release(keep, &mut out);
    out.run();
}

/// Under memory pressure the pool shrinks to [`PRESSED_CAP`] bytes and
/// holds no more until the pressure ends.
pub(crate) fn pressure(short: bool) {
    KEEP.store(!short, Ordering::Release);
    if short {
        release();
    }
}

/// A large block of `len` bytes (see the module) and whether it is fresh
/// (zeroed); null when the system has no memory.
fn alloc_big(len: usize) -> (*mut u8, bool) {
    let mut out = Unmap::new();
    let taken = lock().take(len, &mut out);
    out.run();
    let block = match taken {
        Some((addr, have)) if have >= len => (addr as *mut u8, false),
        // SAFETY: a pooled block of `have` bytes, now ours.
        Some((addr, have)) => match unsafe { remap(addr, have, len) } {
            p if p.is_null() => {
                // SAFETY: still mapped at `addr`, and ours.
                unsafe { unmap(addr, have) };
                (map(len), true)
            }
            p => (p, false),
        },
        None => (map(len), true),
    };
    if block.0.is_null() {
        lock().live -= len;
    }
    block
}

/// Frees a large block of `len` bytes at `addr`.
///
/// # Safety
/// `addr` is a large block of `len` bytes that nothing refers to.
unsafe fn free_big(addr: usize, len: usize) {
    let mut out = Unmap::new();
    lock().free(addr, len, &mut out);
    out.run();
}

// SAFETY: small blocks are mimalloc's; a large one is a whole range of
// `round_up(size)` bytes of an anonymous mapping that only this allocator
// maps, moves and unmaps, handed to one owner at a time (the pool's lock).
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_big(&layout) {
            // SAFETY: forwarded contract.
            return unsafe { MiMalloc.alloc(layout) };
        }
        alloc_big(round_up(layout.size())).0
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !is_big(&layout) {
            // SAFETY: forwarded contract.
            return unsafe { MiMalloc.alloc_zeroed(layout) };
        }
        let (p, fresh) = alloc_big(round_up(layout.size()));
        if !fresh && !p.is_null() {
            // SAFETY: `p` is a block of at least `size` writable bytes.
            unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !is_big(&layout) {
            // SAFETY: forwarded contract.
            return unsafe { MiMalloc.dealloc(ptr, layout) };
        }
        // SAFETY: `ptr` came from `alloc` with this layout: a large block.
        unsafe { free_big(ptr as usize, round_up(layout.size())) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout for `new_size`.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_big(&layout), is_big(&new)) {
            // SAFETY: forwarded contract.
            (false, false) => unsafe { MiMalloc.realloc(ptr, layout, new_size) },
            (true, true) => {
                let (have, len) = (round_up(layout.size()), round_up(new_size));
                if have == len {
                    return ptr;
                }
                {
                    let mut out = Unmap::new();
                    let mut pool = lock();
                    pool.live = (pool.live + len).saturating_sub(have);
                    pool.peak = pool.peak.max(pool.live);
                    pool.trim(0, &mut out);
                    drop(pool);
                    out.run();
                }
                // SAFETY: `ptr` is a large block of `have` bytes, ours.
                let p = unsafe { remap(ptr as usize, have, len) };
                if !p.is_null() {
                    return p;
                }
                {
                    let mut pool = lock();
                    pool.live = (pool.live + have).saturating_sub(len);
                }
                // Not movable in one piece (a block merged across two
                // mappings): a new block, the bytes copied.
                // SAFETY: as in the arm below.
                unsafe { self.copy_to_new(ptr, layout, new) }
            }
            // Across the threshold: a new block, the bytes copied.
            // SAFETY: `ptr` was allocated with `layout`; `new` is valid.
            _ => unsafe { self.copy_to_new(ptr, layout, new) },
        }
    }
}

impl Allocator {
    /// `realloc` by a new block and a copy.
    ///
    /// # Safety
    /// `ptr` was allocated here with `layout`; `new` is a valid layout.
    unsafe fn copy_to_new(&self, ptr: *mut u8, layout: Layout, new: Layout) -> *mut u8 {
        // SAFETY: the caller's contract.
        let p = unsafe { self.alloc(new) };
        if !p.is_null() {
            // SAFETY: both blocks hold at least the smaller size, and the
            // old one is freed with its own layout.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new.size()));
                self.dealloc(ptr, layout);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: usize = 1 << 20;

    fn ranges(out: &Unmap) -> Vec<(usize, usize)> {
        out.ranges[..out.len].to_vec()
    }

    #[test]
    fn only_kernels_with_4_kib_pages_pool() {
        // SAFETY: reads a value.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let big = Layout::from_size_align(MIN_BIG, 8).unwrap();
        assert_eq!(is_big(&big), page == 4096);
        assert!(!is_big(&Layout::from_size_align(MIN_BIG - 1, 8).unwrap()));
    }

    #[test]
    fn pool_splits_grows_and_stays_under_the_high_water_mark() {
        let mut p = Pool::new();
        let mut out = Unmap::new();
        // Three blocks in use (nothing pooled: all freshly mapped).
        for len in [10 * MB, 8 * MB, 9 * MB] {
            assert_eq!(p.take(len, &mut out), None);
        }
        assert_eq!((p.live, p.peak), (27 * MB, 27 * MB));
        p.free(100, 10 * MB, &mut out);
        p.free(200, 8 * MB, &mut out);
        p.free(300, 9 * MB, &mut out);
        assert_eq!((p.live, p.bytes), (0, 27 * MB));
        // The smallest that fits: 8 for 8; 4 of the 9 is split off and
        // its 5 pooled.
        assert_eq!(p.take(8 * MB, &mut out), Some((200, 8 * MB)));
        assert_eq!(p.take(4 * MB, &mut out), Some((300, 4 * MB)));
        assert_eq!(&p.slots[..p.len], &[(100, 10 * MB), (300 + 4 * MB, 5 * MB)]);
        // None fits 12: the largest (10) is grown, and the grown 2 MiB
        // pass the mark, so the oldest pooled block (the 5) goes.
        assert_eq!(p.take(12 * MB, &mut out), Some((100, 10 * MB)));
        assert_eq!(ranges(&out), vec![(300 + 4 * MB, 5 * MB)]);
        assert_eq!((p.live, p.bytes, p.peak), (24 * MB, 0, 27 * MB));
        // A rest under MIN_BIG is unmapped, not pooled.
        let mut out = Unmap::new();
        p.free(500, 3 * MB, &mut out);
        assert_eq!(p.take(3 * MB - PAGE, &mut out), Some((500, 3 * MB - PAGE)));
        assert_eq!(ranges(&out), vec![(500 + 3 * MB - PAGE, PAGE)]);
        // Released pools go (down to what is asked
        // to stay), and the mark comes down to in use plus pooled.
        let mut out = Unmap::new();
        p.free(500, 3 * MB - PAGE, &mut out);
        p.free(700, 2 * MB, &mut out);
        p.release(2 * MB, &mut out);
        assert_eq!(ranges(&out), vec![(500, 3 * MB - PAGE)]);
        assert_eq!((p.bytes, p.peak), (2 * MB, p.live + 2 * MB));
        p.release(0, &mut out);
        assert_eq!((p.bytes, p.peak), (0, p.live));
    }

    #[test]
    fn pool_merges_the_pieces_of_a_split() {
        let mut p = Pool::new();
        let mut out = Unmap::new();
        let base = 1 << 40;
        assert_eq!(p.take(12 * MB, &mut out), None);
        p.free(base, 12 * MB, &mut out);
        // Split into 2 + 3 + 7 (the 7 stays pooled after the second take).
        assert_eq!(p.take(2 * MB, &mut out), Some((base, 2 * MB)));
        assert_eq!(p.take(3 * MB, &mut out), Some((base + 2 * MB, 3 * MB)));
        assert_eq!(&p.slots[..p.len], &[(base + 5 * MB, 7 * MB)]);
        // Freed in any order, the pieces become one block again.
        p.free(base, 2 * MB, &mut out);
        p.free(base + 2 * MB, 3 * MB, &mut out);
        assert_eq!(&p.slots[..p.len], &[(base, 12 * MB)]);
        assert_eq!((p.live, p.bytes, out.len), (0, 12 * MB, 0));
    }

    proptest::proptest! {
        /// Any sequence of requests and frees: blocks handed out have the
        /// size asked for and never overlap each other or pooled blocks,
        /// and in use plus pooled stays within the high-water mark of in
        /// use (the model maps fresh ranges from a counter).
        #[test]
        fn pool_never_overlaps_and_stays_under_the_mark(
            ops in proptest::collection::vec((0usize..3, 1usize..40), 1..200)
        ) {
            let mut p = Pool::new();
            let mut next = 1usize << 40;
            let mut used: Vec<(usize, usize)> = Vec::new();
            let mut mapped = 0usize;
            let mut peak = 0usize;
            for (op, pages) in ops {
                let mut out = Unmap::new();
                if op < 2 || used.is_empty() {
                    let len = pages * MB / 4;
                    let block = match p.take(len, &mut out) {
                        Some((a, have)) if have >= len => (a, len),
                        // Grown: the model moves it to a fresh range.
                        grown => {
                            mapped += len - grown.map_or(0, |g| g.1);
                            next += len + PAGE;
                            (next - len - PAGE, len)
                        }
                    };
                    used.push(block);
                } else {
                    let (a, len) = used.swap_remove(pages % used.len());
                    p.free(a, len, &mut out);
                }
                for &(_, l) in &out.ranges[..out.len] {
                    mapped -= l;
                }
                let live: usize = used.iter().map(|u| u.1).sum();
                peak = peak.max(live);
                proptest::prop_assert_eq!(p.live, live);
                proptest::prop_assert!(live + p.bytes <= peak);
                proptest::prop_assert!(p.bytes <= CAP);
                proptest::prop_assert_eq!(mapped, live + p.bytes);
                let mut all: Vec<(usize, usize)> = used.clone();
                all.extend_from_slice(&p.slots[..p.len]);
                all.sort_unstable();
                for w in all.windows(2) {
                    proptest::prop_assert!(w[0].0 + w[0].1 <= w[1].0, "overlap: {:?}", w);
                }
            }
        }
    }

    /// Threads allocating, growing, filling and freeing large vectors
    /// through the global allocator (this test binary's, with the
    /// `mimalloc` feature) each see only their own bytes.
    #[test]
    fn threads_share_the_pool_without_mixing_blocks() {
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut held: Vec<Vec<u8>> = Vec::new();
                    for i in 0..40usize {
                        let len = (4 << 20) + ((i * 7919 + t as usize * 104_729) % (6 << 20));
                        let mut v = vec![t; len];
                        if i % 3 == 0 {
                            v.resize(len + (3 << 20), t);
                        }
                        held.push(v);
                        if held.len() > 3 {
                            let old = held.remove(i % 3);
                            assert!(old.iter().all(|&b| b == t));
                        }
                    }
                    held.iter().all(|v| v.iter().all(|&b| b == t))
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap());
        }
    }

    #[test]
    fn large_blocks_round_trip_through_the_pool() {
        let a = Allocator;
        let layout = Layout::from_size_align(5 << 20, 8).unwrap();
        // SAFETY: valid layouts; every block is freed with its own layout.
        unsafe {
            let p = a.alloc_zeroed(layout);
            assert!(!p.is_null());
            assert_eq!(*p.add((5 << 20) - 1), 0);
            p.write_bytes(7, 5 << 20);
            a.dealloc(p, layout);
            // Zeroed again when it comes back from the pool.
            let q = a.alloc_zeroed(layout);
            assert!(!q.is_null());
            assert!(
                std::slice::from_raw_parts(q, 5 << 20)
                    .iter()
                    .all(|&b| b == 0)
            );
            // Grown (in the pool's accounting and by mremap) and shrunk
            // across the threshold, contents kept.
            q.write_bytes(5, 5 << 20);
            let r = a.realloc(q, layout, 9 << 20);
            assert_eq!(*r.add((5 << 20) - 1), 5);
            let big = Layout::from_size_align(9 << 20, 8).unwrap();
            let s = a.realloc(r, big, 1000);
            assert_eq!(*s.add(999), 5);
            a.dealloc(s, Layout::from_size_align(1000, 8).unwrap());
            // A Vec growing through the threshold keeps its elements.
            let mut v: Vec<u64> = Vec::new();
            for i in 0..2_000_000u64 {
                v.push(i);
            }
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
        }
        release();
    }
}
