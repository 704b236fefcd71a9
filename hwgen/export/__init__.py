"""Export: a trained model (hwgen model.pt or a plain torch checkpoint) to a QModel and a report.

    from hwgen.export import ExportOptions, export_model
    result = export_model("model.pt", ExportOptions(width=16))
    result.qmodel     # hwgen.spec.ir.QModel, ready for the golden model and the generator
    result.report     # plain JSON data (docs/export.md, "Report")

The stages, each its own module: :mod:`.source` (read the checkpoint), :mod:`.codes` (quantizer
outputs to integer codes), :mod:`.calibrate` and :mod:`.assemble` (formats and the QModel),
:mod:`.report`. Every refusal is an :class:`ExportError` with one line naming the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..evaluate import Data, EvalError, float_metric, golden_metric, lanes_of, load_split
from ..spec.ir import QModel
from . import floatnet
from .assemble import TABLE_BITS, build_qmodel, choose_formats, format_rows, signal_names
from .calibrate import collect, parse_overrides
from .codes import SCALE_MODES, Mapped, map_weights, needs_scale_choice
from .load import load_source
from .source import ExportError, Source, float_net

__all__ = ["ExportError", "ExportOptions", "ExportResult", "export_model", "export_source"]

Progress = Callable[[str, int, int], None]


@dataclass
class ExportOptions:
    width: int = 16  # total bits of every register-level signal (see formats for overrides)
    headroom: float = 1.25  # formats cover this many times the largest calibration magnitude
    formats: list[str] = field(default_factory=list)  # "SIGNAL=FMT" or "SIGNAL=WIDTH"
    scale: str = "auto"  # binary/ternary scale: auto | fixed (per-row constant) | pow2
    scale_bits: int = 8  # significant bits of a fixed per-row scale
    exp_window: tuple[int, int] | None = None  # pow2 codes: exponents kept (None: those in use)
    weight_bits: int = 8  # mantissa bits of tensors trained without a quantizer
    act_table_bits: int = TABLE_BITS  # smooth activations: a table of 2**bits entries per unit
    quantize: str | None = None  # plain torch models: ternary | pow2-ternary | exponential | fixed:I.F
    dataset: str | None = None  # calibration / accuracy data (default: the one the model trained on)
    calibration: str | None = None  # a file of calibration inputs instead (.txt or .npy)
    calib_limit: int = 20000  # characters (text) or sequences of the train split
    eval_limit: int | None = 20000  # valid-split characters / sequences for the report's accuracy; 0: skip
    name: str | None = None

    def check(self) -> None:
        if not 4 <= self.width <= 32:
            raise ExportError(f"--width {self.width}: choose a total width in [4, 32] bits")
        if not self.headroom >= 1.0:
            raise ExportError(f"--headroom {self.headroom}: must be at least 1 (1.25 = a quarter spare)")
        if self.scale not in SCALE_MODES:
            raise ExportError(f"--scale {self.scale!r}: one of {', '.join(SCALE_MODES)}")
        if not 2 <= self.scale_bits <= 16 or not 2 <= self.weight_bits <= 17:
            raise ExportError("--scale-bits must lie in [2, 16] and --weight-bits in [2, 17]")
        if self.exp_window is not None and self.exp_window[0] > self.exp_window[1]:
            raise ExportError(f"--exp-window {self.exp_window[0]}:{self.exp_window[1]}: the low end is above the high end")
        if not 4 <= self.act_table_bits <= 14:
            raise ExportError(f"--act-table-bits {self.act_table_bits}: choose a table of 2**4 to "
                              f"2**14 entries (each unit's table is 2**bits words of block RAM)")
        if self.calib_limit < 1:
            raise ExportError("--calib-limit must be positive")


@dataclass
class ExportResult:
    qmodel: QModel
    report: dict
    source: Source


def export_model(path, options: ExportOptions | None = None, out_path=None,
                 progress: Progress | None = None) -> ExportResult:
    """Read ``path`` and export it (the library call behind `hwgen export` and `hwgen build`).

    ``out_path`` (where the QModel will be written) is accepted for compatibility; the QModel
    records the source's file name and SHA-256, never its folder.
    """
    from ..toolchain.limits import LimitError, check_memory, export_bytes

    options = options or ExportOptions()
    options.check()
    src = load_source(path, options.quantize, options.exp_window)
    weights = sum(p.numel() for p in src.model.parameters())
    try:
        check_memory(export_bytes(weights), f"exporting {src.path.name} ({weights:,} weights)",
                     "export a smaller model, or on a machine with more memory")
    except LimitError as e:
        raise ExportError(str(e)) from None
    return export_source(src, options, out_path, progress)


def _calibration(src: Source, o: ExportOptions) -> tuple[list, str]:
    """Batches ``(x, lengths | None)`` and a description."""
    if o.calibration:
        return _calibration_file(src, Path(o.calibration)), f"file {Path(o.calibration).name}"
    dataset = o.dataset or src.dataset
    if dataset is None:
        raise ExportError(f"{src.path}: no calibration data: the checkpoint does not name its dataset; "
                          f"give --dataset NAME or --calibration FILE")
    try:
        data = load_split(dataset, "train", o.calib_limit, src.vocab)
    except EvalError as e:
        raise ExportError(str(e)) from None
    _check_fits(src, data, dataset)
    return _batches(data), f"{dataset}/train[:{o.calib_limit}]"


def _check_fits(src: Source, data: Data, dataset: str) -> None:
    """The data's kind and width must be the model's input (else torch fails deep inside)."""
    model = src.model
    if model.is_token_model != (data.ids is not None):
        want = "text (token ids)" if model.is_token_model else "feature sequences"
        raise ExportError(f"--dataset {dataset}: the model takes {want}; choose a dataset of that kind")
    if data.x is not None and data.x.shape[2] != model.input_size:
        raise ExportError(f"--dataset {dataset} has {data.x.shape[2]} features per step, the model takes "
                          f"{model.input_size}; choose the dataset it was trained on")


def _batches(data: Data) -> list:
    if data.ids is not None:
        return [(lanes_of(data.ids, 16), None)]
    return [(data.x[a:a + 64, : int(data.lengths[a:a + 64].max())], data.lengths[a:a + 64])
            for a in range(0, len(data.y), 64)]


def _calibration_file(src: Source, path: Path) -> list:
    if not path.is_file():
        raise ExportError(f"--calibration {path}: no such file")
    if path.suffix == ".txt":
        if src.vocab is None:
            raise ExportError(f"--calibration {path}: text needs a model with a vocabulary; give a .npy of token ids")
        index = {c: i for i, c in enumerate(src.vocab)}
        text = path.read_text(encoding="utf-8")
        ids = np.array([index[c] for c in text if c in index], np.int64)
        if len(ids) < 4:
            raise ExportError(f"--calibration {path}: fewer than 4 characters of the model's vocabulary")
        return _batches(Data(str(path), ids=ids))
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ExportError(f"--calibration {path}: not a .txt or .npy file ({type(e).__name__})") from None
    if a.ndim == 1 and a.dtype.kind in "iu":
        return _batches(Data(str(path), ids=a.astype(np.int64)))
    if a.ndim == 3 and a.dtype.kind == "f" and np.isfinite(a).all():
        return _batches(Data(str(path), x=a, lengths=np.full(len(a), a.shape[1]), y=np.zeros(len(a), np.int64)))
    raise ExportError(f"--calibration {path}: expected token ids (1-d integers) or features "
                      f"(sequences, steps, features) of finite floats, got {a.dtype} {a.shape}")


def _outputs(net, batches) -> np.ndarray:
    return np.concatenate([floatnet.run(net, x)[0].numpy().ravel() for x, _ in batches])


def _choose_scale(src: Source, o: ExportOptions, batches, ref) -> tuple[Mapped, dict]:
    """Map with each candidate scale mode; "auto" keeps the one whose outputs deviate least from
    the trained quantized model on the calibration data (a tie goes to pow2: it is free)."""
    modes = ["pow2", "fixed"] if o.scale == "auto" and needs_scale_choice(src) else \
        [o.scale if o.scale != "auto" else "fixed"]
    want = _outputs(ref, batches)
    errors, mapped = {}, {}
    for mode in modes:
        mapped[mode] = map_weights(src, mode, o.scale_bits, o.exp_window, o.weight_bits)
        got = _outputs(mapped[mode].float_net(ref), batches)
        errors[mode] = float(np.sqrt(np.mean((got - want) ** 2)))
    best = min(modes, key=lambda m: errors[m])
    return mapped[best], {"mode": mapped[best].scale_mode, "rms_output_error": errors,
                          "chosen_by": "smaller error" if len(modes) > 1 else "option"}


def _meta(src: Source, o: ExportOptions, scale: dict, mapped: Mapped, calib: str) -> dict:
    """The QModel's provenance: file names and content digests, never a folder, so the same inputs
    give the same QModel (and Verilog) wherever they lie."""
    opts = {k: v for k, v in asdict(o).items() if k not in ("name",)}
    opts["exp_window"] = list(o.exp_window) if o.exp_window else None
    if o.calibration:
        opts["calibration"] = Path(o.calibration).name
        opts["calibration_sha256"] = hashlib.sha256(Path(o.calibration).read_bytes()).hexdigest()
    meta = {"source": {"file": src.path.name, "sha256": src.sha256, "kind": src.kind, "quantize": src.quantize},
            "task": src.task, "dataset": o.dataset or src.dataset, "calibration": calib,
            "scale_mode": scale["mode"], "export": opts}
    if mapped.input_affine is not None:
        a, b = mapped.input_affine
        meta["input_affine"] = {"scale": a.tolist(), "shift": b.tolist(),
                                "note": "the host applies x * scale + shift before rounding to the input format"}
    return meta


def accuracy(qm: QModel, src: Source, data: Data, progress: Progress | None = None) -> dict:
    """The metric of the golden model, the QModel's codes in float, the trained quantized model
    in float, and the full-precision model, on the same data."""
    figures = {
        "golden": golden_metric(qm, data, progress),
        "float_exported_codes": float_metric(floatnet.from_qmodel(qm), data, "float, exported codes", progress),
        "float_quantized": float_metric(float_net(src, True), data, "float, trained quantized", progress),
        "float_full_precision": float_metric(float_net(src, False), data, "float, full precision", progress),
    }
    return {"data": data.name, "size": data.size, "metric": data.metric, **figures}


def export_source(src: Source, o: ExportOptions, out_path=None, progress: Progress | None = None) -> ExportResult:
    from .report import build_report

    step = progress or (lambda what, done, total: None)
    step("reading calibration data", 0, 1)
    batches, calib = _calibration(src, o)
    ref = float_net(src, quantized=True)
    step("reading calibration data", 1, 1)
    step("mapping weights to codes", 0, 1)
    mapped, scale = _choose_scale(src, o, batches, ref)
    net = mapped.float_net(ref)
    step("mapping weights to codes", 1, 1)
    step("calibrating formats", 0, 1)
    stats = collect(net, batches)
    step("calibrating formats", 1, 1)
    formats = choose_formats(net, stats, o.width, o.headroom, parse_overrides(o.formats, signal_names(net)))
    name = o.name or src.path.name.split(".")[0]
    qm = build_qmodel(mapped, net, formats, src.vocab, name, _meta(src, o, scale, mapped, calib),
                      o.act_table_bits)
    acc = None
    dataset = o.dataset or src.dataset
    if o.eval_limit != 0 and dataset is not None:
        try:
            acc = accuracy(qm, src, load_split(dataset, "valid", o.eval_limit, src.vocab), progress)
        except EvalError as e:
            raise ExportError(str(e)) from None
    report = build_report(qm, src, mapped, scale, format_rows(formats, stats), acc, calib)
    return ExportResult(qm, report, src)
