//! A one-node Kubernetes cluster of the release `scripts/stack` built: etcd,
//! kube-apiserver (its own CA and certificates, RBAC and the Node
//! authorizer), kube-controller-manager, kube-scheduler, containerd 2 with
//! our image as the pod sandbox, and the kubelet, which registers the node.
//!
//! - [`Cluster::start`] returns once the node is Ready, through the API.
//!   Everything lives under `<repo>/target/cluster/<name>-<pid>`; the
//!   control plane listens on loopback, the kubelet on the project's own
//!   bridge ([`network`]), where the pods get their addresses.
//! - [`Cluster::kubectl`] talks to it as a user would, as `system:masters`.
//! - [`Cluster::tear_down`] (also run on drop) deletes what the tests left
//!   through the API, stops every component by its PID, tears containerd
//!   down ([`crate::teardown`]), and removes the kubelet's cgroups, the
//!   bridge and the folder; it reports what it had to force and anything
//!   left: a process, mount, cgroup, network namespace, iptables rule,
//!   bridge or CNI cache entry.
//!
//! The kubelet runs as on a node with cgroup v1 controllers (this machine's
//! hybrid layout): `failCgroupV1: false`, the cgroupfs driver, its cgroups
//! under a root of its own; no swap check; no iptables chains of its own;
//! its files under the cluster's folder.

pub mod network;
pub mod pki;

use std::{
    fs,
    io::Write,
    net::{IpAddr, TcpListener},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use nix::sys::signal::Signal;

use crate::{
    containerd::{Cni, Containerd, Options},
    cri::Cri,
    output_text, poll,
    process::{self, signal},
    repo, secs, stack_bin, stack_bin_dir, with_default_signals,
};
use network::Network;
use pki::{KeyPair, Pki};

/// The node's name (the kubelet's certificate names it too).
pub const NODE: &str = "sleep-node";
/// The Services' range; its first address is the `kubernetes` Service's.
const SERVICE_RANGE: &str = "10.96.0.0/24";
const SERVICE_IP: &str = "10.96.0.1";
/// How long the control plane and the node may take to come up.
const START_LIMIT: Duration = Duration::from_secs(180);

/// One component's process and its log.
struct Component {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// What [`Cluster::tear_down`] did and found.
#[derive(Debug, Default)]
pub struct TearDown {
    /// What a clean run would not have needed: pods the kubelet left, a
    /// component that ignored SIGTERM, mounts, CNI cache entries.
    pub forced: Vec<String>,
    /// What is still there after all that: always a failure.
    pub left: Vec<String>,
}

impl TearDown {
    pub fn is_clean(&self) -> bool {
        self.forced.is_empty() && self.left.is_empty()
    }
}

/// A running cluster; torn down on drop.
pub struct Cluster {
    /// `<repo>/target/cluster/<name>-<pid>`.
    pub dir: PathBuf,
    /// The admin's kubeconfig (`system:masters`).
    pub kubeconfig: PathBuf,
    pub network: Network,
    /// The kubelet's cgroup root, in every hierarchy: `sleep-cluster-<pid>`.
    pub cgroup_root: String,
    containerd: Mutex<Option<Containerd>>,
    components: Mutex<Vec<Component>>,
    torn_down: AtomicBool,
}

/// A free TCP port on `address` (bound and released: the program that
/// binds it next is started right after).
fn free_port(address: IpAddr) -> u16 {
    let listener = TcpListener::bind((address, 0)).expect("binding a free port");
    listener.local_addr().unwrap().port()
}

/// A kubeconfig for `user`, authenticated by its client certificate.
fn kubeconfig(path: &Path, server: &str, ca: &Path, user: &str, pair: &KeyPair) -> PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sleep\n  cluster:\n    server: {server}\n    \
         certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    client-certificate: {cert}\n    \
         client-key: {key}\ncontexts:\n- name: sleep\n  context:\n    cluster: sleep\n    user: {user}\n\
         current-context: sleep\n",
        ca = ca.display(),
        cert = pair.cert.display(),
        key = pair.key.display(),
    );
    fs::write(path, text).unwrap();
    path.to_path_buf()
}

impl Cluster {
    /// Starts a cluster named `name` (unique among those running at once)
    /// and waits until its node is Ready.
    pub fn start(name: &str) -> Cluster {
        let number = std::process::id();
        let dir = repo().join("target/cluster").join(format!("{name}-{number}"));
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .unwrap_or_else(|error| panic!("{} from an earlier run: {error}", dir.display()));
        }
        fs::create_dir_all(dir.join("logs")).unwrap();
        let network =
            Network::create(&dir, number).unwrap_or_else(|error| panic!("the pods' network: {error}"));
        // From here on, drop tears everything down, whatever fails next.
        let mut cluster = Cluster {
            kubeconfig: dir.join("admin.kubeconfig"),
            cgroup_root: format!("sleep-cluster-{number}"),
            dir,
            network,
            containerd: Mutex::new(None),
            components: Mutex::new(Vec::new()),
            torn_down: AtomicBool::new(false),
        };
        cluster.start_components();
        cluster
    }

    fn start_components(&mut self) {
        let dir = self.dir.clone();
        let pki = Pki::create(&dir.join("pki"), NODE, SERVICE_IP).unwrap_or_else(|error| panic!("{error}"));
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let etcd_port = free_port(loopback);
        let etcd_peer_port = free_port(loopback);
        let api_port = free_port(loopback);
        let server = format!("https://127.0.0.1:{api_port}");
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer_port}");

        self.spawn(
            "etcd",
            &stack_bin("etcd"),
            &[
                "--name=sleep",
                &format!("--data-dir={}", dir.join("etcd").display()),
                &format!("--listen-client-urls={etcd_url}"),
                &format!("--advertise-client-urls={etcd_url}"),
                &format!("--listen-peer-urls={peer_url}"),
                &format!("--initial-advertise-peer-urls={peer_url}"),
                &format!("--initial-cluster=sleep={peer_url}"),
                // A test cluster's data need not survive a power cut.
                "--unsafe-no-fsync",
            ],
        );

        let path = |pair: &KeyPair| (pair.cert.display().to_string(), pair.key.display().to_string());
        let (api_cert, api_key) = path(&pki.apiserver);
        let (kubelet_client_cert, kubelet_client_key) = path(&pki.apiserver_kubelet_client);
        let ca = pki.ca.cert.display().to_string();
        self.spawn(
            "kube-apiserver",
            &stack_bin("kube-apiserver"),
            &[
                &format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1",
                &format!("--secure-port={api_port}"),
                // Its own address for the `kubernetes` Service's endpoints, which
                // may not be loopback: with no reconciler none is written.
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                &format!("--tls-cert-file={api_cert}"),
                &format!("--tls-private-key-file={api_key}"),
                &format!("--client-ca-file={ca}"),
                &format!("--service-account-key-file={}", pki.service_accounts.cert.display()),
                &format!("--service-account-signing-key-file={}", pki.service_accounts.key.display()),
                "--service-account-issuer=https://kubernetes.default.svc",
                &format!("--service-cluster-ip-range={SERVICE_RANGE}"),
                "--authorization-mode=Node,RBAC",
                &format!("--kubelet-client-certificate={kubelet_client_cert}"),
                &format!("--kubelet-client-key={kubelet_client_key}"),
                // The node by its address (exec, logs): its name is in no DNS.
                "--kubelet-preferred-address-types=InternalIP",
                "--profiling=false",
            ],
        );
        kubeconfig(&self.kubeconfig, &server, &pki.ca.cert, "admin", &pki.admin);
        let ready = poll(START_LIMIT, || {
            self.check_components();
            self.kubectl_output(&["get", "--raw=/readyz"]).status.success().then_some(())
        });
        assert!(ready.is_some(), "kube-apiserver not ready after {START_LIMIT:?}:\n{}", self.logs());

        let controller_manager = kubeconfig(
            &dir.join("controller-manager.kubeconfig"),
            &server,
            &pki.ca.cert,
            "system:kube-controller-manager",
            &pki.controller_manager,
        );
        let controller_manager = controller_manager.display().to_string();
        self.spawn(
            "kube-controller-manager",
            &stack_bin("kube-controller-manager"),
            &[
                &format!("--kubeconfig={controller_manager}"),
                &format!("--authentication-kubeconfig={controller_manager}"),
                &format!("--authorization-kubeconfig={controller_manager}"),
                &format!("--service-account-private-key-file={}", pki.service_accounts.key.display()),
                &format!("--root-ca-file={ca}"),
                &format!("--cluster-signing-cert-file={ca}"),
                &format!("--cluster-signing-key-file={}", pki.ca.key.display()),
                "--use-service-account-credentials",
                "--controllers=*",
                "--leader-elect=false",
                // No serving port: nothing reads its metrics.
                "--secure-port=0",
            ],
        );
        let scheduler = kubeconfig(
            &dir.join("scheduler.kubeconfig"),
            &server,
            &pki.ca.cert,
            "system:kube-scheduler",
            &pki.scheduler,
        );
        let scheduler = scheduler.display().to_string();
        self.spawn(
            "kube-scheduler",
            &stack_bin("kube-scheduler"),
            &[
                &format!("--kubeconfig={scheduler}"),
                &format!("--authentication-kubeconfig={scheduler}"),
                &format!("--authorization-kubeconfig={scheduler}"),
                "--leader-elect=false",
                "--secure-port=0",
            ],
        );

        let options = Options {
            cni: Some(Cni {
                conf_dir: self.network.conf_dir.clone(),
                bin_dirs: vec![network::CNI_PLUGINS.into()],
            }),
            // Pods' network namespaces under containerd's state folder, so
            // that its teardown finds what is left of them.
            runtime_settings: vec!["netns_mounts_under_state_dir = true".into()],
            detached: true,
        };
        let containerd = Containerd::start(&format!("node-{}", self.cgroup_root), options);
        let socket = containerd.socket.clone();
        *self.containerd.get_mut().unwrap() = Some(containerd);

        // The kubelet's cgroup root must exist in every hierarchy.
        for hierarchy in process::cgroup_hierarchies().into_iter().skip(1) {
            fs::create_dir_all(hierarchy.join(&self.cgroup_root))
                .unwrap_or_else(|error| panic!("{}: {error}", hierarchy.join(&self.cgroup_root).display()));
        }
        let node_ip: IpAddr = self.network.node_ip.parse().unwrap();
        let kubelet_port = free_port(node_ip);
        let kubelet_dir = dir.join("kubelet");
        fs::create_dir_all(&kubelet_dir).unwrap();
        let config = format!(
            r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {node_ip}
port: {kubelet_port}
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {ca}}}
authorization: {{mode: Webhook}}
# This machine's cgroups are hybrid (v1 controllers): 1.35+ refuses v1 unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /{cgroup_root}
failSwapOn: false
containerRuntimeEndpoint: unix://{socket}
podLogsDir: {kubelet_dir}/pod-logs
volumePluginDir: {kubelet_dir}/volume-plugins
# The node's iptables are the machine's: no chains of the kubelet's.
makeIPTablesUtilChains: false
# No image is ever pulled here: never collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {{memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%"}}
# root lacks CAP_SYS_RESOURCE here: no oom_score_adj of its own.
oomScoreAdj: 0
"#,
            cgroup_root = self.cgroup_root,
            socket = socket.display(),
            kubelet_dir = kubelet_dir.display(),
        );
        fs::write(kubelet_dir.join("config.yaml"), config).unwrap();
        let kubelet_kubeconfig = kubeconfig(
            &dir.join("kubelet.kubeconfig"),
            &server,
            &pki.ca.cert,
            &format!("system:node:{NODE}"),
            &pki.kubelet,
        );
        self.spawn(
            "kubelet",
            &stack_bin("kubelet"),
            &[
                &format!("--config={}", kubelet_dir.join("config.yaml").display()),
                &format!("--kubeconfig={}", kubelet_kubeconfig.display()),
                &format!("--root-dir={}", kubelet_dir.join("root").display()),
                &format!("--cert-dir={}", kubelet_dir.join("pki").display()),
                &format!("--hostname-override={NODE}"),
                &format!("--node-ip={node_ip}"),
            ],
        );
        let ready = poll(START_LIMIT, || {
            self.check_components();
            let node = self.kubectl_output(&["get", "node", NODE, "-o", "json"]);
            let node: serde_json::Value = serde_json::from_slice(&node.stdout).ok()?;
            let conditions = node["status"]["conditions"].as_array()?.clone();
            conditions
                .iter()
                .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
                .then_some(())
        });
        assert!(ready.is_some(), "node {NODE} not Ready after {START_LIMIT:?}:\n{}", self.logs());
        // Pods need their namespace's default service account, which the
        // controller manager makes.
        let accounts =
            poll(START_LIMIT, || self.get(&["serviceaccount", "default", "-n", "default"]).map(drop));
        assert!(accounts.is_some(), "no default service account after {START_LIMIT:?}:\n{}", self.logs());
    }

    /// Starts a component, with its log in `logs/<name>.log`.
    fn spawn(&mut self, name: &'static str, program: &Path, args: &[&str]) {
        let log = self.dir.join("logs").join(format!("{name}.log"));
        let file = fs::File::create(&log).unwrap();
        let path = std::env::join_paths(
            std::iter::once(stack_bin_dir())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        let mut command = Command::new(program);
        // Out of reach of a terminal's Ctrl-C: the program that started the
        // cluster catches it and stops each component in order.
        command.process_group(0);
        let child = with_default_signals(&mut command)
            .args(args)
            .current_dir(&self.dir)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|error| panic!("{}: {error}", program.display()));
        self.components.get_mut().unwrap().push(Component { name, child, log });
    }

    /// Panics, with the logs, if a component has exited.
    fn check_components(&mut self) {
        for component in self.components.get_mut().unwrap().iter_mut() {
            if let Ok(Some(status)) = component.child.try_wait() {
                let log = fs::read_to_string(&component.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!("{} exited ({status}):\n{}", component.name, tail.join("\n"));
            }
        }
    }

    /// The last lines of every component's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for component in self.lock_components().iter() {
            let log = fs::read_to_string(&component.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            text += &format!("--- {} ---\n{}\n", component.name, tail.join("\n"));
        }
        text
    }

    /// A component's whole log (`kubelet`, `kube-apiserver`, ...).
    pub fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join("logs").join(format!("{name}.log"))).unwrap_or_default()
    }

    fn lock_components(&self) -> MutexGuard<'_, Vec<Component>> {
        self.components.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_containerd(&self) -> MutexGuard<'_, Option<Containerd>> {
        self.containerd.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `f` with the node's containerd (to kill or restart it, say); other
    /// calls for it wait meanwhile.
    pub fn with_containerd<T>(&self, f: impl FnOnce(&mut Containerd) -> T) -> T {
        f(self.lock_containerd().as_mut().expect("the cluster's containerd is running"))
    }

    /// A CRI client to the node's containerd.
    pub fn cri(&self) -> Cri {
        self.with_containerd(|containerd| containerd.cri())
    }

    /// The node's containerd's socket (for crictl and ctr).
    pub fn containerd_socket(&self) -> PathBuf {
        self.with_containerd(|containerd| containerd.socket.clone())
    }

    /// `kubectl` as the cluster's admin.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(stack_bin("kubectl"));
        command.arg(format!("--kubeconfig={}", self.kubeconfig.display()));
        command
    }

    fn kubectl_output(&self, args: &[&str]) -> Output {
        self.kubectl().args(args).output().expect("kubectl")
    }

    /// `kubectl args`, which must succeed; its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl_output(args);
        assert!(output.status.success(), "kubectl {}: {}", args.join(" "), output_text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl apply` of `manifest` (YAML or JSON), which must succeed.
    pub fn apply(&self, manifest: &str) -> String {
        let mut child = self
            .kubectl()
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        child.stdin.take().unwrap().write_all(manifest.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "kubectl apply: {}\n{manifest}", output_text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl get args -o json`, parsed; `None` when kubectl fails (NotFound).
    pub fn get(&self, args: &[&str]) -> Option<serde_json::Value> {
        let output = self.kubectl().arg("get").args(args).args(["-o", "json"]).output().expect("kubectl");
        if !output.status.success() {
            return None;
        }
        serde_json::from_slice(&output.stdout).ok()
    }

    /// Makes namespace `name` and waits for its `default` service account
    /// (which every pod uses, and which the controller manager makes).
    pub fn create_namespace(&self, name: &str) {
        self.kubectl_ok(&["create", "namespace", name]);
        let made = poll(secs(60.0), || self.get(&["serviceaccount", "default", "-n", name]).map(drop));
        assert!(made.is_some(), "no default service account in {name} after 60 s");
    }

    /// The node's version facts: (kubelet version, container runtime), as
    /// the kubelet reports them (`v1.36.3`, `containerd://2.2.10`).
    pub fn node_versions(&self) -> (String, String) {
        let node = self.get(&["node", NODE]).expect("the node");
        let info = &node["status"]["nodeInfo"];
        (
            info["kubeletVersion"].as_str().unwrap_or_default().to_string(),
            info["containerRuntimeVersion"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Deletes what the tests left through the API, stops every component,
    /// tears containerd down and removes the rest; see [`TearDown`]. A
    /// second call does nothing.
    pub fn tear_down(&self) -> TearDown {
        let mut report = TearDown::default();
        if self.torn_down.swap(true, Ordering::SeqCst) {
            return report;
        }
        // Nothing here may panic: during an unwind that would abort and
        // leave everything running.
        let running = |name: &str| {
            self.lock_components()
                .iter_mut()
                .any(|component| component.name == name && matches!(component.child.try_wait(), Ok(None)))
        };
        if running("kube-apiserver") && running("kubelet") {
            // Workloads first (their controllers would make the pods
            // again), then the pods: the kubelet stops each as it would,
            // hooks cut to a second.
            for kinds in ["deployments,replicasets,daemonsets,statefulsets,jobs", "pods"] {
                let output = self
                    .kubectl()
                    .args([
                        "delete",
                        kinds,
                        "--all",
                        "--all-namespaces",
                        "--grace-period=1",
                        "--wait=true",
                        "--timeout=120s",
                    ])
                    .output();
                if let Ok(output) = output
                    && !output.status.success()
                {
                    report.forced.push(format!("kubectl delete {kinds}: {}", output_text(&output).trim()));
                }
            }
        }
        // The node first, the control plane after, each by its PID.
        for component in self.lock_components().iter_mut().rev() {
            if matches!(component.child.try_wait(), Ok(None)) {
                if let Err(error) = signal(component.child.id(), Signal::SIGTERM) {
                    report.left.push(error);
                }
                if poll(secs(20.0), || component.child.try_wait().ok().flatten()).is_none() {
                    report.forced.push(format!("{} ignored SIGTERM for 20 s: SIGKILLed", component.name));
                    let _ = component.child.kill();
                }
            }
            let _ = component.child.wait();
        }
        let containerd = self.lock_containerd().take();
        if let Some(mut containerd) = containerd {
            let containerd_report = containerd.tear_down();
            report
                .forced
                .extend(containerd_report.forced.into_iter().map(|line| format!("containerd: {line}")));
            report.left.extend(containerd_report.left.into_iter().map(|line| format!("containerd: {line}")));
        }
        // The kubelet's: its root folder, which it bind-mounts onto itself
        // (to share mounts with the containers), and pods' volumes (tmpfs)
        // under it, which only a pod it did not stop leaves.
        let kubelet_root = self.dir.join("kubelet/root");
        for point in process::mount_points_under(&[&self.dir]) {
            if point != kubelet_root {
                report.forced.push(format!("unmounted {}", point.display()));
            }
            if let Err(error) = process::unmount(&point) {
                report.left.push(error);
            }
        }
        // The kubelet's cgroups, which it never removes (kubepods and its
        // QoS classes); a pod's left in them would be forced.
        for hierarchy in process::cgroup_hierarchies().into_iter().skip(1) {
            let root = hierarchy.join(&self.cgroup_root);
            if !root.is_dir() {
                continue;
            }
            for folder in process::folders_below(&root) {
                let is_pod = folder.file_name().is_some_and(|name| name.to_string_lossy().starts_with("pod"));
                if poll(secs(5.0), || fs::remove_dir(&folder).is_ok().then_some(())).is_none() {
                    report.left.push(format!("cgroup {}", folder.display()));
                } else if is_pod {
                    report.forced.push(format!("removed pod cgroup {}", folder.display()));
                }
            }
        }
        for entry in self.network.cached_results() {
            report.forced.push(format!("removed CNI cache entry {}", entry.display()));
            let _ = fs::remove_file(&entry);
        }
        if let Err(error) = self.network.remove_bridge() {
            report.left.push(error);
        }
        if self.network.bridge_exists() {
            report.left.push(format!("bridge {}", self.network.bridge));
        }
        for rule in self.network.new_iptables_rules() {
            report.left.push(format!("iptables: {rule}"));
        }
        let dir = self.dir.to_string_lossy().into_owned();
        for pid in process::processes() {
            if process::cmdline(pid).iter().any(|arg| arg.contains(&dir)) && process::is_running(pid) {
                report.left.push(format!("process {pid}: {}", process::describe(pid)));
            }
        }
        if report.left.is_empty()
            && let Err(error) = fs::remove_dir_all(&self.dir)
        {
            report.left.push(format!("{}: {error}", self.dir.display()));
        }
        report
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let report = self.tear_down();
        if report.is_clean() {
            return;
        }
        if std::thread::panicking() {
            eprintln!("cluster teardown after a failure: {report:#?}");
        } else {
            panic!("cluster teardown not clean: {report:#?}");
        }
    }
}

/// A container `securityContext` that meets the restricted pod security
/// standard, as a platform team's charts set it: uid `user`, every
/// capability dropped, no privilege escalation, a read-only root and the
/// runtime's default seccomp profile.
pub fn restricted_security_context(user: u32) -> serde_json::Value {
    serde_json::json!({
        "runAsNonRoot": true,
        "runAsUser": user,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": { "drop": ["ALL"] },
        "seccompProfile": { "type": "RuntimeDefault" },
    })
}
