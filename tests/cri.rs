//! The release image in pods, end to end, the way the kubelet runs them: CRI
//! v1 over gRPC to containerd's CRI plugin (Debian's containerd 1.6), then
//! the runc shim, then `/sleep` (see `cri_harness` for the setup).
//!
//! - Our image is the pod sandbox, in place of `pause`: `/sleep infinity`,
//!   PID 1 of the pod's PID namespace, uid 65532, the bytes of
//!   `dist/sleep-linux-<host arch>`.
//! - An app image built as `examples/Dockerfile.app` builds one (`COPY
//!   --from=` our image) runs under a restricted security context.
//! - The kubelet's preStop hook is `ExecSync` with timeout 0; when the grace
//!   period runs out, `StopContainer` ends the container and the hook at once.
//! - With `shareProcessNamespace`, the app runs in the sandbox's PID
//!   namespace, whose PID 1 (our `/sleep`) reaps the orphans.
//! - `StopContainer` gives 143 at once; containerd 1.6's `StopPodSandbox`
//!   SIGKILLs the sandbox (137).
//! - Teardown leaves nothing, even after containerd itself is SIGKILLed
//!   under a running pod.

use std::{
    collections::BTreeSet,
    fs,
    path::PathBuf,
    process::{Command, Stdio},
    time::Instant,
};

use sleep_tests::{
    catches,
    cri_harness::{
        Containerd, Cri, Options, Pod, PodOptions, TaskExits, children, cmdline, is_running, processes,
        restricted,
    },
    host_arch, poll, repo, secs, wait_until_sleeping, which,
};

/// What runc says when a hook names a program the container's PATH lacks
/// (the kubelet reports it as FailedPreStopHook).
const NOT_IN_PATH: &str = r#"exec: "sleep": executable file not found in $PATH"#;
const USER: &str = "65532";

/// The binary CRI runs from the image here: the host arch's.
fn dist_binary() -> PathBuf {
    repo().join("dist").join(format!("sleep-linux-{}", host_arch()))
}

/// What the binary writes to stderr for `args`, from the library's own
/// command-line code (the messages the binary is built from).
fn expected_stderr(args: &[&str]) -> String {
    #[derive(Default)]
    struct Captured(Vec<u8>);
    impl sleep::cli::Console for Captured {
        fn out(&mut self, _: &[u8]) -> bool {
            true
        }
        fn err(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
    }
    let mut console = Captured::default();
    let action = sleep::cli::plan(args.iter().map(|arg| arg.as_bytes()), &mut console);
    assert_eq!(action, sleep::cli::Action::Exit(1), "{args:?} is not a usage error");
    String::from_utf8(console.0).unwrap()
}

/// `/proc/PID/status`'s field `name`, tabs and all.
fn status_field(pid: u32, name: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let prefix = format!("{name}:");
    let line = status.lines().find_map(|line| line.strip_prefix(&prefix).map(str::to_string));
    line.unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status")).trim().to_string()
}

/// The PID namespace of `pid` (the link's target, `pid:[inode]`).
fn pid_namespace(pid: u32) -> String {
    fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap().to_string_lossy().into_owned()
}

/// The PID of `pid` in its innermost PID namespace (the last of NSpid).
fn innermost_pid(pid: u32) -> String {
    status_field(pid, "NSpid").split_whitespace().last().unwrap().to_string()
}

/// Whether the root `pid` sees is mounted read-only.
fn root_is_read_only(pid: u32) -> bool {
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    // Fields: id, parent, device, root, mount point, options...; the last "/" mounted wins.
    let root =
        mountinfo.lines().map(|line| line.split(' ').collect::<Vec<_>>()).rfind(|fields| fields[4] == "/");
    root.is_some_and(|fields| fields[5].split(',').any(|option| option == "ro"))
}

/// Running processes in `namespace` whose command line is `args`.
fn find_processes(namespace: &str, args: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = args.iter().flat_map(|arg| [arg.as_bytes(), b"\0"].concat()).collect();
    processes()
        .into_iter()
        .filter(|&pid| cmdline(pid) == wanted && is_running(pid))
        .filter(|&pid| {
            fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|link| link.to_string_lossy() == namespace)
        })
        .collect()
}

/// Checks that the sandbox process is our image's `/sleep infinity`, PID 1
/// of the pod's own PID namespace, running as the image's user.
fn check_sandbox(pod: &Pod) {
    assert_eq!(cmdline(pod.pid), b"/sleep\0infinity\0", "the sandbox runs the image's ENTRYPOINT and CMD");
    assert_eq!(innermost_pid(pod.pid), "1", "NSpid: {}", status_field(pod.pid, "NSpid"));
    assert_ne!(
        pid_namespace(pod.pid),
        pid_namespace(std::process::id()),
        "the pod has its own PID namespace"
    );
    assert_eq!(status_field(pod.pid, "Uid").split_whitespace().collect::<Vec<_>>(), [USER; 4]);
    // Locked down as containerd runs every sandbox: no capabilities, a
    // read-only root; and the pod's RuntimeDefault seccomp profile.
    assert_eq!(status_field(pod.pid, "CapEff"), "0000000000000000");
    assert_eq!(status_field(pod.pid, "Seccomp"), "2");
    assert!(root_is_read_only(pod.pid), "the sandbox's root is writable");
    let exe = fs::read(format!("/proc/{}/exe", pod.pid)).unwrap();
    assert!(
        exe == fs::read(dist_binary()).unwrap(),
        "the sandbox's /proc/PID/exe is not {}",
        dist_binary().display()
    );
    // Our handlers are in before the sleep: the kernel would drop a
    // SIGTERM to a namespace's init without one.
    assert!(poll(secs(10.0), || catches(pod.pid, libc::SIGTERM).then_some(())).is_some());
}

/// Stops the pod's sandbox, checks containerd SIGKILLed it, and removes the pod.
fn stop_and_remove_pod(containerd: &Containerd, exits: &TaskExits, pod: &Pod) {
    let cri = containerd.cri();
    cri.stop_pod_sandbox(&pod.id).unwrap();
    let exit = exits.wait_for(&pod.id, secs(10.0)).expect("no exit event for the sandbox");
    assert_eq!((exit.pid, exit.exit_status), (pod.pid, 137), "StopPodSandbox SIGKILLs the sandbox: {exit:?}");
    assert!(!is_running(pod.pid));
    cri.remove_pod_sandbox(&pod.id).unwrap();
    let pods = cri.list_pod_sandboxes().unwrap();
    assert!(pods.iter().all(|listed| listed.id != pod.id), "pod {} still listed", pod.id);
}

/// Waits for container `id` to be EXITED; returns its exit code and reason.
fn exit_of(cri: &Cri, id: &str) -> (i32, String) {
    let status = cri.container_status(id).unwrap().status.unwrap();
    assert_eq!(
        status.state,
        sleep_tests::cri_harness::api::ContainerState::ContainerExited as i32,
        "{status:?}"
    );
    (status.exit_code, status.reason)
}

/// Everything issue 14 asks of a pod, in one containerd started with `options`.
fn pods_the_kubelet_way(name: &str, options: Options) {
    let mut containerd = Containerd::start(name, options);
    let cri = containerd.cri();

    // No CNI config: the network is not ready, yet host-network pods run.
    let conditions = cri.conditions().expect("CRI Status");
    assert_eq!(conditions.get("RuntimeReady"), Some(&true), "{conditions:?}");
    assert_eq!(conditions.get("NetworkReady"), Some(&false), "{conditions:?}");
    let images = cri.list_images().unwrap();
    assert!(
        images.iter().any(|image| image.repo_tags.contains(&containerd.sandbox_image)),
        "CRI does not see {}: {images:?}",
        containerd.sandbox_image
    );

    // A pod with its own PID namespace per container: the sandbox is ours.
    let pod = containerd.run_pod("hooks", PodOptions::default());
    check_sandbox(&pod);

    // The app image, built as examples/Dockerfile.app builds it; the app is
    // a stand-in that stays up and stops on SIGTERM: a copy of our sleep.
    let image = containerd.build_app_image("localhost/app:test", &dist_binary());
    let mut config = containerd.container_config("app", &image, &[]);
    config.args = vec!["infinity".into()];
    config.linux.get_or_insert_default().security_context = Some(restricted());
    let app = containerd.start_container(&pod, config.clone());
    assert_eq!(cmdline(app.pid), b"/app\0infinity\0", "the image's ENTRYPOINT with the container's args");
    assert!(containerd.log_dir("hooks").join("app.log").is_file(), "CRI keeps no log of the app");
    assert_eq!(status_field(app.pid, "Uid").split_whitespace().collect::<Vec<_>>(), [USER; 4]);
    assert_eq!(status_field(app.pid, "Gid").split_whitespace().collect::<Vec<_>>(), [USER; 4]);
    for capabilities in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(status_field(app.pid, capabilities), "0000000000000000", "{capabilities}");
    }
    assert_eq!(status_field(app.pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(app.pid, "Seccomp"), "2", "RuntimeDefault is a seccomp filter");
    assert!(root_is_read_only(app.pid), "the app's root is writable");
    // Its own PID namespace (no shareProcessNamespace): the app is its PID 1.
    assert_ne!(pid_namespace(app.pid), pid_namespace(pod.pid));
    assert_eq!(innermost_pid(app.pid), "1");
    assert!(poll(secs(10.0), || catches(app.pid, libc::SIGTERM).then_some(())).is_some());

    // The kubelet's preStop: ExecSync with timeout 0.
    let hook = cri.exec_sync(&app.id, &["/sleep", "1"], 0).unwrap();
    assert_eq!(
        (hook.exit_code, hook.stdout.as_slice(), hook.stderr.as_slice()),
        (0, &[][..], &[][..]),
        "{hook:?}"
    );
    assert!(hook.took >= secs(1.0) && hook.took < secs(10.0), "/sleep 1 took {:?}", hook.took);

    let hook = cri.exec_sync(&app.id, &["/sleep", "abc"], 0).unwrap();
    assert_eq!(hook.exit_code, 1, "{hook:?}");
    assert!(hook.stdout.is_empty(), "{hook:?}");
    assert_eq!(String::from_utf8_lossy(&hook.stderr), expected_stderr(&["abc"]));

    // The bare name is not an exit code but an error: the image has only
    // /sleep, and / is not in PATH.
    let error = cri.exec_sync(&app.id, &["sleep", "1"], 0).expect_err("bare `sleep` ran");
    assert_eq!(error.code(), tonic::Code::Unknown, "{error:?}");
    assert!(error.message().contains(NOT_IN_PATH), "{error:?}");

    // The grace period runs out while a hook still sleeps: the kubelet calls
    // StopContainer with what is left (at least 2 s).
    let in_flight = {
        let cri = cri.clone();
        let id = app.id.clone();
        std::thread::spawn(move || {
            let hook = cri.exec_sync(&id, &["/sleep", "60"], 0);
            (hook, Instant::now())
        })
    };
    let namespace = pid_namespace(app.pid);
    let hook_pid = poll(secs(10.0), || find_processes(&namespace, &["/sleep", "60"]).first().copied())
        .expect("the hook's /sleep 60 never ran");
    wait_until_sleeping(hook_pid);
    let stop_called = Instant::now();
    cri.stop_container(&app.id, 2).unwrap();
    let stop_took = stop_called.elapsed();
    let (hook, hook_returned) = in_flight.join().unwrap();
    let hook = hook.expect("the in-flight hook's ExecSync failed");
    assert_eq!(exit_of(&cri, &app.id).0, 143, "SIGTERM ended the container");
    assert!(stop_took < secs(1.5), "StopContainer(2) took {stop_took:?}: not at once, as SIGTERM would");
    assert_eq!(hook.exit_code, 137, "the hook ends with its container: {hook:?}");
    let hook_after = hook_returned.duration_since(stop_called);
    assert!(hook_after < secs(1.5), "the hook returned {hook_after:?} after StopContainer");
    assert!(!is_running(hook_pid), "the hook's /sleep is still there");
    assert!(find_processes(&namespace, &["/sleep", "60"]).is_empty());
    cri.remove_container(&app.id).unwrap();

    let exits = containerd.watch_task_exits();
    stop_and_remove_pod(&containerd, &exits, &pod);

    // shareProcessNamespace: the app runs in the sandbox's PID namespace,
    // where our /sleep is PID 1.
    let pod = containerd.run_pod("shared", PodOptions { share_process_namespace: true });
    check_sandbox(&pod);
    let app = containerd.start_container(&pod, config);
    assert_eq!(
        pid_namespace(app.pid),
        pid_namespace(pod.pid),
        "the app is not in the sandbox's PID namespace"
    );
    assert_ne!(innermost_pid(app.pid), "1");
    // Not PID 1: no handlers needed, SIGTERM's default action ends it.
    wait_until_sleeping(app.pid);
    let hook = cri.exec_sync(&app.id, &["/sleep", "0.2"], 0).unwrap();
    assert_eq!(hook.exit_code, 0, "{hook:?}");

    // Orphans, made as tests/pid1.rs makes them: background sleeps whose
    // shell exits at once, started in the pod's PID namespace (the app
    // image has no shell). They are re-parented to our PID 1, which reaps them.
    let before = children(pod.pid);
    let nsenter = which("nsenter").expect("util-linux nsenter not found: run scripts/setup");
    let status = Command::new(nsenter)
        .args([
            "--target",
            &pod.pid.to_string(),
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
    let adopted: BTreeSet<u32> = children(pod.pid).difference(&before).copied().collect();
    assert!(adopted.len() >= 5, "orphans not re-parented to the sandbox: {adopted:?}");
    let reaped = poll(secs(10.0), || children(pod.pid).is_disjoint(&adopted).then_some(()));
    assert!(reaped.is_some(), "zombies left in the pod: {:?}", children(pod.pid));
    assert!(is_running(pod.pid), "the sandbox ended");

    // The end of a pod: StopContainer with a grace period; SIGTERM ends
    // the app at once.
    let stop_called = Instant::now();
    cri.stop_container(&app.id, 10).unwrap();
    let stop_took = stop_called.elapsed();
    assert_eq!(exit_of(&cri, &app.id), (143, "Error".to_string()));
    assert!(stop_took < secs(1.0), "StopContainer(10) took {stop_took:?}");
    stop_and_remove_pod(&containerd, &exits, &pod);
    drop(exits);

    let report = containerd.tear_down();
    assert!(report.is_clean(), "{report:#?}");
    // The kubelet's pod-level cgroup parents, which nothing else removes.
    assert_eq!(report.pod_cgroups_removed.is_empty(), containerd.disable_cgroup, "{report:#?}");
}

/// With cgroups as the host has them: per-pod parents here (cgroup v1);
/// `disable_cgroup` on a cgroup v2 host, as in CI's job container.
#[test]
fn pods_with_our_image_as_sandbox_run_hooks_and_stop_the_kubelet_way() {
    pods_the_kubelet_way("pods", Options::default());
}

/// The CI job container's mode, forced, so that it runs here too.
#[test]
fn pods_run_the_same_with_the_cri_plugins_cgroups_disabled() {
    pods_the_kubelet_way("nocgroup", Options { disable_cgroup: Some(true) });
}

/// containerd SIGKILLed under a running pod with a hook in flight: its shims
/// and the pod's processes live on, and the teardown must kill, unmount and
/// remove all of it, and say so.
#[test]
fn teardown_cleans_up_after_a_killed_containerd() {
    let mut containerd = Containerd::start("killed", Options::default());
    let cri = containerd.cri();
    let pod = containerd.run_pod("orphaned", PodOptions { share_process_namespace: true });
    let image = containerd.build_app_image("localhost/app:test", &dist_binary());
    let mut config = containerd.container_config("app", &image, &[]);
    config.args = vec!["infinity".into()];
    config.linux.get_or_insert_default().security_context = Some(restricted());
    let app = containerd.start_container(&pod, config);
    let in_flight = {
        let cri = cri.clone();
        let id = app.id.clone();
        std::thread::spawn(move || cri.exec_sync(&id, &["/sleep", "60"], 0))
    };
    let namespace = pid_namespace(pod.pid);
    let hook_pid = poll(secs(10.0), || find_processes(&namespace, &["/sleep", "60"]).first().copied())
        .expect("the hook's /sleep 60 never ran");
    let shims = containerd.shims();
    assert!(!shims.is_empty(), "no shim found for the pod");

    containerd.kill();
    let hook = in_flight.join().unwrap();
    assert!(hook.is_err(), "the hook's ExecSync outlived containerd: {hook:?}");
    // Killing containerd kills nothing else.
    for pid in [pod.pid, app.pid, hook_pid].iter().chain(&shims) {
        assert!(is_running(*pid), "{pid} ended with containerd");
    }
    let mounts = containerd.mounts();
    assert!(!mounts.is_empty(), "the pod's rootfs mounts should still be there");

    let report = containerd.tear_down();
    assert!(report.left.is_empty(), "left after teardown: {report:#?}");
    for pid in [pod.pid, app.pid, hook_pid].iter().chain(&shims) {
        assert!(
            report.forced.iter().any(|line| line.starts_with(&format!("killed {pid}:"))),
            "{pid}: {report:#?}"
        );
        let gone = poll(secs(10.0), || (!is_running(*pid)).then_some(()));
        assert!(gone.is_some(), "{pid} still running after teardown");
    }
    for point in &mounts {
        let line = format!("unmounted {}", point.display());
        assert!(report.forced.contains(&line), "{line}: {report:#?}");
    }
    // The shims' sockets, under /run/containerd/s, which a killed shim leaves.
    let sockets: Vec<&str> =
        report.forced.iter().filter_map(|line| line.strip_prefix("removed shim socket ")).collect();
    assert!(!sockets.is_empty(), "no shim socket removed: {report:#?}");
    assert!(sockets.iter().all(|socket| !std::path::Path::new(socket).exists()), "{sockets:?}");
    assert!(
        containerd.mounts().is_empty()
            && containerd.shims().is_empty()
            && containerd.cgroup_folders().is_empty()
    );
    assert!(!containerd.dir.exists(), "{} not removed", containerd.dir.display());
}
