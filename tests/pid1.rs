//! `sleep` as the init (PID 1) of a real PID namespace, made with util-linux
//! `unshare --pid --fork` (every arch: under qemu-user, qemu is the PID 1
//! process and the guest sees getpid() == 1) and entered with `nsenter`.
//!
//! The kernel drops signals that a namespace's init has no handler for, so
//! GNU `sleep infinity` as PID 1 ignores SIGTERM. Ours stops with 143 (130 for
//! SIGINT), and reaps the orphans re-parented to it.

use std::{
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use sleep_tests::{
    Binary, catches, children, per_arch, poll, secs, send_signal, state_and_cpu_ticks, wait_until_sleeping,
    wait_with_deadline, which, with_default_signals,
};

/// A PID namespace whose init runs `program args`; killed when dropped.
struct Namespace {
    unshare: Child,
    /// The init's PID as seen from here (it is 1 inside).
    init: u32,
    started: Instant,
}

impl Namespace {
    fn start(program: &[&std::ffi::OsStr]) -> Namespace {
        let unshare = which("unshare").expect("util-linux unshare not found: run scripts/setup");
        let started = Instant::now();
        // The init inherits unshare's dispositions and mask: the defaults,
        // so its own handlers, not the test's parent, decide.
        let unshare = with_default_signals(&mut Command::new(unshare))
            .args(["--pid", "--fork", "--kill-child"])
            .args(program)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let init = poll(secs(5.0), || children(unshare.id()).into_iter().next())
            .expect("unshare did not start its child");
        Namespace { unshare, init, started }
    }

    fn for_binary(bin: &Binary, args: &[&str]) -> Namespace {
        let command = bin.std_command(args);
        let mut program = vec![command.get_program()];
        program.extend(command.get_args());
        Namespace::start(&program)
    }

    /// Waits for the namespace's init to end; unshare passes its status on.
    fn wait(&mut self, limit: Duration) -> (Duration, std::process::ExitStatus) {
        let status = wait_with_deadline(&mut self.unshare, limit);
        (self.started.elapsed(), status)
    }

    /// Runs `script` with sh inside the namespace (a child of nsenter, so its
    /// own children become orphans when it exits).
    fn run_inside(&self, script: &str) {
        let nsenter = which("nsenter").expect("util-linux nsenter not found: run scripts/setup");
        let status = Command::new(nsenter)
            .args(["--target", &self.init.to_string(), "--pid", "--", "sh", "-c", script])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "nsenter: {status:?}");
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if self.unshare.try_wait().unwrap().is_none() {
            let _ = self.unshare.kill();
            let _ = self.unshare.wait();
        }
    }
}

fn when_pid_1_sleeps_then_it_exits_0_on_time(bin: &Binary) {
    let mut namespace = Namespace::for_binary(bin, &["0.5"]);
    let (elapsed, status) = namespace.wait(secs(10.0));
    assert_eq!(status.code(), Some(0), "on {}", bin.arch);
    assert!(elapsed >= secs(0.5), "on {}: {elapsed:?}", bin.arch);
    assert!(elapsed < secs(3.5), "on {}: {elapsed:?}", bin.arch);
}

fn stopped_by(bin: &Binary, signal: i32, expected_status: i32) {
    let mut namespace = Namespace::for_binary(bin, &["infinity"]);
    // Until its handler is in, the kernel drops the signal. It is in before
    // the sleep starts (under qemu, which catches every signal itself from
    // the start, only the sleep tells).
    let ready = poll(secs(10.0), || catches(namespace.init, signal).then_some(()));
    assert!(ready.is_some(), "on {}: PID 1 never caught signal {signal}", bin.arch);
    wait_until_sleeping(namespace.init);
    assert!(namespace.unshare.try_wait().unwrap().is_none(), "on {}: ended early", bin.arch);
    let sent = Instant::now();
    send_signal(namespace.init, signal);
    let (_, status) = namespace.wait(secs(10.0));
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(expected_status), "on {}: {status:?}", bin.arch);
    // "Promptly": well under 100 ms in practice; generous here for noisy CI.
    assert!(took < secs(1.0), "on {}: took {took:?} to stop", bin.arch);
}

fn when_pid_1_gets_sigterm_then_it_exits_143(bin: &Binary) {
    stopped_by(bin, libc::SIGTERM, 143);
}

fn when_pid_1_gets_sigint_then_it_exits_130(bin: &Binary) {
    stopped_by(bin, libc::SIGINT, 130);
}

fn when_pid_1_sleeps_forever_then_it_uses_no_cpu(bin: &Binary) {
    let namespace = Namespace::for_binary(bin, &["infinity"]);
    sleep(secs(1.0));
    let (state, ticks) = state_and_cpu_ticks(namespace.init);
    assert_eq!(state, "S", "on {}: not blocked in the kernel", bin.arch);
    // qemu needs a few ticks to start; a spinning process would use ~100.
    assert!(ticks < 50, "on {}: {ticks} ticks of CPU in 1 s", bin.arch);
}

fn when_orphans_exit_then_pid_1_reaps_them(bin: &Binary) {
    let namespace = Namespace::for_binary(bin, &["infinity"]);
    // Five background sleeps, orphaned when their shell exits at once.
    namespace.run_inside("for i in 1 2 3 4 5; do sleep 0.5 & done");
    let adopted = children(namespace.init);
    assert!(adopted.len() >= 5, "on {}: orphans not re-parented to PID 1: {adopted:?}", bin.arch);
    // After they exit, no zombie is left.
    let reaped = poll(secs(5.0), || children(namespace.init).is_disjoint(&adopted).then_some(()));
    assert!(reaped.is_some(), "on {}: zombies left: {:?}", bin.arch, children(namespace.init));
}

fn when_orphans_exit_during_a_timed_sleep_then_the_deadline_holds(bin: &Binary) {
    let mut namespace = Namespace::for_binary(bin, &["1.5"]);
    namespace.run_inside("for i in 1 2 3 4 5 6 7 8; do sleep 0.$i & done");
    let (elapsed, status) = namespace.wait(secs(10.0));
    assert_eq!(status.code(), Some(0), "on {}", bin.arch);
    assert!(elapsed >= secs(1.5), "on {}: woke early, after {elapsed:?}", bin.arch);
    assert!(elapsed < secs(4.5), "on {}: {elapsed:?}", bin.arch);
}

fn when_exec_d_with_zombie_children_then_they_are_reaped(bin: &Binary) {
    // PID 1 starts a child that exits at once and, without reaping it (a
    // shell would), becomes us: we inherit a zombie.
    let command = bin.std_command(["infinity"]);
    let mut program: Vec<String> = vec![command.get_program().to_string_lossy().into()];
    program.extend(command.get_args().map(|arg| arg.to_string_lossy().into_owned()));
    // It waits for a go-ahead file before the exec, so the zombie is seen
    // first however slowly python starts.
    let go_ahead = std::env::temp_dir().join(format!("sleep-pid1-go-{}-{}", std::process::id(), bin.arch));
    let _ = std::fs::remove_file(&go_ahead);
    let script = format!(
        "import os, time\nif os.fork() == 0: os._exit(0)\n\
         while not os.path.exists({:?}): time.sleep(0.01)\nos.execv({:?}, {:?})",
        go_ahead, program[0], program
    );
    let python = which("python3").expect("python3 not found");
    let namespace = Namespace::start(&[python.as_os_str(), "-c".as_ref(), script.as_ref()]);
    let zombie = poll(secs(10.0), || (children(namespace.init).len() == 1).then_some(()));
    assert!(zombie.is_some(), "on {}: no zombie to inherit", bin.arch);
    std::fs::write(&go_ahead, b"").unwrap();
    // Exec'd (its command line now ends with our operand), and no child left.
    let cmdline = || std::fs::read(format!("/proc/{}/cmdline", namespace.init)).unwrap_or_default();
    let reaped = poll(secs(5.0), || {
        (cmdline().ends_with(b"infinity\0") && children(namespace.init).is_empty()).then_some(())
    });
    let _ = std::fs::remove_file(&go_ahead);
    assert!(reaped.is_some(), "on {}: zombie left: {:?}", bin.arch, children(namespace.init));
}

per_arch!(
    when_pid_1_sleeps_then_it_exits_0_on_time,
    when_pid_1_gets_sigterm_then_it_exits_143,
    when_pid_1_gets_sigint_then_it_exits_130,
    when_pid_1_sleeps_forever_then_it_uses_no_cpu,
    when_orphans_exit_then_pid_1_reaps_them,
    when_orphans_exit_during_a_timed_sleep_then_the_deadline_holds,
    when_exec_d_with_zombie_children_then_they_are_reaped,
);
