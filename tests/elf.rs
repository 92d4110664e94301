//! The release binaries' sizes and ELF layout, for every arch, and the arch
//! table (`arches.txt`) against what cannot read it.

use std::process::Command;

use goblin::elf::{Elf, header, program_header as ph};
use sleep_tests::{Binary, arches, check_each, per_arch, repo};

/// `size-budget.txt`, docs/size.md's table and the README's size range record
/// the binaries as built (`scripts/sizes` measures and compares; see its doc).
#[test]
fn the_recorded_sizes_are_the_binaries_sizes() {
    let output = Command::new(repo().join("scripts/sizes")).output().unwrap();
    assert!(
        output.status.success(),
        "{}{}\nAfter a change of size: scripts/build && scripts/sizes --update",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The project's limit (the design card's, 10 KiB, is looser); growth below
/// it shows in review, as `size-budget.txt` changes.
fn fits_in_one_page(bin: &Binary) {
    let size = std::fs::metadata(&bin.path).unwrap().len();
    assert!(size <= 4096, "{}: {size} bytes, over one page (4 KiB), the project's limit", bin.arch);
}

fn is_a_static_executable_with_one_rx_segment(bin: &Binary) {
    let bytes = std::fs::read(&bin.path).unwrap();
    let elf = Elf::parse(&bytes).unwrap();
    assert_eq!(elf.header.e_type, header::ET_EXEC, "{}: not a fixed-address executable", bin.arch);
    let machine = format!("EM_{}", header::machine_to_str(elf.header.e_machine));
    assert_eq!(machine, bin.arch.elf_machine, "{}: e_machine (arches.txt)", bin.arch);
    assert_eq!(elf.is_64, bin.arch.bits == 64, "{}: ELF class (arches.txt's bits)", bin.arch);
    assert!(elf.interpreter.is_none(), "{}: has an interpreter", bin.arch);
    assert!(elf.dynamic.is_none(), "{}: has a dynamic section", bin.arch);
    let types: Vec<u32> = elf.program_headers.iter().map(|h| h.p_type).collect();
    assert_eq!(types, [ph::PT_LOAD, ph::PT_GNU_STACK], "{}: program headers", bin.arch);

    let load = &elf.program_headers[0];
    assert_eq!(load.p_flags, ph::PF_R | ph::PF_X, "{}: the segment must be R+X, never W", bin.arch);
    assert_eq!(load.p_offset, 0);
    assert_eq!(load.p_filesz, bytes.len() as u64, "{}: the segment is the whole file", bin.arch);
    assert!(load.p_memsz == load.p_filesz, "{}: no bss", bin.arch);
    let entry = elf.entry;
    assert!(
        (load.p_vaddr..load.p_vaddr + load.p_memsz).contains(&entry),
        "{}: entry {entry:#x} outside the segment",
        bin.arch
    );

    let stack = &elf.program_headers[1];
    assert_eq!(stack.p_flags & ph::PF_X, 0, "{}: executable stack", bin.arch);
    assert_eq!(stack.p_flags, ph::PF_R | ph::PF_W);

    // Section headers are stripped: nothing at run time reads them.
    assert_eq!(elf.header.e_shnum, 0, "{}: section headers left in", bin.arch);
}

/// The binary before `--strip-sections`, as scripts/build left it:
/// `target/<rust target>/release/sleep` (or under `CARGO_TARGET_DIR`), checked
/// to be the one `bin` was made from.
fn unstripped(bin: &Binary) -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), Into::into);
    let path = repo().join(target).join(bin.arch.rust_target).join("release/sleep");
    let full = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("{}: {error}: build it with scripts/build", path.display()));
    let stripped = std::fs::read(&bin.path).unwrap();
    // The stripped file is the unstripped one's loaded part: the same bytes
    // after the ELF header (whose section-header fields differ).
    let header = Elf::parse(&stripped).unwrap().header.e_ehsize as usize;
    assert!(
        full.get(header..stripped.len()) == Some(&stripped[header..]),
        "{} was not made from {}: run scripts/build",
        bin.path.display(),
        path.display()
    );
    full
}

/// The names in a symbol table that are neither `_start` nor the crate's own
/// functions and data: code linked in from elsewhere (compiler-builtins'
/// `memcpy`, `memcmp`, `strlen`, `__udivdi3`, `__aeabi_uldivmod`, ...), or a
/// reference to it. `symbols` are (name, type, defined) triples.
fn foreign_symbols<'a>(symbols: impl IntoIterator<Item = (&'a str, u8, bool)>) -> Vec<String> {
    use goblin::elf::sym::{STT_FILE, STT_SECTION};
    symbols
        .into_iter()
        .filter(|&(name, kind, defined)| {
            // Not code: the object's file name and sections, the assembler's
            // local labels (`.Lanon.*`, riscv64's `.Lpcrel_hi*`), the ARM and
            // RISC-V mapping symbols that mark code and data (`$x`, `$t`, `$d`).
            let marker = kind == STT_FILE
                || kind == STT_SECTION
                || name.is_empty()
                || name.starts_with(".L")
                || name.split('.').next().is_some_and(|head| ["$a", "$d", "$t", "$x"].contains(&head));
            // ARM EHABI code names the unwinding personality routine its
            // unwind tables (.ARM.exidx) need; linker.ld discards the tables, so
            // the name stays behind, undefined: no code, and nothing refers to it.
            let ehabi_marker = name == "__aeabi_unwind_cpp_pr0" && !defined;
            let own = name == "_start" && defined || {
                let path = format!("{:#}", rustc_demangle::demangle(name));
                defined && (path.starts_with("sleep::") || path.starts_with("<sleep::"))
            };
            !(marker || ehabi_marker || own)
        })
        .map(|(name, ..)| format!("{:#}", rustc_demangle::demangle(name)))
        .collect()
}

/// Nothing but `_start` and the crate's own code is linked in: a call that
/// LLVM turned into `memcpy` or `strlen`, a slice comparison that became
/// `memcmp`, a 64-bit division on a 32-bit arch, each links a routine of
/// compiler-builtins (and, compiled as position-independent code, often a
/// GOT, which linker.ld's assertion refuses). The entry point is `_start`.
fn links_nothing_but_its_own_code(bin: &Binary) {
    let bytes = unstripped(bin);
    let elf = Elf::parse(&bytes).unwrap();
    assert!(elf.syms.len() > 1, "{}: the unstripped binary has no symbol table", bin.arch);
    let symbols: Vec<(&str, u8, bool)> = elf
        .syms
        .iter()
        .map(|sym| (elf.strtab.get_at(sym.st_name).unwrap_or(""), sym.st_type(), sym.st_shndx != 0))
        .collect();
    let foreign = foreign_symbols(symbols.iter().copied());
    assert!(
        foreign.is_empty(),
        "{}: symbols from outside the crate: {foreign:?}. A copy or comparison of slices (`starts_with`, \
         `==`) links memcmp/memcpy, a byte-counting loop strlen, a u64 division on 32-bit arches a \
         compiler routine (see src/divide.rs): write it as a loop, or look at what changed in the code",
        bin.arch
    );
    let start = elf.syms.iter().find(|sym| elf.strtab.get_at(sym.st_name) == Some("_start"));
    assert_eq!(start.map(|sym| sym.st_value), Some(elf.entry), "{}: the entry point is not _start", bin.arch);
}

/// The check above can fail: it names what the compiler-builtins routines
/// and a foreign crate's function are called, and lets the crate's own,
/// `_start` and the linker's markers pass.
#[test]
fn foreign_symbols_are_named_and_the_crates_own_pass() {
    use goblin::elf::sym::{STT_FILE, STT_FUNC, STT_NOTYPE, STT_OBJECT, STT_SECTION};
    let symbols = [
        ("sleep.7695a2541855f2ef-cgu.0", STT_FILE, true),
        (".text", STT_SECTION, true),
        ("$x", STT_NOTYPE, true),
        ("$d.12", STT_NOTYPE, true),
        (".Lanon.eaff49c7c1cce45e0a5b911777fe7d5d.0", STT_OBJECT, true),
        (".L0 ", STT_NOTYPE, true),
        ("_start", STT_FUNC, true),
        ("_ZN5sleep5entry17ha9cdcfd457f2d39cE", STT_FUNC, true),
        (
            "_ZN57_$LT$sleep..sys..Stdio$u20$as$u20$sleep..cli..Console$GT$3err17he3c3ba5aa936debbE",
            STT_FUNC,
            true,
        ),
        ("__aeabi_unwind_cpp_pr0", STT_NOTYPE, false),
        ("memcmp", STT_FUNC, true),
        ("memcpy", STT_NOTYPE, false),
        ("strlen", STT_FUNC, true),
        ("__udivdi3", STT_FUNC, true),
        ("__aeabi_uldivmod", STT_FUNC, true),
        ("__aeabi_unwind_cpp_pr0", STT_FUNC, true),
        ("_ZN4core5slice5index24slice_end_index_len_fail17h0123456789abcdefE", STT_FUNC, true),
        ("_ZN5sleep3cli6report17h3bbf6813f9ba6c7eE", STT_FUNC, false),
    ];
    assert_eq!(
        foreign_symbols(symbols),
        [
            "memcmp",
            "memcpy",
            "strlen",
            "__udivdi3",
            "__aeabi_uldivmod",
            "__aeabi_unwind_cpp_pr0",
            "core::slice::index::slice_end_index_len_fail",
            "sleep::cli::report",
        ]
    );
}

/// The toolchain's own disassembler (rustup component llvm-tools), found by
/// scripts/llvm-tool.
fn llvm_objdump() -> std::path::PathBuf {
    let output = Command::new(repo().join("scripts/llvm-tool")).arg("llvm-objdump").output().unwrap();
    assert!(output.status.success(), "scripts/llvm-tool: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim_end().into()
}

/// The instructions of a binary, one mnemonic with its operands per line.
fn disassembly(bin: &Binary, triple: &str) -> Vec<String> {
    let output = std::process::Command::new(llvm_objdump())
        .args(["--disassemble-all", &format!("--triple={triple}"), "--no-show-raw-insn"])
        .arg(&bin.path)
        .output()
        .unwrap();
    assert!(output.status.success());
    let listing = String::from_utf8(output.stdout).unwrap();
    let instructions: Vec<String> = listing
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(_, rest)| rest.trim().to_string())
        .collect();
    assert!(instructions.len() > 100, "disassembly looks empty");
    instructions
}

/// The arm-v7 binary is built for a target that assumes NEON, with NEON
/// turned off (.cargo/config.toml): no VFP or NEON instruction may appear,
/// or it would die with SIGILL on ARMv7 cores without them.
#[test]
fn arm_v7_uses_no_vfp_or_neon_instruction() {
    let instructions = disassembly(&Binary::for_arch("arm-v7"), "thumbv7-linux-gnueabihf");
    let vector: Vec<&String> = instructions.iter().filter(|i| i.starts_with('v')).collect();
    assert!(vector.is_empty(), "VFP/NEON instructions: {vector:?}");
}

/// The 386 binary is built for i586: no SSE (xmm registers) and no CMOV,
/// which a Pentium lacks (the tests also run it as one under qemu).
#[test]
fn x86_32_uses_no_sse_or_cmov() {
    let instructions = disassembly(&Binary::for_arch("386"), "i586-linux-gnu");
    let newer: Vec<&String> = instructions
        .iter()
        .filter(|i| i.contains("xmm") || i.contains("%mm") || i.starts_with("cmov"))
        .collect();
    assert!(newer.is_empty(), "instructions a Pentium lacks: {newer:?}");
}

/// .cargo/config.toml, parsed.
fn cargo_config() -> toml::Table {
    let path = repo().join(".cargo/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    text.parse().unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// What cannot read arches.txt agrees with it: scripts/lib/arches.sh's reading (the
/// build, the Dockerfile), .cargo/config.toml's per-target sections, and the
/// `_start` each arch needs.
#[test]
fn everything_per_arch_follows_arches_txt() {
    let shell = |script: &str| {
        let output = Command::new("bash")
            .args(["-c", &format!("source scripts/lib/arches.sh && {script}")])
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(output.status.success(), "{script}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let names: Vec<&str> = arches().iter().map(|arch| arch.name).collect();
    assert_eq!(
        shell("echo ${ALL_ARCHES[*]}").split_whitespace().collect::<Vec<_>>(),
        names,
        "scripts/lib/arches.sh"
    );

    let config = cargo_config();
    let sections: Vec<&str> = config["target"].as_table().unwrap().keys().map(String::as_str).collect();
    check_each(arches().iter().map(|arch| arch.name), |name| {
        let arch = sleep_tests::arch(name);
        assert_eq!(
            shell(&format!("rust_target {}", arch.name)).trim(),
            arch.rust_target,
            "scripts/lib/arches.sh"
        );
        assert!(
            sections.contains(&arch.rust_target),
            "{arch}: .cargo/config.toml has no [target.{}] (its code generation flags)",
            arch.rust_target
        );
        // That src/main.rs picks it shows in the build (which fails without
        // an `arch` module) and in the binary's entry point, `_start`
        // (links_nothing_but_its_own_code).
        let start = format!("arch/{}.rs", arch.target_arch);
        assert!(repo().join("src").join(&start).is_file(), "{arch}: src/{start} (its _start) is missing");
    });
    // A `cfg(...)` section holds flags shared by several targets, not one arch's.
    let foreign: Vec<&str> = sections
        .into_iter()
        .filter(|section| {
            !section.starts_with("cfg(") && !arches().iter().any(|arch| arch.rust_target == *section)
        })
        .collect();
    assert!(
        foreign.is_empty(),
        ".cargo/config.toml has [target] sections for no arch of arches.txt: {foreign:?}"
    );
}

/// The flags every release binary shares (the inline threshold, IPRA, ...)
/// sit in one `[target.'cfg(any(...))']` section of .cargo/config.toml, not
/// in each target's: every arch's target must match it, and the host, whose
/// tests build the library, must not.
#[test]
fn every_arch_and_not_the_host_gets_the_shared_release_flags() {
    let config = cargo_config();
    let sets_the_inline_threshold = |flags: &toml::Value| {
        flags.as_array().unwrap().iter().any(|flag| flag.as_str().unwrap().contains("-inline-threshold"))
    };
    let shared: Vec<&String> = config["target"]
        .as_table()
        .unwrap()
        .iter()
        .filter(|(key, section)| key.starts_with("cfg(") && sets_the_inline_threshold(&section["rustflags"]))
        .map(|(key, _)| key)
        .collect();
    assert_eq!(shared.len(), 1, ".cargo/config.toml: one cfg section sets the shared flags");
    let predicate = shared[0].split_once("any(").unwrap().1.split_once(')').unwrap().0;
    // `key = "value"` pairs, written as rustc prints them: key="value".
    let wanted: Vec<String> = predicate.split(',').map(|pair| pair.replace(' ', "")).collect();
    let cfg_of = |target: Option<&str>| {
        let mut rustc = Command::new("rustc");
        rustc.arg("--print=cfg").current_dir(repo());
        if let Some(target) = target {
            rustc.args(["--target", target]);
        }
        let output = rustc.output().unwrap();
        assert!(output.status.success(), "rustc --print=cfg: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let matches = |cfg: &str| cfg.lines().any(|line| wanted.iter().any(|pair| pair == line));
    let unmatched: Vec<&str> = arches()
        .iter()
        .filter(|arch| !matches(&cfg_of(Some(arch.rust_target))))
        .map(|arch| arch.rust_target)
        .collect();
    assert!(
        unmatched.is_empty(),
        "{unmatched:?} match none of {wanted:?}: add them to the shared section of .cargo/config.toml"
    );
    assert!(!matches(&cfg_of(None)), "the host matches the release-only flags' section {wanted:?}");
}

per_arch!(fits_in_one_page, is_a_static_executable_with_one_rx_segment, links_nothing_but_its_own_code);
