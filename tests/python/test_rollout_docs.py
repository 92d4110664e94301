"""docs/rollout.md and the README's rollout block, both written by one full
`scripts/rollout` run: the README's figures are the ones the document
recorded with them, and the document is a whole run of every scenario."""

import re

from conftest import REPO

DOCS = REPO / "docs/rollout.md"
README = REPO / "README.md"
BLOCK = re.compile(r"<!-- rollout:start \(written by scripts/rollout\) -->\n.*?<!-- rollout:end -->", re.S)
REGENERATE = "run scripts/rollout (a full run) and commit docs/rollout.md and README.md"


def test_docs_are_a_full_run():
    text = DOCS.read_text()
    assert text.startswith("# The fix, measured"), f"docs/rollout.md is not scripts/rollout's: {REGENERATE}"
    for number in (1, 2, 3, 4):
        assert re.search(rf"^## {number}\. ", text, re.M), f"scenario {number} missing: {REGENERATE}"
    assert "+ uncommitted changes" not in text, f"measured on a modified tree: {REGENERATE}"


def test_readme_block_matches_the_docs():
    (recorded,) = BLOCK.findall(DOCS.read_text())
    blocks = BLOCK.findall(README.read_text())
    assert len(blocks) == 1, "README.md's \"The fix\" needs one rollout block, which scripts/rollout fills"
    assert blocks[0] == recorded, f"README.md's rollout block differs from docs/rollout.md's: {REGENERATE}"
    assert "(docs/rollout.md)" in recorded
