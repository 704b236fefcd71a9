"""Never lose a user's files, never report a false result (output folders, signals, limits,
writes, provenance). Each test names the failure it guards against; the CLI ones run the real
`hwgen` command in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hwgen.build import BuildError, BuildOptions, build
from hwgen.outdir import MANIFEST
from hwgen.qmodel_file import save
from hwgen.spec.random_qmodel import random_qmodel

HWGEN = [sys.executable, "-m", "hwgen.cli"]
QUIET = lambda m: None  # noqa: E731


@pytest.fixture(scope="module")
def tiny():
    return random_qmodel("rnn", hidden=3, inputs=2, code="ternary", act="hard", width=8, seed=1)


def _build(q, out, **kw):
    return build(q, out, BuildOptions(target="generic", style="unrolled", **kw), say=QUIET)


# ------------------------------------------------------------------------------------------------
# 1. Output folders
# ------------------------------------------------------------------------------------------------


def test_a_users_folder_is_refused_and_survives(tiny, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(BuildError, match=r"is not empty and is not an earlier hwgen build .*notes\.txt.*--force"):
        _build(tiny, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_force_builds_beside_a_users_files_and_a_rebuild_keeps_them(tiny, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    first = _build(tiny, out, force=True)
    assert (out / "notes.txt").read_text() == "my notes" and (out / "hwgen_top.v").is_file()
    assert json.loads((out / MANIFEST).read_text())["files"] == sorted(first.files)
    (out / "later.txt").write_text("added after the build")
    other = random_qmodel("rnn", hidden=2, inputs=2, code="binary", act="hard", width=8, seed=2)
    _build(other, out, output="hidden")  # an earlier build: no --force needed
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "later.txt").read_text() == "added after the build"
    assert (out / "hwgen_top.v").is_file()


def test_a_rebuild_removes_only_files_its_predecessor_wrote(tiny, tmp_path):
    out = tmp_path / "b"
    _build(tiny, out)
    stale = out / "vectors" / "old-extra.hex"  # as if an earlier build had written it
    stale.write_text("x")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append("vectors/old-extra.hex")
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "vectors" / "mine.txt").write_text("user's")
    _build(tiny, out)
    assert not stale.exists() and (out / "vectors" / "mine.txt").read_text() == "user's"


def test_a_clash_with_a_users_file_is_refused_before_anything_moves(tiny, tmp_path):
    out = tmp_path / "c"
    out.mkdir()
    (out / "hwgen_top.v").write_text("// my own design")
    with pytest.raises(BuildError, match="hwgen_top.v, not written by hwgen"):
        _build(tiny, out, force=True)
    assert (out / "hwgen_top.v").read_text() == "// my own design"
    assert sorted(p.name for p in out.iterdir()) == ["hwgen_top.v"]


def test_dot_is_refused_in_a_non_empty_working_folder(tiny, tmp_path):
    (tmp_path / "model.qmodel.json").write_text("{}")
    save(tiny, tmp_path / "m.qmodel.json")
    r = subprocess.run([*HWGEN, "build", "m.qmodel.json", "-o", ".", "--target", "generic"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "is not an earlier hwgen build" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.qmodel.json", "model.qmodel.json"]


def test_output_has_ordinary_permissions(tiny, tmp_path):
    old = os.umask(0o022)
    try:
        _build(tiny, tmp_path / "p")
    finally:
        os.umask(old)
    assert (tmp_path / "p").stat().st_mode & 0o777 == 0o755


def test_a_failed_tool_keeps_the_log_its_message_names(tiny, tmp_path, monkeypatch):
    import hwgen.toolchain.synth as synth


    def failing(name, args, log, cwd, *rest, **kw):
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("ERROR: a synthesis failure\n")
        from hwgen.toolchain.tools import ToolError
        raise ToolError(f"{name} failed (exit 1):\n  ERROR: a synthesis failure\n  full log: {log}")

    monkeypatch.setattr(synth, "run_tool", failing)
    from hwgen.toolchain.tools import ToolError
    with pytest.raises(ToolError) as e:
        _build(tiny, tmp_path / "f")
    log = Path(str(e.value).split("full log: ")[1].split("\n")[0])
    assert log.read_text() == "ERROR: a synthesis failure\n", "the log the message names is there"
    assert "stay in" in str(e.value) and not (tmp_path / "f").exists()
    assert log.is_relative_to(tmp_path) and log.parts[len(tmp_path.parts)].startswith(".f.building-")


# ------------------------------------------------------------------------------------------------
# 3. Signals
# ------------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def default_sigint() -> None:
    """SIGINT as Ctrl-C delivers it, even where the test runs in the background (a shell starts
    background jobs with SIGINT ignored, and the child would inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_ends_the_tools_and_removes_the_staging_folder(tmp_path, sig, code):
    q = random_qmodel("gru", hidden=16, inputs=8, outputs=8, code="fixed", act="table", seed=3)
    save(q, tmp_path / "m.qmodel.json")
    proc = subprocess.Popen([*HWGEN, "build", "m.qmodel.json", "-o", "out", "--target", "ice40",
                             "--lanes", "4", "--style", "folded"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        kids = []
        while time.monotonic() < deadline and not kids:
            time.sleep(0.2)
            kids = [k for k in _children(proc.pid) if "yowasp" in Path(f"/proc/{k}/cmdline").read_text(errors="replace")] \
                if proc.poll() is None else []
        assert kids, "the build started a synthesis tool"
        assert any(p.name.startswith(".out.building-") for p in tmp_path.iterdir())
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert all(_gone(k) for k in kids), "a tool outlived the build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.qmodel.json"], "no staging folder left"
    assert "Traceback" not in err


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tiny, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.building-{dead.pid}-abc"
    stale.mkdir()
    (stale / "half.v").write_text("")
    said = []
    build(tiny, tmp_path / "out", BuildOptions(target="generic", style="unrolled"), say=said.append)
    assert not stale.exists() and any(f"process {dead.pid} is gone" in m for m in said)


# ------------------------------------------------------------------------------------------------
# 6. What post-training quantization changed
# ------------------------------------------------------------------------------------------------


def test_ptq_exponential_keeps_zeros_and_counts_every_changed_weight(tmp_path):
    import torch
    from torch import nn

    from hwgen.export import ExportOptions, export_model

    torch.manual_seed(0)
    gru = nn.GRU(4, 2, batch_first=True)
    with torch.no_grad():
        for p in gru.parameters():
            p.fill_(0.25)
        w = gru.weight_hh_l0
        w[0, 0], w[0, 1] = 0.0, 2.0 ** -10        # exact zero; below the window -8:1, nearer 0
        w[1, 0], w[1, 1] = -2.0 ** -10, 4.0       # below; above the window (saturates to 2)
        w[2, 0] = 2.0 ** -8 * 0.75                # below the window but nearer 2^-8 than 0
    pt = tmp_path / "plain.pt"
    torch.save({"state_dict": gru.state_dict(), "config": {"input": "features"}}, pt)
    r = export_model(pt, ExportOptions(quantize="exponential", calibration=None, eval_limit=0,
                                       dataset="synthetic-seq", calib_limit=50))
    codes = r.qmodel.layers[0].w_hh.to_float()
    assert codes[0, 0] == 0 and codes[0, 1] == 0 and codes[1, 0] == 0, "zeros and what rounds to zero stay zero"
    assert codes[1, 1] == 2.0 and codes[2, 0] == 2.0 ** -8
    m = r.report["weights"]["L0.w_hh"]["mapping"]
    assert (m["zeros"], m["flushed"], m["raised_low"], m["clamped_high"]) == (1, 2, 1, 1)
    assert any("changed 4 weights beyond rounding: 2 set to zero, 1 raised" in w and "1 saturated" in w
               for w in r.report["warnings"]), r.report["warnings"]


def test_an_all_zero_matrix_is_a_warning(tmp_path):
    import torch
    from torch import nn

    from hwgen.export import ExportOptions, export_model

    gru = nn.GRU(4, 2, batch_first=True)
    with torch.no_grad():
        gru.weight_hh_l0.fill_(0.01)  # far inside ternary's zero band
    pt = tmp_path / "plain.pt"
    torch.save({"state_dict": gru.state_dict(), "config": {"input": "features"}}, pt)
    r = export_model(pt, ExportOptions(quantize="ternary", eval_limit=0, dataset="synthetic-seq", calib_limit=50))
    assert any("every weight of L0.w_hh is zero" in w for w in r.report["warnings"])


# ------------------------------------------------------------------------------------------------
# 7. Output does not depend on where the input lives
# ------------------------------------------------------------------------------------------------


def test_the_same_model_in_two_folders_builds_to_the_same_bytes(tmp_path):
    import torch
    from torch import nn

    torch.manual_seed(5)
    vocab = list("abcdefgh ")
    model = nn.ModuleDict({"emb": nn.Embedding(len(vocab), 4), "rnn": nn.GRU(4, 5, batch_first=True),
                           "head": nn.Linear(5, len(vocab))})
    sd = {"emb.weight": model["emb"].weight, **{f"rnn.{k}": v for k, v in model["rnn"].state_dict().items()},
          "head.weight": model["head"].weight, "head.bias": model["head"].bias}
    outs = []
    for where in ("one", "two/deeper"):
        folder = tmp_path / where
        folder.mkdir(parents=True)
        torch.save({"state_dict": sd, "config": {"vocab": vocab}}, folder / "model.pt")
        (folder / "calib.txt").write_text("abc defg hab cde " * 40)
        r = subprocess.run([*HWGEN, "build", "model.pt", "-o", "out", "--target", "generic", "--style",
                            "unrolled", "--quantize", "pow2-ternary", "--calibration", "calib.txt",
                            "--eval-limit", "0", "--quiet"], cwd=folder, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        outs.append(folder / "out")
    files = sorted(str(p.relative_to(outs[0])) for p in outs[0].rglob("*") if p.is_file())
    assert "model.qmodel.json" in files and "hwgen_top.v" in files and "export_report.json" in files
    differ = [f for f in files if not f.startswith("logs/")
              and (outs[0] / f).read_bytes() != (outs[1] / f).read_bytes()]
    assert differ == []
    meta = json.loads((outs[0] / "model.qmodel.json").read_text())["meta"]
    assert meta["source"]["file"] == "model.pt" and "path" not in meta["source"]
    assert meta["export"]["calibration"] == "calib.txt" and len(meta["export"]["calibration_sha256"]) == 64
    assert str(tmp_path) not in (outs[0] / "model.qmodel.json").read_text()


# ------------------------------------------------------------------------------------------------
# 2. Simulation folders shared by concurrent runs
# ------------------------------------------------------------------------------------------------


def test_two_concurrent_sims_on_one_folder_both_pass(need_simulator, tmp_path):
    need_simulator("icarus")
    q = random_qmodel("gru", hidden=3, inputs=2, outputs=2, code="pow2", act="hard", width=8, seed=7)
    save(q, tmp_path / "m.qmodel.json")
    argv = [*HWGEN, "sim", "m.qmodel.json", "--sim", "icarus", "--sequences", "2", "--max-len", "6",
            "--seed", "3", "--build-dir", "shared"]
    procs = [subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0 and "PASS" in out, out
        assert "compiling (reused when unchanged) and simulating 2 sequence(s)" in out  # not silent
    results = sorted((tmp_path / "shared").rglob("result.json"))
    assert len(results) == 2, "each run has a folder of its own"
    for r in results:
        assert json.loads(r.read_text())["mismatches"] == 0
    assert not any(p.name.startswith(".") and "building" in p.name for p in (tmp_path / "shared").rglob("*"))


def test_default_sim_build_folder_is_outside_the_checkout(monkeypatch):
    from sim import runner

    monkeypatch.delenv("HWGEN_SIM_BUILD", raising=False)
    assert not runner.build_root().resolve().is_relative_to(runner.ROOT)
    assert runner.cache_root(Path("/somewhere")) == Path("/somewhere/_cache") or "HWGEN_SIM_CACHE" in os.environ


@pytest.mark.parametrize("where, message", [("file/sub", "a file is in the way"),
                                            ("/proc/hwgen-sim", "cannot write there")])
def test_sim_build_dir_that_cannot_be_written_is_one_line(need_simulator, tmp_path, where, message):
    need_simulator("icarus")
    (tmp_path / "file").write_text("")
    save(random_qmodel("rnn", hidden=2, inputs=2, code="binary", act="hard", width=8, seed=1), tmp_path / "m.qmodel.json")
    r = subprocess.run([*HWGEN, "sim", "m.qmodel.json", "--build-dir", where], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


# ------------------------------------------------------------------------------------------------
# 4. Size limits, before the long work
# ------------------------------------------------------------------------------------------------


def test_an_oversized_model_is_refused_in_seconds_with_numbers(tmp_path):
    import torch
    from torch import nn

    gru = nn.GRU(50, 1024, batch_first=True)  # 3.3 M weights: over a megabit even at 1 bit each
    torch.save({"state_dict": gru.state_dict(), "config": {"input": "onehot"}}, tmp_path / "big.pt")
    t0 = time.monotonic()
    r = subprocess.run([*HWGEN, "build", "big.pt", "-o", "out", "--quantize", "ternary"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "Kbit, but ice40-up5k holds at most 1,024 Kbit" in r.stderr and "no datapath fits" in r.stderr
    assert time.monotonic() - t0 < 60 and not (tmp_path / "out").exists()


def test_a_qmodel_whose_codes_exceed_the_device_is_refused_before_synthesis(tmp_path):
    q = random_qmodel("gru", hidden=96, inputs=32, outputs=8, code="fixed", act="hard", seed=1)
    with pytest.raises(BuildError, match=r"the weight codes need [\d,]+ Kbit, but ice40-hx1k holds at most 64 Kbit"):
        build(q, tmp_path / "o", BuildOptions(target="ice40-hx1k"), say=QUIET)


def test_golden_and_export_refuse_runs_that_would_exhaust_memory(tmp_path, monkeypatch):
    from hwgen.toolchain import limits
    from hwgen.cli import main

    q = random_qmodel("rnn", hidden=4, inputs=2, code="binary", act="hard", width=8, seed=1)
    save(q, tmp_path / "m.qmodel.json")
    r = subprocess.run([*HWGEN, "golden", "m.qmodel.json", "--batch", "1000000", "--steps", "1000000"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "would need about" in r.stderr and "GiB are free" in r.stderr
    assert "--batch or --steps" in r.stderr and "Traceback" not in r.stderr
    monkeypatch.setattr(limits, "available_memory", lambda: 1000)  # as if the machine were full
    import torch
    from torch import nn
    torch.save({"state_dict": nn.GRU(4, 3, batch_first=True).state_dict(), "config": {"input": "features"}},
               tmp_path / "p.pt")
    assert main(["export", str(tmp_path / "p.pt"), "-o", str(tmp_path / "p.qmodel.json"),
                 "--quantize", "ternary", "--quiet"]) == 1
    assert not (tmp_path / "p.qmodel.json").exists()


# ------------------------------------------------------------------------------------------------
# 5. Writes: checked first, atomic, pairs all or nothing, one line on failure
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def plain_pt(tmp_path):
    import torch
    from torch import nn

    torch.manual_seed(0)
    path = tmp_path / "p.pt"
    torch.save({"state_dict": nn.GRU(4, 3, batch_first=True).state_dict(), "config": {"input": "features"}}, path)
    return path


def _cli(args, cwd, timeout=300):
    return subprocess.run([*HWGEN, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _one_line(r):
    err = r.stderr.strip()
    assert r.returncode == 1 and err.startswith("hwgen: error: ") and "Traceback" not in err, r.stderr
    return err


EXPORT = ["--quantize", "ternary", "--dataset", "synthetic-seq", "--calib-limit", "40", "--eval-limit", "0", "--quiet"]


def test_export_into_an_unwritable_folder_fails_before_the_work(plain_pt, tmp_path, monkeypatch):
    """/proc/sys exists and is a folder, but nobody, root included, can create a file there."""
    import hwgen.export as export

    called = []
    monkeypatch.setattr(export, "export_source", lambda *a, **k: called.append(1))
    from hwgen.cli import main
    assert main(["export", str(plain_pt), "-o", "/proc/sys/m.qmodel.json", *EXPORT]) == 1
    assert called == [], "refused before the export's work"
    err = _one_line(_cli(["export", str(plain_pt), "-o", "/proc/sys/m.qmodel.json", *EXPORT], tmp_path))
    assert "-o /proc/sys/m.qmodel.json: cannot write in /proc/sys" in err


def test_export_report_that_cannot_be_written_leaves_no_model(plain_pt, tmp_path):
    (tmp_path / "afile").write_text("")
    err = _one_line(_cli(["export", str(plain_pt), "-o", "m.qmodel.json", "--report", "afile/r.json", *EXPORT],
                         tmp_path))
    assert "--report afile/r.json: afile is not a folder" in err
    assert not (tmp_path / "m.qmodel.json").exists(), "no half pair"
    err = _one_line(_cli(["export", str(plain_pt), "-o", "m.qmodel.json", "--report", ".", *EXPORT], tmp_path))
    assert "is a folder" in err and not (tmp_path / "m.qmodel.json").exists()


def test_a_failing_second_write_leaves_neither_file(tmp_path):
    from hwgen.files import FileWriteError, write_together

    (tmp_path / "a.txt").write_text("old a")

    def boom(f):
        raise OSError(28, "No space left on device")

    with pytest.raises(FileWriteError, match="b.txt: No space left on device"):
        write_together([(tmp_path / "a.txt", lambda f: f.write("new a"), False), (tmp_path / "b.txt", boom, False)])
    assert (tmp_path / "a.txt").read_text() == "old a" and not (tmp_path / "b.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"], "no temporary left behind"


@pytest.mark.parametrize("args, message", [
    (["golden", "m.qmodel.json", "--save-outputs", "afile/out.npz"], "--save-outputs afile/out.npz: afile is not a folder"),
    (["golden", "m.qmodel.json", "--save-outputs", "nowhere/out.npz"], "the folder nowhere does not exist"),
    (["eval", "m.qmodel.json", "--dataset", "synthetic-seq", "--json", "afile/x.json"], "--json afile/x.json: afile is not a folder"),
])
def test_writes_that_cannot_happen_are_one_line(tmp_path, args, message):
    (tmp_path / "afile").write_text("")
    save(random_qmodel("rnn", hidden=3, inputs=4, code="binary", act="hard", width=8, seed=1), tmp_path / "m.qmodel.json")
    assert message in _one_line(_cli(args, tmp_path))


def test_golden_save_outputs_is_written_atomically(tmp_path):
    save(random_qmodel("rnn", hidden=3, inputs=2, code="binary", act="hard", width=8, seed=1), tmp_path / "m.qmodel.json")
    r = _cli(["golden", "m.qmodel.json", "--batch", "2", "--steps", "3", "--save-outputs", "out"], tmp_path)
    assert r.returncode == 0, r.stderr
    data = np.load(tmp_path / "out.npz")
    assert data["outputs"].shape[:2] == (2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.qmodel.json", "out.npz"]


# ------------------------------------------------------------------------------------------------
# 8. Smaller ones
# ------------------------------------------------------------------------------------------------


def test_inspect_of_a_checkpoint_says_what_to_do(tmp_path):
    import torch

    torch.save({"x": torch.zeros(2)}, tmp_path / "model.pt")
    err = _one_line(_cli(["inspect", "model.pt"], tmp_path))
    assert "is a torch checkpoint, not a QModel file: run `hwgen export" in err


def test_a_text_file_given_as_a_checkpoint_is_named_as_such(tmp_path):
    (tmp_path / "notes.pt").write_text("hello, this is not a model\n")
    err = _one_line(_cli(["export", "notes.pt", "-o", "m.qmodel.json"], tmp_path))
    assert "is not a torch checkpoint (it does not start like one" in err and "KeyError" not in err


def test_golden_and_sim_read_text_the_same_way():
    from hwgen.spec.tokens import text_to_ids

    ptb = ["_", "a", "b", "\n"]
    assert text_to_ids(ptb, "ab ba") == [1, 2, 0, 2, 1]          # a typed space is PTB's '_'
    spaced = [" ", "a", "b"]
    assert text_to_ids(spaced, "a_b\nb") == [1, 0, 2, 0, 2]       # PTB text into a spaced vocabulary
    with pytest.raises(ValueError, match=r"\['z'\]"):
        text_to_ids(ptb, "az")


def test_golden_text_maps_a_space_for_a_ptb_vocabulary(tmp_path):
    q = random_qmodel("gru", hidden=3, inputs=2, vocab=4, outputs=4, code="pow2", act="hard", width=8, seed=2)
    from dataclasses import replace
    q = replace(q, input=replace(q.input, vocab=("_", "a", "b", "\n")))
    save(q, tmp_path / "m.qmodel.json")
    r = _cli(["golden", "m.qmodel.json", "--text", "ab ba"], tmp_path)
    assert r.returncode == 0, r.stderr


def test_eval_names_how_vocabularies_differ():
    from hwgen.evaluate import EvalError, load_split

    with pytest.raises(EvalError, match=r"only the model has \['Z'\]"):
        load_split("synthetic-text", "valid", 100, tuple("abcdefghijklmnopqrstuvwxyZ "))


def test_train_does_not_overwrite_a_model_without_force(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"mine")
    args = ["train", "--dataset", "synthetic-seq", "--limit", "64", "--hidden", "3", "--steps", "1",
            "--quiet", "--out", "m.pt"]
    err = _one_line(_cli(args, tmp_path))
    assert "--out m.pt exists; --resume continues that run, --force replaces it" in err
    assert (tmp_path / "m.pt").read_bytes() == b"mine"
    assert _cli([*args, "--force"], tmp_path).returncode == 0
    assert (tmp_path / "m.pt").read_bytes() != b"mine"


def test_build_says_what_the_export_is_doing(tmp_path, plain_pt):
    r = _cli(["build", str(plain_pt), "-o", "out", "--target", "generic", "--style", "unrolled",
              "--quantize", "ternary", "--dataset", "synthetic-seq", "--calib-limit", "40", "--eval-limit", "0"],
             tmp_path)
    assert r.returncode == 0, r.stderr
    for stage in ("export: reading calibration data", "export: mapping weights to codes", "export: calibrating formats"):
        assert stage in r.stdout


def test_ctrl_c_while_starting_up_is_one_line(monkeypatch, capsys):
    """A Ctrl-C that lands while the console script imports the command line (numpy, rich)."""
    import types

    from hwgen import entry

    class Interrupted(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "hwgen.cli", Interrupted("hwgen.cli"))
    with pytest.raises(SystemExit) as e:
        entry.main()
    assert e.value.code == 130 and capsys.readouterr().err == "hwgen: interrupted\n"
