//! The CRI v1 client: the kubelet's API to the container runtime, over its
//! unix socket, with blocking calls that return the gRPC `Status` on failure.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use hyper_util::rt::TokioIo;
pub use k8s_cri::v1 as api;
use k8s_cri::v1::{image_service_client::ImageServiceClient, runtime_service_client::RuntimeServiceClient};
use tokio::runtime::Runtime;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::containerd::Pod;
pub use tonic::{Code, Status};

/// How long any one CRI call may take before the caller fails instead of hanging.
const CALL_LIMIT: Duration = Duration::from_secs(120);

/// What `ExecSync` gave.
#[derive(Debug, Clone)]
pub struct Exec {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From the call to its answer.
    pub took: Duration,
}

/// Blocking CRI v1 calls (runtime and image services) to one containerd.
/// Clone it freely: clones share one connection, and calls from several
/// threads run at the same time.
#[derive(Clone)]
pub struct Cri {
    // Multi-threaded (one worker) so that the connection's own tasks run
    // between calls and while several threads block on calls at once.
    runtime: Arc<Runtime>,
    runtime_service: RuntimeServiceClient<Channel>,
    image_service: ImageServiceClient<Channel>,
}

impl Cri {
    /// A client for the CRI socket at `socket`. It connects on the first
    /// call: make that after the socket file exists (gRPC backs off for a
    /// second after a failed connect).
    pub fn new(socket: &Path) -> Cri {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let socket = socket.to_path_buf();
        let channel = {
            let _inside = runtime.enter();
            // The URI is a placeholder: the connector dials the socket.
            Endpoint::from_static("http://[::1]").connect_with_connector_lazy(tower::service_fn(
                move |_: Uri| {
                    let socket = socket.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(socket).await?))
                    }
                },
            ))
        };
        Cri {
            runtime: Arc::new(runtime),
            runtime_service: RuntimeServiceClient::new(channel.clone()),
            image_service: ImageServiceClient::new(channel),
        }
    }

    fn call<T>(
        &self,
        request: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        // The timer is the runtime's: made inside it.
        match self.runtime.block_on(async { tokio::time::timeout(CALL_LIMIT, request).await }) {
            Ok(answer) => answer.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(format!("no answer in {CALL_LIMIT:?}"))),
        }
    }

    /// `Version`: the runtime's name and version (`containerd`, `v2.2.10`).
    pub fn version(&self) -> Result<api::VersionResponse, tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(service.version(api::VersionRequest { version: String::new() }))
    }

    /// `Status` (verbose).
    pub fn status(&self) -> Result<api::StatusResponse, tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(service.status(api::StatusRequest { verbose: true }))
    }

    /// The runtime's conditions by type (`RuntimeReady`, `NetworkReady`).
    pub fn conditions(&self) -> Result<BTreeMap<String, bool>, tonic::Status> {
        let status = self.status()?.status.unwrap_or_default();
        Ok(status.conditions.into_iter().map(|condition| (condition.r#type, condition.status)).collect())
    }

    pub fn run_pod_sandbox(&self, config: &api::PodSandboxConfig) -> Result<String, tonic::Status> {
        let mut service = self.runtime_service.clone();
        let request =
            api::RunPodSandboxRequest { config: Some(config.clone()), runtime_handler: String::new() };
        self.call(service.run_pod_sandbox(request)).map(|answer| answer.pod_sandbox_id)
    }

    /// `PodSandboxStatus` (verbose: `info["info"]` is containerd's JSON, with the pid).
    pub fn pod_sandbox_status(&self, id: &str) -> Result<api::PodSandboxStatusResponse, tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(
            service.pod_sandbox_status(api::PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose: true,
            }),
        )
    }

    pub fn list_pod_sandboxes(&self) -> Result<Vec<api::PodSandbox>, tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(service.list_pod_sandbox(api::ListPodSandboxRequest { filter: None }))
            .map(|answer| answer.items)
    }

    pub fn stop_pod_sandbox(&self, id: &str) -> Result<(), tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(service.stop_pod_sandbox(api::StopPodSandboxRequest { pod_sandbox_id: id.into() }))
            .map(drop)
    }

    pub fn remove_pod_sandbox(&self, id: &str) -> Result<(), tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(service.remove_pod_sandbox(api::RemovePodSandboxRequest { pod_sandbox_id: id.into() }))
            .map(drop)
    }

    pub fn create_container(
        &self,
        pod: &Pod,
        config: &api::ContainerConfig,
    ) -> Result<String, tonic::Status> {
        let mut service = self.runtime_service.clone();
        let request = api::CreateContainerRequest {
            pod_sandbox_id: pod.id.clone(),
            config: Some(config.clone()),
            sandbox_config: Some(pod.config.clone()),
        };
        self.call(service.create_container(request)).map(|answer| answer.container_id)
    }

    pub fn start_container(&self, id: &str) -> Result<(), tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(service.start_container(api::StartContainerRequest { container_id: id.into() })).map(drop)
    }

    /// `StopContainer`: SIGTERM (the image's stop signal), then SIGKILL
    /// after `timeout` seconds; returns once the container has stopped.
    pub fn stop_container(&self, id: &str, timeout: i64) -> Result<(), tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(service.stop_container(api::StopContainerRequest { container_id: id.into(), timeout }))
            .map(drop)
    }

    pub fn remove_container(&self, id: &str) -> Result<(), tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(service.remove_container(api::RemoveContainerRequest { container_id: id.into() })).map(drop)
    }

    /// `ContainerStatus` (verbose: `info["info"]` is containerd's JSON, with the pid).
    pub fn container_status(&self, id: &str) -> Result<api::ContainerStatusResponse, tonic::Status> {
        let mut service = self.runtime_service.clone();
        self.call(
            service.container_status(api::ContainerStatusRequest { container_id: id.into(), verbose: true }),
        )
    }

    /// `ExecSync`, as the kubelet runs an exec hook (`timeout` 0: none) or
    /// probe; a program that cannot start is an error (gRPC UNKNOWN), not an
    /// exit code.
    pub fn exec_sync(&self, id: &str, cmd: &[&str], timeout: i64) -> Result<Exec, tonic::Status> {
        let mut service = self.runtime_service.clone();
        let request = api::ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|arg| arg.to_string()).collect(),
            timeout,
        };
        let start = Instant::now();
        let answer = self.call(service.exec_sync(request))?;
        Ok(Exec {
            exit_code: answer.exit_code,
            stdout: answer.stdout,
            stderr: answer.stderr,
            took: start.elapsed(),
        })
    }

    /// The images CRI sees.
    pub fn list_images(&self) -> Result<Vec<api::Image>, tonic::Status> {
        let mut service = self.image_service.clone();
        self.call(service.list_images(api::ListImagesRequest { filter: None })).map(|answer| answer.images)
    }
}

/// The pid in a verbose status's `info["info"]` JSON (none while it is not running).
pub fn pid_in_info(info: &HashMap<String, String>) -> Option<u32> {
    let info: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    info["pid"].as_u64().map(|pid| pid as u32).filter(|&pid| pid != 0)
}
