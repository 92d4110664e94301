"""The release build is reproducible: two copies of the work tree at paths of
different lengths, each with its own target directory, build the same bytes
(and print no warning); and the Dockerfile's build stage builds those bytes too.

Each copy holds exactly the Docker build context (the files git would commit,
less .dockerignore's), so this also proves the context is enough to build."""

import hashlib
import os
import shutil
import subprocess

import pytest

from conftest import REPO, all_arches, copy_build_context, docker_platform, parse_dockerfile, sha256sums, stages




def build_env(tree):
    env = {k: v for k, v in os.environ.items() if k not in ("DIST", "CARGO_BUILD_TARGET_DIR")}
    # scripts/build reads the linked binary from target/, so the separate
    # target dir is each copy's own target/.
    env["CARGO_TARGET_DIR"] = str(tree / "target")
    return env


def run(args, tree, **env):
    result = subprocess.run(
        args, cwd=tree, env={**build_env(tree), **env}, capture_output=True, text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{args} in {tree}:\n{result.stdout}\n{result.stderr}"
    return result


def dist(tree):
    return {p.name: p.read_bytes() for p in sorted((tree / "dist").iterdir())}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("reproducible")
    short = copy_build_context(base / "a")
    long = copy_build_context(base / ("a-much-longer-directory-name-" * 3) / "nested" / "b")
    builds = [run(["scripts/build"], tree) for tree in (short, long)]
    # A fresh build's own output: scripts/build prints no compiler warning.
    for build in builds:
        assert "warning" not in build.stdout + build.stderr, build.stdout + build.stderr
    # Snapshots: the Docker test below rebuilds single arches in `long`,
    # which rewrites its dist/.
    return short, long, dist(short), dist(long)


def test_two_builds_at_different_paths_are_bit_identical(trees):
    short, long, a, b = trees
    expected = {f"sleep-linux-{arch}" for arch in all_arches()} | {"SHA256SUMS", "sleep.cdx.json"}
    assert set(a) == expected
    assert set(b) == expected
    differing = [name for name in a if a[name] != b[name]]
    assert not differing, f"differ between {short} and {long}: {differing}"


def test_sha256sums_lists_every_binary_and_checks(trees):
    short, _, _, _ = trees
    listed = sha256sums(short / "dist/SHA256SUMS")
    assert set(listed) == {f"sleep-linux-{arch}" for arch in all_arches()}
    for name, digest in listed.items():
        assert hashlib.sha256((short / "dist" / name).read_bytes()).hexdigest() == digest
    run(["sha256sum", "--check", "--strict", "--quiet", "SHA256SUMS"], short / "dist")


def test_no_build_path_is_in_the_binaries(trees):
    short, long, a, b = trees
    for tree, files in ((short, a), (long, b)):
        for name, data in files.items():
            for path in (str(tree), str(REPO), os.path.expanduser("~")):
                assert path.encode() not in data, f"{name} contains {path}"


@pytest.mark.parametrize("arch", all_arches())
def test_docker_build_stage_makes_the_release_binary(trees, arch):
    """The Dockerfile's RUN, as BuildKit runs it (/bin/sh -c, ARGs in the
    environment) for each platform, yields the release binary byte for byte."""
    _, long, release, _ = trees
    (build,) = [s for s in stages(parse_dockerfile(long / "Dockerfile")) if s[0].value[-1] == "build"]
    (script,) = [c.value[0] for c in build if c.cmd.upper() == "RUN"]
    targetarch, variant = docker_platform(arch)
    shutil.rmtree(long / "out", ignore_errors=True)
    run(["/bin/sh", "-c", script], long, TARGETARCH=targetarch, TARGETVARIANT=variant)
    assert (long / "out/sleep").read_bytes() == release[f"sleep-linux-{arch}"]
