"""scripts/bench's plan, without measuring anything (CI runs `scripts/bench
--smoke`, and the figures are not tested): the start-up rounds run the
programs in the balanced orders its report describes."""

from collections import Counter

import pytest

import bench


@pytest.mark.parametrize("count", range(1, 9))
def test_each_program_takes_every_place_and_follows_every_other_equally_often(count):
    orders = bench.balanced_orders(count)
    assert all(sorted(order) == list(range(count)) for order in orders), orders
    places = Counter((program, place) for order in orders for place, program in enumerate(order))
    follows = Counter(pair for order in orders for pair in zip(order, order[1:]))
    assert set(places.values()) == {len(orders) // count}, orders
    assert len(follows) == count * (count - 1), orders
    assert len(set(follows.values())) <= 1, orders


def test_a_full_run_is_whole_designs_for_the_six_programs_it_starts():
    assert bench.FULL.startup_rounds % len(bench.balanced_orders(6)) == 0


def test_a_rewrite_keeps_the_sandboxes_section_experiments_sandboxes_wrote():
    section = (f"{bench.SANDBOXES_START} (written by experiments/sandboxes) -->\n"
               f"## Pod sandboxes\n\nfigures\n{bench.SANDBOXES_END}")
    assert bench.kept_section(f"# Benchmarks\n\nold figures\n\n{section}\n") == section
    assert bench.kept_section("# Benchmarks\n\nno such section\n") == ""
