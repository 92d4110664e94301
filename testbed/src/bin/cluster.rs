//! A one-node cluster to try things on by hand (`sleep_testbed::cluster`):
//!
//! ```text
//! cargo run --release -p sleep-testbed --bin cluster
//! ```
//!
//! prints `cluster: ready, KUBECONFIG=<path>` once its node is Ready, then
//! runs until Ctrl-C (or SIGTERM), when it tears the cluster down and says
//! whether anything was left. Needs root, `scripts/setup`, and `dist/` from
//! `scripts/build` and `scripts/image`.

use std::sync::mpsc;

use sleep_testbed::cluster::Cluster;

fn main() -> std::process::ExitCode {
    let (interrupted, interrupt) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = interrupted.send(());
    })
    .expect("a Ctrl-C handler");
    let cluster = Cluster::start("manual");
    println!("cluster: ready, KUBECONFIG={}", cluster.kubeconfig.display());
    let (kubelet, runtime) = cluster.node_versions();
    println!("cluster: kubelet {kubelet} on {runtime}; the pods' bridge {}", cluster.network.bridge);
    let _ = interrupt.recv();
    let report = cluster.tear_down();
    if report.is_clean() {
        eprintln!("cluster: interrupted; torn down, nothing left");
        std::process::ExitCode::from(130)
    } else {
        eprintln!("cluster: interrupted; the teardown: {report:#?}");
        std::process::ExitCode::FAILURE
    }
}
