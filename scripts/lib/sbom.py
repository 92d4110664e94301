"""Finishes the CycloneDX SBOM that cargo-cyclonedx made from Cargo's metadata
into dist/sleep.cdx.json. Run by scripts/build, after the binaries and
SHA256SUMS:

    python3 scripts/lib/sbom.py CARGO_SBOM DIST

What it adds and changes, keeping cargo-cyclonedx's crate and dependency
records (`syscalls`: version, license, crates.io checksum):
- the release binaries built this run, the files SHA256SUMS names, as file
  components of the sleep crate, each with its SHA-256, Rust target and
  Docker platform (arches.txt);
- the toolchain, as the BOM's formulation: rustc (its version, commit and
  LLVM, as `rustc -vV` prints them; its `core` is linked into each binary),
  cargo, and the llvm-objcopy that strips the binaries (its version as it
  prints it: the llvm-tools component's own build of LLVM);
- reproducibility: bom-refs without the checkout's path, and the timestamp
  from SOURCE_DATE_EPOCH or else the commit's time (none outside a git
  checkout); no serial number. So the same commit gives the same bytes.
"""

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import arches as arch_table  # scripts/lib/arches.py: Python puts the script's folder on the path

TARGET_PROPERTY = "cdx:rustc:sbom:target:triple"


def fail(message: str):
    raise SystemExit(f"sbom: {message}")


def command_output(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def rustc_facts() -> dict[str, str]:
    """`rustc -vV`'s `key: value` lines, and its first line as `line`."""
    text = command_output("rustc", "-vV")
    facts = dict(re.findall(r"^([\w -]+): (.*)$", text, re.MULTILINE))
    facts["line"] = text.splitlines()[0]
    return facts


def llvm_objcopy_version() -> str:
    """The version the llvm-objcopy that scripts/build runs prints (its
    `LLVM version X` line), from the one place that knows where it is."""
    tool = command_output(str(Path(__file__).resolve().parents[1] / "llvm-tool"), "llvm-objcopy").strip()
    found = re.findall(r"^\s*LLVM version (\S+)$", command_output(tool, "--version"), re.MULTILINE)
    if len(found) != 1:
        fail(f"{tool} --version: no one 'LLVM version' line")
    return found[0]


def timestamp() -> str | None:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        try:
            epoch = command_output("git", "log", "-1", "--format=%ct").strip()
        except (OSError, subprocess.CalledProcessError):
            return None   # not a git checkout: no time rather than a varying one
    if not epoch.isdigit():
        fail(f"SOURCE_DATE_EPOCH '{epoch}' is not a number of seconds")
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def binaries(dist: Path) -> list[tuple[str, str]]:
    """(file name, sha256) of each line of dist/SHA256SUMS."""
    found = []
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or not name.startswith("sleep-linux-"):
            fail(f"{dist}/SHA256SUMS: unexpected line {line!r}")
        found.append((name, digest))
    if not found:
        fail(f"{dist}/SHA256SUMS names no binary")
    return found


def path_free(ref: str) -> str:
    """cargo-cyclonedx's `path+file:///checkout#sleep@0.1.0 bin-target-1`
    less the checkout's path: `sleep@0.1.0 bin-target-1`."""
    return re.sub(r"^path\+file://[^#]*#", "", ref)


def main():
    if len(sys.argv) != 3:
        fail("usage: python3 scripts/lib/sbom.py CARGO_SBOM DIST")
    dist = Path(sys.argv[2])
    shipped = binaries(dist)
    bom = json.loads(Path(sys.argv[1]).read_text())
    rows = {row.name: row for row in arch_table.load()}
    rustc = rustc_facts()

    crate = bom["metadata"]["component"]
    crate["bom-ref"] = path_free(crate["bom-ref"])
    # The Cargo targets (lib, bin) are replaced by what the release ships.
    crate["components"] = []
    for name, digest in shipped:
        row = rows.get(name.removeprefix("sleep-linux-")) or fail(f"{name}: no row in arches.txt")
        crate["components"].append({
            "type": "file",
            "bom-ref": f"{crate['bom-ref']} {name}",
            "name": name,
            "version": crate["version"],
            "hashes": [{"alg": "SHA-256", "content": digest}],
            "properties": [
                {"name": TARGET_PROPERTY, "value": row.rust_target},
                {"name": "sleep:platform", "value": row.platform},
            ],
        })
    for dependency in bom["dependencies"]:
        dependency["ref"] = path_free(dependency["ref"])
    # Built for each binary's own target (above), not the one cargo-cyclonedx was given.
    bom["metadata"].pop("properties", None)
    # CycloneDX 1.5's form of the tools list (the bare list is deprecated).
    bom["metadata"]["tools"] = {"components": [
        {"type": "application", "author": tool.get("vendor"), "name": tool["name"], "version": tool["version"]}
        for tool in bom["metadata"]["tools"]
    ]}
    bom["metadata"].pop("timestamp", None)
    if (when := timestamp()) is not None:
        bom["metadata"] = {"timestamp": when, **bom["metadata"]}
    bom.pop("serialNumber", None)

    cargo_version = command_output("cargo", "-V").split()[1]
    bom["formulation"] = [{
        "bom-ref": "toolchain",
        "components": [
            {
                "type": "application", "bom-ref": "rustc", "name": "rustc", "version": rustc["release"],
                "description": f"{rustc['line']}, the pinned toolchain (rust-toolchain.toml); its core "
                               "library is linked into each binary",
                "properties": [
                    {"name": "rustc:commit-hash", "value": rustc["commit-hash"]},
                    {"name": "rustc:llvm-version", "value": rustc["LLVM version"]},
                ],
            },
            {"type": "application", "bom-ref": "cargo", "name": "cargo", "version": cargo_version},
            {
                "type": "application", "bom-ref": "llvm-objcopy", "name": "llvm-objcopy",
                "version": llvm_objcopy_version(),
                "description": "the toolchain's llvm-tools; strips the section headers (scripts/build)",
            },
        ],
    }]
    (dist / "sleep.cdx.json").write_text(json.dumps(bom, indent=2) + "\n")


if __name__ == "__main__":
    main()
