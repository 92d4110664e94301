//! The kernel interface: every syscall the program makes, through the
//! `syscalls` crate's raw instructions. Return values are the kernel's:
//! non-negative on success, `-errno` on failure.

use sleep::{cli::Console, time::Timespec};
use syscalls::{Sysno, raw};

// 32-bit arches: the classic calls take a 32-bit time_t, wrong after 2038
// and for long deadlines. The *_time64 calls (Linux 5.1+) take the same
// 16-byte `Timespec` as the 64-bit arches' calls.
#[cfg(target_pointer_width = "64")]
use Sysno::{clock_gettime as CLOCK_GETTIME, clock_nanosleep as CLOCK_NANOSLEEP};
#[cfg(target_pointer_width = "32")]
use Sysno::{clock_gettime64 as CLOCK_GETTIME, clock_nanosleep_time64 as CLOCK_NANOSLEEP};

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
    // Out of line, with the descriptor inside: each of the many diagnostic
    // calls passes only the bytes: smaller than sharing `write` (docs/size.md, "Ideas tried outside the parser").
    #[inline(never)]
    fn err(&mut self, bytes: &[u8]) {
        write(STDERR, bytes);
    }
}

/// Inlined into `out` and `err`, the only callers.
#[inline(always)]
fn write(fd: usize, bytes: &[u8]) -> usize {
    // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes.
    unsafe { raw::syscall3(Sysno::write as usize, fd, bytes.as_ptr() as usize, bytes.len()) }
}

/// Ends the process (all threads) with `status` (0 to 255; a word, not a
/// `u8`, so no caller or callee masks it). Out of line: one copy instead of
/// one per exit path. Both are smaller (docs/size.md, "Ideas tried outside the parser").
#[inline(never)]
pub fn exit(status: usize) -> ! {
    // SAFETY: exit_group has no memory effects.
    unsafe {
        raw::syscall1(Sysno::exit_group as usize, status);
    }
    // exit_group does not return; should something (seccomp, ptrace) make
    // it, die on an illegal instruction rather than run on.
    crate::arch::trap()
}

/// The current `CLOCK_MONOTONIC` time. (Should the call fail, on a 32-bit
/// kernel older than 5.1, the sleep below fails the same way and says so.)
pub fn monotonic_now() -> Timespec {
    let mut now = Timespec::default();
    // SAFETY: `now` is a writable 16-byte timespec, the layout this call takes.
    unsafe {
        raw::syscall2(CLOCK_GETTIME as usize, CLOCK_MONOTONIC, &raw mut now as usize);
    }
    now
}

/// Sleeps until `deadline` on `CLOCK_MONOTONIC`; `false` if the kernel
/// refused. The deadline is absolute, so a sleep interrupted and re-issued
/// (EINTR) or stopped and continued still ends exactly then.
pub fn sleep_until(deadline: Timespec) -> bool {
    // The kernel may end a sleep up to the timer slack late, 50 µs by
    // default; 1 ns is the least it takes. scripts/bench measures what it
    // saves (docs/benchmarks.md, Timer slack); its cost is in docs/size.md,
    // "Timer slack". Should the call fail, the sleep is only as late as before.
    const PR_SET_TIMERSLACK: usize = 29;
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes a number and touches no memory.
    unsafe {
        raw::syscall2(Sysno::prctl as usize, PR_SET_TIMERSLACK, 1);
    }
    loop {
        // SAFETY: `deadline` is a readable 16-byte timespec; no remainder is
        // written for an absolute sleep.
        let result = unsafe {
            raw::syscall4(
                CLOCK_NANOSLEEP as usize,
                CLOCK_MONOTONIC,
                TIMER_ABSTIME,
                &raw const deadline as usize,
                0,
            )
        };
        if result != EINTR.wrapping_neg() {
            return result == 0;
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

/// The kernel's `struct sigaction` (not libc's): the same on every arch we
/// build, except that riscv64 has no restorer field.
#[repr(C)]
struct SigAction {
    handler: usize,
    flags: usize,
    #[cfg(not(target_arch = "riscv64"))]
    restorer: usize,
    /// 64 signals, as two words so the layout is right on 32-bit arches too.
    mask: [u32; 2],
}

// The kernel reads exactly this many bytes; every field after `flags` is 0,
// so a wrong layout would go unnoticed at run time: check it when building.
const _: () = assert!(
    size_of::<SigAction>()
        == if cfg!(target_arch = "riscv64") {
            24
        } else if cfg!(target_pointer_width = "64") {
            32
        } else {
            20
        }
);

/// x86_64 refuses to deliver a signal to a handler without it; i386 and the
/// ARM arches fall back to a trampoline of their own, so there it is harmless.
/// The restorer itself is never used: our handler never returns, so it needs
/// no trampoline back into the kernel.
#[cfg(not(target_arch = "riscv64"))]
const SA_RESTORER: usize = 0x0400_0000;
#[cfg(target_arch = "riscv64")]
const SA_RESTORER: usize = 0;

/// Makes the init of a PID namespace behave like one.
///
/// The kernel drops every signal that PID 1 has no handler for, so without
/// this `docker stop` or a pod deletion would wait out the grace period.
/// - SIGTERM and SIGINT get a handler that exits 128 + signal at once.
/// - SIGCHLD is ignored, which makes the kernel reap every child, including
///   orphans re-parented to us, as soon as it exits: no zombies, and no
///   wake-ups, so a timed sleep still ends exactly at its deadline.
/// - Children that were already zombies when we were exec'd are reaped once.
pub fn act_as_init() {
    let mut action = SigAction {
        handler: exit_on_signal as *const () as usize,
        flags: SA_RESTORER,
        #[cfg(not(target_arch = "riscv64"))]
        restorer: 0,
        mask: [0; 2],
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
// The signal as a word, not C's `int`: every arch's kernel sets the whole
// argument register (or stack word) to it, so nothing sign-extends it
// (docs/size.md, "Ideas tried outside the parser").
extern "C" fn exit_on_signal(signal: usize) {
    exit(128 + signal)
}
