//! The wasm-bindgen surface: one object, three calls, JSON both ways
//! (read and written by [`crate::json`]).

use wasm_bindgen::prelude::*;

use lol_alloc::{AssumeSingleThreaded, FreeListAllocator};

use crate::engine::Engine;
use crate::protocol::{Command, Input};

/// A free-list allocator of a few hundred bytes instead of dlmalloc's ~7 KB:
/// the core allocates little (small strings and vectors) on one thread.
#[global_allocator]
static ALLOCATOR: AssumeSingleThreaded<FreeListAllocator> =
    // SAFETY: wasm32-unknown-unknown without the atomics feature has one thread.
    unsafe { AssumeSingleThreaded::new(FreeListAllocator::new()) };

/// The engine as JS sees it.
#[wasm_bindgen]
pub struct Core(Engine);

#[wasm_bindgen]
impl Core {
    /// `seed_hi`/`seed_lo`: 64 bits from `crypto.getRandomValues`.
    #[wasm_bindgen(constructor)]
    pub fn new(endpoint: &str, token: &str, seed_hi: u32, seed_lo: u32, now: f64) -> Core {
        Core(Engine::new(endpoint, token, (u64::from(seed_hi) << 32) | u64::from(seed_lo), now as i64))
    }

    /// Handles one input (JSON of `Input`); returns the commands as a JSON array.
    pub fn input(&mut self, now: f64, input: &str) -> String {
        let commands = match crate::json::from_str::<Input>(input) {
            Ok(input) => self.0.handle(now as i64, input),
            Err(error) => {
                let mut message = String::from("bad input from the glue: ");
                error.push_to(&mut message);
                self.0.handle(now as i64, Input::SdkError("glue".into(), message))
            }
        };
        encode(&commands)
    }

    /// Timers; call about once a second.
    pub fn tick(&mut self, now: f64) -> String {
        encode(&self.0.tick(now as i64))
    }

    #[wasm_bindgen(getter)]
    pub fn session_id(&self) -> String {
        invigil_schemas::text::uuid_string(self.0.session_id())
    }
}

fn encode(commands: &[Command]) -> String {
    crate::json::to_string(commands)
}
