"""scripts/flag-costs, which re-measures .cargo/config.toml's flags for a
toolchain bump (CONTRIBUTING.md): it reads the flags as cargo does. The
rebuilds themselves are too slow for the tests; --list shows what it would
measure."""

import subprocess
import tomllib

from conftest import REPO, all_arches

SCRIPT = REPO / "scripts/flag-costs"


def run(*args):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO)


def configured_flags():
    config = tomllib.loads((REPO / ".cargo/config.toml").read_text())
    return {flag for section in config["target"].values() for flag in section.get("rustflags", [])}


def test_lists_every_tuning_flag_of_the_config_for_every_arch():
    result = run("--list")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert {arch for arch, _ in rows} == set(all_arches())
    listed = {flag.removeprefix("-C ") for _, flag in rows}
    tuning = {flag for flag in configured_flags() - {"-C"}
              if not flag.startswith(("relocation-model=", "linker-flavor=", "target-feature="))}
    assert listed == tuning
    # The shared section's flags reach every arch (its cfg matches each target).
    for arch in all_arches():
        assert [arch, "-C llvm-args=-inline-threshold=25"] in rows


def test_an_unknown_arch_is_refused_with_the_known_ones():
    result = run("mips")
    assert result.returncode == 2
    assert "unknown arch mips" in result.stderr
    assert all(arch in result.stderr for arch in all_arches())
    assert result.stdout == ""
