"""The Dockerfile, read with the official parser, since no Docker engine runs
here: what the image holds and how its build stage makes the binary.

The build stage's RUN is also executed (tests here for failures,
test_reproducible.py for a real build of every arch)."""

import os
import re
import subprocess
import tomllib

import pytest

from conftest import (
    REPO, context_files, copy_build_context, flags, parse_dockerfile, stages, unquote,
)

DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def build_stage():
    return stages(parse_dockerfile(DOCKERFILE))[0]


@pytest.fixture(scope="module")
def final_stage():
    return stages(parse_dockerfile(DOCKERFILE))[-1]


def only(stage, instruction):
    found = [c for c in stage if c.cmd.upper() == instruction]
    assert len(found) == 1, f"expected one {instruction}, found {[c.original for c in found]}"
    return found[0]


def build_run(build_stage) -> str:
    """The shell text of the build stage's one RUN."""
    run = only(build_stage, "RUN")
    assert not run.json, "RUN must be shell form: it uses $TARGETARCH and $(...)"
    return run.value[0]


def cargo_toml() -> dict:
    return tomllib.loads((REPO / "Cargo.toml").read_text())


class TestFinalStage:
    def test_is_from_scratch(self, final_stage):
        assert final_stage[0].value == ("scratch",)
        assert final_stage[0].flags == ()

    def test_copies_only_sleep_from_the_build_stage(self, final_stage, build_stage):
        copies = [c for c in final_stage if c.cmd.upper() in ("COPY", "ADD")]
        assert len(copies) == 1, [c.original for c in copies]
        (copy,) = copies
        assert copy.cmd.upper() == "COPY"
        from_stage = build_stage[0].value
        assert from_stage[-2].upper() == "AS"
        assert flags(copy) == {"from": from_stage[-1]}
        source, destination = copy.value
        assert destination == "/sleep"
        # The source is the fixed name the build stage's RUN copies to,
        # relative to its WORKDIR.
        workdir = only(build_stage, "WORKDIR").value[0]
        assert re.search(r'\bcp "dist/sleep-linux-\$arch" out/sleep$', build_run(build_stage))
        assert source == f"{workdir}/out/sleep"

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
        package = cargo_toml()["package"]
        assert labels["org.opencontainers.image.source"] == package["repository"]
        assert labels["org.opencontainers.image.licenses"] == package["license"] == "MIT OR Apache-2.0"
        assert labels["org.opencontainers.image.title"] == "sleep"
        assert labels["org.opencontainers.image.description"].strip()


class TestBuildStage:
    def test_runs_on_the_build_platform(self, build_stage):
        # Cross-compiles: no emulation of the target platform.
        assert flags(build_stage[0]) == {"platform": "$BUILDPLATFORM"}

    def test_rust_image_is_the_pinned_toolchain(self, build_stage):
        channel = tomllib.loads((REPO / "rust-toolchain.toml").read_text())["toolchain"]["channel"]
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
        ".cargo/config.toml", "arches.txt", "scripts/build", "scripts/arches", "scripts/docker-arch",
        "src/main.rs", "src/lib.rs", "tests/Cargo.toml",
    ]

    def test_dockerignore_keeps_what_the_build_needs(self):
        files = set(context_files())
        assert not [name for name in self.NEEDED if name not in files]
        assert not [name for name in files if name.startswith(("target/", "dist/", ".git/"))]
