"""The Dockerfile, read with the official parser, since no Docker engine runs
here: what the image holds, how its build stage makes the binary, and how its
dist stage picks the binary scripts/build made.

The build stage's RUN is also executed (tests here for failures,
test_reproducible.py for a real build of every arch); the dist stage is built
by buildah in scripts/image, whose output test_image.py checks."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import (
    REPO, all_arches, arch_platform, cargo_package, context_files, copy_build_context, docker_platform,
    dockerignore_patterns, flags, parse_dockerfile, private_buildah, runtime_state_dir, stages, toolchain_channel,
    unquote,
)

DOCKERFILE = REPO / "Dockerfile"


def stage_named(name):
    found = [s for s in stages(parse_dockerfile(DOCKERFILE)) if s[0].value[-2:] == ("AS", name)]
    assert len(found) == 1, f"expected one stage named {name}"
    return found[0]


@pytest.fixture(scope="module")
def build_stage():
    return stage_named("build")


@pytest.fixture(scope="module")
def dist_stage():
    return stage_named("dist")


@pytest.fixture(scope="module")
def final_stage():
    return stages(parse_dockerfile(DOCKERFILE))[-1]


def global_args() -> dict[str, str]:
    """The ARGs before the first FROM, with their defaults."""
    args = {}
    for command in parse_dockerfile(DOCKERFILE):
        if command.cmd.upper() == "FROM":
            break
        name, _, default = command.value[0].partition("=")
        args[name] = default
    return args


def only(stage, instruction):
    found = [c for c in stage if c.cmd.upper() == instruction]
    assert len(found) == 1, f"expected one {instruction}, found {[c.original for c in found]}"
    return found[0]


def build_run(build_stage) -> str:
    """The shell text of the build stage's one RUN."""
    run = only(build_stage, "RUN")
    assert not run.json, "RUN must be shell form: it uses $TARGETARCH and $(...)"
    return run.value[0]


class TestFinalStage:
    def test_is_from_scratch(self, final_stage):
        assert final_stage[0].value == ("scratch",)
        assert final_stage[0].flags == ()

    def test_copies_only_sleep_from_the_chosen_binary_stage(self, final_stage, build_stage, dist_stage):
        copies = [c for c in final_stage if c.cmd.upper() in ("COPY", "ADD")]
        assert len(copies) == 1, [c.original for c in copies]
        (copy,) = copies
        assert copy.cmd.upper() == "COPY"
        # The mode is set here, not left to the checkout's umask.
        assert flags(copy) == {"from": "binary", "chmod": "0755"}
        source, destination = copy.value
        assert destination == "/sleep"
        # `binary` is whichever stage SLEEP_BINARY names; both leave the
        # binary at the same path: the build stage's RUN copies it to
        # out/sleep in its WORKDIR, the dist stage's COPY straight there.
        (binary,) = [s for s in stages(parse_dockerfile(DOCKERFILE)) if s[0].value[-1] == "binary"]
        assert binary[0].value == ("${SLEEP_BINARY}", "AS", "binary") and len(binary) == 1
        workdir = only(build_stage, "WORKDIR").value[0]
        assert re.search(r'\bcp "dist/sleep-linux-\$arch" out/sleep$', build_run(build_stage))
        assert source == f"{workdir}/out/sleep"
        assert only(dist_stage, "COPY").value[1] == source

    def test_is_the_default_target_and_builds_from_source_by_default(self, final_stage):
        # `docker buildx build .` in a plain checkout (no dist/) builds the
        # last stage, with the binary compiled in the build stage.
        assert final_stage[0].value == ("scratch",)
        assert global_args() == {"SLEEP_BINARY": "build"}

    def test_runs_nothing(self, final_stage):
        # scratch has no shell: any RUN would fail, and nothing else belongs here.
        kinds = {c.cmd.upper() for c in final_stage[1:]}
        assert kinds <= {"LABEL", "COPY", "USER", "ENTRYPOINT", "CMD"}, kinds

    def test_entrypoint_is_sleep_and_cmd_infinity(self, final_stage):
        entrypoint = only(final_stage, "ENTRYPOINT")
        cmd = only(final_stage, "CMD")
        # Exec (JSON) form: there is no /bin/sh to run a shell form.
        assert entrypoint.json and entrypoint.value == ("/sleep",)
        assert cmd.json and cmd.value == ("infinity",)

    def test_user_is_numeric_and_not_root(self, final_stage):
        # scratch has no /etc/passwd: a name could not be resolved, and
        # Kubernetes' runAsNonRoot can only verify a numeric user.
        (user,) = only(final_stage, "USER").value
        match = re.fullmatch(r"(\d+):(\d+)", user)
        assert match, f"USER {user!r} is not numeric uid:gid"
        assert int(match[1]) != 0 and int(match[2]) != 0

    def test_oci_labels(self, final_stage):
        pairs = [c.value for c in final_stage if c.cmd.upper() == "LABEL"]
        labels = {}
        for value in pairs:
            assert len(value) % 2 == 0
            for key, val in zip(value[::2], value[1::2]):
                labels[key] = unquote(val)
        package = cargo_package()
        assert labels["org.opencontainers.image.source"] == package["repository"]
        assert labels["org.opencontainers.image.licenses"] == package["license"] == "MIT OR Apache-2.0"
        assert labels["org.opencontainers.image.title"] == "sleep"
        assert labels["org.opencontainers.image.description"].strip()


class TestDistStage:
    """The stage that copies scripts/build's dist/sleep-linux-<arch>."""

    def test_is_scratch_with_the_target_platform_args_and_one_copy(self, dist_stage):
        assert dist_stage[0].value == ("scratch", "AS", "dist") and dist_stage[0].flags == ()
        assert [c.cmd.upper() for c in dist_stage[1:]] == ["ARG", "ARG", "COPY"]
        assert [c.value[0] for c in dist_stage[1:3]] == ["TARGETARCH", "TARGETVARIANT"]

    @pytest.mark.parametrize("arch", all_arches())
    def test_source_names_each_arch_binary(self, dist_stage, arch):
        # The builder expands ${VAR} and ${VAR:+word} like the shell does, so
        # sh expands the same text here.
        source = only(dist_stage, "COPY").value[0]
        targetarch, variant = docker_platform(arch)
        result = subprocess.run(
            ["sh", "-c", f'printf %s "{source}"'], capture_output=True, text=True, check=True,
            env={"TARGETARCH": targetarch, "TARGETVARIANT": variant},
        )
        assert result.stdout == f"dist/sleep-linux-{arch}"


class TestBuildStage:
    def test_runs_on_the_build_platform(self, build_stage):
        # Cross-compiles: no emulation of the target platform.
        assert flags(build_stage[0]) == {"platform": "$BUILDPLATFORM"}

    def test_rust_image_is_the_pinned_toolchain(self, build_stage):
        channel = toolchain_channel()
        image = build_stage[0].value[0]
        assert re.fullmatch(rf"rust:{re.escape(channel)}-slim-[a-z]+", image), image

    def test_declares_the_target_platform_args_before_using_them(self, build_stage):
        kinds = [c.cmd.upper() for c in build_stage]
        declared = [c.value[0] for c in build_stage if c.cmd.upper() == "ARG"]
        assert {"TARGETARCH", "TARGETVARIANT"} <= set(declared)
        last_arg = max(i for i, kind in enumerate(kinds) if kind == "ARG")
        assert last_arg < kinds.index("RUN")

    def test_builds_with_the_ci_entry_point(self, build_stage):
        script = build_run(build_stage)
        assert 'arch="$(scripts/docker-arch "$TARGETARCH" "$TARGETVARIANT")"' in script
        assert re.search(r'&& scripts/build "\$arch" &&', re.sub(r"\s+", " ", script))
        # Nothing else compiles: the release recipe lives in scripts/build only.
        assert "cargo" not in script and "rustc" not in script

    def test_copies_the_whole_context(self, build_stage):
        copy = only(build_stage, "COPY")
        assert copy.value == (".", ".") and copy.flags == ()


@pytest.fixture
def context_copy(tmp_path):
    """The build context (the files `docker build .` would send) in a temp dir."""
    return copy_build_context(tmp_path)


def run_build_stage(script, directory, targetarch, variant=""):
    """The RUN line as BuildKit runs it: /bin/sh -c, with the ARGs in the environment."""
    env = {**os.environ, "TARGETARCH": targetarch, "TARGETVARIANT": variant}
    return subprocess.run(
        ["/bin/sh", "-c", script], cwd=directory, env=env, capture_output=True, text=True,
    )


class TestBuildStageRun:
    @pytest.mark.parametrize("targetarch,variant", [("mips", ""), ("s390x", ""), ("arm", "v5")])
    def test_unsupported_platform_fails_with_a_clear_message(
        self, build_stage, context_copy, targetarch, variant
    ):
        result = run_build_stage(build_run(build_stage), context_copy, targetarch, variant)
        assert result.returncode != 0
        platform = f"linux/{targetarch}" + (f"/{variant}" if variant else "")
        assert f"no sleep binary for platform {platform}" in result.stderr
        assert "supported:" in result.stderr
        assert not (context_copy / "out").exists()
        assert not (context_copy / "target").exists(), "it must fail before building"

    def test_missing_targetarch_names_buildkit(self, build_stage, context_copy):
        result = run_build_stage(build_run(build_stage), context_copy, "")
        assert result.returncode != 0
        assert "BuildKit" in result.stderr


class TestContext:
    NEEDED = [
        "Cargo.toml", "Cargo.lock", "rust-toolchain.toml", "build.rs", "linker.ld",
        ".cargo/config.toml", "arches.txt", "scripts/build", "scripts/lib/arches.sh", "scripts/docker-arch",
        "scripts/lib/without-neon-warning", "scripts/llvm-tool", "src/main.rs", "src/lib.rs",
        "tests/Cargo.toml",
    ]

    def test_dockerignore_keeps_what_the_build_needs(self):
        files = set(context_files())
        assert not [name for name in self.NEEDED if name not in files]
        assert not [name for name in files if name.startswith(("target/", ".git/"))]
        assert not [name for name in files if name.startswith("dist/") and "/sleep-linux-" not in name]

    @pytest.mark.parametrize("arch", all_arches())
    def test_dockerignore_lets_in_the_binaries_of_dist_only(self, arch, tmp_path):
        # For the dist stage; the checksums and the image archive stay out
        # (the archive would grow every context by the whole image).
        shutil.copy2(REPO / ".dockerignore", tmp_path)
        (tmp_path / "dist").mkdir()
        for name in (f"sleep-linux-{arch}", "SHA256SUMS", "sleep-oci.tar", "sleep-oci.tar.partial"):
            (tmp_path / "dist" / name).touch()
        assert context_files(tmp_path) == [".dockerignore", f"dist/sleep-linux-{arch}"]


@pytest.fixture(scope="module")
def buildah():
    """buildah with private vfs storage under target/runtime (never TMPDIR),
    removed afterwards."""
    work = runtime_state_dir("buildah")
    try:
        yield private_buildah(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def copied_by_a_builder(buildah, context: Path, work: Path) -> list[str]:
    """The files buildah copies from `context` with `COPY . /context/`, which
    it filters by the context's .dockerignore as Docker does: sorted, relative
    to the context, symbolic links counted as files."""
    dockerfile = work / "Dockerfile.copy"
    dockerfile.write_text("FROM scratch\nCOPY . /context/\n")
    result = buildah("build", "--quiet", "--isolation", "chroot", "--tag", "localhost/sleep-context-test",
                     "--file", str(dockerfile), str(context))
    assert result.returncode == 0, result.stderr
    container = buildah("from", "--quiet", "--pull=never", "localhost/sleep-context-test").stdout.split()[-1]
    try:
        copied = Path(buildah("mount", container).stdout.strip()) / "context"
        return sorted(str(path.relative_to(copied)) for path in copied.rglob("*")
                      if path.is_symlink() or not path.is_dir())
    finally:
        buildah("umount", container)
        buildah("rm", container)
        buildah("rmi", "localhost/sleep-context-test")


def trial_paths(pattern: str) -> list[str]:
    """Paths a .dockerignore `pattern` should or should not match: the pattern
    made concrete (`*` and `?` one letter, `**/` no folder and two), each as a
    folder with a file in it and, for a glob, as a file; and near misses: one
    folder deeper, and a letter longer."""
    bare = pattern.removeprefix("!").lstrip("/")
    paths = []
    for base in {bare.replace("**/", ""), bare.replace("**/", "a/b/")}:
        folder = base.replace("*", "d").replace("?", "d")
        paths += [f"{folder}/inside", f"deeper/{folder}/inside", f"{folder}x/inside"]
        if "*" in base or "?" in base:
            paths.append(base.replace("*", "f").replace("?", "f"))
    return paths


class TestTheContextIsWhatABuilderSends:
    """context_files (docker-py's matcher) against buildah, which reads
    .dockerignore with the engine's own Go code."""

    def test_on_a_tree_made_for_each_pattern_of_the_dockerignore(self, buildah, tmp_path):
        context = tmp_path / "context"
        context.mkdir()
        shutil.copy2(REPO / ".dockerignore", context)
        patterns = dockerignore_patterns(context)
        assert patterns, ".dockerignore has no pattern"
        for name in ["kept/inside", "Cargo.toml", *(path for p in patterns for path in trial_paths(p))]:
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            (context / name).touch()
        files = context_files(context)
        assert copied_by_a_builder(buildah, context, tmp_path) == files
        assert "kept/inside" in files and len(files) < sum(1 for p in context.rglob("*") if p.is_file())

    def test_on_this_checkout(self, buildah, tmp_path):
        assert copied_by_a_builder(buildah, REPO, tmp_path) == context_files()


class TestDistStageWithARealBuilder:
    """The dist stage built by buildah (which reads .dockerignore like Docker)
    from a checkout, as `docker buildx build --build-arg SLEEP_BINARY=dist .`
    builds it; scripts/image builds the same stage from a context of its own."""

    def build(self, buildah, context, platform):
        return buildah(
            "build", "--quiet", "--isolation", "chroot", "--platform", platform,
            "--build-arg", "SLEEP_BINARY=dist", "--tag", "localhost/sleep-dist-test",
            "--file", str(DOCKERFILE), str(context),
        )

    @pytest.mark.parametrize("arch", ["arm64", "arm-v7"])
    def test_copies_dists_binary_from_a_checkout(self, buildah, arch):
        for name in (f"dist/sleep-linux-{arch}", "Cargo.toml"):
            assert (REPO / name).is_file(), f"{name} missing: run scripts/build"
        result = self.build(buildah, REPO, arch_platform(arch))
        assert result.returncode == 0, result.stderr
        container = buildah("from", "--quiet", "--pull=never", "localhost/sleep-dist-test").stdout.split()[-1]
        try:
            rootfs = Path(buildah("mount", container).stdout.strip())
            assert sorted(p.name for p in rootfs.iterdir()) == ["sleep"]
            assert (rootfs / "sleep").read_bytes() == (REPO / f"dist/sleep-linux-{arch}").read_bytes()
        finally:
            buildah("umount", container)
            buildah("rm", container)

    def test_a_platform_without_a_binary_fails_naming_the_file(self, buildah):
        result = self.build(buildah, REPO, "linux/s390x")
        assert result.returncode != 0
        assert "dist/sleep-linux-s390x" in result.stderr and "no such file" in result.stderr

    def test_a_plain_checkout_has_no_dist_and_fails_naming_the_file(self, buildah, tmp_path):
        context = copy_build_context(tmp_path)
        shutil.rmtree(context / "dist", ignore_errors=True)
        result = self.build(buildah, context, "linux/amd64")
        assert result.returncode != 0
        assert "dist/sleep-linux-amd64" in result.stderr
