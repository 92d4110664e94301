//! The `sleep` executable: the unsafe edge around the portable library.
//!
//! `_start` (per arch, in `arch/`) passes the initial stack pointer to
//! [`entry`], which reads `argc`/`argv` from it, lets [`sleep::cli::plan`]
//! decide, and carries the decision out with raw syscalls (`sys`).
//! No libc, no allocator, no writable data: everything lives on the stack.
#![no_std]
#![no_main]

#[cfg_attr(target_arch = "x86_64", path = "arch/x86_64.rs")]
#[cfg_attr(target_arch = "aarch64", path = "arch/aarch64.rs")]
#[cfg_attr(target_arch = "x86", path = "arch/x86.rs")]
#[cfg_attr(target_arch = "arm", path = "arch/arm.rs")]
#[cfg_attr(target_arch = "riscv64", path = "arch/riscv64.rs")]
mod arch;
mod sys;

use sleep::cli::{self, Action, Console};

/// The arguments after `argv[0]`, as byte strings without their NUL.
/// `next` walks argv up to its terminating null pointer, so `argc` is not
/// needed: smaller than comparing with `argv + argc` (docs/size.md, "Ideas
/// tried outside the parser").
#[derive(Clone)]
struct Args {
    next: *const *const u8,
}

impl Iterator for Args {
    type Item = &'static [u8];

    // Inlined into the two loops that read the arguments: smaller than one
    // out-of-line copy and its calls (docs/size.md, "Ideas tried outside the
    // parser").
    #[inline(always)]
    fn next(&mut self) -> Option<&'static [u8]> {
        // SAFETY: `next` points into argv at or before its terminating null
        // pointer, and never moves past it; every entry before it is a valid
        // NUL-terminated string that lives (unmodified) as long as the process.
        unsafe {
            let start = *self.next;
            if start.is_null() {
                return None;
            }
            self.next = self.next.add(1);
            let mut length = 0;
            // Volatile, so LLVM does not turn the loop into a call to a
            // vectorised `strlen` (docs/size.md, "Compiler routines and
            // library calls").
            while start.add(length).read_volatile() != 0 {
                length += 1;
            }
            Some(core::slice::from_raw_parts(start, length))
        }
    }
}

/// Called by `_start` with the initial stack pointer.
///
/// # Safety
/// `stack` must be the process's initial stack as the kernel laid it out:
/// `argc`, then `argc` pointers to NUL-terminated strings, then a null.
unsafe extern "C" fn entry(stack: *const usize) -> ! {
    // SAFETY: per the contract, `stack[1..=argc]` is argv and `stack[argc + 1]`
    // its null terminator. With argc 0 (kernels before 5.18 allow an empty
    // argv) argv[0] is that null: start there, so nothing past argv is read.
    let args = unsafe {
        let argv = stack.add(1) as *const *const u8;
        Args { next: if (*argv).is_null() { argv } else { argv.add(1) } }
    };
    // As early as possible: until the handlers are in, the kernel drops a
    // SIGTERM sent to PID 1.
    if sys::is_pid_1() {
        sys::act_as_init();
    }
    match cli::plan(args, &mut sys::Stdio) {
        Action::Exit(status) => sys::exit(status.into()),
        Action::Sleep(nanos) => {
            if sys::sleep_until(sys::monotonic_now().after(nanos)) {
                sys::exit(0)
            }
            sys::Stdio.err(cli::SLEEP_FAILED);
            sys::exit(1)
        }
    }
}

/// There are no panic paths in the release binary: this handler refers to a
/// symbol that does not exist, so if one ever appears the link fails.
/// (With LTO an unused handler, and its reference, are dropped.)
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    unsafe extern "C" {
        fn __the_release_binary_must_not_contain_a_panic_path() -> !;
    }
    // SAFETY: never executed; the symbol only exists to fail the link.
    unsafe { __the_release_binary_must_not_contain_a_panic_path() }
}
