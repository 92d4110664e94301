//! The figures, from the samples and containerd's log, and the section of
//! docs/benchmarks.md they make (between its markers).

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, SystemTime},
};

use crate::{
    peers::{Peer, Run},
    pods::{Attempt, Sample},
};

/// The section's markers in docs/benchmarks.md (scripts/bench keeps what is
/// between them when it rewrites the rest; tests/python/test_docs.py reads
/// them from here).
pub const START: &str =
    "<!-- sandboxes:start (written by experiments/sandboxes: cargo run --release -p sandboxes) -->";
pub const END: &str = "<!-- sandboxes:end -->";

/// Kubernetes' `pause` 3.10 image unpacked, as published: about 740 KB.
const PAUSE_BYTES: f64 = 740e3;

/// A sample's median, quartiles and range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub n: usize,
    pub median: f64,
    pub q1: f64,
    pub q3: f64,
    pub min: f64,
    pub max: f64,
}

/// The `q` quantile of sorted `values`, interpolated linearly between the
/// two nearest ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// The spread of `values`; `None` for none.
pub fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Spread {
        n: sorted.len(),
        median: quantile(&sorted, 0.5),
        q1: quantile(&sorted, 0.25),
        q3: quantile(&sorted, 0.75),
        min: sorted[0],
        max: sorted[sorted.len() - 1],
    })
}

/// How long containerd took to answer the CRI calls around sandboxes, from
/// its log: `RunPodSandbox` by pod uid, `StopPodSandbox` by sandbox id (its
/// first call for each).
#[derive(Debug, Default)]
pub struct CriCalls {
    pub run: BTreeMap<String, Duration>,
    pub stop: BTreeMap<String, Duration>,
}

/// The text between `before` and the next `\"` (an escaped quote in a
/// logfmt `msg`).
fn quoted_after<'a>(line: &'a str, before: &str) -> Option<&'a str> {
    let start = line.find(before)? + before.len();
    let length = line[start..].find("\\\"")?;
    Some(&line[start..start + length])
}

/// The `time="..."` of a containerd log line.
fn log_time(line: &str) -> Option<SystemTime> {
    let start = line.find("time=\"")? + "time=\"".len();
    let length = line[start..].find('"')?;
    humantime::parse_rfc3339(&line[start..start + length]).ok()
}

/// Reads [`CriCalls`] from containerd's log.
pub fn cri_calls(log: &str) -> CriCalls {
    let mut begun = (BTreeMap::new(), BTreeMap::new());
    let mut calls = CriCalls::default();
    for line in log.lines() {
        let Some(time) = log_time(line) else { continue };
        if line.contains("msg=\"RunPodSandbox for ")
            && let Some(uid) = quoted_after(line, "uid:\\\"")
        {
            if line.contains(" returns sandbox id ") {
                if let Some(&begin) = begun.0.get(uid) {
                    let took = time.duration_since(begin).unwrap_or_default();
                    calls.run.entry(uid.to_string()).or_insert(took);
                }
            } else {
                begun.0.entry(uid.to_string()).or_insert(time);
            }
        } else if line.contains("msg=\"StopPodSandbox for ")
            && let Some(id) = quoted_after(line, "StopPodSandbox for \\\"")
        {
            if line.contains(" returns successfully") {
                if let Some(&begin) = begun.1.get(id) {
                    let took = time.duration_since(begin).unwrap_or_default();
                    calls.stop.entry(id.to_string()).or_insert(took);
                }
            } else {
                begun.1.entry(id.to_string()).or_insert(time);
            }
        }
    }
    calls
}

/// What the run was, for the section's first lines.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub date: String,
    /// `commit `…` (clean tree)`.
    pub commit: String,
    pub machine: String,
    pub load_at_start: String,
    pub load_at_end: String,
    pub kubelet: String,
    pub containerd: String,
    pub runc: String,
    pub rounds: usize,
    pub pods_per_round: usize,
}

/// Everything measured.
pub struct Results<'a> {
    pub facts: RunFacts,
    /// Ours first, then the peers that serve.
    pub peers: &'a [Peer],
    pub tini: &'a Peer,
    pub samples: &'a [Sample],
    pub calls: &'a CriCalls,
    pub tini_alone: &'a [Run],
    pub tini_attempt: &'a Attempt,
}

/// Milliseconds: one decimal below 10 ms, none above.
fn ms(seconds: f64) -> String {
    let ms = seconds * 1e3;
    if ms < 0.0 { format!("−{}", ms_positive(-ms)) } else { ms_positive(ms) }
}

fn ms_positive(ms: f64) -> String {
    if ms < 10.0 { format!("{ms:.1}") } else { thousands(ms.round() as u64) }
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `median (IQR q1–q3; min–max)` in ms.
fn ms_spread(values: &[f64]) -> String {
    match spread(values) {
        Some(s) => format!("{} ({}–{}; {}–{})", ms(s.median), ms(s.q1), ms(s.q3), ms(s.min), ms(s.max)),
        None => "—".into(),
    }
}

/// `median (min–max)` in kB.
fn kb_spread(values: &[f64]) -> String {
    match spread(values) {
        Some(s) if s.min == s.max => thousands(s.median as u64),
        Some(s) => format!(
            "{} ({}–{})",
            thousands(s.median as u64),
            thousands(s.min as u64),
            thousands(s.max as u64)
        ),
        None => "—".into(),
    }
}

fn ratio(value: f64, ours: f64) -> String {
    let r = value / ours;
    if r >= 100.0 { format!("{}×", thousands(r.round() as u64)) } else { format!("{r:.2}×") }
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut text = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
    for row in rows {
        text += &format!("| {} |\n", row.join(" | "));
    }
    text
}

impl Results<'_> {
    /// The counted samples of `peer`.
    fn of(&self, peer: &Peer) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.peer == peer.key && !s.warm_up).collect()
    }

    fn values(&self, peer: &Peer, value: impl Fn(&Sample) -> f64) -> Vec<f64> {
        self.of(peer).into_iter().map(value).collect()
    }

    /// The section, markers included.
    pub fn section(&self) -> String {
        let facts = &self.facts;
        let ours = &self.peers[0];
        let counted = self.of(ours).len();
        let mut text = format!("{START}\n## Pod sandboxes: ours against other pause processes\n\n");
        text += &format!(
            "Pods in one real cluster (`sleep_testbed::cluster`: etcd, kube-apiserver, the controller manager, \
             the scheduler and the kubelet {kubelet}, on containerd {containerd} and runc {runc}, built from their \
             releases by `scripts/stack`), each with one app container, our `/sleep infinity` under the \
             restricted security context, and one of these as its sandbox: containerd's pinned `sandbox` image, \
             switched between batches by rewriting that one setting and restarting containerd (SIGTERM, then \
             started again, as a node's operator would). Each peer's image is built here FROM scratch with \
             buildah, its program the only file, run as uid {user} as ours is, its entrypoint the peer's pause \
             mode. {rounds} rounds; in each, every sandbox gets a batch of {per_round} pods, the batches' order \
             rotated between rounds: containerd restarted with that sandbox, one warm-up pod (checked, not \
             counted), then the pods one at a time, each created, Running, measured, deleted and gone before \
             the next. {counted} pods per sandbox in all.\n\n",
            kubelet = facts.kubelet,
            containerd = facts.containerd,
            runc = facts.runc,
            user = crate::peers::USER,
            rounds = facts.rounds,
            per_round = facts.pods_per_round,
        );
        text += "- every sandbox process, of every pod, warm-ups included, was checked from /proc: its command \
                 line, PID 1 of its PID namespace (`NSpid`), uid, no child, and `/proc/PID/exe` byte for byte \
                 the peer's program;\n";
        text += "- memory: `VmRSS`, `RssAnon` and `RssFile` of `/proc/PID/status` once the pod is Running, in kB, \
                 median (min–max) over the pods. `RssFile` is pages of the program's file, in the page cache, \
                 which every process mapping that file shares; `RssAnon` is the process's own;\n";
        text += "- pod start: from the pod's `ADDED` event to its first event in phase `Running`, both read from \
                 one `kubectl get pods --watch` (so its delay is in both ends). `RunPodSandbox` (from \
                 containerd's log) is the part where the sandbox is made: the network namespace, CNI, runc \
                 starting the sandbox's program; the rest is the scheduler's and the kubelet's work (its sync \
                 loop, the pod's volume) and the app container's creation and start;\n";
        text += "- stop: `kubectl delete pod` (grace period 30 s): the app exits on SIGTERM at once, then the \
                 kubelet stops the sandbox with `StopPodSandbox`. The sandbox's exit status and exit time come \
                 from containerd's task-exit events (`ctr events`); deletion is the watch's first event with a \
                 deletion timestamp; gone is its `DELETED` event;\n";
        text += "- times in ms: median (interquartile range; min–max).\n\n";
        text += "### Run\n\n";
        text += &format!("- date: {}\n", facts.date);
        text += &format!(
            "- measured: {}; these figures change only when someone runs the experiment\n",
            facts.commit
        );
        text += &format!("- machine: {}\n", facts.machine);
        text += &format!(
            "- load average (1, 5, 15 min) at start: {}; at end: {}\n",
            facts.load_at_start, facts.load_at_end
        );
        for peer in self.peers.iter().chain([self.tini]) {
            text += &format!("- {}: {}\n", peer.name, peer.source);
        }
        text += "- command: `cargo run --release -p sandboxes` (root)\n\n";

        text += "### The sandbox process\n\n";
        let ours_bytes = ours.bytes.len() as f64;
        let mut rows = Vec::new();
        for peer in self.peers {
            let memory = |value: fn(&Sample) -> u64| kb_spread(&self.values(peer, |s| value(s) as f64));
            rows.push(vec![
                peer.name.to_string(),
                format!("`{}`", peer.command.join(" ")),
                thousands(peer.bytes.len() as u64),
                ratio(peer.bytes.len() as f64, ours_bytes),
                memory(|s| s.memory.vm_rss),
                memory(|s| s.memory.rss_anon),
                memory(|s| s.memory.rss_file),
            ]);
        }
        let tini = self.tini;
        rows.push(vec![
            format!("{} (cannot serve, [below](#tini-cannot-be-a-sandbox-alone))", tini.name),
            format!("`{}`", tini.command.join(" ")),
            thousands(tini.bytes.len() as u64),
            ratio(tini.bytes.len() as f64, ours_bytes),
            "—".into(),
            "—".into(),
            "—".into(),
        ]);
        rows.push(vec![
            "Kubernetes' `pause` 3.10 (`registry.k8s.io/pause:3.10`)".into(),
            "`/pause`".into(),
            "about 740 KB unpacked, as published; not measured: nothing can be pulled here".into(),
            format!("about {}×", thousands((PAUSE_BYTES / ours_bytes / 10.0).round() as u64 * 10)),
            "—".into(),
            "—".into(),
            "—".into(),
        ]);
        text += &table(
            &["sandbox", "process", "program, bytes", "× ours", "VmRSS, kB", "RssAnon, kB", "RssFile, kB"],
            &rows,
        );
        text += "\nThe program is the image's only file, so it is the image's size unpacked. Kubernetes' `pause` \
                 is a static C program (`build/pause/linux/pause.c` in kubernetes/kubernetes): it exits 0 on \
                 SIGINT or SIGTERM and reaps children on SIGCHLD.\n\n";

        text += "### Pods: start and stop\n\n";
        let mut rows = Vec::new();
        for peer in self.peers {
            let run: Vec<f64> = self
                .of(peer)
                .iter()
                .filter_map(|s| self.calls.run.get(&s.uid))
                .map(Duration::as_secs_f64)
                .collect();
            let per_round: Vec<String> = (0..facts.rounds)
                .filter_map(|round| {
                    let values: Vec<f64> = self
                        .of(peer)
                        .iter()
                        .filter(|s| s.round == round)
                        .map(|s| s.start.as_secs_f64())
                        .collect();
                    spread(&values).map(|s| ms(s.median))
                })
                .collect();
            rows.push(vec![
                peer.name.to_string(),
                self.of(peer).len().to_string(),
                ms_spread(&self.values(peer, |s| s.start.as_secs_f64())),
                per_round.join(", "),
                ms_spread(&run),
            ]);
        }
        text += &table(
            &["sandbox", "pods", "created → Running", "its median per round", "`RunPodSandbox`"],
            &rows,
        );
        text += "\n";
        let mut rows = Vec::new();
        for peer in self.peers {
            let mut statuses = BTreeMap::<u32, usize>::new();
            for sample in self.of(peer) {
                *statuses.entry(sample.exit_status).or_default() += 1;
            }
            let statuses: Vec<String> = statuses
                .iter()
                .map(|(status, count)| {
                    let how = match status {
                        137 => " (SIGKILL)",
                        143 => " (SIGTERM)",
                        _ => "",
                    };
                    format!("{status}{how} in {count}")
                })
                .collect();
            let stop: Vec<f64> = self
                .of(peer)
                .iter()
                .filter_map(|s| self.calls.stop.get(&s.sandbox))
                .map(Duration::as_secs_f64)
                .collect();
            rows.push(vec![
                peer.name.to_string(),
                statuses.join(", "),
                ms_spread(&self.values(peer, |s| s.deletion_to_app_exit)),
                ms_spread(&self.values(peer, |s| s.app_to_exit)),
                ms_spread(&stop),
                ms_spread(&self.values(peer, |s| s.deletion_to_gone.as_secs_f64())),
            ]);
        }
        text += &table(
            &[
                "sandbox",
                "sandbox's exit status",
                "deletion → app's exit",
                "app's exit → sandbox's",
                "`StopPodSandbox`",
                "deletion → pod gone",
            ],
            &rows,
        );
        text += "\n";
        text += &self.stop_finding();
        text += &self.start_finding();
        text += "\n\n";

        text += &self.tini_section();
        text += END;
        text
    }

    /// What the exit statuses say about how containerd stops a sandbox.
    fn stop_finding(&self) -> String {
        let counted: Vec<&Sample> = self.peers.iter().flat_map(|peer| self.of(peer)).collect();
        let killed = counted.iter().filter(|s| s.exit_status == 137).count();
        if killed == counted.len() {
            format!(
                "Every sandbox ({killed} of {killed}) ended with status 137, killed by SIGKILL: \
                 `StopPodSandbox` kills the sandbox's task with SIGKILL, whatever it runs, with no SIGTERM first \
                 (ours, as PID 1, exits 143 on a SIGTERM). No program can catch SIGKILL, so a pause process's \
                 own signal handling never runs when a pod is deleted. "
            )
        } else {
            format!(
                "{killed} of {} sandboxes ended with status 137 (SIGKILL); the others as in the table. ",
                counted.len()
            )
        }
    }

    /// How the difference between sandboxes compares with the rounds' spread.
    fn start_finding(&self) -> String {
        let medians: Vec<(String, f64, f64, f64)> = self
            .peers
            .iter()
            .filter_map(|peer| {
                let all = spread(&self.values(peer, |s| s.start.as_secs_f64()))?;
                let rounds: Vec<f64> = (0..self.facts.rounds)
                    .filter_map(|round| {
                        let values: Vec<f64> = self
                            .of(peer)
                            .iter()
                            .filter(|s| s.round == round)
                            .map(|s| s.start.as_secs_f64())
                            .collect();
                        spread(&values).map(|s| s.median)
                    })
                    .collect();
                let rounds = spread(&rounds)?;
                Some((peer.name.to_string(), all.median, rounds.min, rounds.max))
            })
            .collect();
        let Some((_, ours, ..)) = medians.first() else { return String::new() };
        let mut parts = Vec::new();
        for (name, median, low, high) in &medians {
            parts.push(format!(
                "{name} {} ms overall, its rounds' medians {}–{} ms",
                ms(*median),
                ms(*low),
                ms(*high)
            ));
        }
        let others: Vec<String> = medians[1..]
            .iter()
            .map(|(name, median, ..)| {
                let sign = if median >= ours { "+" } else { "" };
                format!("{name} {sign}{} ms", ms(median - ours))
            })
            .collect();
        // Is each difference of medians smaller than the spread of every sandbox's round medians?
        let within = medians[1..].iter().all(|(_, median, ..)| {
            medians.iter().all(|(_, _, low, high)| (median - ours).abs() < high - low)
        });
        let verdict = if within {
            " Each difference is smaller than the spread of every sandbox's round medians: no \
             difference between the sandboxes shows beyond this machine's noise."
        } else {
            ""
        };
        format!(
            "Pod start, created → Running: {}. Against ours: {}.{verdict}",
            parts.join("; "),
            others.join(", ")
        )
    }

    fn tini_section(&self) -> String {
        let attempt = self.tini_attempt;
        let mut text = "### tini cannot be a sandbox alone\n\n".to_string();
        text += "A sandbox image is one static program that stays up as PID 1 with no child. tini is an init \
                 that runs a program and exits with it; it has no mode without one. A FROM-scratch image \
                 holding tini alone can give it no program, or itself. Run both ways on this machine:\n\n";
        for run in self.tini_alone {
            let exit = match run.exit {
                Some(code) => format!("exits {code} after {} ms", ms(run.took.as_secs_f64())),
                None => "was still running after 10 s".into(),
            };
            text += &format!("- `{}`: {exit}, printing `{}`\n", run.command, run.said);
        }
        let mut statuses = BTreeMap::<(Option<u32>, bool), usize>::new();
        for (_, status, on_its_own) in &attempt.sandboxes {
            *statuses.entry((*status, *on_its_own)).or_default() += 1;
        }
        let statuses: Vec<String> = statuses
            .iter()
            .map(|((status, on_its_own), count)| {
                let status =
                    status.map_or("no exit seen".into(), |status| format!("exited with status {status}"));
                let how = match (on_its_own, count) {
                    (true, 1) => "on its own",
                    (true, _) => "each on its own",
                    (false, _) => "when the pod was stopped",
                };
                format!("{count} {status}, {how}")
            })
            .collect();
        let phases: Vec<&str> = attempt.phases.iter().map(String::as_str).collect();
        let app_states: Vec<&str> = attempt.app_states.iter().map(String::as_str).collect();
        let ran = if attempt.app_states.contains("running") { "" } else { " (never `running`)" };
        // Every pod here gets it: the cluster runs no DNS.
        let reasons: Vec<String> = attempt
            .reasons
            .iter()
            .filter(|(reason, _)| *reason != "MissingClusterDNS")
            .map(|(reason, (count, _))| format!("{reason} ×{count}"))
            .collect();
        let failed = attempt
            .reasons
            .get("Failed")
            .map(|(_, message)| format!(" The first `Failed` event says: \"{message}\"."))
            .unwrap_or_default();
        text += &format!(
            "\nIn the cluster, with its image (`ENTRYPOINT [\"/tini\"]`) as the sandbox, one pod watched for \
             {window} s: containerd made {made} sandboxes for it, one after the other (the kubelet makes a new \
             one each time it finds the last one dead): {statuses}. The app container's states: \
             {app_states}{ran}; the pod's phases: {phases} (the kubelet reports `Running` for a pod whose \
             container has ended and will be restarted). Its events: {reasons}, besides `MissingClusterDNS`, which every pod here gets (the \
             cluster runs no DNS).{failed}\n\n",
            window = attempt.window.as_secs(),
            made = attempt.sandboxes.len(),
            statuses = statuses.join("; "),
            app_states = app_states.join(", "),
            phases = phases.join(", "),
            reasons = reasons.join(", "),
        );
        text += "tini can only be part of a sandbox image with a second program for it to run (an image of two \
                 programs and two processes), which is no longer a peer of a single pause process.\n";
        text
    }

    /// One line for the terminal: what every sandbox was.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for peer in self.peers {
            let all: Vec<&Sample> = self.samples.iter().filter(|s| s.peer == peer.key).collect();
            let good = all.iter().filter(|s| s.problem.is_none()).count();
            parts.push(format!(
                "{} (`{}`) PID 1 of its pod in {good} of {} pods",
                peer.name,
                peer.command.join(" "),
                all.len()
            ));
        }
        let attempt = self.tini_attempt;
        let exited = attempt.sandboxes.iter().filter(|(_, _, on_its_own)| *on_its_own).count();
        parts.push(format!("tini: {} sandboxes, {exited} exited on their own", attempt.sandboxes.len()));
        format!("sandboxes: kubelet {}: {}", self.facts.kubelet, parts.join("; "))
    }
}

/// `document` with `section` between the markers (in place of what was
/// there), or at its end when it has none yet.
pub fn with_section(document: &str, section: &str) -> String {
    match (document.find(START), document.find(END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{section}{}", &document[..start], &document[end + END.len()..])
        }
        _ => format!("{}\n\n{section}\n", document.trim_end()),
    }
}

/// Writes `section` into docs/benchmarks.md.
pub fn write_section(path: &Path, section: &str) {
    let document =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    std::fs::write(path, with_section(&document, section))
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_between_ranks() {
        let s = spread(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.n, s.min, s.max), (4, 1.0, 4.0));
        assert_eq!((s.q1, s.median, s.q3), (1.75, 2.5, 3.25));
        assert_eq!(spread(&[7.0]).unwrap().median, 7.0);
        assert_eq!(spread(&[]), None);
    }

    #[test]
    fn cri_calls_pair_each_calls_first_lines() {
        let log = r#"time="2026-12-07T22:40:37.712021214Z" level=info msg="RunPodSandbox for name:\"p1\" uid:\"u-1\" namespace:\"default\""
time="2026-12-07T22:40:37.824837475Z" level=info msg="RunPodSandbox for name:\"p1\" uid:\"u-1\" namespace:\"default\" returns sandbox id \"abc\""
time="2026-12-07T22:40:38.466019677Z" level=info msg="StopPodSandbox for \"abc\""
time="2026-12-07T22:40:38.537294267Z" level=info msg="StopPodSandbox for \"abc\" returns successfully"
time="2026-12-07T22:40:39.000000000Z" level=info msg="StopPodSandbox for \"abc\""
time="2026-12-07T22:40:39.500000000Z" level=info msg="StopPodSandbox for \"abc\" returns successfully"
"#;
        let calls = cri_calls(log);
        assert_eq!(calls.run["u-1"], Duration::from_nanos(112_816_261));
        assert_eq!(calls.stop["abc"], Duration::from_nanos(71_274_590));
    }

    #[test]
    fn the_section_replaces_what_is_between_the_markers_or_goes_last() {
        let old = format!("# B\n\nbefore\n\n{START}\nold\n{END}\n\nafter\n");
        let new = format!("{START}\nnew\n{END}");
        assert_eq!(with_section(&old, &new), format!("# B\n\nbefore\n\n{new}\n\nafter\n"));
        assert_eq!(with_section("# B\n\ntext\n", &new), format!("# B\n\ntext\n\n{new}\n"));
    }

    #[test]
    fn numbers_are_written_as_in_the_rest_of_the_document() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(ms(0.0042), "4.2");
        assert_eq!(ms(1.2345), "1,235");
        assert_eq!(ms(-0.0123), "−12");
    }
}
