//! The portable half of `sleep`: everything that can be decided without the
//! kernel. Pure, safe, `no_std`, and unit-tested on the host.
//!
//! - [`duration`]: one operand (`1.5m`, `0x1p-3`, `inf`) to whole nanoseconds,
//!   exactly, rounded up.
//! - [`cli`]: the whole command line to an [`cli::Action`], writing help and
//!   diagnostics through a [`cli::Console`].
//! - [`time`]: the absolute `CLOCK_MONOTONIC` deadline for a duration.
//! - [`divide`]: `u64` division that links no division routine on 32-bit arches.
//!
//! The unsafe edge (entry point, syscalls, exit) lives in the binary:
//! `src/main.rs` and `src/arch/`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod divide;
pub mod duration;
pub mod time;
