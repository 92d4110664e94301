"""The release image under containerd, the runtime EKS nodes run pods with,
end to end: dist/sleep-oci.tar imported into a private containerd, run as a
keep-alive container the way a locked-down pod runs it, with preStop-style
execs into it through the same runc shim the kubelet uses (CRI ExecSync is
`task exec`), stopped by SIGTERM; then an app image built the way
examples/Dockerfile.app builds one, and the bare-name hook trap.

The containerd is this test's own: its own root, state, socket and
namespace, the CRI plugin off, config and state in a folder under
target/runtime (conftest.runtime_state_dir), never under TMPDIR; stopped by
its PID.
Nothing is left behind: tasks are deleted before containerd stops (shims
outlive a killed daemon), and the test checks no mount and no cgroup folder
of its own remains.
"""

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from conftest import (
    REPO, cargo_package, cgroup_folders, default_signals, mounts_under, private_buildah, processes_naming,
    runtime_state_dir, stop_process,
)

ARCHIVE = REPO / "dist/sleep-oci.tar"
VERSION = cargo_package()["version"]
IMAGE = f"localhost/sleep:{VERSION}"
# What runc says when a hook names a program the container's PATH lacks
# (README, Troubleshooting).
NOT_IN_PATH = 'exec: "sleep": executable file not found in $PATH'
# containerd's shims put their sockets under here whatever the config says
# (runc's state goes to the test's dir: --runc-root); the empty folders are
# removed afterwards if this test made them.
SHIM_STATE = Path("/run/containerd")


class Containerd:
    def __init__(self, directory: Path):
        self.dir = directory
        self.name = f"sleep-test-{os.getpid()}"
        self.socket = directory / "containerd.sock"
        self.fifos = directory / "fifo"
        # ctr mounts snapshots (to read an image's /etc/passwd, or as a
        # --read-only root) under its temp dir, as containerd does under its
        # own: both here, on a filesystem that can hold overlay upperdirs.
        (directory / "tmp").mkdir()
        self.env = {**os.environ, "TMPDIR": str(directory / "tmp")}
        # Every container's cgroup is made under this one; removed at the end.
        self.cgroup_parent = f"/{self.name}"
        self.shim_state_existed = SHIM_STATE.exists()
        (directory / "config.toml").write_text(
            f"""version = 2
root = "{directory}/root"
state = "{directory}/state"
# No Kubernetes CRI server: ctr talks to the core services. The other
# snapshotters would only fail to load here.
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
# Defaults to /opt/containerd.
[plugins."io.containerd.internal.v1.opt"]
  path = "{directory}/opt"
"""
        )
        self.log = open(directory / "containerd.log", "w")
        self.process = subprocess.Popen(
            ["containerd", "--config", str(directory / "config.toml")],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
            # The shims and containers it starts inherit its dispositions.
            preexec_fn=default_signals,
        )
        try:
            deadline = time.monotonic() + 20
            while self.ctr("version", check=False).returncode != 0:
                assert self.process.poll() is None, (directory / "containerd.log").read_text()
                assert time.monotonic() < deadline, "containerd did not start in 20 s"
                time.sleep(0.05)
        except BaseException:
            self.process.kill()
            self.process.wait()
            self.log.close()
            raise

    def ctr_command(self, *args) -> list[str]:
        return ["ctr", "--address", str(self.socket), "--namespace", self.name, *args]

    def ctr(self, *args, check=True, timeout=60) -> subprocess.CompletedProcess:
        result = subprocess.run(self.ctr_command(*args), capture_output=True, text=True, timeout=timeout,
                                env=self.env)
        if check:
            assert result.returncode == 0, f"ctr {' '.join(args)}: {result.stderr}"
        return result

    def run_args(self, container_id: str) -> list[str]:
        """`ctr run`'s options shared by every container here."""
        return [
            # The amd64 image out of the index (this machine's platform: the
            # others run under qemu in test_image.py).
            "--platform", "linux/amd64",
            "--read-only", "--seccomp",   # readOnlyRootFilesystem; RuntimeDefault seccomp
            "--fifo-dir", str(self.fifos),
            "--runc-root", str(self.dir / "runc"),
            "--cgroup", f"{self.cgroup_parent}/{container_id}",
        ]

    def start(self, image: str, container_id: str, *command) -> "Container":
        """A foreground `ctr run` (it exits with the container's status: ctr
        1.6 has no `task wait`), returned once the task is running."""
        run = subprocess.Popen(
            self.ctr_command("run", *self.run_args(container_id), image, container_id, *command),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.env,
        )
        container = Container(self, container_id, run)
        deadline = time.monotonic() + 20
        while container.status() != "RUNNING":
            assert run.poll() is None, f"ctr run {container_id} ended: {run.communicate()}"
            assert time.monotonic() < deadline, f"{container_id} not running after 20 s"
            time.sleep(0.05)
        return container

    def tasks(self) -> dict[str, tuple[int, str]]:
        """{container id: (pid, status)} of every task."""
        lines = self.ctr("task", "ls").stdout.splitlines()[1:]
        return {fields[0]: (int(fields[1]), fields[2]) for fields in map(str.split, lines)}

    def shims(self) -> list[int]:
        """PIDs of the shims serving this containerd (their command line names its socket)."""
        return processes_naming(str(self.socket))

    def cgroup_folders(self) -> list[Path]:
        return cgroup_folders(self.cgroup_parent.lstrip("/"))

    def stop(self):
        """Deletes every task and container, stops containerd by its PID, and
        removes what it leaves: cgroup folders, empty shim folders, its dir."""
        try:
            if self.process.poll() is None:
                for container_id in self.tasks():
                    self.ctr("task", "kill", "--signal", "SIGKILL", container_id, check=False)
                    deadline = time.monotonic() + 10
                    while self.tasks().get(container_id, (0, "STOPPED"))[1] != "STOPPED":
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.05)
                    self.ctr("task", "delete", "--force", container_id, check=False)
                for line in self.ctr("containers", "ls", "--quiet").stdout.split():
                    self.ctr("containers", "delete", line, check=False)
                # A shim exits shortly after its task is deleted.
                deadline = time.monotonic() + 10
                while self.shims() and time.monotonic() < deadline:
                    time.sleep(0.05)
        finally:
            stop_process(self.process, timeout=10)
            self.log.close()
            # Shims that outlived everything (the test then fails on them).
            self.leftover_shims = self.shims()
            for pid in self.leftover_shims:
                os.kill(pid, signal.SIGKILL)
            for folder in reversed(self.cgroup_folders()):
                folder.rmdir()   # fails, and so fails the test, if anything is still in it
            if not self.shim_state_existed:
                for folder in (SHIM_STATE / "s", SHIM_STATE / "fifo", SHIM_STATE):
                    if folder.is_dir() and not any(folder.iterdir()):
                        folder.rmdir()


class Container:
    def __init__(self, containerd: Containerd, container_id: str, run: subprocess.Popen):
        self.containerd, self.id, self.run = containerd, container_id, run
        self.execs = 0

    def status(self) -> str:
        return self.containerd.tasks().get(self.id, (0, "absent"))[1]

    def pid(self) -> int:
        return self.containerd.tasks()[self.id][0]

    def exec(self, *command) -> tuple[subprocess.CompletedProcess, float]:
        """`ctr task exec`: runs `command` in the container, as a kubelet
        runs an exec hook; returns the result and how long it took."""
        self.execs += 1
        start = time.monotonic()
        result = self.containerd.ctr(
            "task", "exec", "--exec-id", f"exec-{self.execs}", "--fifo-dir", str(self.containerd.fifos),
            self.id, *command, check=False,
        )
        return result, time.monotonic() - start

    def stop(self, signal_name: str) -> tuple[int, float]:
        """Sends a signal to the main process; returns ctr run's status and
        how long after the signal it ended."""
        start = time.monotonic()
        self.containerd.ctr("task", "kill", "--signal", signal_name, self.id)
        self.run.communicate(timeout=30)
        return self.run.returncode, time.monotonic() - start

    def proc_status(self) -> dict[str, str]:
        lines = Path(f"/proc/{self.pid()}/status").read_text().splitlines()
        return dict(line.split(":\t", 1) for line in lines)


@pytest.fixture(scope="module")
def containerd():
    assert ARCHIVE.is_file(), f"{ARCHIVE} missing: run scripts/build && scripts/image"
    directory = runtime_state_dir("containerd")
    daemon = Containerd(directory)
    try:
        yield daemon
    finally:
        daemon.stop()
        leftovers = mounts_under(directory)
        cgroups = daemon.cgroup_folders()
        shutil.rmtree(directory)
        assert not leftovers, f"mounts left behind: {leftovers}"
        assert not cgroups, f"cgroup folders left behind: {cgroups}"
        assert not daemon.leftover_shims, f"shims left running (killed): {daemon.leftover_shims}"


@pytest.fixture(scope="module")
def imported(containerd):
    """The archive, every platform, by the name it carries (no --base-name)."""
    result = containerd.ctr("images", "import", "--all-platforms", str(ARCHIVE))
    assert IMAGE in result.stdout, result.stdout
    return IMAGE


def test_import_keeps_the_index_and_every_platform(containerd, imported):
    listed = containerd.ctr("images", "ls").stdout.splitlines()
    (line,) = [line for line in listed if line.startswith(imported + " ")]
    name, media_type, digest, *_ = line.split()
    (platforms,) = [field for field in line.split() if field.startswith("linux/")]
    assert platforms == "linux/386,linux/amd64,linux/arm/v7,linux/arm64,linux/riscv64"
    assert media_type == "application/vnd.oci.image.index.v1+json"
    # The same index: the digest a registry would show.
    with tarfile.open(ARCHIVE) as tar:
        (entry,) = json.load(tar.extractfile("index.json"))["manifests"]
    assert digest == entry["digest"]


def test_keepalive_container_execs_and_sigterm(containerd, imported):
    """The keep-alive container: the image's own command (/sleep infinity) as
    its own user, read-only root, default seccomp profile."""
    keepalive = containerd.start(imported, "keepalive")
    try:
        status = keepalive.proc_status()
        assert status["Uid"].split()[0] == "65532" and status["Gid"].split()[0] == "65532"
        assert status["Seccomp"] == "2", "the default seccomp profile is not applied"
        assert Path(f"/proc/{keepalive.pid()}/cmdline").read_bytes() == b"/sleep\0infinity\0"
        # The amd64 image's /sleep runs: dist's bytes.
        exe = Path(f"/proc/{keepalive.pid()}/exe").read_bytes()
        assert exe == (REPO / "dist/sleep-linux-amd64").read_bytes()
        root = [l.split() for l in Path(f"/proc/{keepalive.pid()}/mountinfo").read_text().splitlines()]
        (root_options,) = [fields[5] for fields in root if fields[4] == "/"]
        assert "ro" in root_options.split(","), root_options

        # The preStop hook: /sleep 1 through the runc shim.
        result, elapsed = keepalive.exec("/sleep", "1")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert 1.0 <= elapsed < 10, elapsed

        # A wrong operand: exit 1, the message on stderr, nothing slept.
        result, elapsed = keepalive.exec("/sleep", "abc")
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.startswith("sleep: invalid time interval 'abc'\n"), result.stderr
        assert elapsed < 10

        # The bare-name trap: only /sleep exists, and / is not in PATH.
        result, _ = keepalive.exec("sleep", "60")
        assert result.returncode != 0
        assert NOT_IN_PATH in result.stderr, result.stderr

        assert keepalive.status() == "RUNNING"
        code, elapsed = keepalive.stop("SIGTERM")
        # 128 + SIGTERM: PID 1 exits at once on SIGTERM.
        assert code == 143, code
        assert elapsed < 1.0, f"SIGTERM took {elapsed:.2f} s"
    finally:
        if keepalive.run.poll() is None:
            containerd.ctr("task", "kill", "--signal", "SIGKILL", "keepalive", check=False)
            keepalive.run.communicate(timeout=30)
    assert "keepalive" not in containerd.tasks()


@pytest.fixture(scope="module")
def app_image(containerd, imported):
    """examples/Dockerfile.app built by buildah, imported into containerd.

    Two substitutions, since nothing can be pulled here: the base is scratch
    instead of gcr.io/distroless/static-debian12:nonroot (both have no shell;
    distroless adds CA certificates, tzdata and /etc/passwd, none of which
    /sleep reads), and our image is named by its local reference, loaded
    from dist/sleep-oci.tar, instead of ghcr.io. The README's fix for the
    bare-name trap is added: the binary also at /usr/local/bin/sleep.
    The app is a stand-in that stays up: a copy of dist's amd64 sleep, run
    as `/app infinity`."""
    work = runtime_state_dir("app")
    try:
        example = (REPO / "examples/Dockerfile.app").read_text()
        registry_ref = f"ghcr.io/sleep-developers/sleep:{VERSION}"
        base = "gcr.io/distroless/static-debian12:nonroot"
        assert example.count(registry_ref) == 1 and example.count(f"FROM {base}\n") == 1
        dockerfile = example.replace(f"FROM {base}\n", "FROM scratch\n").replace(registry_ref, IMAGE)
        dockerfile += f"COPY --from={IMAGE} /sleep /usr/local/bin/sleep\n"
        (work / "Dockerfile").write_text(dockerfile)
        context = work / "context"
        context.mkdir()
        shutil.copy(REPO / "dist/sleep-linux-amd64", context / "app")

        run_buildah = private_buildah(work)

        def buildah(*args):
            result = run_buildah(*args)
            assert result.returncode == 0, f"buildah {' '.join(args)}: {result.stderr}"
            return result

        buildah("pull", "--quiet", "--platform", "linux/amd64", f"oci-archive:{ARCHIVE}:{VERSION}")
        buildah("tag", buildah("images", "--quiet", "--no-trunc").stdout.split()[0], IMAGE)
        buildah(
            "build", "--quiet", "--isolation", "chroot", "--pull=never", "--platform", "linux/amd64",
            "--file", str(work / "Dockerfile"), "--tag", "localhost/app:test", str(context),
        )
        buildah("push", "--quiet", "localhost/app:test", f"oci-archive:{work}/app.tar:test")
        containerd.ctr("images", "import", "--base-name", "localhost/app", str(work / "app.tar"))
        return "localhost/app:test"
    finally:
        shutil.rmtree(work, ignore_errors=True)   # containerd holds its own copy of the image


def test_app_image_built_with_copy_from_runs_the_hook(containerd, app_image):
    app = containerd.start(app_image, "app", "/app", "infinity")
    try:
        status = app.proc_status()
        assert status["Uid"].split()[0] == "65532"
        environ = Path(f"/proc/{app.pid()}/environ").read_bytes().split(b"\0")
        (path,) = [entry for entry in environ if entry.startswith(b"PATH=")]
        assert b"/usr/local/bin" in path.removeprefix(b"PATH=").split(b":"), path

        # The hook written with the absolute path.
        result, elapsed = app.exec("/sleep", "1")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert 1.0 <= elapsed < 10, elapsed

        # The bare name, now that the binary is also in PATH.
        result, elapsed = app.exec("sleep", "1")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert 1.0 <= elapsed < 10, elapsed

        code, elapsed = app.stop("SIGTERM")
        assert code == 143 and elapsed < 1.0, (code, elapsed)
    finally:
        if app.run.poll() is None:
            containerd.ctr("task", "kill", "--signal", "SIGKILL", "app", check=False)
            app.run.communicate(timeout=30)
