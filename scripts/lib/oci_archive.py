"""Finishes the OCI archive scripts/image had buildah write: names the image
for every tool that loads an archive, adds Docker's manifest.json, and writes
the tar reproducibly.

    python3 scripts/lib/oci_archive.py IN OUT --name localhost/sleep:0.1.0 --platform linux/amd64 --mtime SECS

- index.json's one entry keeps its `org.opencontainers.image.ref.name` (the
  tag, so `oci-archive:OUT:0.1.0` still means this image) and gains
  `io.containerd.image.name`, the full name. `podman load`, `podman pull
  oci-archive:`, `ctr images import` and Docker's containerd store name the
  image from it; a bare version there would make Podman call it
  `localhost/0.1.0:latest`. The index digest does not change: index.json is
  the layout's entry point, not a blob.
- manifest.json, the Docker archive format, is what `docker load` reads on
  Docker's classic image store (dockerd before 25, or with the containerd store
  off): one image, the given platform's, tagged with the name. It points at the
  blobs already in the layout, so nothing is stored twice. Docker 25+'s own
  `docker save` writes both in one tar the same way.
- The tar: every member in a fixed order, owned by 0:0, mode 0644 (0755 for
  folders), with the given time; so the same blobs give the same bytes.
"""

import argparse
import io
import json
import tarfile
from pathlib import Path

IMAGE_INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def fail(message: str):
    raise SystemExit(f"oci-archive: {message}")


def read_files(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read() for m in tar if m.isfile()}


def blob_path(descriptor: dict) -> str:
    algorithm, _, hexdigest = descriptor["digest"].partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def platform_of(text: str) -> dict:
    """linux/arm/v7 -> the OCI platform object an index entry carries."""
    os_name, architecture, *variant = text.split("/")
    return {"architecture": architecture, "os": os_name, **({"variant": variant[0]} if variant else {})}


def docker_manifest(files: dict[str, bytes], index: dict, name: str, platform: str) -> list:
    """manifest.json: the image of `platform` in `index`, tagged `name`."""
    wanted = platform_of(platform)
    entries = [m for m in index["manifests"] if m.get("platform") == wanted]
    if len(entries) != 1:
        fail(f"the index has {len(entries)} images of {platform}, not one")
    manifest = json.loads(files[blob_path(entries[0])])
    return [{
        "Config": blob_path(manifest["config"]),
        "RepoTags": [name],
        "Layers": [blob_path(layer) for layer in manifest["layers"]],
    }]


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def write_tar(path: Path, files: dict[str, bytes], mtime: int):
    """Folders and blobs in name order, then the layout's own files (as
    Docker's `docker save` orders them)."""
    blobs = sorted(name for name in files if name.startswith("blobs/"))
    folders = sorted({name.rsplit("/", 1)[0] + "/" for name in blobs} | {"blobs/"})
    rest = [name for name in ("index.json", "manifest.json", "oci-layout") if name in files]
    unknown = set(files) - set(blobs) - set(rest)
    if unknown:
        fail(f"unexpected files in the archive: {sorted(unknown)}")
    with open(path, "wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in folders + blobs + rest:
            member = tarfile.TarInfo(name)
            member.mtime = mtime
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
            if name.endswith("/"):
                member.type, member.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(member)
            else:
                member.mode, member.size = 0o644, len(files[name])
                tar.addfile(member, io.BytesIO(files[name]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--name", required=True, help="the image's full name: localhost/sleep:0.1.0")
    parser.add_argument("--platform", required=True, help="the one image manifest.json gets: linux/amd64")
    parser.add_argument("--mtime", required=True, type=int, help="the members' time, in seconds")
    args = parser.parse_args()

    files = read_files(args.input)
    layout = json.loads(files["index.json"])
    if [m["mediaType"] for m in layout["manifests"]] != [IMAGE_INDEX]:
        fail(f"{args.input}: index.json must hold one image index")
    (entry,) = layout["manifests"]
    tag = args.name.rpartition(":")[2]
    if entry.get("annotations", {}).get(REF_NAME) != tag:
        fail(f"{args.input}: the index's ref name is not {tag!r}")
    entry["annotations"] = {CONTAINERD_NAME: args.name, REF_NAME: tag}
    files["index.json"] = compact(layout)
    index = json.loads(files[blob_path(entry)])
    files["manifest.json"] = compact(docker_manifest(files, index, args.name, args.platform))
    write_tar(args.output, files, args.mtime)


if __name__ == "__main__":
    main()
