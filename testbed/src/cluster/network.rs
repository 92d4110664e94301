//! The pods' network: a Linux bridge of the project's own, with the node's
//! address on it, and a CNI configuration that puts each pod on it with an
//! address of its own (Debian's `containernetworking-plugins`: bridge,
//! host-local, loopback). No masquerading and no port mapping, so CNI adds
//! no iptables rule; nothing leaves the machine: the pods reach the node
//! and each other, and the node reaches them.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{output_text, tool};

/// Where Debian's `containernetworking-plugins` puts the CNI plugins.
pub const CNI_PLUGINS: &str = "/usr/lib/cni";

/// The bridge and the pods' subnet.
#[derive(Debug, Clone)]
pub struct Network {
    /// The bridge's interface name (at most 15 bytes).
    pub bridge: String,
    /// `10.233.N.0/24`.
    pub subnet: String,
    /// `10.233.N.1`: the node's address on the bridge, the pods' gateway.
    pub node_ip: String,
    /// The CNI network's name, in its configuration and in CNI's caches.
    pub name: String,
    /// The folder with the CNI configuration.
    pub conf_dir: PathBuf,
    /// `iptables-save`'s rules before the bridge came.
    iptables_before: BTreeSet<String>,
}

fn ip(args: &[&str]) -> Result<String, String> {
    let output = Command::new(tool("ip")).args(args).output().map_err(|e| format!("ip: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("ip {}: {}", args.join(" "), output_text(&output)))
    }
}

/// Every rule and chain `iptables-save` shows, counters left out.
pub fn iptables_rules() -> BTreeSet<String> {
    let Ok(output) = Command::new(tool("iptables-save")).output() else { return BTreeSet::new() };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("COMMIT"))
        .map(|line| line.split(" [").next().unwrap_or(line).to_string())
        .collect()
}

impl Network {
    /// Makes the bridge `sleep-<number>` with the node's address on the
    /// first free `10.233.X.0/24` (X from `number`, then the next ones: each
    /// cluster running at once has its own), and the CNI configuration in
    /// `dir/cni`.
    pub fn create(dir: &Path, number: u32) -> Result<Network, String> {
        let bridge = format!("sleep-{}", number % 100_000_000);
        if ip(&["link", "show", &bridge]).is_ok() {
            return Err(format!("bridge {bridge} exists already"));
        }
        let free = (0..250).map(|step| (number + step) % 250 + 1).find(|octet| {
            ip(&["route", "show", &format!("10.233.{octet}.0/24")])
                .is_ok_and(|routes| routes.trim().is_empty())
        });
        let octet = free.ok_or("no free 10.233.X.0/24 subnet")?;
        let network = Network {
            bridge,
            subnet: format!("10.233.{octet}.0/24"),
            node_ip: format!("10.233.{octet}.1"),
            name: format!("sleep-pods-{number}"),
            conf_dir: dir.join("cni/conf"),
            iptables_before: iptables_rules(),
        };
        fs::create_dir_all(&network.conf_dir).map_err(|e| e.to_string())?;
        let ipam_dir = dir.join("cni/ipam");
        let config = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": network.name,
            "plugins": [{
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": network.subnet, "gateway": network.node_ip }]],
                    // Its leases, ours: host-local's default is /var/lib/cni/networks.
                    "dataDir": ipam_dir,
                },
            }],
        });
        fs::write(network.conf_dir.join("10-sleep.conflist"), serde_json::to_vec_pretty(&config).unwrap())
            .map_err(|e| e.to_string())?;
        // The bridge before the kubelet starts: its --node-ip must be an
        // address of this host. The bridge plugin takes it as it finds it.
        ip(&["link", "add", &network.bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{}/24", network.node_ip), "dev", &network.bridge])?;
        ip(&["link", "set", &network.bridge, "up"])?;
        Ok(network)
    }

    /// Whether the bridge is there.
    pub fn bridge_exists(&self) -> bool {
        ip(&["link", "show", &self.bridge]).is_ok()
    }

    /// Removes the bridge (with it go its address and route).
    pub fn remove_bridge(&self) -> Result<(), String> {
        if self.bridge_exists() { ip(&["link", "delete", &self.bridge]).map(drop) } else { Ok(()) }
    }

    /// iptables rules that came since [`Network::create`] and name our
    /// bridge or subnet, or a chain of Kubernetes' (`KUBE-`) or of CNI's.
    pub fn new_iptables_rules(&self) -> Vec<String> {
        iptables_rules()
            .difference(&self.iptables_before)
            .filter(|rule| {
                rule.contains(&self.bridge)
                    || rule.contains(&self.subnet)
                    || rule.contains("KUBE-")
                    || rule.contains("CNI-")
            })
            .cloned()
            .collect()
    }

    /// CNI's own cache of what it set up, per container: libcni writes it
    /// under /var/lib/cni/results, named by the network.
    pub fn cached_results(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir("/var/lib/cni/results") else { return Vec::new() };
        entries
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|path| {
                path.file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(&format!("{}-", self.name)))
            })
            .collect()
    }
}
