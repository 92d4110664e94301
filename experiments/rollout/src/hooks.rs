//! Where the kubelet's native `preStop.sleep` and an exec `/sleep` differ,
//! measured on the cluster, one pod at a time (or one of each at once):
//!
//! - the app exits on its own during the hook: how long the pod then stays;
//! - a sleep not shorter than the grace period: what the API says of the
//!   native one, what happens to the exec;
//! - a fractional duration;
//! - from the deletion to SIGTERM at the same N: the cost of a runc exec.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sleep_testbed::{
    cluster::{Cluster, restricted_security_context},
    containerd::TaskExits,
    output_text, poll, secs,
};

use crate::{APP_USER, rollouts::Hook, stop_if_interrupted};

/// The namespace these pods run in.
const NAMESPACE: &str = "hooks";

/// A pod's deletion: when SIGTERM's effect came (the main process's exit),
/// with its status; the hook exec's end, if any; and when the API no longer
/// had the pod, each after the deletion.
#[derive(Debug, Clone)]
pub struct Deletion {
    pub app: (u32, Duration),
    pub hook: Option<(u32, Duration)>,
    pub gone: Duration,
}

/// The API's answer to a pod, and if it took it, what its deletion did.
#[derive(Debug, Clone)]
pub enum Answer {
    Refused(String),
    /// Each run's deletion.
    Accepted(Vec<Deletion>),
}

impl Default for Answer {
    fn default() -> Answer {
        Answer::Refused(String::new())
    }
}

/// What was measured.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// The app exits on its own during a hook of `early_exit_hook` s: from
    /// its exit to the pod being gone, native then exec, each run.
    pub early_exit_hook: u32,
    pub app_exit_to_gone: Vec<(Duration, Duration)>,
    /// Native sleeps of G and of G + 1 s with G s of grace: what the API
    /// said, and what the deletion did when it took them.
    pub native_at_grace: (u32, Answer),
    pub native_over_grace: (u32, Answer),
    /// An exec `/sleep` of 2G s with G s of grace, each run.
    pub exec_over_grace: (u32, Vec<Deletion>),
    /// A native sleep of 2.5 s: the API's answer; an exec `/sleep 2.5`.
    pub native_fraction: Answer,
    pub exec_fraction: Vec<Deletion>,
    /// Deletion to SIGTERM at `same_n` s, native then exec, each run.
    pub same_n: u32,
    pub deletion_to_sigterm: Vec<(Duration, Duration)>,
}

fn pod(name: &str, image: &str, command: &[&str], hook: &Hook, grace: u32) -> Value {
    let mut container = json!({
        "name": "app",
        "image": image,
        "command": command,
        "securityContext": restricted_security_context(APP_USER),
    });
    if *hook != Hook::None {
        container["lifecycle"] = hook.lifecycle();
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "namespace": NAMESPACE },
        "spec": { "restartPolicy": "Never", "terminationGracePeriodSeconds": grace, "containers": [container] },
    })
}

/// `kubectl apply` of `manifest`; the error text when the API refuses it.
fn try_apply(cluster: &Cluster, manifest: &Value) -> Result<(), String> {
    let mut child = cluster
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), manifest.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() { Ok(()) } else { Err(output_text(&output).trim().to_string()) }
}

/// Starts pod `manifest` and returns its container's id once it is Ready.
fn start(cluster: &Cluster, manifest: &Value) -> Result<String, String> {
    let name = manifest["metadata"]["name"].as_str().unwrap();
    try_apply(cluster, manifest)?;
    // Ready, not only running: the kubelet has finished the pod's start and
    // reported it, so a deletion now is handled at once, not after that.
    let container = poll(secs(120.0), || {
        let pod = cluster.get(&["pod", "-n", NAMESPACE, name])?;
        let conditions = pod["status"]["conditions"].as_array()?.clone();
        let ready =
            conditions.iter().any(|condition| condition["type"] == "Ready" && condition["status"] == "True");
        let status = &pod["status"]["containerStatuses"][0];
        ready.then(|| status["containerID"].as_str().map(str::to_string))?
    });
    let container = container.ok_or(format!("pod {name} did not run in 120 s"))?;
    Ok(container.trim_start_matches("containerd://").to_string())
}

/// Deletes pod `name`; waits until the API no longer has it.
fn delete(cluster: &Cluster, exits: &TaskExits, name: &str, container: &str) -> Result<Deletion, String> {
    let deleted = SystemTime::now();
    cluster.kubectl_ok(&["delete", "pod", "-n", NAMESPACE, name, "--wait=false"]);
    poll(secs(120.0), || cluster.get(&["pod", "-n", NAMESPACE, name]).is_none().then_some(()))
        .ok_or(format!("pod {name} still there 120 s after its deletion"))?;
    let gone = deleted.elapsed().unwrap_or_default();
    let after = |at: SystemTime| at.duration_since(deleted).unwrap_or_default();
    let app = exits.wait_for(container, secs(10.0)).ok_or(format!("no exit of {name}'s app"))?;
    let hook = exits
        .exits()
        .into_iter()
        .find(|exit| exit.container_id == container && exit.id != container)
        .map(|exit| (exit.exit_status, after(exit.exited_at)));
    Ok(Deletion { app: (app.exit_status, after(app.exited_at)), hook, gone })
}

/// The API's answer to pod `manifest`; when it takes the pod, `runs`
/// deletions of it (the pod made again each time, named `NAME-RUN`).
fn answer(cluster: &Cluster, exits: &TaskExits, manifest: &Value, runs: u32) -> Result<Answer, String> {
    let mut deletions = Vec::new();
    for run in 0..runs {
        let mut manifest = manifest.clone();
        let name = format!("{}-{run}", manifest["metadata"]["name"].as_str().unwrap());
        manifest["metadata"]["name"] = name.clone().into();
        match start(cluster, &manifest) {
            Ok(container) => deletions.push(delete(cluster, exits, &name, &container)?),
            Err(refused) if run == 0 && cluster.get(&["pod", "-n", NAMESPACE, &name]).is_none() => {
                return Ok(Answer::Refused(refused));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(Answer::Accepted(deletions))
}

/// `runs` deletions of pod `manifest`, which the API must take.
fn deletions(
    cluster: &Cluster,
    exits: &TaskExits,
    manifest: &Value,
    runs: u32,
) -> Result<Vec<Deletion>, String> {
    match answer(cluster, exits, manifest, runs)? {
        Answer::Accepted(deletions) => Ok(deletions),
        Answer::Refused(error) => Err(format!("the API refused {}: {error}", manifest["metadata"]["name"])),
    }
}

/// Runs the comparisons: `repeats` of each timed one. `image` has `/sleep`.
pub fn compare(cluster: &Cluster, image: &str, repeats: u32) -> Result<Comparison, String> {
    cluster.create_namespace(NAMESPACE);
    let result = (|| {
        let exits = cluster.with_containerd(|containerd| containerd.watch_task_exits());
        let mut comparison = Comparison { early_exit_hook: 15, same_n: 3, ..Comparison::default() };

        // The app ends by itself 8 s after it starts, during a 15 s hook
        // that began as soon as it ran (kubernetes/kubernetes#134338).
        for run in 0..repeats {
            stop_if_interrupted()?;
            let mut pair = Vec::new();
            for (kind, hook) in
                [("native", Hook::Native(15)), ("exec", Hook::Exec(vec!["/sleep".into(), "15".into()]))]
            {
                let name = format!("early-{kind}-{run}");
                let container = start(cluster, &pod(&name, image, &["/sleep", "8"], &hook, 30))?;
                let deletion = delete(cluster, &exits, &name, &container)?;
                // The main process's own exit, during the hook.
                let (status, exited) = deletion.app;
                if status != 0 {
                    return Err(format!("{name}: the app ended {status}, not 0 on its own"));
                }
                pair.push(deletion.gone.saturating_sub(exited));
            }
            comparison.app_exit_to_gone.push((pair[0], pair[1]));
        }

        // A sleep as long as the grace period, and one longer.
        let grace = 4;
        let sleeping =
            |name: &str, hook: &Hook, grace: u32| pod(name, image, &["/sleep", "infinity"], hook, grace);
        comparison.native_at_grace = (
            grace,
            answer(cluster, &exits, &sleeping("native-at-grace", &Hook::Native(grace), grace), repeats)?,
        );
        comparison.native_over_grace = (
            grace + 1,
            answer(
                cluster,
                &exits,
                &sleeping("native-over-grace", &Hook::Native(grace + 1), grace),
                repeats,
            )?,
        );
        let over = Hook::Exec(vec!["/sleep".into(), (2 * grace).to_string()]);
        comparison.exec_over_grace =
            (grace, deletions(cluster, &exits, &sleeping("exec-over-grace", &over, grace), repeats)?);

        // A fraction of a second.
        let mut native_fraction = sleeping("native-fraction", &Hook::None, 10);
        native_fraction["spec"]["containers"][0]["lifecycle"] =
            json!({ "preStop": { "sleep": { "seconds": 2.5 } } });
        comparison.native_fraction = answer(cluster, &exits, &native_fraction, repeats)?;
        let exec_fraction = Hook::Exec(vec!["/sleep".into(), "2.5".into()]);
        comparison.exec_fraction =
            deletions(cluster, &exits, &sleeping("exec-fraction", &exec_fraction, 10), repeats)?;

        // The same N: one pod of each, deleted one after the other, each run.
        let n = comparison.same_n;
        for run in 0..repeats * 3 {
            stop_if_interrupted()?;
            let native = format!("same-native-{run}");
            let exec = format!("same-exec-{run}");
            let native_container =
                start(cluster, &pod(&native, image, &["/sleep", "infinity"], &Hook::Native(n), 30))?;
            let exec_hook = Hook::Exec(vec!["/sleep".into(), n.to_string()]);
            let exec_container = start(cluster, &pod(&exec, image, &["/sleep", "infinity"], &exec_hook, 30))?;
            let (native_deletion, exec_deletion) = std::thread::scope(|scope| {
                let native = scope.spawn(|| delete(cluster, &exits, &native, &native_container));
                let exec = delete(cluster, &exits, &exec, &exec_container);
                (native.join().unwrap(), exec)
            });
            comparison.deletion_to_sigterm.push((native_deletion?.app.1, exec_deletion?.app.1));
        }
        Ok(comparison)
    })();
    cluster.kubectl_ok(&[
        "delete",
        "namespace",
        NAMESPACE,
        "--wait=true",
        "--timeout=120s",
        "--grace-period=1",
    ]);
    result
}
