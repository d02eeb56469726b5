//! The wasm-bindgen surface: three functions on the page's one engine,
//! JSON both ways (read and written by [`crate::json`]).

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use lol_alloc::{AssumeSingleThreaded, FreeListAllocator};

use crate::engine::Engine;
use crate::protocol::{Command, Input};
use crate::token::Identity;

/// A free-list allocator of a few hundred bytes instead of dlmalloc's ~7 KB:
/// the core allocates little (small strings and vectors) on one thread.
#[global_allocator]
static ALLOCATOR: AssumeSingleThreaded<FreeListAllocator> =
    // SAFETY: wasm32-unknown-unknown without the atomics feature has one thread.
    unsafe { AssumeSingleThreaded::new(FreeListAllocator::new()) };

/// The page's engine: one session per page, made by [`start`]. Plain
/// functions over it, not an exported class: the class's handle, borrow
/// flags and finaliser cost ~1 KB of wasm and glue. A plain static, not a
/// `thread_local!`, whose lazy-initialisation path for a value with a
/// destructor was 190 B gzipped for the one thread there is.
static ENGINE: PageEngine = PageEngine(RefCell::new(None));

struct PageEngine(RefCell<Option<Engine>>);

// SAFETY: this module is compiled for wasm32-unknown-unknown only, which
// without the atomics feature (refused below) has one thread: the RefCell
// is never reached from a second one.
unsafe impl Sync for PageEngine {}

#[cfg(target_feature = "atomics")]
compile_error!("the core assumes one thread (PageEngine, the allocator): build it without the atomics feature");

/// Starts the page's session for the candidate `candidate_id` of `test_id`
/// (both empty when the token's claims could not be read);
/// `seed_hi`/`seed_lo`: 64 bits from `crypto.getRandomValues`. Returns the
/// session id.
///
/// A page has one engine, made by the first call: the glue calls this once
/// every step of its own start that can fail is behind it, so a host that
/// retries `invigil.start()` after a failure reaches it at most once. A
/// call after that changes nothing and returns the same id. (Never
/// replacing the engine also spares the bundle its drop code, 130 B
/// gzipped.)
#[wasm_bindgen]
pub fn start(endpoint: &str, candidate_id: String, test_id: String, seed_hi: u32, seed_lo: u32, now: f64) -> String {
    let mut page = ENGINE.0.borrow_mut();
    let session_id = match page.as_ref() {
        Some(engine) => engine.session_id(),
        None => {
            let identity =
                (!candidate_id.is_empty() && !test_id.is_empty()).then_some(Identity { candidate_id, test_id });
            let engine = Engine::new(endpoint, identity, (u64::from(seed_hi) << 32) | u64::from(seed_lo), now as i64);
            let session_id = engine.session_id();
            // The slot was empty: `replace` hands back `None`, forgotten
            // rather than dropped, which keeps the engine's drop code out.
            std::mem::forget(page.replace(engine));
            session_id
        }
    };
    invigil_schemas::text::uuid_string(session_id)
}

/// Handles one input (JSON of `Input`); returns the commands as a JSON array.
#[wasm_bindgen]
pub fn input(now: f64, input: &str) -> String {
    with_engine(|engine| match crate::json::from_str::<Input>(input) {
        Ok(input) => engine.handle(now as i64, input),
        Err(error) => {
            let mut message = String::from("bad input from the glue: ");
            error.push_to(&mut message);
            engine.handle(now as i64, Input::SdkError("glue".into(), message))
        }
    })
}

/// Timers; call about once a second.
#[wasm_bindgen]
pub fn tick(now: f64) -> String {
    with_engine(|engine| engine.tick(now as i64))
}

/// The engine's commands as JSON; none before `start`.
fn with_engine(run: impl FnOnce(&mut Engine) -> Vec<Command>) -> String {
    let commands = ENGINE.0.borrow_mut().as_mut().map(run).unwrap_or_default();
    crate::json::to_string(&commands)
}
