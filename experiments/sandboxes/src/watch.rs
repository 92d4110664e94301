//! The pods of one namespace as the API shows them, through one long-lived
//! `kubectl get pods --watch`: every event, with when it arrived. A pod's
//! creation and its phase changes arrive through the same stream, so its
//! latency is in both ends of a start time and cancels out.

use std::{
    io::BufReader,
    process::{Child, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;
use sleep_testbed::{cluster::Cluster, kill_and_reap, poll};

/// One watch event.
#[derive(Debug, Clone)]
pub struct Event {
    /// When it was read, by the monotonic clock and by the wall clock.
    pub at: Instant,
    pub wall: SystemTime,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: String,
    pub name: String,
    /// The pod's `status.phase` (`Pending`, `Running`, `Failed`, ...).
    pub phase: String,
    /// Whether the pod has a `deletionTimestamp`: it is being deleted.
    pub deleting: bool,
    /// The pod as the event carried it.
    pub object: Value,
}

/// The running watch; stopped (its kubectl killed) on drop.
pub struct Watch {
    process: Child,
    events: Arc<Mutex<Vec<Event>>>,
    reader: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts watching the pods of `namespace`; returns once kubectl runs.
    /// Its PID goes to `on_spawn`, for a Ctrl-C handler to stop it.
    pub fn start(cluster: &Cluster, namespace: &str, on_spawn: impl FnOnce(u32)) -> Watch {
        let mut process = cluster
            .kubectl()
            .args(["get", "pods", "-n", namespace, "--watch", "--output-watch-events", "-o", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl");
        on_spawn(process.id());
        let stdout = process.stdout.take().unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let events = Arc::clone(&events);
            std::thread::spawn(move || {
                // One JSON object per event, one after the other.
                let stream =
                    serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>();
                for event in stream.map_while(Result::ok) {
                    let (at, wall) = (Instant::now(), SystemTime::now());
                    let object = event["object"].clone();
                    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
                    events.lock().unwrap().push(Event {
                        at,
                        wall,
                        kind: text(&event["type"]),
                        name: text(&object["metadata"]["name"]),
                        phase: text(&object["status"]["phase"]),
                        deleting: !object["metadata"]["deletionTimestamp"].is_null(),
                        object,
                    });
                }
            })
        };
        Watch { process, events, reader: Some(reader) }
    }

    /// The first event of pod `name` that `matches`, waiting up to `limit`.
    pub fn first(&self, name: &str, limit: Duration, matches: impl Fn(&Event) -> bool) -> Option<Event> {
        poll(limit, || self.events.lock().unwrap().iter().find(|e| e.name == name && matches(e)).cloned())
    }

    /// Every event of pod `name` so far.
    pub fn of(&self, name: &str) -> Vec<Event> {
        self.events.lock().unwrap().iter().filter(|e| e.name == name).cloned().collect()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        kill_and_reap(&mut self.process);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
