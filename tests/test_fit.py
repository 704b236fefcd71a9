"""The fitter's search, on cost models whose answer is known (synthesis itself: tests/test_synth.py,
tests/test_build.py)."""

import pytest

from hwgen.fit import LC_MARGIN, FitError, choose, lane_candidates
from hwgen.toolchain.synth import SynthReport
from hwgen.toolchain.targets import get_target

UP5K = get_target("ice40-up5k")


def linear_cost(base_lc, per_lane_lc, ebr=2, dsp=1, unrolled_lc=None):
    calls = []

    def measure(style, lanes):
        calls.append((style, lanes))
        lc = unrolled_lc if style == "unrolled" else base_lc + per_lane_lc * (lanes - 1)
        counts = {"lut4": lc, "carry": lc // 3, "dff": lc // 2, "ebr": ebr, "spram": 0, "dsp": dsp}
        return SynthReport(UP5K.name, counts, {})

    return measure, calls


def best_by_brute_force(base, per_lane, max_lanes):
    limit = int(UP5K.available("lc") * LC_MARGIN)
    return max(p for p in lane_candidates(max_lanes) if base + per_lane * (p - 1) <= limit)


@pytest.mark.parametrize("base,per_lane,max_lanes", [(800, 40, 114), (800, 300, 114), (4000, 10, 64),
                                                     (1000, 100, 5), (4400, 1000, 128)])
def test_search_finds_the_largest_fitting_lane_count(base, per_lane, max_lanes):
    measure, calls = linear_cost(base, per_lane)
    fit = choose(UP5K, measure, max_lanes=max_lanes, weights=10**6)
    assert fit.style == "folded"
    assert fit.lanes == best_by_brute_force(base, per_lane, max_lanes)
    assert len(calls) <= 5, f"too many syntheses: {calls}"


def test_small_models_are_unrolled_when_that_fits():
    measure, _ = linear_cost(500, 50, unrolled_lc=3000)
    assert choose(UP5K, measure, max_lanes=40, weights=600).style == "unrolled"
    measure, _ = linear_cost(500, 50, unrolled_lc=6000)
    fit = choose(UP5K, measure, max_lanes=40, weights=600)
    assert fit.style == "folded" and fit.lanes == 40


def test_refusal_gives_the_numbers_and_the_options():
    measure, _ = linear_cost(6000, 10, ebr=40)
    with pytest.raises(FitError) as e:
        choose(UP5K, measure, max_lanes=64, weights=10**6)
    msg = str(e.value)
    assert "does not fit ice40-up5k even with 1 lane" in msg
    assert "needs   6,000  available   5,280" in msg and "needs      40  available      30" in msg
    assert "ice40-hx8k" in msg and "--width" in msg


def test_fixed_lane_count_is_checked_not_searched():
    measure, calls = linear_cost(800, 300)
    fit = choose(UP5K, measure, max_lanes=64, weights=10**6, lanes=4)
    assert (fit.lanes, calls) == (4, [("folded", 4)])
    with pytest.raises(FitError, match="even with 32 lanes"):
        choose(UP5K, measure, max_lanes=64, weights=10**6, lanes=32)


def test_search_starts_one_lane_and_the_probe_together():
    """A cost function that can run points in parallel gets P = 1 and the probe before either is
    needed (yosys uses one core; the build runs them side by side)."""
    measure, calls = linear_cost(800, 40)
    started = []
    measure.prefetch = lambda points: started.append(list(points))
    choose(UP5K, measure, max_lanes=114, weights=10**6)
    assert started == [[("folded", 1), ("folded", 8)]]
    assert calls[:2] == [("folded", 1), ("folded", 8)]
