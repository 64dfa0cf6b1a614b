//! Mounts the chat; everything else lives in the library so it can be tested.

fn main() {
    web::start();
}

/// A small allocator for a single-threaded page (see `Cargo.toml`). The lock is a flag nobody
/// else ever holds here.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());
