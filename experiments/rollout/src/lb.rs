//! The load balancer: Debian's haproxy, set up as an ALB target group is.
//!
//! - One frontend on a free loopback port, one backend that starts empty.
//!   Targets are added, enabled, put in maintenance (deregistered) and
//!   deleted through the runtime API on the stats socket, as the AWS Load
//!   Balancer Controller registers and deregisters pod IPs.
//! - No retries and no redispatch: a request sent to a target that refuses
//!   the connection fails, as on an ALB. haproxy answers it with 503 where an
//!   ALB answers 502; both mean "the target did not take the request".
//! - No health checks: an ALB's (5 s to 5 min apart, 2 to 10 failures before
//!   a target is out) are far slower than the scaled timings here, so in a
//!   rollout it is the deregistration that takes a target out.
//! - A deregistered target in maintenance keeps its in-flight requests, as an
//!   ALB's draining target does for the deregistration delay.

use std::{
    io::{Read, Write},
    net::SocketAddr,
    os::unix::net::UnixStream,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::free_port;

/// The backend's name in the config and in every runtime command.
const BACKEND: &str = "targets";

/// A running haproxy, stopped by PID on drop.
pub struct LoadBalancer {
    process: Child,
    socket: PathBuf,
    log: PathBuf,
    pub address: SocketAddr,
}

impl LoadBalancer {
    /// Writes the config into `dir` (with the admin socket at `socket`) and
    /// starts haproxy in the foreground; returns once the runtime API answers.
    pub fn start(dir: &Path, socket: &Path) -> Result<LoadBalancer, String> {
        let haproxy = sleep_testbed::which("haproxy").ok_or("haproxy not found: run scripts/setup")?;
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config = dir.join("haproxy.cfg");
        let log = dir.join("haproxy.log");
        std::fs::write(&config, config_text(address, socket))
            .map_err(|e| format!("{}: {e}", config.display()))?;
        let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        // -db: foreground, one process, so its PID is the one to stop. Its own
        // process group: a Ctrl-C reaches this program, which stops it.
        let process = Command::new(haproxy)
            .process_group(0)
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("haproxy: {e}"))?;
        let mut lb = LoadBalancer { process, socket: socket.to_path_buf(), log, address };
        let start = Instant::now();
        while lb.command("show info").is_err() {
            if let Some(status) = lb.process.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("haproxy exited ({status}): {}", lb.log_text()));
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err(format!("haproxy's runtime API did not answer in 20 s: {}", lb.log_text()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(lb)
    }

    /// One runtime API command (one connection each, non-interactive mode);
    /// returns the answer.
    pub fn command(&self, command: &str) -> Result<String, String> {
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|e| format!("{}: {e}", self.socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        stream.write_all(format!("{command}\n").as_bytes()).map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(|e| format!("{command}: {e}"))?;
        Ok(answer)
    }

    /// A command whose answer must contain `expected`.
    fn command_expecting(&self, command: &str, expected: &str) -> Result<(), String> {
        let answer = self.command(command)?;
        if answer.contains(expected) {
            Ok(())
        } else {
            Err(format!("haproxy: `{command}` answered {:?}", answer.trim()))
        }
    }

    /// Registers a target: added in maintenance (haproxy's default for a
    /// dynamic server), then enabled.
    pub fn register(&self, name: &str, target: SocketAddr) -> Result<(), String> {
        self.command_expecting(&format!("add server {BACKEND}/{name} {target}"), "New server registered")?;
        self.command(&format!("enable server {BACKEND}/{name}"))?;
        self.expect_state(name, ADMIN_STATE_READY)
    }

    /// Deregisters a target: no new requests go to it, in-flight ones finish.
    pub fn deregister(&self, name: &str) -> Result<(), String> {
        self.command(&format!("set server {BACKEND}/{name} state maint"))?;
        self.expect_state(name, ADMIN_STATE_MAINT)
    }

    /// Deletes a deregistered target once it has no connections left
    /// (haproxy refuses before that); gives up quietly after a few seconds,
    /// leaving it in maintenance, where it takes no requests.
    pub fn delete(&self, name: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            match self.command(&format!("del server {BACKEND}/{name}")) {
                Ok(answer) if answer.contains("Server deleted") => return,
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Checks the target's administrative state as `show servers state` has it.
    fn expect_state(&self, name: &str, admin_state: &str) -> Result<(), String> {
        let state = self.command(&format!("show servers state {BACKEND}"))?;
        // Columns: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
        let row = state
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .find(|row| row.get(3) == Some(&name));
        match row {
            Some(row) if row.get(6) == Some(&admin_state) => Ok(()),
            _ => Err(format!("haproxy: target {name} is not in admin state {admin_state}: {state}")),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// haproxy's version line, for the report.
    pub fn version() -> String {
        let output = Command::new("haproxy")
            .arg("-v")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        output.unwrap_or_default().lines().next().unwrap_or("haproxy (version unknown)").to_string()
    }
}

/// `srv_admin_state` of a server in service, and of one in forced maintenance.
const ADMIN_STATE_READY: &str = "0";
const ADMIN_STATE_MAINT: &str = "1";

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        sleep_testbed::kill_and_reap(&mut self.process);
    }
}

fn config_text(address: SocketAddr, socket: &Path) -> String {
    format!(
        "\
# Written by scripts/rollout: an ALB target group's behaviour (see lb.rs).
global
    stats socket {socket} mode 600 level admin
    maxconn 2000

defaults
    mode http
    # A refused connection is the client's error: no retry, no other target.
    retries 0
    no option redispatch
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout http-request 5s

frontend web
    bind {address}
    default_backend {BACKEND}

# Empty: targets come and go through the runtime API.
backend {BACKEND}
    balance roundrobin
",
        socket = socket.display()
    )
}
