"""Offline checks of what runs on GitHub: the workflows (.github/workflows),
Dependabot's config, and every shell script, including the workflows' run:
blocks.

- check-jsonschema's copies of GitHub's schemas: the files parse as a
  workflow / a Dependabot config, with known keys and values.
- zizmor --offline --persona pedantic: the Actions security linter, with no
  findings (a rule relaxed in .github/zizmor.yml must say why there).
- shellcheck on scripts/, scripts/lib/ and .ci/ (found by shebang, and the
  files they source) and on each run: block, with the shell the step runs it with.
- The release workflow's own rules: the tag check reads Cargo.toml, each job
  holds only the permissions it uses, the release is published last, the
  anonymous pull is a job of its own; and its scripts: scripts/index-digest
  fails when skopeo does, scripts/release-tags moves X.Y, X and latest only to
  the highest release (scripts/rehearse-release runs the whole workflow).

The tools come from target/venv (tests/python/requirements.txt); a missing
one fails the test.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import REPO, cargo_package

WORKFLOWS = REPO / ".github" / "workflows"
DEPENDABOT = REPO / ".github" / "dependabot.yml"
RELEASE = WORKFLOWS / "release.yml"
SHELL_DIRS = ["scripts", "scripts/lib", ".ci"]


def tool(name: str) -> str:
    """A tool installed in the venv running these tests (target/venv/bin)."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} not in {path.parent}: run scripts/setup"
    return str(path)


def run(*command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, **kwargs)


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.y*ml"))


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as true.
    if True in document:
        document["on"] = document.pop(True)
    return document


def test_the_workflows_exist():
    names = [path.name for path in workflow_files()]
    assert "ci.yml" in names and "release.yml" in names, names


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path):
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_matches_its_schema_and_updates_the_actions():
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(DEPENDABOT))
    assert result.returncode == 0, result.stdout + result.stderr
    ecosystems = {update["package-ecosystem"] for update in yaml.safe_load(DEPENDABOT.read_text())["updates"]}
    assert "github-actions" in ecosystems, ecosystems


def test_zizmor_finds_nothing():
    # Offline: the audits that would ask GitHub's API are skipped. Pedantic:
    # code smells count too. zizmor finds its config (.github/zizmor.yml).
    result = run(tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress",
                 "--format", "plain", ".github")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout, result.stdout


def test_each_relaxed_zizmor_rule_says_why():
    config = REPO / ".github" / "zizmor.yml"
    if not config.exists():
        return  # nothing relaxed
    lines = config.read_text().splitlines()
    rules = yaml.safe_load(config.read_text()).get("rules", {})
    for rule in rules:
        index = lines.index(f"  {rule}:")
        assert lines[index - 1].strip().startswith("#"), f"zizmor.yml: {rule} is relaxed without a reason above it"


def steps_by_job(document: dict):
    for job_name, job in document["jobs"].items():
        for index, step in enumerate(job.get("steps", [])):
            yield job_name, job, index, step


def test_every_action_is_pinned_by_commit_with_its_version():
    """A full commit SHA (a tag can be moved), and the version it was read
    from in a comment, for people and Dependabot."""
    pinned = re.compile(r"^\s*-?\s*uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")
    for path in workflow_files():
        for line in path.read_text().splitlines():
            if re.match(r"^\s*-?\s*uses:", line):
                assert pinned.match(line), f"{path.name}: not pinned by commit with '# vX.Y.Z': {line.strip()}"


def test_container_images_are_one_debian_12_point_release():
    """Every container job runs on the same Debian 12 point release: what
    stands in for zizmor's unpinned-images, relaxed in .github/zizmor.yml."""
    images = set()
    for path in workflow_files():
        for job in load(path)["jobs"].values():
            if "container" in job:
                container = job["container"]
                images.add(container["image"] if isinstance(container, dict) else container)
    assert len(images) == 1, images
    assert re.fullmatch(r"debian:12\.\d+", images.pop())


def test_every_checkout_drops_its_credentials():
    for path in workflow_files():
        for job_name, _, index, step in steps_by_job(load(path)):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, (path.name, job_name, index)


# ---- shellcheck ------------------------------------------------------------

SHEBANG = re.compile(rb"^#!\s*(?:/usr/bin/env\s+)?(?:/usr)?(?:/bin/)?(bash|sh)\b")
SOURCED = re.compile(r"^\s*(?:source|\.)\s+([\w./-]+)\s*$", re.MULTILINE)


def shell_scripts() -> dict[str, str]:
    """Path -> shell of every script in scripts/ and .ci/ with a bash or sh
    shebang, plus the files they source (read as bash)."""
    scripts = {}
    for directory in SHELL_DIRS:
        for path in sorted((REPO / directory).iterdir()):
            if path.is_file():
                match = SHEBANG.match(path.read_bytes()[:64])
                if match:
                    scripts[str(path.relative_to(REPO))] = match.group(1).decode()
    for script in list(scripts):
        for sourced in SOURCED.findall((REPO / script).read_text()):
            if (REPO / sourced).is_file():
                scripts.setdefault(sourced, "bash")
    return scripts


def shellcheck(path: str, shell: str) -> subprocess.CompletedProcess:
    # -x follows `source scripts/lib/arches.sh` from the repository root, where
    # every script runs from (each starts with a cd there).
    return run(tool("shellcheck"), "--external-sources", f"--shell={shell}", path)


def test_shell_scripts_are_found():
    scripts = shell_scripts()
    # Those there were when this test was written; new ones join by shebang.
    for known in ["scripts/build", "scripts/setup", "scripts/test", "scripts/lib/arches.sh",
                  "scripts/docker-arch", "scripts/bench", ".ci/run", ".ci/install-rustup"]:
        assert known in scripts, (known, sorted(scripts))
    # A script with a shebang is run as a command: it must be executable.
    for path in scripts:
        if SHEBANG.match((REPO / path).read_bytes()[:64]):
            assert os.access(REPO / path, os.X_OK), f"{path}: chmod +x"


@pytest.mark.parametrize("path", sorted(shell_scripts()))
def test_shellcheck_script(path):
    result = shellcheck(path, shell_scripts()[path])
    assert result.returncode == 0, result.stdout + result.stderr


EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


def step_shell(document: dict, job: dict, step: dict) -> str:
    """The shell GitHub runs a step's script with. Only bash and sh are used
    here (a bare `bash` runs as `bash --noprofile --norc -eo pipefail`)."""
    shell = (step.get("shell")
             or job.get("defaults", {}).get("run", {}).get("shell")
             or document.get("defaults", {}).get("run", {}).get("shell"))
    # Unset, GitHub picks bash if the container has it, else sh: say which.
    assert shell in ("bash", "sh"), f"set the shell explicitly (bash or sh), not {shell!r}"
    return shell


def run_blocks():
    for path in workflow_files():
        document = load(path)
        for job_name, job, index, step in steps_by_job(document):
            if "run" in step:
                name = f"{path.name}:{job_name}:{step.get('id') or step.get('name') or index}"
                yield pytest.param(document, job, step, id=name)


@pytest.mark.parametrize("document,job,step", list(run_blocks()))
def test_shellcheck_run_block(document, job, step, tmp_path):
    shell = step_shell(document, job, step)
    # ${{ }} is replaced by GitHub before the shell runs: stand in a plain
    # word, which the shell reads as the (unquoted) text it will become.
    script = EXPRESSION.sub("GITHUB_EXPRESSION", step["run"])
    # What GitHub runs: `bash -eo pipefail file` / `sh -e file`.
    prelude = "set -eo pipefail\n" if shell == "bash" else "set -e\n"
    file = tmp_path / "run.sh"
    file.write_text(f"#!/usr/bin/env {shell}\n{prelude}{script}")
    # From the repository root, as the steps run (so `source` resolves).
    result = shellcheck(str(file), shell)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_catches_a_broken_run_block(tmp_path):
    """The checker itself: a run block with an unquoted expansion fails."""
    file = tmp_path / "run.sh"
    file.write_text('#!/usr/bin/env bash\nrm -rf $RUNNER_TEMP/x\n[ $a == b ]\n')
    assert shellcheck(str(file), "bash").returncode != 0


# ---- the release workflow --------------------------------------------------


def release() -> dict:
    return load(RELEASE)


def cargo_version() -> str:
    return cargo_package()["version"]


def tag_check(cargo_toml: str, tag: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """Runs the release workflow's tag check step, as GitHub would, in a
    directory holding `cargo_toml` as Cargo.toml."""
    steps = [step for step in release()["jobs"]["check-tag"]["steps"] if step.get("id") == "version"]
    assert len(steps) == 1, "release.yml: check-tag has no step with id: version"
    step = steps[0]
    assert step["env"]["TAG"] == "${{ github.ref_name }}"
    assert not EXPRESSION.search(step["run"]), "the tag check takes its inputs from env:"
    workdir = tmp_path / tag.replace("/", "_")
    (workdir / "scripts").mkdir(parents=True)
    for script in ("version", "release-tags"):
        shutil.copy2(REPO / "scripts" / script, workdir / "scripts" / script)
    (workdir / "Cargo.toml").write_text(cargo_toml)
    output = workdir / "github_output"
    output.touch()
    environment = {**os.environ, "TAG": tag, "GITHUB_OUTPUT": str(output)}
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                            cwd=workdir, env=environment, capture_output=True, text=True)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return result, outputs


def test_tag_check_accepts_v_and_cargo_tomls_version(tmp_path):
    version = cargo_version()
    result, outputs = tag_check((REPO / "Cargo.toml").read_text(), f"v{version}", tmp_path)
    assert result.returncode == 0, result.stderr
    assert outputs == {"version": version, "prerelease": "false"}


@pytest.mark.parametrize("tag", ["v{v}.1", "{v}", "v{v}-rc.1", "v0.0.0", "vv{v}", "v{v} ", "release-{v}"])
def test_tag_check_refuses_any_other_tag(tag, tmp_path):
    tag = tag.format(v=cargo_version())
    result, outputs = tag_check((REPO / "Cargo.toml").read_text(), tag, tmp_path)
    assert result.returncode != 0
    assert "Cargo.toml" in result.stderr and tag in result.stderr, result.stderr
    assert outputs == {}


def test_tag_check_reads_the_version_from_cargo_toml(tmp_path):
    """Another version in Cargo.toml moves what the check accepts: it is
    read from the file, not written in the workflow."""
    real = cargo_version()
    other = (REPO / "Cargo.toml").read_text().replace(f'\nversion = "{real}"\n', '\nversion = "7.8.9-rc.1"\n', 1)
    assert tomllib.loads(other)["package"]["version"] == "7.8.9-rc.1"
    result, outputs = tag_check(other, "v7.8.9-rc.1", tmp_path)
    assert result.returncode == 0, result.stderr
    assert outputs == {"version": "7.8.9-rc.1", "prerelease": "true"}
    result, _ = tag_check(other, f"v{real}", tmp_path)
    assert result.returncode != 0


def test_tag_check_needs_a_version(tmp_path):
    result, _ = tag_check('[package]\nname = "sleep"\n', "v1.0.0", tmp_path)
    assert result.returncode != 0
    assert "no [package] version" in result.stderr


def test_release_runs_on_version_tags_only():
    assert release()["on"] == {"push": {"tags": ["v*"]}}


# What each job of release.yml may do with its token, and nothing more.
RELEASE_PERMISSIONS = {
    "check-tag": {"contents": "read"},
    "build": {"contents": "read"},
    "draft-release": {"contents": "write"},
    "attest-binaries": {"id-token": "write", "attestations": "write"},
    "image": {"contents": "read", "packages": "write", "id-token": "write", "attestations": "write",
              "artifact-metadata": "write"},
    # What a re-run after making the package public repeats: reads only.
    "public-image": {"contents": "read"},
    "publish": {"contents": "write"},
}


def test_release_jobs_hold_the_least_permissions():
    document = release()
    assert document["permissions"] == {}, "release.yml: no permissions by default"
    jobs = document["jobs"]
    assert set(jobs) == set(RELEASE_PERMISSIONS)
    for name, job in jobs.items():
        assert job.get("permissions") == RELEASE_PERMISSIONS[name], name


def test_ci_reads_only():
    assert load(WORKFLOWS / "ci.yml")["permissions"] == {"contents": "read"}


def needs(job: dict) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else value


def test_release_is_published_last():
    """publish depends on every other job, so the release becomes visible
    only once the assets, the image, its provenance and signature exist."""
    jobs = release()["jobs"]
    seen, todo = set(), list(needs(jobs["publish"]))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += needs(jobs[name])
    assert seen == set(jobs) - {"publish"}, seen
    commands = " ".join(step.get("run", "") for step in jobs["publish"]["steps"])
    assert "--draft=false" in commands
    created = " ".join(step.get("run", "") for step in jobs["draft-release"]["steps"])
    assert "gh release create" in created and "--draft" in created
    assert "gh release upload" in created and "--clobber" in created


def test_release_steps_check_what_they_download():
    """Every job that downloads dist/ checks the binaries against SHA256SUMS
    before using them."""
    for name, job in release()["jobs"].items():
        steps = job.get("steps", [])
        downloads = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/download-artifact@")]
        for index in downloads:
            later = " ".join(s.get("run", "") for s in steps[index + 1:])
            assert "sha256sum --check --strict SHA256SUMS" in later, name


def test_the_anonymous_pull_is_a_job_of_its_own_that_publish_needs():
    """The check a first release fails until the package is public: re-run
    alone, it must need no artifact of an earlier attempt (a re-run's
    download fails: actions/download-artifact#486) and sign or attest
    nothing again."""
    jobs = release()["jobs"]
    job = jobs["public-image"]
    assert "public-image" in needs(jobs["publish"])
    uses = [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]
    assert uses == ["actions/checkout"], uses
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert "--no-creds" in commands
    image_commands = " ".join(step.get("run", "") for step in jobs["image"]["steps"])
    assert "--no-creds" not in image_commands, "the anonymous pull belongs to public-image alone"


def test_publish_marks_latest_as_the_image_job_decided():
    jobs = release()["jobs"]
    (step,) = jobs["publish"]["steps"]
    assert step["env"]["LATEST"] == "${{ needs.image.outputs.latest }}"
    assert '--latest="$LATEST"' in step["run"]
    assert jobs["image"]["outputs"]["latest"] == "${{ steps.tags.outputs.latest }}"


# ---- scripts/index-digest ----------------------------------------------------


def fake_skopeo(directory: Path, script: str) -> dict:
    """An environment whose PATH finds `skopeo` in `directory` first, running `script`."""
    directory.mkdir(exist_ok=True)
    skopeo = directory / "skopeo"
    skopeo.write_text(f"#!/bin/sh\n{script}\n")
    skopeo.chmod(0o755)
    return {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}"}


def index_digest(*args, env=None) -> subprocess.CompletedProcess:
    return run("scripts/index-digest", *args, env=env)


def test_index_digest_fails_when_skopeo_fails(tmp_path):
    """The regression: release.yml's echo "sha256:$(skopeo … | sha256sum)"
    printed the digest of empty input when skopeo failed."""
    env = fake_skopeo(tmp_path / "bin", "echo 'skopeo: manifest unknown' >&2; exit 1")
    result = index_digest("oci-archive:dist/sleep-oci.tar", env=env)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "index-digest: skopeo inspect --raw oci-archive:dist/sleep-oci.tar failed" in result.stderr


@pytest.mark.parametrize("output", ["", "{}", '{"mediaType": "application/vnd.oci.image.manifest.v1+json"}'])
def test_index_digest_refuses_what_is_not_an_index(tmp_path, output):
    env = fake_skopeo(tmp_path / "bin", f"printf '%s' '{output}'")
    result = index_digest("docker://registry.invalid/sleep:1.0.0", env=env)
    assert result.returncode != 0 and result.stdout == ""
    assert "is not an OCI image index" in result.stderr


def test_index_digest_hashes_the_exact_bytes_skopeo_reads(tmp_path):
    # Trailing newlines are part of the document: they change the digest.
    document = tmp_path / "index.json"
    document.write_text('{"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}\n\n')
    env = fake_skopeo(tmp_path / "bin", f"cat '{document}'")
    result = index_digest("--no-creds", "docker://registry.invalid/sleep:1.0.0", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"sha256:{hashlib.sha256(document.read_bytes()).hexdigest()}\n"


def test_index_digest_of_the_archive_is_its_index_json_entry():
    archive = REPO / "dist/sleep-oci.tar"
    assert archive.is_file(), "run scripts/build && scripts/image"
    with tarfile.open(archive) as tar:
        (entry,) = json.load(tar.extractfile("index.json"))["manifests"]
    result = index_digest(f"oci-archive:{archive}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == entry["digest"] + "\n"


# ---- scripts/release-tags ----------------------------------------------------


def release_tags(version: str, existing: list[str]) -> subprocess.CompletedProcess:
    return run("scripts/release-tags", version, input="".join(f"{tag}\n" for tag in existing))


@pytest.mark.parametrize("version,existing,moved", [
    # The first release: every tag.
    ("0.1.0", [], "0.1.0 0.1 0 latest"),
    # The next ones move what they lead.
    ("0.1.1", ["0.1.0", "0.1", "0", "latest"], "0.1.1 0.1 0 latest"),
    ("0.2.0", ["0.1.0", "0.1.1", "0.1", "0", "latest"], "0.2.0 0.2 0 latest"),
    # A backport after 0.2.0 moves its own minor line only.
    ("0.1.5", ["0.1.0", "0.2.0", "0.1", "0.2", "0", "latest"], "0.1.5 0.1"),
    # ... and after 1.0.0, its own major line.
    ("0.3.0", ["0.2.0", "1.0.0", "latest"], "0.3.0 0.3 0"),
    ("1.1.9", ["1.2.0"], "1.1.9 1.1"),
    # Versions compare as numbers, not text.
    ("0.10.0", ["0.9.0", "0.9.10"], "0.10.0 0.10 0 latest"),
    ("0.9.1", ["0.10.0"], "0.9.1 0.9"),
    # Pre-releases are not releases: they neither move tags nor hold them back.
    ("0.2.0-rc.1", ["0.1.0", "latest"], "0.2.0-rc.1"),
    ("0.2.0", ["0.1.0", "0.2.0-rc.1", "1.0.0-beta"], "0.2.0 0.2 0 latest"),
    # The tags of signatures and attestations are no versions either.
    ("0.1.0", ["sha256-" + "a" * 64, "sha256-" + "b" * 64 + ".sig"], "0.1.0 0.1 0 latest"),
    # A re-run of the same release moves the same tags.
    ("0.2.0", ["0.1.0", "0.2.0", "0.2", "0", "latest"], "0.2.0 0.2 0 latest"),
])
def test_release_tags_move_only_to_the_highest_release(version, existing, moved):
    result = release_tags(version, existing)
    assert result.returncode == 0, result.stderr
    assert result.stdout == moved + "\n"


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", "", "latest"])
def test_release_tags_refuse_what_is_no_version(version):
    result = release_tags(version, [])
    assert result.returncode != 0 and result.stdout == ""
    assert "release-tags:" in result.stderr
