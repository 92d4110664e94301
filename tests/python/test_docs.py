"""The documents: README.md for users, CONTRIBUTING.md and docs/ for the people
who change the code. Every relative link and #anchor resolves, each generated
block has the markers its writer looks for, and what the tests read from a
document is where they look for it. (The README's length is kept by review.)"""

import importlib.util
import os
import re
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

import bench
from conftest import REPO, all_arches, cargo_package, toolchain_channel
from test_examples import README_VERSION

README = REPO / "README.md"
CONTRIBUTING = REPO / "CONTRIBUTING.md"
SIZE_LOG = REPO / "docs/size.md"
INTERNALS = REPO / "docs/internals.md"
# Every Markdown file of the repository, not of build output (target/).
DOCUMENTS = sorted(path for path in REPO.rglob("*.md")
                   if not {"target", "dist", ".git"} & set(path.relative_to(REPO).parts))


def load_script(name: str):
    """A script of scripts/ without a .py suffix, as a module."""
    loader = SourceFileLoader(name, str(REPO / "scripts" / name))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


sizes = load_script("sizes")

FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)
LINK = re.compile(r"\]\(([^()\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", flags=re.M)


def prose(text: str) -> str:
    """The text outside fenced code blocks, where a `](...)` is a link."""
    return FENCE.sub("", text)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (but `-`
    and `_`), each space a `-`."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a document's headings make (a repeated one gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    for heading in HEADING.findall(prose(path.read_text())):
        slug = anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        yield slug if count == 0 else f"{slug}-{count}"


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path.read_text()))
            if not re.match(r"[a-z]+:", target)]


def test_the_anchor_rule_matches_githubs_on_the_headings_we_link():
    # GitHub's rule on the kinds of heading linked here: code spans, `?`, `:`,
    # `,`, `(`, `)` and `.` dropped; `_` kept.
    assert anchor("As PID 1, and instead of `pause`") == "as-pid-1-and-instead-of-pause"
    assert anchor("Native `preStop.sleep` or this binary?") == "native-prestopsleep-or-this-binary"
    assert anchor("Timer slack: does `prctl(PR_SET_TIMERSLACK, 1)` help?") == \
        "timer-slack-does-prctlpr_set_timerslack-1-help"


def test_every_document_has_links_to_check():
    for path in README, CONTRIBUTING, SIZE_LOG, INTERNALS:
        assert relative_links(path), f"{path.name}: no relative link found: is the pattern still right?"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_to_a_file_and_anchor(path):
    broken = []
    for target in relative_links(path):
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in set(anchors(linked)):
            broken.append(f"{target}: no heading with that anchor in {linked.relative_to(REPO)}")
    assert not broken, f"{path.relative_to(REPO)}: broken links:\n" + "\n".join(broken)


def test_the_benchmark_headline_has_the_markers_scripts_bench_writes_between():
    text = README.read_text()
    assert text.count(bench.README_START) == 1, f"README.md: expected one {bench.README_START!r}"
    assert text.count(bench.README_END) == 1, f"README.md: expected one {bench.README_END!r}"
    assert text.index(bench.README_START) < text.index(bench.README_END)


def test_the_sandboxes_section_has_the_markers_its_experiment_writes_between_and_scripts_bench_keeps():
    source = (REPO / "experiments/sandboxes/src/report.rs").read_text()
    start = re.search(r'pub const START: &str =\s*"([^"]*)";', source).group(1)
    end = re.search(r'pub const END: &str =\s*"([^"]*)";', source).group(1)
    assert start.startswith(bench.SANDBOXES_START) and end == bench.SANDBOXES_END
    text = (REPO / "docs/benchmarks.md").read_text()
    assert text.count(start) == 1, f"docs/benchmarks.md: expected one {start!r}"
    assert text.count(end) == 1, f"docs/benchmarks.md: expected one {end!r}"
    assert text.index(start) < text.index(end)


def test_the_sizes_table_is_in_the_size_log_between_the_markers_scripts_sizes_writes_between():
    text = SIZE_LOG.read_text()
    assert text.count(sizes.TABLE_START) == 1 and text.count(sizes.TABLE_END) == 1
    table = text[text.index(sizes.TABLE_START):text.index(sizes.TABLE_END)].splitlines()[1:]
    assert table[:2] == sizes.TABLE_HEAD
    arches = [row.split("|")[1].strip() for row in table[2:]]
    assert arches == all_arches(), "one row per arch of arches.txt, in order"
    for path in DOCUMENTS:
        if path != SIZE_LOG:
            assert sizes.TABLE_HEAD[0] not in path.read_text(), f"{path.name}: a second copy of the sizes table"


def test_the_readme_keeps_the_size_range_scripts_sizes_rewrites():
    first_paragraph = README.read_text().split("\n\n")[1]
    assert re.search(r"executable of [0-9.]+ to [0-9.]+ KB", first_paragraph)


def test_the_readme_has_the_sections_users_come_for_in_order():
    headings = re.findall(r"^## (.+)$", prose(README.read_text()), flags=re.M)
    wanted = ["Quick start", "The problem", "The fix", "Getting `/sleep` into your image", "Examples",
              "Native `preStop.sleep` or this binary?", "Troubleshooting", "Usage", "As PID 1", "Comparison",
              "Benchmark"]
    found = [next((i for i, h in enumerate(headings) if h.startswith(w)), None) for w in wanted]
    assert None not in found, f"README.md lacks {[w for w, i in zip(wanted, found) if i is None]}"
    assert found == sorted(found), f"README.md's sections out of order: {headings}"
    assert "scripts/test" in README.read_text().split("## The problem")[0], "the quick start names scripts/test"


def test_maintainer_material_lives_outside_the_readme():
    readme = README.read_text()
    for heading in "## Releasing", "## Tests", "## Contributing", "## Sizes", "## How it is built":
        assert f"\n{heading}\n" not in readme, f"README.md has {heading!r}: it belongs to CONTRIBUTING.md or docs/"
    contributing = CONTRIBUTING.read_text()
    for heading in "## Tests", "## Releasing", "## Each kind of change", "### A toolchain bump":
        assert f"\n{heading}\n" in contributing, f"CONTRIBUTING.md lacks {heading!r}"
    assert "scripts/flag-costs" in contributing.split("### A toolchain bump")[1].split("\n## ")[0]
    assert INTERNALS.read_text().startswith("# How it is built, and where each byte goes\n")


def test_scripts_holds_commands_and_contributing_lists_each():
    commands = sorted(path.name for path in (REPO / "scripts").iterdir() if path.is_file())
    misplaced = [name for name in commands if "." in name or not os.access(REPO / "scripts" / name, os.X_OK)]
    assert not misplaced, f"scripts/ holds commands, executables named as typed; the rest goes in scripts/lib/: {misplaced}"
    listed = CONTRIBUTING.read_text().split("\n## Commands\n")[1].split("\n## ")[0]
    unlisted = [name for name in commands if f"`scripts/{name}" not in listed]
    assert not unlisted, f"CONTRIBUTING.md's Commands section does not list {unlisted}"


def test_each_test_file_is_named_in_contributings_tests_section():
    tests = CONTRIBUTING.read_text().split("\n## Tests\n")[1].split("\n## ")[0]
    files = [f"tests/{p.name}" for p in (REPO / "tests").glob("*.rs")
             if p.stem not in ("lib", "build", "operands")]
    files += [f"tests/python/{p.name}" for p in (REPO / "tests/python").glob("test_*.py")]
    unnamed = sorted(f for f in files if f not in tests and Path(f).name not in tests)
    assert not unnamed, f"CONTRIBUTING.md's Tests section does not name {unnamed}"


@pytest.mark.parametrize("path", [CONTRIBUTING, SIZE_LOG, INTERNALS], ids=lambda p: p.name)
def test_the_moved_documents_name_only_cargo_tomls_version(path):
    # As test_examples.py checks the README: a release named anywhere is Cargo.toml's.
    wrong = sorted({v for v in README_VERSION.findall(path.read_text()) if v != cargo_package()["version"]})
    assert not wrong, f"{path.name} names {wrong}, Cargo.toml's version is {cargo_package()['version']}"


def test_internals_names_the_pinned_toolchain():
    channel = toolchain_channel()
    major_minor = ".".join(channel.split(".")[:2])
    named = set(re.findall(r"Rust (\d+\.\d+)", INTERNALS.read_text()))
    assert named == {major_minor}, f"docs/internals.md names Rust {named}, rust-toolchain.toml pins {channel}"


# Size figures live in docs/size.md, with the commit they were measured at;
# a comment in src/ points there by heading instead. Layout and ABI facts
# that happen to count bytes are not size figures:
BYTE_FIGURE = re.compile(r"\b\d[\d,.]*\s*(?:-?\s*bytes?\b|K?B\b|KiB\b)", re.IGNORECASE)
BYTE_FACTS = {
    r"\d+-byte aligned": "the stack alignment the kernel and the ABI give `_start`",
    r"16-byte `?timespec`?": "the kernel's struct timespec with 64-bit fields",
    r"the same 16 bytes everywhere": "that timespec, on 32-bit arches too (src/time.rs)",
    r"(?:zeroes?|zero) a 16-byte struct": "that timespec again, which LLVM zeroes with SIMD (.cargo/config.toml)",
    r"2- and 4-byte instructions": "the Thumb-2 encodings",
    r"128 KiB": "the kernel's MAX_ARG_STRLEN, the longest operand there can be",
}
SIZE_POINTER = re.compile(r'docs/size\.md, "([^"]+)"')


def comment_text(source: str, marker: str) -> str:
    """The comments of a source file (after `marker`: // for Rust, # for
    TOML), joined into one line, so a figure or pointer wrapped across lines
    reads whole."""
    found = re.findall(rf"(?:^|\s){re.escape(marker)}[/!]?[ \t]?(.*)$", source, re.MULTILINE)
    return " ".join(part.strip() for part in found)


def byte_figures(comments: str) -> list[str]:
    """Byte counts in comment text that no BYTE_FACTS entry allows."""
    allowed = [span for fact in BYTE_FACTS for span in re.finditer(fact, comments, re.IGNORECASE)]
    return [match.group(0) for match in BYTE_FIGURE.finditer(comments)
            if not any(fact.start() <= match.start() < fact.end() for fact in allowed)]


def size_headings() -> set[str]:
    """The headings of docs/size.md, outside its code blocks."""
    return set(HEADING.findall(prose(SIZE_LOG.read_text())))


def comment_sources() -> list[tuple[Path, str]]:
    return [(path, "//") for path in sorted((REPO / "src").rglob("*.rs"))] + [(REPO / ".cargo/config.toml", "#")]


def test_no_byte_figures_in_src_comments():
    found = {str(path.relative_to(REPO)): figures for path, marker in comment_sources()
             if (figures := byte_figures(comment_text(path.read_text(), marker)))}
    assert not found, f"size figures belong in docs/size.md (a comment names its heading): {found}"


def test_size_pointers_name_real_headings():
    headings = size_headings()
    pointers = [(str(path.relative_to(REPO)), heading) for path, marker in comment_sources()
                for heading in SIZE_POINTER.findall(comment_text(path.read_text(), marker))]
    assert pointers, "no docs/size.md pointer found: the check reads nothing"
    assert not [p for p in pointers if p[1] not in headings], f"no such heading in docs/size.md: {pointers}"


def test_the_comment_checks_catch_what_they_look_for():
    bad = "fn f() {}\n// saves 12 bytes on arm64\n// smaller by 8 B (docs/size.md,\n// \"No Such Heading\")\n"
    comments = comment_text(bad, "//")
    assert byte_figures(comments) == ["12 bytes", "8 B"]
    assert byte_figures(comment_text("// the stack is 16-byte aligned\n", "//")) == []
    assert SIZE_POINTER.findall(comments) == ["No Such Heading"]
    assert "No Such Heading" not in size_headings()


# The releases stack/ pins, each in its component's go.mod alone: (the
# README's name, the component, the module).
STACK_RELEASES = [
    ("kubelet", "kubernetes", "k8s.io/kubernetes"),
    ("containerd", "containerd", "github.com/containerd/containerd/v2"),
    ("runc", "runc", "github.com/opencontainers/runc"),
    ("etcd", "etcd", "go.etcd.io/etcd/server/v3"),
]


def pinned_release(component: str, module: str) -> str:
    """The version of `module` that stack/<component>/go.mod requires, without its v."""
    go_mod = (REPO / "stack" / component / "go.mod").read_text()
    (version,) = re.findall(rf"^\s*(?:require\s+)?{re.escape(module)} v(\S+)", go_mod, flags=re.M)
    return version


def test_the_readme_names_the_releases_the_tests_ran_on():
    text = README.read_text()
    for name, component, module in STACK_RELEASES:
        version = pinned_release(component, module)
        assert f"{name} {version}" in text, (
            f"README.md should name {name} {version}, as stack/{component}/go.mod pins it "
            f"(scripts/stack pin moved it): change the Examples paragraph")
