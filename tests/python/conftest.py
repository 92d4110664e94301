"""Shared helpers of the Python tests: the repository's facts (the arches, the
version, the toolchain), the Docker build context, and running container
runtimes with private state.

Every fact about the arches comes from arches.txt (read by scripts/lib/arches.py),
so a new arch there is tested here without editing anything.
"""

import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import dockerfile
import pytest
from docker.utils.build import exclude_paths

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts/lib"))
import arches as arch_table  # noqa: E402  (scripts/lib/arches.py, found through the path above)


# Container runtimes keep their state (roots, snapshots, temporary mounts)
# here, on the checkout's filesystem, never under TMPDIR: in a CI job
# container /tmp lies on overlayfs, and Linux refuses an overlay upperdir that
# is itself on overlay.
RUNTIME_STATE = REPO / "target" / "runtime"
CGROUPS = Path("/sys/fs/cgroup")


def runtime_state_dir(name: str) -> Path:
    """A fresh, empty folder for one runtime's state, under target/runtime."""
    RUNTIME_STATE.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=RUNTIME_STATE))


def default_signals():
    """For subprocess's preexec_fn: the child starts with every signal at its
    default action and none blocked, whatever the tests' own parent left
    (nohup ignores SIGHUP). Ignored and blocked signals survive exec, and
    through containerd and its shim reach the containers, whose PID 1 and
    signal tests rely on the defaults."""
    for number in signal.valid_signals():
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(number, signal.SIG_DFL)
            except (OSError, ValueError):   # the ones libc keeps for itself
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """Stops a daemon we started, by its PID: SIGTERM, then SIGKILL if it is
    still running after `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def mounts_under(*paths: Path) -> list[str]:
    """The mount points, in mount order, under any of `paths`."""
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [point for point in points if any(point.startswith(str(path)) for path in paths)]


def processes_naming(*texts: str) -> list[int]:
    """PIDs whose command line names any of `texts` (paths of a test's own)."""
    wanted = [text.encode() for text in texts]
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue   # gone meanwhile
            if any(text in cmdline for text in wanted):
                found.append(int(entry.name))
    return found


def cgroup_folders(name: str) -> list[Path]:
    """The cgroup folders called `name` at the top of each hierarchy: one per
    controller on cgroup v1, the unified one on v2."""
    return sorted(CGROUPS.glob(f"*/{name}")) + sorted(CGROUPS.glob(name))


def sha256sums(path: Path) -> dict[str, str]:
    """{file name: digest} of a sha256sum listing such as dist/SHA256SUMS."""
    listed = {}
    for line in path.read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    return listed


def git(*args) -> str:
    """What git prints, in the checkout, less the final newline."""
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def commit_time() -> int:
    """The Unix time of HEAD's commit, which the release build stamps."""
    return int(git("log", "-1", "--format=%ct", "HEAD"))


def toolchain_channel() -> str:
    """The Rust toolchain rust-toolchain.toml pins."""
    return tomllib.loads((REPO / "rust-toolchain.toml").read_text())["toolchain"]["channel"]


def all_arches() -> list[str]:
    """The arch names of arches.txt, in order."""
    return [arch.name for arch in arch_table.load()]


def arch_row(arch: str) -> arch_table.Arch:
    """The row of arches.txt for `arch`."""
    (row,) = [row for row in arch_table.load() if row.name == arch]
    return row


def host_arch() -> str:
    """The arch of arches.txt this machine runs natively (its target_arch is
    platform.machine(), as for runner())."""
    found = [row.name for row in arch_table.load() if row.target_arch == platform.machine()]
    assert found, f"no arch in arches.txt runs on this {platform.machine()} host"
    return found[0]


def docker_platform(arch: str) -> tuple[str, str]:
    """An arch's Docker (TARGETARCH, TARGETVARIANT), from arches.txt: arm-v7 -> (arm, v7)."""
    return arch_row(arch).docker_platform()


def arch_platform(arch: str) -> str:
    """An arch's Docker platform, from arches.txt: arm-v7 -> linux/arm/v7."""
    return arch_row(arch).platform


def private_buildah(work: Path):
    """buildah (as root) with its vfs storage, temp files and network config
    under `work`, so nothing lands in the machine's own; the caller removes
    `work` (storage included) when done, in a `finally`. Returns run(*args): the finished process."""
    storage = ["--storage-driver", "vfs", "--root", str(work / "storage"), "--runroot", str(work / "run")]
    # buildah's network lock file would go to /etc/cni/net.d.
    (work / "containers.conf").write_text(f'[network]\nnetwork_config_dir = "{work}/cni"\n')
    env = {**os.environ, "TMPDIR": str(work), "CONTAINERS_CONF": str(work / "containers.conf")}

    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run(["buildah", *storage, *args], capture_output=True, text=True, env=env, timeout=300)

    return run


def cargo_package() -> dict:
    """Cargo.toml's [package]: the version, repository and license the image,
    the examples and the README must show."""
    return tomllib.loads((REPO / "Cargo.toml").read_text())["package"]


def runner(arch: str) -> list[str]:
    """How to run an arch's binary here, from arches.txt: nothing before it on
    a host of that arch, else its qemu-user command (with its arguments)."""
    row = arch_row(arch)
    return [] if row.target_arch == platform.machine() else list(row.emulator)


def parse_dockerfile(path: Path) -> tuple:
    """The instructions of a Dockerfile, from the official (Go) parser."""
    return dockerfile.parse_file(str(path))


def stages(commands) -> list[list]:
    """Instructions grouped by build stage, each list starting with its FROM."""
    grouped: list[list] = []
    for command in commands:
        if command.cmd.upper() == "FROM":
            grouped.append([])
        elif not grouped:
            # Only ARG may come before the first FROM.
            assert command.cmd.upper() == "ARG", command.original
            continue
        grouped[-1].append(command)
    return grouped


def flags(command) -> dict[str, str]:
    """An instruction's --name=value flags."""
    out = {}
    for flag in command.flags:
        name, _, value = flag.removeprefix("--").partition("=")
        out[name] = value
    return out


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def dockerignore_patterns(context: Path) -> list[str]:
    """`context`'s .dockerignore, as the Docker CLI reads it: each line
    trimmed, blank lines and `#` comments dropped."""
    lines = (line.strip() for line in (context / ".dockerignore").read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(context: Path = REPO) -> list[str]:
    """The files a `docker build` of `context` sends: every file under it
    (tracked, untracked or git-ignored: Docker does not read .gitignore) that
    its .dockerignore lets in, by the matcher of Docker's own Python SDK,
    docker-py's exclude_paths. It follows the engine's rules: patterns from
    the context root, `*` and `?` within one path element, `**` across them,
    `!` exceptions with the last match winning, and an excluded directory left
    unread unless an exception may bring back something inside it. (Its
    single-path `matches` also folds case and checks fewer parent directories
    than Docker, which is why this walks the tree; test_dockerfile.py checks
    the result against a real builder, on this .dockerignore.)
    Symbolic links count as files."""
    paths = exclude_paths(str(context), dockerignore_patterns(context))
    return sorted(path for path in paths if (context / path).is_symlink() or not (context / path).is_dir())


@pytest.fixture(scope="session")
def arches() -> list[str]:
    return all_arches()


def copy_build_context(destination):
    """Copies the build context (see context_files) into `destination`."""
    for name in context_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return destination
