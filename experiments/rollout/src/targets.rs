//! The AWS Load Balancer Controller's part, and the ALB's lag: a watch of
//! the Service's EndpointSlices (the API's watch, through `kubectl get
//! --watch`) keeps the load balancer's targets to the ready endpoints.
//!
//! - An endpoint that becomes ready is registered at once (pod IP and port:
//!   `target-type: ip`).
//! - One that stops being ready (its pod terminating) or goes away is
//!   deregistered after the lag D: the controller's reaction and the ALB's
//!   propagation, scaled to seconds. Until then the load balancer still
//!   sends it requests.
//! - When each pod's endpoint was seen going, by pod name: the moment its
//!   deletion reached the endpoints, which the report measures from.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::BufReader,
    net::SocketAddr,
    process::{Child, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime},
};

use sleep_testbed::{cluster::Cluster, kill_and_reap};

use crate::lb::LoadBalancer;

/// The port the app listens on in each pod.
pub const APP_PORT: u16 = 8080;

/// What the watch has made of the endpoints so far.
#[derive(Default)]
struct State {
    /// Each slice's endpoints: (pod, address, ready).
    slices: BTreeMap<String, Vec<(String, SocketAddr, bool)>>,
    /// Pods registered on the load balancer, with their address.
    registered: BTreeMap<String, SocketAddr>,
    /// Pods whose deregistration is due, and when.
    due: BTreeMap<String, Instant>,
    /// When each pod's endpoint stopped being ready, or went: by the wall
    /// clock (containerd's exit times are) and by the monotonic one.
    going: BTreeMap<String, (SystemTime, Instant)>,
    /// Deregistered, and when.
    deregistered: BTreeMap<String, Instant>,
    /// The first error, which ends the run.
    error: Option<String>,
}

/// The watch and its deregistration timer, running until dropped.
pub struct Targets {
    state: Arc<Mutex<State>>,
    watch: Child,
    reader: Option<JoinHandle<()>>,
    timer: Option<JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Targets {
    /// Starts watching the EndpointSlices of Service `service` in
    /// `namespace`, registering on `lb` and deregistering `lag` after.
    pub fn watch(
        cluster: &Cluster,
        namespace: &str,
        service: &str,
        lb: Arc<LoadBalancer>,
        lag: Duration,
    ) -> Targets {
        let selector = format!("kubernetes.io/service-name={service}");
        let mut watch = cluster
            .kubectl()
            .args(["get", "endpointslices", "-n", namespace, "-l", &selector])
            .args(["--watch", "--output-watch-events", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl get --watch");
        let stdout = watch.stdout.take().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (state, lb) = (Arc::clone(&state), Arc::clone(&lb));
            std::thread::spawn(move || {
                // One JSON document per event, one after the other.
                let events = serde_json::Deserializer::from_reader(BufReader::new(stdout))
                    .into_iter::<serde_json::Value>();
                for event in events {
                    let Ok(event) = event else { break };
                    let mut state = state.lock().unwrap();
                    apply(&mut state, &event, &lb, lag);
                }
            })
        };
        let timer = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let now = Instant::now();
                    let due: Vec<String> = {
                        let state = state.lock().unwrap();
                        state.due.iter().filter(|(_, at)| **at <= now).map(|(pod, _)| pod.clone()).collect()
                    };
                    for pod in due {
                        let result = lb.deregister(&pod);
                        let mut state = state.lock().unwrap();
                        state.due.remove(&pod);
                        state.registered.remove(&pod);
                        state.deregistered.insert(pod.clone(), Instant::now());
                        if let Err(error) = result {
                            state.error.get_or_insert(error);
                        }
                        drop(state);
                        lb.delete(&pod);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Targets { state, watch, reader: Some(reader), timer: Some(timer), stop }
    }

    /// The pods registered now.
    pub fn registered(&self) -> BTreeSet<String> {
        self.state.lock().unwrap().registered.keys().cloned().collect()
    }

    /// When `pod`'s endpoint was seen going (by the wall clock, as
    /// containerd's exit times are), and how long after that its target was
    /// deregistered.
    pub fn going(&self, pod: &str) -> Option<(SystemTime, Option<Duration>)> {
        let state = self.state.lock().unwrap();
        let (wall, instant) = *state.going.get(pod)?;
        let lag = state.deregistered.get(pod).map(|deregistered| deregistered.duration_since(instant));
        Some((wall, lag))
    }

    /// Stops the watch and takes every target out of the load balancer at
    /// once: the scenario is over.
    pub fn remove_all(mut self, lb: &LoadBalancer) -> Result<(), String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        kill_and_reap(&mut self.watch);
        let pods: Vec<String> = self.state.lock().unwrap().registered.keys().cloned().collect();
        for pod in pods {
            lb.deregister(&pod)?;
            lb.delete(&pod);
        }
        Ok(())
    }

    /// No deregistration is due.
    pub fn settled(&self) -> bool {
        self.state.lock().unwrap().due.is_empty()
    }

    /// The first error (a load balancer command that failed).
    pub fn error(&self) -> Option<String> {
        self.state.lock().unwrap().error.clone()
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        kill_and_reap(&mut self.watch);
        for thread in [self.reader.take(), self.timer.take()].into_iter().flatten() {
            let _ = thread.join();
        }
    }
}

/// One watch event: the slice's endpoints replace what it had; then the
/// targets follow the union of all slices' endpoints.
fn apply(state: &mut State, event: &serde_json::Value, lb: &LoadBalancer, lag: Duration) {
    let slice = &event["object"];
    let name = slice["metadata"]["name"].as_str().unwrap_or_default().to_string();
    if event["type"] == "DELETED" {
        state.slices.remove(&name);
    } else {
        let endpoints = slice["endpoints"].as_array().cloned().unwrap_or_default();
        let endpoints = endpoints
            .iter()
            .filter_map(|endpoint| {
                let pod = endpoint["targetRef"]["name"].as_str()?.to_string();
                let address: std::net::IpAddr = endpoint["addresses"][0].as_str()?.parse().ok()?;
                // Kubernetes' rule: absent means ready.
                let ready = endpoint["conditions"]["ready"].as_bool().unwrap_or(true);
                Some((pod, SocketAddr::new(address, APP_PORT), ready))
            })
            .collect();
        state.slices.insert(name, endpoints);
    }
    let now = Instant::now();
    let ready: BTreeMap<String, SocketAddr> = state
        .slices
        .values()
        .flatten()
        .filter(|(_, _, ready)| *ready)
        .map(|(pod, address, _)| (pod.clone(), *address))
        .collect();
    for (pod, address) in &ready {
        if !state.registered.contains_key(pod) && !state.deregistered.contains_key(pod) {
            match lb.register(pod, *address) {
                Ok(()) => {
                    state.registered.insert(pod.clone(), *address);
                }
                Err(error) => {
                    state.error.get_or_insert(error);
                }
            }
        }
    }
    let going: Vec<String> = state
        .registered
        .keys()
        .filter(|pod| !ready.contains_key(*pod) && !state.due.contains_key(*pod))
        .cloned()
        .collect();
    for pod in going {
        state.going.insert(pod.clone(), (SystemTime::now(), now));
        state.due.insert(pod, now + lag);
    }
}
