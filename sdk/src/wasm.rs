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

/// The page's engine: one session per page (the glue's `start` makes a
/// new one only when the last failed to start). Plain functions over it,
/// not an exported class: the class's handle, borrow flags and finaliser
/// cost ~1 KB of wasm and glue. A plain static, not a `thread_local!`,
/// whose lazy-initialisation path for a value with a destructor was 190 B
/// gzipped for the one thread there is.
static ENGINE: PageEngine = PageEngine(RefCell::new(None));

struct PageEngine(RefCell<Option<Engine>>);

// SAFETY: this module is compiled for wasm32-unknown-unknown only, which
// without the atomics feature (refused below) has one thread: the RefCell
// is never reached from a second one.
unsafe impl Sync for PageEngine {}

#[cfg(target_feature = "atomics")]
compile_error!("the core assumes one thread (PageEngine, the allocator): build it without the atomics feature");

/// Starts a session for the candidate `candidate_id` of `test_id` (both
/// empty when the token's claims could not be read); `seed_hi`/`seed_lo`:
/// 64 bits from `crypto.getRandomValues`. Returns the session id.
#[wasm_bindgen]
pub fn start(endpoint: &str, candidate_id: String, test_id: String, seed_hi: u32, seed_lo: u32, now: f64) -> String {
    let identity = (!candidate_id.is_empty() && !test_id.is_empty()).then_some(Identity { candidate_id, test_id });
    let engine = Engine::new(endpoint, identity, (u64::from(seed_hi) << 32) | u64::from(seed_lo), now as i64);
    let session_id = invigil_schemas::text::uuid_string(engine.session_id());
    *ENGINE.0.borrow_mut() = Some(engine);
    session_id
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
