//! Our image and binary in a real Kubernetes cluster: etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and the kubelet of the release
//! `scripts/stack` builds, on its containerd, with our image as every pod's
//! sandbox (see `sleep_testbed::cluster`). The tests talk to it as a user
//! does, with kubectl; what they check of processes they read from /proc and
//! from containerd's events.
//!
//! One cluster for the whole run (its own harness, `harness = false`): the
//! tests run on it in parallel, each in a namespace of its own; the one that
//! kills containerd, and the one that interrupts a second cluster, run
//! alone after them. Meanwhile every pod sandbox containerd runs is checked
//! as it appears: our `/sleep infinity`, PID 1 of the pod, uid 65532,
//! `dist/`'s bytes. The last line says what was seen:
//!
//! `cluster: kubelet v1.36.3 on containerd v2.2.10: P pods, sandbox /sleep in P of P, hooks as expected in H of H`
//!
//! Ctrl-C (or SIGTERM) tears the cluster down before exiting.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use libtest_mimic::{Arguments, Trial};
use serde_json::{Value, json};
use sleep_testbed::{
    cluster::{Cluster, NODE, restricted_security_context},
    containerd::{Containerd, TaskExits},
    cri::{Cri, pid_in_info},
    images::web_app,
    output_text,
    process::{children, cmdline, is_running, pid_namespace, status},
    stack_bin, stack_bin_dir, stack_version,
};
use sleep_tests::{host_arch, poll, repo, secs, which};

/// The non-root user of our image and of the restricted pods.
const USER: u32 = 65532;

/// The binary every sandbox and app here runs: the host arch's.
fn dist_binary() -> PathBuf {
    repo().join("dist").join(format!("sleep-linux-{}", host_arch()))
}

// ------------------------------------------------------------- the census

/// A sandbox seen: its pod (`namespace/name`), and whether it was ours or
/// what was wrong with it.
type Seen = (String, Result<(), String>);

/// Every pod sandbox seen, by id.
#[derive(Default)]
struct Census {
    sandboxes: Mutex<BTreeMap<String, Seen>>,
    stop: AtomicBool,
}

/// What is wrong with sandbox process `pid`, if anything: it must be our
/// image's `/sleep infinity`, PID 1 of its PID namespace, as uid 65532,
/// with `dist/`'s bytes. `None` when it could not be read: it is gone.
fn sandbox_problem(pid: u32, dist: &[u8]) -> Option<Option<String>> {
    let command = cmdline(pid);
    let status = procfs::process::Process::new(pid as i32).and_then(|process| process.status()).ok()?;
    let exe = std::fs::read(format!("/proc/{pid}/exe")).ok()?;
    Some(if command != ["/sleep", "infinity"] {
        Some(format!("runs {command:?}"))
    } else if status.nspid.as_ref().and_then(|pids| pids.last().copied()) != Some(1) {
        Some(format!("is not PID 1 of its namespace: NSpid {:?}", status.nspid))
    } else if [status.ruid, status.euid, status.suid, status.fuid] != [USER; 4] {
        Some(format!("runs as uid {}", status.euid))
    } else if exe != dist {
        Some("is not dist/'s binary".into())
    } else {
        None
    })
}

impl Census {
    /// Checks every sandbox containerd runs, every 50 ms, until stopped.
    fn watch(self: Arc<Self>, cri: Cri) -> std::thread::JoinHandle<()> {
        let dist = std::fs::read(dist_binary()).unwrap();
        std::thread::spawn(move || {
            while !self.stop.load(Ordering::Relaxed) {
                for sandbox in cri.list_pod_sandboxes().unwrap_or_default() {
                    if self.sandboxes.lock().unwrap().contains_key(&sandbox.id) {
                        continue;
                    }
                    let Some(pid) =
                        cri.pod_sandbox_status(&sandbox.id).ok().and_then(|status| pid_in_info(&status.info))
                    else {
                        continue; // not running (yet, or any more)
                    };
                    // Past `runc init`, which execs the image's program, and
                    // not yet gone (a zombie shows an empty command line).
                    let command = cmdline(pid);
                    let in_runc_init =
                        command.len() == 2 && command[0].ends_with("runc") && command[1] == "init";
                    if in_runc_init || command.is_empty() || !is_running(pid) {
                        continue;
                    }
                    let metadata = sandbox.metadata.unwrap_or_default();
                    let pod = format!("{}/{}", metadata.namespace, metadata.name);
                    let verdict = match sandbox_problem(pid, &dist) {
                        None => continue, // gone while read
                        Some(None) => Ok(()),
                        Some(Some(problem)) => Err(format!("sandbox {} (pid {pid}) {problem}", sandbox.id)),
                    };
                    self.sandboxes.lock().unwrap().insert(sandbox.id, (pod, verdict));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    }

    /// The sandbox of pod `namespace/name` was seen, and was ours.
    fn saw(&self, namespace: &str, name: &str) -> bool {
        let pod = format!("{namespace}/{name}");
        poll(secs(10.0), || {
            self.sandboxes
                .lock()
                .unwrap()
                .values()
                .any(|(seen, verdict)| *seen == pod && verdict.is_ok())
                .then_some(())
        })
        .is_some()
    }
}

// ---------------------------------------------------------------- hooks

/// Hook behaviours checked, and those that were as expected.
#[derive(Default)]
struct Hooks {
    checked: AtomicU32,
    as_expected: AtomicU32,
}

impl Hooks {
    /// Runs `check` (which panics on a failure) and counts it.
    fn check(&self, check: impl FnOnce()) {
        self.checked.fetch_add(1, Ordering::Relaxed);
        check();
        self.as_expected.fetch_add(1, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------- the suite

/// What every test shares.
struct Suite {
    cluster: Cluster,
    census: Arc<Census>,
    hooks: Hooks,
    images: Images,
}

/// The images the tests run, built with buildah into the node's containerd.
struct Images {
    /// `examples/Dockerfile.app` with our sleep as its app (`/app infinity`
    /// stays up, and as PID 1 exits 143 on SIGTERM).
    app: String,
    /// The same with the web app (`testbed/web-app`), which serves :8080.
    web: String,
    /// The sleep app without `/sleep`.
    bare: String,
    /// The sleep app with `/sleep` also at `/usr/local/bin/sleep`.
    path: String,
    /// The sleep app with another arch's binary as `/sleep`.
    wrong_arch: String,
    /// The web app alone, without `/sleep`: a vendor's image.
    vendor: String,
}

impl Images {
    fn build(containerd: &Containerd) -> Images {
        /// `FROM scratch`, `app` as `/app`, non-root, and more lines.
        fn scratch_app(more: &str) -> String {
            format!("FROM scratch\nCOPY app /app\n{more}USER 65532:65532\nENTRYPOINT [\"/app\"]\n")
        }
        let with_path = containerd.app_containerfile()
            + &format!("COPY --from={} /sleep /usr/local/bin/sleep\n", containerd.sandbox_image);
        let other = sleep_tests::arches().iter().find(|arch| arch.name != host_arch()).expect("another arch");
        let foreign = repo().join("dist").join(format!("sleep-linux-{}", other.name));
        let dist = dist_binary();
        let sleep_app = [(dist.as_path(), "app")];
        Images {
            app: containerd.build_app_image("localhost/app:test", &dist),
            web: containerd.build_app_image("localhost/web:test", &web_app()),
            bare: containerd.build_image("localhost/bare:test", &scratch_app(""), &sleep_app),
            path: containerd.build_image("localhost/app-path:test", &with_path, &sleep_app),
            wrong_arch: containerd.build_image(
                "localhost/wrong-arch:test",
                &scratch_app("COPY sleep /sleep\n"),
                &[(&dist, "app"), (&foreign, "sleep")],
            ),
            vendor: containerd.build_image("localhost/vendor:test", &scratch_app(""), &[(&web_app(), "app")]),
        }
    }
}

/// A pod's facts once it runs.
struct Running {
    namespace: String,
    name: String,
    /// Its first container's id in containerd.
    container: String,
    /// Its sandbox's id in containerd.
    sandbox: String,
}

/// What a pod's deletion did.
struct Deletion {
    /// From the deletion until the API no longer had the pod.
    gone_after: Duration,
    /// The first container's main process: its exit status and when it
    /// ended after the deletion.
    app: (u32, Duration),
    /// Its execs (hooks) that ended, the same way.
    execs: Vec<(u32, Duration)>,
    /// Its sandbox's exit status.
    sandbox: u32,
}

impl Deletion {
    /// The hook (an exec of `seconds`) held SIGTERM back that long and
    /// ended 0; then SIGTERM ended the app (PID 1 of its container) with 143.
    fn held_sigterm_for(&self, seconds: f64, what: &str) {
        let (status, after) = self.app;
        assert_eq!(status, 143, "{what}: the app's exit");
        assert!(after >= secs(seconds), "{what}: SIGTERM after {after:?}, before the hook's {seconds} s");
        assert!(after < secs(seconds + 10.0), "{what}: SIGTERM after {after:?}");
        assert_eq!(self.execs.iter().map(|exec| exec.0).collect::<Vec<_>>(), [0], "{what}: the hook's exit");
    }
}

/// The restricted pod security standard's container security context, as [`USER`].
fn restricted() -> Value {
    restricted_security_context(USER)
}

/// An exec preStop hook running `command`.
fn exec_hook(command: &[&str]) -> Value {
    json!({ "preStop": { "exec": { "command": command } } })
}

impl Suite {
    fn start() -> Suite {
        let cluster = Cluster::start("tests");
        let images = cluster.with_containerd(|containerd| Images::build(containerd));
        Suite { cluster, census: Arc::default(), hooks: Hooks::default(), images }
    }

    /// Applies a pod `name` in `namespace` with `spec`, waits until it is
    /// Ready, and returns its facts.
    fn run_pod(&self, namespace: &str, name: &str, spec: Value) -> Running {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": name, "namespace": namespace },
            "spec": spec,
        });
        self.cluster.apply(&pod.to_string());
        self.wait_ready(namespace, name)
    }

    fn wait_ready(&self, namespace: &str, name: &str) -> Running {
        let waited = self
            .cluster
            .kubectl()
            .args(["wait", "--for=condition=Ready", "--timeout=120s", "-n", namespace])
            .arg(format!("pod/{name}"))
            .output()
            .unwrap();
        assert!(
            waited.status.success(),
            "pod {namespace}/{name} not Ready: {}\n{}",
            output_text(&waited),
            self.cluster.kubectl_ok(&["describe", "pod", "-n", namespace, name])
        );
        let pod = self.cluster.get(&["pod", "-n", namespace, name]).unwrap();
        let container = pod["status"]["containerStatuses"][0]["containerID"].as_str().unwrap();
        let sandbox = self.cluster.cri().list_pod_sandboxes().unwrap().into_iter().find(|sandbox| {
            sandbox.state == 0 // SANDBOX_READY
                && sandbox.metadata.as_ref().is_some_and(|meta| meta.namespace == namespace && meta.name == name)
        });
        Running {
            namespace: namespace.into(),
            name: name.into(),
            container: container.strip_prefix("containerd://").unwrap().into(),
            sandbox: sandbox.expect("the pod's sandbox").id,
        }
    }

    /// The pid of a running container's main process.
    fn container_pid(&self, container: &str) -> u32 {
        let cri = self.cluster.cri();
        pid_in_info(&cri.container_status(container).unwrap().info).expect("the container runs")
    }

    /// Starts recording containerd's task exits.
    fn watch_exits(&self) -> TaskExits {
        self.cluster.with_containerd(|containerd| containerd.watch_task_exits())
    }

    /// Deletes the pod as `kubectl delete` does, and waits until the API no
    /// longer has it (at most `limit`).
    fn delete(&self, pod: &Running, exits: &TaskExits, limit: Duration) -> Deletion {
        let deleted_at = SystemTime::now();
        let started = Instant::now();
        self.cluster.kubectl_ok(&["delete", "pod", "-n", &pod.namespace, &pod.name, "--wait=false"]);
        let gone = poll(limit, || {
            self.cluster.get(&["pod", "-n", &pod.namespace, &pod.name]).is_none().then_some(())
        });
        let gone_after = started.elapsed();
        assert!(gone.is_some(), "pod {}/{} still there after {limit:?}", pod.namespace, pod.name);
        let since = |at: SystemTime| at.duration_since(deleted_at).unwrap_or_default();
        let app = exits.wait_for(&pod.container, secs(10.0)).expect("no exit event for the app");
        let execs = exits
            .exits()
            .into_iter()
            .filter(|exit| exit.container_id == pod.container && exit.id != pod.container)
            .map(|exit| (exit.exit_status, since(exit.exited_at)))
            .collect();
        let sandbox = exits.wait_for(&pod.sandbox, secs(10.0)).expect("no exit event for the sandbox");
        Deletion {
            gone_after,
            app: (app.exit_status, since(app.exited_at)),
            execs,
            sandbox: sandbox.exit_status,
        }
    }

    /// The pod's events, as (reason, message), once one with `reason` is there.
    fn events_with(&self, namespace: &str, name: &str, reason: &str) -> Vec<(String, String)> {
        let selector = format!("involvedObject.name={name}");
        let found = poll(secs(30.0), || {
            let events = self.cluster.get(&["events", "-n", namespace, "--field-selector", &selector])?;
            let events: Vec<(String, String)> = events["items"]
                .as_array()?
                .iter()
                .map(|event| {
                    (
                        event["reason"].as_str().unwrap_or("").to_string(),
                        event["message"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            events.iter().any(|(seen, _)| seen == reason).then_some(events)
        });
        found.unwrap_or_else(|| panic!("no {reason} event for {namespace}/{name}"))
    }

    /// The kubelet's log records (a record's continuation lines joined) that
    /// contain every one of `parts`.
    fn kubelet_log(&self, parts: &[&str]) -> Vec<String> {
        let log = self.cluster.log("kubelet");
        let mut records: Vec<String> = Vec::new();
        for line in log.lines() {
            let starts_record = line.len() > 5
                && line.as_bytes()[0].is_ascii_uppercase()
                && line[1..5].bytes().all(|b| b.is_ascii_digit());
            match records.last_mut() {
                Some(record) if !starts_record => {
                    record.push('\n');
                    record.push_str(line);
                }
                _ => records.push(line.to_string()),
            }
        }
        records.into_iter().filter(|record| parts.iter().all(|part| record.contains(part))).collect()
    }
}

// ---------------------------------------------------------------- the tests

/// The node runs the kubelet and containerd that `scripts/stack` built,
/// and the API server is of the same release.
fn the_node_runs_the_built_kubelet_and_containerd(suite: &Suite) {
    let (kubelet, runtime) = suite.cluster.node_versions();
    assert_eq!(kubelet, stack_version("kubelet", &["--version"]));
    assert_eq!(
        runtime,
        format!("containerd://{}", stack_version("containerd", &["--version"]).trim_start_matches('v'))
    );
    let version: Value = serde_json::from_str(&suite.cluster.kubectl_ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], kubelet.as_str());
    // A pod's shim is the built shim (containerd finds it on PATH).
    suite.cluster.create_namespace("versions");
    let spec = json!({
        "terminationGracePeriodSeconds": 5,
        "containers": [{ "name": "app", "image": suite.images.app, "args": ["infinity"], "securityContext": restricted() }],
    });
    suite.run_pod("versions", "shim", spec);
    let shims = suite.cluster.with_containerd(|containerd| containerd.shims());
    assert!(!shims.is_empty(), "no shim for the pod");
    for shim in shims {
        let exe = std::fs::read_link(format!("/proc/{shim}/exe")).unwrap();
        assert_eq!(exe, stack_bin("containerd-shim-runc-v2"), "shim {shim} is not the one built here");
    }
}

/// A pod's sandbox is our `/sleep infinity`, and with
/// `shareProcessNamespace` it is PID 1 of the app's namespace too, and
/// reaps the orphans left there.
fn the_sandbox_reaps_the_apps_orphans_in_a_shared_process_namespace(suite: &Suite) {
    let namespace = "shared";
    suite.cluster.create_namespace(namespace);
    let spec = json!({
        "shareProcessNamespace": true,
        "terminationGracePeriodSeconds": 5,
        "containers": [{ "name": "app", "image": suite.images.app, "args": ["infinity"], "securityContext": restricted() }],
    });
    let pod = suite.run_pod(namespace, "orphans", spec);
    assert!(suite.census.saw(namespace, "orphans"), "the census saw no sandbox of ours for the pod");
    let app = suite.container_pid(&pod.container);
    let cri = suite.cluster.cri();
    let sandbox = cri.list_pod_sandboxes().unwrap().into_iter().find(|sandbox| {
        sandbox
            .metadata
            .as_ref()
            .is_some_and(|metadata| metadata.namespace == namespace && metadata.name == "orphans")
    });
    let sandbox =
        pid_in_info(&cri.pod_sandbox_status(&sandbox.expect("the pod's sandbox").id).unwrap().info).unwrap();
    assert_eq!(pid_namespace(app), pid_namespace(sandbox), "the app is not in the sandbox's PID namespace");
    // Orphans, made as tests/pid1.rs makes them: background sleeps whose
    // shell exits at once, started in the pod's PID namespace.
    let before = children(sandbox);
    let nsenter = which("nsenter").expect("util-linux nsenter not found: run scripts/setup");
    let script = "for i in 1 2 3 4 5; do sleep 0.5 & done";
    let made = Command::new(nsenter)
        .args(["--target", &sandbox.to_string(), "--pid", "--", "sh", "-c", script])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "nsenter: {made:?}");
    let adopted: Vec<u32> = children(sandbox).difference(&before).copied().collect();
    assert!(adopted.len() >= 5, "orphans not re-parented to the sandbox: {adopted:?}");
    let reaped =
        poll(secs(10.0), || adopted.iter().all(|pid| !children(sandbox).contains(pid)).then_some(()));
    assert!(reaped.is_some(), "zombies left in the pod: {:?}", children(sandbox));
    assert!(is_running(sandbox), "the sandbox ended");
}

/// `preStop: exec: ["/sleep", "3"]` holds SIGTERM back for 3 s; the app
/// (PID 1 of its container) then ends with 143, and the pod is gone well
/// within its grace period.
fn a_prestop_sleep_delays_sigterm_by_its_operand(suite: &Suite) {
    let namespace = "hook";
    suite.cluster.create_namespace(namespace);
    let spec = json!({
        "terminationGracePeriodSeconds": 30,
        "containers": [{
            "name": "app", "image": suite.images.app, "args": ["infinity"],
            "securityContext": restricted(), "lifecycle": exec_hook(&["/sleep", "3"]),
        }],
    });
    let pod = suite.run_pod(namespace, "hook", spec);
    // The restricted security context, as runc applied it.
    let app = status(suite.container_pid(&pod.container));
    assert_eq!([app.ruid, app.euid, app.suid, app.fuid], [USER; 4]);
    assert_eq!(
        [app.capinh, app.capprm, app.capeff, app.capamb.unwrap()],
        [0; 4],
        "CapInh, CapPrm, CapEff, CapAmb"
    );
    assert_eq!((app.nonewprivs, app.seccomp), (Some(1), Some(2)), "NoNewPrivs, Seccomp (RuntimeDefault)");
    let exits = suite.watch_exits();
    let deletion = suite.delete(&pod, &exits, secs(30.0));
    suite.hooks.check(|| {
        deletion.held_sigterm_for(3.0, "/sleep 3");
        assert!(deletion.gone_after < secs(30.0), "gone after {:?}", deletion.gone_after);
    });
    // The sandbox gets no SIGTERM: containerd SIGKILLs it once the app is done.
    assert_eq!(deletion.sandbox, 137, "the sandbox's exit");
}

/// A grace period shorter than the hook: the kubelet waits for the hook
/// until the grace period ends, then stops the container with its 2 s
/// minimum: SIGTERM at about the grace period (the app ends with 143), the
/// hook's exec killed (137), and the hook reported as failed.
fn a_grace_period_shorter_than_the_hook_cuts_it_short(suite: &Suite) {
    let namespace = "short";
    suite.cluster.create_namespace(namespace);
    let spec = json!({
        "terminationGracePeriodSeconds": 3,
        "containers": [{
            "name": "app", "image": suite.images.app, "args": ["infinity"],
            "securityContext": restricted(), "lifecycle": exec_hook(&["/sleep", "30"]),
        }],
    });
    let pod = suite.run_pod(namespace, "short", spec);
    let exits = suite.watch_exits();
    let deletion = suite.delete(&pod, &exits, secs(30.0));
    suite.hooks.check(|| {
        let (status, after) = deletion.app;
        assert_eq!(status, 143, "the app's exit");
        assert!(after >= secs(3.0), "SIGTERM after {after:?}: before the grace period");
        assert!(after < secs(3.0 + 2.0 + 5.0), "SIGTERM after {after:?}");
        assert_eq!(deletion.execs.iter().map(|exec| exec.0).collect::<Vec<_>>(), [137], "the hook's exec");
        let events = suite.events_with(namespace, "short", "FailedPreStopHook");
        assert!(events.contains(&("FailedPreStopHook".into(), "PreStopHook failed".into())), "{events:?}");
    });
}

/// Hooks that cannot run, as the README's troubleshooting lists them: a bare
/// `sleep` (not in PATH), an image without `/sleep`, another arch's binary,
/// an operand that is not a duration. Each gives the `FailedPreStopHook`
/// event, whose message in 1.36 says only that; the reason is in the
/// kubelet's log, and `kubectl exec` of the same command shows it. SIGTERM
/// comes at once. And the README's fix for the bare name
/// (`/usr/local/bin/sleep` too) runs the hook.
fn broken_hooks_give_failed_prestop_hook_events_and_the_path_fix_runs(suite: &Suite) {
    let namespace = "broken";
    suite.cluster.create_namespace(namespace);
    // (pod, image, hook, the kubelet's log, kubectl exec's stderr)
    let broken = [
        (
            "bare",
            &suite.images.app,
            vec!["sleep", "60"],
            // The kubelet's log quotes the error: its own quotes come escaped.
            r#"exec: \"sleep\": executable file not found in $PATH"#,
            r#"exec: "sleep": executable file not found in $PATH"#,
        ),
        (
            "missing",
            &suite.images.bare,
            vec!["/sleep", "60"],
            r#"exec: \"/sleep\": stat /sleep: no such file or directory"#,
            r#"exec: "/sleep": stat /sleep: no such file or directory"#,
        ),
        ("arch", &suite.images.wrong_arch, vec!["/sleep", "60"], "exec format error", "exec format error"),
        (
            "operand",
            &suite.images.app,
            vec!["/sleep", "60", "s"],
            "command '/sleep 60 s' exited with 1: sleep: invalid time interval 's'\n\tTry 'sleep --help' for more information.",
            "sleep: invalid time interval 's'\nTry 'sleep --help' for more information.\n",
        ),
    ];
    let mut pods = Vec::new();
    for (name, image, hook, _, exec_error) in &broken {
        let spec = json!({
            "terminationGracePeriodSeconds": 30,
            "containers": [{
                "name": "app", "image": image, "args": ["infinity"],
                "securityContext": restricted(), "lifecycle": exec_hook(hook),
            }],
        });
        pods.push(suite.run_pod(namespace, name, spec));
        let exec =
            suite.cluster.kubectl().args(["exec", "-n", namespace, name, "--"]).args(hook).output().unwrap();
        assert!(!exec.status.success(), "{name}: kubectl exec {hook:?} ran");
        let stderr = String::from_utf8_lossy(&exec.stderr);
        assert!(
            stderr.contains(exec_error),
            "{name}: kubectl exec {hook:?} says {stderr:?}, not {exec_error:?}"
        );
    }
    let fixed_spec = json!({
        "terminationGracePeriodSeconds": 30,
        "containers": [{
            "name": "app", "image": suite.images.path, "args": ["infinity"],
            "securityContext": restricted(), "lifecycle": exec_hook(&["sleep", "2"]),
        }],
    });
    let fixed = suite.run_pod(namespace, "fixed", fixed_spec);
    let exits = suite.watch_exits();
    for ((name, _, _, logged, _), pod) in broken.iter().zip(&pods) {
        let deletion = suite.delete(pod, &exits, secs(30.0));
        suite.hooks.check(|| {
            let (status, after) = deletion.app;
            assert_eq!(status, 143, "{name}: the app's exit");
            assert!(after < secs(5.0), "{name}: SIGTERM after {after:?}, not at once");
            let events = suite.events_with(namespace, name, "FailedPreStopHook");
            let failed: Vec<&(String, String)> =
                events.iter().filter(|(seen, _)| seen == "FailedPreStopHook").collect();
            assert_eq!(
                failed,
                [&("FailedPreStopHook".to_string(), "PreStopHook failed".to_string())],
                "{name}"
            );
            let records =
                suite.kubelet_log(&["\"PreStop hook failed\"", &format!("pod=\"{namespace}/{name}\"")]);
            assert_eq!(records.len(), 1, "{name}: the kubelet's log: {records:#?}");
            assert!(
                records[0].contains(logged),
                "{name}: the kubelet's log says {:?}, not {logged:?}",
                records[0]
            );
        });
    }
    let deletion = suite.delete(&fixed, &exits, secs(30.0));
    suite.hooks.check(|| deletion.held_sigterm_for(2.0, "the bare-name hook"));
}

/// A container of our image with a 4 MiB memory limit never starts: runc's
/// own init, which runs in the container's memory cgroup before it starts
/// `/sleep`, needs more and is OOM-killed; with 16 MiB (as
/// `examples/keepalive-pod.yaml` sets) it runs, its peak over 4 MiB.
fn a_4mi_memory_limit_kills_runcs_init_and_16mi_runs(suite: &Suite) {
    let namespace = "memory";
    suite.cluster.create_namespace(namespace);
    let image = suite.cluster.with_containerd(|containerd| containerd.sandbox_image.clone());
    let spec = |limit: &str| {
        json!({
            "terminationGracePeriodSeconds": 5,
            "containers": [{
                "name": "keepalive", "image": image,
                "resources": { "requests": { "memory": "1Mi" }, "limits": { "memory": limit } },
                "securityContext": restricted(),
            }],
        })
    };
    let pod = |name: &str, spec: Value| {
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": { "name": name, "namespace": namespace }, "spec": spec,
        })
    };
    suite.cluster.apply(&pod("tight", spec("4Mi")).to_string());
    let roomy = suite.run_pod(namespace, "roomy", spec("16Mi"));
    let restarted = poll(secs(60.0), || {
        let pod = suite.cluster.get(&["pod", "-n", namespace, "tight"])?;
        let status = &pod["status"]["containerStatuses"][0];
        (status["restartCount"].as_u64()? >= 1 && status["ready"] == false).then(|| status.clone())
    });
    let restarted = restarted.expect("the 4Mi container did not fail to start within 60 s");
    let reason = restarted["lastState"]["terminated"]["reason"].as_str().unwrap_or_default().to_string();
    assert!(["OOMKilled", "StartError"].contains(&reason.as_str()), "{restarted:#}");
    let uid = suite.cluster.get(&["pod", "-n", namespace, "roomy"]).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let peak = sleep_testbed::process::cgroup_hierarchies()
        .into_iter()
        .flat_map(|hierarchy| {
            let container = hierarchy
                .join(&suite.cluster.cgroup_root)
                .join("kubepods/burstable")
                .join(format!("pod{uid}"))
                .join(&roomy.container);
            ["memory.max_usage_in_bytes", "memory.peak"].map(|file| container.join(file))
        })
        .find_map(|file| std::fs::read_to_string(file).ok()?.trim().parse::<u64>().ok())
        .expect("no memory peak for the 16Mi container");
    assert!(peak > 4 << 20, "the 16Mi container's peak memory is {peak} bytes, under 4 MiB");
}

/// Our image mounted as an image volume into a container that has no
/// `/sleep` (a third-party image), and the mounted `/sleep` as its preStop
/// hook: mounted read-only, not `noexec`, it runs.
fn an_image_volume_brings_sleep_to_an_image_without_it(suite: &Suite) {
    let namespace = "volume";
    suite.cluster.create_namespace(namespace);
    let sandbox_image = suite.cluster.with_containerd(|containerd| containerd.sandbox_image.clone());
    let spec = json!({
        "terminationGracePeriodSeconds": 30,
        "containers": [{
            "name": "app", "image": suite.images.bare, "args": ["infinity"],
            "securityContext": restricted(),
            "volumeMounts": [{ "name": "sleep", "mountPath": "/opt/sleep" }],
            "lifecycle": exec_hook(&["/opt/sleep/sleep", "2"]),
        }],
        "volumes": [{ "name": "sleep", "image": { "reference": sandbox_image, "pullPolicy": "IfNotPresent" } }],
    });
    let pod = suite.run_pod(namespace, "volume", spec);
    let without = suite
        .cluster
        .kubectl()
        .args(["exec", "-n", namespace, "volume", "--", "/sleep", "0"])
        .output()
        .unwrap();
    assert!(!without.status.success(), "the image has a /sleep of its own");
    suite.cluster.kubectl_ok(&["exec", "-n", namespace, "volume", "--", "/opt/sleep/sleep", "0.1"]);
    let app = suite.container_pid(&pod.container);
    let mounts = std::fs::read_to_string(format!("/proc/{app}/mountinfo")).unwrap();
    let mount = mounts
        .lines()
        .find(|line| line.split(' ').nth(4) == Some("/opt/sleep"))
        .expect("no /opt/sleep mount");
    let options: Vec<&str> = mount.split(' ').nth(5).unwrap().split(',').collect();
    assert!(options.contains(&"ro") && !options.contains(&"noexec"), "/opt/sleep is mounted {options:?}");
    let exits = suite.watch_exits();
    let deletion = suite.delete(&pod, &exits, secs(30.0));
    suite.hooks.check(|| deletion.held_sigterm_for(2.0, "the mounted hook"));
}

/// `examples/`: namespace.yaml, deployment.yaml, native-prestop-sleep.yaml,
/// image-volume.yaml and keepalive-pod.yaml, applied as written with only
/// the image names made local: the Deployments roll out (the first two
/// behind their readiness probes); deleting a pod holds its SIGTERM for the
/// 60 s of the hook, exec, native, or from the image volume; the keep-alive
/// pod stops at once on SIGTERM.
fn the_examples_run_as_written_with_local_images(suite: &Suite) {
    let sandbox_image = suite.cluster.with_containerd(|containerd| containerd.sandbox_image.clone());
    let example = |name: &str| {
        std::fs::read_to_string(repo().join("examples").join(name))
            .unwrap()
            .replace("registry.example.com/shop/web:1.4.2", &suite.images.web)
            .replace("registry.example.com/vendor/app:2.3", &suite.images.vendor)
            .replace("ghcr.io/sleep-developers/sleep:0.1.0", &sandbox_image)
    };
    suite.cluster.apply(&example("namespace.yaml"));
    poll(secs(60.0), || suite.cluster.get(&["serviceaccount", "default", "-n", "shop"]).map(drop))
        .expect("no default service account in shop");
    for name in ["deployment.yaml", "native-prestop-sleep.yaml", "image-volume.yaml", "keepalive-pod.yaml"] {
        suite.cluster.apply(&example(name));
    }
    for deployment in ["web", "web-native-sleep", "vendor-app"] {
        suite.cluster.kubectl_ok(&[
            "rollout",
            "status",
            "-n",
            "shop",
            &format!("deployment/{deployment}"),
            "--timeout=180s",
        ]);
    }
    let keepalive = suite.wait_ready("shop", "keepalive");
    let keepalive_pid = suite.container_pid(&keepalive.container);
    assert_eq!(cmdline(keepalive_pid), ["/sleep", "infinity"]);
    assert_eq!(status(keepalive_pid).euid, USER);

    let pods_of = |app: &str| -> Vec<String> {
        let pods = suite
            .cluster
            .get(&["pods", "-n", "shop", "-l", &format!("app.kubernetes.io/name={app}")])
            .unwrap();
        pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pod| pod["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let web = pods_of("web");
    let native = pods_of("web-native-sleep");
    let vendor = pods_of("vendor-app");
    assert_eq!((web.len(), native.len(), vendor.len()), (3, 3, 2), "{web:?} {native:?} {vendor:?}");
    for pod in web.iter().chain(&native).chain(&vendor).chain(std::iter::once(&keepalive.name)) {
        assert!(suite.census.saw("shop", pod), "the census saw no sandbox of ours for shop/{pod}");
    }

    let exits = suite.watch_exits();
    let web_pod = suite.wait_ready("shop", &web[0]);
    let native_pod = suite.wait_ready("shop", &native[0]);
    let vendor_pod = suite.wait_ready("shop", &vendor[0]);
    let (web_deletion, native_deletion, vendor_deletion, keepalive_deletion) = std::thread::scope(|scope| {
        let web = scope.spawn(|| suite.delete(&web_pod, &exits, secs(90.0)));
        let native = scope.spawn(|| suite.delete(&native_pod, &exits, secs(90.0)));
        let vendor = scope.spawn(|| suite.delete(&vendor_pod, &exits, secs(90.0)));
        let keepalive = suite.delete(&keepalive, &exits, secs(30.0));
        (web.join().unwrap(), native.join().unwrap(), vendor.join().unwrap(), keepalive)
    });
    let hooks = [
        ("exec /sleep 60", &web_deletion),
        ("native sleep 60", &native_deletion),
        ("exec /opt/sleep/sleep 60 from the image volume", &vendor_deletion),
    ];
    for (what, deletion) in hooks {
        suite.hooks.check(|| {
            // The web app exits 0 on SIGTERM.
            let (status, after) = deletion.app;
            assert_eq!(status, 0, "{what}: the app's exit");
            assert!(after >= secs(60.0), "{what}: SIGTERM after {after:?}, before the hook's 60 s");
            assert!(after < secs(75.0), "{what}: SIGTERM after {after:?}");
            assert!(deletion.gone_after < secs(90.0), "{what}: gone after {:?}", deletion.gone_after);
        });
    }
    assert_eq!(web_deletion.execs.iter().map(|exec| exec.0).collect::<Vec<_>>(), [0], "the exec hook's exit");
    assert_eq!(
        vendor_deletion.execs.iter().map(|exec| exec.0).collect::<Vec<_>>(),
        [0],
        "the mounted hook's exit"
    );
    assert!(native_deletion.execs.is_empty(), "the native sleep ran an exec: {:?}", native_deletion.execs);
    let (status, after) = keepalive_deletion.app;
    assert_eq!(status, 143, "the keep-alive pod's exit");
    assert!(after < secs(5.0), "the keep-alive pod stopped after {after:?}, not at once");
    // The Deployments made new pods in place of the deleted ones.
    for deployment in ["web", "web-native-sleep"] {
        suite.cluster.kubectl_ok(&[
            "rollout",
            "status",
            "-n",
            "shop",
            &format!("deployment/{deployment}"),
            "--timeout=180s",
        ]);
    }
}

/// The README's `crictl` block (between its `crictl:start` and
/// `crictl:end` markers), less comments, one command a line.
fn readme_crictl_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let (_, block) =
        readme.split_once("<!-- crictl:start -->").expect("README.md lost its crictl:start marker");
    let (block, _) = block.split_once("<!-- crictl:end -->").expect("README.md lost its crictl:end marker");
    let code = block.split_once("```sh\n").and_then(|(_, code)| code.split_once("```")).map(|(code, _)| code);
    let code = code.expect("no sh block between the crictl markers");
    code.lines()
        .map(|line| line.split_once(" #").map_or(line, |(command, _)| command).trim().to_string())
        .filter(|line| !line.is_empty())
        .collect()
}

/// The README's crictl commands, run as written by sh, one line at a time
/// (a `name=$(...)` line's output becomes `$name` for the next ones), on
/// the node, for a pod named as the README's example is.
fn the_readmes_crictl_commands_show_the_sandbox_and_run_a_hooks_exec(suite: &Suite) {
    let namespace = "crictl";
    suite.cluster.create_namespace(namespace);
    let name = "web-7d4b9c6f5-x2x7k";
    let spec = json!({
        "terminationGracePeriodSeconds": 5,
        "containers": [{ "name": "web", "image": suite.images.app, "args": ["infinity"], "securityContext": restricted() }],
    });
    let pod = suite.run_pod(namespace, name, spec);
    let cri = suite.cluster.cri();
    let sandbox = cri
        .list_pod_sandboxes()
        .unwrap()
        .into_iter()
        .find(|sandbox| sandbox.metadata.as_ref().is_some_and(|metadata| metadata.name == name))
        .expect("the pod's sandbox");
    let sandbox_pid = pid_in_info(&cri.pod_sandbox_status(&sandbox.id).unwrap().info).unwrap();
    let sandbox_image = suite.cluster.with_containerd(|containerd| containerd.sandbox_image.clone());
    let socket = suite.cluster.containerd_socket();
    let path = std::env::join_paths(
        std::iter::once(stack_bin_dir())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let mut variables: Vec<(String, String)> = Vec::new();
    let mut checked = 0;
    for line in readme_crictl_lines() {
        let assignment = line.split_once("=$(").filter(|_| line.ends_with(')'));
        let command = assignment.map_or(line.as_str(), |(_, rest)| rest.strip_suffix(')').unwrap());
        let started = Instant::now();
        let output = Command::new("sh")
            .args(["-c", command])
            .envs(variables.iter().cloned())
            .env("CONTAINER_RUNTIME_ENDPOINT", format!("unix://{}", socket.display()))
            .env("PATH", &path)
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(output.status.success(), "{line}: {}", output_text(&output));
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if let Some((variable, _)) = assignment {
            variables.push((variable.to_string(), stdout.clone()));
        }
        if line.starts_with("pod=$(") {
            assert_eq!(stdout, sandbox.id, "{line}");
        } else if line.starts_with("c=$(") {
            assert_eq!(stdout, pod.container, "{line}");
        } else if line.starts_with("crictl pods ") {
            let row = stdout
                .lines()
                .find(|row| sandbox.id.starts_with(row.split_whitespace().next().unwrap_or("-")));
            let row = row.unwrap_or_else(|| panic!("{line}: no row for {}:\n{stdout}", sandbox.id));
            assert!(row.contains(" Ready ") && row.contains(&format!(" {name} ")), "{line}: {row}");
        } else if line.starts_with("crictl inspectp ") {
            let inspected: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(inspected["status"]["id"], sandbox.id.as_str(), "{line}");
            assert_eq!(inspected["info"]["image"], sandbox_image.as_str(), "{line}");
            assert_eq!(inspected["info"]["pid"], sandbox_pid, "{line}");
        } else if line.starts_with("crictl exec ") {
            assert_eq!(line, r#"crictl exec "$c" /sleep 1"#);
            assert!(stdout.is_empty(), "{line}: {stdout}");
            assert!(took >= secs(1.0) && took < secs(10.0), "{line} took {took:?}");
        } else {
            panic!("README.md's crictl block has a line this test does not know: {line}");
        }
        checked += 1;
    }
    assert_eq!(checked, 5, "the README's crictl block has {checked} commands");
}

/// containerd SIGKILLed under live pods, then started again as a node's
/// service manager would: the sandboxes and apps live on, the kubelet
/// carries on, and deleting the pods afterwards still runs their hooks.
fn containerd_killed_and_restarted_under_live_pods(suite: &Suite) {
    let namespace = "fault";
    suite.cluster.create_namespace(namespace);
    let mut pods = Vec::new();
    for name in ["one", "two"] {
        let spec = json!({
            "terminationGracePeriodSeconds": 30,
            "containers": [{
                "name": "app", "image": suite.images.app, "args": ["infinity"],
                "securityContext": restricted(), "lifecycle": exec_hook(&["/sleep", "2"]),
            }],
        });
        pods.push(suite.run_pod(namespace, name, spec));
    }
    let apps: Vec<u32> = pods.iter().map(|pod| suite.container_pid(&pod.container)).collect();
    suite.cluster.with_containerd(|containerd| containerd.kill());
    std::thread::sleep(secs(2.0));
    for pid in &apps {
        assert!(is_running(*pid), "app {pid} ended with containerd");
    }
    suite.cluster.with_containerd(|containerd| containerd.restart());
    for pod in &pods {
        let recovered = poll(secs(60.0), || {
            let exec = suite
                .cluster
                .kubectl()
                .args(["exec", "-n", namespace, &pod.name, "--", "/sleep", "0.1"])
                .output()
                .ok()?;
            exec.status.success().then_some(())
        });
        assert!(recovered.is_some(), "kubectl exec into {} fails after the restart", pod.name);
    }
    let node = suite.cluster.get(&["node", NODE]).unwrap();
    let ready = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    assert!(ready, "the node is not Ready after the restart");
    let exits = suite.watch_exits();
    for pod in &pods {
        let deletion = suite.delete(pod, &exits, secs(30.0));
        suite.hooks.check(|| deletion.held_sigterm_for(2.0, &pod.name));
    }
}

/// `cargo run -p sleep-testbed --bin cluster` (a second cluster, the one
/// for trying things by hand) stopped with Ctrl-C once its node is Ready
/// and a pod runs: it tears down and leaves nothing.
fn an_interrupted_cluster_leaves_nothing_behind(_suite: &Suite) {
    let build = Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked", "--quiet", "-p", "sleep-testbed", "--bin", "cluster"])
        .output()
        .unwrap();
    assert!(build.status.success(), "cargo build of the cluster program: {}", output_text(&build));
    let program = repo().join("target/release/cluster");
    /// The cluster program, interrupted and waited for (so that it tears
    /// down) if the test fails before it does that itself.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            if let Ok(None) = self.0.try_wait() {
                sleep_tests::send_signal(self.0.id(), libc::SIGINT);
                let _ = self.0.wait();
            }
        }
    }
    let mut running =
        Running(Command::new(&program).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let child = &mut running.0;
    let stderr = {
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        })
    };
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let ready = lines.find_map(|line| line.ok()?.strip_prefix("cluster: ready, ").map(str::to_string));
    let Some(kubeconfig) = ready else {
        let _ = child.wait();
        panic!("the cluster did not come up: {}", stderr.join().unwrap());
    };
    let kubeconfig = kubeconfig.strip_prefix("KUBECONFIG=").unwrap_or(&kubeconfig).to_string();
    let dir = PathBuf::from(&kubeconfig).parent().unwrap().to_path_buf();
    let kubectl = |args: &[&str]| {
        Command::new(stack_bin("kubectl"))
            .arg(format!("--kubeconfig={kubeconfig}"))
            .args(args)
            .output()
            .unwrap()
    };
    let image = format!("--image=localhost/sleep:{}", sleep_testbed::containerd::project_version());
    let made = kubectl(&["run", "left", &image, "--restart=Never"]);
    assert!(made.status.success(), "{}", output_text(&made));
    let ran = kubectl(&["wait", "--for=condition=Ready", "pod/left", "--timeout=120s"]);
    assert!(ran.status.success(), "{}", output_text(&ran));
    sleep_tests::send_signal(child.id(), libc::SIGINT);
    let ended = poll(secs(180.0), || child.try_wait().unwrap());
    assert!(ended.is_some(), "the cluster program still runs 180 s after SIGINT");
    let stderr = stderr.join().unwrap();
    assert_eq!(ended.and_then(|status| status.code()), Some(130), "{stderr}");
    assert!(stderr.contains("cluster: interrupted; torn down, nothing left"), "{stderr}");
    let dir_text = dir.to_string_lossy().into_owned();
    let left: Vec<String> = sleep_testbed::process::processes()
        .into_iter()
        .filter(|&pid| is_running(pid) && cmdline(pid).iter().any(|arg| arg.contains(&dir_text)))
        .map(|pid| format!("{pid}: {:?}", cmdline(pid)))
        .collect();
    assert!(left.is_empty(), "processes left: {left:?}");
    assert!(sleep_testbed::process::mount_points_under(&[&dir]).is_empty());
    assert!(!dir.exists(), "{} left", dir.display());
}

// ---------------------------------------------------------------- the runner

type Test = fn(&Suite);

/// Run side by side.
const PARALLEL: &[(&str, Test)] = &[
    ("the_node_runs_the_built_kubelet_and_containerd", the_node_runs_the_built_kubelet_and_containerd),
    (
        "the_sandbox_reaps_the_apps_orphans_in_a_shared_process_namespace",
        the_sandbox_reaps_the_apps_orphans_in_a_shared_process_namespace,
    ),
    ("a_prestop_sleep_delays_sigterm_by_its_operand", a_prestop_sleep_delays_sigterm_by_its_operand),
    (
        "a_grace_period_shorter_than_the_hook_cuts_it_short",
        a_grace_period_shorter_than_the_hook_cuts_it_short,
    ),
    (
        "broken_hooks_give_failed_prestop_hook_events_and_the_path_fix_runs",
        broken_hooks_give_failed_prestop_hook_events_and_the_path_fix_runs,
    ),
    ("a_4mi_memory_limit_kills_runcs_init_and_16mi_runs", a_4mi_memory_limit_kills_runcs_init_and_16mi_runs),
    (
        "an_image_volume_brings_sleep_to_an_image_without_it",
        an_image_volume_brings_sleep_to_an_image_without_it,
    ),
    ("the_examples_run_as_written_with_local_images", the_examples_run_as_written_with_local_images),
    (
        "the_readmes_crictl_commands_show_the_sandbox_and_run_a_hooks_exec",
        the_readmes_crictl_commands_show_the_sandbox_and_run_a_hooks_exec,
    ),
];

/// Run alone, after those: they stop a containerd, or start a second cluster.
const ALONE: &[(&str, Test)] = &[
    ("containerd_killed_and_restarted_under_live_pods", containerd_killed_and_restarted_under_live_pods),
    ("an_interrupted_cluster_leaves_nothing_behind", an_interrupted_cluster_leaves_nothing_behind),
];

fn trials(suite: &Arc<Suite>, tests: &[(&'static str, Test)]) -> Vec<Trial> {
    tests
        .iter()
        .map(|&(name, test)| {
            let suite = Arc::clone(suite);
            Trial::test(name, move || {
                test(&suite);
                Ok(())
            })
        })
        .collect()
}

fn main() -> std::process::ExitCode {
    let arguments = Arguments::from_args();
    let all: Vec<&str> = PARALLEL.iter().chain(ALONE).map(|(name, _)| *name).collect();
    if arguments.list {
        libtest_mimic::run(&arguments, all.iter().map(|name| Trial::test(*name, || Ok(()))).collect()).exit();
    }
    let suite = Arc::new(Suite::start());
    {
        let suite = Arc::clone(&suite);
        ctrlc::set_handler(move || {
            suite.census.stop.store(true, Ordering::Relaxed);
            let report = suite.cluster.tear_down();
            eprintln!("cluster: interrupted; torn down: {report:#?}");
            std::process::exit(130);
        })
        .expect("a Ctrl-C handler");
    }
    let census = Arc::clone(&suite.census).watch(suite.cluster.cri());

    let parallel = libtest_mimic::run(&arguments, trials(&suite, PARALLEL));
    let alone =
        libtest_mimic::run(&Arguments { test_threads: Some(1), ..arguments.clone() }, trials(&suite, ALONE));

    suite.census.stop.store(true, Ordering::Relaxed);
    census.join().unwrap();
    let (kubelet, _) = suite.cluster.node_versions();
    let containerd = stack_version("containerd", &["--version"]);
    let sandboxes = suite.census.sandboxes.lock().unwrap();
    let ours = sandboxes.values().filter(|(_, verdict)| verdict.is_ok()).count();
    for (pod, verdict) in sandboxes.values() {
        if let Err(problem) = verdict {
            eprintln!("cluster: pod {pod}: {problem}");
        }
    }
    let checked = suite.hooks.checked.load(Ordering::Relaxed);
    let as_expected = suite.hooks.as_expected.load(Ordering::Relaxed);
    let census_ok = ours == sandboxes.len();
    drop(sandboxes);
    let report = suite.cluster.tear_down();
    let torn_down = report.is_clean();
    if !torn_down {
        eprintln!("cluster: teardown not clean: {report:#?}");
    }
    let pods = suite.census.sandboxes.lock().unwrap().len();
    println!(
        "cluster: kubelet {kubelet} on containerd {containerd}: {pods} pods, sandbox /sleep in {ours} of {pods}, hooks as expected in {as_expected} of {checked}"
    );
    if parallel.has_failed() || alone.has_failed() || !census_ok || !torn_down {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
