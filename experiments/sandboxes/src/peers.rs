//! The sandboxes compared: ours, and the other pause processes a node could
//! run, each as a FROM-scratch image of its one static program, built here
//! from the Debian package's binary.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use sleep_testbed::{containerd::Containerd, output_text, poll, repo};

/// The user every sandbox runs as: our image's, set in the peers' images too.
pub const USER: u32 = 65532;

/// One sandbox program and its image.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Short and DNS-safe: its pods' names start with it.
    pub key: &'static str,
    /// As the docs name it.
    pub name: &'static str,
    /// The program on this machine, which the image holds as its only file.
    pub binary: PathBuf,
    /// Its bytes, which the sandbox's `/proc/PID/exe` must match.
    pub bytes: Vec<u8>,
    /// The image's name in containerd.
    pub image: String,
    /// The sandbox's command line, as `/proc/PID/cmdline` shows it.
    pub command: Vec<String>,
    /// Where it comes from, with its version.
    pub source: String,
}

/// This host's arch in `arches.txt` (`amd64`): which of dist/'s binaries it runs.
pub fn host_arch() -> &'static str {
    let arches = arch_table::parse(include_str!("../../../arches.txt"));
    let host = std::env::consts::ARCH;
    let arch = arches.into_iter().find(|arch| arch.target_arch == host);
    arch.unwrap_or_else(|| panic!("no arch in arches.txt runs on this {host} host")).name
}

/// The Debian package's version (`dpkg-query`), or a panic naming the set-up.
pub fn debian_version(package: &str) -> String {
    let output =
        Command::new("dpkg-query").args(["-W", "-f=${Version}", package]).output().expect("dpkg-query");
    assert!(output.status.success(), "Debian's {package} is not installed: run scripts/setup");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn read(binary: &Path) -> Vec<u8> {
    std::fs::read(binary).unwrap_or_else(|error| panic!("{}: {error} (run scripts/setup)", binary.display()))
}

/// Ours: our image as `scripts/image` made it, already containerd's sandbox
/// image (see `sleep_testbed::containerd`).
pub fn ours(containerd: &Containerd) -> Peer {
    let arch = host_arch();
    let binary = repo().join(format!("dist/sleep-linux-{arch}"));
    Peer {
        key: "ours",
        name: "ours",
        bytes: read(&binary),
        image: containerd.sandbox_image.clone(),
        command: vec!["/sleep".into(), "infinity".into()],
        source: format!("`dist/sleep-linux-{arch}`, version {}", containerd.version),
        binary,
    }
}

/// An image of `binary` alone, as `/<file>`, run as [`USER`] with `entrypoint`.
fn build(containerd: &Containerd, key: &str, binary: &Path, file: &str, entrypoint: &[&str]) -> String {
    let entrypoint = serde_json::to_string(entrypoint).unwrap();
    let containerfile =
        format!("FROM scratch\nCOPY {file} /{file}\nUSER {USER}:{USER}\nENTRYPOINT {entrypoint}\n");
    containerd.build_image(&format!("localhost/sandbox-{key}:experiment"), &containerfile, &[(binary, file)])
}

/// catatonit, the pause process Podman gives its pods (`catatonit -P`,
/// pause mode: no program, it only waits).
pub fn catatonit(containerd: &Containerd) -> Peer {
    let binary = PathBuf::from("/usr/bin/catatonit");
    let command = ["/catatonit", "-P"];
    Peer {
        key: "catatonit",
        name: "catatonit -P",
        bytes: read(&binary),
        image: build(containerd, "catatonit", &binary, "catatonit", &command),
        command: command.map(String::from).to_vec(),
        source: format!("Debian's catatonit {}, `/usr/bin/catatonit`", debian_version("catatonit")),
        binary,
    }
}

/// tini, from Debian's static build. It has no mode without a program, so
/// its image runs it bare: `/tini`, the only program the image holds.
pub fn tini(containerd: &Containerd) -> Peer {
    let binary = PathBuf::from("/usr/bin/tini-static");
    let command = ["/tini"];
    Peer {
        key: "tini",
        name: "tini",
        bytes: read(&binary),
        image: build(containerd, "tini", &binary, "tini", &command),
        command: command.map(String::from).to_vec(),
        source: format!("Debian's tini {}, `/usr/bin/tini-static`", debian_version("tini")),
        binary,
    }
}

/// What a program did when run alone on this machine.
#[derive(Debug, Clone)]
pub struct Run {
    /// As typed (the program by its name in the image).
    pub command: String,
    /// Its exit code; `None` if it was still running after the limit (then killed).
    pub exit: Option<i32>,
    /// After how long it ended.
    pub took: Duration,
    /// The line of its usage it printed (`Usage: ...`), else its first line.
    pub said: String,
}

/// tini run as a FROM-scratch image holding tini alone could run it: with
/// no program, and with the only program there is, itself. On this
/// machine, not as PID 1: tini then also warns that it cannot reap, which
/// changes nothing here.
pub fn tini_alone() -> Vec<Run> {
    let tini = "/usr/bin/tini-static";
    [vec![], vec![tini]]
        .into_iter()
        .map(|args| {
            let started = Instant::now();
            let mut child = Command::new(tini)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|error| panic!("{tini}: {error} (run scripts/setup)"));
            let exit = poll(Duration::from_secs(10), || child.try_wait().unwrap());
            let took = started.elapsed();
            if exit.is_none() {
                let _ = child.kill();
            }
            let output = child.wait_with_output().unwrap();
            let printed = output_text(&output);
            let shown: Vec<&str> =
                std::iter::once("tini").chain(args.iter().map(|_| "/tini")).collect::<Vec<_>>();
            Run {
                command: shown.join(" "),
                exit: exit.and_then(|status| status.code()),
                took,
                said: printed
                    .lines()
                    .find(|line| line.starts_with("Usage:"))
                    .or_else(|| printed.lines().next())
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect()
}
