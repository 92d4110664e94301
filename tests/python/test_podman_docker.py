"""The release image the way a user first tries it on a laptop: Podman and
Docker, each loading dist/sleep-oci.tar and running the README's commands as
written (its "Without a registry" part, between the without-registry markers).

Podman (rootful, Debian's 4.3) runs from a private containers.conf, storage
and run root: this machine's quirks (no CAP_SYS_RESOURCE, hybrid cgroups)
are settings there, not in the commands. Docker is Debian's dockerd 20.10,
the classic image store, started privately with its own data and exec roots,
socket and containerd namespaces, and stopped by its PID (it stops its own
containerd). Nothing is left behind: containers are removed, the daemons
stopped, and the test checks no mount, process or cgroup folder of its own
remains. (Podman 4.3's oci-archive reader unpacks into a temporary folder
under /var/tmp, which no option moves, and removes it; and, as for buildah
and skopeo, the containers/image library keeps its small digest cache in
/var/lib/containers/cache.)
"""

import os
import re
import resource
import shlex
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (
    CGROUPS, REPO, cargo_package, cgroup_folders, default_signals, docker_platform, host_arch, mounts_under,
    processes_naming, runtime_state_dir, stop_process,
)

VERSION = cargo_package()["version"]
# dockerd makes its plugin folder here whatever its exec root; removed
# afterwards, when empty, if this test made it.
DOCKER_PLUGINS = Path("/run/docker/plugins")
IMAGE = f"localhost/sleep:{VERSION}"
USAGE_ERROR = "sleep: invalid time interval 'abc'\nTry 'sleep --help' for more information.\n"

README = REPO / "README.md"


def readme_commands() -> list[str]:
    """The commands of the README's "Without a registry" part, between its
    markers: each line of its sh blocks (less comments), then each code span
    of its prose (one that wraps a line joined again)."""
    text = README.read_text()
    assert "<!-- without-registry:start -->" in text and "<!-- without-registry:end -->" in text, (
        "README.md lost the without-registry markers this test reads its commands between"
    )
    part = text.split("<!-- without-registry:start -->")[1].split("<!-- without-registry:end -->")[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", part, flags=re.S | re.M)
    lines = [re.sub(r"\s+#.*$", "", line).strip() for block in blocks for line in block.splitlines()]
    prose = re.sub(r"^```.*?^```", "", part, flags=re.S | re.M)
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return [line for line in lines if line] + spans


def readme_command(pattern: str) -> str:
    """The one README command matching `pattern` (a regex, from its start)."""
    found = [line for line in readme_commands() if re.match(pattern, line)]
    assert len(found) == 1, f"README.md, without-registry: {len(found)} commands match {pattern!r}: {found}"
    return found[0]


def argv(line: str, container: str = "") -> list[str]:
    """A README line split as the shell splits it; `"$c"` is the container
    that the keep-alive line (`c=$(...)`) started."""
    if match := re.fullmatch(r"c=\$\((.*)\)", line):
        line = match.group(1)
    return shlex.split(line.replace('"$c"', shlex.quote(container)))


def short_run_dir(prefix: str) -> Path:
    """A fresh folder under /run, for runtime state with socket paths: a long
    run root made Podman wait 20 s for conmon, and sockets have a 108-byte limit."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/run"))


class Runtime:
    """The podman or docker client, with its private setup in `env` and
    `options`, running the README's commands from the repository root."""

    def __init__(self, program: str, options: list[str], env: dict[str, str]):
        self.program, self.options, self.env = program, options, env

    def run(self, args: list[str], timeout=120, check=False, cwd=REPO) -> tuple[subprocess.CompletedProcess, float]:
        assert args[0] == self.program, args
        start = time.monotonic()
        # Default dispositions: podman starts conmon and the containers, which
        # inherit its own.
        result = subprocess.run(
            [self.program, *self.options, *args[1:]], cwd=cwd, env=self.env,
            capture_output=True, text=True, timeout=timeout, preexec_fn=default_signals,
        )
        elapsed = time.monotonic() - start
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result, elapsed

    def line(self, pattern: str) -> str:
        """The README's command of this client matching `pattern`."""
        return readme_command(rf"(c=\$\()?{self.program} {pattern}")

    def readme(self, pattern: str, container: str = "", **kwargs):
        """Runs the README's command matching `pattern`, as written."""
        return self.run(argv(self.line(pattern), container), **kwargs)

    def __call__(self, *args, **kwargs) -> str:
        """A command of the test's own (inspecting, cleaning up); must succeed."""
        result, _ = self.run([self.program, *args], check=True, **kwargs)
        return result.stdout.strip()


@pytest.fixture(scope="module")
def podman():
    assert shutil.which("podman"), "podman missing: run scripts/setup"
    state = runtime_state_dir("podman")
    run_root = short_run_dir("sleep-podman-")
    # Podman's cgroup parent, in each hierarchy; removed at the end if this
    # test made it and no one else uses it.
    parents_before = set(cgroup_folders("libpod_parent"))
    hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # - ulimits: Podman's defaults need CAP_SYS_RESOURCE, which root lacks
    #   here (rc 126, "error setting rlimit"); nofile at most the hard limit.
    # - pids_limit 0: no pids.max write (it failed under a cgroup v2 simulation).
    # - netns none: rootful Podman would otherwise make a bridge network.
    # - no-conmon: conmon stays out of the shared libpod_parent cgroup.
    # - runc: crun, Podman's default, fails on hybrid cgroups.
    # - tmp_dir, image_copy_tmp_dir, network_config_dir: off the machine's
    #   /run/libpod, /var/tmp and /etc/cni. (runc keeps its state in its
    #   default /run/runc: with --runtime-flag root=, Podman's cleanup missed
    #   it and left each container's cgroup folders.)
    (state / "containers.conf").write_text(f"""\
[containers]
default_ulimits = ["nofile={hard_nofile}:{hard_nofile}", "nproc=32768:32768"]
pids_limit = 0
netns = "none"
cgroups = "no-conmon"

[engine]
runtime = "runc"
tmp_dir = "{run_root}/libpod"
image_copy_tmp_dir = "{state}"
events_logger = "file"
events_logfile_path = "{state}/events.log"

[network]
network_config_dir = "{state}/cni"
""")
    env = {**os.environ, "CONTAINERS_CONF": str(state / "containers.conf"), "TMPDIR": str(state)}
    options = ["--root", str(state / "root"), "--runroot", str(run_root), "--storage-driver", "vfs"]
    runtime = Runtime("podman", options, env)
    try:
        yield runtime
    finally:
        runtime.run(["podman", "rm", "--all", "--force", "--time", "0"])
        runtime.run(["podman", "rmi", "--all", "--force"])
        left = processes_naming(str(run_root), str(state))
        leftovers = mounts_under(state, run_root)
        # Every container this test made, from Podman's event log; runc
        # removes each one's cgroup (libpod_parent/libpod-ID) with it.
        events = state / "events.log"
        made = set(re.findall(r'"ID":"([0-9a-f]{64})"', events.read_text())) if events.exists() else set()
        cgroups = [path for path in CGROUPS.glob("**/libpod_parent/*")
                   if any(container in path.name for container in made)]
        for parent in cgroup_folders("libpod_parent"):
            if parent not in parents_before:
                try:
                    parent.rmdir()
                except OSError:
                    pass   # another Podman's containers are in it now
        for point in reversed(leftovers):
            subprocess.run(["umount", "--lazy", point], check=False)
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(run_root, ignore_errors=True)
        assert made, "no container in Podman's event log: the leftover check would see none"
        assert not leftovers, f"mounts left behind: {leftovers}"
        assert not left, f"processes left behind: {left}"
        assert not cgroups, f"cgroup folders left behind: {cgroups}"


@pytest.fixture(scope="module")
def podman_loaded(podman):
    result, _ = podman.readme("load -i dist/", check=True)
    assert result.stdout.strip() == f"Loaded image: {IMAGE}", result.stdout
    return IMAGE


class ReadmeCommands:
    """The README's run, wrong-operand and keep-alive commands, the same for
    Podman and Docker; each runtime's class gives its `client` (loaded with the
    image) and how it force-removes a container."""

    remove_container: list[str]

    def test_run_sleeps_and_exits_0(self, client):
        result, elapsed = client.readme(r"run --rm \S+ 0\.1$")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert 0.1 <= elapsed < 30, elapsed

    def test_run_with_a_wrong_operand_exits_1_with_the_message(self, client):
        result, _ = client.run([*argv(client.line(r"run --rm \S+ 0\.1$"))[:-1], "abc"])
        assert (result.returncode, result.stdout, result.stderr) == (1, "", USAGE_ERROR)

    def test_keepalive_takes_a_hook_exec_then_stops_with_143_at_once(self, client):
        result, _ = client.readme("run -d ", check=True)
        container = result.stdout.strip()
        try:
            assert client("inspect", "--format", "{{.State.Running}} {{.HostConfig.ReadonlyRootfs}}",
                          container) == "true true"
            hook, elapsed = client.readme(r'exec "\$c" ', container)
            assert (hook.returncode, hook.stderr) == (0, ""), hook.stderr
            assert 1 <= elapsed < 30, elapsed
            stop, elapsed = client.readme("stop ", container)
            assert stop.returncode == 0, stop.stderr
            # SIGTERM, handled at once: far below the 10 s before SIGKILL.
            assert elapsed < 1, elapsed
            assert client("inspect", "--format", "{{.State.ExitCode}}", container) == "143"
        finally:
            client.run([*self.remove_container, container])


class TestPodman(ReadmeCommands):
    remove_container = ["podman", "rm", "--force", "--time", "0"]

    @pytest.fixture
    def client(self, podman, podman_loaded):
        return podman

    def test_load_names_the_image_localhost_sleep_version(self, podman, podman_loaded):
        names = podman("images", "--format", "{{.Repository}}:{{.Tag}}").split()
        assert names == [IMAGE]
        # The machine's own platform (arches.txt), picked from the index.
        # (Podman 4.3's inspect has no Variant field.)
        architecture, _ = docker_platform(host_arch())
        assert podman("image", "inspect", "--format", "{{.Architecture}}", IMAGE) == architecture

    def test_pull_from_the_oci_archive_gives_the_same_name_and_image(self, podman, podman_loaded):
        loaded = podman("image", "inspect", "--format", "{{.Id}}", IMAGE)
        # The README's pull of another platform, for the machine's own.
        pull = argv(podman.line("pull --arch arm64 "))
        result, _ = podman.run([word for word in pull if word not in ("--arch", "arm64")], check=True)
        assert result.stdout.split()[-1] == loaded
        assert podman("images", "--format", "{{.Repository}}:{{.Tag}}").split() == [IMAGE]

    def test_build_copies_sleep_from_the_local_name_and_runs_the_hook(self, podman, podman_loaded, tmp_path):
        """examples/Dockerfile.app with our image by its local name, on a
        scratch base (no registry here); the app is /sleep itself, so the
        container stays up for the hook."""
        original = (REPO / "examples/Dockerfile.app").read_text()
        (registry_copy,) = re.findall(r"^COPY --from=\S+ /sleep /sleep$", original, flags=re.M)
        local_copy = readme_command("COPY --from=")
        assert local_copy == f"COPY --from={IMAGE} /sleep /sleep"
        containerfile = original.replace(registry_copy, local_copy)
        containerfile = containerfile.replace("FROM gcr.io/distroless/static-debian12:nonroot", "FROM scratch")
        containerfile = containerfile.replace("COPY app /app", "COPY --from=" + IMAGE + " /sleep /app")
        context = tmp_path / "context"
        context.mkdir()
        (context / "Dockerfile.app").write_text(containerfile)
        result, _ = podman.run(["podman", "build", "-t", "localhost/app", "-f", str(context / "Dockerfile.app"),
                                str(context)])
        assert result.returncode == 0, result.stderr
        started, _ = podman.run([*argv(podman.line("run -d "))[:-1], "localhost/app", "infinity"], check=True)
        container = started.stdout.strip()
        try:
            hook, elapsed = podman.readme(r'exec "\$c" ', container)
            assert (hook.returncode, hook.stderr) == (0, ""), hook.stderr
            assert 1 <= elapsed < 30, elapsed
            bare, _ = podman.run(["podman", "exec", container, "sleep", "1"])
            assert bare.returncode == 127
            assert "executable file not found in $PATH" in bare.stderr
        finally:
            podman.run([*self.remove_container, container])
            podman.run(["podman", "rmi", "--force", "localhost/app"])

    def test_pull_arch_arm64_picks_that_platform(self, podman, podman_loaded):
        # Last: the arm64 image takes the name from the host's.
        result, _ = podman.readme("pull --arch arm64 ", check=True)
        image_id = result.stdout.split()[-1]
        assert podman("image", "inspect", "--format", "{{.Architecture}}", image_id) == "arm64"
        assert podman("image", "inspect", "--format", "{{.Id}}", IMAGE) == image_id


class Dockerd:
    """A private dockerd: its data under target/runtime, its exec root and
    socket in a short folder under /run, its own containerd namespaces and
    cgroup parent; the client reaches it through DOCKER_HOST."""

    def __init__(self):
        self.state = runtime_state_dir("docker")
        self.run_root = short_run_dir("sleep-docker-")
        # containerd namespaces allow only [A-Za-z0-9] runs joined by . _ -, and
        # mkdtemp's suffix may end in "_" or hold "__": a name of our own.
        self.name = f"sleep-docker-{secrets.token_hex(4)}"
        self.plugins_existed = DOCKER_PLUGINS.exists()
        self.socket = self.run_root / "docker.sock"
        (self.state / "daemon.json").write_text("{}\n")   # not the machine's /etc/docker/daemon.json
        (self.state / "client").mkdir()
        self.log = open(self.state / "dockerd.log", "w")
        self.process = subprocess.Popen(
            ["dockerd", "--config-file", str(self.state / "daemon.json"),
             "--data-root", str(self.state / "root"), "--exec-root", str(self.run_root / "exec"),
             "-H", f"unix://{self.socket}", "--pidfile", str(self.run_root / "docker.pid"),
             "--iptables=false", "--bridge=none", "--storage-driver", "vfs",
             "--containerd-namespace", self.name, "--containerd-plugins-namespace", f"{self.name}-plugins",
             "--cgroup-parent", f"/{self.name}"],
            stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=default_signals,   # its containerd, shims and containers inherit them
        )
        env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": str(self.state / "client")}
        self.client = Runtime("docker", [], env)

    def wait_ready(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.state / "dockerd.log").read_text()
            if self.socket.exists() and self.client.run(["docker", "version"], timeout=10)[0].returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"dockerd not ready in 60 s: {(self.state / 'dockerd.log').read_text()}")

    def stop(self):
        """Removes every container, stops dockerd by its PID (it stops its
        containerd), and checks what is left."""
        try:
            if self.process.poll() is None:
                listed, _ = self.client.run(["docker", "ps", "--all", "--quiet"], timeout=30)
                for container in listed.stdout.split():
                    self.client.run(["docker", "rm", "--force", container], timeout=30)
        finally:
            stop_process(self.process, timeout=30)
            self.log.close()
        # Its containerd and shims exit with it; allow them a moment.
        deadline = time.monotonic() + 10
        while (left := processes_naming(str(self.run_root))) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.leftover_processes = left
        self.leftover_mounts = mounts_under(self.state, self.run_root)
        for point in reversed(self.leftover_mounts):
            subprocess.run(["umount", "--lazy", point], check=False)
        # dockerd leaves its cgroup parent (and containers' folders in it) in
        # each hierarchy; one still in use stays, and the fixture reports it.
        try:
            for folder in reversed(cgroup_folders(self.name)):
                try:
                    for child in sorted(folder.glob("*/"), reverse=True):
                        if child.is_dir():
                            child.rmdir()
                    folder.rmdir()
                except OSError:
                    pass   # something still runs in it
        finally:
            self.leftover_cgroups = cgroup_folders(self.name)
            if not self.plugins_existed:
                for folder in (DOCKER_PLUGINS, DOCKER_PLUGINS.parent):
                    if folder.is_dir() and not any(folder.iterdir()):
                        folder.rmdir()
            shutil.rmtree(self.state, ignore_errors=True)
            shutil.rmtree(self.run_root, ignore_errors=True)


@pytest.fixture(scope="module")
def docker():
    assert shutil.which("dockerd") and shutil.which("docker"), "docker.io missing: run scripts/setup"
    daemon = Dockerd()
    try:
        daemon.wait_ready()
        yield daemon.client
    finally:
        daemon.stop()
        assert not daemon.leftover_processes, f"processes left behind: {daemon.leftover_processes}"
        assert not daemon.leftover_mounts, f"mounts left behind: {daemon.leftover_mounts}"
        assert not daemon.leftover_cgroups, f"cgroup folders left behind: {daemon.leftover_cgroups}"


@pytest.fixture(scope="module")
def docker_loaded(docker, tmp_path_factory):
    """The README's load of dist/, which gives the classic store amd64's
    image; what it loaded, as Docker shows it. On a host of another arch, its
    own platform's image next, the README's way (skopeo), for the tests that
    run it."""
    result, _ = docker.readme("load -i dist/", check=True)
    assert result.stdout.strip() == f"Loaded image: {IMAGE}", result.stdout
    loaded = {
        "names": docker("images", "--format", "{{.Repository}}:{{.Tag}}").split(),
        "platform": docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", IMAGE),
        "config": docker("image", "inspect", "--format", "{{.Config.Entrypoint}} {{.Config.Cmd}} {{.Config.User}}",
                         IMAGE),
    }
    host = docker_platform(host_arch())[0]
    if loaded["platform"] != f"linux/{host}":
        work = tmp_path_factory.mktemp("docker-host-arch")
        (work / "dist").symlink_to(REPO / "dist")
        convert = argv(readme_command("skopeo copy --override-arch arm64 ").replace("arm64", host))
        subprocess.run(convert, cwd=work, check=True, capture_output=True, timeout=120)
        docker.readme("load -i sleep.tar", check=True, cwd=work)
    return loaded


class TestDocker(ReadmeCommands):
    remove_container = ["docker", "rm", "--force"]

    @pytest.fixture
    def client(self, docker, docker_loaded):
        return docker

    def test_load_names_the_amd64_image_localhost_sleep_version(self, docker_loaded):
        assert docker_loaded["names"] == [IMAGE]
        assert docker_loaded["platform"] == "linux/amd64"
        # The classic store's image ID is the config's digest: the archive's
        # amd64 image, not a conversion.
        assert docker_loaded["config"] == "[/sleep] [infinity] 65532:65532"

    def test_another_platform_through_skopeo_for_the_classic_store(self, docker, docker_loaded, tmp_path):
        """The README's way to another platform than amd64 on the classic store."""
        # As written, in a folder of the test's own that sees dist/.
        (tmp_path / "dist").symlink_to(REPO / "dist")
        convert = argv(readme_command("skopeo copy --override-arch arm64 "))
        subprocess.run(convert, cwd=tmp_path, check=True, capture_output=True, timeout=120)
        result, _ = docker.readme("load -i sleep.tar", check=True, cwd=tmp_path)
        # It takes the name from the amd64 image loaded before, as Docker says.
        assert result.stdout.strip().splitlines()[-1] == f"Loaded image: {IMAGE}", result.stdout
        assert docker("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", IMAGE) == "linux/arm64"
