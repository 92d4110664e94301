//! The physical floor of `scripts/bench`: a static ELF that does nothing but
//! `exit_group(0)`. Its start-up time is what the kernel's fork, exec and exit
//! cost, which no program can avoid; `sleep 0` is compared with it.
//!
//! Built by `scripts/bench` (amd64 only) the way `scripts/build` builds the
//! release binary: the same linker (rust-lld), linker script (`linker.ld`, a
//! symlink to the root one), link arguments (`build.rs` is the root one),
//! `.cargo/config.toml` flags and release profile, then `--strip-sections`.
#![no_std]
#![no_main]

/// The ELF entry point: exits at once, before touching the stack.
///
/// # Safety
/// Only the kernel may jump here.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "xor edi, edi",              // first argument: exit status 0
        "mov eax, {exit_group}",     // the syscall number
        "syscall",                   // exit_group(0); never returns
        exit_group = const 231,      // SYS_exit_group on x86_64
    )
}

/// No code here can panic; required by `no_std`, and dropped by the linker.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
