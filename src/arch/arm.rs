//! armv7 (32-bit ARM, hard-float EABI): the entry point.
//!
//! At `_start` the kernel leaves `sp` pointing at `argc` (8-byte aligned, as
//! the AAPCS requires), followed by the `argv` pointers, a null, the `envp`
//! pointers, a null and the aux vector.

/// The ELF entry point: hands the initial stack pointer to [`crate::entry`].
///
/// # Safety
/// Only the kernel may jump here, with the initial process stack.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "mov r0, sp",    // first argument: the initial stack pointer
        "b {entry}",     // tail jump: `entry` never returns
        entry = sym crate::entry,
    )
}

/// The precompiled `compiler_builtins` of the Linux ARM target refers to the
/// unwinder's personality routine from its EHABI unwind tables. We never
/// unwind (panic = "abort", and no panic path links at all) and the linker
/// script discards those tables, so this is never called: it only resolves
/// the symbol (docs/size.md, "Compiler routines and library calls").
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// Stops the process with SIGILL; for paths that must never be reached.
pub fn trap() -> ! {
    // SAFETY: the instruction only raises SIGILL; it touches no memory.
    unsafe {
        core::arch::asm!(
            "udf #0", // permanently undefined: SIGILL
            options(noreturn, nomem, nostack),
        )
    }
}
