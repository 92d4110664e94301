"""scripts/docker-arch: Docker's TARGETARCH/TARGETVARIANT to our arch name,
for every arch of arches.txt, and a clear failure for any other."""

import subprocess

import pytest

from conftest import REPO, all_arches, arch_table, docker_platform


def docker_arch(*args):
    return subprocess.run(
        [REPO / "scripts/docker-arch", *args], capture_output=True, text=True
    )


@pytest.mark.parametrize("arch", all_arches())
def test_every_built_arch_maps_from_its_docker_platform(arch):
    targetarch, variant = docker_platform(arch)
    result = docker_arch(targetarch, variant)
    assert (result.returncode, result.stdout, result.stderr) == (0, arch + "\n", "")


@pytest.mark.parametrize("arch", all_arches())
def test_a_missing_variant_argument_is_an_empty_one(arch):
    targetarch, variant = docker_platform(arch)
    if variant:
        assert docker_arch(targetarch).returncode != 0
    else:
        assert docker_arch(targetarch).stdout == arch + "\n"


@pytest.mark.parametrize(
    "targetarch,variant,arch",
    [
        # Feature levels the baseline binary runs on.
        ("amd64", "v2", "amd64"),
        ("amd64", "v3", "amd64"),
        ("amd64", "v4", "amd64"),
        ("arm64", "v8", "arm64"),
    ],
)
def test_feature_level_variants_use_the_baseline_binary(targetarch, variant, arch):
    assert arch in all_arches()
    result = docker_arch(targetarch, variant)
    assert (result.returncode, result.stdout) == (0, arch + "\n")


@pytest.mark.parametrize(
    "targetarch,variant",
    [("mips", ""), ("mips64le", ""), ("ppc64le", ""), ("s390x", ""), ("arm", "v5"), ("arm", "")],
)
def test_unsupported_platforms_fail_naming_the_platform_and_the_supported_arches(
    targetarch, variant
):
    arch = targetarch + (f"-{variant}" if variant else "")
    if arch in all_arches():
        pytest.fail(f"{arch} is built now: pick another unsupported example")
    result = docker_arch(targetarch, variant)
    assert result.returncode == 1
    assert result.stdout == ""
    platform = f"linux/{targetarch}" + (f"/{variant}" if variant else "")
    supported = " ".join(row.platform for row in arch_table.load())
    assert result.stderr == f"docker-arch: no sleep binary for platform {platform} (supported: {supported})\n"


def test_empty_targetarch_fails_naming_buildkit():
    result = docker_arch()
    assert result.returncode == 1 and result.stdout == ""
    assert "TARGETARCH is empty" in result.stderr and "BuildKit" in result.stderr
