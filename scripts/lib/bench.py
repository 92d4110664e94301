"""Benchmarks this project's sleep against GNU coreutils, busybox, uutils and Go.

Run through scripts/bench, which installs the tools this needs. Builds the two
programs the project keeps for comparison (bench/): the physical floor, a
static ELF that only calls exit_group(0), and the Go program most preStop users
copy into their images. Measures file size, user-space instructions
(callgrind), start-up wall time (hyperfine), resident memory while sleeping,
timing accuracy and what our 1 ns timer slack changes; writes benchmarks.md
and benchmarks.svg (docs/, or a temporary directory with --smoke), the README's
headline (full runs only) and prints the tables. Exits 1 if any measurement
failed.
"""

import argparse
import contextlib
import dataclasses
import datetime
import errno
import hashlib
import json
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from pathlib import Path

import elf  # scripts/lib/elf.py, beside this file

REPO = Path(__file__).resolve().parents[2]
# What scripts/build strips into dist/sleep-linux-amd64.
UNSTRIPPED_BUILD = REPO / "target/x86_64-unknown-none/release/sleep"

# Operands for the instruction counts: zero, then one millisecond-ish written
# three ways, since parsing is most of what a sleep does in user space.
INSTRUCTION_OPERANDS = ["0", "0.001", "1e-3", "0x1p-10"]
# The last is whole seconds, the only kind the Go program reads (it sleeps 0 s
# on the others); it gets fewer runs (Settings.accuracy_long_runs).
ACCURACY_OPERANDS = ["0.01", "0.05", "0.1", "1"]
LONG_ACCURACY_OPERAND = "1"
# Short sleeps, where the kernel's default 50 µs timer slack is a large part of
# the overshoot.
SLACK_OPERANDS = ["0.001", "0.01", "0.1"]   # Settings.slack_pairs: how many pairs of each
# The timer slack experiment refuses ours' prctl(PR_SET_TIMERSLACK, 1) with a
# seccomp filter (libseccomp's bindings); the other arm refuses
# PR_GET_TIMERSLACK, which ours never asks.
PR_SET_TIMERSLACK = 29     # <linux/prctl.h>
PR_GET_TIMERSLACK = 30
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

# Debian packages whose versions the report records (Go's is `go version`).
RECORDED_PACKAGES = ["coreutils", "busybox-static", "rust-coreutils", "libc6",
                     "valgrind", "hyperfine", "python3-matplotlib", "python3-seccomp"]

# The programs built by this script: bench/README.md says what they are and why
# they are built this way.
BARE_EXIT_CRATE = REPO / "bench/bare-exit"
GO_SLEEP_PACKAGE = REPO / "bench/go-sleep"
BENCH_TARGET = REPO / "target/bench"   # cargo's target dir and Go's caches


@dataclasses.dataclass(frozen=True)
class Settings:
    startup_rounds: int      # hyperfine runs, each with every contender, in balanced_orders' orders
    startup_runs: int        # timed runs per contender per round
    startup_warmup: int
    floor_runs: int          # `sleep 0` runs timed by this script: each program's own floor
    accuracy_runs: int       # runs per contender per sub-second operand
    accuracy_long_runs: int  # runs per contender of LONG_ACCURACY_OPERAND
    slack_pairs: dict        # operand -> pairs of runs (default slack, 1 ns)
    threaded_repeats: int    # callgrind runs of a program whose count varies (Go)
    memory_repeats: int


# As many start-up rounds as balanced_orders gives for the six programs: each
# takes every place once, and follows every other once.
FULL = Settings(startup_rounds=6, startup_runs=350, startup_warmup=50,
                floor_runs=300, accuracy_runs=150, accuracy_long_runs=20,
                # More pairs where they are cheap: the 50 µs in question is a
                # small part of a short sleep's noise.
                slack_pairs={"0.001": 1000, "0.01": 1000, "0.1": 300},
                threaded_repeats=5, memory_repeats=3)
SMOKE = Settings(startup_rounds=2, startup_runs=15, startup_warmup=3,
                 floor_runs=5, accuracy_runs=3, accuracy_long_runs=1,
                 slack_pairs={"0.001": 3, "0.01": 3, "0.1": 3},
                 threaded_repeats=2, memory_repeats=1)


@dataclasses.dataclass(frozen=True)
class Contender:
    name: str
    argv: tuple[str, ...]    # the command without its operands
    package: str | None      # the Debian package that provides it (or "go", its compiler); None for ours
    origin: str | None = None   # for a measured copy or a build: where it comes from
    note: str = ""           # how it was built, for the size table
    integers_only: bool = False  # reads whole seconds only, and other operands as 0 (Go)
    threaded: bool = False   # starts threads whose work varies run to run (Go's runtime)
    valgrind_env: tuple[tuple[str, str], ...] = ()   # added to MEASURED_ENV under valgrind only

    @property
    def executable(self) -> Path:
        return Path(self.argv[0]).resolve()

    def command(self, *operands: str) -> list[str]:
        return [*self.argv, *operands]

    def reads_as_zero(self, operand: str) -> bool:
        return self.integers_only and not operand.isdigit()


# Under valgrind (about 50× slower) Go's runtime asks for goroutine preemption
# (after 10 ms) with signals, on which valgrind 3.19's callgrind crashes in most
# runs ("Assertion 'sigNum == vgCallgrind_current_state.sig' failed"). A native
# run is over in about a millisecond and sends none; this turns them off.
GO_UNDER_VALGRIND = (("GODEBUG", "asyncpreemptoff=1"),)

OURS = "ours"
BARE_EXIT = "bare exit (physical limit)"
GO_STRIPPED = "Go (strconv.Atoi)"
GO_UNSTRIPPED = "Go, unstripped"


@dataclasses.dataclass(frozen=True)
class Field:
    """Who is measured in which step."""
    ours: Contender
    bare_exit: Contender     # start-up (and size, instructions) only: it does not sleep
    peers: list[Contender]
    go_unstripped: Contender   # size and instructions only: it runs the same code as Go

    @property
    def sleeps(self) -> list[Contender]:
        return [self.ours, *self.peers]

    @property
    def all(self) -> list[Contender]:
        return [self.ours, self.bare_exit, *self.peers, self.go_unstripped]


def field(snapshot: Path, dist: Path, built: dict[str, Path]) -> Field:
    return Field(
        ours=Contender(OURS, (str(snapshot / "sleep-linux-amd64"),), None,
                       origin=shown_path(dist / "sleep-linux-amd64")),
        bare_exit=Contender(BARE_EXIT, (str(built["bare-exit"]),), None,
                            origin=shown_path(BARE_EXIT_CRATE), note="built by this run"),
        peers=[
            Contender("GNU coreutils", ("/usr/bin/sleep",), "coreutils"),
            Contender("busybox", ("/usr/bin/busybox", "sleep"), "busybox-static"),
            # A multicall binary that picks the utility by argv[0]'s name.
            Contender("uutils", ("/usr/lib/cargo/bin/coreutils/sleep",), "rust-coreutils"),
            Contender(GO_STRIPPED, (str(built["go-sleep"]),), "go",
                      origin=shown_path(GO_SLEEP_PACKAGE), note="built by this run, `-ldflags=-s -w`",
                      integers_only=True, threaded=True, valgrind_env=GO_UNDER_VALGRIND),
        ],
        go_unstripped=Contender(GO_UNSTRIPPED, (str(built["go-sleep-unstripped"]),), "go",
                                origin=shown_path(GO_SLEEP_PACKAGE), note="built by this run",
                                integers_only=True, threaded=True, valgrind_env=GO_UNDER_VALGRIND),
    )


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


def run_order(items: list, index: int) -> list:
    """The order of the programs in the index-th pass: shuffled (seeded by index,
    so reproducible), so that over the passes each program follows each other one
    about equally often. It matters: a run right after the Go program's takes
    about 20 µs longer (its exit leaves work and cold caches behind), which a
    fixed or merely rotated order would charge to one program."""
    return random.Random(index).sample(items, len(items))


def balanced_orders(count: int) -> list[list[int]]:
    """Orders of `count` programs (their indices) for rounds that each run all
    of them in turn: a Williams design, where each program takes every place
    once and directly follows every other once (for an odd count, twice as many
    orders: each row and its reverse). So no program systematically runs after
    another's block, unlike a fixed or rotated order (see run_order)."""
    first, low, high = [0], 1, count - 1
    while len(first) < count:   # 0, 1, n-1, 2, n-2, ...
        first.append(low)
        low += 1
        if len(first) < count:
            first.append(high)
            high -= 1
    orders = [[(place + shift) % count for place in first] for shift in range(count)]
    return orders if count % 2 == 0 else orders + [order[::-1] for order in orders]


def in_pass(index: int, runs: int, passes: int) -> bool:
    """Whether a measurement with `runs` runs over `passes` passes has one in pass
    `index`: exactly `runs` of them, spread evenly, so each meets the same changes
    in the machine's load as the others."""
    return index * runs // passes != (index + 1) * runs // passes


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
    """True if the ELF needs ld.so and shared libs (scripts/lib/elf.py reads the program
    headers: our binary has no section headers for tools to use)."""
    return elf.has_interpreter(path.read_bytes(), str(path))


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


# ---------------------------------------------------------------- builds

def rust_objcopy() -> Path:
    """The toolchain's llvm-objcopy, the one scripts/build strips with."""
    return Path(run_text([str(REPO / "scripts/llvm-tool"), "llvm-objcopy"]))


def release_profile_config() -> list[str]:
    """The root Cargo.toml's [profile.release] as `--config` arguments: the bare
    exit is its own workspace (like fuzz/), which would otherwise get cargo's
    default profile."""
    profile = tomllib.loads((REPO / "Cargo.toml").read_text())["profile"]["release"]
    # JSON writes these scalars (strings, booleans, integers) as TOML does.
    return [argument for key, value in profile.items()
            for argument in ("--config", f"profile.release.{key}={json.dumps(value)}")]


def build_bare_exit(workdir: Path) -> Path:
    """The physical floor, amd64, made as scripts/build makes dist/sleep-linux-amd64:
    rust-lld with linker.ld and build.rs's link arguments (bench/bare-exit reuses
    both), .cargo/config.toml's flags (cargo reads them from the repository,
    the working directory here), the release profile, then --strip-sections."""
    target = "x86_64-unknown-none"
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS")}
    subprocess.run(["cargo", "build", "--quiet", "--locked", "--release",
                    "--manifest-path", str(BARE_EXIT_CRATE / "Cargo.toml"),
                    "--target", target, "--target-dir", str(BENCH_TARGET),
                    *release_profile_config()],
                   check=True, cwd=REPO, env=environment | {"CARGO_INCREMENTAL": "0"})
    stripped = workdir / "bare-exit"
    subprocess.run([str(rust_objcopy()), "--strip-sections",
                    str(BENCH_TARGET / target / "release/bare-exit"), str(stripped)], check=True)
    finished = subprocess.run([str(stripped)], env=MEASURED_ENV)
    if finished.returncode != 0:
        raise RuntimeError(f"the bare exit exited {finished.returncode}")
    return stripped


def go() -> str:
    """The Go on PATH (scripts/setup checks there is one)."""
    found = shutil.which("go")
    if not found:
        raise FileNotFoundError("go is not on PATH: run scripts/setup")
    return found


def build_go_sleep(workdir: Path) -> dict[str, Path]:
    """The Go program, with the Go on PATH, static (CGO_ENABLED=0) and offline, stripped with
    `-ldflags=-s -w` as its users build it, and unstripped as the project's seed
    shipped it. -trimpath and -buildvcs=false keep the checkout's path and git
    state out of the bytes (a few hundred bytes either way)."""
    environment = {
        "PATH": os.environ.get("PATH", MEASURED_ENV["PATH"]),
        "HOME": os.environ.get("HOME", "/root"),
        "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64",
        "GOCACHE": str(BENCH_TARGET / "go-cache"), "GOPATH": str(BENCH_TARGET / "go-path"),
        # Standard library only: nothing to download, and nothing may be (nor
        # another toolchain: this Go builds it).
        "GOPROXY": "off", "GOFLAGS": "", "GOENV": "off", "GOWORK": "off", "GO111MODULE": "on",
        "GOTOOLCHAIN": "local",
    }
    built = {}
    for name, flags in (("go-sleep", ["-ldflags=-s -w"]), ("go-sleep-unstripped", [])):
        output = workdir / name
        subprocess.run([go(), "build", "-trimpath", "-buildvcs=false", *flags, "-o", str(output), "."],
                       check=True, cwd=GO_SLEEP_PACKAGE, env=environment)
        built[name] = output
    return built


def go_version() -> str:
    return run_text([go(), "version"]).removeprefix("go version ")


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
            "note": player.note,
            "bytes": executable.stat().st_size,
            "dynamic": dynamic,
            "libraries": [(lib.name, lib.stat().st_size) for lib in libraries],
        }
    return sizes


def measure_other_arch_sizes(snapshot: Path) -> dict:
    """Our binaries for the arches other than amd64: arch -> (bytes, dynamic)."""
    return {binary.name.removeprefix("sleep-linux-"): (binary.stat().st_size, is_dynamic_elf(binary))
            for binary in sorted(snapshot.glob("sleep-linux-*")) if binary.name != "sleep-linux-amd64"}


def callgrind_instructions(argv: list[str], workdir: Path,
                           extra_env: tuple[tuple[str, str], ...] = ()) -> tuple[int, int]:
    """(user-space instructions, exit code) of one run under callgrind."""
    out_file = workdir / "callgrind.out"
    out_file.unlink(missing_ok=True)
    finished = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                               "--", *argv], capture_output=True, text=True,
                              env=MEASURED_ENV | dict(extra_env))
    if not out_file.exists():
        raise RuntimeError(f"valgrind wrote no profile for {shlex.join(argv)}: {finished.stderr[-500:]}")
    for line in out_file.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]), finished.returncode
    raise RuntimeError(f"no summary/totals line in callgrind output for {shlex.join(argv)}")


def lackey_instructions(argv: list[str]) -> int:
    """User-space instructions of one run under valgrind's lackey, which counts every
    one, the last basic block's too (callgrind leaves out the block that exits)."""
    finished = subprocess.run(["valgrind", "--tool=lackey", "--", *argv],
                              capture_output=True, text=True, env=MEASURED_ENV)
    for line in finished.stderr.splitlines():
        if "guest instrs:" in line:
            return int(line.split("guest instrs:")[1].replace(",", ""))
    raise RuntimeError(f"no 'guest instrs' line from lackey for {shlex.join(argv)}: {finished.stderr[-500:]}")


def measure_instructions(players: list[Contender], settings: Settings, workdir: Path) -> dict:
    """Per contender, per operand: an instruction count or the peer's error message.
    A threaded program counts differently run to run: its median of several runs,
    with the range under "ranges". The bare exit only with `0`: it reads no operand."""
    counts, ranges = {}, {}
    for player in players:
        counts[player.name], ranges[player.name] = {}, {}
        operands = ["0"] if player.name == BARE_EXIT else INSTRUCTION_OPERANDS
        for operand in operands:
            repeats = settings.threaded_repeats if player.threaded else 1
            runs = [callgrind_instructions(player.command(operand), workdir, player.valgrind_env)
                    for _ in range(repeats)]
            if all(exit_code == 0 for _, exit_code in runs):
                values = [instructions for instructions, _ in runs]
                counts[player.name][operand] = round(statistics.median(values))
                if player.threaded:
                    ranges[player.name][operand] = [min(values), max(values)]
                continue
            # Confirm outside valgrind that the peer itself rejects the operand.
            native = subprocess.run(player.command(operand), capture_output=True, text=True,
                                    env=MEASURED_ENV)
            if native.returncode == 0:
                raise RuntimeError(f"{player.name} {operand}: fails only under valgrind")
            if player.package is None:
                raise RuntimeError(f"{player.name} rejects {operand}: {native.stderr.strip()}")
            counts[player.name][operand] = "rejected: " + native.stderr.splitlines()[0]
    # The bare exit is one basic block, which callgrind never counts: lackey for it,
    # and for ours' `sleep 0` to compare like with like.
    lackey = {player.name: lackey_instructions(player.command("0"))
              for player in players if player.name in (OURS, BARE_EXIT)}
    return {"counts": counts, "ranges": ranges, "lackey": lackey}


def unstripped_matches(snapshot: Path, counts: dict, workdir: Path) -> bool | None:
    """Whether the unstripped build (same code, with section headers) counts the same.
    None when there is no unstripped build (e.g. SLEEP_DIST given)."""
    unstripped = snapshot / "sleep-unstripped"
    if not unstripped.exists():
        return None
    instructions, _ = callgrind_instructions([str(unstripped), "0"], workdir)
    return instructions == counts[OURS]["0"]


def measure_startup(players: list[Contender], settings: Settings, workdir: Path) -> dict:
    """hyperfine -N (no shell) on `sleep 0`, every contender in each round, the
    rounds in balanced_orders' orders: neither drift in the machine's load nor
    the program run just before (Go's exit leaves work behind) always favours the
    same contender. A full run is whole designs."""
    orders = balanced_orders(len(players))
    if settings is FULL and settings.startup_rounds % len(orders) != 0:
        raise RuntimeError(f"{settings.startup_rounds} start-up rounds are not whole designs "
                           f"of {len(orders)} orders for {len(players)} programs")
    by_command = {shlex.join(p.command("0")): p.name for p in players}
    times = {p.name: [] for p in players}
    round_medians = {p.name: [] for p in players}
    for round_index in range(settings.startup_rounds):
        order = [players[i] for i in orders[round_index % len(orders)]]
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


def measure_accuracy(players: list[Contender], bare_exit: Contender, settings: Settings) -> dict:
    """Elapsed times of short sleeps timed from here, and each contender's own
    floor (the median of its `sleep 0` timed the same way; the bare exit's too,
    for the start-up section). The `sleep 0` runs are spread over the same passes
    as the sleeps, and each pass runs the programs in a new order, so changes in
    the machine's load hit them all alike."""
    runs = {"0": settings.floor_runs} | {
        operand: settings.accuracy_long_runs if operand == LONG_ACCURACY_OPERAND
        else settings.accuracy_runs for operand in ACCURACY_OPERANDS}
    elapsed_ns = {p.name: {operand: [] for operand in runs} for p in [*players, bare_exit]}
    passes = max(runs.values())
    for index in range(passes):
        for operand in runs:
            if not in_pass(index, runs[operand], passes):
                continue
            for player in run_order(players + ([bare_exit] if operand == "0" else []), index):
                elapsed_ns[player.name][operand].append(run_timed_ns(player.command(operand)))
    return {"sleep_0_ns": {name: by_operand["0"] for name, by_operand in elapsed_ns.items()},
            "by_sleep": {p.name: {"floor_ns": statistics.median(elapsed_ns[p.name]["0"]),
                                  "elapsed_ns": {o: elapsed_ns[p.name][o] for o in ACCURACY_OPERANDS},
                                  "reads_as_zero": [o for o in ACCURACY_OPERANDS if p.reads_as_zero(o)]}
                         for p in players}}


def install_timer_slack_filter(refuse: bool) -> None:
    """Filters this process's syscalls, and those of every process it spawns, for
    good, through libseccomp (which sets no_new_privs first). With refuse,
    prctl(PR_SET_TIMERSLACK, …) fails with EPERM. Without, the filter refuses
    PR_GET_TIMERSLACK instead, which ours never asks (libseccomp adds no rule
    that allows what its default allows): both arms then pay the same filter on
    every syscall, and differ only in the slack."""
    import seccomp   # Debian's python3-seccomp, which scripts/bench installs
    refused = PR_SET_TIMERSLACK if refuse else PR_GET_TIMERSLACK
    syscall_filter = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    syscall_filter.add_rule(seccomp.ERRNO(errno.EPERM), "prctl", seccomp.Arg(0, seccomp.EQ, refused))
    syscall_filter.load()


def sleeping_timer_slack(argv: list[str]) -> dict:
    """Spawns a long sleep, waits until it is in clock_nanosleep, and reads its
    /proc/PID/timerslack_ns (by then ours has made its prctl call, or had it
    refused) and its seccomp state."""
    import seccomp
    clock_nanosleep = str(seccomp.resolve_syscall(seccomp.Arch.NATIVE, "clock_nanosleep"))
    pid = spawn(argv)
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}/syscall").read_text().split()[0] != clock_nanosleep:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{shlex.join(argv)} is not sleeping after 10 s")
            time.sleep(0.01)
        status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":\t" in line)
        return {"timerslack_ns": int(Path(f"/proc/{pid}/timerslack_ns").read_text()),
                "seccomp": status["Seccomp"].strip(), "seccomp_filters": status["Seccomp_filters"].strip()}
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class SlackArm:
    """One arm of the timer slack experiment: a helper process forked from this
    script, with a seccomp filter that refuses ours' timer slack call (refuse) or
    one that allows it, which spawns ours for each operand it is sent over a pipe
    and times the run itself (run_timed_ns, as everywhere else). Both arms are made
    and used the same way, so a run differs between them only in its slack."""

    def __init__(self, ours: Contender, refuse: bool):
        self.ours = ours
        commands_read, commands_write = os.pipe()   # not inherited by spawned programs
        replies_read, replies_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:   # never return into the parent's code (its `with` blocks would clean up)
                # Only its own two pipes (and stdio): a copy of another arm's
                # command pipe held here would keep that arm from ever seeing its end.
                first, second = sorted((commands_read, replies_write))
                os.closerange(3, first)
                os.closerange(first + 1, second)
                os.closerange(second + 1, os.sysconf("SC_OPEN_MAX"))
                install_timer_slack_filter(refuse)
                self._serve(os.fdopen(commands_read), os.fdopen(replies_write, "w", buffering=1))
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(commands_read)
        os.close(replies_write)
        self.commands = os.fdopen(commands_write, "w", buffering=1)
        self.replies = os.fdopen(replies_read)

    def _serve(self, commands, replies) -> None:
        """In the helper: "time OPERAND" -> elapsed ns; "probe" -> the state of a sleep."""
        for line in commands:
            command, _, operand = line.rstrip("\n").partition(" ")
            try:
                if command == "time":
                    reply = str(run_timed_ns(self.ours.command(operand)))
                elif command == "probe":
                    reply = json.dumps(sleeping_timer_slack(self.ours.command("30")))
                else:
                    reply = f"error: no command {command!r}"
            except Exception as error:
                reply = "error: " + repr(error)
            replies.write(reply + "\n")

    def _ask(self, line: str) -> str:
        self.commands.write(line + "\n")
        reply = self.replies.readline().rstrip("\n")
        if not reply or reply.startswith("error: "):
            raise RuntimeError(f"timer slack helper {self.pid}, {line!r}: {reply or 'no reply'}")
        return reply

    def time_ns(self, operand: str) -> int:
        return int(self._ask(f"time {operand}"))

    def probe(self) -> dict:
        return json.loads(self._ask("probe"))

    def close(self) -> str | None:
        """Ends the helper; what went wrong in it, if anything."""
        with contextlib.suppress(BrokenPipeError):   # a helper that died early says why below
            self.commands.close()   # the helper reads the end of its commands and exits
        self.replies.close()
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return f"timer slack helper {self.pid} exited {code}" if code != 0 else None


def measure_timer_slack(ours: Contender, settings: Settings) -> dict:
    """What ours' own `prctl(PR_SET_TIMERSLACK, 1)` changes: the same binary run
    by two helpers (SlackArm), one refusing the call with seccomp (so ours keeps
    the default slack it inherits) and one allowing it. Each 1 ns run directly
    follows and precedes a default run of the same operand in turn: pairs,
    interleaved. Ours' `sleep 0` (which makes no call) is the floor, run by the
    two in turn."""
    default_slack_ns = int(Path("/proc/self/timerslack_ns").read_text())
    arms = {}
    try:
        arms["default"] = SlackArm(ours, refuse=True)
        arms["1 ns"] = SlackArm(ours, refuse=False)
        probed = {name: arm.probe() for name, arm in arms.items()}
        expected = {"default": default_slack_ns, "1 ns": 1}
        for name, probe in probed.items():
            if probe["timerslack_ns"] != expected[name]:
                raise RuntimeError(f"ours sleeps with a timer slack of {probe['timerslack_ns']} ns in the "
                                   f"{name} arm, not {expected[name]} ns" + (
                                       ": does it still call prctl(PR_SET_TIMERSLACK, 1)?"
                                       if name == "1 ns" else ": the seccomp filter did not refuse its call"))
            if (probe["seccomp"], probe["seccomp_filters"]) != ("2", "1"):
                raise RuntimeError(f"ours in the {name} arm is not under one seccomp filter: {probe}")
        floor_ns = {name: [] for name in arms}
        elapsed_ns = {operand: {name: [] for name in arms} for operand in SLACK_OPERANDS}
        passes = max(settings.floor_runs, *settings.slack_pairs.values())
        floor_turns = 0
        for index in range(passes):
            if in_pass(index, settings.floor_runs, passes):
                name = ("default", "1 ns")[floor_turns % 2]
                floor_ns[name].append(arms[name].time_ns("0"))
                floor_turns += 1
            for operand in SLACK_OPERANDS:
                if not in_pass(index, settings.slack_pairs[operand], passes):
                    continue
                order = ("default", "1 ns") if index % 2 == 0 else ("1 ns", "default")   # who goes first alternates
                for name in order:
                    elapsed_ns[operand][name].append(arms[name].time_ns(operand))
    finally:   # on an error, the helpers' own problems are only its consequences
        problems = [problem for arm in arms.values() if (problem := arm.close())]
    if problems:
        raise RuntimeError("; ".join(problems))
    return {"default_slack_ns": default_slack_ns,
            "probed": probed,
            "floor_ns": statistics.median(floor_ns["default"] + floor_ns["1 ns"]),
            "floor_ns_by_arm": {name: statistics.median(runs) for name, runs in floor_ns.items()},
            "elapsed_ns": elapsed_ns}


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


def our_build(snapshot: Path, dist: Path) -> dict:
    """Which commit was measured, and whether the tree was clean: the figures speak
    for that commit only if it was (any change counts, the benchmark's own too)."""
    def git(*args: str) -> str:
        found = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return found.stdout if found.returncode == 0 else ""
    commit = git("rev-parse", "--short=12", "HEAD").strip() or "unknown"
    # "XY path" lines; XY is two status letters or spaces.
    changed = [line[3:] for line in git("status", "--porcelain").splitlines()]
    if changed:
        shown = ", ".join(f"`{path}`" for path in changed[:6])
        tree = f"uncommitted changes to {shown}" + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
    else:
        tree = "clean tree"
    digests = {binary.name.removeprefix("sleep-linux-"): hashlib.sha256(binary.read_bytes()).hexdigest()
               for binary in sorted(snapshot.glob("sleep-linux-*"))}
    built_here = dist == REPO / "dist"
    return {"commit": commit, "clean": not changed, "tree": tree,
            "dist": None if built_here else str(dist), "sha256": digests}


def measured_commit(build: dict) -> str:
    """One line: the commit, the tree's state, and where the binaries came from."""
    line = f"commit `{build['commit']}` ({build['tree']})"
    if build["dist"]:
        line += f"; binaries from `{build['dist']}`, not built by this run"
    return line


# ---------------------------------------------------------------- report

def us(nanoseconds: float) -> str:
    return f"{nanoseconds / 1e3:,.0f}"


def sizes_section(sizes: dict, other_arches: dict) -> str:
    ours = sizes[OURS]["bytes"]
    rows = []
    for name, size in sizes.items():
        library_bytes = sum(b for _, b in size["libraries"])
        libraries = ", ".join(f"{lib} ({b:,})" for lib, b in size["libraries"]) or "none"
        rows.append([
            name, f"`{size['path']}`" + (f" ({size['note']})" if size["note"] else ""),
            "dynamic" if size["dynamic"] else "static",
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
        "`FROM scratch` image, so both totals are given. The bare exit is the "
        "smallest static ELF the release build's layout allows: the 64-byte ELF "
        "header, two 56-byte program headers and its 9 bytes of code. The Go "
        "program is built stripped (`-ldflags=-s -w`, as its users build it) and "
        "unstripped (as the project's seed shipped it); see `bench/README.md`.",
        "",
        markdown_table(["program", "executable", "linking", "bytes", "× ours",
                        "shared libraries (bytes)", "with libraries", "× ours"], rows),
        "",
        "Our other arches (`dist/sleep-linux-ARCH`). Only their size is reported: the "
        "peers are installed here only as amd64 builds, and valgrind cannot measure a "
        "binary run under qemu-user (it would count qemu's own instructions).",
        "",
        markdown_table(["arch", "bytes", "linking"], arch_rows),
    ])


def instructions_section(instructions: dict, unstripped_same: bool | None,
                         integers_only: list[str], settings: Settings) -> str:
    counts, ranges = instructions["counts"], instructions["ranges"]
    ours = counts[OURS]
    rows = []
    rejections = []
    for name, by_operand in counts.items():
        row = [name]
        for operand in INSTRUCTION_OPERANDS:
            value = by_operand.get(operand)
            if value is None:
                row.append("—")
            elif isinstance(value, int):
                cell = f"{value:,}"
                if name == BARE_EXIT:
                    cell += f" (lackey: {instructions['lackey'][BARE_EXIT]:,})"
                elif name != OURS:
                    cell += f" ({ratio(value, ours[operand])})"
                if operand in ranges[name]:
                    low, high = ranges[name][operand]
                    cell += f", {low:,}–{high:,}"
                if name in integers_only and not operand.isdigit():
                    cell += ", slept 0 s"
                row.append(cell)
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
        "environment (see Run), except for Go, whose runtime starts threads (the garbage "
        "collector's, `sysmon`) that do a varying amount of work: its cell is the median "
        f"of {settings.threaded_repeats} runs, then the range. Go runs under valgrind with "
        "`GODEBUG=asyncpreemptoff=1`: valgrind is about 50× slower, slow enough for the "
        "runtime to preempt goroutines (after 10 ms) with signals, on which callgrind 3.19 "
        "crashes in most runs (`Assertion 'sigNum == vgCallgrind_current_state.sig' "
        "failed`); a native run is over in about a millisecond and sends none. "
        "For a dynamic executable "
        "valgrind also preloads its small core library, whose start-up is counted too. "
        "Cell: count (× ours for the same operand). "
        + cross_check + " callgrind leaves out the basic block that exits, so every count "
        "here lacks the program's last few instructions, and it counts 0 for the bare "
        "exit, which is one block (`xor`, `mov`, `syscall`). `valgrind --tool=lackey` "
        "counts every instruction: "
        f"{instructions['lackey'][OURS]:,} for ours' `sleep 0`, "
        f"{instructions['lackey'][BARE_EXIT]:,} for the bare exit. The Go program reads `0.001`, `1e-3` and "
        "`0x1p-10` as 0 s (`strconv.Atoi` fails and the error is ignored): those cells "
        "count a sleep of 0.",
        "",
        markdown_table(["program", *(f"`{o}`" for o in INSTRUCTION_OPERANDS)], rows),
        "",
        *(["Operands a peer rejects (exit 1, checked without valgrind too) are not counted:", "",
           *rejections] if rejections else []),
    ])


def startup_ratios(startup: dict) -> dict:
    """Ours ÷ the bare exit: pooled medians, and each round's medians alone."""
    ours, floor = startup[OURS], startup[BARE_EXIT]
    per_round = [o / f for o, f in zip(ours["round_medians_s"], floor["round_medians_s"])]
    return {"pooled": statistics.median(ours["times_s"]) / statistics.median(floor["times_s"]),
            "rounds": per_round}


def startup_section(startup: dict, accuracy: dict | None, settings: Settings) -> str:
    def us_s(seconds: float) -> str:
        return f"{seconds * 1e6:,.0f}"
    ours_median = statistics.median(startup[OURS]["times_s"])
    floor_median = statistics.median(startup[BARE_EXIT]["times_s"])
    rows = []
    for name, data in startup.items():
        times = data["times_s"]
        median = statistics.median(times)
        per_round = [m / o for m, o in zip(data["round_medians_s"], startup[OURS]["round_medians_s"])]
        rows.append([name, us_s(median), us_s(percentile(times, 0.25)) + "–" + us_s(percentile(times, 0.75)),
                     us_s(statistics.mean(times)), us_s(statistics.stdev(times)),
                     us_s(min(times)), us_s(max(times)), ratio(median, floor_median),
                     ratio(median, ours_median),
                     "—" if name == OURS else f"{min(per_round):.2f}–{max(per_round):.2f}"])
    limit = startup_ratios(startup)
    return "\n".join([
        "## Start-up: wall time of `sleep 0`",
        "",
        f"`hyperfine -N` (no shell between hyperfine and the program), {settings.startup_rounds} "
        f"rounds of {settings.startup_runs} runs per program after {settings.startup_warmup} "
        "warm-up runs, all programs in each round, the rounds in a balanced order (each "
        "program in every place once and right after every other once); "
        "the times of all rounds pooled. Spawn to exit, so it includes the kernel's "
        "`fork`/`exec`/`exit`. The physical limit is the bare exit, a static ELF that "
        "only calls `exit_group(0)`, built like our binary (`bench/bare-exit`): no "
        "program can start and exit faster. It gets the same argv (`0`). Times in µs; "
        "× compares medians; the last column is × ours in each round alone.",
        "",
        markdown_table(["program", "median", "IQR", "mean", "stddev", "min", "max",
                        "× bare exit", "× ours", "× ours per round"], rows),
        "",
        f"Ours against the physical limit: {ratio(ours_median, floor_median)} "
        f"({us_s(ours_median)} µs against {us_s(floor_median)} µs; per round "
        f"{min(limit['rounds']):.2f}–{max(limit['rounds']):.2f}×). The goal is within 1.10×."
        + (" The per-round ratios straddle 1: within this run's noise the two are the same."
           if min(limit["rounds"]) < 1 < max(limit["rounds"]) else "")
        + interleaved_sleep_0(accuracy, settings),
    ])


def interleaved_sleep_0(accuracy: dict | None, settings: Settings) -> str:
    """The same ratio from the accuracy step's `sleep 0` runs, which alternate run by
    run between the programs (hyperfine runs each program's runs in a block, so a
    change of load between blocks shows as a difference between programs)."""
    if accuracy is None:
        return ""
    medians = {name: statistics.median(runs) for name, runs in accuracy["sleep_0_ns"].items()}
    return (f" Timed run by run instead (this script around `posix_spawn` and `waitpid`, "
            f"{settings.floor_runs} runs each, the programs in turn, the order shuffled; "
            "see Timing accuracy): "
            f"ours {us(medians[OURS])} µs, the bare exit {us(medians[BARE_EXIT])} µs, "
            f"{ratio(medians[OURS], medians[BARE_EXIT])}.")


def memory_section(memory: dict, settings: Settings) -> str:
    ours = memory[OURS]["VmRSS"]
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
    ours = accuracy["by_sleep"][OURS]["elapsed_ns"]
    return [f"accuracy: ours undershot `sleep {operand}` {undershoots(ours[operand], operand)} times"
            for operand in ACCURACY_OPERANDS if undershoots(ours[operand], operand)]


def accuracy_section(accuracy: dict, settings: Settings) -> str:
    rows = []
    for name, data in accuracy["by_sleep"].items():
        floor = data["floor_ns"]
        for operand in ACCURACY_OPERANDS:
            requested = round(float(operand) * 1e9)
            elapsed = data["elapsed_ns"][operand]
            overshoot_ns = [e - floor - requested for e in elapsed]
            shown_operand = f"`{operand}`" + (" (read as 0)" if operand in data["reads_as_zero"] else "")
            rows.append([name, shown_operand, str(len(elapsed)), us(floor),
                         us(statistics.median(overshoot_ns)), us(statistics.mean(overshoot_ns)),
                         us(percentile(overshoot_ns, 0.95)), us(max(overshoot_ns)),
                         str(undershoots(elapsed, operand))])
    return "\n".join([
        "## Timing accuracy",
        "",
        "Each run timed from this script (`time.perf_counter_ns` around `posix_spawn` and "
        f"`waitpid`), {settings.accuracy_runs} runs per sleep and sub-second operand and "
        f"{settings.accuracy_long_runs} of `{LONG_ACCURACY_OPERAND}`, interleaved, the order "
        "of the programs shuffled pass by pass (a run right after the Go program's takes "
        "about 20 µs longer). "
        "Overshoot = elapsed − own `sleep 0` − requested, where own `sleep 0` is the "
        f"median of {settings.floor_runs} `sleep 0` runs of the same program timed the "
        "same way, spread over the same passes. µs. An undershoot is a run whose whole "
        "elapsed time, spawn included, is below the request; there should be none. Part of every overshoot is the "
        "kernel's timer slack: 50 µs by default, which the others keep, and 1 ns for ours, "
        "which sets it (see the next section). "
        "The rest is waking the idle CPU and this script, and the program's exit, which "
        "after a sleep runs with colder caches than right after start-up in `sleep 0`: "
        "probably why larger processes overshoot more. Means and maxima also carry waits "
        "for a CPU when the machine is busy (see the load averages). The Go program reads "
        "whole seconds only: it reads the sub-second operands as 0 (`strconv.Atoi` fails, "
        "the error is ignored), sleeps 0 s and exits 0, so its rows for them show "
        f"undershoots, every run; `{LONG_ACCURACY_OPERAND}` is the operand it accepts.",
        "",
        markdown_table(["sleep", "operand", "runs", "own `sleep 0`", "median overshoot",
                        "mean overshoot", "p95 overshoot", "max overshoot", "undershoots"], rows),
    ])


def bootstrap_interval(pairs: list[tuple[int, int]], statistic, resamples: int = 2000) -> tuple[float, float]:
    """A 95% bootstrap interval of statistic(pairs), resampling whole pairs (seeded:
    the same data gives the same interval)."""
    generator = random.Random(0)
    values = sorted(statistic(generator.choices(pairs, k=len(pairs))) for _ in range(resamples))
    return values[int(0.025 * resamples)], values[int(0.975 * resamples) - 1]


def median_saving(pairs: list[tuple[int, int]]) -> float:
    return statistics.median(default - one_ns for default, one_ns in pairs)


def p99_saving(pairs: list[tuple[int, int]]) -> float:
    return (percentile([default for default, _ in pairs], 0.99)
            - percentile([one_ns for _, one_ns in pairs], 0.99))


def timer_slack_verdict(slack: dict) -> dict:
    """Per operand: what 1 ns slack saves at the median (of the pairs' differences)
    and at p99, each with its interval. "clear" only if, for every operand, the
    median saving is above 0 with 95% confidence and the p99 is not worse with 95%
    confidence (its saving's interval does not lie wholly below 0)."""
    floor = slack["floor_ns"]
    by_operand = {}
    for operand, runs in slack["elapsed_ns"].items():
        pairs = list(zip(runs["default"], runs["1 ns"]))
        requested = round(float(operand) * 1e9)
        overshoot = {slack_name: [e - floor - requested for e in elapsed]
                     for slack_name, elapsed in runs.items()}
        by_operand[operand] = {
            "median_saving_ns": (median_saving(pairs), *bootstrap_interval(pairs, median_saving)),
            "p99_saving_ns": (p99_saving(pairs), *bootstrap_interval(pairs, p99_saving)),
            "median_ns": {k: statistics.median(v) for k, v in overshoot.items()},
            "p99_ns": {k: percentile(v, 0.99) for k, v in overshoot.items()},
            "mean_ns": {k: statistics.mean(v) for k, v in overshoot.items()},
            "undershoots": {k: undershoots(v, operand) for k, v in runs.items()},
            "runs": len(pairs),
        }
    clear = all(o["median_saving_ns"][1] > 0 and o["p99_saving_ns"][2] >= 0
                for o in by_operand.values())
    return {"operands": by_operand, "clear": clear}


def saving_cell(saving: tuple[float, float, float]) -> str:
    value, low, high = saving
    return f"{us(value)} ({us(low)} to {us(high)})"


def timer_slack_section(slack: dict, settings: Settings) -> str:
    verdict = timer_slack_verdict(slack)
    default_us = slack["default_slack_ns"] / 1e3
    rows = []
    for operand, o in verdict["operands"].items():
        for slack_name in ("default", "1 ns"):
            shown_slack = f"default ({default_us:,.0f} µs)" if slack_name == "default" else "1 ns"
            rows.append([f"`{operand}`", shown_slack, str(o["runs"]), us(o["median_ns"][slack_name]),
                         us(o["p99_ns"][slack_name]), us(o["mean_ns"][slack_name]),
                         str(o["undershoots"][slack_name]),
                         *(["", ""] if slack_name == "default" else
                           [saving_cell(o["median_saving_ns"]), saving_cell(o["p99_saving_ns"])])])
    if settings is SMOKE:
        outcome = "none: a smoke run has too few pairs to decide"
    elif verdict["clear"]:
        outcome = "adopted: the gain shows clearly"
    else:
        outcome = "the gain no longer shows clearly: reconsider the call in `src/sys.rs`"
    floors = slack["floor_ns_by_arm"]
    return "\n".join([
        "## Timer slack: does `prctl(PR_SET_TIMERSLACK, 1)` help?",
        "",
        "The kernel may end a sleep up to the task's timer slack late, to batch wake-ups "
        f"(here {default_us:,.0f} µs by default). Our binary sets its own slack to 1 ns "
        "with `prctl(PR_SET_TIMERSLACK, 1)` before it sleeps (`src/sys.rs`), adopted "
        "after the rule below showed a clear gain; every run measures it again. Both arms "
        "run the same binary, each spawned by one of two helper processes forked from this "
        "script, which times `posix_spawn` to `waitpid` itself as in Timing accuracy and "
        "runs under a seccomp filter (libseccomp's). In the default arm the filter refuses "
        "`prctl(PR_SET_TIMERSLACK, …)` with `EPERM`, so ours keeps the default slack it "
        "inherits (it ignores the call's failure); in the 1 ns arm the same filter refuses "
        "`PR_GET_TIMERSLACK` instead, which ours never asks, so the two pay the same "
        "filter on every syscall. "
        "`/proc/PID/timerslack_ns` of a sleep spawned by each arm is checked: "
        f"{slack['probed']['default']['timerslack_ns']:,} ns in the default arm, "
        f"{slack['probed']['1 ns']['timerslack_ns']:,} ns in the other. "
        "Each 1 ns run is paired with a default run of the same operand, "
        "which of the two goes first alternating: "
        + ", ".join(f"{pairs} pairs of `{operand}`" for operand, pairs in settings.slack_pairs.items())
        + ", the operands interleaved. Overshoot as "
        f"in Timing accuracy, beyond ours' own `sleep 0` ({us(slack['floor_ns'])} µs, median of "
        f"{settings.floor_runs}, spread over the same passes and run by the two arms in turn: "
        f"{us(floors['default'])} µs in the default arm, {us(floors['1 ns'])} µs in the "
        "other; a zero total makes no call). µs. Median saving = the "
        "median of the pairs' differences (default − 1 ns); p99 saving = p99 with the "
        "default slack − p99 with 1 ns; each with its 95% bootstrap interval (pairs "
        "resampled). The p99 is mostly waits for a CPU on this shared machine, hence "
        "its wide interval.",
        "",
        "Decision rule: adopt only if the gain shows clearly, that is, for each of the "
        "three operands the median saving's 95% interval lies above 0, and the p99 "
        "saving's does not lie below 0 (the p99 is not clearly worse).",
        "",
        markdown_table(["operand", "timer slack", "runs", "median overshoot", "p99 overshoot",
                        "mean overshoot", "undershoots", "median saving (95% interval)",
                        "p99 saving (95% interval)"], rows),
        "",
        f"Outcome in this run: {outcome}.",
    ])


def render_report(results: dict, settings: Settings, smoke: bool, failures: list[str]) -> str:
    machine = results["machine"]
    build = results["build"]
    versions = results["versions"]
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by scripts/bench; do not edit: run `scripts/bench` to regenerate. "
        "The pod sandboxes section at the end is experiments/sandboxes' (`cargo run --release -p sandboxes`), "
        "which scripts/bench keeps as it is. -->",
        "",
        "This project's `sleep` against the established ones, on one machine, in one run: "
        "GNU coreutils `sleep`, busybox `sleep` (static), uutils `sleep` and the Go "
        "program most preStop users copy into their images (`strconv.Atoi` and "
        "`time.Sleep`, rewritten in `bench/go-sleep` and built here). The physical limit "
        "is a bare exit: a static ELF that only calls `exit_group(0)` (`bench/bare-exit`). "
        "Ratios are program ÷ ours, so 2× means the program needs twice as much. "
        "Chart: `benchmarks.svg`.",
        "",
        "![file size and start-up](benchmarks.svg)",
        "",
        "## Run",
        "",
        f"- date: {results['date']}" + (" (smoke run: few repetitions)" if smoke else ""),
        f"- measured: {measured_commit(build)}; these figures change only when someone "
        "runs `scripts/bench`",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['arch']}"
        + (", virtual machine" if machine["virtualised"] else ""),
        f"- kernel: Linux {machine['kernel']}",
        f"- load average (1, 5, 15 min) at start: {machine['load']}; at end: {results['load_at_end']}",
        "- ours: sha256 "
        + ", ".join(f"{arch} `{digest[:16]}…`" for arch, digest in build["sha256"].items()),
        "- Debian packages: " + ", ".join(f"{p} {v}" for p, v in versions.items())
        + f"; Go from PATH, `go version`: {results.get('go_version', 'unknown')}",
        "- command: `scripts/bench" + (" --smoke`" if smoke else "`"),
        "- environment of every measured run: "
        + " ".join(f"`{k}={v}`" for k, v in MEASURED_ENV.items())
        + " (what `docker run` gives a container; no locale variables)",
        "",
    ]
    sections = {
        "sizes": lambda: sizes_section(results["sizes"], results["other_arch_sizes"]),
        "instructions": lambda: instructions_section(results["instructions"],
                                                     results.get("unstripped_same"),
                                                     results["integers_only"], settings),
        "startup": lambda: startup_section(results["startup"], results.get("accuracy"), settings),
        "memory": lambda: memory_section(results["memory"], settings),
        "accuracy": lambda: accuracy_section(results["accuracy"], settings),
        "timer slack": lambda: timer_slack_section(results["timer slack"], settings),
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


# The section experiments/sandboxes writes at the end of benchmarks.md (its
# markers are in experiments/sandboxes/src/report.rs): a rewrite keeps it as it is.
SANDBOXES_START = "<!-- sandboxes:start"
SANDBOXES_END = "<!-- sandboxes:end -->"


def kept_section(previous: str) -> str:
    """The sandboxes section of the previous benchmarks.md, markers included ("" if none)."""
    start = previous.find(SANDBOXES_START)
    end = previous.find(SANDBOXES_END, start)
    return previous[start:end + len(SANDBOXES_END)] if 0 <= start < end else ""


README_START = "<!-- benchmarks:start (written by scripts/bench from docs/benchmarks.md's run) -->"
README_END = "<!-- benchmarks:end -->"


def readme_headline(results: dict) -> str:
    """The README's headline figures, from this run: amd64, one row per program,
    the physical limit first, then ours, then the peers with × ours."""
    sizes, counts, memory = results["sizes"], results["instructions"]["counts"], results["memory"]
    startup = results["startup"]
    medians = {name: statistics.median(value["times_s"]) for name, value in startup.items()}

    def size(name: str) -> str:
        own = sizes[name]["bytes"]
        cell = f"{own:,} B" + ("" if name in (OURS, BARE_EXIT) else f" ({ratio(own, sizes[OURS]['bytes'])})")
        if sizes[name]["dynamic"]:
            total = own + sum(b for _, b in sizes[name]["libraries"])
            cell += f"; {total:,} B with its libraries ({ratio(total, sizes[OURS]['bytes'])})"
        return cell

    def instructions(name: str) -> str:
        if name == BARE_EXIT:
            return f"{results['instructions']['lackey'][BARE_EXIT]:,} (lackey; callgrind counts 0)"
        value = counts[name]["0"]
        return f"{value:,}" + ("" if name == OURS else f" ({ratio(value, counts[OURS]['0'])})")

    def start_up(name: str) -> str:
        cell = f"{medians[name] * 1e6:,.0f} µs"
        if name == OURS:
            return cell + f" ({ratio(medians[OURS], medians[BARE_EXIT])} the limit)"
        return cell if name == BARE_EXIT else cell + f" ({ratio(medians[name], medians[OURS])})"

    def resident(name: str) -> str:
        if name not in memory:
            return "— (does not sleep)"
        value = memory[name]["VmRSS"]
        return f"{value:,.0f} kB" + ("" if name == OURS else f" ({ratio(value, memory[OURS]['VmRSS'])})")

    names = [BARE_EXIT, OURS, *(n for n in startup if n not in (OURS, BARE_EXIT))]
    rows = [[f"**{name}**" if name == OURS else name, size(name), instructions(name), start_up(name),
             resident(name)] for name in names]
    table = markdown_table([f"amd64, {results['date'][:10]}", "file size", "instructions, `sleep 0`",
                            "start-up, `sleep 0` (median)", "memory while sleeping (VmRSS)"], rows)
    return (f"{README_START}\n{table}\n\n"
            f"Measured by `scripts/bench` on {results['machine']['cpu']}, "
            f"{measured_commit(results['build'])}. (×) is × ours; the physical limit is a "
            "static ELF that only calls `exit_group(0)`; Go is the usual `strconv.Atoi` "
            "program, stripped. Method, versions, timing accuracy, the timer slack "
            "experiment and the other arches in [docs/benchmarks.md](docs/benchmarks.md).\n\n"
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
    names = list(startup)[::-1]   # ours on top, then the physical limit
    positions = range(len(names))
    colours = ["#d62728" if name == OURS else "#1f77b4" if name == BARE_EXIT else "#7f7f7f"
               for name in names]
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
    ours_total = executable[names.index(OURS)]
    for y, total in enumerate(e + l for e, l in zip(executable, libraries)):
        amount = f"{total / 1024:,.0f} KiB" if total >= 10240 else f"{total:,} B"
        size_axes.text(total, y, f"  {amount} ({ratio(total, ours_total)})", va="center", fontsize=8)
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
    ours_median = medians[names.index(OURS)]
    for y, m in enumerate(medians):
        startup_axes.text(m + high[y], y, f"  {m:,.0f} µs ({ratio(m, ours_median)})",
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
        results["build"] = our_build(snapshot, dist)
        log("building the bare exit and the Go program")
        built = {"bare-exit": build_bare_exit(workdir), **build_go_sleep(workdir)}
        results["go_version"] = go_version()
        players = field(snapshot, dist, built)
        results["integers_only"] = [p.name for p in players.all if p.integers_only]
        with step("sizes"):
            results["sizes"] = measure_sizes(players.all)
            results["other_arch_sizes"] = measure_other_arch_sizes(snapshot)
        with step("instructions"):
            results["instructions"] = measure_instructions(players.all, settings, workdir)
            results["unstripped_same"] = unstripped_matches(snapshot, results["instructions"]["counts"],
                                                            workdir)
            if results["unstripped_same"] is False:
                failures.append("instructions: the unstripped build counts differently")
        with step("memory"):
            results["memory"] = measure_memory(players.sleeps, settings)
        with step("startup"):
            results["startup"] = measure_startup([players.ours, players.bare_exit, *players.peers],
                                                 settings, workdir)
        with step("accuracy"):
            results["accuracy"] = measure_accuracy(players.sleeps, players.bare_exit, settings)
            failures += accuracy_problems(results["accuracy"])
        with step("timer slack"):
            results["timer slack"] = measure_timer_slack(players.ours, settings)

    results["load_at_end"] = load_average()
    if "sizes" in results and "startup" in results:
        with step("chart"):
            draw_chart(results, out / "benchmarks.svg")
    else:
        failures.append("chart: not drawn, its measurements failed")
    report = render_report(results, settings, args.smoke, failures)
    previous = out / "benchmarks.md"
    kept = kept_section(previous.read_text()) if previous.exists() else ""
    previous.write_text(report.rstrip("\n") + "\n" + (f"\n{kept}\n" if kept else ""))
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
