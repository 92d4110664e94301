//! Reading `arches.txt`, the one table of what the project knows about each
//! arch (its columns are described in the file). A crate of its own, for the
//! tests' library (`tests/lib.rs`) and their build script (`tests/build.rs`,
//! which makes `per_arch!`).

/// One row of `arches.txt`.
#[derive(Debug)]
pub struct Arch {
    /// Our name: `dist/sleep-linux-<name>`.
    pub name: &'static str,
    /// Docker's platform, `linux/TARGETARCH[/TARGETVARIANT]`.
    pub platform: &'static str,
    pub rust_target: &'static str,
    /// Rust's `target_arch` (and `std::env::consts::ARCH` on such a host).
    pub target_arch: &'static str,
    /// The ELF header's `e_machine`, by its constant's name (`EM_X86_64`).
    pub elf_machine: &'static str,
    /// The pointer width: 32 or 64.
    pub bits: u32,
    /// The qemu-user command and its arguments, for another host.
    pub emulator: Vec<&'static str>,
}

impl Arch {
    /// The name of its black-box test module: a Rust name cannot contain `-`
    /// or start with a digit (`arm-v7` is `arm_v7`, `386` is `arch_386`).
    pub fn module(&self) -> String {
        let module = self.name.replace('-', "_");
        if module.starts_with(|c: char| c.is_ascii_digit()) { format!("arch_{module}") } else { module }
    }
}

/// The rows of `table` (the text of `arches.txt`), in order.
pub fn parse(table: &'static str) -> Vec<Arch> {
    table
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split_whitespace();
            let mut next =
                |column: &str| fields.next().unwrap_or_else(|| panic!("arches.txt: no {column} in {line:?}"));
            let arch = Arch {
                name: next("arch"),
                platform: next("platform"),
                rust_target: next("rust_target"),
                target_arch: next("target_arch"),
                elf_machine: next("elf_machine"),
                bits: next("bits").parse().unwrap_or_else(|_| panic!("arches.txt: bits of {line:?}")),
                emulator: vec![next("emulator")],
            };
            Arch { emulator: arch.emulator.into_iter().chain(fields).collect(), ..arch }
        })
        .collect()
}

impl std::fmt::Display for Arch {
    fn fmt(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str(self.name)
    }
}
