//! Cloning a [`Key`] never allocates: a block graph clones one per
//! dependency edge. A counting global allocator, so this is its own test
//! binary.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use rask_core::Key;

/// The system allocator, counting allocations made by each thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator may run while thread-locals are torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the same arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while running `f`.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn cloning_a_key_with_a_block_index_does_not_allocate() {
    // The counter itself works.
    assert!(allocations_in(|| drop(vec![1u32; 4])) > 0);
    for axes in 0..=6u32 {
        let index: Vec<u32> = (0..axes).map(|i| 10 + i).collect();
        let key = Key::with_index("add-3f2a9c01d2e4b5a7", &index);
        let mut clones = Vec::with_capacity(100);
        let made = allocations_in(|| {
            for _ in 0..100 {
                clones.push(key.clone());
            }
        });
        assert_eq!(made, 0, "cloning a key with {axes} axes allocated");
        assert!(clones.iter().all(|c| *c == key && c.index() == index));
    }
}
