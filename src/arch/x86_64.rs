//! x86_64: the entry point.
//!
//! At `_start` the kernel leaves `%rsp` 16-byte aligned, pointing at `argc`,
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
        "mov rdi, rsp",  // first argument: the initial stack pointer
        "call {entry}",  // pushes a return address, so `entry` sees the ABI's rsp % 16 == 8; never returns
        entry = sym crate::entry,
    )
}

/// Stops the process with SIGILL; for paths that must never be reached.
pub fn trap() -> ! {
    // SAFETY: the instruction only raises SIGILL; it touches no memory.
    unsafe {
        core::arch::asm!(
            "ud2", // an illegal instruction: SIGILL
            options(noreturn, nomem, nostack),
        )
    }
}
