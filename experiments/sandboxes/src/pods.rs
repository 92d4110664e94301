//! One pod's life with a given sandbox, as a user makes it: `kubectl apply`,
//! Running, `kubectl delete`, gone; and what the sandbox process was meanwhile.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime},
};

use serde_json::{Value, json};
use sleep_testbed::{
    cluster::{Cluster, NODE, restricted_security_context},
    containerd::TaskExits,
    cri::{Cri, api, pid_in_info},
    poll,
    process::{children, cmdline, status},
    secs,
};

use crate::{
    peers::{Peer, USER},
    watch::Watch,
};

/// How long a pod may take to be Running, and to be gone once deleted.
const POD_LIMIT: Duration = Duration::from_secs(120);
/// How long containerd's exit events may lag.
const EXIT_LIMIT: Duration = Duration::from_secs(30);

/// What the pods run around the sandbox.
pub struct Setting<'a> {
    pub cluster: &'a Cluster,
    pub cri: Cri,
    pub watch: &'a Watch,
    pub namespace: &'a str,
    /// The app container's image: ours, `/sleep infinity`, for every sandbox.
    pub app_image: &'a str,
}

/// The sandbox process, from /proc, in kB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
}

/// One pod, run and deleted.
#[derive(Debug, Clone)]
pub struct Sample {
    pub peer: &'static str,
    pub pod: String,
    pub round: usize,
    /// The first pod after containerd's restart: run and checked, not counted.
    pub warm_up: bool,
    /// The pod's uid and its sandbox's id, for containerd's log.
    pub uid: String,
    pub sandbox: String,
    /// What was wrong with the sandbox process, if anything (see [`check`]).
    pub problem: Option<String>,
    pub memory: Memory,
    /// From the pod's creation to its phase Running, both as the watch saw them.
    pub start: Duration,
    /// The sandbox's exit status when the pod was deleted.
    pub exit_status: u32,
    /// From the deletion (the watch's first event with a deletion timestamp)
    /// to the app's exit, by the wall clock (containerd's for the exit), in
    /// seconds: the kubelet's part.
    pub deletion_to_app_exit: f64,
    /// From the app's exit to the sandbox's, both by containerd's clock, in
    /// seconds: the sandbox's stop.
    pub app_to_exit: f64,
    /// From the deletion to the pod gone from the API.
    pub deletion_to_gone: Duration,
}

/// The restricted pod security standard's container security context, as [`USER`].
fn restricted() -> Value {
    restricted_security_context(USER)
}

impl Setting<'_> {
    /// Creates pod `name`: one app container, `/sleep infinity`.
    fn create(&self, name: &str, peer: &Peer) {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": name, "namespace": self.namespace, "labels": { "sandbox": peer.key } },
            "spec": {
                "containers": [{
                    "name": "app", "image": self.app_image, "imagePullPolicy": "Never",
                    "args": ["infinity"], "securityContext": restricted(),
                }],
            },
        });
        self.cluster.apply(&pod.to_string());
    }

    /// Deletes pod `name` as `kubectl delete` does, without waiting.
    fn delete(&self, name: &str) {
        self.cluster.kubectl_ok(&["delete", "pod", "-n", self.namespace, name, "--wait=false"]);
    }

    /// The sandboxes of the pod with uid `uid` in containerd (every
    /// attempt, in any state): their ids, and whether each is ready.
    fn sandboxes(&self, uid: &str) -> Vec<(String, bool)> {
        let ready = api::PodSandboxState::SandboxReady as i32;
        self.cri
            .list_pod_sandboxes()
            .unwrap_or_default()
            .into_iter()
            .filter(|sandbox| sandbox.metadata.as_ref().is_some_and(|meta| meta.uid == uid))
            .map(|sandbox| (sandbox.id, sandbox.state == ready))
            .collect()
    }

    /// Runs pod `name` with `peer` as its sandbox (containerd's pinned image
    /// must be `peer`'s by now), checks and measures its sandbox, deletes it,
    /// and waits until it is gone.
    /// `exits` records containerd's task exits (since its last start).
    pub fn run(&self, exits: &TaskExits, peer: &Peer, name: &str, round: usize, warm_up: bool) -> Sample {
        self.create(name, peer);
        let added = self.watch.first(name, secs(30.0), |e| e.kind == "ADDED").expect("no ADDED event");
        let uid = added.object["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let running = self.watch.first(name, POD_LIMIT, |e| e.phase == "Running").unwrap_or_else(|| {
            panic!(
                "pod {name} not Running after {POD_LIMIT:?}:\n{}",
                self.cluster.kubectl_ok(&["describe", "pod", "-n", self.namespace, name])
            )
        });
        let container = running.object["status"]["containerStatuses"][0]["containerID"]
            .as_str()
            .and_then(|id| id.strip_prefix("containerd://"))
            .expect("the app's container id")
            .to_string();
        let (sandbox, _) = self
            .sandboxes(&uid)
            .into_iter()
            .find(|(_, ready)| *ready)
            .unwrap_or_else(|| panic!("pod {name} Running without a ready sandbox"));
        let pid = pid_in_info(&self.cri.pod_sandbox_status(&sandbox).expect("PodSandboxStatus").info)
            .expect("the sandbox's pid");
        let problem = check(pid, peer);
        let process = status(pid);
        let memory = Memory {
            vm_rss: process.vmrss.unwrap_or_default(),
            rss_anon: process.rssanon.unwrap_or_default(),
            rss_file: process.rssfile.unwrap_or_default(),
        };

        self.delete(name);
        let deleting = self.watch.first(name, secs(30.0), |e| e.deleting).expect("no deletion event");
        let gone = self.watch.first(name, POD_LIMIT, |e| e.kind == "DELETED").unwrap_or_else(|| {
            panic!("pod {name} still there {POD_LIMIT:?} after its deletion");
        });
        let app = exits.wait_for(&container, EXIT_LIMIT).expect("no exit event for the app");
        let exit = exits.wait_for(&sandbox, EXIT_LIMIT).expect("no exit event for the sandbox");
        // Signed: the watch may show the deletion a little after the kubelet acts on it.
        let after = |later: SystemTime, earlier: SystemTime| match later.duration_since(earlier) {
            Ok(duration) => duration.as_secs_f64(),
            Err(error) => -error.duration().as_secs_f64(),
        };
        Sample {
            peer: peer.key,
            pod: name.to_string(),
            round,
            warm_up,
            uid,
            sandbox,
            problem,
            memory,
            start: running.at - added.at,
            exit_status: exit.exit_status,
            deletion_to_app_exit: after(app.exited_at, deleting.wall),
            app_to_exit: after(exit.exited_at, app.exited_at),
            deletion_to_gone: gone.at - deleting.at,
        }
    }

    /// Creates pod `name` with `peer` as its sandbox, watches what becomes
    /// of it for `window`, then deletes it: for a sandbox that may not stay up.
    pub fn attempt(&self, exits: &TaskExits, peer: &Peer, name: &str, window: Duration) -> Attempt {
        self.create(name, peer);
        let added = self.watch.first(name, secs(30.0), |e| e.kind == "ADDED").expect("no ADDED event");
        let uid = added.object["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let started = std::time::Instant::now();
        let mut made = BTreeSet::new();
        while started.elapsed() < window {
            made.extend(self.sandboxes(&uid).into_iter().map(|(id, _)| id));
            std::thread::sleep(secs(0.05));
        }
        let events = self.watch.of(name);
        let phases: BTreeSet<String> = events.iter().map(|e| e.phase.clone()).collect();
        // The app container's states, as each event showed them.
        let mut app_states = BTreeSet::new();
        for event in &events {
            for status in event.object["status"]["containerStatuses"].as_array().into_iter().flatten() {
                for state in [&status["state"], &status["lastState"]] {
                    app_states.extend(describe_state(state));
                }
            }
        }
        let reasons = self.event_reasons(name);
        let deleted_at = SystemTime::now();
        self.delete(name);
        let gone = self.watch.first(name, POD_LIMIT, |e| e.kind == "DELETED");
        assert!(gone.is_some(), "pod {name} still there {POD_LIMIT:?} after its deletion");
        let sandboxes = made
            .into_iter()
            .map(|id| {
                let exit = exits.wait_for(&id, EXIT_LIMIT);
                let on_its_own = exit.as_ref().is_some_and(|exit| exit.exited_at < deleted_at);
                (id, exit.map(|exit| exit.exit_status), on_its_own)
            })
            .collect();
        Attempt { window, sandboxes, phases, app_states, reasons }
    }

    /// The reasons of the pod's events, each with how many times it came
    /// and its first message.
    fn event_reasons(&self, name: &str) -> BTreeMap<String, (u64, String)> {
        let selector = format!("involvedObject.name={name}");
        let events = self.cluster.get(&["events", "-n", self.namespace, "--field-selector", &selector]);
        let mut reasons = BTreeMap::<String, (u64, String)>::new();
        for event in events.as_ref().and_then(|events| events["items"].as_array()).into_iter().flatten() {
            let reason = event["reason"].as_str().unwrap_or("?").to_string();
            let count = event["series"]["count"].as_u64().or(event["count"].as_u64()).unwrap_or(1).max(1);
            let message = event["message"].as_str().unwrap_or_default().to_string();
            reasons.entry(reason).or_insert((0, message)).0 += count;
        }
        reasons
    }

    /// Waits until the node is Ready and the runtime answers (after a restart
    /// of containerd).
    pub fn wait_for_node(&self) {
        let ready = poll(POD_LIMIT, || {
            let node = self.cluster.get(&["node", NODE])?;
            let ready = node["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|condition| condition["type"] == "Ready" && condition["status"] == "True");
            (ready && self.cri.conditions().ok()?.get("RuntimeReady") == Some(&true)).then_some(())
        });
        assert!(ready.is_some(), "node {NODE} not Ready after {POD_LIMIT:?}");
    }
}

/// What became of a pod whose sandbox may not stay up.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub window: Duration,
    /// Every sandbox made for it in the window: its id, its exit status
    /// (`None`: no exit event came), and whether it exited before the pod's
    /// deletion, on its own (else the pod's stop ended it).
    pub sandboxes: Vec<(String, Option<u32>, bool)>,
    /// The pod's phases, as the watch saw them.
    pub phases: BTreeSet<String>,
    /// Its app container's states, as the API showed them (`running`,
    /// `terminated: 137, Error`, `waiting: CrashLoopBackOff`...).
    pub app_states: BTreeSet<String>,
    /// Its events' reasons, each with its count and first message.
    pub reasons: BTreeMap<String, (u64, String)>,
}

/// A container state of the API, in a few words; `None` for none.
fn describe_state(state: &Value) -> Option<String> {
    if !state["running"].is_null() {
        return Some("running".into());
    }
    if let Some(terminated) = state["terminated"].as_object() {
        let code = terminated.get("exitCode").and_then(Value::as_i64).unwrap_or_default();
        let reason = terminated.get("reason").and_then(Value::as_str).unwrap_or("no reason");
        return Some(format!("terminated: {code}, {reason}"));
    }
    let reason = state["waiting"]["reason"].as_str()?;
    Some(format!("waiting: {reason}"))
}

/// What is wrong with sandbox process `pid`, if anything: it must run
/// `peer`'s program (its bytes and command line), as PID 1 of its PID
/// namespace, as [`USER`], with no child.
pub fn check(pid: u32, peer: &Peer) -> Option<String> {
    let command = cmdline(pid);
    if command != peer.command {
        return Some(format!("runs {command:?}, not {:?}", peer.command));
    }
    let status = status(pid);
    if status.nspid.as_ref().and_then(|pids| pids.last().copied()) != Some(1) {
        return Some(format!("is not PID 1 of its namespace: NSpid {:?}", status.nspid));
    }
    if [status.ruid, status.euid, status.suid, status.fuid] != [USER; 4] {
        return Some(format!("runs as uid {}", status.euid));
    }
    let kids = children(pid);
    if !kids.is_empty() {
        return Some(format!("has children {kids:?}"));
    }
    match std::fs::read(format!("/proc/{pid}/exe")) {
        Ok(exe) if exe == peer.bytes => None,
        Ok(_) => Some(format!("is not {}", peer.binary.display())),
        Err(error) => Some(format!("/proc/{pid}/exe: {error}")),
    }
}
