#!/usr/bin/env python3
"""Benchmarks this project's sleep against GNU coreutils, busybox and uutils.

Run through scripts/bench, which installs the tools this needs. Measures file
size, user-space instructions (callgrind), start-up wall time (hyperfine),
resident memory while sleeping and timing accuracy; writes benchmarks.md and
benchmarks.svg (docs/, or a temporary directory with --smoke) and prints the
tables. Exits 1 if any measurement failed.
"""

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What scripts/build strips into dist/sleep-linux-amd64.
UNSTRIPPED_BUILD = REPO / "target/x86_64-unknown-none/release/sleep"

# Operands for the instruction counts: zero, then one millisecond-ish written
# three ways, since parsing is most of what a sleep does in user space.
INSTRUCTION_OPERANDS = ["0", "0.001", "1e-3", "0x1p-10"]
ACCURACY_OPERANDS = ["0.01", "0.05", "0.1"]
MEMORY_SLEEP_OPERAND = "5"
MEMORY_READ_AFTER_S = 0.3
MEMORY_FIELDS = ["VmRSS", "RssAnon", "RssFile", "VmHWM"]

# Every measured program runs with this environment: what `docker run` gives a
# container. Fixed because start-up work depends on it: getenv scans all of it,
# and a LANG makes GNU's setlocale load locale files (about twice the instructions).
MEASURED_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOSTNAME": "sleep-bench",
    "HOME": "/root",
}

# Debian packages whose versions the report records.
RECORDED_PACKAGES = ["coreutils", "busybox-static", "rust-coreutils", "libc6",
                     "valgrind", "hyperfine", "python3-matplotlib"]


@dataclasses.dataclass(frozen=True)
class Settings:
    startup_rounds: int      # hyperfine runs, each contender in a rotated order
    startup_runs: int        # timed runs per contender per round
    startup_warmup: int
    floor_runs: int          # `sleep 0` runs timed by this script: the exec floor
    accuracy_runs: int       # runs per contender per operand
    memory_repeats: int


FULL = Settings(startup_rounds=3, startup_runs=700, startup_warmup=50,
                floor_runs=300, accuracy_runs=150, memory_repeats=3)
SMOKE = Settings(startup_rounds=2, startup_runs=15, startup_warmup=3,
                 floor_runs=5, accuracy_runs=3, memory_repeats=1)


@dataclasses.dataclass(frozen=True)
class Contender:
    name: str
    argv: tuple[str, ...]    # the command without its operands
    package: str | None      # the Debian package that provides it; None for ours
    origin: str | None = None   # for a measured copy: the file it is a copy of

    @property
    def executable(self) -> Path:
        return Path(self.argv[0]).resolve()

    def command(self, *operands: str) -> list[str]:
        return [*self.argv, *operands]


def contenders(snapshot: Path, dist: Path) -> list[Contender]:
    return [
        Contender("ours", (str(snapshot / "sleep-linux-amd64"),), None,
                  origin=shown_path(dist / "sleep-linux-amd64")),
        Contender("GNU coreutils", ("/usr/bin/sleep",), "coreutils"),
        Contender("busybox", ("/usr/bin/busybox", "sleep"), "busybox-static"),
        # A multicall binary that picks the utility by argv[0]'s name.
        Contender("uutils", ("/usr/lib/cargo/bin/coreutils/sleep",), "rust-coreutils"),
    ]


# ---------------------------------------------------------------- helpers

def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def shown_path(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def run_text(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def spawn(argv: list[str]) -> int:
    # posix_spawn (vfork-like) keeps the harness's own cost per run small and steady.
    return os.posix_spawn(argv[0], argv, MEASURED_ENV)


def run_timed_ns(argv: list[str]) -> int:
    """Spawn-to-reaped wall time of one run, in nanoseconds."""
    start = time.perf_counter_ns()
    _, status = os.waitpid(spawn(argv), 0)
    elapsed = time.perf_counter_ns() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {os.waitstatus_to_exitcode(status)}")
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ratio(value: float, ours: float) -> str:
    r = value / ours
    return f"{r:,.2f}×" if r < 10 else f"{r:,.1f}×" if r < 100 else f"{r:,.0f}×"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def is_dynamic_elf(path: Path) -> bool:
    """True if the ELF has a PT_INTERP program header (needs ld.so and shared libs).
    Read from the program headers: our binary has no section headers for tools to use."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2):
        raise ValueError(f"{path}: not an ELF file")
    endian = "<" if data[5] == 1 else ">"
    if data[4] == 1:   # ELF32
        phoff, = struct.unpack_from(endian + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x2A)
    else:              # ELF64
        phoff, = struct.unpack_from(endian + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x36)
    PT_INTERP = 3
    return any(struct.unpack_from(endian + "I", data, phoff + i * phentsize)[0] == PT_INTERP
               for i in range(phnum))


def shared_libraries(path: Path) -> list[Path]:
    """The files ld.so maps for a dynamic executable (ldd), vDSO excluded."""
    libraries = []
    for line in run_text(["ldd", str(path)]).splitlines():
        words = line.split()
        if "=>" in words and len(words) > words.index("=>") + 1:
            candidate = words[words.index("=>") + 1]
        else:
            candidate = words[0] if words else ""
        if candidate.startswith("/"):
            libraries.append(Path(candidate).resolve())
    return libraries


# ---------------------------------------------------------------- measurements

def snapshot_our_binaries(dist: Path, workdir: Path, with_unstripped: bool) -> Path:
    """Copies our binaries (every arch built), so a rebuild elsewhere during the run
    cannot change what is measured. The unstripped build only when it belongs to the
    same build (ours)."""
    snapshot = workdir / "ours"
    snapshot.mkdir()
    if not (dist / "sleep-linux-amd64").exists():
        raise FileNotFoundError(f"{dist / 'sleep-linux-amd64'}: run scripts/build")
    for binary in dist.glob("sleep-linux-*"):
        shutil.copy2(binary, snapshot)
    if with_unstripped and UNSTRIPPED_BUILD.exists():
        shutil.copy2(UNSTRIPPED_BUILD, snapshot / "sleep-unstripped")
    return snapshot


def measure_sizes(players: list[Contender]) -> dict:
    sizes = {}
    for player in players:
        executable = player.executable
        dynamic = is_dynamic_elf(executable)
        libraries = shared_libraries(executable) if dynamic else []
        sizes[player.name] = {
            "path": player.origin or str(executable),
            "bytes": executable.stat().st_size,
            "dynamic": dynamic,
            "libraries": [(lib.name, lib.stat().st_size) for lib in libraries],
        }
    return sizes


def measure_other_arch_sizes(snapshot: Path) -> dict:
    """Our binaries for the arches other than amd64: arch -> (bytes, dynamic)."""
    return {binary.name.removeprefix("sleep-linux-"): (binary.stat().st_size, is_dynamic_elf(binary))
            for binary in sorted(snapshot.glob("sleep-linux-*")) if binary.name != "sleep-linux-amd64"}


def callgrind_instructions(argv: list[str], workdir: Path) -> tuple[int, int]:
    """(user-space instructions, exit code) of one run under callgrind."""
    out_file = workdir / "callgrind.out"
    out_file.unlink(missing_ok=True)
    finished = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                               "--", *argv], capture_output=True, text=True, env=MEASURED_ENV)
    if not out_file.exists():
        raise RuntimeError(f"valgrind wrote no profile for {shlex.join(argv)}: {finished.stderr[-500:]}")
    for line in out_file.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]), finished.returncode
    raise RuntimeError(f"no summary/totals line in callgrind output for {shlex.join(argv)}")


def measure_instructions(players: list[Contender], workdir: Path) -> dict:
    """Per contender, per operand: an instruction count or the peer's error message."""
    counts = {}
    for player in players:
        counts[player.name] = {}
        for operand in INSTRUCTION_OPERANDS:
            instructions, exit_code = callgrind_instructions(player.command(operand), workdir)
            if exit_code == 0:
                counts[player.name][operand] = instructions
                continue
            # Confirm outside valgrind that the peer itself rejects the operand.
            native = subprocess.run(player.command(operand), capture_output=True, text=True,
                                    env=MEASURED_ENV)
            if native.returncode == 0:
                raise RuntimeError(f"{player.name} {operand}: fails only under valgrind")
            if player.package is None:
                raise RuntimeError(f"ours rejects {operand}: {native.stderr.strip()}")
            counts[player.name][operand] = "rejected: " + native.stderr.splitlines()[0]
    return counts


def unstripped_matches(snapshot: Path, counts: dict, workdir: Path) -> bool | None:
    """Whether the unstripped build (same code, with section headers) counts the same.
    None when there is no unstripped build (e.g. SLEEP_DIST given)."""
    unstripped = snapshot / "sleep-unstripped"
    if not unstripped.exists():
        return None
    instructions, _ = callgrind_instructions([str(unstripped), "0"], workdir)
    return instructions == counts["ours"]["0"]


def measure_startup(players: list[Contender], settings: Settings, workdir: Path) -> dict:
    """hyperfine -N (no shell) on `sleep 0`; rounds rotate the order so drift in the
    machine's load does not always favour the same contender."""
    by_command = {shlex.join(p.command("0")): p.name for p in players}
    times = {p.name: [] for p in players}
    round_medians = {p.name: [] for p in players}
    for round_index in range(settings.startup_rounds):
        shift = round_index % len(players)
        order = players[shift:] + players[:shift]
        export = workdir / f"hyperfine-{round_index}.json"
        subprocess.run(["hyperfine", "-N", "--style", "none",
                        "--warmup", str(settings.startup_warmup),
                        "--runs", str(settings.startup_runs),
                        "--export-json", str(export),
                        *(shlex.join(p.command("0")) for p in order)],
                       check=True, stdout=subprocess.DEVNULL, env=MEASURED_ENV)
        for result in json.loads(export.read_text())["results"]:
            name = by_command[result["command"]]
            if any(code != 0 for code in result["exit_codes"]):
                raise RuntimeError(f"{name}: sleep 0 exited non-zero under hyperfine")
            times[name] += result["times"]
            round_medians[name].append(result["median"])
    return {name: {"times_s": values, "round_medians_s": round_medians[name]}
            for name, values in times.items()}


def measure_memory(players: list[Contender], settings: Settings) -> dict:
    """/proc/PID/status fields (kB) of a sleeping process, median over repeats."""
    memory = {}
    for player in players:
        samples = {field: [] for field in MEMORY_FIELDS}
        for _ in range(settings.memory_repeats):
            pid = spawn(player.command(MEMORY_SLEEP_OPERAND))
            try:
                time.sleep(MEMORY_READ_AFTER_S)
                status = Path(f"/proc/{pid}/status").read_text()
                # A process that already died would show as a zombie with no memory.
                if "\nState:\tS" not in status:
                    raise RuntimeError(f"{player.name} is not sleeping after {MEMORY_READ_AFTER_S} s")
            finally:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            for line in status.splitlines():
                field, _, value = line.partition(":")
                if field in samples:
                    samples[field].append(int(value.split()[0]))
        memory[player.name] = {field: statistics.median(values) for field, values in samples.items()}
    return memory


def measure_accuracy(players: list[Contender], settings: Settings) -> dict:
    """Elapsed times of short sleeps timed from here, and each contender's exec floor
    (the median of `sleep 0` timed the same way). Runs are interleaved across
    contenders and operands so load changes hit them all alike."""
    floor_ns = {p.name: [] for p in players}
    for _ in range(settings.floor_runs):
        for player in players:
            floor_ns[player.name].append(run_timed_ns(player.command("0")))
    elapsed_ns = {p.name: {operand: [] for operand in ACCURACY_OPERANDS} for p in players}
    for _ in range(settings.accuracy_runs):
        for operand in ACCURACY_OPERANDS:
            for player in players:
                elapsed_ns[player.name][operand].append(run_timed_ns(player.command(operand)))
    return {p.name: {"floor_ns": statistics.median(floor_ns[p.name]),
                     "elapsed_ns": elapsed_ns[p.name]} for p in players}


# ---------------------------------------------------------------- context

def machine_description() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "virtualised": " hypervisor" in cpuinfo,
        "kernel": platform.release(),
        "arch": platform.machine(),
        "load": load_average(),
    }


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def package_versions() -> dict:
    versions = {}
    for package in RECORDED_PACKAGES:
        found = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                               capture_output=True, text=True)
        versions[package] = found.stdout.strip() if found.returncode == 0 else "not installed"
    return versions


def our_build(snapshot: Path) -> dict:
    def git(*args: str) -> str:
        found = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return found.stdout.strip() if found.returncode == 0 else ""
    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    if git("status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock", "build.rs",
           "linker.ld", "rust-toolchain.toml", ".cargo"):
        commit += " with uncommitted changes to the sources"
    digests = {binary.name.removeprefix("sleep-linux-"): hashlib.sha256(binary.read_bytes()).hexdigest()
               for binary in sorted(snapshot.glob("sleep-linux-*"))}
    return {"commit": commit, "sha256": digests}


# ---------------------------------------------------------------- report

def sizes_section(sizes: dict, other_arches: dict) -> str:
    ours = sizes["ours"]["bytes"]
    rows = []
    for name, size in sizes.items():
        library_bytes = sum(b for _, b in size["libraries"])
        libraries = ", ".join(f"{lib} ({b:,})" for lib, b in size["libraries"]) or "none"
        rows.append([
            name, f"`{size['path']}`", "dynamic" if size["dynamic"] else "static",
            f"{size['bytes']:,}", ratio(size["bytes"], ours), libraries,
            f"{size['bytes'] + library_bytes:,}", ratio(size["bytes"] + library_bytes, ours)])
    arch_rows = [[arch, f"{size:,}", "dynamic" if dynamic else "static"]
                 for arch, (size, dynamic) in other_arches.items()]
    return "\n".join([
        "## File size (amd64)",
        "",
        "Bytes of the executable a `sleep` runs (symlinks resolved). A dynamic "
        "executable also needs its shared libraries (from `ldd`, vDSO excluded); "
        "they are usually in the image already for other programs, but not in a "
        "`FROM scratch` image, so both totals are given.",
        "",
        markdown_table(["sleep", "executable", "linking", "bytes", "× ours",
                        "shared libraries (bytes)", "with libraries", "× ours"], rows),
        "",
        "Our other arches (`dist/sleep-linux-ARCH`). Only their size is reported: the "
        "peers are installed here only as amd64 builds, and valgrind cannot measure a "
        "binary run under qemu-user (it would count qemu's own instructions).",
        "",
        markdown_table(["arch", "bytes", "linking"], arch_rows),
    ])


def instructions_section(counts: dict, unstripped_same: bool | None) -> str:
    ours = counts["ours"]
    rows = []
    rejections = []
    for name, by_operand in counts.items():
        row = [name]
        for operand in INSTRUCTION_OPERANDS:
            value = by_operand[operand]
            if isinstance(value, int):
                row.append(f"{value:,}" + ("" if name == "ours" else f" ({ratio(value, ours[operand])})"))
            else:
                row.append("rejected")
                rejections.append(f"- {name} `sleep {operand}`: {value.removeprefix('rejected: ')}")
        rows.append(row)
    cross_check = {
        True: "The stripped release binary runs under valgrind as is (no section headers "
              "needed); the unstripped build of the same code gives identical counts.",
        False: "The unstripped build of the same code gives a DIFFERENT count for `sleep 0`.",
        None: "No unstripped build was at hand to cross-check against.",
    }[unstripped_same]
    return "\n".join([
        "## User-space instructions",
        "",
        "`valgrind --tool=callgrind`, total `Ir` from the profile's `summary:` line: every "
        "instruction executed in user space from the first one to exit, including the "
        "dynamic loader and libc start-up for dynamic executables; the kernel's work "
        "(exec, page faults, the sleep itself) is not counted. Deterministic for a given "
        "environment (see Run). For a dynamic executable valgrind also preloads its small "
        "core library, whose start-up is counted too. Cell: count (× ours for the same "
        "operand). "
        + cross_check,
        "",
        markdown_table(["sleep", *(f"`{o}`" for o in INSTRUCTION_OPERANDS)], rows),
        "",
        *(["Operands a peer rejects (exit 1, checked without valgrind too) are not counted:", "",
           *rejections] if rejections else []),
    ])


def startup_section(startup: dict, settings: Settings) -> str:
    def us(seconds: float) -> str:
        return f"{seconds * 1e6:,.0f}"
    ours_median = statistics.median(startup["ours"]["times_s"])
    rows = []
    for name, data in startup.items():
        times = data["times_s"]
        median = statistics.median(times)
        per_round = [m / o for m, o in zip(data["round_medians_s"], startup["ours"]["round_medians_s"])]
        rows.append([name, us(median), us(percentile(times, 0.25)) + "–" + us(percentile(times, 0.75)),
                     us(statistics.mean(times)), us(statistics.stdev(times)),
                     us(min(times)), us(max(times)), ratio(median, ours_median),
                     "—" if name == "ours" else f"{min(per_round):.2f}–{max(per_round):.2f}"])
    return "\n".join([
        "## Start-up: wall time of `sleep 0`",
        "",
        f"`hyperfine -N` (no shell between hyperfine and the program), {settings.startup_rounds} "
        f"rounds of {settings.startup_runs} runs per sleep after {settings.startup_warmup} "
        "warm-up runs, all sleeps in each round and the order rotated between rounds; "
        "the times of all rounds pooled. Spawn to exit, so it includes the kernel's "
        "`fork`/`exec`, which no program can avoid. Times in µs; × ours compares medians; "
        "the last column is that ratio in each round alone.",
        "",
        markdown_table(["sleep", "median", "IQR", "mean", "stddev", "min", "max",
                        "× ours", "× ours per round"], rows),
    ])


def memory_section(memory: dict, settings: Settings) -> str:
    ours = memory["ours"]["VmRSS"]
    rows = [[name, *(f"{fields[f]:,.0f}" for f in MEMORY_FIELDS), ratio(fields["VmRSS"], ours)]
            for name, fields in memory.items()]
    return "\n".join([
        "## Resident memory while sleeping",
        "",
        f"`sleep {MEMORY_SLEEP_OPERAND}` started, `/proc/PID/status` read after "
        f"{MEMORY_READ_AFTER_S} s, then killed; median of {settings.memory_repeats}. kB. "
        "`RssFile` pages (the executable and libraries) can be shared with other "
        "processes mapping the same files; `RssAnon` is the process's own.",
        "",
        markdown_table(["sleep", *MEMORY_FIELDS, "VmRSS × ours"], rows),
    ])


def undershoots(elapsed_ns: list[int], operand: str) -> int:
    """Runs whose whole elapsed time, spawn included, is below the request."""
    requested_ns = round(float(operand) * 1e9)
    return sum(elapsed < requested_ns for elapsed in elapsed_ns)


def accuracy_problems(accuracy: dict) -> list[str]:
    """An undershoot of ours is a bug (the peers' are only reported)."""
    ours = accuracy["ours"]["elapsed_ns"]
    return [f"accuracy: ours undershot `sleep {operand}` {undershoots(ours[operand], operand)} times"
            for operand in ACCURACY_OPERANDS if undershoots(ours[operand], operand)]


def accuracy_section(accuracy: dict, settings: Settings) -> str:
    rows = []
    for name, data in accuracy.items():
        floor = data["floor_ns"]
        for operand in ACCURACY_OPERANDS:
            requested = round(float(operand) * 1e9)
            elapsed = data["elapsed_ns"][operand]
            overshoot_us = [(e - floor - requested) / 1e3 for e in elapsed]
            rows.append([name, f"`{operand}`", str(len(elapsed)), f"{floor / 1e3:,.0f}",
                         f"{statistics.median(overshoot_us):,.0f}",
                         f"{statistics.mean(overshoot_us):,.0f}",
                         f"{percentile(overshoot_us, 0.95):,.0f}",
                         f"{max(overshoot_us):,.0f}", str(undershoots(elapsed, operand))])
    return "\n".join([
        "## Timing accuracy",
        "",
        "Each run timed from this script (`time.perf_counter_ns` around `posix_spawn` and "
        f"`waitpid`), {settings.accuracy_runs} runs per sleep and operand, interleaved. "
        "Overshoot = elapsed − exec floor − requested, where the exec floor is the "
        f"median of {settings.floor_runs} `sleep 0` runs of the same program timed the "
        "same way. µs. An undershoot is a run whose whole elapsed time, spawn included, "
        "is below the request; there should be none. Part of every overshoot is the "
        "kernel's timer slack (50 µs by default), the same for all. The rest is waking "
        "the idle CPU and this script, and the program's exit, which after a sleep runs "
        "with colder caches than in the back-to-back floor runs: probably why larger "
        "processes overshoot more. Means and maxima also carry waits for a CPU when the "
        "machine is busy (see the load averages).",
        "",
        markdown_table(["sleep", "operand", "runs", "exec floor", "median overshoot", "mean overshoot",
                        "p95 overshoot", "max overshoot", "undershoots"], rows),
    ])


def render_report(results: dict, settings: Settings, smoke: bool, failures: list[str]) -> str:
    machine = results["machine"]
    build = results["build"]
    versions = results["versions"]
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by scripts/bench; do not edit: run `scripts/bench` to regenerate. -->",
        "",
        "This project's `sleep` against the established ones, on one machine, in one run: "
        "GNU coreutils `sleep`, busybox `sleep` (static) and uutils `sleep`. Ratios are "
        "peer ÷ ours, so 2× means the peer needs twice as much. Chart: `benchmarks.svg`.",
        "",
        "![file size and start-up](benchmarks.svg)",
        "",
        "## Run",
        "",
        f"- date: {results['date']}" + (" (smoke run: few repetitions)" if smoke else ""),
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['arch']}"
        + (", virtual machine" if machine["virtualised"] else ""),
        f"- kernel: Linux {machine['kernel']}",
        f"- load average (1, 5, 15 min) at start: {machine['load']}; at end: {results['load_at_end']}",
        f"- ours: commit {build['commit']}; sha256 "
        + ", ".join(f"{arch} `{digest[:16]}…`" for arch, digest in build["sha256"].items()),
        "- Debian packages: " + ", ".join(f"{p} {v}" for p, v in versions.items()),
        "- command: `scripts/bench" + (" --smoke`" if smoke else "`"),
        "- environment of every measured run: "
        + " ".join(f"`{k}={v}`" for k, v in MEASURED_ENV.items())
        + " (what `docker run` gives a container; no locale variables)",
        "",
    ]
    sections = {
        "sizes": lambda: sizes_section(results["sizes"], results["other_arch_sizes"]),
        "instructions": lambda: instructions_section(results["instructions"],
                                                     results.get("unstripped_same")),
        "startup": lambda: startup_section(results["startup"], settings),
        "memory": lambda: memory_section(results["memory"], settings),
        "accuracy": lambda: accuracy_section(results["accuracy"], settings),
    }
    for key, render in sections.items():
        if key not in results:   # its step failed, and failures says why
            parts += [f"## {key}", "", "Not measured: the step failed (see below).", ""]
            continue
        try:
            parts += [render(), ""]
        except Exception as error:
            traceback.print_exc()
            failures.append(f"{key}: not reported: {error!r}")
            parts += [f"## {key}", "", "Not reported: see below.", ""]
    if failures:
        parts += ["## Problems in this run", "", *(f"- {f}" for f in failures), ""]
    return "\n".join(parts)


README_START = "<!-- benchmarks:start (written by scripts/bench from docs/benchmarks.md's run) -->"
README_END = "<!-- benchmarks:end -->"


def readme_headline(results: dict) -> str:
    """The README's headline figures, from this run: amd64, ours against each peer."""
    sizes, counts, memory = results["sizes"], results["instructions"], results["memory"]
    medians = {name: statistics.median(value["times_s"]) for name, value in results["startup"].items()}
    peers = [name for name in sizes if name != "ours"]

    def with_libraries(name: str) -> int:
        return sizes[name]["bytes"] + sum(size for _, size in sizes[name]["libraries"])

    rows = [
        ["file size (bytes)", f"{sizes['ours']['bytes']:,}"]
        + [f"{sizes[p]['bytes']:,} ({ratio(sizes[p]['bytes'], sizes['ours']['bytes'])})"
           + (f"; {with_libraries(p):,} with its libraries ({ratio(with_libraries(p), sizes['ours']['bytes'])})"
              if sizes[p]["dynamic"] else "")
           for p in peers],
        ["instructions, `sleep 0`", f"{counts['ours']['0']:,}"]
        + [f"{counts[p]['0']:,} ({ratio(counts[p]['0'], counts['ours']['0'])})" for p in peers],
        ["start-up, `sleep 0` (median)", f"{medians['ours'] * 1e6:,.0f} µs"]
        + [f"{medians[p] * 1e6:,.0f} µs ({ratio(medians[p], medians['ours'])})" for p in peers],
        ["memory while sleeping (VmRSS)", f"{memory['ours']['VmRSS']:,.0f} kB"]
        + [f"{memory[p]['VmRSS']:,.0f} kB ({ratio(memory[p]['VmRSS'], memory['ours']['VmRSS'])})" for p in peers],
    ]
    table = markdown_table(["amd64, " + results["date"][:10], "ours", *peers], rows)
    return (f"{README_START}\n{table}\n\nMeasured by `scripts/bench` on {results['machine']['cpu']}; "
            "method, versions, timing accuracy and the other arches in "
            "[docs/benchmarks.md](docs/benchmarks.md).\n\n"
            f"![file size and start-up](docs/benchmarks.svg)\n{README_END}")


def update_readme(headline: str) -> None:
    readme_path = REPO / "README.md"
    readme = readme_path.read_text()
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < 0:
        raise RuntimeError("README.md has no benchmarks:start/end markers")
    readme_path.write_text(readme[:start] + headline + readme[end + len(README_END):])


def draw_chart(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.hashsalt"] = "sleep-bench"   # stable ids: diffs show real changes
    matplotlib.rcParams["svg.fonttype"] = "none"          # text as text, not glyph paths

    sizes, startup = results["sizes"], results["startup"]
    names = list(startup)[::-1]   # ours on top
    positions = range(len(names))
    colours = ["#d62728" if name == "ours" else "#7f7f7f" for name in names]
    figure, (size_axes, startup_axes) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")

    executable = [sizes[n]["bytes"] for n in names]
    libraries = [sum(b for _, b in sizes[n]["libraries"]) for n in names]
    size_axes.barh(positions, executable, color=colours, label="executable")
    size_axes.barh(positions, libraries, left=executable, color=colours, alpha=0.35,
                   hatch="//", label="shared libraries")
    size_axes.set_xscale("log")
    size_axes.set_yticks(list(positions), names)
    size_axes.set_xlabel("bytes (log scale)")
    size_axes.set_title("File size, amd64")
    ours_total = executable[names.index("ours")]
    for y, total in enumerate(e + l for e, l in zip(executable, libraries)):
        amount = f"{total / 1024:,.0f} KiB" if total >= 10240 else f"{total:,} B"
        size_axes.text(total, y, f"  {amount} ({total / ours_total:,.0f}×)", va="center", fontsize=8)
    # Bars start at 100 B, not 0, which a log axis cannot show.
    size_axes.set_xlim(100, max(executable[i] + libraries[i] for i in positions) * 40)
    size_axes.legend(loc="upper right", fontsize=8)

    medians = [statistics.median(startup[n]["times_s"]) * 1e6 for n in names]
    low = [m - percentile(startup[n]["times_s"], 0.25) * 1e6 for n, m in zip(names, medians)]
    high = [percentile(startup[n]["times_s"], 0.75) * 1e6 - m for n, m in zip(names, medians)]
    startup_axes.barh(positions, medians, xerr=[low, high], color=colours, capsize=3)
    startup_axes.set_yticks(list(positions), names)
    startup_axes.set_xlabel("µs, median (whiskers: interquartile range)")
    startup_axes.set_title("Start-up: wall time of `sleep 0`")
    ours_median = medians[names.index("ours")]
    for y, m in enumerate(medians):
        startup_axes.text(m + high[y], y, f"  {m:,.0f} µs ({m / ours_median:.2f}×)",
                          va="center", fontsize=8)
    startup_axes.set_xlim(right=max(m + h for m, h in zip(medians, high)) * 1.45)
    figure.savefig(path, metadata={"Date": None})   # format from the suffix
    plt.close(figure)


# ---------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", default=os.environ.get("BENCH_SMOKE") == "1",
                        help="few repetitions, output to a temporary directory (or --out)")
    parser.add_argument("--out", type=Path, help="where to write benchmarks.md and .svg")
    parser.add_argument("--dist", type=Path, default=Path(os.environ.get("SLEEP_DIST", REPO / "dist")),
                        help="directory holding sleep-linux-ARCH (amd64 at least)")
    args = parser.parse_args()
    settings = SMOKE if args.smoke else FULL
    out = args.out or (Path(tempfile.mkdtemp(prefix="sleep-bench-")) if args.smoke else REPO / "docs")
    out.mkdir(parents=True, exist_ok=True)
    dist = args.dist.resolve()
    failures: list[str] = []
    results: dict = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "versions": package_versions(),
    }

    @contextlib.contextmanager
    def step(name: str):
        log(name)
        try:
            yield
        except Exception as error:   # record it, go on with the other measurements
            traceback.print_exc()
            failures.append(f"{name}: {error}")

    with tempfile.TemporaryDirectory(prefix="sleep-bench-work-") as work:
        workdir = Path(work)
        snapshot = snapshot_our_binaries(dist, workdir, with_unstripped=dist == REPO / "dist")
        results["build"] = our_build(snapshot)
        players = contenders(snapshot, dist)
        with step("sizes"):
            results["sizes"] = measure_sizes(players)
            results["other_arch_sizes"] = measure_other_arch_sizes(snapshot)
        with step("instructions"):
            results["instructions"] = measure_instructions(players, workdir)
            results["unstripped_same"] = unstripped_matches(snapshot, results["instructions"], workdir)
            if results["unstripped_same"] is False:
                failures.append("instructions: the unstripped build counts differently")
        with step("memory"):
            results["memory"] = measure_memory(players, settings)
        with step("startup"):
            results["startup"] = measure_startup(players, settings, workdir)
        with step("accuracy"):
            results["accuracy"] = measure_accuracy(players, settings)
            failures += accuracy_problems(results["accuracy"])

    results["load_at_end"] = load_average()
    if "sizes" in results and "startup" in results:
        with step("chart"):
            draw_chart(results, out / "benchmarks.svg")
    else:
        failures.append("chart: not drawn, its measurements failed")
    report = render_report(results, settings, args.smoke, failures)
    (out / "benchmarks.md").write_text(report)
    if all(key in results for key in ("sizes", "instructions", "startup", "memory")):
        with step("readme"):
            headline = readme_headline(results)
            # Only a full run into docs/ speaks for the project; a smoke run just checks it works.
            if not args.smoke and out == REPO / "docs":
                update_readme(headline)
            else:
                print(headline)
    print(report)
    log("wrote " + " and ".join(str(out / name) for name in ("benchmarks.md", "benchmarks.svg")
                                 if (out / name).exists()))
    if failures:
        log("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
