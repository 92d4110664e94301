//! Pods through containerd's CRI plugin (`sleep_testbed::containerd`), as the
//! kubelet runs them: host network, our image as the sandbox, the app image
//! built from `examples/Dockerfile.app` (`COPY --from=` our image) with the
//! app as `/app`.

use std::{net::SocketAddr, path::Path};

use sleep_testbed::containerd::{self, Containerd, Options, PodOptions};

/// One pod: its sandbox, its app container, the address the app listens on.
pub struct Pod {
    pub name: String,
    sandbox: containerd::Pod,
    app: containerd::Container,
}

/// containerd with the CRI plugin, and the app image imported into it.
pub struct Cluster {
    containerd: Containerd,
    image: String,
}

impl Cluster {
    /// Starts containerd (state under target/cri) and builds the app image.
    pub fn start(app: &Path) -> Cluster {
        let containerd = Containerd::start("rollout", Options::default());
        let image = containerd.build_app_image("localhost/rollout-app:test", app);
        Cluster { containerd, image }
    }

    /// RunPodSandbox, CreateContainer, StartContainer: the app, as the
    /// image's non-root user with a read-only root, on `address`.
    pub fn run_pod(&self, name: &str, address: SocketAddr) -> Pod {
        let sandbox = self.containerd.run_pod(name, PodOptions::default());
        let listen = address.to_string();
        let mut config = self.containerd.container_config("app", &self.image, &["/app", "-listen", &listen]);
        config.linux.get_or_insert_default().security_context = Some(containerd::restricted());
        let app = self.containerd.start_container(&sandbox, config);
        Pod { name: name.to_string(), sandbox, app }
    }

    /// ExecSync in the app container; its exit code.
    pub fn exec_sync(&self, pod: &Pod, command: &[&str], timeout_seconds: i64) -> Result<i32, String> {
        let exec = self
            .containerd
            .cri()
            .exec_sync(&pod.app.id, command, timeout_seconds)
            .map_err(|status| format!("ExecSync {command:?} in {}: {status:?}", pod.name))?;
        Ok(exec.exit_code)
    }

    /// StopContainer on the app container (SIGTERM, SIGKILL after the timeout).
    pub fn stop_container(&self, pod: &Pod, timeout_seconds: i64) -> Result<(), String> {
        self.containerd
            .cri()
            .stop_container(&pod.app.id, timeout_seconds)
            .map_err(|status| format!("StopContainer in {}: {status:?}", pod.name))
    }

    /// The app container's exit code, once it has stopped.
    pub fn exit_code(&self, pod: &Pod) -> Result<i32, String> {
        let status = self
            .containerd
            .cri()
            .container_status(&pod.app.id)
            .map_err(|status| format!("ContainerStatus in {}: {status:?}", pod.name))?;
        status
            .status
            .map(|status| status.exit_code)
            .ok_or(format!("ContainerStatus of {} has no status", pod.name))
    }

    /// StopPodSandbox and RemovePodSandbox.
    pub fn remove_pod(&self, pod: Pod) {
        self.containerd.remove_pod(&pod.sandbox);
    }

    /// Removes every pod, stops containerd by its PID; an error when
    /// anything had to be forced or is left behind. After a Ctrl-C (which
    /// reaches containerd too) forcing is expected, and only what is left
    /// is an error.
    pub fn tear_down(mut self) -> Result<(), String> {
        let report = self.containerd.tear_down();
        if !report.left.is_empty() {
            return Err(format!("containerd's teardown left: {:?}", report.left));
        }
        if !report.forced.is_empty() {
            if crate::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
                eprintln!(
                    "rollout: teardown had to force {} things after the interrupt; nothing is left",
                    report.forced.len()
                );
            } else {
                return Err(format!("containerd's teardown had to force: {:?}", report.forced));
            }
        }
        Ok(())
    }
}
