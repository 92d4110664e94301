//! The kernel interface: every syscall the program makes, through the
//! `syscalls` crate's raw instructions. Return values are the kernel's:
//! non-negative on success, `-errno` on failure.

use sleep::{cli::Console, time::Timespec};
use syscalls::{Sysno, raw};

const STDOUT: usize = 1;
const STDERR: usize = 2;
const CLOCK_MONOTONIC: usize = 1;
const TIMER_ABSTIME: usize = 1;
const EINTR: usize = 4;

/// Standard output and error, unbuffered: each call is one `write(2)`.
pub struct Stdio;

impl Console for Stdio {
    fn out(&mut self, bytes: &[u8]) -> bool {
        write(STDOUT, bytes) == bytes.len()
    }
    fn err(&mut self, bytes: &[u8]) {
        write(STDERR, bytes);
    }
}

fn write(fd: usize, bytes: &[u8]) -> usize {
    // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes.
    unsafe { raw::syscall3(Sysno::write as usize, fd, bytes.as_ptr() as usize, bytes.len()) }
}

/// Ends the process (all threads) with `status`.
pub fn exit(status: u8) -> ! {
    // SAFETY: exit_group has no memory effects and does not return.
    unsafe {
        raw::syscall1(Sysno::exit_group as usize, status as usize);
        core::hint::unreachable_unchecked()
    }
}

/// The current `CLOCK_MONOTONIC` time.
pub fn monotonic_now() -> Timespec {
    let mut now = Timespec::default();
    // SAFETY: `now` is a writable `struct timespec`. CLOCK_MONOTONIC always
    // exists, so the call cannot fail.
    unsafe {
        raw::syscall2(Sysno::clock_gettime as usize, CLOCK_MONOTONIC, &raw mut now as usize);
    }
    now
}

/// Sleeps until `deadline` on `CLOCK_MONOTONIC`. The deadline is absolute, so
/// a sleep interrupted and re-issued (EINTR) or stopped and continued still
/// ends exactly then.
pub fn sleep_until(deadline: Timespec) {
    loop {
        // SAFETY: `deadline` is a readable `struct timespec`; no remainder is
        // written for an absolute sleep.
        let result = unsafe {
            raw::syscall4(
                Sysno::clock_nanosleep as usize,
                CLOCK_MONOTONIC,
                TIMER_ABSTIME,
                &raw const deadline as usize,
                0,
            )
        };
        if result != EINTR.wrapping_neg() {
            return;
        }
    }
}
