//! Black-box behaviour of the release binary, for every arch: exit codes,
//! output, how long it sleeps, and how it dies.
//!
//! Timing is checked by lower bounds (it never sleeps less than asked) plus
//! generous upper bounds (it does not sleep much longer), since CI machines
//! and qemu are noisy; speed figures belong in `scripts/bench`, not here.

use std::{
    os::unix::process::ExitStatusExt,
    process::{Child, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use assert_cmd::assert::OutputAssertExt;
use sleep_tests::{
    Binary, TRY, check_each, per_arch, secs, send_signal, sleep_failed, state_and_cpu_ticks, timed,
    version_line, wait_until_sleeping, wait_with_deadline,
};

/// How long a process may take beyond its sleep here, qemu included.
const SLACK: Duration = Duration::from_secs(3);

/// Asserts the binary exits 0 with no output after at least `at_least`.
fn assert_sleeps(bin: &Binary, args: &[&str], at_least: Duration) {
    let (elapsed, _) = timed(|| bin.assert_cmd(args).assert().success().stdout("").stderr(""));
    assert!(elapsed >= at_least, "{args:?} on {}: slept {elapsed:?} < {at_least:?}", bin.arch);
    assert!(elapsed < at_least + SLACK, "{args:?} on {}: slept {elapsed:?}, far past {at_least:?}", bin.arch);
}

/// A valid operand that sleeps far longer than any run here takes: given
/// next to an invalid one, it shows that nothing was slept before the error.
const LONG: &str = "1000";

/// Asserts the binary fails with status 1, nothing on stdout, exactly
/// `stderr`, and without sleeping: well within the time a start-up takes
/// under qemu, and far from the [`LONG`] operands it is given.
fn assert_rejects(bin: &Binary, args: &[&str], stderr: &str) {
    let (elapsed, _) = timed(|| bin.assert_cmd(args).assert().code(1).stdout("").stderr(stderr.to_string()));
    assert!(elapsed < SLACK, "{args:?} on {}: took {elapsed:?}, so it slept", bin.arch);
}

fn invalid(operand: &str) -> String {
    format!("sleep: invalid time interval '{operand}'\n")
}

/// Starts the binary, checks it is still running after `alive_for`.
fn spawn_running(bin: &Binary, args: &[&str], alive_for: Duration) -> Child {
    let mut child = bin.std_command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    sleep(alive_for);
    assert!(child.try_wait().unwrap().is_none(), "{args:?} on {} ended early", bin.arch);
    child
}

fn send(child: &Child, signal: i32) {
    send_signal(child.id(), signal);
}

// ---- sleeping -------------------------------------------------------------

fn when_one_operand_then_it_sleeps_that_long(bin: &Binary) {
    assert_sleeps(bin, &["0.3"], secs(0.3));
}

fn when_several_operands_then_it_sleeps_their_sum(bin: &Binary) {
    assert_sleeps(bin, &["0.1", ".1s", "0.002m", "+0.1"], secs(0.42));
}

fn when_units_hex_and_exponents_then_exact_values(bin: &Binary) {
    assert_sleeps(bin, &["0x1p-2", "25e-2", " 0X.4P0", "0.00000694444445d"], secs(1.35));
}

fn when_zero_or_tiny_then_it_exits_at_once(bin: &Binary) {
    let cases: [&[&str]; 5] = [&["0"], &["0s"], &["--", "-0"], &["1e-400"], &["0x1p-99999"]];
    check_each(cases, |args| assert_sleeps(bin, args, Duration::ZERO));
}

fn when_sleeping_then_it_waits_for_an_absolute_monotonic_deadline(bin: &Binary) {
    let mut child = bin.std_command(["30"]).spawn().unwrap();
    let (clock, flags) = wait_until_sleeping(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(clock, libc::CLOCK_MONOTONIC as u64, "on {}: not CLOCK_MONOTONIC", bin.arch);
    assert_eq!(flags, libc::TIMER_ABSTIME as u64, "on {}: not TIMER_ABSTIME", bin.arch);
}

/// The kernel lets a sleep end up to the timer slack (50 µs by default) late;
/// the binary asks for 1 ns before it sleeps (`scripts/bench` measured the
/// gain). Under qemu the guest's prctl reaches the host thread that sleeps.
fn when_sleeping_then_its_timer_slack_is_1_ns(bin: &Binary) {
    let mut child = bin.std_command(["30"]).spawn().unwrap();
    wait_until_sleeping(child.id());
    let slack = std::fs::read_to_string(format!("/proc/{}/timerslack_ns", child.id()));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(slack.unwrap().trim(), "1", "on {}", bin.arch);
}

fn when_stopped_and_continued_then_the_deadline_does_not_move(bin: &Binary) {
    let start = Instant::now();
    let mut child = bin.std_command(["1"]).spawn().unwrap();
    wait_until_sleeping(child.id());
    let asleep_at = start.elapsed();
    send(&child, libc::SIGSTOP);
    sleep(secs(1.8));
    send(&child, libc::SIGCONT);
    let status = wait_with_deadline(&mut child, secs(10.0));
    let elapsed = start.elapsed();
    assert_eq!(status.code(), Some(0));
    // The deadline (1 s after it fell asleep) passed while it was stopped: it
    // ends as soon as it runs again, not 1 s or more later.
    assert!(elapsed < asleep_at + secs(2.6), "on {}: ended after {elapsed:?}", bin.arch);
}

// ---- forever ---------------------------------------------------------------

fn when_infinity_or_huge_then_it_runs_until_killed(bin: &Binary) {
    check_each(["infinity", "INF", "1e400", "213503982336d", "99999999999999999999h"], |operand| {
        let mut child = spawn_running(bin, &[operand], secs(1.2));
        send(&child, libc::SIGTERM);
        let status = wait_with_deadline(&mut child, secs(10.0));
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{operand} on {}", bin.arch);
    });
}

fn when_forever_then_it_uses_no_cpu(bin: &Binary) {
    let mut child = spawn_running(bin, &["infinity"], secs(1.0));
    let (state, ticks) = state_and_cpu_ticks(child.id());
    send(&child, libc::SIGKILL);
    child.wait().unwrap();
    assert_eq!(state, "S", "on {}: not blocked in the kernel", bin.arch);
    // qemu needs a few ticks to start; a spinning process would use ~100.
    assert!(ticks < 50, "on {}: {ticks} ticks of CPU in 1 s", bin.arch);
}

// ---- signals ---------------------------------------------------------------

fn when_signalled_then_it_dies_by_that_signal(bin: &Binary) {
    let signals = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGKILL, libc::SIGUSR1, libc::SIGSEGV];
    check_each(signals, |&signal| {
        let mut child = spawn_running(bin, &["30"], secs(0.5));
        send(&child, signal);
        let status = wait_with_deadline(&mut child, secs(10.0));
        assert_eq!(status.signal(), Some(signal), "on {}: {status:?}", bin.arch);
    });
}

/// What the signal tests rely on: however the test's own parent left the
/// dispositions and the mask (simulated here in the child, before the reset),
/// the child starts with every signal at its default and none blocked.
#[test]
fn with_default_signals_undoes_what_the_parent_ignored_or_blocked() {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new("grep");
    command.args(["-E", "^Sig(Ign|Blk):", "/proc/self/status"]).stdout(Stdio::piped());
    // SAFETY: signal and sigprocmask are async-signal-safe; the set is the
    // closure's own.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let output = sleep_tests::with_default_signals(&mut command).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    );
}

/// What the tables here rely on: every case runs, and the one failure names
/// each case that failed, with its message.
#[test]
fn check_each_reports_every_failing_case() {
    let failure = std::panic::catch_unwind(|| {
        check_each([1, 2, 3, 4], |&case| assert!(case % 2 == 1, "{case} is even"));
    })
    .expect_err("two cases failed");
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(message.starts_with("2 of 4 cases failed:\n"), "{message}");
    assert!(message.contains("2: 2 is even\n4: 4 is even"), "{message}");
}

/// A kernel without the sleep call it needs (a 32-bit one before Linux 5.1
/// has no clock_nanosleep_time64) must give a clear error, not a wrong
/// sleep. Simulated with a seccomp filter that answers ENOSYS for the host's
/// clock_nanosleep, which qemu-user also uses for the guest's.
fn when_the_kernel_refuses_the_sleep_then_it_says_so_and_fails(bin: &Binary) {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    use std::os::unix::process::CommandExt;
    let host = match std::env::consts::ARCH {
        "x86_64" => TargetArch::x86_64,
        "aarch64" => TargetArch::aarch64,
        other => panic!("no seccomp arch for host {other}"),
    };
    let filter = SeccompFilter::new(
        [(libc::SYS_clock_nanosleep, vec![])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        host,
    )
    .unwrap();
    let program: BpfProgram = filter.try_into().unwrap();
    let mut command = bin.std_command(["5"]);
    // SAFETY: the closure only makes the prctl/seccomp syscalls, which are
    // async-signal-safe, on data prepared before the fork.
    unsafe {
        command.pre_exec(move || seccompiler::apply_filter(&program).map_err(std::io::Error::other));
    }
    let (elapsed, _) = timed(|| command.assert().code(1).stdout("").stderr(sleep_failed(bin.arch.bits)));
    assert!(elapsed < secs(4.0), "on {}: took {elapsed:?}", bin.arch);
}

// ---- help and version ------------------------------------------------------

/// What `--help` writes: the grammar, the units, infinity.
const HELP: &str = "\
Usage: sleep NUMBER[SUFFIX]...
Sleep for the sum. NUMBER: decimal or 0x hex, with fraction
and exponent, or inf[inity]. SUFFIX: s, m, h, d.
";

fn when_help_then_usage_on_stdout(bin: &Binary) {
    check_each(["--help", "--h", "--he"], |option| {
        bin.assert_cmd([option]).assert().success().stdout(HELP).stderr("");
    });
    // Options win wherever they stand, as with getopt.
    bin.assert_cmd(["x", "--help", "1"]).assert().success().stdout(HELP);
}

fn when_version_then_version_on_stdout(bin: &Binary) {
    let expected = version_line();
    bin.assert_cmd(["--version"]).assert().success().stdout(expected.clone()).stderr("");
    bin.assert_cmd(["--v"]).assert().success().stdout(expected);
}

/// The library holds the texts the binary writes (so that the host can test
/// them and the binary needs no copy): they are the ones the tests here
/// expect. A changed message fails this, and every test that expects it.
#[test]
fn the_library_holds_the_texts_the_black_box_tests_expect() {
    use sleep::cli;
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
    assert_eq!(text(cli::TRY_HELP), TRY);
    assert_eq!(text(cli::HELP), HELP);
    assert_eq!(text(cli::VERSION), version_line());
    assert_eq!(text(cli::sleep_failed(64)), sleep_failed(64));
    assert_eq!(text(cli::sleep_failed(32)), sleep_failed(32));
}

fn when_help_cannot_be_written_then_it_fails(bin: &Binary) {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let mut command = bin.std_command(["--help"]);
    command.stdout(full);
    command.assert().code(1).stderr("sleep: write error\n");
}

// ---- errors ----------------------------------------------------------------

fn when_no_operand_then_missing_operand(bin: &Binary) {
    let expected = "sleep: missing operand\nTry 'sleep --help' for more information.\n";
    assert_rejects(bin, &[], expected);
    assert_rejects(bin, &["--"], expected);
}

fn when_an_operand_is_invalid_then_each_is_reported_and_nothing_slept(bin: &Binary) {
    let bad = [
        "", " ", ".", "1e", "0x", "0x1p", "1s ", "1 s", "1D", "1ms", "42day", "nan", "-", "1,5", "infinit",
        "--",
    ];
    check_each(bad, |&operand| {
        // "--" is only an operand after the first "--".
        let args: Vec<&str> = if operand == "--" { vec![LONG, "--", "--"] } else { vec![LONG, operand] };
        assert_rejects(bin, &args, &format!("{}{TRY}", invalid(operand)));
    });
    assert_rejects(
        bin,
        &[LONG, "x", LONG, "1y", "--", "-1"],
        &format!("{}{}{}{TRY}", invalid("x"), invalid("1y"), invalid("-1")),
    );
}

fn when_an_option_is_unknown_then_it_is_an_error(bin: &Binary) {
    check_each(["-1", "-0", "-x", "--foo", "--helpme", "---", "-inf"], |option| {
        assert_rejects(bin, &[LONG, option], &format!("sleep: unrecognized option '{option}'\n{TRY}"));
    });
}

fn when_an_operand_has_control_bytes_then_they_are_escaped(bin: &Binary) {
    use std::os::unix::ffi::OsStrExt;
    let operand = std::ffi::OsStr::from_bytes(b"1\t\x1b[2J\xff\\\x7f'\n");
    bin.assert_cmd([operand])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!("{}{TRY}", invalid("1\\x09\\x1b[2J\\xff\\\\\\x7f\\'\\x0a")));
}

// ---- limits ----------------------------------------------------------------

/// The kernel's `MAX_ARG_STRLEN`: one argument, NUL included.
const MAX_OPERAND: usize = 128 * 1024 - 1;

fn when_an_operand_is_128_kib_then_it_is_read_exactly(bin: &Binary) {
    // 0.000...0001 s with 128 KiB of zeros: 1 ns, rounded up, exit 0.
    let tiny = format!("0.{}1", "0".repeat(MAX_OPERAND - 3));
    assert_eq!(tiny.len(), MAX_OPERAND);
    assert_sleeps(bin, &[&tiny], Duration::ZERO);
    // 128 KiB of leading zeros before 0.3.
    let padded = format!("{}0.3", "0".repeat(MAX_OPERAND - 3));
    assert_sleeps(bin, &[&padded], secs(0.3));
    // An invalid one is echoed whole.
    let bad = format!("{}x", "1".repeat(MAX_OPERAND - 1));
    bin.assert_cmd([&bad]).assert().code(1).stdout("").stderr(format!("{}{TRY}", invalid(&bad)));
}

fn when_100000_operands_then_all_are_summed(bin: &Binary) {
    let operands = vec!["0.00001"; 100_000];
    assert_sleeps(bin, &operands, secs(1.0));
    let mut with_one_bad = operands.clone();
    with_one_bad[0] = LONG;
    with_one_bad[77_777] = "0.00001x";
    assert_rejects(bin, &with_one_bad, &format!("{}{TRY}", invalid("0.00001x")));
}

per_arch!(
    when_one_operand_then_it_sleeps_that_long,
    when_several_operands_then_it_sleeps_their_sum,
    when_units_hex_and_exponents_then_exact_values,
    when_zero_or_tiny_then_it_exits_at_once,
    when_sleeping_then_it_waits_for_an_absolute_monotonic_deadline,
    when_sleeping_then_its_timer_slack_is_1_ns,
    when_stopped_and_continued_then_the_deadline_does_not_move,
    when_infinity_or_huge_then_it_runs_until_killed,
    when_forever_then_it_uses_no_cpu,
    when_signalled_then_it_dies_by_that_signal,
    when_the_kernel_refuses_the_sleep_then_it_says_so_and_fails,
    when_help_then_usage_on_stdout,
    when_version_then_version_on_stdout,
    when_help_cannot_be_written_then_it_fails,
    when_no_operand_then_missing_operand,
    when_an_operand_is_invalid_then_each_is_reported_and_nothing_slept,
    when_an_option_is_unknown_then_it_is_an_error,
    when_an_operand_has_control_bytes_then_they_are_escaped,
    when_an_operand_is_128_kib_then_it_is_read_exactly,
    when_100000_operands_then_all_are_summed,
);

/// argc 0 (an `execve` with an empty argv) can only be made natively: qemu
/// always passes the guest its program name. Since Linux 5.18 the kernel
/// turns it into argc 1 with an empty argv[0]; either way nothing past argv
/// is read and the answer is "missing operand".
#[test]
fn when_argc_is_zero_then_missing_operand_native() {
    let bin = Binary::for_arch(sleep_tests::host_arch());
    let path = std::ffi::CString::new(bin.path.as_os_str().as_encoded_bytes()).unwrap();
    let mut pipe = [0; 2];
    // SAFETY: plain libc calls on valid pointers; the argv and envp arrays
    // are null-terminated; the child's stderr is the pipe's write end.
    let status = unsafe {
        assert_eq!(libc::pipe(pipe.as_mut_ptr()), 0);
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawn_file_actions_adddup2(&mut actions, pipe[1], 2);
        let argv: [*mut libc::c_char; 1] = [std::ptr::null_mut()];
        let envp: [*mut libc::c_char; 1] = [std::ptr::null_mut()];
        let mut pid = 0;
        let spawned = libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &actions,
            std::ptr::null(),
            argv.as_ptr(),
            envp.as_ptr(),
        );
        assert_eq!(spawned, 0);
        libc::close(pipe[1]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        status
    };
    let mut stderr = String::new();
    use std::{io::Read, os::fd::FromRawFd};
    // SAFETY: pipe[0] is our open read end, owned from here on.
    unsafe { std::fs::File::from_raw_fd(pipe[0]) }.read_to_string(&mut stderr).unwrap();
    assert!(libc::WIFEXITED(status), "status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 1);
    assert_eq!(stderr, "sleep: missing operand\nTry 'sleep --help' for more information.\n");
}
