"""The SBOM, dist/sleep.cdx.json, as scripts/build wrote it: valid CycloneDX
1.5 by the spec's own JSON schema (CycloneDX's Python library, offline), and
true to what it describes: the crates Cargo.lock links into the binary, their
licenses as Cargo reads them, the binaries of dist/SHA256SUMS, and the pinned
toolchain. Its reproducibility across checkouts is test_reproducible.py's.
"""

import json
import os
import re
import subprocess
import tomllib
from datetime import datetime, timezone

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from conftest import REPO, all_arches, arch_row, cargo_package, commit_time, sha256sums, toolchain_channel

SBOM = REPO / "dist/sleep.cdx.json"
TARGET_PROPERTY = "cdx:rustc:sbom:target:triple"


def validation_error(text: str):
    """None when `text` is valid CycloneDX 1.5 JSON, else the schema's complaint."""
    return JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)


def linked_crates() -> dict[str, dict]:
    """Cargo.lock's packages that the sleep crate depends on, transitively: {name: package}."""
    packages = {p["name"]: p for p in tomllib.loads((REPO / "Cargo.lock").read_text())["package"]}
    found, todo = {}, list(packages["sleep"].get("dependencies", []))
    while todo:
        name = todo.pop().split()[0]
        if name not in found:
            found[name] = packages[name]
            todo += packages[name].get("dependencies", [])
    return found


def cargo_licenses() -> dict[str, str]:
    """Each package's license, as Cargo reads it from the crates' manifests."""
    result = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--offline", "--locked",
         "--filter-platform", arch_row(all_arches()[0]).rust_target],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    return {p["name"]: p["license"] for p in json.loads(result.stdout)["packages"]}


@pytest.fixture(scope="module")
def text() -> str:
    assert SBOM.is_file(), f"{SBOM} missing: run scripts/build (scripts/setup installs cargo-cyclonedx)"
    return SBOM.read_text()


@pytest.fixture(scope="module")
def bom(text) -> dict:
    return json.loads(text)


def test_is_valid_cyclonedx_1_5_by_the_specs_schema(text, bom):
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.5")
    assert validation_error(text) is None


def test_the_schema_check_rejects_what_the_spec_does(text, bom):
    """The validator is live: a wrong version type and an unknown field fail."""
    assert validation_error(json.dumps({**bom, "version": "1"})) is not None
    assert validation_error(json.dumps({**bom, "binaries": []})) is not None


def test_describes_the_sleep_crate(bom):
    crate = bom["metadata"]["component"]
    package = cargo_package()
    assert (crate["type"], crate["name"], crate["version"]) == ("application", "sleep", package["version"])
    assert crate["licenses"] == [{"expression": package["license"]}]
    assert {"type": "vcs", "url": package["repository"]} in crate["externalReferences"]


def test_names_each_linked_crate_with_its_version_license_and_checksum(bom):
    crates = linked_crates()
    assert set(crates) == {"syscalls"}, "the binary links syscalls alone (Cargo.toml)"
    licenses = cargo_licenses()
    listed = {c["name"]: c for c in bom["components"]}
    assert set(listed) == set(crates)
    for name, package in crates.items():
        component = listed[name]
        assert component["version"] == package["version"]
        assert component["purl"] == f"pkg:cargo/{name}@{package['version']}"
        assert component["licenses"] == [{"expression": licenses[name]}]
        assert component["hashes"] == [{"alg": "SHA-256", "content": package["checksum"]}]
        assert component["scope"] == "required"
    (root,) = [d for d in bom["dependencies"] if d["ref"] == bom["metadata"]["component"]["bom-ref"]]
    assert root["dependsOn"] == [listed[name]["bom-ref"] for name in crates]


def test_names_every_binary_of_sha256sums_with_its_digest_and_target(bom):
    listed = sha256sums(REPO / "dist/SHA256SUMS")
    assert set(listed) == {f"sleep-linux-{arch}" for arch in all_arches()}
    files = bom["metadata"]["component"]["components"]
    assert [f["name"] for f in files] == [f"sleep-linux-{arch}" for arch in all_arches()]
    for arch, component in zip(all_arches(), files):
        assert component["type"] == "file"
        assert component["hashes"] == [{"alg": "SHA-256", "content": listed[f"sleep-linux-{arch}"]}], (
            "the SBOM and dist/SHA256SUMS disagree: run scripts/build"
        )
        properties = {p["name"]: p["value"] for p in component["properties"]}
        assert properties == {TARGET_PROPERTY: arch_row(arch).rust_target, "sleep:platform": arch_row(arch).platform}


def objcopy_says() -> str:
    """What the llvm-objcopy scripts/build strips with prints as its version
    (its `LLVM version` line), asked here, not taken from scripts/lib/sbom.py."""
    tool = subprocess.run([str(REPO / "scripts/llvm-tool"), "llvm-objcopy"],
                          capture_output=True, text=True, check=True).stdout.strip()
    text = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout
    (version,) = re.findall(r"LLVM version (\S+)", text)
    return version


def test_names_the_pinned_toolchain(bom):
    channel = toolchain_channel()
    rustc_vv = subprocess.run(["rustc", "-vV"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    facts = dict(re.findall(r"^([\w -]+): (.*)$", rustc_vv, re.MULTILINE))
    (formula,) = bom["formulation"]
    tools = {c["name"]: c for c in formula["components"]}
    assert set(tools) == {"rustc", "cargo", "llvm-objcopy"}
    assert tools["rustc"]["version"] == channel == facts["release"]
    assert {p["name"]: p["value"] for p in tools["rustc"]["properties"]} == {
        "rustc:commit-hash": facts["commit-hash"], "rustc:llvm-version": facts["LLVM version"],
    }
    assert tools["cargo"]["version"] == channel


def test_names_llvm_objcopy_by_the_version_it_prints(bom):
    (formula,) = bom["formulation"]
    (objcopy,) = [c for c in formula["components"] if c["name"] == "llvm-objcopy"]
    assert objcopy["version"] == objcopy_says(), "the SBOM names another llvm-objcopy: run scripts/build"
    # The pinned toolchain's own llvm-tools: rustup builds them from rustc's
    # LLVM and names the release (e.g. 22.1.2-rust-1.95.0-stable).
    rustc = {p["name"]: p["value"] for c in formula["components"] if c["name"] == "rustc" for p in c["properties"]}
    (release,) = [c["version"] for c in formula["components"] if c["name"] == "rustc"]
    assert objcopy["version"].startswith(f"{rustc['rustc:llvm-version']}-rust-{release}"), objcopy["version"]


def test_names_the_pinned_cargo_cyclonedx(bom):
    (pin,) = re.findall(r"^cargo_cyclonedx_version=(\S+)$", (REPO / "scripts/setup").read_text(), re.MULTILINE)
    (tool,) = bom["metadata"]["tools"]["components"]
    assert (tool["name"], tool["version"]) == ("cargo-cyclonedx", pin)


def test_is_reproducible_no_path_serial_or_time_of_the_build(text, bom):
    assert str(REPO) not in text and os.path.expanduser("~") not in text
    assert "serialNumber" not in bom
    committed = datetime.fromtimestamp(commit_time(), timezone.utc)
    assert bom["metadata"]["timestamp"] == committed.strftime("%Y-%m-%dT%H:%M:%SZ"), (
        f"{SBOM} was made at another commit: run scripts/build"
    )


def test_a_one_arch_build_describes_that_binary_alone(tmp_path):
    result = subprocess.run(
        ["scripts/build", "arm64"], cwd=REPO, env={**os.environ, "DIST": str(tmp_path)},
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "sleep.cdx.json").read_text()
    assert validation_error(text) is None
    (binary,) = json.loads(text)["metadata"]["component"]["components"]
    assert binary["name"] == "sleep-linux-arm64"
    assert binary["hashes"][0]["content"] == sha256sums(tmp_path / "SHA256SUMS")["sleep-linux-arm64"]


def test_a_wrong_checksum_line_fails_with_a_message(tmp_path):
    (tmp_path / "SHA256SUMS").write_text("not-a-digest  sleep-linux-amd64\n")
    (tmp_path / "cargo.json").write_text("{}")
    result = subprocess.run(
        ["python3", "scripts/lib/sbom.py", str(tmp_path / "cargo.json"), str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == f"sbom: {tmp_path}/SHA256SUMS: unexpected line 'not-a-digest  sleep-linux-amd64'\n"
    assert not (tmp_path / "sleep.cdx.json").exists()
