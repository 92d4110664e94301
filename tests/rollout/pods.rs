//! Pods through containerd's CRI plugin (`sleep_tests::cri_harness`), as the
//! kubelet runs them: host network, our image as the sandbox, the app image
//! built `FROM scratch` with `/sleep` copied in.

use std::{net::SocketAddr, path::Path};

/// One pod: its sandbox, its app container, the address the app listens on.
pub struct Pod {
    pub name: String,
    pub address: SocketAddr,
}

/// containerd with the CRI plugin, and the app image imported into it.
pub struct Cluster {}

impl Cluster {
    pub fn start(_state: &Path, _app: &Path) -> Result<Cluster, String> {
        Err("pods: waiting for sleep_tests::cri_harness".into())
    }

    /// RunPodSandbox, CreateContainer, StartContainer: the app on `address`.
    pub fn run_pod(&self, _name: &str, _address: SocketAddr) -> Result<Pod, String> {
        unimplemented!()
    }

    /// ExecSync in the app container; its exit code.
    pub fn exec_sync(&self, _pod: &Pod, _command: &[&str], _timeout_seconds: i64) -> Result<i32, String> {
        unimplemented!()
    }

    /// StopContainer on the app container (SIGTERM, SIGKILL after the timeout).
    pub fn stop_container(&self, _pod: &Pod, _timeout_seconds: i64) -> Result<(), String> {
        unimplemented!()
    }

    /// The app container's exit code, once it has stopped.
    pub fn exit_code(&self, _pod: &Pod) -> Result<i32, String> {
        unimplemented!()
    }

    /// StopPodSandbox and RemovePodSandbox.
    pub fn remove_pod(&self, _pod: Pod) -> Result<(), String> {
        unimplemented!()
    }

    /// The runtime's version, for the report.
    pub fn version(&self) -> String {
        String::new()
    }
}
