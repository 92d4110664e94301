"""docs/rollout.md and the README's two blocks (the rollout's figures in "The
fix", the native sleep against /sleep in "Native preStop.sleep or this
binary?"), all written by one full `scripts/rollout` run: the README's
figures are the ones the document recorded with them, and the document is a
whole run of every scenario on the cluster."""

import re

import pytest

from conftest import REPO

DOCS = REPO / "docs/rollout.md"
README = REPO / "README.md"
BLOCKS = {
    "rollout": re.compile(r"<!-- rollout:start \(written by scripts/rollout\) -->\n.*?<!-- rollout:end -->", re.S),
    "native-vs-sleep": re.compile(
        r"<!-- native-vs-sleep:start \(written by scripts/rollout\) -->\n.*?<!-- native-vs-sleep:end -->", re.S),
}
REGENERATE = "run scripts/rollout (a full run) and commit docs/rollout.md and README.md"


def test_docs_are_a_full_run_on_the_cluster():
    text = DOCS.read_text()
    assert text.startswith("# The fix, measured"), f"docs/rollout.md is not scripts/rollout's: {REGENERATE}"
    headings = re.findall(r"^## (.+)$", text, re.M)
    # Every scenario of a full run (experiments/rollout/src/main.rs), and the comparison.
    for part in ("no hook", "native sleep", "(the fix)", "shorter than D", "(the trap)", "the Go program, 1.5",
                 "Where the native sleep and /sleep differ"):
        assert any(part in heading for heading in headings), f"no {part!r} section: {REGENERATE}"
    assert "**Real here:** the kubelet v" in text, f"not a run on the cluster: {REGENERATE}"
    assert "+ uncommitted changes" not in text, f"measured on a modified tree: {REGENERATE}"


@pytest.mark.parametrize("name", BLOCKS)
def test_readme_block_matches_the_docs(name):
    block = BLOCKS[name]
    (recorded,) = block.findall(DOCS.read_text())
    blocks = block.findall(README.read_text())
    assert len(blocks) == 1, f"README.md needs one {name} block, which scripts/rollout fills"
    assert blocks[0] == recorded, f"README.md's {name} block differs from docs/rollout.md's: {REGENERATE}"
    assert "(docs/rollout.md" in recorded
