//! The node that the container tests (`tests/`) and the experiments
//! (`experiments/`) run our image on: the container runtime EKS nodes run,
//! built from its releases by `scripts/stack` into `target/stack/bin`.
//!
//! - [`cluster`]: a one-node Kubernetes cluster on that containerd: etcd,
//!   the control plane and the kubelet, talked to with kubectl.
//! - [`containerd`]: a private containerd 2 with its CRI plugin, our image as
//!   every pod's sandbox; starting it, pods and containers the kubelet's way.
//! - [`cri`]: the CRI v1 client (the kubelet's API to the runtime).
//! - [`images`]: importing OCI archives, building app images with buildah.
//! - [`teardown`]: stopping it all and proving nothing is left.
//! - [`process`]: processes, mounts and cgroups, read from /proc and /sys.
//!
//! Everything needs root.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

pub mod cluster;
pub mod containerd;
pub mod cri;
pub mod images;
pub mod process;
pub mod teardown;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Where `scripts/stack` puts the programs it builds.
pub fn stack_bin_dir() -> PathBuf {
    repo().join("target/stack/bin")
}

/// A program `scripts/stack` built (`containerd`, `runc`, `crictl`, ...).
pub fn stack_bin(program: &str) -> PathBuf {
    let path = stack_bin_dir().join(program);
    assert!(path.is_file(), "{} is missing: run scripts/setup (scripts/stack builds it)", path.display());
    path
}

/// The version a program `scripts/stack` built reports (`v2.2.10`): the
/// first `X.Y.Z` in what `program args` prints, with a `v` before it.
pub fn stack_version(program: &str, args: &[&str]) -> String {
    let output = Command::new(stack_bin(program)).args(args).output().expect(program);
    let text = output_text(&output);
    let version = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|word| word.split('.').count() == 3 && word.split('.').all(|part| !part.is_empty()))
        .unwrap_or_else(|| panic!("no version in what {program} {} printed: {text}", args.join(" ")));
    format!("v{version}")
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

/// `program` from PATH, or a panic naming the set-up that installs it.
pub fn tool(program: &str) -> PathBuf {
    which(program).unwrap_or_else(|| panic!("{program} not found: run scripts/setup"))
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

/// Kills `child` (a process this program started) if it is still running,
/// and reaps it. One that has exited already is not an error: in teardown
/// it may end on its own at any moment.
pub fn kill_and_reap(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Makes `command`'s process start with every signal at its default action
/// and none blocked, whatever our own parent left: an ignored signal (`nohup`
/// ignores SIGHUP) or a blocked one survives `exec`, and through a runtime
/// and its shims reaches the containers, whose signal handling the tests
/// rely on. Returns `command`.
pub fn with_default_signals(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    /// The kernel's `struct sigaction` on the hosts the tests run on (x86_64,
    /// aarch64). Through the raw syscall, as libc refuses to touch the two
    /// real-time signals it keeps for itself, which can be inherited ignored too.
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    // SAFETY: between fork and exec the closure makes only rt_sigaction and
    // sigprocmask calls, which are async-signal-safe, on its own stack.
    unsafe {
        command.pre_exec(|| {
            let default = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
            // 1 to 64, the kernel's signals; SIGKILL and SIGSTOP cannot change.
            for signal in (1..=64).filter(|&signal| signal != libc::SIGKILL && signal != libc::SIGSTOP) {
                let action = &raw const default;
                if libc::syscall(libc::SYS_rt_sigaction, signal, action, std::ptr::null::<u8>(), 8) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    command
}

/// What a finished command printed, stdout then stderr, for messages.
pub fn output_text(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}
