//! 386 (32-bit x86, built for i586: no SSE, no CMOV): the entry point.
//!
//! At `_start` the kernel leaves `%esp` 16-byte aligned, pointing at `argc`,
//! followed by the `argv` pointers, a null, the `envp` pointers, a null and
//! the aux vector. Arguments are passed on the stack (cdecl).

/// The ELF entry point: hands the initial stack pointer to [`crate::entry`].
///
/// # Safety
/// Only the kernel may jump here, with the initial process stack.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "mov eax, esp",  // the initial stack pointer
        "sub esp, 12",   // so that after the push and the call, esp + 4 is 16-byte aligned (the ABI's rule)
        "push eax",      // first (stack) argument
        "call {entry}",  // never returns
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
