//! A private containerd with its CRI plugin, driven over CRI v1 the way the
//! kubelet drives it, for tests that run our image in pods.
//!
//! # Use
//!
//! ```no_run
//! use sleep_tests::cri_harness::{Containerd, Options, PodOptions, restricted};
//!
//! let mut containerd = Containerd::start("example", Options::default());
//! let cri = containerd.cri(); // Clone + Send: one per thread is fine
//! assert_eq!(cri.conditions().unwrap()["NetworkReady"], false);
//! let pod = containerd.run_pod("web", PodOptions { share_process_namespace: true });
//! let image = containerd.build_app_image("localhost/app:test", "/path/to/app".as_ref());
//! let mut config = containerd.container_config("app", &image, &["/app"]);
//! config.linux.get_or_insert_default().security_context = Some(restricted());
//! let app = containerd.start_container(&pod, config);
//! let hook = cri.exec_sync(&app.id, &["/sleep", "1"], 0).unwrap();
//! assert_eq!(hook.exit_code, 0);
//! cri.stop_container(&app.id, 10).unwrap();
//! containerd.remove_pod(&pod);
//! let report = containerd.tear_down();
//! assert!(report.is_clean(), "{report:?}");
//! ```
//!
//! - [`Containerd::start`] runs Debian's containerd (1.6) from a private
//!   config: its own root, state, gRPC and ttrpc sockets, opt folder and runc
//!   root, all under `<repo>/target/cri/<name>-<pid>` (never under TMPDIR: an
//!   overlay upperdir cannot live on overlayfs, as /tmp is in CI's job
//!   container). Private, empty CNI folders: CRI reports `NetworkReady=false`
//!   and only host-network pods run, which is all the tests need. Our image,
//!   `dist/sleep-oci.tar`, is imported into the `k8s.io` namespace as
//!   `localhost/sleep:<version>` ([`Containerd::sandbox_image`]) and is the
//!   CRI plugin's `sandbox_image`: every pod's sandbox is our `/sleep
//!   infinity`, in place of `pause`.
//! - Cgroups: on a cgroup v2 host (GitHub's privileged CI job container),
//!   writing the sandbox's `cpu.weight` can fail, so there the CRI plugin runs
//!   with `disable_cgroup = true` (no cgroup path, no resources in the specs:
//!   runc then makes each container's cgroup by its id, below its own).
//!   [`Options::disable_cgroup`] forces either mode. Otherwise each pod's
//!   cgroup parent is `/<cgroup_root>/<pod name>` in every hierarchy, which
//!   teardown removes (the kubelet's job).
//! - [`Cri`] is the CRI v1 client (`k8s-cri`, tonic) over the unix socket,
//!   with blocking methods that return the gRPC `Status` on failure. It is a
//!   cheap clone: an `ExecSync` can be in flight on one thread while another
//!   calls `StopContainer`.
//! - [`Containerd::run_pod`] and [`Containerd::start_container`] return once
//!   the process runs its own program: `RunPodSandbox` and `StartContainer`
//!   return while `/proc/PID/cmdline` still reads `runc init`.
//! - [`Containerd::build_image`] builds an image the way
//!   `examples/Dockerfile.app` does (`FROM scratch`, `COPY --from=` our image
//!   by its local name) from a Containerfile and files of your own, with
//!   buildah (private vfs storage under the state folder), and imports it.
//!   [`Containerd::build_app_image`] is `examples/Dockerfile.app` itself with
//!   your binary as `/app`.
//! - [`Containerd::pod_config`] is a restricted host-network pod's config as
//!   the kubelet sends it; change it and use [`Containerd::run_pod_with`]
//!   for other pods. Containers log to the pod's folder
//!   ([`Containerd::log_dir`]).
//! - [`Containerd::watch_task_exits`] records containerd's task-exit events
//!   (`ctr events`): the exit status of processes CRI does not report, such
//!   as the sandbox's.
//! - [`Containerd::tear_down`] (also run on drop) removes every pod over
//!   CRI, stops containerd by its PID, then kills what a dead containerd
//!   leaves (its shims' children, then the shims), unmounts what is left
//!   under the state folder, removes the pod-level cgroup parents, and says
//!   what it had to force and what is still there ([`TearDown`]). Drop
//!   panics (unless already panicking) when anything had to be forced or is
//!   left; call `tear_down` yourself when forcing is expected.
//!
//! Needs root, containerd, ctr, runc and buildah (`scripts/setup`), and
//! `dist/` from `scripts/build` and `scripts/image`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::{BufRead, BufReader},
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use hyper_util::rt::TokioIo;
pub use k8s_cri::v1 as api;
use k8s_cri::v1::{image_service_client::ImageServiceClient, runtime_service_client::RuntimeServiceClient};
use tokio::runtime::Runtime;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::{kill_and_reap, poll, repo, secs, which, with_default_signals};

/// The containerd namespace CRI works in.
pub const NAMESPACE: &str = "k8s.io";
/// `/sys/fs/cgroup`'s `statfs` type on a cgroup v2 (unified) host.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
/// Where containerd's shims put their sockets, whatever the config says.
const SHIM_SOCKETS: &str = "/run/containerd/s";
/// The longest unix socket path (`sun_path` holds 108 bytes with its NUL).
const SOCKET_PATH_MAX: usize = 107;
/// How long any one CRI call may take before the test fails instead of hanging.
const CALL_LIMIT: Duration = Duration::from_secs(120);

/// How to start containerd.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The CRI plugin's `disable_cgroup`; `None` picks it: on when
    /// `/sys/fs/cgroup` is cgroup v2, off otherwise.
    pub disable_cgroup: Option<bool>,
}

/// How to make a pod.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodOptions {
    /// The pod's `shareProcessNamespace`: its containers run in the
    /// sandbox's PID namespace (mode POD), where the sandbox is PID 1.
    pub share_process_namespace: bool,
}

/// A running pod sandbox.
#[derive(Debug, Clone)]
pub struct Pod {
    pub id: String,
    /// What it was made from; `CreateContainer` takes it again.
    pub config: api::PodSandboxConfig,
    /// The sandbox process, as seen from here, once it runs the image's program.
    pub pid: u32,
}

/// A started container.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    /// Its main process, as seen from here, once it runs its program.
    pub pid: u32,
}

/// What `ExecSync` gave.
#[derive(Debug, Clone)]
pub struct Exec {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From the call to its answer.
    pub took: Duration,
}

/// One task-exit event: a container's main process or an exec ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskExit {
    /// The container (for a pod's sandbox: the pod's id).
    pub container_id: String,
    /// The process: the container id again for its main process, else the exec's id.
    pub id: String,
    pub pid: u32,
    pub exit_status: u32,
}

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

/// The pid in a verbose status's `info["info"]` JSON (0 when not running).
fn pid_in_info(info: &std::collections::HashMap<String, String>) -> Option<u32> {
    let info: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    info["pid"].as_u64().map(|pid| pid as u32).filter(|&pid| pid != 0)
}

/// The restricted pod security standard's container security context, as
/// the kubelet sends it: runAsUser 65532 (and its group), every capability
/// dropped, no privilege escalation, read-only root, RuntimeDefault seccomp.
/// [`Containerd::start_container`] adds the pod's namespace options.
pub fn restricted() -> api::LinuxContainerSecurityContext {
    api::LinuxContainerSecurityContext {
        capabilities: Some(api::Capability { drop_capabilities: vec!["ALL".into()], ..Default::default() }),
        run_as_user: Some(api::Int64Value { value: 65532 }),
        run_as_group: Some(api::Int64Value { value: 65532 }),
        readonly_rootfs: true,
        no_new_privs: true,
        seccomp: Some(runtime_default_seccomp()),
        ..Default::default()
    }
}

/// The container runtime's default seccomp profile.
pub fn runtime_default_seccomp() -> api::SecurityProfile {
    api::SecurityProfile {
        profile_type: api::security_profile::ProfileType::RuntimeDefault.into(),
        localhost_ref: String::new(),
    }
}

/// Our containerd, its CRI client, and everything it made; torn down on drop.
pub struct Containerd {
    /// `<repo>/target/cri/<name>-<pid>`: config, log, root, state, runc root.
    pub dir: PathBuf,
    /// The gRPC socket (CRI and containerd's own API).
    pub socket: PathBuf,
    /// Whether the CRI plugin runs with `disable_cgroup`.
    pub disable_cgroup: bool,
    /// Our image's local name, `localhost/sleep:<version>`: the sandbox image.
    pub sandbox_image: String,
    /// Cargo.toml's version.
    pub version: String,
    /// The cgroup every pod's parent is under (in every hierarchy), e.g.
    /// `sleep-cri-basic-1234`.
    pub cgroup_root: String,
    /// A folder made for the socket under /run when `dir` is too long for one.
    socket_dir: Option<PathBuf>,
    process: Option<Child>,
    cri: Cri,
    counter: AtomicU32,
    /// Ids of every sandbox and container made here, for finding what a
    /// killed runtime leaves.
    ids: Mutex<BTreeSet<String>>,
    torn_down: bool,
}

/// The folder for unix sockets whose longest name is `longest`: `dir` when
/// that fits in a socket path, else `/run/<short_name>`, made here and also
/// returned second, for the caller to remove.
pub fn socket_folder(
    dir: &Path,
    longest: &str,
    short_name: &str,
) -> std::io::Result<(PathBuf, Option<PathBuf>)> {
    if dir.join(longest).as_os_str().len() <= SOCKET_PATH_MAX {
        return Ok((dir.to_path_buf(), None));
    }
    let short = Path::new("/run").join(short_name);
    fs::create_dir_all(&short)?;
    Ok((short.clone(), Some(short)))
}

/// Whether `/sys/fs/cgroup` is the cgroup v2 (unified) hierarchy.
pub fn is_cgroup2() -> bool {
    let path = c"/sys/fs/cgroup";
    // SAFETY: `statfs` is plain integers, for which all zeros is a valid value.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: statfs(2) writes only into the struct we pass; the path is NUL-terminated.
    let found = unsafe { libc::statfs(path.as_ptr(), &mut stat) } == 0;
    found && stat.f_type as i64 == CGROUP2_SUPER_MAGIC
}

fn tool(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| panic!("{name} not found: run scripts/setup"))
}

fn output_text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

impl Containerd {
    /// Starts a private containerd named `name` (unique among the tests
    /// running at once), waits until CRI answers, and imports our image as
    /// the sandbox image.
    pub fn start(name: &str, options: Options) -> Containerd {
        let containerd = tool("containerd");
        let version = String::from_utf8(
            Command::new(repo().join("scripts/version")).output().expect("scripts/version").stdout,
        )
        .unwrap()
        .trim()
        .to_string();
        let archive = repo().join("dist/sleep-oci.tar");
        assert!(archive.is_file(), "{} is missing: run scripts/build and scripts/image", archive.display());

        let unique = format!("{name}-{}", std::process::id());
        let dir = repo().join("target/cri").join(&unique);
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .unwrap_or_else(|error| panic!("{} from an earlier run: {error}", dir.display()));
        }
        for sub in ["cni/conf", "cni/bin"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // The ttrpc socket's name is the longer one.
        let (sockets, socket_dir) =
            socket_folder(&dir, "containerd.sock.ttrpc", &format!("sleep-cri-{unique}"))
                .unwrap_or_else(|error| panic!("a folder for containerd's socket: {error}"));
        let socket = sockets.join("containerd.sock");
        let disable_cgroup = options.disable_cgroup.unwrap_or_else(is_cgroup2);
        let sandbox_image = format!("localhost/sleep:{version}");
        let config = format!(
            r#"version = 2
root = "{dir}/root"
state = "{dir}/state"
# The snapshotters this host lacks would only fail to load.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  # The sandbox's oom_score_adj of -998 needs CAP_SYS_RESOURCE, which root
  # may lack (runc then fails: "can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  disable_cgroup = {disable_cgroup}
  disable_apparmor = true
  # ExecSync needs no stream server; keep it on loopback, any free port.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    # Private and empty: otherwise containerd creates /etc/cni/net.d.
    conf_dir = "{dir}/cni/conf"
    bin_dir = "{dir}/cni/bin"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{dir}/runc"
        SystemdCgroup = false
"#,
            dir = dir.display(),
            socket = socket.display(),
        );
        fs::write(dir.join("config.toml"), config).unwrap();
        let log = fs::File::create(dir.join("containerd.log")).unwrap();
        // Default dispositions: the shims and the containers inherit containerd's.
        let process = with_default_signals(&mut Command::new(containerd))
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd");
        let cri = Cri::new(&socket);
        // From here on, drop tears everything down, whatever fails next.
        let mut this = Containerd {
            cgroup_root: format!("sleep-cri-{unique}"),
            dir,
            socket,
            disable_cgroup,
            sandbox_image,
            version,
            socket_dir,
            process: Some(process),
            cri,
            counter: AtomicU32::new(0),
            ids: Mutex::new(BTreeSet::new()),
            torn_down: false,
        };
        let up = poll(secs(30.0), || {
            let exited = this.process.as_mut().unwrap().try_wait().unwrap();
            assert!(exited.is_none(), "containerd exited ({exited:?}):\n{}", this.log());
            this.socket.exists().then_some(())
        });
        assert!(up.is_some(), "no socket {} after 30 s:\n{}", this.socket.display(), this.log());
        let ready = poll(secs(30.0), || {
            let conditions = this.cri.conditions().ok()?;
            conditions.get("RuntimeReady").copied().unwrap_or(false).then_some(())
        });
        assert!(ready.is_some(), "CRI not RuntimeReady after 30 s:\n{}", this.log());
        let sandbox_image = this.sandbox_image.clone();
        this.import_image(&archive, &sandbox_image);
        this
    }

    /// A CRI client (a clone: give one to each thread).
    pub fn cri(&self) -> Cri {
        self.cri.clone()
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// SIGKILLs containerd itself, leaving its shims and pods running (the
    /// teardown then has to clean up after it).
    pub fn kill(&mut self) {
        if let Some(process) = &mut self.process {
            kill_and_reap(process);
        }
    }

    /// `ctr` against this containerd in the `k8s.io` namespace.
    pub fn ctr(&self) -> Command {
        let mut command = Command::new(tool("ctr"));
        command.arg("--address").arg(&self.socket).args(["--namespace", NAMESPACE]);
        command
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let output = self.ctr().args(args).output().unwrap();
        assert!(output.status.success(), "ctr {}: {}", args.join(" "), output_text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The image names containerd has in `k8s.io`.
    pub fn image_names(&self) -> BTreeSet<String> {
        self.ctr_ok(&["images", "ls", "--quiet"]).lines().map(str::to_string).collect()
    }

    /// Imports an OCI archive holding one image (or index) into `k8s.io`
    /// and names it `name` (`repository:tag`), whatever ref name the archive
    /// gives it (a bare tag such as `0.1.0`, or a full name). The archive's
    /// own names are not kept: CRI does not forget a name like `sleep:0.1.0`
    /// (which it shows as `docker.io/library/sleep:0.1.0`) once it is
    /// removed, so the image comes in by its digest and is tagged from there.
    pub fn import_image(&self, archive: &Path, name: &str) {
        let index = Command::new(tool("tar")).arg("-xOf").arg(archive).arg("index.json").output().unwrap();
        assert!(index.status.success(), "no index.json in {}: {}", archive.display(), output_text(&index));
        let index: serde_json::Value = serde_json::from_slice(&index.stdout).unwrap();
        let digest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no manifest in its index.json", archive.display()));
        let (repository, _) = name.rsplit_once(':').expect("name is repository:tag");
        let by_digest = format!("{repository}@{digest}");
        let before = self.image_names();
        // With a base name, ctr imports only the names under it, and (with
        // --digests) BASE@DIGEST; a bare tag REF becomes BASE:REF.
        let archive_path = archive.to_str().unwrap();
        let args =
            ["images", "import", "--all-platforms", "--digests", "--base-name", repository, archive_path];
        self.ctr_ok(&args);
        self.ctr_ok(&["images", "tag", "--force", &by_digest, name]);
        for extra in self.image_names().difference(&before) {
            if extra != name {
                self.ctr_ok(&["images", "rm", extra]);
            }
        }
    }

    /// Builds an image with buildah from `containerfile`, in a context
    /// folder holding each `(file, name)` of `context` (copied in as `name`),
    /// with our image available as `localhost/sleep:<version>` (the local
    /// name `COPY --from=` uses); imports it into `k8s.io` as `name`
    /// (`repository:tag`) and returns that name.
    pub fn build_image(&self, name: &str, containerfile: &str, context: &[(&Path, &str)]) -> String {
        let (_, tag) = name.rsplit_once(':').expect("name is repository:tag");
        let work = self.dir.join(format!("build-{}", self.counter.fetch_add(1, Ordering::Relaxed)));
        let context_dir = work.join("context");
        fs::create_dir_all(&context_dir).unwrap();
        for (file, as_name) in context {
            let target = context_dir.join(as_name);
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::copy(file, &target).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        }
        fs::write(work.join("Containerfile"), containerfile).unwrap();
        // buildah's network lock file would go to /etc/cni/net.d, its temp files to TMPDIR.
        fs::write(
            work.join("containers.conf"),
            format!("[network]\nnetwork_config_dir = \"{}/cni\"\n", work.display()),
        )
        .unwrap();
        fs::create_dir_all(work.join("tmp")).unwrap();
        let buildah = |args: &[&str]| {
            let output = Command::new(tool("buildah"))
                .args(["--storage-driver", "vfs", "--root"])
                .arg(work.join("storage"))
                .arg("--runroot")
                .arg(work.join("run"))
                .args(args)
                .env("TMPDIR", work.join("tmp"))
                .env("CONTAINERS_CONF", work.join("containers.conf"))
                .output()
                .unwrap();
            assert!(output.status.success(), "buildah {}: {}", args.join(" "), output_text(&output));
            String::from_utf8_lossy(&output.stdout).trim().to_string()
        };
        let platform = crate::arch(crate::host_arch()).platform;
        let archive = format!("oci-archive:{}", repo().join("dist/sleep-oci.tar").display());
        let ours = buildah(&["pull", "--quiet", "--platform", platform, &archive]);
        buildah(&["tag", ours.lines().last().unwrap(), &self.sandbox_image]);
        let work_text = work.display().to_string();
        buildah(&[
            "build",
            "--quiet",
            "--isolation",
            "chroot",
            "--pull=never",
            "--platform",
            platform,
            "--file",
            &format!("{work_text}/Containerfile"),
            "--tag",
            name,
            &format!("{work_text}/context"),
        ]);
        let built = work.join("image.tar");
        buildah(&["push", "--quiet", name, &format!("oci-archive:{}:{tag}", built.display())]);
        self.import_image(&built, name);
        let _ = fs::remove_dir_all(&work);
        name.to_string()
    }

    /// `examples/Dockerfile.app` with `app` as its `/app`: the application
    /// image a user builds, with our `/sleep` copied in by `COPY --from=`.
    /// Nothing can be pulled here, so its base is `scratch` instead of
    /// distroless (neither has a shell; distroless adds files `/sleep` never
    /// reads), and our image comes by its local name instead of ghcr.io.
    pub fn build_app_image(&self, name: &str, app: &Path) -> String {
        let example = fs::read_to_string(repo().join("examples/Dockerfile.app")).unwrap();
        let from = example.lines().find(|line| line.starts_with("FROM ")).expect("Dockerfile.app has a FROM");
        let published = format!("ghcr.io/sleep-developers/sleep:{}", self.version);
        assert_eq!(example.matches(&published).count(), 1, "Dockerfile.app copies from {published}");
        let containerfile = example.replace(from, "FROM scratch").replace(&published, &self.sandbox_image);
        self.build_image(name, &containerfile, &[(app, "app")])
    }

    /// A pod's config as the kubelet makes one for a restricted host-network
    /// pod named `name`: no hostname (host network has no UTS namespace of
    /// its own), the pod's RuntimeDefault seccomp profile for the sandbox
    /// too, its cgroup parent under [`Containerd::cgroup_root`], and its
    /// containers' logs in [`Containerd::log_dir`]. The sandbox's user is
    /// the image's.
    pub fn pod_config(&self, name: &str, options: PodOptions) -> api::PodSandboxConfig {
        use api::NamespaceMode;
        let pid = if options.share_process_namespace { NamespaceMode::Pod } else { NamespaceMode::Container };
        api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.into(),
                uid: format!("{}-{name}", self.cgroup_root),
                namespace: "default".into(),
                attempt: 0,
            }),
            log_directory: self.log_dir(name).display().to_string(),
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: format!("/{}/{name}", self.cgroup_root),
                security_context: Some(api::LinuxSandboxSecurityContext {
                    namespace_options: Some(api::NamespaceOption {
                        network: NamespaceMode::Node.into(),
                        pid: pid.into(),
                        ipc: NamespaceMode::Pod.into(),
                        ..Default::default()
                    }),
                    seccomp: Some(runtime_default_seccomp()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// `RunPodSandbox` of [`Containerd::pod_config`]; returns once the
    /// sandbox process runs the image's program.
    pub fn run_pod(&self, name: &str, options: PodOptions) -> Pod {
        self.run_pod_with(self.pod_config(name, options))
    }

    /// `RunPodSandbox` of `config`; returns once the sandbox runs its program.
    pub fn run_pod_with(&self, config: api::PodSandboxConfig) -> Pod {
        let id = self.cri.run_pod_sandbox(&config).unwrap_or_else(|status| {
            panic!("RunPodSandbox: {status:?}\n{}", self.log());
        });
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone());
        let pid = poll(secs(30.0), || pid_in_info(&self.cri.pod_sandbox_status(&id).ok()?.info))
            .unwrap_or_else(|| panic!("sandbox {id} has no pid after 30 s"));
        wait_until_exec_done(pid);
        Pod { id, config, pid }
    }

    /// Where the containers of pod `pod_name` log (the pod's `log_directory`).
    pub fn log_dir(&self, pod_name: &str) -> PathBuf {
        self.dir.join("logs").join(pod_name)
    }

    /// A container config: `image`, and `command` in place of the image's
    /// entrypoint (empty: the image's entrypoint and cmd); it logs to
    /// `<name>.log` in the pod's log folder.
    pub fn container_config(&self, name: &str, image: &str, command: &[&str]) -> api::ContainerConfig {
        api::ContainerConfig {
            metadata: Some(api::ContainerMetadata { name: name.into(), attempt: 0 }),
            image: Some(api::ImageSpec { image: image.into(), ..Default::default() }),
            command: command.iter().map(|arg| arg.to_string()).collect(),
            log_path: format!("{name}.log"),
            ..Default::default()
        }
    }

    /// `CreateContainer` and `StartContainer` in `pod`, with the pod's
    /// namespace options (as the kubelet copies them) unless `config` sets
    /// its own; returns once the main process runs its program.
    pub fn start_container(&self, pod: &Pod, mut config: api::ContainerConfig) -> Container {
        let pod_namespaces = pod
            .config
            .linux
            .as_ref()
            .and_then(|linux| linux.security_context.as_ref())
            .and_then(|context| context.namespace_options.clone());
        let context = config.linux.get_or_insert_default().security_context.get_or_insert_default();
        if context.namespace_options.is_none() {
            context.namespace_options = pod_namespaces;
        }
        let id = self
            .cri
            .create_container(pod, &config)
            .unwrap_or_else(|status| panic!("CreateContainer: {status:?}\n{}", self.log()));
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone());
        self.cri
            .start_container(&id)
            .unwrap_or_else(|status| panic!("StartContainer: {status:?}\n{}", self.log()));
        let pid = poll(secs(30.0), || pid_in_info(&self.cri.container_status(&id).ok()?.info))
            .unwrap_or_else(|| panic!("container {id} has no pid after 30 s"));
        wait_until_exec_done(pid);
        Container { id, pid }
    }

    /// `StopPodSandbox` then `RemovePodSandbox` (which removes its containers).
    pub fn remove_pod(&self, pod: &Pod) {
        self.cri.stop_pod_sandbox(&pod.id).unwrap_or_else(|status| panic!("StopPodSandbox: {status:?}"));
        self.cri.remove_pod_sandbox(&pod.id).unwrap_or_else(|status| panic!("RemovePodSandbox: {status:?}"));
    }

    /// Starts recording task-exit events (`ctr events`); returns once the
    /// subscription is live.
    pub fn watch_task_exits(&self) -> TaskExits {
        let mut process =
            self.ctr().arg("events").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = process.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        let watch = TaskExits { process, lines, reader: Some(reader) };
        // Events published before ctr subscribed are lost: publish our own
        // (a namespace label) until one comes through.
        let mut attempt = 0;
        let live = poll(secs(20.0), || {
            attempt += 1;
            let label = format!("sleep-test/events={attempt}");
            self.ctr_ok(&["namespaces", "label", NAMESPACE, &label]);
            std::thread::sleep(Duration::from_millis(20));
            watch.lines.lock().unwrap().iter().any(|line| line.contains("/namespaces/update")).then_some(())
        });
        assert!(live.is_some(), "ctr events saw none of our events in 20 s");
        watch
    }

    /// The shims serving this containerd: `containerd-shim…` processes whose
    /// command line names our socket (other processes naming it, such as
    /// `ctr`, are not shims).
    pub fn shims(&self) -> Vec<u32> {
        let socket = self.socket.as_os_str().as_bytes();
        processes()
            .into_iter()
            .filter(|&pid| {
                let cmdline = cmdline(pid);
                let mut args = cmdline.split(|&byte| byte == 0);
                let is_shim = args.next().is_some_and(|program| {
                    Path::new(std::ffi::OsStr::from_bytes(program))
                        .file_name()
                        .is_some_and(|name| name.as_bytes().starts_with(b"containerd-shim"))
                });
                is_shim && cmdline.split(|&byte| byte == 0).any(|arg| arg == socket)
            })
            .collect()
    }

    /// Mount points under our folders, deepest first.
    pub fn mounts(&self) -> Vec<PathBuf> {
        let mut roots = vec![self.dir.clone()];
        roots.extend(self.socket_dir.clone());
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut found: Vec<PathBuf> = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .map(unescape_mount_path)
            .filter(|point| roots.iter().any(|root| point.starts_with(root)))
            .collect();
        found.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
        found.dedup();
        found
    }

    /// The task bundles in the state folder: one per container whose shim
    /// has not deleted it.
    pub fn task_bundles(&self) -> Vec<PathBuf> {
        let tasks = self.dir.join("state/io.containerd.runtime.v2.task").join(NAMESPACE);
        fs::read_dir(tasks)
            .map(|entries| entries.filter_map(|entry| Some(entry.ok()?.path())).collect())
            .unwrap_or_default()
    }

    /// Every cgroup folder of ours: under [`Containerd::cgroup_root`] in each
    /// hierarchy, and any named by one of our sandbox or container ids (with
    /// `disable_cgroup`, runc makes a container's cgroup by its id, below
    /// the cgroup the shim runs in, ours, in each hierarchy). Deepest first.
    pub fn cgroup_folders(&self) -> Vec<PathBuf> {
        let ids = self.ids();
        let root = PathBuf::from("/sys/fs/cgroup");
        let mut hierarchies = vec![root.clone()];
        if let Ok(entries) = fs::read_dir(&root) {
            hierarchies
                .extend(entries.filter_map(|entry| Some(entry.ok()?.path())).filter(|path| path.is_dir()));
        }
        // Our own cgroup in each hierarchy (`N:controllers:/path` lines).
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let own: BTreeSet<&str> = own.lines().filter_map(|line| line.splitn(3, ':').nth(2)).collect();
        let mut bases: BTreeSet<PathBuf> = BTreeSet::new();
        for hierarchy in &hierarchies {
            for path in &own {
                bases.insert(hierarchy.join(path.trim_start_matches('/')));
            }
        }
        let mut found = Vec::new();
        for base in bases {
            let Ok(entries) = fs::read_dir(&base) else { continue };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                if (name == self.cgroup_root || ids.contains(&name)) && entry.path().is_dir() {
                    walk_dirs(&entry.path(), &mut found);
                }
            }
        }
        found.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
        found
    }

    /// The ids of every sandbox and container made here.
    fn ids(&self) -> BTreeSet<String> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).clone()
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
                if let Err(error) = signal(process.id(), libc::SIGTERM) {
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
                if let Err(error) = signal(pid, libc::SIGKILL) {
                    report.left.push(error);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
            None
        });

        for point in self.mounts() {
            report.forced.push(format!("unmounted {}", point.display()));
            unmount(&point);
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

/// Task-exit events being recorded; see [`Containerd::watch_task_exits`].
pub struct TaskExits {
    process: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl TaskExits {
    /// The exits recorded so far.
    pub fn exits(&self) -> Vec<TaskExit> {
        self.lines.lock().unwrap().iter().filter_map(|line| parse_task_exit(line)).collect()
    }

    /// Waits up to `limit` for the exit of `container_id`'s main process.
    pub fn wait_for(&self, container_id: &str, limit: Duration) -> Option<TaskExit> {
        poll(limit, || {
            self.exits()
                .into_iter()
                .find(|exit| exit.container_id == container_id && exit.id == exit.container_id)
        })
    }
}

impl Drop for TaskExits {
    fn drop(&mut self) {
        kill_and_reap(&mut self.process);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// A `ctr events` line: `TIME NAMESPACE /tasks/exit {json}`.
fn parse_task_exit(line: &str) -> Option<TaskExit> {
    let (_, rest) = line.split_once(" /tasks/exit ")?;
    let event: serde_json::Value = serde_json::from_str(rest).ok()?;
    Some(TaskExit {
        container_id: event["container_id"].as_str()?.into(),
        id: event["id"].as_str()?.into(),
        pid: event["pid"].as_u64()? as u32,
        exit_status: event["exit_status"].as_u64().unwrap_or(0) as u32,
    })
}

/// Waits until `pid` is past `runc init` (which execs the container's
/// program), or gone.
fn wait_until_exec_done(pid: u32) {
    let running = poll(secs(30.0), || {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok();
        match cmdline {
            None => Some(()), // ended: the caller's checks will tell
            Some(cmdline) if cmdline.is_empty() || cmdline.starts_with(b"runc\0init") => None,
            Some(_) => Some(()),
        }
    });
    assert!(running.is_some(), "process {pid} still in runc init after 30 s");
}

/// Every PID in /proc.
pub fn processes() -> Vec<u32> {
    let entries = fs::read_dir("/proc").into_iter().flatten();
    entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// The children (zombies included) of every thread of `pid`.
pub fn children(pid: u32) -> BTreeSet<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return BTreeSet::new() };
    tasks
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|list| list.split_whitespace().filter_map(|pid| pid.parse().ok()).collect::<Vec<u32>>())
        .collect()
}

/// Whether `pid` exists and is not a zombie (which a non-reaping init, such
/// as a CI job container's `tail -f /dev/null`, may keep around).
pub fn is_running(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name, which is in parentheses.
    stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with(['Z', 'X']))
}

/// `pid`'s command line, each argument NUL-terminated (empty when it is
/// gone, a zombie, or a kernel thread).
pub fn cmdline(pid: u32) -> Vec<u8> {
    fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

/// A process's command line, for reports.
fn describe(pid: u32) -> String {
    String::from_utf8_lossy(&cmdline(pid)).replace('\0', " ").trim().to_string()
}

/// Sends `signal` to `pid`; a process that is already gone (ESRCH) is fine:
/// it may exit on its own at any moment.
fn signal(pid: u32, signal: i32) -> Result<(), String> {
    // SAFETY: kill(2) has no memory effects.
    if unsafe { libc::kill(pid as i32, signal) } == 0 {
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::ESRCH) => Ok(()),
        _ => Err(format!("kill({pid}, {signal}): {error}")),
    }
}

fn unmount(point: &Path) {
    let path = std::ffi::CString::new(point.as_os_str().as_bytes()).unwrap();
    // SAFETY: umount2(2) reads the NUL-terminated path only. Detached: a
    // mount still in use goes as soon as it is not.
    unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
}

/// A mount point as /proc/self/mountinfo writes it (space, tab, newline and
/// backslash as octal escapes).
fn unescape_mount_path(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            out.push(u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from(std::ffi::OsStr::from_bytes(&out)))
}

/// `folder` and every folder below it.
fn walk_dirs(folder: &Path, found: &mut Vec<PathBuf>) {
    found.push(folder.to_path_buf());
    if let Ok(entries) = fs::read_dir(folder) {
        for entry in entries.filter_map(Result::ok) {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                walk_dirs(&entry.path(), found);
            }
        }
    }
}

/// The shim socket a task bundle's `address` file names, under /run/containerd/s.
fn shim_socket(bundle: &Path) -> Option<PathBuf> {
    let address = fs::read_to_string(bundle.join("address")).ok()?;
    let path = PathBuf::from(address.trim().strip_prefix("unix://")?);
    path.starts_with(SHIM_SOCKETS).then_some(path)
}
