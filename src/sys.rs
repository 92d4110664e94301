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

/// Out of line: one copy of the syscall set-up instead of one per message.
#[inline(never)]
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

/// Whether this process is the init of its PID namespace (a container's
/// main process, or `unshare --pid --fork`'s child).
pub fn is_pid_1() -> bool {
    // SAFETY: getpid has no arguments and cannot fail.
    unsafe { raw::syscall0(Sysno::getpid as usize) == 1 }
}

const SIGINT: usize = 2;
const SIGTERM: usize = 15;
const SIGCHLD: usize = 17;
const SIG_IGN: usize = 1;
/// Required on x86_64 (the kernel refuses to deliver a signal without it);
/// harmless elsewhere. The restorer is never used: the handler never returns.
const SA_RESTORER: u64 = 0x0400_0000;

/// The kernel's `struct sigaction` (not libc's) on x86_64, aarch64, riscv64.
#[repr(C)]
struct SigAction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Makes the init of a PID namespace behave like one.
///
/// The kernel drops every signal that PID 1 has no handler for, so without
/// this `docker stop` or a pod deletion would wait out the grace period.
/// - SIGTERM and SIGINT get a handler that exits 128 + signal at once. It
///   never returns, so no signal trampoline (restorer) is needed.
/// - SIGCHLD is ignored, which makes the kernel reap every child, including
///   orphans re-parented to us, as soon as it exits: no zombies, and no
///   wake-ups, so a timed sleep still ends exactly at its deadline.
/// - Children that were already zombies when we were exec'd are reaped once.
pub fn act_as_init() {
    let mut action = SigAction {
        handler: exit_on_signal as *const () as usize,
        flags: SA_RESTORER,
        restorer: 0,
        mask: 0,
    };
    set_signal_action(SIGTERM, &action);
    set_signal_action(SIGINT, &action);
    action.handler = SIG_IGN;
    set_signal_action(SIGCHLD, &action);
    const WNOHANG: usize = 1;
    // SAFETY: wait4 with no status or rusage pointers writes no memory.
    while unsafe { raw::syscall4(Sysno::wait4 as usize, usize::MAX, 0, WNOHANG, 0) } as isize > 0 {}
}

#[inline(never)]
fn set_signal_action(signal: usize, action: &SigAction) {
    // SAFETY: `action` is a valid kernel sigaction; the old one is not asked
    // for; 8 is the size of the kernel's signal set.
    unsafe {
        raw::syscall4(Sysno::rt_sigaction as usize, signal, action as *const SigAction as usize, 0, 8);
    }
}

/// The SIGTERM/SIGINT handler of PID 1: exit quietly with 128 + signal, as a
/// shell reports a death by that signal.
extern "C" fn exit_on_signal(signal: i32) {
    exit(128 + signal as u8)
}
