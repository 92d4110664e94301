//! Our image as the pod sandbox against other pause processes, side by side
//! in one real cluster (`sleep_testbed::cluster`):
//!
//! ```text
//! cargo run --release -p sandboxes [-- --smoke] [-- --shared]
//! ```
//!
//! - The peers: catatonit in its pause mode (`catatonit -P`), the pause
//!   process Podman gives its pods, and tini; each from its Debian package's
//!   static binary, as a FROM-scratch image of that one file (`peers.rs`).
//! - Batches of pods with each as containerd's pinned sandbox image,
//!   switched by restarting containerd, in rounds whose order rotates; every
//!   sandbox process is checked (the peer's program, PID 1 of the pod, no
//!   child) and measured: memory, pod start, and its stop on deletion
//!   (`pods.rs`).
//! - tini has no mode without a program: its pod is watched for a while to
//!   show what becomes of its sandboxes.
//!
//! A full run writes its section of docs/benchmarks.md (between the markers
//! in `report.rs`); `--smoke` is quick, writes nothing, and fails unless
//! every sandbox was its peer's program as PID 1 (ours `/sleep infinity`),
//! every tini sandbox exited on its own, and the teardown left nothing. Its last line:
//!
//! `sandboxes: kubelet v1.36.3: ours (`/sleep infinity`) PID 1 of its pod in N of N pods; catatonit -P (...) ...; tini: S sandboxes, S exited on their own`
//!
//! Needs root, `scripts/setup` (the stack, catatonit and tini), and `dist/`
//! from `scripts/build` and `scripts/image`. Ctrl-C (or SIGTERM) tears the
//! cluster down before it exits.

mod peers;
mod pods;
mod report;
mod watch;

use std::{
    panic::AssertUnwindSafe,
    process::{Command, ExitCode},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use nix::sys::signal::Signal;
use peers::{Peer, Run};
use pods::{Attempt, Sample, Setting};
use report::{CriCalls, Results, RunFacts};
use sleep_testbed::{
    cluster::Cluster,
    process::{self, children, is_running},
    repo, stack_version,
};
use watch::Watch;

const HELP: &str = "\
usage: sandboxes [--smoke] [--shared]

Pods with our image as their sandbox against catatonit -P and tini, in one
cluster; a full run writes its section of docs/benchmarks.md.

  --smoke   one round of 2 pods per sandbox and a shorter look at tini;
            checks that it all still works and writes nothing
  --shared  say in the docs that the machine was shared with other work
";

/// The namespace of the pods.
const NAMESPACE: &str = "sandboxes";

/// How much to run.
#[derive(Debug, Clone, Copy)]
struct Settings {
    smoke: bool,
    shared: bool,
    rounds: usize,
    pods_per_round: usize,
    tini_window: Duration,
}

impl Settings {
    fn parse(args: impl Iterator<Item = String>) -> Result<Option<Settings>, String> {
        let (mut smoke, mut shared) = (false, false);
        for arg in args {
            match arg.as_str() {
                "--smoke" => smoke = true,
                "--shared" => shared = true,
                "--help" | "-h" => return Ok(None),
                other => return Err(format!("sandboxes: unknown argument {other:?}\n{HELP}")),
            }
        }
        Ok(Some(if smoke {
            Settings { smoke, shared, rounds: 1, pods_per_round: 2, tini_window: Duration::from_secs(15) }
        } else {
            Settings { smoke, shared, rounds: 5, pods_per_round: 5, tini_window: Duration::from_secs(30) }
        }))
    }
}

/// The helpers' PIDs (the watch's kubectl), for the Ctrl-C handler.
static HELPERS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn log(message: &str) {
    eprintln!("sandboxes: {message}");
}

/// What the cluster gave, before its teardown.
struct Measured {
    peers: Vec<Peer>,
    tini: Peer,
    samples: Vec<Sample>,
    attempt: Attempt,
    calls: CriCalls,
    kubelet: String,
}

/// The peers' batches, the tini attempt, and containerd's log.
fn experiment(cluster: &Cluster, settings: &Settings) -> Measured {
    log("building the peers' images");
    let (peers, tini, app_image) = cluster.with_containerd(|containerd| {
        let ours = peers::ours(containerd);
        let app_image = ours.image.clone();
        (vec![ours, peers::catatonit(containerd)], peers::tini(containerd), app_image)
    });
    cluster.create_namespace(NAMESPACE);
    let watch = Watch::start(cluster, NAMESPACE, |pid| HELPERS.lock().unwrap().push(pid));
    let setting =
        Setting { cluster, cri: cluster.cri(), watch: &watch, namespace: NAMESPACE, app_image: &app_image };

    let mut samples = Vec::new();
    for round in 0..settings.rounds {
        // Each round in another order: ours first, then second, ...
        let order: Vec<&Peer> = peers.iter().cycle().skip(round % peers.len()).take(peers.len()).collect();
        for peer in order {
            cluster.with_containerd(|containerd| containerd.restart_with_sandbox_image(&peer.image));
            setting.wait_for_node();
            // containerd's events, from its new start on.
            let exits = cluster.with_containerd(|containerd| containerd.watch_task_exits());
            samples.push(setting.run(&exits, peer, &format!("{}-{round}-warm-up", peer.key), round, true));
            for pod in 0..settings.pods_per_round {
                samples.push(setting.run(&exits, peer, &format!("{}-{round}-{pod}", peer.key), round, false));
            }
            let batch: Vec<f64> = samples
                .iter()
                .filter(|s| s.peer == peer.key && s.round == round && !s.warm_up)
                .map(|s| s.start.as_secs_f64() * 1e3)
                .collect();
            let median = report::spread(&batch).map_or(0.0, |s| s.median);
            log(&format!(
                "round {} of {}, {}: {} pods, created → Running median {median:.0} ms",
                round + 1,
                settings.rounds,
                peer.name,
                batch.len()
            ));
        }
    }

    log(&format!("tini as the sandbox: one pod, watched for {} s", settings.tini_window.as_secs()));
    cluster.with_containerd(|containerd| containerd.restart_with_sandbox_image(&tini.image));
    setting.wait_for_node();
    let exits = cluster.with_containerd(|containerd| containerd.watch_task_exits());
    let attempt = setting.attempt(&exits, &tini, "tini-0", settings.tini_window);
    drop(exits);
    drop(watch);
    let calls = report::cri_calls(&cluster.with_containerd(|containerd| containerd.log()));
    let (kubelet, _) = cluster.node_versions();
    Measured { peers, tini, samples, attempt, calls, kubelet }
}

/// The commit, and whether the tree was clean: the figures speak for that
/// commit only if it was.
fn commit() -> String {
    let git = |args: &[&str]| {
        let output = Command::new("git").arg("-C").arg(repo()).args(args).output().expect("git");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).trim().to_string();
    let changed: Vec<String> =
        git(&["status", "--porcelain"]).lines().map(|line| format!("`{}`", &line[3..])).collect();
    if changed.is_empty() {
        format!("commit `{commit}` (clean tree)")
    } else {
        format!("commit `{commit}` (uncommitted changes to {})", changed.join(", "))
    }
}

/// `AMD EPYC ..., 2 cores, x86_64, virtual machine; Linux 6.1`.
fn machine(shared: bool) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')))
        .map_or("unknown CPU", |(_, model)| model.trim());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let virtual_machine = if cpuinfo.contains(" hypervisor") { ", virtual machine" } else { "" };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let shared = if shared { ", shared with other work during the run" } else { "" };
    format!(
        "{model}, {cores} cores, {}{virtual_machine}{shared}; Linux {}",
        std::env::consts::ARCH,
        kernel.trim()
    )
}

fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// `2026-12-07 22:40 UTC`.
fn date() -> String {
    let text = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    format!("{} UTC", text[..16].replace('T', " "))
}

/// What must be there before a cluster is worth starting.
fn preflight() -> Result<(), String> {
    if process::status(std::process::id()).euid != 0 {
        return Err("run as root (the cluster's containerd and kubelet run rootful)".into());
    }
    let archive = repo().join("dist/sleep-oci.tar");
    if !archive.is_file() {
        return Err(format!("{} is missing: run scripts/build and scripts/image", archive.display()));
    }
    for program in ["/usr/bin/catatonit", "/usr/bin/tini-static", "/usr/bin/buildah"] {
        if !std::path::Path::new(program).is_file() {
            return Err(format!("{program} is missing: run scripts/setup"));
        }
    }
    Ok(())
}

/// Ctrl-C and SIGTERM: stop the watch, tear the cluster down, end what is
/// left of ours, exit 130.
fn on_interrupt(cluster: Arc<Cluster>) {
    ctrlc::set_handler(move || {
        INTERRUPTED.store(true, Ordering::SeqCst);
        let kill = |pid: u32| {
            if let Err(error) = process::signal(pid, Signal::SIGKILL) {
                eprintln!("sandboxes: {error}");
            }
        };
        let ours = children(std::process::id());
        for &pid in HELPERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter() {
            if ours.contains(&pid) {
                kill(pid);
            }
        }
        let report = cluster.tear_down();
        // What the main thread had running (ctr events, a kubectl call).
        for pid in children(std::process::id()) {
            if is_running(pid) {
                kill(pid);
            }
        }
        if report.is_clean() {
            log("interrupted; torn down, nothing left");
        } else {
            log(&format!("interrupted; the teardown: {report:#?}"));
        }
        std::process::exit(130);
    })
    .expect("a Ctrl-C handler");
}

fn main() -> ExitCode {
    let settings = match Settings::parse(std::env::args().skip(1)) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Err(message) = preflight() {
        log(&message);
        return ExitCode::FAILURE;
    }
    let tini_alone: Vec<Run> = peers::tini_alone();
    let date = date();
    let load_at_start = load_average();
    log("starting the cluster");
    let cluster = Arc::new(Cluster::start("sandboxes"));
    on_interrupt(Arc::clone(&cluster));
    let measured = std::panic::catch_unwind(AssertUnwindSafe(|| experiment(&cluster, &settings)));
    if INTERRUPTED.load(Ordering::SeqCst) {
        // The handler tears down and exits.
        loop {
            std::thread::park();
        }
    }
    let load_at_end = load_average();
    let torn_down = cluster.tear_down();
    if !torn_down.is_clean() {
        log(&format!("teardown not clean: {torn_down:#?}"));
    }
    let Ok(measured) = measured else {
        log("failed (above); the cluster is torn down");
        return ExitCode::FAILURE;
    };
    let facts = RunFacts {
        date,
        commit: commit(),
        machine: machine(settings.shared),
        load_at_start,
        load_at_end,
        kubelet: measured.kubelet.clone(),
        containerd: stack_version("containerd", &["--version"]),
        runc: stack_version("runc", &["--version"]),
        rounds: settings.rounds,
        pods_per_round: settings.pods_per_round,
    };
    let results = Results {
        facts,
        peers: &measured.peers,
        tini: &measured.tini,
        samples: &measured.samples,
        calls: &measured.calls,
        tini_alone: &tini_alone,
        tini_attempt: &measured.attempt,
    };
    let section = results.section();

    let mut failures = Vec::new();
    for sample in measured.samples.iter().filter(|sample| sample.problem.is_some()) {
        failures.push(format!("pod {}: its sandbox {}", sample.pod, sample.problem.as_deref().unwrap_or("")));
    }
    let attempt = &measured.attempt;
    if attempt.sandboxes.is_empty() {
        failures.push("tini: no sandbox was made".into());
    }
    for (id, status, on_its_own) in &attempt.sandboxes {
        if !on_its_own {
            failures.push(format!("tini: sandbox {id} did not exit on its own (exit status {status:?})"));
        }
    }
    if !torn_down.is_clean() {
        failures.push("the teardown was not clean".into());
    }
    if settings.smoke {
        println!("{section}");
    } else if failures.is_empty() {
        let path = repo().join("docs/benchmarks.md");
        report::write_section(&path, &section);
        log(&format!("wrote its section of {}", path.display()));
    }
    for failure in &failures {
        log(&format!("FAILED: {failure}"));
    }
    println!("{}", results.summary());
    if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
