//! A private containerd 2 with its CRI plugin, driven the way the kubelet
//! drives it, with our image as every pod's sandbox.
//!
//! ```no_run
//! use sleep_testbed::containerd::{Containerd, Options, PodOptions, restricted};
//!
//! let mut containerd = Containerd::start("example", Options::default());
//! let cri = containerd.cri(); // Clone + Send: one per thread is fine
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
//! - [`Containerd::start`] runs `scripts/stack`'s containerd, with its shim
//!   and runc, from a config of its own ([`Containerd::config`]): its own
//!   root, state, gRPC and ttrpc sockets, opt folder and runc root, all
//!   under `<repo>/target/cri/<name>-<pid>` (never under TMPDIR: an overlay
//!   upperdir cannot live on overlayfs, as /tmp is in CI's job container).
//!   Our image, `dist/sleep-oci.tar`, is imported into the `k8s.io`
//!   namespace as `localhost/sleep:<version>` ([`Containerd::sandbox_image`])
//!   and is the CRI plugin's pinned `sandbox` image: every pod's sandbox is
//!   our `/sleep infinity`, in place of `pause`.
//! - Networking: with no [`Options::cni`], private empty CNI folders: CRI
//!   reports `NetworkReady=false` and only host-network pods run.
//! - Cgroups: each pod's cgroup parent is `/<cgroup_root>/<pod name>` in
//!   every hierarchy, which teardown removes (the kubelet's job).
//!   containerd 1's `disable_cgroup` is gone in containerd 2, which ignores
//!   it with a warning; [`Containerd::start`] fails on any setting containerd
//!   ignores, naming it.
//! - [`Containerd::run_pod`] and [`Containerd::start_container`] return once
//!   the process runs its own program: `RunPodSandbox` and `StartContainer`
//!   return while `/proc/PID/cmdline` still reads `runc init`.
//! - [`Containerd::watch_task_exits`] records containerd's task-exit events
//!   (`ctr events`): the exit status of processes CRI does not report, such
//!   as the sandbox's.
//! - Teardown: see [`crate::teardown`].
//!
//! Needs root, `scripts/setup` (which builds the runtime) and `dist/` from
//! `scripts/build` and `scripts/image`.

use std::{
    collections::BTreeSet,
    fs,
    io::{BufRead, BufReader},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, PoisonError, atomic::AtomicU32},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::{
    cri::{Cri, api, pid_in_info},
    kill_and_reap, output_text, poll, process, repo, secs, stack_bin, stack_bin_dir, with_default_signals,
};

/// The containerd namespace CRI works in.
pub const NAMESPACE: &str = "k8s.io";
/// The longest unix socket path (`sun_path` holds 108 bytes with its NUL).
const SOCKET_PATH_MAX: usize = 107;

/// How to start containerd.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// More lines for the CRI plugin's runtime section
    /// (`[plugins.'io.containerd.cri.v1.runtime']`), `key = value` each.
    pub runtime_settings: Vec<String>,
    /// CNI: the folders of the network configuration and of the plugins.
    /// `None`: private empty folders, so only host-network pods run.
    pub cni: Option<Cni>,
    /// In a process group of its own, out of reach of a terminal's Ctrl-C,
    /// for programs that catch it and tear containerd down themselves.
    pub detached: bool,
}

/// Where the CRI plugin finds its pod network.
#[derive(Debug, Clone)]
pub struct Cni {
    pub conf_dir: PathBuf,
    pub bin_dirs: Vec<PathBuf>,
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

/// One task-exit event: a container's main process or an exec ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskExit {
    /// The container (for a pod's sandbox: the pod's id).
    pub container_id: String,
    /// The process: the container id again for its main process, else the exec's id.
    pub id: String,
    pub pid: u32,
    pub exit_status: u32,
    /// When it ended, by the wall clock.
    pub exited_at: SystemTime,
}

/// Our containerd, its CRI client, and everything it made; torn down on drop.
pub struct Containerd {
    /// `<repo>/target/cri/<name>-<pid>`: config, log, root, state, runc root.
    pub dir: PathBuf,
    /// The gRPC socket (CRI and containerd's own API).
    pub socket: PathBuf,
    /// Our image's local name, `localhost/sleep:<version>`: the sandbox image.
    pub sandbox_image: String,
    /// Cargo.toml's version.
    pub version: String,
    /// The cgroup every pod's parent is under (in every hierarchy), e.g.
    /// `sleep-cri-basic-1234`.
    pub cgroup_root: String,
    /// A folder made for the socket under /run when `dir` is too long for one.
    pub(crate) socket_dir: Option<PathBuf>,
    detached: bool,
    pub(crate) process: Option<Child>,
    pub(crate) cri: Cri,
    pub(crate) counter: AtomicU32,
    /// Ids of every sandbox and container made here, for finding what a
    /// killed runtime leaves.
    pub(crate) ids: Mutex<BTreeSet<String>>,
    pub(crate) torn_down: bool,
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

/// The project's version (Cargo.toml), which names our image.
pub fn project_version() -> String {
    let output = Command::new(repo().join("scripts/version")).output().expect("scripts/version");
    assert!(output.status.success(), "scripts/version: {}", output_text(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// What goes into a config: see [`Containerd::config`].
struct ConfigValues<'a> {
    dir: &'a Path,
    socket: &'a Path,
    sandbox_image: &'a str,
    runtime_settings: &'a [String],
    cni_conf_dir: PathBuf,
    cni_bin_dirs: Vec<PathBuf>,
}

impl Containerd {
    /// containerd's config (version 3, containerd 2's), written once here.
    fn config(values: &ConfigValues) -> String {
        let dir = values.dir.display();
        let bin_dirs: Vec<String> =
            values.cni_bin_dirs.iter().map(|dir| format!("\"{}\"", dir.display())).collect();
        format!(
            r#"version = 3
root = "{dir}/root"
state = "{dir}/state"
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
# Defaults to /opt/containerd.
[plugins.'io.containerd.internal.v1.opt']
  path = "{dir}/opt"
# NRI would listen on /var/run/nri/nri.sock, the machine's.
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  # containerd 2's setting for the pod sandbox image (containerd 1's
  # sandbox_image; the kubelet's --pod-infra-container-image is gone).
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{sandbox_image}"
[plugins.'io.containerd.cri.v1.runtime']
  # The sandbox's oom_score_adj of -998 needs CAP_SYS_RESOURCE, which root
  # may lack (runc then fails: "can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  disable_apparmor = true
{runtime_settings}  [plugins.'io.containerd.cri.v1.runtime'.cni]
    conf_dir = "{cni_conf_dir}"
    bin_dirs = [{bin_dirs}]
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        Root = "{dir}/runc"
        SystemdCgroup = false
[plugins.'io.containerd.grpc.v1.cri']
  # Exec and attach streams; ExecSync needs none. Loopback, any free port.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"#,
            socket = values.socket.display(),
            sandbox_image = values.sandbox_image,
            runtime_settings =
                values.runtime_settings.iter().map(|line| format!("  {line}\n")).collect::<String>(),
            cni_conf_dir = values.cni_conf_dir.display(),
            bin_dirs = bin_dirs.join(", "),
            runc = stack_bin("runc").display(),
        )
    }

    /// Starts a private containerd named `name` (unique among the tests
    /// running at once), waits until CRI answers, and imports our image as
    /// the sandbox image.
    pub fn start(name: &str, options: Options) -> Containerd {
        let version = project_version();
        let archive = repo().join("dist/sleep-oci.tar");
        assert!(archive.is_file(), "{} is missing: run scripts/build and scripts/image", archive.display());

        let unique = format!("{name}-{}", std::process::id());
        let dir = repo().join("target/cri").join(&unique);
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .unwrap_or_else(|error| panic!("{} from an earlier run: {error}", dir.display()));
        }
        fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
        let (cni_conf_dir, cni_bin_dirs) = match &options.cni {
            Some(cni) => (cni.conf_dir.clone(), cni.bin_dirs.clone()),
            // Private and empty: otherwise containerd creates /etc/cni/net.d.
            None => (dir.join("cni/conf"), vec![dir.join("cni/bin")]),
        };
        for folder in std::iter::once(&cni_conf_dir).chain(&cni_bin_dirs) {
            fs::create_dir_all(folder).unwrap();
        }
        // The ttrpc socket's name is the longer one.
        let (sockets, socket_dir) =
            socket_folder(&dir, "containerd.sock.ttrpc", &format!("sleep-cri-{unique}"))
                .unwrap_or_else(|error| panic!("a folder for containerd's socket: {error}"));
        let socket = sockets.join("containerd.sock");
        let sandbox_image = format!("localhost/sleep:{version}");
        let config = Containerd::config(&ConfigValues {
            dir: &dir,
            socket: &socket,
            sandbox_image: &sandbox_image,
            runtime_settings: &options.runtime_settings,
            cni_conf_dir,
            cni_bin_dirs,
        });
        fs::write(dir.join("config.toml"), config).unwrap();
        let cri = Cri::new(&socket);
        // From here on, drop tears everything down, whatever fails next.
        let mut this = Containerd {
            cgroup_root: format!("sleep-cri-{unique}"),
            dir,
            socket,
            sandbox_image,
            version,
            socket_dir,
            detached: options.detached,
            process: None,
            cri,
            counter: AtomicU32::new(0),
            ids: Mutex::new(BTreeSet::new()),
            torn_down: false,
        };
        this.run();
        let sandbox_image = this.sandbox_image.clone();
        this.import_image(&archive, &sandbox_image);
        this
    }

    /// Starts the daemon from its config (appending to its log) and waits
    /// until CRI answers and says the runtime is ready.
    fn run(&mut self) {
        let log =
            fs::OpenOptions::new().create(true).append(true).open(self.dir.join("containerd.log")).unwrap();
        // Its shim (`containerd-shim-runc-v2`) is looked up on PATH: ours first.
        let path = std::env::join_paths(
            std::iter::once(stack_bin_dir())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        let mut command = Command::new(stack_bin("containerd"));
        if self.detached {
            command.process_group(0);
        }
        // Default dispositions: the shims and the containers inherit containerd's.
        let process = with_default_signals(&mut command)
            .arg("--config")
            .arg(self.dir.join("config.toml"))
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd");
        self.process = Some(process);
        let up = poll(secs(30.0), || {
            let exited = self.process.as_mut().unwrap().try_wait().unwrap();
            assert!(exited.is_none(), "containerd exited ({exited:?}):\n{}", self.log());
            self.socket.exists().then_some(())
        });
        assert!(up.is_some(), "no socket {} after 30 s:\n{}", self.socket.display(), self.log());
        let ready = poll(secs(30.0), || {
            let conditions = self.cri.conditions().ok()?;
            conditions.get("RuntimeReady").copied().unwrap_or(false).then_some(())
        });
        assert!(ready.is_some(), "CRI not RuntimeReady after 30 s:\n{}", self.log());
        // containerd goes on without a setting it does not know (one of
        // containerd 1's, a typo): stop here instead, naming it.
        let ignored = ignored_settings(&self.log());
        let config = self.dir.join("config.toml");
        assert!(ignored.is_empty(), "containerd ignored these settings of {}: {ignored:?}", config.display());
    }

    /// Starts containerd again after [`Containerd::kill`], from the same
    /// config and state, as a node's service manager would; returns once it
    /// is ready. What it runs was left running by the kill.
    pub fn restart(&mut self) {
        assert!(
            self.process.as_mut().is_none_or(|process| !matches!(process.try_wait(), Ok(None))),
            "containerd is running"
        );
        self.run();
    }

    /// Pins `image` as the CRI plugin's `sandbox` image, in place of ours,
    /// and restarts containerd to read it, as a node's operator does: it
    /// stops by SIGTERM (what it runs stays), then starts again from the
    /// same config and state; returns once it is ready. The image must be in
    /// `k8s.io` already (nothing can be pulled here), and every pod made
    /// from then on gets it; pods already running keep theirs.
    /// [`Containerd::sandbox_image`] stays our image's name.
    pub fn restart_with_sandbox_image(&mut self, image: &str) {
        let path = self.dir.join("config.toml");
        let config = fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let config = with_sandbox_image(&config, image);
        if let Some(process) = &mut self.process
            && matches!(process.try_wait(), Ok(None))
        {
            process::signal(process.id(), nix::sys::signal::Signal::SIGTERM)
                .unwrap_or_else(|error| panic!("stopping containerd: {error}"));
            if poll(secs(10.0), || process.try_wait().ok().flatten()).is_none() {
                panic!("containerd ignored SIGTERM for 10 s:\n{}", self.log());
            }
        }
        fs::write(&path, config).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        self.run();
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
        let mut command = Command::new(stack_bin("ctr"));
        command.arg("--address").arg(&self.socket).args(["--namespace", NAMESPACE]);
        command
    }

    /// `ctr args`, which must succeed; its stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let output = self.ctr().args(args).output().unwrap();
        assert!(output.status.success(), "ctr {}: {}", args.join(" "), output_text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
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
        let socket = self.socket.to_string_lossy();
        process::processes()
            .into_iter()
            .filter(|&pid| {
                let cmdline = process::cmdline(pid);
                let is_shim = cmdline.first().is_some_and(|program| {
                    Path::new(program)
                        .file_name()
                        .is_some_and(|name| name.to_string_lossy().starts_with("containerd-shim"))
                });
                is_shim && cmdline.iter().any(|arg| *arg == socket)
            })
            .collect()
    }

    /// The ids of every sandbox and container made here.
    pub(crate) fn ids(&self) -> BTreeSet<String> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).clone()
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
        exited_at: UNIX_EPOCH
            + Duration::new(
                event["exited_at"]["seconds"].as_u64().unwrap_or(0),
                event["exited_at"]["nanos"].as_u64().unwrap_or(0) as u32,
            ),
    })
}

/// `config` (as [`Containerd::config`] writes it) with `image` as its
/// pinned sandbox image: the one `sandbox = "..."` line rewritten.
fn with_sandbox_image(config: &str, image: &str) -> String {
    let is_sandbox_line = |line: &&str| line.trim_start().starts_with("sandbox = ");
    assert_eq!(config.lines().filter(is_sandbox_line).count(), 1, "one sandbox line in:\n{config}");
    config
        .lines()
        .map(|line| {
            if is_sandbox_line(&line) {
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}sandbox = \"{image}\"\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

/// The settings containerd's log says it ignored, as `plugin: key`.
fn ignored_settings(log: &str) -> Vec<String> {
    let field = |line: &str, name: &str| {
        let start = line.find(&format!(" {name}="))? + name.len() + 2;
        line[start..].split_whitespace().next().map(|value| value.trim_matches('"').to_string())
    };
    log.lines()
        .filter(|line| line.contains("Ignoring unknown key"))
        .map(|line| {
            let plugin = field(line, "plugin").unwrap_or_default();
            let key = field(line, "key").unwrap_or_default();
            format!("{plugin}: {key}")
        })
        .collect()
}

/// Waits until `pid` is past `runc init` (which execs the container's
/// program), or gone.
fn wait_until_exec_done(pid: u32) {
    let running = poll(secs(30.0), || {
        let cmdline = process::cmdline(pid);
        let gone = !Path::new(&format!("/proc/{pid}")).exists();
        let in_runc_init =
            cmdline.is_empty() || cmdline.starts_with(&["runc".to_string(), "init".to_string()]);
        (gone || !in_runc_init).then_some(())
    });
    assert!(running.is_some(), "process {pid} still in runc init after 30 s");
}

#[cfg(test)]
mod tests {
    use super::with_sandbox_image;

    #[test]
    fn the_sandbox_line_alone_changes_with_its_indent() {
        let config = "[plugins.'io.containerd.cri.v1.images']\n  snapshotter = \"overlayfs\"\n  \
                      [plugins.'io.containerd.cri.v1.images'.pinned_images]\n    \
                      sandbox = \"localhost/sleep:0.1.0\"\n[grpc]\n";
        let expected = config.replace("localhost/sleep:0.1.0", "localhost/catatonit:test");
        assert_eq!(with_sandbox_image(config, "localhost/catatonit:test"), expected);
    }
}
