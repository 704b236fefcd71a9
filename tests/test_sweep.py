"""`hwgen sweep` on a real local Ray with two workers: a tiny grid of training runs (synthetic
text, two quantizers, two seeds, a few steps) and hardware points (generic synthesis of a tiny
QModel, and one that fails), resumed, partly rerun and reported; and every refusal of a bad SPEC
before anything runs."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hwgen.qmodel_file import save
from hwgen.spec.random_qmodel import random_qmodel
from hwgen.sweep.report import load_points, write_report
from hwgen.sweep.run import SweepError, run_sweep
from hwgen.sweep.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]

TINY = """
name = "tiny"

[train]
dataset = "synthetic-text"
cell = "gru"
hidden = 8
quantizer = ["ternary", "exponential"]
seed = [1, 2]
steps = 12
limit = 3000
extra = ["--eval-every", "6", "--batch", "8", "--bptt", "16"]

[hardware]
model = ["tiny.qmodel.json", "broken.qmodel.json"]
target = "generic"
lanes = 2
style = "folded"
"""


def hwgen(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hwgen.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The tiny sweep, run once through the command line (a local Ray, two workers)."""
    root = tmp_path_factory.mktemp("sweep")
    save(random_qmodel("gru", hidden=3, inputs=2, vocab=5, outputs=5, code="ternary", seed=1), root / "tiny.qmodel.json")
    (root / "broken.qmodel.json").write_text('{"format": "hwgen-qmodel", "version": 1}')  # builds fail on it
    (root / "tiny.toml").write_text(TINY)
    first = hwgen("sweep", "tiny.toml", "-o", "results", "--workers", "2", cwd=root)
    return root, first


def points(root: Path) -> dict[str, dict]:
    return {p["folder"]: p for p in load_points(root / "results")}


def test_every_point_finishes_and_the_failing_one_is_recorded(swept):
    root, first = swept
    assert first.returncode == 0, first.stderr
    assert "6 point(s) run (1 failed)" in first.stdout
    got = points(root)
    train = [p for p in got.values() if p["kind"] == "train"]
    assert sorted(p["folder"] for p in train) == [
        f"train/synthetic-text-gru-h8-{q}-s{s}" for q in ("exponential", "ternary") for s in (1, 2)]
    assert all(p["status"] == "ok" and p["metrics"]["test_bpc"] > 0 for p in train)
    for p in train:  # the point's own checkpoint holds the figure its record gives
        import torch

        ckpt = torch.load(root / "results" / p["folder"] / "model.pt", weights_only=True)
        assert ckpt["metrics"]["test_bpc"] == p["metrics"]["test_bpc"]
    good = got["hardware/tiny-generic-folded-p2"]
    assert good["status"] == "ok" and good["metrics"]["cycles_per_step"] > 0 and good["metrics"]["cells"] > 0
    bad = got["hardware/broken-generic-folded-p2"]
    assert bad["status"] == "failed" and "hwgen build" in bad["error"]


def test_a_second_run_runs_nothing_and_a_deleted_point_alone_runs_again(swept):
    root, _ = swept
    again = hwgen("sweep", "tiny.toml", "-o", "results", "--workers", "2", cwd=root)
    assert again.returncode == 0 and "0 point(s) run" in again.stdout and "Ray:" not in again.stdout
    before = points(root)
    gone = "train/synthetic-text-gru-h8-ternary-s2"
    shutil.rmtree(root / "results" / gone)
    rerun = hwgen("sweep", "tiny.toml", "-o", "results", "--workers", "2", cwd=root)
    assert rerun.returncode == 0, rerun.stderr
    assert "1 point(s) run (0 failed)" in rerun.stdout and gone in rerun.stdout
    after = points(root)
    assert after[gone]["status"] == "ok"
    assert {k: v for k, v in after.items() if k != gone} == {k: v for k, v in before.items() if k != gone}
    retry = hwgen("sweep", "tiny.toml", "-o", "results", "--workers", "2", "--retry-failed", cwd=root)
    assert "1 point(s) run (1 failed)" in retry.stdout and "broken-generic" in retry.stdout


def test_the_report_gives_the_points_figures(swept):
    root, _ = swept
    (root / "results" / "notes.md").write_text("## Reading it\n\nA person's words.\n")
    report = write_report(root / "results", "tiny", "hwgen sweep tiny.toml").read_text()
    assert report.rstrip().endswith("A person's words.")  # kept when the report is rewritten
    got = points(root)
    for q in ("ternary", "exponential"):
        vals = [got[f"train/synthetic-text-gru-h8-{q}-s{s}"]["metrics"]["test_bpc"] for s in (1, 2)]
        mean = sum(vals) / 2
        assert re.search(rf"\| {q} \(det\.\) \| {mean:.3f} ± [0-9.]+ \(n=2\)", report), report
    good = got["hardware/tiny-generic-folded-p2"]["metrics"]
    assert f"| {good['cycles_per_step']:,} | {good['cells']} (gates) |" in report
    assert "broken-generic-folded-p2" in report.split("## Failed points")[1]


def test_a_results_folder_of_another_spec_is_refused_unless_asked(swept, tmp_path):
    root, _ = swept
    other = root / "other.toml"
    other.write_text(TINY.replace('seed = [1, 2]', 'seed = [3]').replace('"broken.qmodel.json"', ''))
    refused = hwgen("sweep", "other.toml", "-o", "results", cwd=root)
    assert refused.returncode == 1 and "holds the results of another SPEC ('tiny')" in refused.stderr
    assert "--allow-spec-change" in refused.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(SweepError, match="is not empty and is not a sweep's results folder"):
        run_sweep(load_spec(root / "tiny.toml"), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


def test_kept_models_resume_the_grid_in_a_new_results_folder(swept):
    """--keep-models writes each finished training run, less its resume state, where a SPEC's
    `reuse` finds it: a grid whose results folder is gone (another machine, a new session) takes
    the runs over instead of training again, and listing `reuse` does not make it another SPEC."""
    from train.checkpoint import load_checkpoint

    root, _ = swept
    kept = hwgen("sweep", "tiny.toml", "-o", "results", "--report", "--keep-models", "kept", cwd=root)
    assert kept.returncode == 0, kept.stderr
    got = {p["folder"]: p for p in points(root).values() if p["kind"] == "train"}
    files = sorted((root / "kept").glob("*.pt"))
    assert [f.stem for f in files] == sorted(f.split("/", 1)[1] for f in got)
    for f in files:
        ckpt = load_checkpoint(f)
        whole = load_checkpoint(root / "results" / "train" / f.stem / "model.pt")
        assert ckpt["metrics"] == whole["metrics"] and "optimizer" not in ckpt["train_state"]
        assert ckpt["train_state"]["settings"] == whole["train_state"]["settings"]
        assert f.stat().st_size < (root / "results" / "train" / f.stem / "model.pt").stat().st_size / 2
    before = {f: f.read_bytes() for f in files}
    again = hwgen("sweep", "tiny.toml", "-o", "results", "--report", "--keep-models", "kept", cwd=root)
    assert again.returncode == 0 and "kept" not in again.stdout.replace("kept/", "")
    assert {f: f.read_bytes() for f in files} == before  # files already there stay untouched

    with_reuse = TINY.replace("\n[hardware]", 'reuse = ["kept"]\n\n[hardware]')
    (root / "reusing.toml").write_text(with_reuse)
    same = hwgen("sweep", "reusing.toml", "-o", "results", cwd=root)
    assert same.returncode == 0 and "0 point(s) run" in same.stdout, same.stdout + same.stderr
    (root / "train-only.toml").write_text(with_reuse.split("[hardware]")[0])
    fresh = hwgen("sweep", "train-only.toml", "-o", "fresh", cwd=root)
    assert fresh.returncode == 0, fresh.stderr
    assert "0 point(s) run" in fresh.stdout and "4 reused" in fresh.stdout and "Ray:" not in fresh.stdout
    for folder in got:
        assert load_checkpoint(root / "fresh" / folder / "model.pt")["metrics"] == load_checkpoint(
            root / "results" / folder / "model.pt")["metrics"]


def test_an_unreachable_cluster_fails_fast(tmp_path):
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "t.toml").write_text(TINY.split("[hardware]")[0])
    t0 = time.monotonic()
    with pytest.raises(SweepError, match=rf"cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused"):
        run_sweep(load_spec(tmp_path / "t.toml"), tmp_path / "r", address=f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("change, message", [
    ('name = "tiny"', ""),  # the unchanged SPEC is fine
    ('[train]', "[train]\nlr = 0.1", ),
    ('quantizer = ["ternary", "exponential"]', 'quantizer = ["ternary", "quaternary"]'),
    ('cell = "gru"', 'cell = "transformer"'),
    ('seed = [1, 2]', 'seed = []'),
    ('hidden = 8', 'hidden = "8"'),
    ('lanes = 2', 'lanes = [2, 2]'),
    ('target = "generic"', 'target = "virtex"'),
    ('extra = ["--eval-every", "6", "--batch", "8", "--bptt", "16"]', 'extra = ["--no-such-flag"]'),
])
def test_bad_specs_get_one_message_naming_the_key(tmp_path, change, message):
    save(random_qmodel("gru", hidden=3, inputs=2, seed=1), tmp_path / "tiny.qmodel.json")
    (tmp_path / "broken.qmodel.json").write_text("{}")
    text = TINY if not message else TINY.replace(change, message)
    (tmp_path / "s.toml").write_text(text)
    if not message:
        assert len(load_spec(tmp_path / "s.toml").train) == 4
        return
    expected = {
        "lr": "unknown key 'lr'; known keys: cell, dataset, epochs, extra, hidden, limit, preset, quantizer, reuse, seed, steps",
        "quaternary": "quantizer 'quaternary' is not one of float, binary, binary_stochastic, ternary",
        "transformer": "cell 'transformer' is not one of rnn, gru, lstm",
        "seed = []": "seed is an empty list: give at least one value",
        '"8"': "hidden takes int values, not '8'",
        "[2, 2]": "lanes lists a value twice",
        "virtex": "target 'virtex'",
        "--no-such-flag": "is refused: unrecognized arguments: --no-such-flag",
    }
    key = next(k for k in expected if k in message)
    result = hwgen("sweep", "s.toml", "-o", "r", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert expected[key] in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()  # nothing ran, nothing was written


def test_a_spec_with_nothing_to_run_or_no_file_is_refused(tmp_path):
    (tmp_path / "empty.toml").write_text('name = "x"\n')
    with pytest.raises(SpecError, match=r"nothing to run: give a \[train\] table, a \[hardware\] table or both"):
        load_spec(tmp_path / "empty.toml")
    with pytest.raises(SpecError, match="cannot read it"):
        load_spec(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[train\n")
    with pytest.raises(SpecError, match="not a TOML file"):
        load_spec(tmp_path / "bad.toml")


def test_the_shipped_specs_are_valid():
    for spec in sorted((ROOT / "docs" / "results").glob("*.toml")) + sorted((ROOT / "bench").glob("*.toml")):
        assert load_spec(spec).train or load_spec(spec).hardware, spec


def test_report_of_a_folder_without_results_is_refused(tmp_path):
    (tmp_path / "s.toml").write_text(TINY.split("[hardware]")[0])
    r = hwgen("sweep", "s.toml", "-o", "nowhere", "--report", cwd=tmp_path)
    assert r.returncode == 1 and "holds no sweep results" in r.stderr


def _commands_in(folder: Path) -> list[str]:
    """Command lines of the processes working in ``folder`` (by their working directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(proc / "cwd").resolve().is_relative_to(folder):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_stopped_sweep_leaves_no_training_running_and_resumes(tmp_path, signal_name):
    """Stopped while both points train: exit 130 / 143, no training left running, nothing recorded;
    the next run continues the runs from their last checkpoints."""
    import signal
    import time

    (tmp_path / "long.toml").write_text(TINY.split("[hardware]")[0].replace("steps = 12", "steps = 100000")
                                        .replace('quantizer = ["ternary", "exponential"]', 'quantizer = "ternary"'))
    results = (tmp_path / "results").resolve()
    proc = subprocess.Popen([sys.executable, "-m", "hwgen.cli", "sweep", "long.toml", "-o", "results",
                             "--workers", "2"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while sum("hwgen.cli train" in c for c in _commands_in(results)) < 2 or \
            len(list(results.glob("train/*/model.last.pt"))) < 2:  # both points training, checkpointed
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.5)
    proc.send_signal(getattr(signal, signal_name))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == {"SIGTERM": 143, "SIGINT": 130}[signal_name], err
    time.sleep(3)
    assert not [c for c in _commands_in(results) if "hwgen" in c]
    assert not list(results.glob("*/*/point.json"))  # nothing recorded as finished or failed
    assert len(list(results.glob("train/*/model.last.pt"))) == 2
    # the same grid with a budget already spent: both runs resume and finish at once
    (tmp_path / "long.toml").write_text((tmp_path / "long.toml").read_text().replace("steps = 100000", "steps = 6"))
    again = hwgen("sweep", "long.toml", "-o", "results", "--workers", "2", "--allow-spec-change", cwd=tmp_path)
    assert again.returncode == 0 and "2 point(s) run (0 failed)" in again.stdout, again.stderr
    assert all(p["status"] == "ok" and p["resumed"] for p in load_points(results))


def test_a_resumed_run_gets_no_model_options():
    """`hwgen train --resume` takes the model from the checkpoint and refuses its options: they go,
    with their values (also negative ones, optional ones and --flag=value forms); the rest stays."""
    from hwgen.sweep.points import without_model_options

    argv = ["--dataset", "x", "--cell", "gru", "--hidden", "8", "--k-min", "-22", "--seed", "1",
            "--no-quantize-recurrent", "--steps", "6", "--batch-norm", "input", "--activation=smooth",
            "--batch-norm", "--batch", "8", "--preset", "ott2016", "--out", "model.pt", "--quiet"]
    assert without_model_options(argv) == ["--dataset", "x", "--seed", "1", "--steps", "6", "--batch", "8",
                                           "--out", "model.pt", "--quiet"]


def test_variants_are_one_more_axis_of_argument_lists(tmp_path):
    spec = load_spec(ROOT / "docs" / "results" / "figure3.toml")
    assert len(spec.train) == 3 * 5
    by = {p.folder: p for p in spec.train}
    p = by["train/ptb-char-gru-h64-s1-input_bias"]
    assert p.params["variant"] == "input_bias"
    assert p.arguments("m.pt")[-6:] == ["--quantizer", "ternary", "--no-quantize-recurrent", "--out", "m.pt", "--quiet"]
    (tmp_path / "v.toml").write_text('[train]\ndataset = "synthetic-text"\n[train.variants]\n"a b" = []\n')
    with pytest.raises(SpecError, match="variant name 'a b': letters, digits and _ only"):
        load_spec(tmp_path / "v.toml")
    (tmp_path / "v.toml").write_text('[train]\ndataset = "synthetic-text"\n[train.variants]\nx = ["--nope"]\n')
    with pytest.raises(SpecError, match="unrecognized arguments: --nope"):
        load_spec(tmp_path / "v.toml")


def test_hardware_points_are_placed_and_routed_once_per_seed(tmp_path):
    """An ice40 design synthesized once and placed with two seeds: each seed's Fmax, their median,
    best and spread, and steps per second at the median, as the per-seed nextpnr reports say."""
    import statistics

    save(random_qmodel("rnn", hidden=2, inputs=2, code="ternary", act="hard", width=8, seed=3), tmp_path / "m.qmodel.json")
    (tmp_path / "hw.toml").write_text('[hardware]\nmodel = "m.qmodel.json"\ntarget = "ice40-up5k"\n'
                                      'lanes = 2\nstyle = "folded"\npnr_seeds = [1, 2]\n')
    outcome = run_sweep(load_spec(tmp_path / "hw.toml"), tmp_path / "r", workers=2, say=lambda m: None)
    assert outcome.ran == 1 and outcome.failed == 0
    (rec,) = load_points(tmp_path / "r")
    m = rec["metrics"]
    import json as _json

    fmax = [_json.loads((tmp_path / "r" / rec["folder"] / f"pnr-s{s}" / "pnr_report.json").read_text())
            for s in (1, 2)]
    per_seed = [round(min(c["achieved"] for c in r["fmax"].values()), 2) for r in fmax]  # as reported per seed
    assert per_seed == [r["fmax_mhz"] for r in m["pnr"]] and [r["seed"] for r in m["pnr"]] == [1, 2]
    assert m["fmax_median_mhz"] == round(statistics.median(per_seed), 2)
    assert m["fmax_spread_mhz"] == round(max(per_seed) - min(per_seed), 2)
    assert m["steps_per_second"] == round(statistics.median(per_seed) * 1e6 / m["cycles_per_step"], 1)


def default_sigint() -> None:
    """A child that takes SIGINT as a user's Ctrl-C would deliver it, even where the test runs in
    the background (a shell starts background jobs with SIGINT ignored, and Python then installs
    no handler for it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
