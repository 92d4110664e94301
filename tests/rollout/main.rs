//! `scripts/rollout`: a rolling update replayed as the pieces of an EKS
//! cluster do it, on loopback, with and without the preStop `/sleep`.
//!
//! - Pods run through containerd's CRI plugin (`sleep_testbed::containerd`):
//!   host network, our image as the sandbox, each pod's app (`app/`, a Go
//!   HTTP server that exits at once on SIGTERM) on its own loopback port.
//! - haproxy stands in for the ALB (`lb.rs`): targets registered and
//!   deregistered through its runtime API, no retries.
//! - A client (`client.rs`) sends requests at a fixed rate through it for the
//!   whole of each rollout and counts every failure by kind.
//! - Each rollout, as the kubelet, the endpoints controller and the AWS Load
//!   Balancer Controller do it: start the new pod and register it once it
//!   answers; then delete the old pod, which starts two clocks at once: the
//!   deregistration takes effect on the load balancer after the lag D, and
//!   the kubelet runs the preStop hook (ExecSync, timeout 0) and then
//!   StopContainer with what is left of the grace period G (at least 2 s).
//!
//! A full run writes docs/rollout.md and the README's rollout block;
//! `--smoke` is the test (scripts/test), and writes nothing. `--help` lists
//! the parameters.

mod client;
mod lb;
mod pods;
mod report;

use std::{
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use client::{Client, Outcome, Tally};
use lb::LoadBalancer;
use pods::{Cluster, Pod};
use sleep_testbed::containerd::socket_folder;
use sleep_tests::{repo, secs};

/// The kubelet's floor for what StopContainer gets after the hook
/// (`minimumGracePeriodInSeconds`).
const MINIMUM_STOP_TIMEOUT: i64 = 2;
/// Load before the new pod starts, and after the old one is gone.
const LEAD_IN: Duration = Duration::from_millis(500);
const TAIL: Duration = Duration::from_millis(500);
/// Between registering the new pod and deleting the old one: both serve.
const OVERLAP: Duration = Duration::from_millis(500);
/// How long a new pod may take to answer.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// The client's bound in time, per rollout, on top of the rollout's own timings.
const CLIENT_SLACK: Duration = Duration::from_secs(60);

/// The parameters, all flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub smoke: bool,
    /// Requests a second through the load balancer.
    pub rate: f64,
    /// Rollouts per scenario.
    pub rollouts: u32,
    /// D: from the pod's deletion until the load balancer stops sending it requests.
    pub lag: f64,
    /// G: terminationGracePeriodSeconds, in the scenarios that do not set it short.
    pub grace: f64,
    /// The preStop sleep shorter than D, and the one longer than D.
    pub short_sleep: f64,
    pub long_sleep: f64,
    /// G in the grace-period trap: shorter than D.
    pub trap_grace: f64,
    /// Write docs/rollout.md and the README block (full runs only).
    pub write_docs: bool,
}

impl Settings {
    fn defaults(smoke: bool) -> Settings {
        Settings {
            smoke,
            rate: 50.0,
            rollouts: if smoke { 2 } else { 5 },
            lag: 3.0,
            grace: 8.0,
            short_sleep: 1.0,
            long_sleep: 5.0,
            trap_grace: 1.0,
            write_docs: !smoke,
        }
    }

    fn check(&self) -> Result<(), String> {
        let positive = [
            ("--rate", self.rate),
            ("--lag", self.lag),
            ("--grace", self.grace),
            ("--short-sleep", self.short_sleep),
            ("--long-sleep", self.long_sleep),
            ("--trap-grace", self.trap_grace),
        ];
        for (flag, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{flag} must be a positive number of seconds (or requests a second)"));
            }
        }
        if self.rate > 500.0 {
            return Err("--rate must be at most 500 requests a second".into());
        }
        if self.rollouts == 0 || self.rollouts > 50 {
            return Err("--rollouts must be 1 to 50".into());
        }
        // The scenarios are these orderings; other values would test something else.
        if !(self.short_sleep < self.lag && self.lag < self.long_sleep && self.long_sleep < self.grace) {
            return Err(format!(
                "need --short-sleep < --lag < --long-sleep < --grace, not {} < {} < {} < {}",
                self.short_sleep, self.lag, self.long_sleep, self.grace
            ));
        }
        if self.trap_grace >= self.lag {
            return Err(format!(
                "need --trap-grace < --lag (the grace-period trap), not {} < {}",
                self.trap_grace, self.lag
            ));
        }
        Ok(())
    }
}

const USAGE: &str = "\
usage: scripts/rollout [--smoke] [--rate N] [--rollouts N] [--lag S] [--grace S]
                       [--short-sleep S] [--long-sleep S] [--trap-grace S] [--no-docs]

Replays rolling updates behind haproxy (standing in for an ALB) with pods run by
containerd's CRI plugin, without and with a preStop /sleep, and counts the
requests that fail. Times S in seconds (fractions allowed).

  --smoke          the test: two rollouts of scenarios 1, 3 and 4; fails unless
                   requests fail without the hook, 0 of at least 100 fail with
                   /sleep longer than the lag, and the trap fails again with the
                   hook killed (137); writes no docs
  --rate N         requests a second through the load balancer (default 50)
  --rollouts N     rollouts per scenario (default 5; smoke 2)
  --lag S          D: deletion to deregistration on the load balancer (default 3)
  --grace S        G: terminationGracePeriodSeconds (default 8)
  --short-sleep S  the preStop sleep shorter than D (default 1)
  --long-sleep S   the preStop sleep longer than D (default 5)
  --trap-grace S   G in the grace-period trap, shorter than D (default 1)
  --no-docs        a full run that does not write docs/rollout.md and README.md
";

fn parse_args(args: &[String]) -> Result<Settings, String> {
    let smoke = args.iter().any(|arg| arg == "--smoke");
    let mut settings = Settings::defaults(smoke);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<f64, String> {
            let text = args.next().ok_or(format!("{name} needs a value"))?;
            text.parse::<f64>().map_err(|_| format!("{name}: '{text}' is not a number"))
        };
        match arg.as_str() {
            "--smoke" => {}
            "--no-docs" => settings.write_docs = false,
            "--rate" => settings.rate = value(arg)?,
            "--lag" => settings.lag = value(arg)?,
            "--grace" => settings.grace = value(arg)?,
            "--short-sleep" => settings.short_sleep = value(arg)?,
            "--long-sleep" => settings.long_sleep = value(arg)?,
            "--trap-grace" => settings.trap_grace = value(arg)?,
            "--rollouts" => {
                let rollouts = value(arg)?;
                if rollouts.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&rollouts) {
                    return Err(format!("--rollouts: '{rollouts}' is not a whole number"));
                }
                settings.rollouts = rollouts as u32;
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    settings.check()?;
    Ok(settings)
}

/// One scenario: the hook (a sleep of so many seconds, or none) and G.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub number: u32,
    pub title: &'static str,
    pub sleep: Option<f64>,
    pub grace: f64,
}

fn scenarios(settings: &Settings) -> Vec<Scenario> {
    let all = vec![
        Scenario { number: 1, title: "no hook", sleep: None, grace: settings.grace },
        Scenario {
            number: 2,
            title: "/sleep shorter than D",
            sleep: Some(settings.short_sleep),
            grace: settings.grace,
        },
        Scenario {
            number: 3,
            title: "/sleep longer than D, G longer than the sleep (the fix)",
            sleep: Some(settings.long_sleep),
            grace: settings.grace,
        },
        Scenario {
            number: 4,
            title: "/sleep longer than D, G shorter than D (the grace-period trap)",
            sleep: Some(settings.long_sleep),
            grace: settings.trap_grace,
        },
    ];
    all.into_iter().filter(|scenario| !settings.smoke || scenario.number != 2).collect()
}

/// What one rollout did.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub tally: Tally,
    /// From the new pod's start until the old pod's removal.
    pub duration: Duration,
    /// When, after the old pod's deletion, the deregistration took effect and
    /// StopContainer returned (the app had exited).
    pub deregistered_after: Duration,
    pub stopped_after: Duration,
    /// The hook's exit code, and when it ended after the deletion.
    pub hook: Option<(i32, Duration)>,
    /// The old app container's exit code.
    pub app_exit: i32,
    /// The first and last failed request's due time, after the deletion (seconds, may be negative).
    pub failing: Option<(f64, f64)>,
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

/// Set by SIGINT or SIGTERM: the run stops at the next step and tears
/// everything down as at its end.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Catches SIGINT and SIGTERM (handlers are reset in what this program
/// starts, at exec).
fn catch_interrupts() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(signal, on_interrupt as *const () as libc::sighandler_t) };
    }
}

fn stop_if_interrupted() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::Relaxed) { Err("interrupted".into()) } else { Ok(()) }
}

/// A free loopback port (bound and released: the program that binds it next
/// is started right after).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().unwrap().port()
}

/// Everything one run needs, torn down in reverse order on drop.
struct Setup {
    lb: LoadBalancer,
    cluster: Cluster,
    next_pod: u32,
}

impl Setup {
    /// Starts a pod and waits until its app answers, then registers it.
    fn start_registered_pod(&mut self) -> Result<Pod, String> {
        self.next_pod += 1;
        let name = format!("app-{}", self.next_pod);
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let pod = self.cluster.run_pod(&name, address);
        let start = Instant::now();
        while !answers(address) {
            stop_if_interrupted()?;
            if start.elapsed() > READY_LIMIT {
                return Err(format!("pod {name}'s app did not answer on {address} within {READY_LIMIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.lb.register(&pod.name, address)?;
        Ok(pod)
    }

    fn run_scenario(&mut self, settings: &Settings, scenario: &Scenario) -> Result<ScenarioResult, String> {
        let mut old = self.start_registered_pod()?;
        let mut rollouts = Vec::new();
        for index in 0..settings.rollouts {
            stop_if_interrupted()?;
            let (rollout, new) = self.roll(settings, scenario, old)?;
            println!(
                "scenario {} ({}), rollout {}/{}: {}",
                scenario.number,
                scenario.title,
                index + 1,
                settings.rollouts,
                report::one_line(&rollout)
            );
            rollouts.push(rollout);
            old = new;
        }
        // The last pod, out of the way of the next scenario.
        self.lb.deregister(&old.name)?;
        self.lb.delete(&old.name);
        self.cluster.stop_container(&old, MINIMUM_STOP_TIMEOUT)?;
        self.cluster.remove_pod(old);
        Ok(ScenarioResult { scenario: scenario.clone(), rollouts })
    }

    /// One rollout: `old` is replaced by a new pod, which is returned.
    fn roll(&mut self, settings: &Settings, scenario: &Scenario, old: Pod) -> Result<(Rollout, Pod), String> {
        let bound =
            LEAD_IN + OVERLAP + READY_LIMIT + secs(settings.lag.max(scenario.grace)) + TAIL + CLIENT_SLACK;
        let max_requests = (bound.as_secs_f64() * settings.rate).ceil() as u64;
        let client = Client::start(self.lb.address, settings.rate, max_requests, bound);
        std::thread::sleep(LEAD_IN);

        let started = Instant::now();
        let new = self.start_registered_pod()?;
        std::thread::sleep(OVERLAP);

        // The old pod is deleted: two clocks start now.
        let deleted = Instant::now();
        let deleted_at = deleted - client.started;
        let lb = &self.lb;
        let cluster = &self.cluster;
        let (deregistered_after, stop) = std::thread::scope(|scope| {
            // The endpoints controller, the AWS Load Balancer Controller and the ALB.
            let deregistration = scope.spawn(|| {
                std::thread::sleep(secs(settings.lag));
                lb.deregister(&old.name).map(|()| deleted.elapsed())
            });
            // The kubelet.
            let stop = kubelet_stop(cluster, &old, scenario, deleted);
            let deregistered = deregistration.join().expect("the deregistration thread panicked");
            (deregistered, stop)
        });
        let deregistered_after = deregistered_after?;
        let (hook, stopped_after) = stop?;
        let app_exit = self.cluster.exit_code(&old)?;
        std::thread::sleep(TAIL);
        let tally = client.stop();
        self.lb.delete(&old.name);
        self.cluster.remove_pod(old);
        let duration = started.elapsed();

        let since_deletion = |due: &Duration| due.as_secs_f64() - deleted_at.as_secs_f64();
        let failing = match (tally.failure_times.first(), tally.failure_times.last()) {
            (Some(first), Some(last)) => Some((since_deletion(first), since_deletion(last))),
            _ => None,
        };
        Ok((Rollout { tally, duration, deregistered_after, stopped_after, hook, app_exit, failing }, new))
    }
}

/// The kubelet's part of a pod's deletion: the preStop hook, if any, by
/// ExecSync with timeout 0, waited for up to the grace period; then
/// StopContainer with what is left of it, at least 2 s. Returns the hook's
/// exit code and end, and when StopContainer returned, from the deletion.
#[allow(clippy::type_complexity)]
fn kubelet_stop(
    cluster: &Cluster,
    pod: &Pod,
    scenario: &Scenario,
    deleted: Instant,
) -> Result<(Option<(i32, Duration)>, Duration), String> {
    let grace = secs(scenario.grace);
    std::thread::scope(|scope| {
        let (done, hook_ended) = mpsc::channel();
        let hook = scenario.sleep.map(|seconds| {
            scope.spawn(move || {
                let seconds = format!("{seconds}");
                let code = cluster.exec_sync(pod, &["/sleep", &seconds], 0);
                let _ = done.send(());
                code.map(|code| (code, deleted.elapsed()))
            })
        });
        if hook.is_some() {
            // Until the hook ends or the grace period does, whichever is first.
            let _ = hook_ended.recv_timeout(grace.saturating_sub(deleted.elapsed()));
        }
        let left = grace.saturating_sub(deleted.elapsed()).as_secs_f64().ceil() as i64;
        cluster.stop_container(pod, left.max(MINIMUM_STOP_TIMEOUT))?;
        let stopped_after = deleted.elapsed();
        let hook = match hook {
            Some(hook) => Some(hook.join().expect("the hook thread panicked")?),
            None => None,
        };
        Ok((hook, stopped_after))
    })
}

/// Whether a GET to `address` answers 200 (the readiness probe).
fn answers(address: SocketAddr) -> bool {
    client::request(address) == Outcome::Ok
}

/// The folder for this run's state, under target/ (never TMPDIR), and the
/// load balancer's socket path (short enough for a unix socket).
fn state_dir() -> Result<(PathBuf, PathBuf), String> {
    let dir = repo().join(format!("target/rollout/run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // haproxy binds through `lb.sock.<pid>.tmp`, the longest name (pids have
    // at most 7 digits).
    let (sockets, _) =
        socket_folder(&dir, "lb.sock.4194304.tmp", &format!("sleep-rollout-{}", std::process::id()))
            .map_err(|e| format!("a folder for the load balancer's socket: {e}"))?;
    Ok((dir, sockets.join("lb.sock")))
}

fn run(settings: &Settings) -> Result<Vec<ScenarioResult>, String> {
    let (dir, socket) = state_dir()?;
    let result = (|| {
        let app = sleep_testbed::images::web_app();
        let cluster = Cluster::start(&app);
        let lb = match LoadBalancer::start(&dir, &socket) {
            Ok(lb) => lb,
            Err(message) => {
                return Err(cluster.tear_down().err().map_or(message.clone(), |t| format!("{message}; {t}")));
            }
        };
        let mut setup = Setup { lb, cluster, next_pod: 0 };
        let outcome = (|| {
            let mut results = Vec::new();
            for scenario in scenarios(settings) {
                stop_if_interrupted()?;
                results.push(setup.run_scenario(settings, &scenario)?);
            }
            Ok(results)
        })();
        // Torn down here, not by drop, even after an error: what it had to
        // force is then part of the answer.
        let Setup { lb, cluster, .. } = setup;
        drop(lb);
        let teardown = cluster.tear_down();
        match (outcome, teardown) {
            (Ok(results), Ok(())) => Ok(results),
            (Ok(_), Err(teardown)) => Err(teardown),
            (Err(message), Ok(())) => Err(message),
            (Err(message), Err(teardown)) => Err(format!("{message}; then {teardown}")),
        }
    })();
    // Everything in it is stopped by now.
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(short) = socket.parent().filter(|parent| !parent.starts_with(&dir)) {
        let _ = std::fs::remove_dir_all(short);
    }
    result
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let settings = match parse_args(&args) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("rollout: {message} (scripts/rollout --help lists the flags)");
            return ExitCode::from(2);
        }
    };
    catch_interrupts();
    let started = Instant::now();
    let results = match run(&settings) {
        Ok(results) => results,
        Err(message) if INTERRUPTED.load(Ordering::Relaxed) => {
            let detail =
                if message == "interrupted" { String::new() } else { format!(" (on the way: {message})") };
            eprintln!("rollout: interrupted; everything it started is stopped{detail}");
            return ExitCode::FAILURE;
        }
        Err(message) => {
            eprintln!("rollout: {message}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = started.elapsed();
    let mut ok = true;
    if settings.smoke {
        for problem in report::smoke_problems(&results) {
            eprintln!("rollout: smoke: {problem}");
            ok = false;
        }
    }
    if settings.write_docs
        && let Err(message) = report::write_docs(&settings, &results, elapsed)
    {
        eprintln!("rollout: {message}");
        ok = false;
    }
    println!("{}", report::last_line(&results));
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
