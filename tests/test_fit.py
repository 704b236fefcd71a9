"""The fitter's search, on cost models whose answer is known (synthesis itself: tests/test_synth.py,
tests/test_build.py)."""

import pytest

from hwgen.fit import LC_MARGIN, FitError, Need, choose, lane_candidates
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


def test_lane_counts_the_line_puts_over_are_reported_not_dropped():
    """Counts above the probe that the line through 1 and 8 lanes puts over are not synthesized,
    and the report says so with their predicted use (16 lanes: 800 + 300 * 15 = 5,300 cells)."""
    measure, calls = linear_cost(800, 300)
    fit = choose(UP5K, measure, max_lanes=114, weights=10**6)
    assert fit.lanes == 8
    skipped = [c for c in fit.tried if c.fits is None]
    assert [c.lanes for c in skipped] == [16, 32, 64, 114]
    assert all(("folded", c.lanes) not in calls for c in skipped)
    assert all("predicted over from the designs of 1 and 8 lanes" in c.rejected for c in skipped)
    assert f"logic cells (LUT4+DFF) 5,300 > {int(UP5K.available('lc') * LC_MARGIN):,}" in skipped[0].rejected
    assert skipped[0].to_json()["fits"] is None


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


# ------------------------------------------------------------------ a floor on steps per second


def cycles_of(row=1000, overhead=10):
    """A cost model's cycle count: rows of ``row`` codes over P lanes, plus a fixed overhead."""
    return lambda style, lanes: -(-row // lanes) + overhead


def rate(cycles, mhz=48.0):
    return mhz * 1e6 / cycles


def test_area_takes_the_fewest_lanes_that_meet_the_floor_with_one_synthesis():
    measure, calls = linear_cost(800, 40)
    cycles = cycles_of()
    floor = 400_000  # 120 cycles at 48 MHz: 1000/P + 10 <= 120 -> P >= 10
    need = Need(floor, "area", 48.0)
    fit = choose(UP5K, measure, max_lanes=114, weights=10**6, cycles=cycles, need=need)
    expected = min(p for p in range(1, 115) if rate(cycles("folded", p)) >= floor)
    assert (fit.style, fit.lanes) == ("folded", expected) and calls == [("folded", expected)]
    slow = [c for c in fit.tried if c.fits is None]
    assert [c.lanes for c in slow] == [expected - 1] and "too slow" in slow[0].rejected
    assert f"{rate(cycles('folded', expected - 1)):,.0f} steps/s at 48 MHz (needs 400,000)" in slow[0].rejected
    assert fit.tried[-1].lanes == expected and fit.tried[-1].rejected == ""


def test_area_without_a_floor_is_one_lane():
    measure, calls = linear_cost(800, 40)
    fit = choose(UP5K, measure, max_lanes=114, weights=10**6, cycles=cycles_of(), need=Need(None, "area"))
    assert fit.lanes == 1 and calls == [("folded", 1)]


def test_a_floor_whose_smallest_design_does_not_fit_is_refused_naming_the_best_reachable():
    measure, _ = linear_cost(3000, 100)  # fits up to P = 15 (3000 + 100 * 14 = 4400 <= 4488)
    cycles = cycles_of()
    with pytest.raises(FitError) as e:
        choose(UP5K, measure, max_lanes=114, weights=10**6, cycles=cycles, need=Need(1_000_000, "area", 48.0))
    msg = str(e.value)
    # 1000/P + 10 <= 48 -> P >= 27: 5,600 logic cells against a limit of 4,488
    assert "no design reaches 1,000,000 time steps per second on ice40-up5k at 48 MHz" in msg
    assert "folded, 27 lane(s): logic cells (LUT4+DFF) 5,600 > 4,488 (+1,112)" in msg
    best = max(p for p in lane_candidates(114) if 3000 + 100 * (p - 1) <= 4488)
    assert (f"the fastest design that fits: folded, {best} lane(s), {cycles('folded', best):,} cycles per step, "
            f"{rate(cycles('folded', best)):,.0f} steps/s at 48 MHz") in msg
    assert "lc" in e.value.over


def test_speed_with_a_floor_it_cannot_reach_is_refused_and_a_fixed_lane_count_is_checked():
    measure, _ = linear_cost(800, 40)
    cycles = cycles_of(overhead=100)  # never more than 48e6 / 101 steps/s
    with pytest.raises(FitError, match=r"no design reaches 500,000[\s\S]*the fastest design that fits: folded, "
                                       r"64 lane\(s\), 116 cycles per step"):
        choose(UP5K, measure, max_lanes=114, weights=10**6, cycles=cycles, need=Need(500_000, "speed", 48.0))
    with pytest.raises(FitError, match=r"the most lanes a row can use"):
        choose(UP5K, measure, max_lanes=114, weights=10**6, cycles=cycles, need=Need(500_000, "area", 48.0))
    with pytest.raises(FitError, match=r"the chosen: folded, 4 lane\(s\), 350 cycles per step"):
        choose(UP5K, measure, max_lanes=114, weights=10**6, lanes=4, cycles=cycles, need=Need(200_000, "area"))
    fit = choose(UP5K, measure, max_lanes=114, weights=10**6, lanes=4, cycles=cycles, need=Need(100_000, "area"))
    assert fit.lanes == 4  # 350 cycles: 137,143 steps/s


def test_the_speed_search_records_why_each_candidate_was_rejected():
    measure, _ = linear_cost(800, 600)  # the probe, P = 8, is over: 800 + 4200 = 5000 > 4488
    fit = choose(UP5K, measure, max_lanes=114, weights=10**6, cycles=cycles_of())
    over = [c for c in fit.tried if c.fits is False]
    assert over and all(c.rejected.startswith("logic cells (LUT4+DFF) ") and "> 4,488 (+" in c.rejected for c in over)
    assert fit.tried[-1].to_json() == {"style": "folded", "lanes": fit.lanes, "fits": True,
                                       "cycles_per_step": cycles_of()("folded", fit.lanes)}


@pytest.mark.parametrize("args, message", [
    ((None, "fast"), "objective 'fast': speed or area"),
    ((0, "area"), "min_steps_per_second 0: a positive number"),
    ((None, "speed", -1.0), "clock -1.0 MHz: a positive number"),
])
def test_a_requirement_is_validated(args, message):
    with pytest.raises(ValueError, match=message):
        Need(*args)


# ------------------------------------------------------------------ packing measured by nextpnr


def test_a_measured_packing_scales_the_logic_estimate_against_the_whole_device():
    """Packed logic cells were 1.8x the synthesis estimate: a design fits when 1.8x its estimate
    is within the device's 5,280 cells (the packer checks again before placement)."""
    measure, _ = linear_cost(800, 350)
    plain = choose(UP5K, measure, max_lanes=114, weights=10**6)
    packed = choose(UP5K, measure, max_lanes=114, weights=10**6, packing=1.8)
    brute = max(p for p in lane_candidates(114) if round((800 + 350 * (p - 1)) * 1.8) <= UP5K.available("lc"))
    assert packed.lanes == brute < plain.lanes
    rejected = [c for c in packed.tried if c.fits is False]
    assert rejected and all("> 5,280 (+" in c.rejected for c in rejected)


def test_a_refusal_with_packing_says_the_estimate_was_scaled():
    measure, _ = linear_cost(3000, 100)
    with pytest.raises(FitError, match=r"needs +5,400  available +5,280 \(limit 5,280\)  <-- over[\s\S]*"
                                       r"synthesis estimate times 1.80"):
        choose(UP5K, measure, max_lanes=114, weights=10**6, packing=1.8)


# ------------------------------------------------------------------ memory that packs better with more lanes


def spram_cost(base_lc, per_lane_lc, spram_of):
    """Logic grows with lanes; SPRAM use is ``spram_of(lanes)``: a 16-bit-wide SPRAM wastes most
    of each word on one lane's 2-bit codes and fills it at eight lanes."""
    calls = []

    def measure(style, lanes):
        calls.append((style, lanes))
        lc = base_lc + per_lane_lc * (lanes - 1)
        counts = {"lut4": lc, "carry": lc // 3, "dff": lc // 2, "ebr": 10, "spram": spram_of(lanes), "dsp": 0}
        return SynthReport(UP5K.name, counts, {})

    return measure, calls


def test_one_lane_over_only_on_memory_does_not_end_the_search():
    measure, _ = spram_cost(1500, 100, lambda p: 5 if p < 4 else 3)  # logic fits up to P = 30
    fit = choose(UP5K, measure, max_lanes=64, weights=10**6)
    assert fit.lanes == 16  # the largest power of two under the logic limit, at 3 SPRAMs
    first = fit.tried[0]
    assert (first.lanes, first.fits) == (1, False) and "SPRAM (256 Kbit) 5 > 4" in first.rejected


def test_memory_over_at_every_probed_lane_count_is_refused_with_one_lanes_numbers():
    measure, calls = spram_cost(1500, 100, lambda p: 5)
    with pytest.raises(FitError, match="even with 1 lane") as e:
        choose(UP5K, measure, max_lanes=64, weights=10**6)
    assert "needs       5  available       4" in str(e.value)
    assert {p for _, p in calls} == {1, 2, 4, 8}  # the probe and the lane counts under it


def test_logic_over_at_one_lane_ends_the_search_at_once():
    measure, calls = spram_cost(6000, 100, lambda p: 5)
    with pytest.raises(FitError, match="even with 1 lane"):
        choose(UP5K, measure, max_lanes=64, weights=10**6)
    assert {p for _, p in calls} == {1}


def test_area_steps_past_a_floor_design_over_only_on_memory():
    measure, _ = spram_cost(1500, 100, lambda p: 5 if p < 8 else 3)
    cycles = cycles_of()
    need = Need(rate(cycles("folded", 3)), "area", 48.0)  # met from P = 3
    fit = choose(UP5K, measure, max_lanes=64, weights=10**6, cycles=cycles, need=need)
    assert fit.lanes == 8
    assert [(c.lanes, c.fits) for c in fit.tried if c.fits is not None] == [(3, False), (4, False), (8, True)]
