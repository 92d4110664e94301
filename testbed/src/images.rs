//! Images in our containerd: OCI archives imported by name, and app images
//! built with buildah the way `examples/Dockerfile.app` builds one.

use std::{collections::BTreeSet, fs, path::Path, process::Command, sync::atomic::Ordering};

use crate::{containerd::Containerd, output_text, repo, tool};

impl Containerd {
    /// The image names containerd has in `k8s.io`.
    pub fn image_names(&self) -> BTreeSet<String> {
        self.ctr_ok(&["images", "ls", "--quiet"]).lines().map(str::to_string).collect()
    }

    /// Imports an OCI archive holding one image (or index) into `k8s.io`
    /// and names it `name` (`repository:tag`), whatever ref name the archive
    /// gives it (a bare tag such as `0.1.0`, or a full name). Only names
    /// under `repository` come in (ctr's `--base-name`): CRI does not forget
    /// a name like `sleep:0.1.0` (which it shows as
    /// `docker.io/library/sleep:0.1.0`) once it is removed. CRI adds a name
    /// of its own for each image, its id (`sha256:...`), which stays.
    pub fn import_image(&self, archive: &Path, name: &str) {
        let (repository, _) = name.rsplit_once(':').expect("name is repository:tag");
        let before = self.image_names();
        let archive_path = archive.to_str().unwrap();
        self.ctr_ok(&["images", "import", "--all-platforms", "--base-name", repository, archive_path]);
        let imported: Vec<String> = self
            .image_names()
            .difference(&before)
            .filter(|imported| imported.starts_with(repository))
            .cloned()
            .collect();
        let first = imported
            .first()
            .unwrap_or_else(|| panic!("{}: nothing imported as {repository}", archive.display()));
        if !imported.iter().any(|imported| imported == name) {
            self.ctr_ok(&["images", "tag", "--force", first, name]);
        }
        for extra in imported.iter().filter(|imported| *imported != name) {
            self.ctr_ok(&["images", "rm", extra]);
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
        // buildah picks the host's platform out of our image's index.
        let archive = format!("oci-archive:{}", repo().join("dist/sleep-oci.tar").display());
        let ours = buildah(&["pull", "--quiet", &archive]);
        buildah(&["tag", ours.lines().last().unwrap(), &self.sandbox_image]);
        let work_text = work.display().to_string();
        buildah(&[
            "build",
            "--quiet",
            "--isolation",
            "chroot",
            "--pull=never",
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

    /// `examples/Dockerfile.app` as it builds here: nothing can be pulled,
    /// so its base is `scratch` instead of distroless (neither has a shell;
    /// distroless adds files `/sleep` never reads), and our image comes by
    /// its local name instead of ghcr.io. Its context needs `app`.
    pub fn app_containerfile(&self) -> String {
        let example = fs::read_to_string(repo().join("examples/Dockerfile.app")).unwrap();
        let from = example.lines().find(|line| line.starts_with("FROM ")).expect("Dockerfile.app has a FROM");
        let published = format!("ghcr.io/sleep-developers/sleep:{}", self.version);
        assert_eq!(example.matches(&published).count(), 1, "Dockerfile.app copies from {published}");
        example.replace(from, "FROM scratch").replace(&published, &self.sandbox_image)
    }

    /// [`Containerd::app_containerfile`] with `app` as its `/app`: the
    /// application image a user builds, with our `/sleep` copied in by
    /// `COPY --from=`.
    pub fn build_app_image(&self, name: &str, app: &Path) -> String {
        self.build_image(name, &self.app_containerfile(), &[(app, "app")])
    }
}

/// The web app (`testbed/web-app/`): an HTTP server on :8080 that exits at
/// once on SIGTERM, as most apps do; see [`go_program`].
pub fn web_app() -> std::path::PathBuf {
    go_program("testbed/web-app", "web-app")
}

/// The Go program in `source` (a folder of the repository with a main
/// package of the standard library only), built for this host with the Go
/// on PATH, static (`CGO_ENABLED=0`) and offline, stripped as its users
/// build it, into `target/go/<name>`; built again only when a source file
/// is newer. `bench/go-sleep`, the sleep preStop users copy, is built the
/// same way by the benchmark.
pub fn go_program(source: &str, name: &str) -> std::path::PathBuf {
    let source = repo().join(source);
    let cache = repo().join("target/go");
    let output = cache.join(name);
    let modified = |path: &Path| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    let newest_source =
        fs::read_dir(&source).into_iter().flatten().filter_map(|entry| modified(&entry.ok()?.path())).max();
    if modified(&output).is_some_and(|built| newest_source.is_some_and(|source| built >= source)) {
        return output;
    }
    let result = Command::new(tool("go"))
        .args(["build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o"])
        .arg(&output)
        .arg(".")
        .current_dir(&source)
        .env("CGO_ENABLED", "0")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOCACHE", cache.join("cache"))
        .env("GOPATH", cache.join("path"))
        .output()
        .expect("go build");
    assert!(result.status.success(), "go build of {}: {}", source.display(), output_text(&result));
    output
}
