"""Rehearses .github/workflows/release.yml on this machine (scripts/rehearse-release).

The workflow's own `run:` steps, read from release.yml and run in its order,
job by job, as GitHub runs them: `bash --noprofile --norc -eo pipefail`, in a
fresh checkout per job, with `${{ }}` expressions and env substituted, and
GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH read back. Debian's docker-registry
(distribution 2.8) on 127.0.0.1 stands in for ghcr.io: over TLS with a
certificate made for this run, private (htpasswd, the image job's token) until
the rehearsal "makes the package public" by restarting it without auth.

Replaced by stand-ins, because they need GitHub's OIDC or API: actions/attest,
cosign (keyless signing; installed by the cosign-installer stand-in) and `gh`
(a fake on PATH keeping releases in a file). Each records its inputs and checks
them. actions/checkout, upload-artifact and download-artifact are done with
git and file copies. Nothing else is replaced.

Runs, in order (state under target/rehearsal, removed when all passed):
- tag-mismatch: a tag that is not Cargo.toml's version stops check-tag.
- first release, into a private package: every job runs; public-image fails
  (as a first release does on ghcr.io) and publish does not run. Then
  draft-release re-run (one draft, assets re-uploaded), the package made
  public, public-image and publish re-run: published, Latest.
- backport: the same version released after a higher one (seeded): X.Y moves,
  X, latest and GitHub's Latest stay.
- digest-mismatch: an archive that is not the build's stops the image job
  before anything is pushed.
- failing skopeo: the reproducibility check stops the build job.

Each job's `container:` is ignored: its set-up steps (apt-get, rustup,
scripts/setup) run on this machine, need the package registries, and may
upgrade installed packages.

Last line: `rehearsal: ok (...)`. Needs root (the build job's scripts/image),
docker-registry, htpasswd, openssl, skopeo, jq (scripts/setup installs them).
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ".github/workflows/release.yml"
STATE = REPO / "target" / "rehearsal"
ACTOR = "rehearsal-bot"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class RehearsalError(Exception):
    """The rehearsal found the workflow (or this machine) wrong."""


def check(condition, message):
    if not condition:
        raise RehearsalError(message)


def log(message):
    print(f"rehearsal: {message}", flush=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def archive_index_digest(archive: Path) -> str:
    """The index digest of an OCI archive, read from its index.json (not by
    scripts/index-digest, which the workflow uses)."""
    with tarfile.open(archive) as tar:
        (entry,) = json.load(tar.extractfile("index.json"))["manifests"]
    return entry["digest"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- the registry ----------------------------------------------------------


class Registry:
    """docker-registry from a private config, storage under the state dir,
    TLS with a certificate for 127.0.0.1; private (htpasswd) or public."""

    def __init__(self, state: Path):
        self.dir = state / "registry"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process = None
        self.log = None
        key, cert = self.dir / "key.pem", self.dir / "cert.pem"
        made = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
        check(made.returncode == 0, f"openssl: {made.stderr}")
        # Go (skopeo) reads SSL_CERT_FILE in place of the system's roots.
        self.ca_bundle = self.dir / "ca-bundle.pem"
        system = Path("/etc/ssl/certs/ca-certificates.crt")
        self.ca_bundle.write_text((system.read_text() if system.exists() else "") + cert.read_text())

    def config(self, password: str | None) -> Path:
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.dir / "storage")}, "delete": {"enabled": True}},
            "http": {"addr": self.address, "secret": "rehearsal", "tls": {
                "certificate": str(self.dir / "cert.pem"), "key": str(self.dir / "key.pem")}},
        }
        if password is not None:
            made = subprocess.run(["htpasswd", "-Bbn", ACTOR, password], capture_output=True, text=True)
            check(made.returncode == 0, f"htpasswd: {made.stderr}")
            (self.dir / "htpasswd").write_text(made.stdout)
            config["auth"] = {"htpasswd": {"realm": "rehearsal", "path": str(self.dir / "htpasswd")}}
        path = self.dir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        return path

    def start(self, password: str | None):
        """Private when given the one password it accepts, else public."""
        config = self.config(password)
        self.log = open(self.dir / "registry.log", "a")
        self.process = subprocess.Popen(["docker-registry", "serve", str(config)],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            check(self.process.poll() is None, f"docker-registry ended: {(self.dir / 'registry.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                check(time.monotonic() < deadline, "docker-registry did not listen in 20 s")
                time.sleep(0.05)

    def stop(self):
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def skopeo(self, *args, authfile: Path | None = None) -> subprocess.CompletedProcess:
        """skopeo as the rehearsal's own eyes: anonymous unless given an auth file."""
        command, *rest = args
        anonymous = ["--src-no-creds", "--dest-no-creds"] if command == "copy" else ["--no-creds"]
        credentials = ["--authfile", str(authfile)] if authfile else anonymous
        env = {**os.environ, "SSL_CERT_FILE": str(self.ca_bundle)}
        return subprocess.run(["skopeo", command, *credentials, *rest], capture_output=True, env=env)

    def digest(self, reference: str, authfile: Path | None = None) -> str | None:
        result = self.skopeo("inspect", "--raw", f"docker://{reference}", authfile=authfile)
        return f"sha256:{hashlib.sha256(result.stdout).hexdigest()}" if result.returncode == 0 else None

    def tags(self, image: str, authfile: Path | None = None) -> list[str]:
        result = self.skopeo("list-tags", f"docker://{image}", authfile=authfile)
        return json.loads(result.stdout)["Tags"] if result.returncode == 0 else []


# ---- a workflow run --------------------------------------------------------


@dataclass
class JobResult:
    status: str                      # success, failure, skipped
    outputs: dict = field(default_factory=dict)
    failed_step: str | None = None
    stderr: str = ""


class Rehearsal:
    def __init__(self, state: Path, commit: str):
        self.state = state
        self.commit = commit
        self.workflow_text = git("show", f"{commit}:{WORKFLOW}")
        self.workflow = yaml.safe_load(self.workflow_text)
        self.workflow["on"] = self.workflow.pop(True, self.workflow.get("on"))
        self.registry = Registry(state)
        self.home = state / "home"   # the runner's HOME: ~/.docker/config.json goes here
        self.bin = state / "bin"     # the stand-ins: gh, and cosign once installed
        self.bin.mkdir(parents=True)
        self.records = state / "records"
        self.records.mkdir()
        self.tokens = {}             # job -> its GITHUB_TOKEN
        self.counter = 0
        for job in self.workflow["jobs"]:
            self.tokens[job] = f"rehearsal-token-{job}-{os.urandom(6).hex()}"
        (state / "tokens.json").write_text(json.dumps(
            {self.tokens[name]: job.get("permissions", {}) for name, job in self.workflow["jobs"].items()}))
        stand_in = f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} --stand-in {{}} \"$@\"\n"
        gh = self.bin / "gh"
        gh.write_text(stand_in.format("gh"))
        gh.chmod(0o755)
        self.stand_in_command = stand_in

    # -- expressions and env --

    def evaluate(self, text, context: dict):
        if not isinstance(text, str):
            return text

        def value(match):
            expression = match.group(1)
            parts = expression.split(".")
            if parts[0] == "github" and len(parts) == 2:
                github = context["github"]
                check(parts[1] in github, f"unknown expression ${{{{ {expression} }}}}")
                return github[parts[1]]
            if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
                return context["steps"].get(parts[1], {}).get(parts[3], "")
            if parts[0] == "needs" and len(parts) == 4 and parts[2] == "outputs":
                check(parts[1] in context["needs"], f"${{{{ {expression} }}}}: {parts[1]} is not in needs")
                return context["needs"][parts[1]].get(parts[3], "")
            raise RehearsalError(f"the rehearsal cannot evaluate ${{{{ {expression} }}}}")

        return EXPRESSION.sub(value, text)

    def order(self) -> list[str]:
        """The jobs in an order GitHub may run them in: file order, after their needs."""
        jobs, done = self.workflow["jobs"], []
        while len(done) < len(jobs):
            for name, job in jobs.items():
                if name not in done and all(n in done for n in needs(job)):
                    done.append(name)
                    break
            else:
                raise RehearsalError("release.yml: the jobs' needs form a cycle")
        return done

    def run(self, label: str, tag: str, repository: str, jobs: list[str] | None = None,
            earlier: dict | None = None, artifacts: Path | None = None, path_prefix: Path | None = None) -> dict[str, JobResult]:
        """One workflow run (or re-run of `jobs`, with the `earlier` jobs'
        results): {job: JobResult}."""
        results = dict(earlier or {})
        artifacts = artifacts or (self.state / "artifacts" / label)
        artifacts.mkdir(parents=True, exist_ok=True)
        for name in self.order():
            if jobs is not None and name not in jobs:
                continue
            job = self.workflow["jobs"][name]
            if any(results.get(n, JobResult("skipped")).status != "success" for n in needs(job)):
                results[name] = JobResult("skipped")
                continue
            start = time.monotonic()
            results[name] = self.run_job(label, name, job, tag, repository, results, artifacts, path_prefix)
            result = results[name]
            where = f" at '{result.failed_step}'" if result.failed_step else ""
            log(f"[{label}] {name}: {result.status}{where} ({time.monotonic() - start:.0f} s)")
        return results

    def run_job(self, label, name, job, tag, repository, results, artifacts, path_prefix) -> JobResult:
        self.counter += 1
        root = self.state / "runs" / f"{self.counter:02d}-{label}-{name}"
        workspace, temp = root / "workspace", root / "temp"
        workspace.mkdir(parents=True)
        temp.mkdir()
        self.home.mkdir(exist_ok=True)
        permissions = job.get("permissions", {})
        github = {"ref_name": tag, "ref": f"refs/tags/{tag}", "token": self.tokens[name],
                  "repository": repository, "actor": ACTOR, "sha": self.commit}
        context = {"github": github, "steps": {}, "needs": {n: results[n].outputs for n in needs(job)}}
        path_file, env_file = temp / "github_path", temp / "github_env"
        path_file.touch()
        env_file.touch()
        base_env = {
            "PATH": os.environ["PATH"], "HOME": str(self.home), "LANG": "C.UTF-8", "CI": "true",
            # The runner's toolchain: rustup's homes stay the machine's (HOME is the runner's).
            "CARGO_HOME": os.environ.get("CARGO_HOME", str(Path.home() / ".cargo")),
            "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")),
            "XDG_CACHE_HOME": str(Path.home() / ".cache"),   # pip's wheel cache
            "SSL_CERT_FILE": str(self.registry.ca_bundle),
            "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp),
            "GITHUB_REPOSITORY": repository, "GITHUB_ACTOR": ACTOR, "GITHUB_REF_NAME": tag,
            "GITHUB_REF": f"refs/tags/{tag}", "GITHUB_SHA": self.commit, "GITHUB_JOB": name,
            "GITHUB_PATH": str(path_file), "GITHUB_ENV": str(env_file),
            "REHEARSAL_STATE": str(self.state), "REHEARSAL_TAG": tag, "REHEARSAL_JOB": name,
            "REHEARSAL_REGISTRY": self.registry.address,
        }
        if permissions.get("id-token") == "write":
            # What GitHub sets only for a job allowed an OIDC token.
            base_env["ACTIONS_ID_TOKEN_REQUEST_URL"] = "https://rehearsal.invalid/oidc"
            base_env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "rehearsal-oidc"
        workflow_env = {k: self.evaluate(v, context) for k, v in self.workflow.get("env", {}).items()}
        check(workflow_env.get("REGISTRY") == "ghcr.io", "release.yml: env REGISTRY is no longer ghcr.io")
        workflow_env["REGISTRY"] = self.registry.address   # the one stand-in for ghcr.io
        job_env = {k: self.evaluate(v, context) for k, v in job.get("env", {}).items()}
        extra_path, github_env = [], {}
        failed = None
        deadline = time.monotonic() + 60 * job.get("timeout-minutes", 360)
        for index, step in enumerate(job["steps"]):
            step_name = step.get("name") or step.get("uses", "").split("@")[0] or f"step {index}"
            condition = step.get("if")
            check(condition in (None, "always()", "${{ always() }}"), f"{name}: cannot evaluate if: {condition}")
            if failed and condition is None:
                continue
            env = {**base_env, **workflow_env, **job_env, **github_env}
            env["PATH"] = ":".join([*(str(p) for p in ([path_prefix] if path_prefix else [])),
                                    *reversed(extra_path), str(self.bin), base_env["PATH"]])
            env.update({k: str(self.evaluate(v, context)) for k, v in step.get("env", {}).items()})
            output_file = temp / f"output-{index}"
            output_file.touch()
            env["GITHUB_OUTPUT"] = str(output_file)
            timeout = max(1.0, deadline - time.monotonic())
            if "run" in step:
                script = temp / f"step-{index}.sh"
                script.write_text(self.evaluate(step["run"], context))
                shell = step.get("shell") or job.get("defaults", {}).get("run", {}).get("shell") \
                    or self.workflow.get("defaults", {}).get("run", {}).get("shell")
                check(shell == "bash", f"{name}: '{step_name}' runs with {shell!r}: the rehearsal knows bash")
                cwd = workspace / step.get("working-directory", ".")
                try:
                    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
                    returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
                except subprocess.TimeoutExpired:
                    returncode, stdout, stderr = 1, "", f"timed out (timeout-minutes: {job.get('timeout-minutes')})"
            else:
                inputs = {k: self.evaluate(v, context) for k, v in step.get("with", {}).items()}
                returncode, stdout, stderr = self.action(step["uses"], inputs, env, workspace, artifacts,
                                                         permissions, name)
            (root / f"step-{index}.log").write_text(stdout + stderr)
            if step.get("id"):
                context["steps"][step["id"]] = read_pairs(output_file)
            github_env.update(read_pairs(env_file))
            extra_path = [line for line in path_file.read_text().splitlines() if line]
            if returncode != 0 and not failed:
                failed = (step_name, stderr)
        outputs = {k: self.evaluate(v, context) for k, v in job.get("outputs", {}).items()}
        if failed:
            return JobResult("failure", outputs, failed[0], failed[1])
        return JobResult("success", outputs)

    # -- the uses: steps --

    def action(self, uses: str, inputs: dict, env: dict, workspace: Path, artifacts: Path,
               permissions: dict, job: str) -> tuple[int, str, str]:
        action, _, ref = uses.partition("@")
        check(re.fullmatch(r"[0-9a-f]{40}", ref), f"{uses}: not pinned by commit")
        try:
            if action == "actions/checkout":
                check(inputs.get("persist-credentials") is False, f"{job}: checkout keeps its credentials")
                check(permissions.get("contents") in ("read", "write"), f"{job}: checkout without contents: read")
                workspace.rmdir()
                git("clone", "--quiet", "--shared", "--no-checkout", str(REPO), str(workspace))
                git("-C", str(workspace), "checkout", "--quiet", "--detach", self.commit)
                return 0, "", ""
            if action == "actions/upload-artifact":
                return self.upload(inputs, workspace, artifacts)
            if action == "actions/download-artifact":
                source = artifacts / inputs["name"]
                if not source.is_dir():
                    return 1, "", f"Unable to download artifact(s): Artifact not found for name: {inputs['name']}"
                shutil.copytree(source, workspace / inputs.get("path", "."), dirs_exist_ok=True)
                return 0, "", ""
            if action == "actions/attest":
                return self.attest(inputs, env, workspace, permissions, job)
            if action == "sigstore/cosign-installer":
                release = inputs.get("cosign-release", "")
                check(re.fullmatch(r"v\d+\.\d+\.\d+", release), f"cosign-installer: cosign-release {release!r}")
                cosign_bin = self.state / "cosign-bin"
                cosign_bin.mkdir(exist_ok=True)
                cosign = cosign_bin / "cosign"
                cosign.write_text(self.stand_in_command.format("cosign"))
                cosign.chmod(0o755)
                with open(env["GITHUB_PATH"], "a") as path_file:
                    path_file.write(f"{cosign_bin}\n")
                return 0, "", ""
        except RehearsalError as error:
            return 1, "", f"stand-in for {action}: {error}"
        raise RehearsalError(f"release.yml uses {action}: the rehearsal has no stand-in for it")

    def upload(self, inputs, workspace: Path, artifacts: Path):
        files = []
        for pattern in inputs["path"].split("\n"):
            if pattern.strip():
                files += [Path(p) for p in glob.glob(str(workspace / pattern.strip())) if Path(p).is_file()]
        if not files:
            return (1, "", "No files were found with the provided path") if inputs.get("if-no-files-found") == "error" \
                else (0, "", "")
        root = Path(os.path.commonpath([f.parent for f in files]))
        destination = artifacts / inputs["name"]
        if destination.exists():
            return 1, "", f"an artifact named {inputs['name']} exists already in this run"
        for file in files:
            target = destination / file.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
        return 0, "", ""

    def attest(self, inputs, env, workspace: Path, permissions: dict, job: str):
        """actions/attest v4's inputs, checked as the action would (and more)."""
        check(permissions.get("id-token") == "write" and "ACTIONS_ID_TOKEN_REQUEST_URL" in env,
              f"{job}: attest needs id-token: write")
        check(permissions.get("attestations") == "write", f"{job}: attest needs attestations: write")
        subjects = [key for key in ("subject-path", "subject-digest", "subject-checksums") if inputs.get(key)]
        check(len(subjects) == 1, f"exactly one subject input, not {subjects}")
        record = {"job": job, "inputs": inputs}
        if "subject-checksums" in inputs:
            checksums = workspace / inputs["subject-checksums"]
            check(checksums.is_file(), f"{checksums} missing")
            for line in checksums.read_text().splitlines():
                digest, name = line.split("  ", 1)
                check(sha256(checksums.parent / name) == digest, f"{name} does not match {checksums}")
            record["subjects"] = checksums.read_text().splitlines()
        if "subject-digest" in inputs:
            check(re.fullmatch(r"sha256:[0-9a-f]{64}", inputs["subject-digest"]), "subject-digest")
            check(inputs.get("subject-name"), "subject-digest needs subject-name")
        sbom = inputs.get("sbom-path")
        if sbom:
            check(not any(inputs.get(k) for k in ("predicate-type", "predicate", "predicate-path")),
                  "sbom-path with a predicate")
            try:
                document = json.loads((workspace / sbom).read_text())
            except (OSError, ValueError) as error:
                raise RehearsalError(f"sbom-path {sbom}: {error}")
            check(isinstance(document, dict) and (document.get("bomFormat") == "CycloneDX" or "spdxVersion" in document),
                  f"{sbom}: neither CycloneDX nor SPDX")
            record["sbom-sha256"] = sha256(workspace / sbom)
        if str(inputs.get("push-to-registry", "false")).lower() == "true":
            check(permissions.get("packages") == "write", f"{job}: push-to-registry needs packages: write")
            name = inputs["subject-name"]
            check(":" not in name.split("/")[-1] and "@" not in name, f"subject-name {name} has a tag or digest")
            # The action reads the credentials from ~/.docker/config.json only.
            authfile = Path(env["HOME"]) / ".docker/config.json"
            check(authfile.is_file(), "no ~/.docker/config.json for push-to-registry")
            found = self.registry.digest(f"{name}@{inputs['subject-digest']}", authfile=authfile)
            check(found == inputs["subject-digest"], f"{name}@{inputs['subject-digest']} is not in the registry")
        with open(self.records / "attest.jsonl", "a") as records:
            records.write(json.dumps(record) + "\n")
        return 0, "", ""


def needs(job: dict) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else value


def read_pairs(path: Path) -> dict:
    pairs = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            pairs[key] = value
    return pairs


def git(*args) -> str:
    result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    check(result.returncode == 0, f"git {' '.join(args)}: {result.stderr}")
    return result.stdout


# ---- stand-ins, run as commands (--stand-in NAME) --------------------------


def stand_in_fail(name, message):
    print(f"{name} (rehearsal stand-in): {message}", file=sys.stderr)
    sys.exit(1)


def token_permissions(name: str) -> dict:
    state = Path(os.environ["REHEARSAL_STATE"])
    tokens = json.loads((state / "tokens.json").read_text())
    token = os.environ.get("GH_TOKEN", "")
    if token not in tokens:
        stand_in_fail(name, "GH_TOKEN is not a token of this run")
    return tokens[token]


def fake_gh(args: list[str]):
    """gh release view/create/upload/edit, against a file of releases."""
    state = Path(os.environ["REHEARSAL_STATE"])
    store = state / "releases.json"
    everything = json.loads(store.read_text()) if store.exists() else {}
    with open(state / "records" / "gh.jsonl", "a") as records:
        records.write(json.dumps({"job": os.environ.get("REHEARSAL_JOB"), "args": args}) + "\n")
    parser = argparse.ArgumentParser(prog="gh release", add_help=False)
    parser.add_argument("group", choices=["release"])
    parser.add_argument("command", choices=["view", "create", "upload", "edit"])
    parser.add_argument("tag")
    parser.add_argument("files", nargs="*")
    parser.add_argument("--repo", required=True)
    parser.add_argument("--json")
    parser.add_argument("--jq")
    parser.add_argument("--verify-tag", action="store_true")
    parser.add_argument("--prerelease", choices=["true", "false"])
    parser.add_argument("--latest", choices=["true", "false"])
    parser.add_argument("--title")
    parser.add_argument("--generate-notes", action="store_true")
    parser.add_argument("--clobber", action="store_true")
    # --draft (create) and --draft=false (edit): a flag and an option in one.
    draft = "false" if "--draft=false" in args else "true" if "--draft" in args else None
    try:
        options = parser.parse_intermixed_args([a for a in args if a not in ("--draft", "--draft=false")])
    except SystemExit:
        stand_in_fail("gh", f"unexpected arguments: {args}")
    options.draft = draft
    if options.repo != os.environ["GITHUB_REPOSITORY"]:
        stand_in_fail("gh", f"--repo {options.repo} is not this repository")
    permission = token_permissions("gh").get("contents")
    needed = ("read", "write") if options.command == "view" else ("write",)
    if permission not in needed:
        stand_in_fail("gh", f"HTTP 403: the token's contents permission is {permission}")
    releases = everything.setdefault(options.repo, [])
    # gh finds a release by its tag, drafts included; the first one found.
    found = next((r for r in releases if r["tag"] == options.tag), None)

    def save():
        store.write_text(json.dumps(everything, indent=1))

    def upload(release, files, clobber):
        for file in map(Path, files):
            if not file.is_file():
                stand_in_fail("gh", f"{file}: no such file")
            if file.name in release["assets"] and not clobber:
                stand_in_fail("gh", f"asset {file.name} exists already (use --clobber)")
            release["assets"][file.name] = sha256(file)
        release["uploads"] += 1

    if options.command == "view":
        if found is None:
            stand_in_fail("gh", "release not found")
        if (options.json, options.jq) != ("isDraft", ".isDraft"):
            stand_in_fail("gh", f"view supports --json isDraft --jq .isDraft only, not {args}")
        print("true" if found["draft"] else "false")
    elif options.command == "create":
        if options.verify_tag and options.tag != os.environ["REHEARSAL_TAG"]:
            stand_in_fail("gh", f"tag {options.tag} does not exist")
        if any(r["tag"] == options.tag and not r["draft"] for r in releases):
            stand_in_fail("gh", f"HTTP 422: tag_name {options.tag} already_exists")
        # As GitHub does, a second draft for the same tag is made without a word.
        release = {"tag": options.tag, "draft": options.draft == "true", "prerelease": options.prerelease == "true",
                   "title": options.title, "latest": False, "assets": {}, "uploads": 0}
        releases.append(release)
        upload(release, options.files, clobber=False)
    elif options.command == "upload":
        if found is None:
            stand_in_fail("gh", "release not found")
        if not found["draft"]:
            stand_in_fail("gh", "HTTP 422: the release is immutable")
        upload(found, options.files, options.clobber)
    elif options.command == "edit":
        if found is None:
            stand_in_fail("gh", "release not found")
        if options.draft != "false" or options.latest is None:
            stand_in_fail("gh", f"edit expects --draft=false --latest=BOOL, not {args}")
        found["draft"] = False
        if options.latest == "true":
            for release in releases:
                release["latest"] = False
            found["latest"] = True
    save()


def fake_cosign(args: list[str]):
    """cosign sign --yes IMAGE@DIGEST, keyless: needs the job's OIDC token."""
    if len(args) != 3 or args[:2] != ["sign", "--yes"]:
        stand_in_fail("cosign", f"expected: cosign sign --yes IMAGE@DIGEST, not {args}")
    if "ACTIONS_ID_TOKEN_REQUEST_URL" not in os.environ:
        stand_in_fail("cosign", "keyless signing needs the job's OIDC token (id-token: write)")
    reference = args[2]
    if not re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", reference):
        stand_in_fail("cosign", f"{reference} is not signed by digest")
    authfile = Path(os.environ["HOME"]) / ".docker/config.json"
    result = subprocess.run([str(REPO / "scripts/index-digest"), "--authfile", str(authfile), f"docker://{reference}"],
                            capture_output=True, text=True)
    if result.returncode != 0 or result.stdout.strip() != reference.split("@")[1]:
        stand_in_fail("cosign", f"{reference} is not in the registry: {result.stderr}")
    state = Path(os.environ["REHEARSAL_STATE"])
    with open(state / "records" / "cosign.jsonl", "a") as records:
        records.write(json.dumps({"job": os.environ.get("REHEARSAL_JOB"), "args": args}) + "\n")


# ---- the rehearsal's runs and what they must show --------------------------


def records(state: Path, name: str) -> list[dict]:
    path = state / "records" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def releases(state: Path, repository: str) -> list[dict]:
    store = state / "releases.json"
    return json.loads(store.read_text()).get(repository, []) if store.exists() else []


def expect_stop(results: dict, job: str, step: str, ran: set[str]):
    """The run failed at `step` of `job`, and only there; jobs after it did not run."""
    failed = {name: r for name, r in results.items() if r.status == "failure"}
    check(list(failed) == [job], f"expected {job} to fail, failed: {list(failed)}")
    check(failed[job].failed_step == step,
          f"{job} failed at '{failed[job].failed_step}', not '{step}':\n{failed[job].stderr}")
    succeeded = {name for name, r in results.items() if r.status == "success"}
    check(succeeded == ran, f"jobs that passed: {sorted(succeeded)}, expected {sorted(ran)}")


def expect_success(results: dict, jobs):
    for name in jobs:
        result = results[name]
        check(result.status == "success", f"{name}: {result.status} at '{result.failed_step}':\n{result.stderr}")


def rehearse(keep: bool) -> str:
    check(os.geteuid() == 0, "run as root: the build job's scripts/image needs it")
    for tool in ("docker-registry", "htpasswd", "openssl", "skopeo", "jq", "git"):
        check(shutil.which(tool), f"{tool} not found: run scripts/setup")
    # The work tree's tracked files as they are (a commit of them when they
    # differ from HEAD): what a tag pushed now would release.
    commit = git("stash", "create").strip() or git("rev-parse", "HEAD").strip()
    if STATE.exists():
        shutil.rmtree(STATE)
    STATE.mkdir(parents=True)
    started = time.monotonic()
    rehearsal = Rehearsal(STATE, commit)
    registry = rehearsal.registry
    # The snapshot is the work tree's, so its Cargo.toml is scripts/version's.
    version = subprocess.run([str(REPO / "scripts/version")], capture_output=True, text=True,
                             check=True).stdout.strip()
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    check(match, f"Cargo.toml's version {version} is a pre-release: rehearse a release version")
    major, minor, _ = match.groups()
    tag = f"v{version}"
    owner = "sleep-developers"
    all_jobs = set(rehearsal.order())
    authfile = rehearsal.home / ".docker/config.json"
    image_authfile = STATE / "rehearsal-auth.json"   # the rehearsal's own login, to look at a private package
    try:
        registry.start(password=rehearsal.tokens["image"])
        login = subprocess.run(["skopeo", "login", "--authfile", str(image_authfile), "--username", ACTOR,
                                "--password-stdin", registry.address], input=rehearsal.tokens["image"],
                               capture_output=True, text=True,
                               env={**os.environ, "SSL_CERT_FILE": str(registry.ca_bundle)})
        check(login.returncode == 0, f"skopeo login: {login.stderr}")

        # 1. A tag that is not Cargo.toml's version: nothing runs after the check.
        repository = f"{owner}/Sleep-Tag"
        results = rehearsal.run("tag-mismatch", f"v{version}.1", repository)
        expect_stop(results, "check-tag", "Check the tag against Cargo.toml's version", set())
        check(not releases(STATE, repository), "a release was made for a wrong tag")

        # 2. The first release, into a private package (as ghcr.io makes it).
        repository = f"{owner}/Sleep"
        image = f"{registry.address}/{repository.lower()}"
        first = rehearsal.run("first", tag, repository)
        expect_stop(first, "public-image", "Pull the image anonymously", all_jobs - {"public-image", "publish"})
        check("make the package public" in first["public-image"].stderr, first["public-image"].stderr)
        artifacts = STATE / "artifacts" / "first" / "dist"
        for name in ("SHA256SUMS", "sleep.cdx.json", "sleep-oci.tar"):
            check((artifacts / name).is_file(), f"the dist artifact has no {name}")
        index_digest = archive_index_digest(artifacts / "sleep-oci.tar")
        check(first["build"].outputs["index-digest"] == index_digest,
              f"build reported {first['build'].outputs['index-digest']}, its archive is {index_digest}")
        check(first["image"].outputs["digest"] == index_digest, "the image job pushed another digest")
        moved = [version, f"{major}.{minor}", major, "latest"]
        for pushed_tag in moved:
            found = registry.digest(f"{image}:{pushed_tag}", authfile=image_authfile)
            check(found == index_digest, f"{image}:{pushed_tag} is {found}, not {index_digest}")
        check(sorted(registry.tags(image, authfile=image_authfile)) == sorted(moved),
              f"tags: {registry.tags(image, authfile=image_authfile)}")
        index = json.loads(registry.skopeo("inspect", "--raw", f"docker://{image}@{index_digest}",
                                           authfile=image_authfile).stdout)
        platforms = [(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]]
        check(all(os_ == "linux" and arch not in ("unknown", "") for os_, arch in platforms),
              f"unknown/unknown entries: {platforms}")
        check(registry.digest(f"{image}:{version}") is None, "the private package answered an anonymous pull")
        check(not authfile.exists(), "the image job left its registry credentials")
        (draft,) = releases(STATE, repository)
        expected_assets = {name: sha256(artifacts / name) for name in
                           [line.split("  ", 1)[1] for line in (artifacts / "SHA256SUMS").read_text().splitlines()]
                           + ["SHA256SUMS", "sleep.cdx.json"]}
        check(draft["draft"] and draft["assets"] == expected_assets, f"the draft: {draft}")
        attested = records(STATE, "attest")
        by_job = {(a["job"], "sbom-path" in a["inputs"]): a for a in attested}
        check(by_job[("attest-binaries", False)]["inputs"] == {"subject-checksums": "dist/SHA256SUMS"},
              f"attest-binaries: {by_job.get(('attest-binaries', False))}")
        for sbom in (False, True):
            inputs = by_job[("image", sbom)]["inputs"]
            check(inputs["subject-name"] == image and inputs["subject-digest"] == index_digest,
                  f"image attestation: {inputs}")
        check(by_job[("image", True)]["sbom-sha256"] == sha256(artifacts / "sleep.cdx.json"), "the SBOM attested")
        check([c["args"] for c in records(STATE, "cosign")] == [["sign", "--yes", f"{image}@{index_digest}"]],
              f"cosign: {records(STATE, 'cosign')}")

        # 2b. draft-release re-run ("Re-run all jobs" would do it): still one draft.
        again = rehearsal.run("first-rerun", tag, repository, jobs=["draft-release"], earlier=first,
                              artifacts=STATE / "artifacts" / "first")
        expect_success(again, ["draft-release"])
        (draft,) = releases(STATE, repository)
        check(draft["draft"] and draft["uploads"] == 2 and draft["assets"] == expected_assets, f"the draft: {draft}")

        # 2c. The recovery: make the package public, re-run public-image (and
        # publish, which waited for it).
        registry.stop()
        registry.start(password=None)
        recovered = rehearsal.run("first-public", tag, repository, jobs=["public-image", "publish"], earlier=first)
        expect_success(recovered, ["public-image", "publish"])
        (release,) = releases(STATE, repository)
        check(not release["draft"] and release["latest"], f"the release: {release}")
        pulled = STATE / "pulled"
        copy = registry.skopeo("copy", "--quiet", "--all", "--preserve-digests", f"docker://{image}:{version}",
                               f"oci:{pulled}:{version}")
        check(copy.returncode == 0, f"anonymous pull: {copy.stderr.decode()}")
        (entry,) = json.loads((pulled / "index.json").read_text())["manifests"]
        check(entry["digest"] == index_digest, f"pulled anonymously: {entry['digest']}")

        # 3. A backport: the same version after a higher one (seeded: its tags
        # and its release, as Latest) moves its X.Y only.
        repository = f"{owner}/sleep-backport"
        backport_image = f"{registry.address}/{repository}"
        higher = f"{major}.{int(minor) + 1}.0"
        seed = index["manifests"][0]["digest"]   # some other image: one platform's
        for seeded_tag in (higher, f"{major}.{int(minor) + 1}", major, "latest"):
            copied = registry.skopeo("copy", "--quiet", "--preserve-digests", f"docker://{image}@{seed}",
                                     f"docker://{backport_image}:{seeded_tag}")
            check(copied.returncode == 0, f"seeding {seeded_tag}: {copied.stderr.decode()}")
        store = STATE / "releases.json"
        everything = json.loads(store.read_text())
        everything[repository] = [{"tag": f"v{higher}", "draft": False, "prerelease": False, "title": f"v{higher}",
                                   "latest": True, "assets": {}, "uploads": 1}]
        store.write_text(json.dumps(everything))
        backport = rehearsal.run("backport", tag, repository,
                                 jobs=["draft-release", "attest-binaries", "image", "public-image", "publish"],
                                 earlier={"check-tag": first["check-tag"], "build": first["build"]},
                                 artifacts=STATE / "artifacts" / "first")
        expect_success(backport, ["draft-release", "attest-binaries", "image", "public-image", "publish"])
        for moved_tag in (version, f"{major}.{minor}"):
            check(registry.digest(f"{backport_image}:{moved_tag}") == index_digest, f"backport: {moved_tag} not moved")
        for kept in (higher, major, "latest"):
            check(registry.digest(f"{backport_image}:{kept}") == seed, f"backport: {kept} moved")
        latest = {r["tag"]: r["latest"] for r in releases(STATE, repository)}
        check(latest == {f"v{higher}": True, tag: False}, f"backport: GitHub's Latest {latest}")

        # 4. An archive that is not the build's: stopped before any push.
        repository = f"{owner}/sleep-digest"
        mismatch = rehearsal.run("digest-mismatch", tag, repository, jobs=["image"],
                                 earlier={"check-tag": first["check-tag"],
                                          "build": JobResult("success", {"index-digest": seed})},
                                 artifacts=STATE / "artifacts" / "first")
        expect_stop(mismatch, "image", "Check the archive against the build's index digest",
                    {"check-tag", "build"})
        check(registry.tags(f"{registry.address}/{repository}") == [], "digest-mismatch: something was pushed")

        # 5. skopeo failing in the build job: the reproducibility check stops.
        failing = STATE / "failing-skopeo"
        failing.mkdir()
        real_skopeo = shutil.which("skopeo")
        (failing / "skopeo").write_text(
            f'#!/bin/sh\nif [ "$1" = inspect ]; then echo "skopeo: injected failure" >&2; exit 1; fi\n'
            f'exec {real_skopeo} "$@"\n')
        (failing / "skopeo").chmod(0o755)
        repository = f"{owner}/sleep-skopeo"
        broken = rehearsal.run("failing-skopeo", tag, repository, jobs=["check-tag", "build"], path_prefix=failing)
        expect_stop(broken, "build", "Build again elsewhere and compare", {"check-tag"})
        check("index-digest: skopeo inspect" in broken["build"].stderr, broken["build"].stderr)
        check("e3b0c442" not in broken["build"].stderr, "a digest of empty input")
    finally:
        registry.stop()
    if not keep:
        shutil.rmtree(STATE)
    return (f"{tag} pushed as {index_digest[:19]}… = dist/sleep-oci.tar's, tags {' '.join(moved)}, anonymous pull "
            f"after the recovery; backport moved {major}.{minor} only; 3 injected failures stopped at their steps; "
            f"{time.monotonic() - started:.0f} s")


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--stand-in":
        {"gh": fake_gh, "cosign": fake_cosign}[sys.argv[2]](sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description="Rehearses release.yml here (see scripts/rehearse_release.py).")
    parser.add_argument("--keep", action="store_true", help="keep target/rehearsal (logs of every step)")
    options = parser.parse_args()
    try:
        summary = rehearse(options.keep)
    except RehearsalError as error:
        print(f"rehearsal: FAILED: {error}\n(step logs: {STATE}/runs)", file=sys.stderr)
        sys.exit(1)
    print(f"rehearsal: ok ({summary})")


if __name__ == "__main__":
    main()
