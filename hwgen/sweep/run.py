"""Running a sweep on Ray: every point not finished in the results folder becomes a Ray task
(one CPU each), on a local Ray started here or on a running cluster (``address``).

The results folder holds ``sweep.json`` (the SPEC it belongs to) and one folder per point with its
files and ``point.json`` (status, parameters, figures, or the error). A point with a ``point.json``
of status ok is finished and never runs again; a failed one reruns only when asked. A task works in
the point's folder when the worker sees it (same machine or shared storage: the driver leaves a
claim token there for it to find), else in a temporary folder whose files it sends back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from ..files import write_atomic
from .points import HardwarePoint, PointFailed, TrainPoint, place_and_route, summarize_pnr
from .spec import Spec, identity_of

SWEEP_FILE = "sweep.json"
POINT_FILE = "point.json"
CLAIM = ".claim"
Say = Callable[[str], None]


class SweepError(RuntimeError):
    """A sweep that cannot start; the message says why and what to do."""


# ------------------------------------------------------------------------------------------------
# the results folder


def open_results(results: Path, spec: Spec, allow_spec_change: bool) -> None:
    """Make or check ``results``: new, empty, or made by this SPEC (another one only when asked)."""
    marker = results / SWEEP_FILE
    if results.exists() and not results.is_dir():
        raise SweepError(f"results folder {results} is a file; choose another -o")
    if marker.exists():
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, ValueError) as e:
            raise SweepError(f"{marker} is unreadable ({e}); choose another -o") from None
        if identity_of(recorded.get("spec") or {}) != spec.identity and not allow_spec_change:
            raise SweepError(f"{results} holds the results of another SPEC ({recorded.get('name')!r}); "
                             f"use another -o, or --allow-spec-change to add this SPEC's points to it")
    elif results.exists() and any(results.iterdir()):
        raise SweepError(f"{results} is not empty and is not a sweep's results folder; choose another -o")
    results.mkdir(parents=True, exist_ok=True)
    write_atomic(marker, lambda f: f.write(json.dumps({"format": "hwgen-sweep", "name": spec.name,
                                                       "spec": spec.content}, indent=1, sort_keys=True) + "\n"))


def read_point(folder: Path) -> dict | None:
    try:
        return json.loads((folder / POINT_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_point(folder: Path, record: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / POINT_FILE, lambda f: f.write(json.dumps(record, indent=1, sort_keys=True) + "\n"))


def _record(point, status: str, **fields) -> dict:
    return {"kind": point.kind, "folder": point.folder, "params": point.params, "status": status, **fields}


# ------------------------------------------------------------------------------------------------
# reusing finished runs


def reuse_finished(point: TrainPoint, folders: tuple[Path, ...]) -> Path | None:
    """A finished model.pt in ``folders`` trained exactly as ``point`` asks (dataset, limit, seed,
    cell, hidden size, quantizer, the preset's settings and every budget and `extra` setting the
    point gives), or None."""
    import torch

    from ..cli.arguments import train_parser

    folders = tuple(f for f in folders if f.is_dir())
    if not folders:
        return None
    asked = vars(train_parser().parse_args(point.arguments("model.pt")))
    for folder in folders:
        for path in sorted(folder.glob("*.pt")):
            if path.name.endswith(".last.pt"):
                continue
            try:
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
            except Exception:
                continue
            if isinstance(ckpt, dict) and _same_run(ckpt, point, asked):
                return path
    return None


def _same_run(ckpt: dict, point: TrainPoint, asked: dict) -> bool:
    from train.presets import PRESETS

    config, settings = ckpt.get("config") or {}, (ckpt.get("train_state") or {}).get("settings") or {}
    if not any(k.startswith("test_") for k in ckpt.get("metrics") or {}):
        return False
    quantizer = config.get("quantizer")
    quantizer = "float" if quantizer is None else (quantizer.get("name") if isinstance(quantizer, dict) else quantizer)
    if (config.get("cell"), config.get("hidden"), quantizer) != (point.cell or "gru", [point.hidden or 128],
                                                                  point.quantizer or "float"):
        return False
    preset = dict(PRESETS[point.preset or "ott2016"])
    preset["quantize"] = preset.pop("quantize_output")
    quantize = config.get("quantize", {})
    if quantize.get("output") != preset.pop("quantize") or any(config.get(k) != v for k, v in preset.items()):
        return False
    if any(quantize.get(part) == bool(asked.get(f"no_quantize_{part}")) for part in ("input", "recurrent", "bias")):
        return False
    return all(settings.get(k) == v for k, v in asked.items() if k in settings and v is not None and k != "device")


def keep_models(spec: Spec, results: Path, keep: Path, say: Say = print) -> int:
    """Copy every finished training point's model.pt into ``keep`` as ``<point>.pt``, less the
    state only resuming needs; returns how many were new. ``keep`` is meant to be listed under the
    SPEC's ``reuse`` and committed, so that a grid longer than a machine's life (a session, a
    spot instance) resumes where its results folder is gone. Files already there stay untouched."""
    return sum(keep_model(results / p.folder, keep, say) for p in spec.train
               if (read_point(results / p.folder) or {}).get("status") == "ok")


def keep_model(folder: Path, keep: Path, say: Say = print) -> bool:
    import torch

    from train.checkpoint import finished_model, save_checkpoint

    dest = keep / f"{folder.name}.pt"
    if dest.exists():
        return False
    keep.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dest, finished_model(torch.load(folder / "model.pt", map_location="cpu", weights_only=True)))
    say(f"kept {dest}")
    return True


# ------------------------------------------------------------------------------------------------
# the work of one task (runs on a Ray worker)


def execute(point, where: str, token: str, model: bytes | None) -> dict:
    """Run ``point`` in ``where`` if this worker sees the claim there, else in a temporary folder
    (a hardware point's model, ``model``, goes there as ``input/``), whose files come back."""
    folder = Path(where)
    local = (folder / CLAIM).is_file() and (folder / CLAIM).read_text() == token
    if not local:
        folder = Path(tempfile.mkdtemp(prefix="hwgen-sweep-"))
        if isinstance(point, HardwarePoint):
            copy = folder / "input" / Path(point.model).name
            copy.parent.mkdir()
            copy.write_bytes(model)
            point = dataclasses.replace(point, model=str(copy))
    t0 = time.monotonic()
    try:
        result = {"status": "ok", **point.run(folder)}
    except PointFailed as e:
        result = {"status": "failed", "error": str(e)}
    except Exception as e:  # a bug or an environment problem: recorded, the sweep goes on
        result = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    result.update(wall_s=round(time.monotonic() - t0, 1), host=socket.gethostname())
    if not local:
        result["files"] = _collect(folder, skip={"input"})
        shutil.rmtree(folder, ignore_errors=True)
    return result


def execute_pnr(build: str, workdir: str, token: str, target: str, seed: int, freq: float,
                inputs: dict[str, bytes]) -> dict:
    """One seed's place and route of a built design (see :func:`execute` for the folders)."""
    build_dir, work = Path(build), Path(workdir)
    local = (work.parent / CLAIM).is_file() and (work.parent / CLAIM).read_text() == token
    tmp = None
    if not local:
        tmp = Path(tempfile.mkdtemp(prefix="hwgen-pnr-"))
        build_dir, work = tmp / "build", tmp / "pnr"
        build_dir.mkdir()
        for name, data in inputs.items():
            (build_dir / name).write_bytes(data)
    try:
        result = {"status": "ok", **place_and_route(build_dir, work, target, seed, freq)}
    except Exception as e:
        result = {"status": "failed", "error": f"{type(e).__name__}: {e}", "seed": seed}
    if tmp is not None:
        result["files"] = _collect(work, skip=set())
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _collect(folder: Path, skip: set[str]) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).parts[0] not in skip}


def _unpack(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# ------------------------------------------------------------------------------------------------
# the driver


@dataclasses.dataclass
class SweepResult:
    ran: int = 0
    failed: int = 0
    skipped: int = 0
    reused: int = 0
    wall_s: float = 0.0


def pending(points, results: Path, retry_failed: bool) -> list:
    """The points still to run: no point.json of status ok (and, unless ``retry_failed``, no
    recorded failure either)."""
    todo = []
    for p in points:
        rec = read_point(results / p.folder)
        if rec is None or (rec.get("status") != "ok" and retry_failed):
            todo.append(p)
    return todo


def trained_models(spec: Spec, results: Path) -> list[HardwarePoint]:
    """The hardware grid with ``model = "trained"`` expanded to every finished training point."""
    points = []
    for hp in spec.hardware:
        if hp.model != "trained":
            points.append(hp)
            continue
        for tp in spec.train:
            rec = read_point(results / tp.folder)
            if rec is not None and rec.get("status") == "ok":
                points.append(dataclasses.replace(hp, model=str((results / tp.folder / "model.pt").resolve()),
                                                  model_name=tp.folder.split("/", 1)[1]))
    return points


def run_sweep(spec: Spec, results: Path, *, address: str | None = None, workers: int | None = None,
              retry_failed: bool = False, allow_spec_change: bool = False, keep: Path | None = None,
              say: Say = print) -> SweepResult:
    """Run every point of ``spec`` not finished in ``results``; see the module's docstring. With
    ``keep``, each finished training point's model also goes there (:func:`keep_models`)."""
    results = Path(results).resolve()
    open_results(results, spec, allow_spec_change)
    t0 = time.monotonic()
    outcome = SweepResult()
    todo = pending(spec.train, results, retry_failed)
    for p in list(todo):
        found = reuse_finished(p, spec.reuse)
        if found is not None:
            folder = results / p.folder
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, folder / "model.pt")
            from .points import trained_metrics

            write_point(folder, _record(p, "ok", metrics=trained_metrics(folder / "model.pt"),
                                        reused_from=str(found)))
            say(f"reused {found} for {p.folder}")
            outcome.reused += 1
            todo.remove(p)
    stages = [todo, None]  # the hardware points are known once the training points are done
    ray = None
    try:
        for k, stage in enumerate(stages):
            if stage is None:
                stage = pending(trained_models(spec, results), results, retry_failed)
            outcome.skipped += len((spec.train if k == 0 else trained_models(spec, results))) - len(stage)
            if not stage:
                continue
            if ray is None:
                ray = _start_ray(address, workers, say)
            _run_points(ray, stage, results, outcome, say, keep)
    finally:
        if ray is not None:
            ray.shutdown()
        if keep is not None:
            keep_models(spec, results, keep, say)
    outcome.wall_s = round(time.monotonic() - t0, 1)
    return outcome


def _start_ray(address: str | None, workers: int | None, say: Say):
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray

    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=True, logging_level="ERROR")
    if address is not None:
        _check_reachable(address)
    t0 = time.monotonic()
    # Ray's driver installs its own SIGTERM/SIGINT handling (SIGTERM aborts the process); hwgen's
    # stays, so that a stopped sweep unwinds, cancels its tasks and shuts Ray down.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        if address is None:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except Exception as e:  # ConnectionError, TimeoutError, ValueError, RuntimeError ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise SweepError(f"cannot start {where}: {first}") from None
    finally:
        for s, handler in handlers.items():
            if handler is not None:
                signal.signal(s, handler)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    say(f"Ray: {'local, ' if address is None else address + ', '}{cpus} worker CPU(s), "
        f"started in {time.monotonic() - t0:.1f} s")
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds where Ray would retry for minutes: a HOST:PORT (or ray://HOST:PORT) that
    takes no connection. ``auto`` is Ray's own look-up, which fails at once when there is none."""
    import socket as sockets

    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        sockets.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise SweepError(f"cannot reach the Ray cluster at {address}: {e.strerror or e}; start one with "
                         f"`ray start --head` there, or check the address (docs/sweep.md)") from None


def _run_points(ray, points: list, results: Path, outcome: SweepResult, say: Say, keep: Path | None) -> None:
    work = ray.remote(num_cpus=1, max_retries=0)(execute)
    pnr = ray.remote(num_cpus=1, max_retries=0)(execute_pnr)
    token = uuid.uuid4().hex
    running: dict = {}  # object ref -> (point, kind, extra)
    seeds: dict = {}  # point folder -> [results of its pnr seeds]
    base: dict = {}  # point folder -> the build's figures, awaiting its seeds
    for p in points:
        folder = results / p.folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CLAIM).write_text(token)
        model = Path(p.model).read_bytes() if isinstance(p, HardwarePoint) else None
        running[work.remote(p, str(folder), token, model)] = (p, "point", None)
    say(f"running {len(points)} point(s)")
    try:
        while running:
            done = _interruptible(lambda: ray.wait(list(running), num_returns=1, timeout=1.0))[0]
            if not done:
                continue
            ref = done[0]
            p, kind, seed = running.pop(ref)
            folder = results / p.folder
            try:
                result = _interruptible(lambda: ray.get(ref))
            except Exception as e:  # the worker died (out of memory, killed): recorded
                result = {"status": "failed", "error": f"the Ray task failed: {str(e).strip().splitlines()[-1]}"}
            if "files" in result:
                _unpack(folder if kind == "point" else folder / f"pnr-s{seed}", result.pop("files"))
            if kind == "point" and result["status"] == "ok" and getattr(p, "pnr_seeds", ()):
                base[p.folder] = result
                seeds[p.folder] = []
                build = folder / "build"
                inputs = {n: (build / n).read_bytes() for n in ("hwgen_top.il", "design.json")}
                for s in p.pnr_seeds:
                    running[pnr.remote(str(build), str(folder / f"pnr-s{s}"), token, p.target, s, p.freq,
                                       inputs)] = (p, "pnr", s)
                say(f"  built {p.folder}; placing and routing with {len(p.pnr_seeds)} seed(s)")
                continue
            if kind == "pnr":
                seeds[p.folder].append(result)
                if len(seeds[p.folder]) < len(p.pnr_seeds):
                    continue
                result = _with_seeds(base.pop(p.folder), seeds.pop(p.folder))
            _finish(p, folder, result, outcome, say)
            if keep is not None and kind == "point" and isinstance(p, TrainPoint) and result["status"] == "ok":
                keep_model(folder, keep, say)
    except BaseException:
        for ref in running:
            ray.cancel(ref, force=True)
        raise


def _interruptible(call):
    """``call()``; a Ctrl-C or SIGTERM that arrives inside Ray's compiled code surfaces there as a
    SystemError wrapping it: raise the interruption itself, so the sweep unwinds as it should."""
    try:
        return call()
    except SystemError as e:
        inner = e.__cause__ or e.__context__
        if isinstance(inner, BaseException) and not isinstance(inner, Exception):
            raise inner from None
        raise


def _with_seeds(build: dict, runs: list[dict]) -> dict:
    bad = [r for r in runs if r["status"] != "ok"]
    if bad:
        return {**build, "status": "failed", "error": f"place and route with seed {bad[0].get('seed')}: "
                                                      f"{bad[0]['error']}"}
    runs = sorted((dict((k, v) for k, v in r.items() if k != "status") for r in runs), key=lambda r: r["seed"])
    return {**build, "metrics": summarize_pnr(build["metrics"], runs),
            "wall_s": round(build["wall_s"] + sum(r["wall_s"] for r in runs), 1)}


def _finish(p, folder: Path, result: dict, outcome: SweepResult, say: Say) -> None:
    (folder / CLAIM).unlink(missing_ok=True)
    fields = {k: v for k, v in result.items() if k != "status"}
    write_point(folder, _record(p, result["status"], **fields))
    outcome.ran += 1
    if result["status"] == "ok":
        shown = {k: v for k, v in result.get("metrics", {}).items()
                 if k.startswith("test_") and k != "test_loss" or k in ("cycles_per_step", "lc_estimate",
                                                                        "fmax_median_mhz", "steps_per_second")}
        say(f"  done {p.folder} in {result['wall_s']:.0f} s: " + ", ".join(f"{k} {v:g}" for k, v in shown.items()))
    else:
        outcome.failed += 1
        say(f"  FAILED {p.folder}: {result.get('error', '')[:300]}")
