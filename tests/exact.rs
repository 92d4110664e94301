//! The exact nanoseconds each arch's binary asks the kernel for, against the
//! reference the property tests use (the `reference` crate: big rationals, each
//! operand rounded up, then summed, saturating).
//!
//! `parser_prop.rs` checks the library as compiled for the host; this checks
//! every release binary, 32-bit `usize` and `divide.rs` included, on a few
//! hundred generated operands (decimal, hex, exponents, suffixes, long digit
//! strings, white space and `+`, infinity, and sums of several).
//!
//! How: each run is traced by `strace`, which answers the sleep
//! (`clock_nanosleep`) with ENOSYS, so no run really sleeps and each ends at
//! once with the "failed" message, and logs the absolute deadline it was
//! asked for. The clock reading the binary added to is its `clock_gettime`:
//! logged by `strace` when it runs natively, and by qemu's own `-strace`
//! under emulation (qemu serves the guest's call from the host's vDSO, which
//! `strace` cannot see). Deadline minus reading is what the binary asked for.
//!
//! `SLEEP_EXACT_SEED` picks other operands (the default seed is fixed, so the
//! same operands run on every arch and in every run).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use sleep_tests::{Binary, check_each, operands::structured_operand, per_arch, sleep_failed, which};

/// Runs per arch: this many single operands, and a fifth as many sums.
const SINGLE_OPERANDS: usize = 250;

/// What one traced run showed.
struct Run {
    output: Output,
    /// `(seconds, nanoseconds)` of the binary's CLOCK_MONOTONIC reading.
    now: Option<(i64, i64)>,
    /// `(seconds, nanoseconds)` of the absolute deadline it asked to sleep to.
    deadline: Option<(i64, i64)>,
    /// Every clock call the binary made, as logged.
    clock_calls: Vec<String>,
}

/// Runs `bin` with `args` under `strace` (and qemu's `-strace` when emulated).
fn traced(bin: &Binary, args: &[String]) -> Run {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let strace = which("strace").expect("strace not found: run scripts/setup");
    let logs = std::env::temp_dir().join(format!(
        "sleep-exact-{}-{}-{}",
        std::process::id(),
        bin.arch,
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let (host_log, guest_log) = (logs.with_extension("host"), logs.with_extension("guest"));
    let mut command = Command::new(strace);
    command.args(["-f", "-qq", "-o"]).arg(&host_log).args([
        "-e",
        "trace=/^clock_(gettime|nanosleep)",
        "-e",
        "inject=/^clock_nanosleep:error=ENOSYS",
    ]);
    let emulated = match &bin.runner {
        None => false,
        Some(runner) if file_name(runner).starts_with("qemu-") => {
            command.arg(runner).args(&bin.runner_args).arg("-strace").arg("-D").arg(&guest_log);
            true
        }
        Some(runner) => panic!("{}: needs qemu-user or no emulator, not {}", bin.arch, runner.display()),
    };
    let output = command.arg(&bin.path).args(args).output().unwrap();
    let host = read_and_remove(&host_log);
    let guest = if emulated { read_and_remove(&guest_log) } else { host.clone() };

    let deadline = host
        .lines()
        .find(|line| line.contains("clock_nanosleep") && line.contains("TIMER_ABSTIME"))
        .map(timespec);
    let now = guest
        .lines()
        .find(|line| line.contains("clock_gettime") && line.contains("CLOCK_MONOTONIC"))
        .map(timespec);
    // Under qemu, the guest's calls are in its log (a clock_*_time64 it
    // cannot name shows as "Unknown syscall"); natively, in strace's.
    let clock_calls = guest
        .lines()
        .filter(|line| line.contains("clock_") || line.contains("Unknown syscall"))
        .chain(host.lines().filter(|line| emulated && line.contains("TIMER_ABSTIME")))
        .map(String::from)
        .collect();
    Run { output, now, deadline, clock_calls }
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn read_and_remove(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    std::fs::remove_file(path).unwrap();
    text
}

/// The `tv_sec` and `tv_nsec` of a logged timespec, in strace's format
/// (`{tv_sec=5, tv_nsec=7}`) or qemu's (`{tv_sec = 5,tv_nsec = 7}`).
fn timespec(line: &str) -> (i64, i64) {
    let field = |name: &str| -> i64 {
        let after = &line[line.find(name).unwrap_or_else(|| panic!("no {name} in {line:?}")) + name.len()..];
        let digits: String = after
            .trim_start_matches([' ', '='])
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        digits.parse().unwrap_or_else(|_| panic!("no number after {name} in {line:?}"))
    };
    (field("tv_sec"), field("tv_nsec"))
}

/// Nanoseconds since boot of a `CLOCK_MONOTONIC` time.
fn nanos((seconds, nanoseconds): (i64, i64)) -> i128 {
    i128::from(seconds) * 1_000_000_000 + i128::from(nanoseconds)
}

/// A deadline as the kernel reads it (`timespec64_to_ktime`): any time from
/// `KTIME_SEC_MAX` seconds on (about 292 years) is `KTIME_MAX`, "never".
/// Past that every deadline means the same, so the binary may ask for any.
fn as_the_kernel_reads(deadline_nanos: i128) -> i128 {
    const KTIME_MAX: i128 = i64::MAX as i128;
    const KTIME_SEC_MAX: i128 = KTIME_MAX / 1_000_000_000;
    if deadline_nanos.div_euclid(1_000_000_000) >= KTIME_SEC_MAX { KTIME_MAX } else { deadline_nanos }
}

// ---- operands ----------------------------------------------------------------

/// One operand: the property test's generated operands (`operands.rs`;
/// the invalid ones are dropped in [`cases`]), or a long run of zeros
/// before or after the point, then digits: hundreds of digits below a
/// nanosecond or past a 32-bit word.
fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => structured_operand().prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        1 => "0\\.0{0,2000}[0-9]{1,20}",
        1 => "0{0,2000}[0-9]{1,20}",
    ]
}

/// The operand lists to run: single operands, then sums of two to six.
fn cases() -> Vec<Vec<String>> {
    let seed: u64 =
        std::env::var("SLEEP_EXACT_SEED").map_or(0x51ee9, |seed| seed.parse().expect("SLEEP_EXACT_SEED"));
    let mut seed_bytes = [0; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner =
        TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let strategy = operand();
    let mut valid = || loop {
        let candidate = strategy.new_tree(&mut runner).unwrap().current();
        if reference::nanoseconds(candidate.as_bytes()).is_some() {
            return candidate;
        }
    };
    let mut cases: Vec<Vec<String>> = (0..SINGLE_OPERANDS).map(|_| vec![valid()]).collect();
    for count in (0..SINGLE_OPERANDS / 5).map(|i| 2 + i % 5) {
        cases.push((0..count).map(|_| valid()).collect());
    }
    // Edges: the smallest step, rounding up, the largest finite total, saturation.
    for edge in [
        &["1e-9"][..],
        &["0.0000000001"],
        &["1e-400", "1e-400"],
        &["0.1", "0.2"],
        &["18446744073.709551615"],
        &["18446744073.709551615", "1e-9"],
        &["106751d", "99999h"],
    ] {
        cases.push(edge.iter().map(|operand| operand.to_string()).collect());
    }
    cases
}

/// The reference's total: each operand rounded up, summed, saturating.
fn expected_total(operands: &[String]) -> u64 {
    operands
        .iter()
        .map(|operand| reference::nanoseconds(operand.as_bytes()).unwrap())
        .fold(0, u64::saturating_add)
}

// ---- the checks ----------------------------------------------------------------

fn each_run_asks_the_kernel_for_the_reference_nanoseconds(bin: &Binary) {
    let refused = sleep_failed(bin.arch.bits);
    let cases = cases();
    let mut wrong = Vec::new();
    for operands in &cases {
        let expected = expected_total(operands);
        let run = traced(bin, operands);
        let stderr = String::from_utf8_lossy(&run.output.stderr);
        let got = match (expected, run.now, run.deadline) {
            (0, ..) if run.output.status.code() == Some(0) && run.clock_calls.is_empty() => continue,
            (1.., Some(now), Some(deadline)) if run.output.status.code() == Some(1) && stderr == refused => {
                let asked = as_the_kernel_reads(nanos(deadline));
                if asked == as_the_kernel_reads(nanos(now) + i128::from(expected)) {
                    continue;
                }
                format!("asked for {} ns", nanos(deadline) - nanos(now))
            }
            _ => format!("{:?}, stderr {stderr:?}, clock calls {:?}", run.output.status, run.clock_calls),
        };
        wrong.push(format!("{operands:?}: reference {expected} ns, binary {got}"));
    }
    assert!(
        wrong.is_empty(),
        "{}: {} of {} runs differ from the reference, e.g.:\n{}",
        bin.arch,
        wrong.len(),
        cases.len(),
        wrong[..wrong.len().min(10)].join("\n")
    );
}

fn a_zero_total_reads_no_clock_and_never_sleeps(bin: &Binary) {
    let cases: [&[&str]; 5] =
        [&["0"], &["0s", "0e5"], &["--", "-0"], &["0x0p99", "0d", " +0.000m"], &["0", "0", "0"]];
    check_each(cases, |operands| {
        let operands: Vec<String> = operands.iter().map(|operand| operand.to_string()).collect();
        let run = traced(bin, &operands);
        assert_eq!(run.output.status.code(), Some(0), "{operands:?} on {}: {:?}", bin.arch, run.output);
        assert!(run.output.stderr.is_empty(), "{operands:?} on {}: {:?}", bin.arch, run.output);
        assert!(run.clock_calls.is_empty(), "{operands:?} on {}: {:?}", bin.arch, run.clock_calls);
    });
}

per_arch!(
    each_run_asks_the_kernel_for_the_reference_nanoseconds,
    a_zero_total_reads_no_clock_and_never_sleeps
);
