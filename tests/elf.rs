//! The release binaries' size budget and ELF layout, for every arch.

use goblin::elf::{Elf, header, program_header as ph};
use sleep_tests::{ARCHES, Binary, per_arch, repo};

/// How far under its budget a binary may fall before the budget must be lowered.
const BUDGET_SLACK: u64 = 32;

fn budget(arch: &str) -> u64 {
    let text = std::fs::read_to_string(repo().join("size-budget.txt")).unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .find_map(|line| {
            let (name, bytes) = line.split_once(' ')?;
            (name == arch).then(|| bytes.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("size-budget.txt has no budget for {arch}"))
}

fn expected_machine(arch: &str) -> u16 {
    match arch {
        "amd64" => header::EM_X86_64,
        "arm64" => header::EM_AARCH64,
        "arm-v7" => header::EM_ARM,
        "riscv64" => header::EM_RISCV,
        "386" => header::EM_386,
        other => panic!("unknown arch {other}"),
    }
}

fn within_its_size_budget(bin: &Binary) {
    let size = std::fs::metadata(&bin.path).unwrap().len();
    let budget = budget(bin.arch);
    assert!(size <= budget, "{}: {size} bytes, over its budget of {budget}", bin.arch);
    assert!(
        size + BUDGET_SLACK >= budget,
        "{}: {size} bytes, well under its budget of {budget}: lower the budget in size-budget.txt",
        bin.arch
    );
    assert!(size < 10 * 1024, "{}: {size} bytes, over the user's 10 KiB limit", bin.arch);
}

fn is_a_static_executable_with_one_rx_segment(bin: &Binary) {
    let bytes = std::fs::read(&bin.path).unwrap();
    let elf = Elf::parse(&bytes).unwrap();
    assert_eq!(elf.header.e_type, header::ET_EXEC, "{}: not a fixed-address executable", bin.arch);
    assert_eq!(elf.header.e_machine, expected_machine(bin.arch));
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

/// The README's size table speaks of the binaries as built, not as they were.
fn matches_the_readme_size_table(bin: &Binary) {
    let size = std::fs::metadata(&bin.path).unwrap().len();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let sizes = readme.split("\n## Sizes\n").nth(1).expect("README has a Sizes section");
    let row = sizes
        .lines()
        .take_while(|line| !line.starts_with("## "))
        .find(|line| line.starts_with(&format!("| {} |", bin.arch)))
        .unwrap_or_else(|| panic!("README's Sizes table has no row for {}", bin.arch));
    let documented: u64 = row.split('|').nth(2).unwrap().trim().parse().unwrap();
    assert_eq!(documented, size, "{}: README says {documented} bytes, the binary has {size}", bin.arch);
}

/// The README's headline and docs/benchmarks.md come from `scripts/bench`: they
/// must have measured this amd64 binary, not an older one (rerun the script
/// after a change that moves the size).
#[test]
fn benchmarks_measured_this_binary() {
    let bin = Binary::for_arch("amd64");
    let size = std::fs::metadata(&bin.path).unwrap().len();
    let shown = format!("{size}")
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    let report = std::fs::read_to_string(repo().join("docs/benchmarks.md")).unwrap();
    assert!(
        report.contains(&format!("| ours | `dist/sleep-linux-amd64` | static | {shown} |")),
        "docs/benchmarks.md did not measure this {size}-byte binary: run scripts/bench"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("| file size (bytes) | {shown} |")),
        "README's headline did not measure this {size}-byte binary: run scripts/bench"
    );
}

/// scripts/arches (what is built, and the Docker mapping) and the tests'
/// list (what is tested) name the same arches, and rust-toolchain.toml
/// installs every target they are built for.
#[test]
fn the_arch_lists_agree() {
    let shell = |script: &str| {
        let output = std::process::Command::new("bash")
            .args(["-c", &format!("source scripts/arches && {script}")])
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(output.status.success(), "{script}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let built: Vec<String> = shell("echo ${ALL_ARCHES[*]}").split_whitespace().map(String::from).collect();
    assert_eq!(built, ARCHES, "scripts/arches and tests/lib.rs list different arches");
    let toolchain = std::fs::read_to_string(repo().join("rust-toolchain.toml")).unwrap();
    for arch in ARCHES {
        let target = shell(&format!("rust_target {arch}"));
        assert!(toolchain.contains(&format!("\"{}\"", target.trim())), "rust-toolchain.toml lacks {target}");
    }
}

#[test]
fn every_arch_has_a_budget() {
    for arch in ARCHES {
        assert!(budget(arch) > 0);
    }
}

per_arch!(within_its_size_budget, is_a_static_executable_with_one_rx_segment, matches_the_readme_size_table);
