//! The binary as a `FROM scratch` image's only content, under a real OCI
//! runtime (runc): the root filesystem holds nothing but `/sleep`, read-only,
//! run as a non-root user, as the image's `ENTRYPOINT ["/sleep"]`,
//! `CMD ["infinity"]` and `USER 65532` would.
//!
//! The runc is the one EKS nodes run, built from its release by
//! `scripts/stack`, not Debian's.
//!
//! Host arch only: a foreign binary would need qemu inside the rootfs (and
//! binfmt_misc), which is no longer a one-file image. The PID 1 behaviour of
//! every arch is covered under qemu in `pid1.rs`.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread::sleep,
    time::{Duration, Instant},
};

use sleep_testbed::stack_bin;
use sleep_tests::{
    Binary, TRY, catches, children, host_arch, poll, secs, wait_with_deadline, which, with_default_signals,
};

/// A one-container OCI bundle in a folder under target/tmp, with its own runc
/// state: never under TMPDIR, which may lie on overlayfs (a CI job container's
/// /tmp), where a runtime's own overlay mounts are refused.
struct Container {
    dir: PathBuf,
    id: String,
    runc: PathBuf,
    /// `runc run`, in the foreground: it exits with the container's status.
    run: Option<Child>,
}

impl Container {
    fn create(binary: &Path) -> Container {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let runc = stack_bin("runc");
        let id = format!("sleep-test-{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&id);
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::copy(binary, rootfs.join("sleep")).unwrap();
        let entries: Vec<_> = std::fs::read_dir(&rootfs).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(entries, ["sleep"], "the image holds only /sleep");

        let spec = Command::new(&runc).arg("spec").current_dir(&dir).status().unwrap();
        assert!(spec.success(), "runc spec failed");
        let config_path = dir.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["/sleep", "infinity"]);
        config["process"]["user"] = serde_json::json!({ "uid": 65532, "gid": 65532 });
        config["root"] = serde_json::json!({ "path": "rootfs", "readonly": true });
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        Container { dir, id, runc, run: None }
    }

    /// runc, with the default signal dispositions for what it starts.
    fn runc(&self) -> Command {
        let mut command = Command::new(&self.runc);
        with_default_signals(&mut command);
        command.arg("--root").arg(self.dir.join("state"));
        command
    }

    /// Starts the container's main process and waits until runc reports it
    /// running; returns its PID, as seen from here.
    fn start(&mut self) -> u32 {
        let run = self
            .runc()
            .args(["run", "--bundle"])
            .arg(&self.dir)
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.run = Some(run);
        let running = poll(Duration::from_secs(10), || self.state().contains("\"running\"").then_some(()));
        assert!(running.is_some(), "container did not start: {}", self.state());
        // "running" comes as runc lets the init exec /sleep, which may not have
        // installed its handlers yet; a SIGTERM before that is dropped.
        let state: serde_json::Value = serde_json::from_str(&self.state()).unwrap();
        let pid = state["pid"].as_u64().expect("runc state has the init's pid") as u32;
        let ready = poll(Duration::from_secs(10), || catches(pid, libc::SIGTERM).then_some(()));
        assert!(ready.is_some(), "/sleep in the container never caught SIGTERM");
        pid
    }

    fn state(&self) -> String {
        let output = self.runc().args(["state", &self.id]).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `runc exec`: how a kubelet runs a preStop exec hook.
    fn exec(&self, args: &[&str]) -> (Duration, Output) {
        let start = Instant::now();
        let output = self.runc().args(["exec", &self.id]).args(args).output().unwrap();
        (start.elapsed(), output)
    }

    fn kill(&self, signal: &str) {
        let status = self.runc().args(["kill", &self.id, signal]).status().unwrap();
        assert!(status.success(), "runc kill {signal} failed");
    }

    /// Whether `runc run`, so the container's main process, is still running.
    fn is_running(&mut self) -> bool {
        self.run.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// Waits for `runc run` to end; returns how long after the call, and the status.
    fn wait(&mut self, limit: Duration) -> (Duration, Option<i32>) {
        let start = Instant::now();
        let status = wait_with_deadline(self.run.as_mut().unwrap(), limit);
        (start.elapsed(), status.code())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.runc().args(["delete", "--force", &self.id]).output();
        if let Some(run) = &mut self.run {
            let _ = run.kill();
            let _ = run.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn started_container() -> Container {
    started_container_and_pid().0
}

fn started_container_and_pid() -> (Container, u32) {
    let bin = Binary::for_arch(host_arch());
    let mut container = Container::create(&bin.path);
    let pid = container.start();
    (container, pid)
}

#[test]
fn when_sleep_infinity_is_the_main_process_then_it_keeps_the_container_running() {
    let mut container = started_container();
    sleep(Duration::from_secs(1));
    assert!(container.state().contains("\"running\""));
    assert!(container.is_running());
}

#[test]
fn when_a_prestop_hook_execs_sleep_then_it_sleeps_and_succeeds() {
    let container = started_container();
    let (elapsed, output) = container.exec(&["/sleep", "0.2"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(elapsed >= Duration::from_millis(200), "returned after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "returned after {elapsed:?}");
    assert!(output.stdout.is_empty() && output.stderr.is_empty(), "{output:?}");
}

#[test]
fn when_a_prestop_hook_has_a_bad_operand_then_it_fails_with_1() {
    let container = started_container();
    let (_, output) = container.exec(&["/sleep", "60x"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stderr), format!("sleep: invalid time interval '60x'\n{TRY}"));
}

#[test]
fn when_the_runtime_sends_sigterm_then_the_container_stops_at_once() {
    let mut container = started_container();
    container.kill("TERM");
    let (took, status) = container.wait(Duration::from_secs(5));
    assert_eq!(status, Some(143), "status after {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?} to stop");
}

#[test]
fn when_the_runtime_sends_sigint_then_the_container_exits_130() {
    let mut container = started_container();
    container.kill("INT");
    let (_, status) = container.wait(Duration::from_secs(5));
    assert_eq!(status, Some(130));
}

#[test]
fn when_orphans_are_left_in_the_container_then_its_pid_1_reaps_them() {
    let (container, init) = started_container_and_pid();
    // Background sleeps started in the container's PID namespace by a shell
    // from here (the image has none), which exits at once: they are
    // re-parented to the namespace's init, our /sleep.
    let nsenter = which("nsenter").expect("util-linux nsenter not found: run scripts/setup");
    let status = Command::new(nsenter)
        .args([
            "--target",
            &init.to_string(),
            "--pid",
            "--",
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do sleep 0.5 & done",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "nsenter: {status:?}");
    let adopted = children(init);
    assert!(adopted.len() >= 5, "orphans not re-parented to the container's PID 1: {adopted:?}");
    let reaped = poll(secs(5.0), || children(init).is_disjoint(&adopted).then_some(()));
    assert!(reaped.is_some(), "zombies left: {:?}", children(init));
    assert!(container.state().contains("\"running\""), "the container ended");
}
