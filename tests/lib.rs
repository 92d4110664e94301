//! Finding and running the release binaries under test.
//!
//! Every black-box test runs once per arch, against `dist/sleep-linux-<arch>`
//! as built by `scripts/build`: natively when the arch is the host's, under
//! its qemu-user emulator otherwise. Overrides, for running the same tests
//! against another build:
//!
//! - `SLEEP_DIST`: the folder with the binaries (default: `<repo>/dist`);
//! - `SLEEP_RUNNER_<ARCH>` (e.g. `SLEEP_RUNNER_ARM64=/opt/qemu-aarch64`): the
//!   emulator for that arch; an empty value runs the binary directly.
//!
//! A missing binary or emulator fails the test; nothing is ever skipped.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

/// Every arch we build, by Docker's `TARGETARCH` name (matching `scripts/arches`).
pub const ARCHES: &[&str] = &["amd64", "arm64", "arm-v7", "riscv64", "386"];

/// One arch's release binary and how to run it here.
#[derive(Debug, Clone)]
pub struct Binary {
    pub arch: &'static str,
    pub path: PathBuf,
    /// The emulator, when the arch is not the host's.
    pub runner: Option<PathBuf>,
    /// Its arguments before the binary.
    pub runner_args: Vec<String>,
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The host's arch, by Docker's name.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "riscv64" => "riscv64",
        "arm" => "arm-v7",
        other => panic!("unknown host arch {other}"),
    }
}

/// The qemu-user emulator for an arch, and the CPU it emulates: the oldest
/// the binary is meant for, so an instruction it lacks would fail a test.
fn default_emulator(arch: &str) -> (&'static str, &'static [&'static str]) {
    match arch {
        "amd64" => ("qemu-x86_64-static", &[]),
        "arm64" => ("qemu-aarch64-static", &[]),
        "arm-v7" => ("qemu-arm-static", &[]),
        "riscv64" => ("qemu-riscv64-static", &[]),
        // A Pentium: no SSE, no CMOV (the binary is built for i586).
        "386" => ("qemu-i386-static", &["-cpu", "pentium"]),
        other => panic!("no emulator known for {other}"),
    }
}

/// Looks `program` up on `PATH` (or takes it as a path).
pub fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| PathBuf::from(program));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

impl Binary {
    /// The binary for `arch`, checked to exist together with its emulator.
    pub fn for_arch(arch: &'static str) -> Binary {
        // A relative SLEEP_DIST is taken from the repository root.
        let dist = repo().join(std::env::var_os("SLEEP_DIST").unwrap_or_else(|| "dist".into()));
        let path = dist.join(format!("sleep-linux-{arch}"));
        assert!(
            path.is_file(),
            "{} is missing: build it with scripts/build (or point SLEEP_DIST at the binaries)",
            path.display()
        );
        let variable = format!("SLEEP_RUNNER_{}", arch.to_uppercase().replace('-', "_"));
        let (runner, runner_args) = match std::env::var(&variable) {
            Ok(runner) if runner.is_empty() => (None, vec![]),
            Ok(runner) => (Some(runner), vec![]),
            Err(_) if arch == host_arch() => (None, vec![]),
            Err(_) => {
                let (emulator, args) = default_emulator(arch);
                (Some(emulator.to_string()), args.iter().map(|arg| arg.to_string()).collect())
            }
        };
        let runner = runner.map(|name| {
            which(&name).unwrap_or_else(|| {
                panic!("emulator {name} for {arch} not found: install qemu-user-static (scripts/setup) or set {variable}")
            })
        });
        Binary { arch, path, runner, runner_args }
    }

    /// A command that runs this binary with `args`.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = match &self.runner {
            Some(runner) => {
                let mut command = Command::new(runner);
                command.args(&self.runner_args).arg(&self.path);
                command
            }
            None => Command::new(&self.path),
        };
        command.args(args);
        command
    }

    /// A `assert_cmd` command for this binary with `args`.
    pub fn cmd<I, S>(&self, args: I) -> assert_cmd::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = assert_cmd::Command::from_std(self.command(args));
        // Nothing here should take long; a hang fails instead of blocking CI.
        command.timeout(Duration::from_secs(60));
        command
    }
}

/// `s` seconds.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Calls `check` every few milliseconds until it gives a value, or `limit` passes.
pub fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` to a process this test started.
pub fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory effects; the pid is one of our processes.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0, "kill({pid}, {signal})");
}

/// A process's state letter (`S` = blocked in the kernel) and the CPU time
/// it has used, user plus system, in clock ticks (from /proc/PID/stat).
pub fn state_and_cpu_ticks(pid: u32) -> (String, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name: state is 3rd, utime 14th, stime 15th.
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (fields[0].to_string(), ticks)
}

/// Runs `f` and returns how long it took along with its result.
pub fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let value = f();
    (start.elapsed(), value)
}

/// The arch a test module is named after: `arm_v7` is arm-v7, `i386` is 386
/// (a Rust name cannot contain `-` or start with a digit).
pub fn arch_named(module: &str) -> &'static str {
    let arch = match module {
        "arm_v7" => "arm-v7",
        "i386" => "386",
        other => other,
    };
    ARCHES.iter().find(|known| **known == arch).unwrap_or_else(|| panic!("unknown arch {module}"))
}

/// Defines, for each test function named, one `#[test]` per arch:
/// `amd64::name`, `arm64::name`, ... each calling `name(&Binary)`.
#[macro_export]
macro_rules! per_arch {
    ($($name:ident),* $(,)?) => {
        $crate::per_arch!(@arches [amd64, arm64, arm_v7, riscv64, i386] [$($name),*]);
    };
    (@arches [$($arch:ident),*] $names:tt) => {
        $( $crate::per_arch!(@arch $arch $names); )*
    };
    (@arch $arch:ident [$($name:ident),*]) => {
        mod $arch {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::Binary::for_arch($crate::arch_named(stringify!($arch))));
                }
            )*
        }
    };
}
