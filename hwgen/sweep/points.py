"""The points of a sweep: one training run or one hardware design each, named by its parameters,
and the work a worker does for it in the point's folder.

A point's work runs hwgen's own commands (``python -m hwgen.cli train`` / ``build``) in a child
process with one thread, so a worker is one core, and its log lands in the folder. What a point
measured is returned as plain JSON (the driver writes it as ``point.json``).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: the one environment a point's child process gets on top of the worker's: one thread each
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


class PointFailed(RuntimeError):
    """A point's command failed; the message ends with the tail of its log."""


def _run(argv: list[str], log: Path, cwd: Path) -> None:
    """``python -m hwgen.cli ARGV`` in ``cwd``, output to ``log``; PointFailed on a non-zero exit."""
    from ..toolchain.tools import DIE_WITH_PARENT

    with open(log, "w") as out:  # a worker that is killed takes the command down with it
        proc = subprocess.run([sys.executable, "-m", "hwgen.cli", *argv], cwd=cwd, stdout=out,
                              stderr=subprocess.STDOUT, env={**os.environ, **ONE_THREAD},
                              preexec_fn=DIE_WITH_PARENT)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-6:]
        raise PointFailed(f"`hwgen {argv[0]}` exited with status {proc.returncode}: " + " | ".join(tail))


def _slug(value) -> str:
    return str(value).replace("/", "_").replace(" ", "_")


@dataclass(frozen=True)
class TrainPoint:
    """One `hwgen train` run."""

    #: axes that always name a training point (others only when the SPEC varies them)
    ALWAYS_NAMED = ("dataset", "cell", "hidden", "quantizer", "seed")

    dataset: str
    cell: str | None = None
    hidden: int | None = None
    quantizer: str | None = None
    seed: int | None = None
    preset: str | None = None
    epochs: int | None = None
    steps: int | None = None
    limit: int | None = None
    variant: str | None = None  # the name of the SPEC's argument list in `extra`, if any
    extra: tuple[str, ...] = ()
    named: tuple[str, ...] = ALWAYS_NAMED

    kind = "train"

    @property
    def params(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("extra", "named") and v is not None}

    @property
    def folder(self) -> str:
        """``train/<dataset>-<cell>-h<hidden>-<quantizer>-s<seed>[-<varied budget>...]``."""
        short = {"hidden": "h", "seed": "s", "epochs": "e", "steps": "n", "limit": "l"}
        parts = [f"{short.get(k, '')}{_slug(getattr(self, k))}" for k in self.named if getattr(self, k) is not None]
        return "train/" + "-".join(parts)

    def arguments(self, out: str) -> list[str]:
        """`hwgen train` arguments for this point, writing ``out``."""
        argv = []
        for key in ("dataset", "cell", "hidden", "quantizer", "seed", "preset", "epochs", "steps", "limit"):
            value = getattr(self, key)
            if value is not None:
                argv += [f"--{key}", str(value)]
        return [*argv, *self.extra, "--out", out, "--quiet"]

    def run(self, folder: Path) -> dict:
        """Train into ``folder`` (``model.pt``, ``train.log``), resuming a run that was cut short."""
        resume = (folder / "model.last.pt").exists()
        argv = ["train", *(without_model_options(self.arguments("model.pt")) + ["--resume"] if resume
                           else self.arguments("model.pt"))]
        _run(argv, folder / "train.log", folder)
        return {"metrics": trained_metrics(folder / "model.pt"), "resumed": resume}


def without_model_options(argv: list[str]) -> list[str]:
    """``argv`` less the options that shape the model, which `hwgen train --resume` takes from
    the checkpoint (and refuses when given)."""
    import argparse

    from ..cli.arguments import train_parser
    from ..cli.train import MODEL_OPTIONS, NO_QUANTIZE

    parser = train_parser()
    flags = {"--" + d.replace("_", "-") for d in (*MODEL_OPTIONS, *NO_QUANTIZE)} | {"--no-quantize-output"}
    out, i = [], 0
    while i < len(argv):
        token, i = argv[i], i + 1
        if token.split("=", 1)[0] not in flags:
            out.append(token)
        elif "=" not in token and i < len(argv) and not argv[i].startswith("--"):
            try:  # the next token is the flag's value if the parser takes the two together
                _, unknown = parser.parse_known_args([token, argv[i]])
            except argparse.ArgumentError:
                unknown = [argv[i]]
            i += 0 if unknown else 1
    return out


def trained_metrics(path: Path) -> dict:
    """The figures `hwgen train` recorded in a finished model.pt (test metric, best validation)."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    metrics = {k: float(v) for k, v in (ckpt.get("metrics") or {}).items() if isinstance(v, (int, float))}
    if not any(k.startswith("test_") for k in metrics):
        raise PointFailed(f"{path} has no test metric: the run did not finish")
    return metrics


@dataclass(frozen=True)
class HardwarePoint:
    """One `hwgen build` design (synthesis), placed and routed once per seed in ``pnr_seeds``."""

    model: str  # a model file's absolute path, or "trained" (expanded by the runner)
    target: str = "ice40"
    lanes: int | None = None
    style: str | None = None
    weights: str | None = None
    output: str | None = None
    pnr_seeds: tuple[int, ...] = ()
    freq: float = 48.0
    #: the name of the model in the folder name (the training point's, for "trained" models)
    model_name: str = field(default="")

    kind = "hardware"

    @property
    def params(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if v is not None and v != ""}
        d["pnr_seeds"] = list(self.pnr_seeds)
        return d

    @property
    def folder(self) -> str:
        """``hardware/<model>-<target>[-<style>]-p<lanes|auto>[-<weights>][-<output>]``."""
        name = self.model_name or Path(self.model).name.removesuffix(".pt").removesuffix(".qmodel.json")
        parts = [_slug(name), self.target, self.style, f"p{self.lanes or 'auto'}", self.weights, self.output]
        return "hardware/" + "-".join(p for p in parts if p)

    def build_arguments(self, out: str) -> list[str]:
        argv = ["build", self.model, "--target", self.target, "-o", out, "--quiet"]
        for key in ("lanes", "style", "weights", "output"):
            value = getattr(self, key)
            if value is not None:
                argv += [f"--{key}", str(value)]
        return argv

    def run(self, folder: Path) -> dict:
        """Build into ``folder/build`` (synthesis); the seeds' place and route are their own tasks
        (:func:`place_and_route`), whose results :func:`summarize_pnr` folds in."""
        _run(self.build_arguments("build"), folder / "build.log", folder)
        report = json.loads((folder / "build" / "build_report.json").read_text())
        counts = report["synthesis"]["counts"]
        return {"metrics": {"cycles_per_step": report["design"]["cycles_per_step"],
                            "latency": report["design"]["latency"], "lanes": report["design"]["lanes"],
                            "style": report["design"]["style"], "weights": report["design"]["weights"],
                            "lc_estimate": report["synthesis"].get("lc_estimate"),
                            **{k: v for k, v in counts.items() if isinstance(v, int)},
                            **model_accuracy(self.model)}}


def model_accuracy(model: str) -> dict:
    """The test metric recorded in the model's checkpoint (the trained, quantized float model), or
    nothing for a QModel file."""
    if not model.endswith(".pt"):
        return {}
    try:
        metrics = trained_metrics(Path(model))
    except Exception:  # a plain torch checkpoint records none
        return {}
    return {k: v for k, v in metrics.items() if k.startswith("test_") and k != "test_loss"}


def place_and_route(build: Path, workdir: Path, target: str, seed: int, freq: float) -> dict:
    """nextpnr on a build folder's design with placement seed ``seed`` (in ``workdir``)."""
    from ..generator.plan import DesignPlan
    from ..toolchain.pnr import place_and_route as pnr
    from ..toolchain.targets import get_target

    plan = DesignPlan.from_json(json.loads((build / "design.json").read_text()))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    design = workdir / "hwgen_top.il"  # the tool scripts name their inputs relative to workdir
    shutil.copyfile(build / "hwgen_top.il", design)
    t0 = time.monotonic()
    report = pnr(design, get_target(target), workdir, plan.input_width, plan.output_width,
                 freq_mhz=freq, seed=seed, loaded=bool(plan.loaded), announce=lambda m: None)
    return {**report.to_json(), "wall_s": round(time.monotonic() - t0, 1)}


def summarize_pnr(metrics: dict, runs: list[dict]) -> dict:
    """A design's place-and-route figures over seeds: each seed's Fmax, the median, best and
    spread, and time steps per second at the median."""
    from ..toolchain.pnr import fmax_summary

    fmax = fmax_summary([r["fmax_mhz"] for r in runs])
    return {**metrics, "pnr": runs, "fmax_median_mhz": fmax["fmax_mhz"], "fmax_best_mhz": fmax["fmax_best_mhz"],
            "fmax_spread_mhz": fmax["fmax_spread_mhz"],
            "steps_per_second": round(statistics.median(r["fmax_mhz"] for r in runs) * 1e6
                                      / metrics["cycles_per_step"], 1)}
