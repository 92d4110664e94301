//! `scripts/rollout`: rolling updates on a real one-node Kubernetes cluster
//! (`sleep_testbed::cluster`: the kubelet, the Deployment and EndpointSlice
//! controllers, containerd), behind a real load balancer, with no hook,
//! with the kubelet's native sleep, and with `/sleep`; then where the native
//! sleep and `/sleep` differ. An experiment that writes docs: a full run
//! writes docs/rollout.md and the README's two blocks; `--smoke` is the
//! test (scripts/test) and writes nothing.
//!
//! - The app (`testbed/web-app`, an HTTP server that exits at once on
//!   SIGTERM) runs as a Deployment behind a Service; its image is
//!   `examples/Dockerfile.app`'s, with our `/sleep`, and the Go program most
//!   users copy (`bench/go-sleep`) as `/go-sleep`.
//! - haproxy stands in for the ALB (`lb.rs`), its targets the pods' IPs on
//!   the cluster's bridge, fed by a watch of the EndpointSlices as the AWS
//!   Load Balancer Controller is (`targets.rs`), a target taken out the lag D
//!   after its endpoint stops being ready.
//! - A client (`client.rs`) sends requests at a fixed rate through it for
//!   the whole of each rollout and counts every failure by kind.
//!
//! `--help` lists the parameters.

mod client;
mod hooks;
mod lb;
mod report;
mod rollouts;
mod targets;

use std::{
    net::TcpListener,
    path::PathBuf,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use rollouts::{Hook, Scenario, ScenarioResult};
use sleep_testbed::{
    cluster::Cluster,
    containerd::socket_folder,
    images::{go_program, web_app},
    repo,
};

/// The parameters, all flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub smoke: bool,
    /// Requests a second through the load balancer.
    pub rate: f64,
    /// Rollouts per scenario.
    pub rollouts: u32,
    /// The Deployment's replicas.
    pub replicas: u32,
    /// D: from an endpoint going until the load balancer stops sending it requests.
    pub lag: f64,
    /// G: terminationGracePeriodSeconds, in the scenarios that do not set it short.
    pub grace: u32,
    /// The sleep shorter than D, and the one longer than D (whole seconds:
    /// the native sleep and the Go program take no fractions).
    pub short_sleep: f64,
    pub long_sleep: u32,
    /// G in the grace-period trap: shorter than D.
    pub trap_grace: u32,
    /// Write docs/rollout.md and the README's blocks (full runs only).
    pub write_docs: bool,
}

impl Settings {
    fn defaults(smoke: bool) -> Settings {
        Settings {
            smoke,
            rate: 50.0,
            rollouts: if smoke { 2 } else { 3 },
            replicas: 2,
            lag: 3.0,
            grace: 8,
            short_sleep: 1.0,
            long_sleep: 5,
            trap_grace: 2,
            write_docs: !smoke,
        }
    }

    fn check(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 500.0) {
            return Err("--rate must be more than 0 and at most 500 requests a second".into());
        }
        let positive = |value: f64| value.is_finite() && value > 0.0;
        if !positive(self.lag) || !positive(self.short_sleep) {
            return Err("--lag and --short-sleep must be positive numbers of seconds".into());
        }
        if self.rollouts == 0 || self.rollouts > 50 {
            return Err("--rollouts must be 1 to 50".into());
        }
        if self.replicas < 2 || self.replicas > 10 {
            return Err("--replicas must be 2 to 10".into());
        }
        // The scenarios are these orderings; other values would test something else.
        let (long, grace) = (f64::from(self.long_sleep), f64::from(self.grace));
        if !(self.short_sleep < self.lag && self.lag < long && long < grace) {
            return Err(format!(
                "need --short-sleep < --lag < --long-sleep < --grace, not {} < {} < {} < {}",
                self.short_sleep, self.lag, self.long_sleep, self.grace
            ));
        }
        if f64::from(self.trap_grace) >= self.lag || self.trap_grace < 1 {
            return Err(format!(
                "need 1 <= --trap-grace < --lag (the grace-period trap), not {}",
                self.trap_grace
            ));
        }
        Ok(())
    }
}

/// The uid the app image runs as: `examples/Dockerfile.app`'s `USER`.
const APP_USER: u32 = 65532;

const USAGE: &str = "\
usage: scripts/rollout [--smoke] [--rate N] [--rollouts N] [--replicas N] [--lag S]
                       [--grace S] [--short-sleep S] [--long-sleep S] [--trap-grace S] [--no-docs]

Rolling updates on a one-node Kubernetes cluster (the kubelet and controllers of
scripts/stack), behind haproxy standing in for an ALB, with no hook, the native
sleep and /sleep, counting the requests that fail; then where the native sleep
and /sleep differ. Times S in seconds (the long sleep and grace periods whole).

  --smoke          the test: two rollouts each with no hook, the native sleep and
                   /sleep; fails unless requests fail with no hook and none of at
                   least 100 fail with either sleep; writes no docs
  --rate N         requests a second through the load balancer (default 50)
  --rollouts N     rollouts per scenario (default 3; smoke 2)
  --replicas N     the Deployment's replicas (default 2)
  --lag S          D: an endpoint's going to its deregistration (default 3)
  --grace S        G: terminationGracePeriodSeconds (default 8)
  --short-sleep S  the /sleep shorter than D (default 1)
  --long-sleep S   the sleep longer than D (default 5)
  --trap-grace S   G in the grace-period trap, shorter than D (default 2)
  --no-docs        a full run that writes neither docs/rollout.md nor README.md
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
        let whole = |name: &str, value: f64| -> Result<u32, String> {
            if value.fract() == 0.0 && (0.0..=3600.0).contains(&value) {
                Ok(value as u32)
            } else {
                Err(format!("{name}: '{value}' is not a whole number of at most 3600"))
            }
        };
        match arg.as_str() {
            "--smoke" => {}
            "--no-docs" => settings.write_docs = false,
            "--rate" => settings.rate = value(arg)?,
            "--lag" => settings.lag = value(arg)?,
            "--short-sleep" => settings.short_sleep = value(arg)?,
            "--grace" => settings.grace = whole(arg, value(arg)?)?,
            "--long-sleep" => settings.long_sleep = whole(arg, value(arg)?)?,
            "--trap-grace" => settings.trap_grace = whole(arg, value(arg)?)?,
            "--rollouts" => settings.rollouts = whole(arg, value(arg)?)?,
            "--replicas" => settings.replicas = whole(arg, value(arg)?)?,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    settings.check()?;
    Ok(settings)
}

/// The scenarios; the smoke test runs the first three.
fn scenarios(settings: &Settings) -> Vec<Scenario> {
    let exec = |program: &str, seconds: String| Hook::Exec(vec![program.into(), seconds]);
    let long = settings.long_sleep;
    let all = vec![
        Scenario { key: "none", title: "no hook".into(), hook: Hook::None, grace: settings.grace },
        Scenario {
            key: "native",
            title: format!("native sleep {long} s, longer than D"),
            hook: Hook::Native(long),
            grace: settings.grace,
        },
        Scenario {
            key: "sleep",
            title: format!("/sleep {long}, longer than D (the fix)"),
            hook: exec("/sleep", long.to_string()),
            grace: settings.grace,
        },
        Scenario {
            key: "short",
            title: format!("/sleep {}, shorter than D", settings.short_sleep),
            hook: exec("/sleep", settings.short_sleep.to_string()),
            grace: settings.grace,
        },
        Scenario {
            key: "trap",
            title: format!("/sleep {long} with G = {} s, shorter than D (the trap)", settings.trap_grace),
            hook: exec("/sleep", long.to_string()),
            grace: settings.trap_grace,
        },
        Scenario {
            key: "go",
            title: format!("the Go program, {long}"),
            hook: exec("/go-sleep", long.to_string()),
            grace: settings.grace,
        },
        Scenario {
            key: "go-fraction",
            title: "the Go program, 1.5 (it sleeps 0)".into(),
            hook: exec("/go-sleep", "1.5".into()),
            grace: settings.grace,
        },
    ];
    all.into_iter().take(if settings.smoke { 3 } else { usize::MAX }).collect()
}

/// Set by SIGINT or SIGTERM: the run stops at its next step and tears
/// everything down as at its end.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub fn stop_if_interrupted() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::Relaxed) { Err("interrupted".into()) } else { Ok(()) }
}

/// A free loopback port (bound and released: the program that binds it next
/// is started right after).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().unwrap().port()
}

/// Everything a full run measured.
pub struct Results {
    pub scenarios: Vec<ScenarioResult>,
    pub comparison: Option<hooks::Comparison>,
    /// The kubelet's version, as the node reports it.
    pub kubelet: String,
    /// containerd's, as the node reports it.
    pub runtime: String,
}

fn run(settings: &Settings) -> Result<Results, String> {
    let dir = repo().join(format!("target/rollout/run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // haproxy binds through `lb.sock.<pid>.tmp`, the longest name (pids
    // have at most 7 digits).
    let (sockets, short) =
        socket_folder(&dir, "lb.sock.4194304.tmp", &format!("sleep-rollout-{}", std::process::id()))
            .map_err(|e| format!("a folder for the load balancer's socket: {e}"))?;
    let result = (|| {
        let cluster = Cluster::start("rollout");
        // The app's image: examples/Dockerfile.app with the web app, and the
        // Go program as /go-sleep.
        let image = cluster.with_containerd(|containerd| {
            let containerfile = containerd.app_containerfile() + "COPY go-sleep /go-sleep\n";
            let go_sleep: PathBuf = go_program("bench/go-sleep", "go-sleep");
            containerd.build_image(
                "localhost/rollout-app:test",
                &containerfile,
                &[(&web_app(), "app"), (&go_sleep, "go-sleep")],
            )
        });
        let lb = Arc::new(lb::LoadBalancer::start(&dir, &sockets.join("lb.sock"))?);
        let outcome = (|| {
            let mut scenarios_done = Vec::new();
            for scenario in scenarios(settings) {
                stop_if_interrupted()?;
                scenarios_done.push(rollouts::run_scenario(&cluster, &lb, &image, settings, &scenario)?);
            }
            let comparison = if settings.smoke { None } else { Some(hooks::compare(&cluster, &image, 3)?) };
            let (kubelet, runtime) = cluster.node_versions();
            Ok(Results { scenarios: scenarios_done, comparison, kubelet, runtime })
        })();
        drop(lb);
        // Torn down here, not by drop, even after an error: what it had to
        // force is then part of the answer.
        let teardown = cluster.tear_down();
        let teardown =
            if teardown.is_clean() { Ok(()) } else { Err(format!("the cluster's teardown: {teardown:?}")) };
        match (outcome, teardown) {
            (Ok(results), Ok(())) => Ok(results),
            (Ok(_), Err(teardown)) => Err(teardown),
            (Err(message), Ok(())) => Err(message),
            (Err(message), Err(teardown)) => Err(format!("{message}; then {teardown}")),
        }
    })();
    // Everything in it is stopped by now.
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(short) = short {
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
    // The components run in process groups of their own: a Ctrl-C reaches
    // only this program, which stops at its next step and tears them down.
    ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed)).expect("a Ctrl-C handler");
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
