//! containerd 2 at the CRI level, for what a cluster cannot show: how the
//! test bed's containerd (`sleep_testbed::containerd`, the runtime
//! `scripts/stack` builds) refuses a setting it would ignore, how its
//! teardown cleans up after a containerd SIGKILLed under a running pod, and
//! what only containerd's own client, `ctr`, shows of our archive. Pods,
//! hooks and the sandbox run through the real kubelet in `tests/cluster.rs`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use sleep_testbed::{
    containerd::{Containerd, Options, PodOptions, restricted},
    cri::api,
    process::{cmdline, is_running, pid_namespace, processes},
};
use sleep_tests::{host_arch, poll, repo, secs};

/// The binary CRI runs from the image here: the host arch's.
fn dist_binary() -> PathBuf {
    repo().join("dist").join(format!("sleep-linux-{}", host_arch()))
}

/// Running processes in PID namespace `namespace` whose command line is `args`.
fn find_processes(namespace: &str, args: &[&str]) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|&pid| cmdline(pid) == args && is_running(pid))
        .filter(|&pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                .is_ok_and(|link| link.to_string_lossy() == namespace)
        })
        .collect()
}

/// The app stand-in: a copy of our sleep that stays up (`/app infinity`)
/// and stops on SIGTERM, in an app image built as examples/Dockerfile.app
/// builds one, restricted.
fn app_config(containerd: &Containerd) -> api::ContainerConfig {
    let image = containerd.build_app_image("localhost/app:test", &dist_binary());
    let mut config = containerd.container_config("app", &image, &[]);
    config.args = vec!["infinity".into()];
    config.linux.get_or_insert_default().security_context = Some(restricted());
    config
}

/// containerd 1's `disable_cgroup` (no cgroups in the specs, once the way
/// out on a cgroup v2 CI job container) is gone in containerd 2, which only
/// logs that it ignores the key: the harness refuses to go on, naming it,
/// and leaves nothing behind.
#[test]
fn when_the_config_has_containerd_1s_disable_cgroup_then_start_fails_naming_it() {
    let options = Options { runtime_settings: vec!["disable_cgroup = true".into()], ..Options::default() };
    let started = std::panic::catch_unwind(|| Containerd::start("dropped", options));
    let message = match started {
        Ok(_) => panic!("containerd started with disable_cgroup"),
        Err(panic) => panic.downcast::<String>().map(|message| *message).unwrap_or_default(),
    };
    assert!(message.contains(r#"["io.containerd.cri.v1.runtime: disable_cgroup"]"#), "{message}");
    let dir = repo().join(format!("target/cri/dropped-{}", std::process::id()));
    assert!(!dir.exists(), "{} left behind", dir.display());
}

/// What only containerd's own client shows: `ctr images import` of the
/// archive as it is, without a base name, keeps the name the archive
/// carries, the index (its digest, the one a registry shows) and every
/// platform in it.
#[test]
fn ctr_imports_the_archive_by_its_own_name_with_every_platform() {
    let containerd = Containerd::start("ctr", Options::default());
    let archive = repo().join("dist/sleep-oci.tar");
    let imported = containerd.ctr_ok(&["images", "import", "--all-platforms", archive.to_str().unwrap()]);
    let name = format!("localhost/sleep:{}", containerd.version);
    assert!(imported.contains(&name), "{imported}");
    let listed = containerd.ctr_ok(&["images", "ls"]);
    let line = listed
        .lines()
        .find(|line| line.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{listed}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1], "application/vnd.oci.image.index.v1+json", "{line}");
    let platforms =
        fields.iter().find(|field| field.starts_with("linux/")).unwrap_or_else(|| panic!("{line}"));
    assert_eq!(*platforms, "linux/386,linux/amd64,linux/arm/v7,linux/arm64,linux/riscv64");
    let index = Command::new("tar").arg("-xOf").arg(&archive).arg("index.json").output().unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index.stdout).unwrap();
    assert_eq!(fields[2], index["manifests"][0]["digest"].as_str().unwrap(), "{line}");
}

/// containerd SIGKILLed under a running pod with a hook in flight: its shims
/// and the pod's processes live on, and the teardown must kill, unmount and
/// remove all of it, and say so.
#[test]
fn teardown_cleans_up_after_a_killed_containerd() {
    let mut containerd = Containerd::start("killed", Options::default());
    let cri = containerd.cri();
    let pod = containerd.run_pod("orphaned", PodOptions { share_process_namespace: true });
    let app = containerd.start_container(&pod, app_config(&containerd));
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
    assert!(sockets.iter().all(|socket| !Path::new(socket).exists()), "{sockets:?}");
    assert!(
        containerd.mounts().is_empty()
            && containerd.shims().is_empty()
            && containerd.cgroup_folders().is_empty()
    );
    assert!(!containerd.dir.exists(), "{} not removed", containerd.dir.display());
}
