//! The checks behind the fuzz targets in `fuzz_targets/` (each target is one line calling into here), so
//! that they are plain Rust, shared between targets and type-checked without the fuzzing toolchain.
//!
//! Every target feeds peer-controlled bytes to one sans-I/O layer of the router and checks, besides
//! "no panic, no hang, no runaway allocation", properties that must hold for any input: a decoded message
//! re-encodes to itself, framing does not depend on how the stream is split into reads, an accepted
//! handshake is accepted from its exact bytes and not before, the session state machine leaves nothing
//! behind once every connection is gone. `fuzz/run.sh` builds and runs them; `fuzz/README.md` explains.

pub mod codec;
pub mod framing;
pub mod http;
pub mod session;

/// A tiny deterministic generator (xorshift64*), for choices derived from a fuzz-chosen seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Whether two values are the same, NaN included (`PartialEq` on `f64` says NaN differs from itself):
/// equal, or else printed the same by `Debug`, which prints every distinct float distinctly.
pub fn same<T: std::fmt::Debug + PartialEq>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}
