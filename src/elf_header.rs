//! The ELF file header and the two program headers, written by hand.
//!
//! The linker would write them too, but in full: the last 48 bytes of the
//! `PT_GNU_STACK` program header (offset, addresses, sizes, alignment) are
//! never read by the kernel, which looks only at its type and flags. Here
//! the code starts right after those flags, inside that header: 48 bytes
//! less on 64-bit arches (4 on 32-bit ones, where only `p_align` follows
//! the flags). `linker.ld` puts this first in the image, and
//! `scripts/build` ships the image as it is (`objcopy -O binary`).

/// EM_* of the ELF specification, and the flags the kernel and qemu expect.
#[cfg(target_arch = "x86_64")]
const MACHINE_AND_FLAGS: (u16, u32) = (62, 0);
#[cfg(target_arch = "aarch64")]
const MACHINE_AND_FLAGS: (u16, u32) = (183, 0);
#[cfg(target_arch = "riscv64")]
const MACHINE_AND_FLAGS: (u16, u32) = (243, 0x5); // compressed instructions, double-float ABI
#[cfg(target_arch = "x86")]
const MACHINE_AND_FLAGS: (u16, u32) = (3, 0);
#[cfg(target_arch = "arm")]
const MACHINE_AND_FLAGS: (u16, u32) = (40, 0x0500_0400); // EABI version 5, hard-float ABI

#[cfg(target_pointer_width = "64")]
core::arch::global_asm!(
    ".section .elf_header, \"a\"", // allocated, read-only: part of the image
    "elf_header:",
    ".byte 0x7f, 0x45, 0x4c, 0x46", // e_ident: magic "\x7fELF"
    ".byte 2, 1, 1, 0",              // ELFCLASS64, little-endian, version 1, System V ABI
    ".quad 0",                       // ABI version and padding
    ".short 2",                      // e_type: ET_EXEC
    ".short {machine}",              // e_machine
    ".long 1",                       // e_version
    ".quad _start",                  // e_entry
    ".quad program_headers - elf_header", // e_phoff
    ".quad 0",                       // e_shoff: no section headers
    ".long {flags}",                 // e_flags
    ".short 64",                     // e_ehsize
    ".short 56",                     // e_phentsize
    ".short 2",                      // e_phnum
    ".short 0, 0, 0",                // e_shentsize, e_shnum, e_shstrndx: no sections
    "program_headers:",
    ".long 1, 5",                    // PT_LOAD, read + execute
    ".quad 0",                       // p_offset: the whole file, headers included
    ".quad elf_header",              // p_vaddr
    ".quad elf_header",              // p_paddr
    ".quad __image_end - elf_header", // p_filesz
    ".quad __image_end - elf_header", // p_memsz: no bss
    ".quad 8",                       // p_align
    ".long 0x6474e551, 6",           // PT_GNU_STACK, read + write: a non-executable stack
    // The rest of this header (48 bytes) is never read: the code follows.
    machine = const MACHINE_AND_FLAGS.0,
    flags = const MACHINE_AND_FLAGS.1,
);

#[cfg(target_pointer_width = "32")]
core::arch::global_asm!(
    ".section .elf_header, \"a\"", // allocated, read-only: part of the image
    "elf_header:",
    ".byte 0x7f, 0x45, 0x4c, 0x46", // e_ident: magic "\x7fELF"
    ".byte 1, 1, 1, 0",              // ELFCLASS32, little-endian, version 1, System V ABI
    ".long 0, 0",                    // ABI version and padding
    ".short 2",                      // e_type: ET_EXEC
    ".short {machine}",              // e_machine
    ".long 1",                       // e_version
    ".long _start",                  // e_entry (on arm the Thumb bit is set)
    ".long program_headers - elf_header", // e_phoff
    ".long 0",                       // e_shoff: no section headers
    ".long {flags}",                 // e_flags
    ".short 52",                     // e_ehsize
    ".short 32",                     // e_phentsize
    ".short 2",                      // e_phnum
    ".short 0, 0, 0",                // e_shentsize, e_shnum, e_shstrndx: no sections
    "program_headers:",
    ".long 1",                       // PT_LOAD
    ".long 0",                       // p_offset: the whole file, headers included
    ".long elf_header",              // p_vaddr
    ".long elf_header",              // p_paddr
    ".long __image_end - elf_header", // p_filesz
    ".long __image_end - elf_header", // p_memsz: no bss
    ".long 5",                       // p_flags: read + execute
    ".long 4",                       // p_align
    ".long 0x6474e551",              // PT_GNU_STACK
    ".long 0, 0, 0, 0, 0",           // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz
    ".long 6",                       // p_flags: read + write, a non-executable stack
    // p_align (4 bytes) is never read: the code follows.
    machine = const MACHINE_AND_FLAGS.0,
    flags = const MACHINE_AND_FLAGS.1,
);
