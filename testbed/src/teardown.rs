//! Stopping our containerd and everything it started, and proving nothing
//! is left: [`Containerd::tear_down`] (also run on drop) removes every pod
//! over CRI, as the kubelet does, stops containerd by its PID, then kills
//! what a dead containerd leaves (its shims' children, then the shims),
//! unmounts what is left under its folders, removes the pod-level cgroup
//! parents, and says what it had to force and what is still there
//! ([`TearDown`]). Drop panics (unless already panicking) when anything had
//! to be forced or is left; call `tear_down` yourself when forcing is
//! expected.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use nix::sys::signal::Signal;

use crate::{
    containerd::{Containerd, NAMESPACE},
    poll,
    process::{self, children, describe, is_running, signal},
    secs,
};

/// Where containerd's shims put their sockets, whatever the config says.
const SHIM_SOCKETS: &str = "/run/containerd/s";

/// What [`Containerd::tear_down`] did and found.
#[derive(Debug, Default)]
pub struct TearDown {
    /// What containerd and its shims should have cleaned up themselves and
    /// teardown had to do instead (processes killed, mounts unmounted, task
    /// bundles, container cgroups and shim sockets removed, CRI calls that
    /// failed). Empty after a clean run.
    pub forced: Vec<String>,
    /// The pod-level cgroup folders removed: the kubelet's job, so expected.
    pub pod_cgroups_removed: Vec<PathBuf>,
    /// What is still there after all that: always a failure.
    pub left: Vec<String>,
}

impl TearDown {
    /// Nothing had to be forced and nothing is left.
    pub fn is_clean(&self) -> bool {
        self.forced.is_empty() && self.left.is_empty()
    }
}

impl Containerd {
    /// Mount points under our folders, deepest first.
    pub fn mounts(&self) -> Vec<PathBuf> {
        let mut roots = vec![self.dir.as_path()];
        roots.extend(self.socket_dir.as_deref());
        process::mount_points_under(&roots)
    }

    /// The task bundles in the state folder: one per container whose shim
    /// has not deleted it.
    pub fn task_bundles(&self) -> Vec<PathBuf> {
        let tasks = self.dir.join("state/io.containerd.runtime.v2.task").join(NAMESPACE);
        fs::read_dir(tasks)
            .map(|entries| entries.filter_map(|entry| Some(entry.ok()?.path())).collect())
            .unwrap_or_default()
    }

    /// Every cgroup folder of ours: [`Containerd::cgroup_root`] and below,
    /// in each hierarchy, under our own cgroup. Deepest first.
    pub fn cgroup_folders(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for base in process::own_cgroup_folders() {
            let folder = base.join(&self.cgroup_root);
            if folder.is_dir() {
                found.extend(process::folders_below(&folder));
            }
        }
        found.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
        found
    }

    /// Removes every pod over CRI, stops containerd, and cleans up what is
    /// left; see [`TearDown`]. A second call does nothing.
    pub fn tear_down(&mut self) -> TearDown {
        let mut report = TearDown::default();
        if self.torn_down {
            return report;
        }
        self.torn_down = true;
        // Nothing here may panic: during an unwind that would abort the test
        // binary and leave everything running.
        let alive = self.process.as_mut().is_some_and(|process| matches!(process.try_wait(), Ok(None)));
        if alive {
            // What the kubelet does for each pod it is done with.
            match self.cri.list_pod_sandboxes() {
                Ok(pods) => {
                    for pod in pods {
                        if let Err(status) = self.cri.stop_pod_sandbox(&pod.id) {
                            report.forced.push(format!("StopPodSandbox {} failed: {status:?}", pod.id));
                        }
                        if let Err(status) = self.cri.remove_pod_sandbox(&pod.id) {
                            report.forced.push(format!("RemovePodSandbox {} failed: {status:?}", pod.id));
                        }
                    }
                }
                Err(status) => report.forced.push(format!("ListPodSandbox failed: {status:?}")),
            }
            // A shim exits shortly after its last task is deleted.
            poll(secs(10.0), || self.shims().is_empty().then_some(()));
        }
        if let Some(mut process) = self.process.take() {
            if matches!(process.try_wait(), Ok(None)) {
                if let Err(error) = signal(process.id(), Signal::SIGTERM) {
                    report.left.push(error);
                }
                if poll(secs(10.0), || process.try_wait().ok().flatten()).is_none() {
                    report.forced.push("containerd ignored SIGTERM for 10 s: SIGKILLed".into());
                    let _ = process.kill();
                }
            }
            let _ = process.wait();
        }

        // What a dead containerd leaves: the shims and the pods' processes,
        // children of the shims. Kill the children first (a pod's processes
        // would otherwise be re-parented away), then the shims; re-list each
        // round, since processes come and go meanwhile.
        let shim_sockets: Vec<PathBuf> =
            self.task_bundles().iter().filter_map(|bundle| shim_socket(bundle)).collect();
        let mut killed = BTreeSet::new();
        poll(secs(15.0), || {
            let shims = self.shims();
            if shims.is_empty() {
                return Some(());
            }
            // A zombie child is the shim's to reap: killing it does nothing.
            let children: Vec<u32> =
                shims.iter().flat_map(|&shim| children(shim)).filter(|&pid| is_running(pid)).collect();
            let targets = if children.is_empty() { shims } else { children };
            for pid in targets {
                if killed.insert(pid) {
                    report.forced.push(format!("killed {pid}: {}", describe(pid)));
                }
                if let Err(error) = signal(pid, Signal::SIGKILL) {
                    report.left.push(error);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
            None
        });

        for point in self.mounts() {
            report.forced.push(format!("unmounted {}", point.display()));
            if let Err(error) = process::unmount(&point) {
                report.left.push(error);
            }
        }
        for bundle in self.task_bundles() {
            report.forced.push(format!("task bundle left: {}", bundle.display()));
        }
        for socket in shim_sockets {
            if socket.exists() {
                report.forced.push(format!("removed shim socket {}", socket.display()));
                let _ = fs::remove_file(&socket);
            }
        }

        // The pod-level parents are the kubelet's to remove; container
        // cgroups left over are runc's, which a killed shim never called.
        // A cgroup is removable once its last process has been reaped.
        let ids = self.ids();
        for folder in self.cgroup_folders() {
            let name = folder.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let removed = poll(secs(5.0), || fs::remove_dir(&folder).is_ok().then_some(()));
            if removed.is_none() {
                continue; // reported as left below
            }
            if ids.contains(&name) {
                report.forced.push(format!("removed container cgroup {}", folder.display()));
            } else {
                report.pod_cgroups_removed.push(folder);
            }
        }

        // Everything of ours still there.
        for pid in self.shims() {
            report.left.push(format!("shim {pid}: {}", describe(pid)));
        }
        for point in self.mounts() {
            report.left.push(format!("mount {}", point.display()));
        }
        for folder in self.cgroup_folders() {
            report.left.push(format!("cgroup {}", folder.display()));
        }
        if report.left.is_empty() {
            for folder in std::iter::once(&self.dir).chain(self.socket_dir.as_ref()) {
                if let Err(error) = fs::remove_dir_all(folder) {
                    report.left.push(format!("{}: {error}", folder.display()));
                }
            }
        }
        report
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let log = self.log();
        let report = self.tear_down();
        if report.is_clean() {
            return;
        }
        if std::thread::panicking() {
            eprintln!("teardown after a failure: {report:#?}");
        } else {
            panic!("teardown not clean: {report:#?}\ncontainerd's log:\n{log}");
        }
    }
}

/// The shim socket a task bundle's `bootstrap.json` names (containerd 2;
/// containerd 1 wrote it alone to `address`), under /run/containerd/s.
fn shim_socket(bundle: &Path) -> Option<PathBuf> {
    let bootstrap = fs::read(bundle.join("bootstrap.json")).ok()?;
    let bootstrap: serde_json::Value = serde_json::from_slice(&bootstrap).ok()?;
    let path = PathBuf::from(bootstrap["address"].as_str()?.strip_prefix("unix://")?);
    path.starts_with(SHIM_SOCKETS).then_some(path)
}
