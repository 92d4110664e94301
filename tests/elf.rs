//! The release binaries' sizes and ELF layout, for every arch, and the arch
//! table (`arches.txt`) against what cannot read it.

use std::process::Command;

use goblin::elf::{Elf, header, program_header as ph};
use sleep_tests::{Binary, arches, per_arch, repo};

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

fn is_within_the_design_card_limit(bin: &Binary) {
    let size = std::fs::metadata(&bin.path).unwrap().len();
    assert!(size <= 10 * 1024, "{}: {size} bytes, over the design card's limit of 10 KiB", bin.arch);
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

/// The toolchain's own disassembler (rustup component llvm-tools).
fn llvm_objdump() -> std::path::PathBuf {
    let rustc = |arg: &str| {
        let output = std::process::Command::new("rustc").arg(arg).current_dir(repo()).output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let sysroot = rustc("--print=sysroot");
    let host = rustc("-vV").lines().find_map(|line| line.strip_prefix("host: ")).unwrap().to_string();
    let path = std::path::Path::new(sysroot.trim()).join("lib/rustlib").join(host).join("bin/llvm-objdump");
    assert!(path.is_file(), "{} missing: run scripts/setup (llvm-tools)", path.display());
    path
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

/// What cannot read arches.txt agrees with it: scripts/arches' reading (the
/// build, the Dockerfile), .cargo/config.toml's per-target sections, and the
/// `_start` each arch needs.
#[test]
fn everything_per_arch_follows_arches_txt() {
    let shell = |script: &str| {
        let output = Command::new("bash")
            .args(["-c", &format!("source scripts/arches && {script}")])
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
        "scripts/arches"
    );

    let config = std::fs::read_to_string(repo().join(".cargo/config.toml")).unwrap();
    let sections: Vec<&str> =
        config.lines().filter_map(|line| line.strip_prefix("[target.")?.strip_suffix(']')).collect();
    let main = std::fs::read_to_string(repo().join("src/main.rs")).unwrap();
    for arch in arches() {
        assert_eq!(shell(&format!("rust_target {}", arch.name)).trim(), arch.rust_target, "scripts/arches");
        assert!(
            sections.contains(&arch.rust_target),
            "{arch}: .cargo/config.toml has no [target.{}] (its code generation flags)",
            arch.rust_target
        );
        let start = format!("arch/{}.rs", arch.target_arch);
        assert!(repo().join("src").join(&start).is_file(), "{arch}: src/{start} (its _start) is missing");
        assert!(
            main.contains(&format!("target_arch = \"{}\", path = \"{start}\"", arch.target_arch)),
            "{arch}: src/main.rs does not pick src/{start}"
        );
    }
    // A `cfg(...)` section holds flags shared by several targets, not one arch's.
    for section in sections.into_iter().filter(|section| !section.starts_with("'cfg(")) {
        assert!(
            arches().iter().any(|arch| arch.rust_target == section),
            ".cargo/config.toml: [target.{section}] is no arch's target in arches.txt"
        );
    }
}

/// The flags every release binary shares (the inline threshold, IPRA, ...)
/// sit in one `[target.'cfg(any(...))']` section of .cargo/config.toml, not
/// in each target's: every arch's target must match it, and the host, whose
/// tests build the library, must not.
#[test]
fn every_arch_and_not_the_host_gets_the_shared_release_flags() {
    let config = std::fs::read_to_string(repo().join(".cargo/config.toml")).unwrap();
    let shared: Vec<&str> = config
        .split("\n[")
        .filter(|section| section.starts_with("target.'cfg(") && section.contains("-inline-threshold"))
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
    for arch in arches() {
        assert!(
            matches(&cfg_of(Some(arch.rust_target))),
            "{arch}: {} matches none of {wanted:?}: add it to the shared section of .cargo/config.toml",
            arch.rust_target
        );
    }
    assert!(!matches(&cfg_of(None)), "the host matches the release-only flags' section {wanted:?}");
}

per_arch!(is_within_the_design_card_limit, is_a_static_executable_with_one_rx_segment);
