"""arches.txt (at the repository root) for Python: read by scripts/sizes,
scripts/flag-costs, scripts/lib/sbom.py and the Python tests
(tests/python/conftest.py). The columns are described in the
file."""

from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).resolve().parents[2] / "arches.txt"


@dataclass(frozen=True)
class Arch:
    name: str          # dist/sleep-linux-<name>
    platform: str      # Docker's: linux/arm/v7
    rust_target: str
    target_arch: str
    elf_machine: str   # EM_X86_64
    bits: int          # 32 or 64
    emulator: tuple    # the qemu-user command and its arguments

    def docker_platform(self) -> tuple[str, str]:
        """(TARGETARCH, TARGETVARIANT): linux/arm/v7 -> (arm, v7)."""
        _, targetarch, *variant = self.platform.split("/")
        return targetarch, "/".join(variant)


def load() -> list[Arch]:
    """The rows, in order."""
    arches = []
    for line in TABLE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, platform, rust_target, target_arch, elf_machine, bits, *emulator = line.split()
        assert emulator, f"arches.txt: no emulator in {line!r}"
        arches.append(Arch(name, platform, rust_target, target_arch, elf_machine, int(bits), tuple(emulator)))
    assert arches, "arches.txt lists no arch"
    return arches
