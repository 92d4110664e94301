"""The release image, dist/sleep-oci.tar, as scripts/image wrote it.

Read two ways, never with the code that wrote it (buildah): a small reader of
the OCI image layout written here (tarfile, json, hashlib; every blob checked
against its digest and size), and the standard tools skopeo and umoci. Every
platform is checked: its place in the index, its config and labels, its one
layer (/sleep alone, 0:0, executable, the bytes of dist/sleep-linux-<arch>),
and the unpacked /sleep runs (foreign arches under qemu-user).
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import REPO, all_arches, cargo_package, commit_time, docker_platform, git, runner

ARCHIVE = REPO / "dist/sleep-oci.tar"
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
LABEL = "org.opencontainers.image."


class OciArchive:
    """An OCI image layout in a tar file (what `oci-archive:` means)."""

    def __init__(self, path: Path):
        with tarfile.open(path) as tar:
            self.files = {
                m.name.removeprefix("./"): tar.extractfile(m).read() for m in tar if m.isfile()
            }

    def json(self, name: str) -> dict:
        return json.loads(self.files[name])

    def blob(self, descriptor: dict) -> bytes:
        """A blob, checked against its descriptor's digest and size."""
        algorithm, _, hexdigest = descriptor["digest"].partition(":")
        assert algorithm == "sha256", descriptor
        data = self.files[f"blobs/sha256/{hexdigest}"]
        assert hashlib.sha256(data).hexdigest() == hexdigest
        assert len(data) == descriptor["size"]
        return data


def platform_of(arch: str) -> dict:
    """arm-v7 -> {"architecture": "arm", "os": "linux", "variant": "v7"}."""
    architecture, variant = docker_platform(arch)
    return {"architecture": architecture, "os": "linux", **({"variant": variant} if variant else {})}


@pytest.fixture(scope="module")
def archive() -> OciArchive:
    assert ARCHIVE.is_file(), f"{ARCHIVE} missing: run scripts/build && scripts/image"
    return OciArchive(ARCHIVE)


@pytest.fixture(scope="module")
def index(archive) -> dict:
    (entry,) = archive.json("index.json")["manifests"]
    assert entry["mediaType"] == INDEX
    return json.loads(archive.blob(entry))


def image(archive, index, arch):
    """(manifest, config, layer tar bytes) of one arch's image."""
    (entry,) = [m for m in index["manifests"] if m["platform"] == platform_of(arch)]
    manifest = json.loads(archive.blob(entry))
    assert manifest["mediaType"] == MANIFEST and manifest["config"]["mediaType"] == CONFIG
    config = json.loads(archive.blob(manifest["config"]))
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == LAYER
    return manifest, config, gzip.decompress(archive.blob(layer))


class TestLayout:
    def test_is_an_oci_layout_with_one_index_named_localhost_sleep_version(self, archive):
        assert archive.json("oci-layout") == {"imageLayoutVersion": "1.0.0"}
        top = archive.json("index.json")
        (entry,) = top["manifests"]
        assert entry["mediaType"] == INDEX
        version = cargo_package()["version"]
        # scripts/image's interface: the name podman/ctr/docker load it as,
        # and the tag in oci-archive:dist/sleep-oci.tar:<version>.
        assert entry["annotations"] == {
            "io.containerd.image.name": f"localhost/sleep:{version}",
            f"{LABEL}ref.name": version,
        }

    def test_docker_manifest_json_names_the_amd64_image(self, archive, index):
        """Docker's classic store loads manifest.json: amd64's image, by the
        blobs the OCI layout holds."""
        (entry,) = archive.json("manifest.json")
        assert set(entry) == {"Config", "RepoTags", "Layers"}
        assert entry["RepoTags"] == [f"localhost/sleep:{cargo_package()['version']}"]
        manifest, _, _ = image(archive, index, "amd64")
        assert entry["Config"] == "blobs/" + manifest["config"]["digest"].replace(":", "/")
        assert entry["Layers"] == ["blobs/" + layer["digest"].replace(":", "/") for layer in manifest["layers"]]

    def test_tar_members_are_fixed_root_owned_at_the_commit_time(self):
        committed = commit_time()
        with tarfile.open(ARCHIVE) as tar:
            members = tar.getmembers()
        names = [m.name for m in members]
        assert names[-3:] == ["index.json", "manifest.json", "oci-layout"]
        assert names[:2] == ["blobs", "blobs/sha256"]
        assert names[2:-3] == sorted(names[2:-3])
        assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, committed)}, (
            f"{ARCHIVE} was made from another commit: run scripts/image"
        )
        assert {m.mode for m in members if m.isfile()} == {0o644}

    def test_index_lists_every_arch_once_in_scripts_arches_order(self, index):
        assert index["mediaType"] == INDEX
        assert [m["platform"] for m in index["manifests"]] == [platform_of(a) for a in all_arches()]
        # Only images: no attestation manifests (unknown/unknown platforms).
        assert {m["mediaType"] for m in index["manifests"]} == {MANIFEST}

    def test_skopeo_reads_the_same_index(self, archive):
        version = cargo_package()["version"]
        raw = subprocess.run(
            ["skopeo", "inspect", "--raw", f"oci-archive:{ARCHIVE}:{version}"],
            capture_output=True, check=True,
        ).stdout
        (entry,) = archive.json("index.json")["manifests"]
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == entry["digest"]


@pytest.mark.parametrize("arch", all_arches())
class TestEachPlatform:
    def test_config_runs_sleep_infinity_as_a_numeric_non_root_user(self, archive, index, arch):
        _, config, _ = image(archive, index, arch)
        assert {k: config[k] for k in ("architecture", "os")} == {
            k: platform_of(arch)[k] for k in ("architecture", "os")
        }
        assert config.get("variant") == platform_of(arch).get("variant")
        assert config["config"]["Entrypoint"] == ["/sleep"]
        assert config["config"]["Cmd"] == ["infinity"]
        assert config["config"]["User"] == "65532:65532"

    def test_labels_name_this_version_commit_and_commit_time(self, archive, index, arch):
        _, config, _ = image(archive, index, arch)
        committed = datetime.fromtimestamp(commit_time(), timezone.utc)
        created = committed.strftime("%Y-%m-%dT%H:%M:%SZ")
        labels = config["config"]["Labels"]
        assert labels.get(f"{LABEL}revision") == git("rev-parse", "HEAD"), (
            f"{ARCHIVE} was made from another commit: run scripts/image"
        )
        description = labels.pop(f"{LABEL}description")
        assert "sleep" in description
        assert labels == {
            f"{LABEL}title": "sleep",
            f"{LABEL}source": cargo_package()["repository"],
            f"{LABEL}licenses": cargo_package()["license"],
            f"{LABEL}version": cargo_package()["version"],
            f"{LABEL}revision": git("rev-parse", "HEAD"),
            f"{LABEL}created": created,
        }
        # The image's own time is the same fixed one (reproducibility).
        assert config["created"] == created
        assert {entry["created"] for entry in config["history"]} == {created}

    def test_layer_holds_sleep_alone_owned_by_root_and_executable(self, archive, index, arch):
        _, config, layer = image(archive, index, arch)
        assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            (member,) = tar.getmembers()
            assert member.name.removeprefix("./") == "sleep"
            assert member.isreg()
            assert (member.uid, member.gid) == (0, 0)
            assert member.mode & 0o7777 in (0o755, 0o555)
            data = tar.extractfile(member).read()
        assert data == (REPO / f"dist/sleep-linux-{arch}").read_bytes(), "not dist's bytes"


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    """Each arch's image picked out of the index by skopeo and unpacked by
    umoci into a runc bundle: {arch: bundle}."""
    version = cargo_package()["version"]
    base = tmp_path_factory.mktemp("unpacked")
    bundles = {}
    for arch in all_arches():
        architecture, variant = docker_platform(arch)
        layout = base / f"{arch}-oci"
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--override-os", "linux", "--override-arch", architecture,
             *(["--override-variant", variant] if variant else []),
             f"oci-archive:{ARCHIVE}:{version}", f"oci:{layout}:{version}"],
            check=True, capture_output=True,
        )
        bundle = base / f"{arch}-bundle"
        subprocess.run(
            ["umoci", "unpack", "--image", f"{layout}:{version}", str(bundle)],
            check=True, capture_output=True,
        )
        bundles[arch] = bundle
    return bundles


@pytest.mark.parametrize("arch", all_arches())
class TestUnpacked:
    def test_rootfs_is_sleep_alone_with_dists_bytes(self, unpacked, arch):
        rootfs = unpacked[arch] / "rootfs"
        assert sorted(p.name for p in rootfs.iterdir()) == ["sleep"]
        sleep = rootfs / "sleep"
        assert sleep.read_bytes() == (REPO / f"dist/sleep-linux-{arch}").read_bytes()
        status = sleep.stat()
        assert (status.st_uid, status.st_gid) == (0, 0)
        assert status.st_mode & 0o7777 in (0o755, 0o555)

    def test_runtime_config_runs_sleep_infinity_as_65532(self, unpacked, arch):
        process = json.loads((unpacked[arch] / "config.json").read_text())["process"]
        assert process["args"] == ["/sleep", "infinity"]
        assert (process["user"]["uid"], process["user"]["gid"]) == (65532, 65532)

    def test_unpacked_sleep_runs(self, unpacked, arch):
        sleep = unpacked[arch] / "rootfs/sleep"
        command = [*runner(arch), str(sleep), "0.1"]
        start = time.monotonic()
        result = subprocess.run(command, capture_output=True, timeout=30)
        elapsed = time.monotonic() - start
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
        assert 0.1 <= elapsed < 5, elapsed


def run_image_script(dist: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["scripts/image"], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DIST": str(dist), **env},
    )


def test_two_runs_from_a_clean_state_give_the_same_archive(tmp_path, archive):
    (expected,) = archive.json("index.json")["manifests"]
    digests, archives = [], []
    for run in ("a", "b"):
        dist = tmp_path / run
        dist.mkdir()
        for arch in all_arches():
            (dist / f"sleep-linux-{arch}").write_bytes((REPO / f"dist/sleep-linux-{arch}").read_bytes())
            (dist / f"sleep-linux-{arch}").chmod(0o755)
        result = run_image_script(dist)
        assert result.returncode == 0, result.stderr
        (entry,) = OciArchive(dist / "sleep-oci.tar").json("index.json")["manifests"]
        assert entry["digest"] in result.stdout, "scripts/image reports the index digest"
        digests.append(entry["digest"])
        archives.append((dist / "sleep-oci.tar").read_bytes())
    # And the same as dist/'s (scripts/test made it from the same commit).
    assert digests == [expected["digest"]] * 2
    assert archives == [ARCHIVE.read_bytes()] * 2, "the tar itself differs: see scripts/lib/oci_archive.py"


@pytest.mark.parametrize("missing", ["amd64", "riscv64"])
def test_a_missing_binary_fails_with_its_name(tmp_path, missing):
    for arch in all_arches():
        if arch != missing:
            (tmp_path / f"sleep-linux-{arch}").write_bytes(b"")
    result = run_image_script(tmp_path)
    assert result.returncode != 0
    assert f"image: {tmp_path}/sleep-linux-{missing} missing: run scripts/build first" in result.stderr
    assert not (tmp_path / "sleep-oci.tar").exists()
    # Nothing left in target/ either.
    assert not list((REPO / "target").glob("image.*"))


@pytest.mark.parametrize("arch", all_arches())
def test_skopeo_makes_a_docker_load_archive_of_each_platform(tmp_path, arch):
    """Another platform than amd64 for Docker's classic image store, without a
    registry: the archive's manifest.json names amd64's image alone, so skopeo
    writes a Docker archive of the one platform wanted; this is that command."""
    version = cargo_package()["version"]
    architecture, variant = docker_platform(arch)
    archive = tmp_path / "docker.tar"
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--override-os", "linux", "--override-arch", architecture,
         *(["--override-variant", variant] if variant else []),
         f"oci-archive:{ARCHIVE}:{version}", f"docker-archive:{archive}:localhost/sleep:{version}"],
        check=True, capture_output=True,
    )
    with tarfile.open(archive) as tar:
        (entry,) = json.load(tar.extractfile("manifest.json"))
        assert entry["RepoTags"] == [f"localhost/sleep:{version}"]
        config = json.load(tar.extractfile(entry["Config"]))
        assert config["architecture"] == architecture and config.get("variant", "") == variant
        assert config["config"]["Entrypoint"] == ["/sleep"]
        (layer,) = entry["Layers"]
        with tarfile.open(fileobj=io.BytesIO(tar.extractfile(layer).read())) as layer_tar:
            (member,) = layer_tar.getmembers()
            assert layer_tar.extractfile(member).read() == (REPO / f"dist/sleep-linux-{arch}").read_bytes()
