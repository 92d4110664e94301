"""The tests that start a container runtime keep its state off TMPDIR.

In GitHub's CI job container /tmp lies on the container's overlayfs root, and
Linux refuses an overlay upperdir that is itself on overlay: containerd's
snapshots, ctr's temporary mounts and the like fail there. This machine's
/tmp is not on overlay, so this test makes one: it mounts an overlay under
target/runtime, proves the kernel refuses an overlay upperdir inside it (else
the test could not fail), then runs each runtime suite below, as a
subprocess, with TMPDIR inside that overlay. Each must pass.

A new test that starts a runtime joins SUITES (one line).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import REPO, mounts_under, runtime_state_dir


class Suite(NamedTuple):
    name: str
    command: list[str]
    timeout: int   # seconds; generous, the machine is shared


def pytest_suite(name: str, path: str, timeout: int = 900) -> Suite:
    # No cache: the inner run must not write .pytest_cache of the outer one.
    return Suite(name, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path], timeout)


def cargo_suite(name: str, test: str, timeout: int = 900) -> Suite:
    return Suite(name, ["cargo", "test", "--locked", "--release", "-p", "sleep-tests", "--test", test], timeout)


# Every test that starts containerd, ctr, buildah, podman or runc.
SUITES = [
    pytest_suite("buildah", "tests/python/test_dockerfile.py"),
    pytest_suite("image", "tests/python/test_image.py"),   # scripts/image (buildah), skopeo, umoci
    cargo_suite("runc", "runc"),
    cargo_suite("pid1", "pid1"),
    cargo_suite("cri", "cri"),
    cargo_suite("cluster", "cluster"),   # a whole node: containerd, the kubelet, etcd, the control plane
    pytest_suite("podman-docker", "tests/python/test_podman_docker.py"),
    Suite("rollout", ["scripts/rollout", "--smoke"], 900),   # rollouts on the cluster behind haproxy
    # a cluster, its containerd restarted with each sandbox image
    Suite("sandboxes", ["cargo", "run", "--quiet", "--locked", "--release", "-p", "sandboxes", "--", "--smoke"], 900),
]


def mount_overlay(base: Path) -> subprocess.CompletedProcess:
    """Mounts an overlay at base/merged, its layers beside it."""
    for name in ("lower", "upper", "work", "merged"):
        (base / name).mkdir(parents=True)
    options = f"lowerdir={base}/lower,upperdir={base}/upper,workdir={base}/work"
    return subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(base / "merged")],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def overlay_tmpdir():
    """A TMPDIR on overlayfs, as in a CI job container; unmounted at the end."""
    assert os.geteuid() == 0, "run as root: the test mounts an overlay"
    state = runtime_state_dir("overlay")
    try:
        mounted = mount_overlay(state)
        assert mounted.returncode == 0, f"mount -t overlay: {mounted.stderr}"
        tmpdir = state / "merged" / "tmp"
        tmpdir.mkdir()
        yield tmpdir
    finally:
        for mountpoint in reversed(mounts_under(state)):
            subprocess.run(["umount", mountpoint], check=False)
        leftovers = mounts_under(state)
        if not leftovers:
            shutil.rmtree(state)
        assert not leftovers, f"mounts left behind: {leftovers}"


def test_the_kernel_refuses_an_overlay_upperdir_on_the_overlay(overlay_tmpdir):
    """What makes this test able to fail: a runtime that put its overlay
    snapshots under TMPDIR would be refused the same way."""
    nested = overlay_tmpdir / "nested"
    result = mount_overlay(nested)
    if result.returncode == 0:
        subprocess.run(["umount", str(nested / "merged")], check=True)
    assert result.returncode != 0, "the kernel accepted an overlay upperdir on overlay: this test proves nothing"


@pytest.mark.parametrize("suite", SUITES, ids=lambda suite: suite.name)
def test_runtime_suite_passes_with_tmpdir_on_overlay(overlay_tmpdir, suite):
    tmpdir = overlay_tmpdir / suite.name
    tmpdir.mkdir()
    result = subprocess.run(suite.command, cwd=REPO, capture_output=True, text=True, timeout=suite.timeout,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    assert result.returncode == 0, (
        f"{' '.join(suite.command)} with TMPDIR={tmpdir} (on overlayfs):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
