//! Finding and running the release binaries under test.
//!
//! Every black-box test runs once per arch of `arches.txt`, against
//! `dist/sleep-linux-<arch>` as built by `scripts/build`: natively when the
//! arch is the host's, under its qemu-user emulator (the table's last column)
//! otherwise. Overrides, for running the same tests against another build:
//!
//! - `SLEEP_DIST`: the folder with the binaries (default: `<repo>/dist`);
//! - `SLEEP_RUNNER_<ARCH>` (e.g. `SLEEP_RUNNER_ARM64=/opt/qemu-aarch64`): the
//!   emulator for that arch; an empty value runs the binary directly.
//!
//! A missing binary or emulator fails the test; nothing is ever skipped.

use std::{
    path::PathBuf,
    process::{Child, Command, ExitStatus},
    sync::LazyLock,
    time::{Duration, Instant},
};

pub use arch_table::Arch;
pub use sleep_testbed::{kill_and_reap, poll, process::children, repo, secs, which, with_default_signals};

pub mod operands;

// `per_arch!`, made by build.rs from arches.txt.
include!(concat!(env!("OUT_DIR"), "/per_arch.rs"));

/// Every arch we build and test: the rows of `arches.txt`.
pub fn arches() -> &'static [Arch] {
    static ARCHES: LazyLock<Vec<Arch>> = LazyLock::new(|| arch_table::parse(include_str!("../arches.txt")));
    &ARCHES
}

/// The row of `arches.txt` for `name`.
pub fn arch(name: &str) -> &'static Arch {
    arches().iter().find(|arch| arch.name == name).unwrap_or_else(|| panic!("arches.txt has no arch {name}"))
}

// What the binary writes, as a user sees it: written out here, not taken
// from the library, so that a changed text fails the tests that expect it
// (`tests/cli.rs` checks the library's copies against these, once).

/// The line after every usage error, as GNU's `sleep` writes it: users'
/// scripts match on it.
pub const TRY: &str = "Try 'sleep --help' for more information.\n";

/// What the binary writes when the kernel refuses its sleep, on an arch of
/// `bits`-bit pointers: a 64-bit kernel never does; a 32-bit one before
/// Linux 5.1 has no 64-bit-time sleep.
pub fn sleep_failed(bits: u32) -> &'static str {
    match bits {
        64 => "sleep: clock_nanosleep failed\n",
        32 => "sleep: clock_nanosleep_time64 failed (Linux 5.1+ needed)\n",
        _ => panic!("no arch has {bits}-bit pointers"),
    }
}

/// What `--version` writes: `sleep` and the project's version, which lives in
/// `Cargo.toml` alone (`scripts/version` prints it).
pub fn version_line() -> String {
    let output = Command::new(repo().join("scripts/version")).output().expect("scripts/version");
    assert!(output.status.success(), "scripts/version: {output:?}");
    format!("sleep {}", String::from_utf8(output.stdout).unwrap())
}

/// One arch's release binary and how to run it here.
#[derive(Debug, Clone)]
pub struct Binary {
    pub arch: &'static Arch,
    pub path: PathBuf,
    /// The emulator, when the arch is not the host's.
    pub runner: Option<PathBuf>,
    /// Its arguments before the binary.
    pub runner_args: Vec<String>,
}

/// The host's arch: the first row of `arches.txt` with its `target_arch`.
pub fn host_arch() -> &'static str {
    let host = std::env::consts::ARCH;
    arches()
        .iter()
        .find(|arch| arch.target_arch == host)
        .unwrap_or_else(|| panic!("no arch in arches.txt runs on this {host} host"))
        .name
}

impl Binary {
    /// The binary for `arch`, checked to exist together with its emulator.
    pub fn for_arch(name: &str) -> Binary {
        let arch = self::arch(name);
        // A relative SLEEP_DIST is taken from the repository root.
        let dist = repo().join(std::env::var_os("SLEEP_DIST").unwrap_or_else(|| "dist".into()));
        let path = dist.join(format!("sleep-linux-{arch}"));
        assert!(
            path.is_file(),
            "{} is missing: build it with scripts/build (or point SLEEP_DIST at the binaries)",
            path.display()
        );
        let variable = format!("SLEEP_RUNNER_{}", arch.name.to_uppercase().replace('-', "_"));
        let (runner, runner_args) = match std::env::var(&variable) {
            Ok(runner) if runner.is_empty() => (None, vec![]),
            Ok(runner) => (Some(runner), vec![]),
            Err(_) if arch.name == host_arch() => (None, vec![]),
            Err(_) => {
                let (emulator, args) = arch.emulator.split_first().unwrap();
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

    /// A std command that runs this binary with `args`, with the default
    /// signal dispositions ([`with_default_signals`]): for spawning it and
    /// watching it run, or for handing its program and arguments to another
    /// command (`unshare`).
    pub fn std_command<I, S>(&self, args: I) -> Command
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
        with_default_signals(&mut command);
        command
    }

    /// The same as an `assert_cmd` command, for running it to the end and
    /// asserting on its status and output; it fails after 60 s instead of
    /// hanging.
    pub fn assert_cmd<I, S>(&self, args: I) -> assert_cmd::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = assert_cmd::Command::from_std(self.std_command(args));
        // Nothing here should take long; a hang fails instead of blocking CI.
        command.timeout(Duration::from_secs(60));
        command
    }
}

/// Runs `check` on every case, then fails once, naming each case that failed
/// and its message: one failing case does not hide the others. (For a table
/// inside a `per_arch!` test, which cannot take rstest cases.)
pub fn check_each<Case: std::fmt::Debug>(cases: impl IntoIterator<Item = Case>, check: impl Fn(&Case)) {
    let mut count = 0;
    let mut failures = Vec::new();
    for case in cases {
        count += 1;
        // AssertUnwindSafe: after a failure only the message is read.
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&case))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{case:?}: {message}"));
        }
    }
    assert!(failures.is_empty(), "{} of {count} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// Waits for `child` to end; if it has not within `limit`, kills it and panics.
pub fn wait_with_deadline(child: &mut Child, limit: Duration) -> ExitStatus {
    poll(limit, || child.try_wait().unwrap()).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("still running after {limit:?}");
    })
}

/// Sends `signal` to a process this test started.
pub fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory effects; the pid is one of our processes.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0, "kill({pid}, {signal})");
}

/// Waits until process `pid` is blocked in `clock_nanosleep` (read from
/// /proc/PID/syscall: under qemu it is the host call qemu makes for the
/// guest's, with the same clock and flags); returns the call's first two
/// arguments, the clock and the flags.
pub fn wait_until_sleeping(pid: u32) -> (u64, u64) {
    let syscall = || std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    poll(secs(10.0), || {
        let syscall = syscall();
        let fields: Vec<&str> = syscall.split_whitespace().collect();
        let number = fields.first().and_then(|number| number.parse::<i64>().ok());
        let argument = |i: usize| u64::from_str_radix(fields[i].trim_start_matches("0x"), 16).unwrap();
        (number == Some(libc::SYS_clock_nanosleep)).then(|| (argument(1), argument(2)))
    })
    .unwrap_or_else(|| panic!("not sleeping after 10 s: {:?}", syscall()))
}

/// Whether `pid` has a handler for `signal` (its `SigCgt` mask in
/// /proc/PID/status). A namespace's init gets a signal only once it has one:
/// before that the kernel drops it.
pub fn catches(pid: u32, signal: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mask = status.lines().find_map(|line| line.strip_prefix("SigCgt:")).map(str::trim);
    mask.and_then(|mask| u64::from_str_radix(mask, 16).ok()).is_some_and(|mask| mask >> (signal - 1) & 1 == 1)
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
