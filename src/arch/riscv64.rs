//! riscv64: the entry point.
//!
//! At `_start` the kernel leaves `sp` 16-byte aligned, pointing at `argc`,
//! followed by the `argv` pointers, a null, the `envp` pointers, a null and
//! the aux vector.

/// The ELF entry point: hands the initial stack pointer to [`crate::entry`].
///
/// # Safety
/// Only the kernel may jump here, with the initial process stack.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "mv a0, sp",     // first argument: the initial stack pointer (already 16-byte aligned)
        "j {entry}",     // tail jump: `entry` never returns
        entry = sym crate::entry,
    )
}

/// Stops the process with SIGILL; for paths that must never be reached.
pub fn trap() -> ! {
    // SAFETY: the instruction only raises SIGILL; it touches no memory.
    unsafe {
        core::arch::asm!(
            "unimp", // an illegal instruction: SIGILL
            options(noreturn, nomem, nostack),
        )
    }
}
