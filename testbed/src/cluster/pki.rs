//! The cluster's certificates, made with openssl as `hack/local-up-cluster.sh`
//! makes them: one CA signs the API server's serving certificate and each
//! client's (the admin in `system:masters`, the controller manager, the
//! scheduler, the kubelet as `system:node:NODE` in `system:nodes`, the API
//! server towards the kubelets); and the key pair that signs service
//! account tokens. ECDSA P-256 keys, valid for two days.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{output_text, tool};

/// A certificate and its key, as files.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything the cluster's components are given.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: KeyPair,
    pub apiserver: KeyPair,
    pub apiserver_kubelet_client: KeyPair,
    pub admin: KeyPair,
    pub controller_manager: KeyPair,
    pub scheduler: KeyPair,
    pub kubelet: KeyPair,
    /// Signs service account tokens (`key`); checks them (`cert` is the public key).
    pub service_accounts: KeyPair,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let output =
        Command::new(tool("openssl")).args(args).current_dir(dir).output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("openssl {}: {}", args.join(" "), output_text(&output)))
    }
}

/// A new P-256 key and a certificate for `subject`, signed by `ca`, for
/// clients (no `names`) or for a server at `names` (`IP:...`, `DNS:...`).
fn issue(dir: &Path, ca: &KeyPair, name: &str, subject: &str, names: &[&str]) -> Result<KeyPair, String> {
    let pair = KeyPair { cert: dir.join(format!("{name}.crt")), key: dir.join(format!("{name}.key")) };
    let request = format!("{name}.csr");
    let extensions = format!("{name}.ext");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &request,
            "-subj",
            subject,
        ],
    )?;
    let usage = if names.is_empty() {
        "extendedKeyUsage=clientAuth\n".to_string()
    } else {
        format!("extendedKeyUsage=serverAuth\nsubjectAltName={}\n", names.join(","))
    };
    fs::write(dir.join(&extensions), usage).map_err(|e| e.to_string())?;
    let ca_cert = ca.cert.to_str().unwrap();
    let ca_key = ca.key.to_str().unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &request,
            "-CA",
            ca_cert,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &extensions,
            "-out",
            &format!("{name}.crt"),
        ],
    )?;
    Ok(pair)
}

impl Pki {
    /// Makes it all in `dir`, for a node called `node` whose kubelet the API
    /// server reaches at its address, and an API server answering on
    /// 127.0.0.1 and at the first address of the service range
    /// (`service_ip`, the `kubernetes` Service's).
    pub fn create(dir: &Path, node: &str, service_ip: &str) -> Result<Pki, String> {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ca = KeyPair { cert: dir.join("ca.crt"), key: dir.join("ca.key") };
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=sleep-test-cluster-ca",
            ],
        )?;
        let server_names = [
            "IP:127.0.0.1",
            &format!("IP:{service_ip}"),
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
        ];
        let apiserver = issue(dir, &ca, "apiserver", "/CN=kube-apiserver", &server_names)?;
        let apiserver_kubelet_client = issue(
            dir,
            &ca,
            "apiserver-kubelet-client",
            "/O=system:masters/CN=kube-apiserver-kubelet-client",
            &[],
        )?;
        let admin = issue(dir, &ca, "admin", "/O=system:masters/CN=admin", &[])?;
        let controller_manager =
            issue(dir, &ca, "controller-manager", "/CN=system:kube-controller-manager", &[])?;
        let scheduler = issue(dir, &ca, "scheduler", "/CN=system:kube-scheduler", &[])?;
        let kubelet = issue(dir, &ca, "kubelet", &format!("/O=system:nodes/CN=system:node:{node}"), &[])?;
        let service_accounts = KeyPair { cert: dir.join("sa.pub"), key: dir.join("sa.key") };
        openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key"])?;
        openssl(dir, &["ec", "-in", "sa.key", "-pubout", "-out", "sa.pub"])?;
        Ok(Pki {
            ca,
            apiserver,
            apiserver_kubelet_client,
            admin,
            controller_manager,
            scheduler,
            kubelet,
            service_accounts,
        })
    }
}
