//! Rolling updates done by Kubernetes: a Deployment of the web app behind a
//! Service, rolled by the Deployment controller (`kubectl rollout
//! restart`), `maxSurge: 1`, `maxUnavailable: 0`, a readiness probe; the
//! load balancer fed by the EndpointSlice watch (`targets`); the client at a
//! constant rate through it the whole time.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use serde_json::{Value, json};
use sleep_testbed::{
    cluster::{Cluster, restricted_security_context},
    containerd::TaskExits,
    poll, secs,
};

use crate::{
    APP_USER, Settings,
    client::{Client, Tally},
    lb::LoadBalancer,
    stop_if_interrupted,
    targets::{APP_PORT, Targets},
};

/// Load before the restart, and after the last old pod is gone.
const LEAD_IN: Duration = Duration::from_secs(1);
const TAIL: Duration = Duration::from_secs(1);
/// How long one rollout may take, on top of its hooks and grace periods.
const ROLLOUT_SLACK: Duration = Duration::from_secs(120);

/// A preStop hook.
#[derive(Debug, Clone, PartialEq)]
pub enum Hook {
    None,
    /// `lifecycle.preStop.sleep.seconds`: the kubelet's own.
    Native(u32),
    /// `lifecycle.preStop.exec.command`.
    Exec(Vec<String>),
}

impl Hook {
    pub fn lifecycle(&self) -> Value {
        match self {
            Hook::None => Value::Null,
            Hook::Native(seconds) => json!({ "preStop": { "sleep": { "seconds": seconds } } }),
            Hook::Exec(command) => json!({ "preStop": { "exec": { "command": command } } }),
        }
    }

    /// As the docs show it.
    pub fn text(&self) -> String {
        match self {
            Hook::None => "none".into(),
            Hook::Native(seconds) => format!("`sleep: {{seconds: {seconds}}}`"),
            Hook::Exec(command) => format!("`{}`", command.join(" ")),
        }
    }
}

/// One scenario: the hook and G.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short, for the namespace and the progress lines.
    pub key: &'static str,
    pub title: String,
    pub hook: Hook,
    /// terminationGracePeriodSeconds.
    pub grace: u32,
}

/// What happened to one old pod.
#[derive(Debug, Clone, Default)]
pub struct OldPod {
    /// Its app container's exit status, and when, after its endpoint went.
    pub app: Option<(u32, Duration)>,
    /// Its hook's exec, if any: exit status, and when.
    pub hook: Option<(u32, Duration)>,
    /// When its target was deregistered, after its endpoint went.
    pub deregistered: Option<Duration>,
}

/// What one rollout did.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub tally: Tally,
    /// From `rollout restart` until the last old pod was gone.
    pub duration: Duration,
    pub old_pods: Vec<OldPod>,
}

/// What a scenario did: its rollouts.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub rollouts: Vec<Rollout>,
}

impl ScenarioResult {
    pub fn total(&self) -> Tally {
        let mut total = Tally::default();
        for rollout in &self.rollouts {
            total.add(&rollout.tally);
        }
        total
    }
}

/// The Deployment and its Service, in `namespace`.
fn manifests(namespace: &str, image: &str, replicas: u32, scenario: &Scenario) -> String {
    let mut container = json!({
        "name": "web",
        "image": image,
        "ports": [{ "name": "http", "containerPort": APP_PORT }],
        "readinessProbe": { "httpGet": { "path": "/", "port": "http" }, "periodSeconds": 1, "failureThreshold": 1 },
        "securityContext": restricted_security_context(APP_USER),
    });
    if scenario.hook != Hook::None {
        container["lifecycle"] = scenario.hook.lifecycle();
    }
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web", "namespace": namespace },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": "web" } },
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 1, "maxUnavailable": 0 } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "terminationGracePeriodSeconds": scenario.grace, "containers": [container] },
            },
        },
    });
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": "web", "namespace": namespace },
        "spec": { "selector": { "app": "web" }, "ports": [{ "port": 80, "targetPort": "http" }] },
    });
    format!("{deployment}\n{service}")
}

/// The pods of the Deployment that are not terminating: name → container id.
fn running_pods(cluster: &Cluster, namespace: &str) -> BTreeMap<String, String> {
    let pods = cluster.get(&["pods", "-n", namespace, "-l", "app=web"]).unwrap_or_default();
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pod| pod["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|pod| {
            let name = pod["metadata"]["name"].as_str()?.to_string();
            let container = pod["status"]["containerStatuses"][0]["containerID"].as_str()?;
            Some((name, container.strip_prefix("containerd://")?.to_string()))
        })
        .collect()
}

/// Whether the Deployment has all its replicas updated and available.
fn rolled_out(cluster: &Cluster, namespace: &str, replicas: u32) -> bool {
    let Some(deployment) = cluster.get(&["deployment", "web", "-n", namespace]) else { return false };
    let status = &deployment["status"];
    let count = |field: &str| status[field].as_u64().unwrap_or(0);
    status["observedGeneration"].as_u64() >= deployment["metadata"]["generation"].as_u64()
        && count("updatedReplicas") == u64::from(replicas)
        && count("availableReplicas") == u64::from(replicas)
        && count("replicas") == u64::from(replicas)
}

/// Runs `scenario`'s rollouts in a namespace of its own, which it deletes
/// at the end.
pub fn run_scenario(
    cluster: &Cluster,
    lb: &Arc<LoadBalancer>,
    image: &str,
    settings: &Settings,
    scenario: &Scenario,
) -> Result<ScenarioResult, String> {
    let namespace = format!("rollout-{}", scenario.key);
    cluster.create_namespace(&namespace);
    let result = (|| {
        cluster.apply(&manifests(&namespace, image, settings.replicas, scenario));
        let limit = ROLLOUT_SLACK;
        poll(limit, || rolled_out(cluster, &namespace, settings.replicas).then_some(()))
            .ok_or(format!("{namespace}: the Deployment did not roll out in {limit:?}"))?;
        let targets = Targets::watch(cluster, &namespace, "web", Arc::clone(lb), secs(settings.lag));
        let replicas = settings.replicas as usize;
        poll(secs(30.0), || (targets.registered().len() == replicas).then_some(()))
            .ok_or(format!("{namespace}: {replicas} targets not registered in 30 s"))?;
        let exits = cluster.with_containerd(|containerd| containerd.watch_task_exits());
        let mut rollouts = Vec::new();
        for index in 0..settings.rollouts {
            stop_if_interrupted()?;
            let rollout = roll(cluster, lb, &targets, &exits, &namespace, settings, scenario)?;
            println!(
                "{} ({}), rollout {}/{}: {}",
                scenario.key,
                scenario.title,
                index + 1,
                settings.rollouts,
                crate::report::one_line(&rollout)
            );
            rollouts.push(rollout);
        }
        if let Some(error) = targets.error() {
            return Err(format!("{namespace}: the load balancer: {error}"));
        }
        // The last pods' targets, out of the way of the next scenario.
        targets.remove_all(lb)?;
        Ok(ScenarioResult { scenario: scenario.clone(), rollouts })
    })();
    // The namespace and everything in it, hooks cut short.
    cluster.kubectl_ok(&[
        "delete",
        "namespace",
        &namespace,
        "--wait=true",
        "--timeout=120s",
        "--grace-period=1",
    ]);
    result
}

/// One rollout: the Deployment controller replaces every pod, under load.
fn roll(
    cluster: &Cluster,
    lb: &Arc<LoadBalancer>,
    targets: &Targets,
    exits: &TaskExits,
    namespace: &str,
    settings: &Settings,
    scenario: &Scenario,
) -> Result<Rollout, String> {
    let old = running_pods(cluster, namespace);
    let bound = LEAD_IN + ROLLOUT_SLACK + secs(f64::from(scenario.grace) * settings.replicas as f64) + TAIL;
    let client =
        Client::start(lb.address, settings.rate, (bound.as_secs_f64() * settings.rate).ceil() as u64, bound);
    std::thread::sleep(LEAD_IN);
    let started = Instant::now();
    cluster.kubectl_ok(&["rollout", "restart", "deployment/web", "-n", namespace]);
    let done = poll(bound, || {
        if crate::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
            return Some(false);
        }
        let pods = cluster.get(&["pods", "-n", namespace, "-l", "app=web"]).unwrap_or_default();
        let names: Vec<&str> = pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|pod| pod["metadata"]["name"].as_str())
            .collect();
        let old_gone = old.keys().all(|pod| !names.contains(&pod.as_str()));
        (old_gone && rolled_out(cluster, namespace, settings.replicas)).then_some(true)
    });
    let duration = started.elapsed();
    stop_if_interrupted()?;
    if done.is_none() {
        return Err(format!("{namespace}: the rollout did not end in {bound:?}"));
    }
    std::thread::sleep(TAIL);
    let tally = client.stop();
    poll(secs(30.0), || targets.settled().then_some(()))
        .ok_or(format!("{namespace}: deregistrations still due"))?;

    let old_pods = old
        .iter()
        .map(|(pod, container)| {
            let Some((going, deregistered)) = targets.going(pod) else { return OldPod::default() };
            let after = |at: SystemTime| at.duration_since(going).unwrap_or_default();
            let app =
                exits.wait_for(container, secs(10.0)).map(|exit| (exit.exit_status, after(exit.exited_at)));
            let hook = exits
                .exits()
                .into_iter()
                .find(|exit| exit.container_id == *container && exit.id != *container)
                .map(|exit| (exit.exit_status, after(exit.exited_at)));
            OldPod { app, hook, deregistered }
        })
        .collect();
    Ok(Rollout { tally, duration, old_pods })
}
