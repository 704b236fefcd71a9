"""Size limits checked before long work: a model that cannot fit a device, or a run that would
exhaust this machine's memory, is refused in seconds with the numbers, not after minutes.

The memory figures are estimates (upper-leaning, from the array sizes each step holds); the
device figures are exact capacities against a lower bound (``bits_per_weight`` at least 1) or,
once the model is exported, the exact code bits.
"""

from __future__ import annotations

import os

from .targets import Target

__all__ = ["LimitError", "SPRAM_BITS", "onchip_bits", "check_onchip", "available_memory",
           "check_memory", "golden_bytes", "export_bytes"]

SPRAM_BITS = 256 * 1024  # iCE40 UP SB_SPRAM256KA
#: bytes export holds per weight (float64 copies of the trained, quantized and exported weights,
#: two scale candidates, calibration): measured 67 B on a hidden-4096 GRU (3.4 GB), rounded up
EXPORT_BYTES_PER_WEIGHT = 80
GIB = 1024 ** 3


class LimitError(ValueError):
    """A model or run beyond a device's or this machine's capacity; the message has the numbers."""


def onchip_bits(target: Target) -> int:
    """Bits of weight memory a design can use: the codes live either in block RAM (ROM) or all in
    SPRAM (loaded at run time), so the larger of the two."""
    return max(target.available("ebr") * target.ebr_bits, target.available("spram") * SPRAM_BITS)


def check_onchip(code_bits: int, target: Target, *, exact: bool) -> None:
    """Refuse weight codes that no datapath can hold on ``target`` (FPGA targets only)."""
    room = onchip_bits(target)
    if target.family == "generic" or room == 0 or code_bits <= room:
        return
    what = "the weight codes need" if exact else "the weights need at least (1 bit each)"
    ebr, spram = target.available("ebr"), target.available("spram")
    where = f"{ebr} block RAMs x {target.ebr_bits // 1024} Kbit" + (f", or {spram} SPRAMs x 256 Kbit" if spram else "")
    raise LimitError(
        f"{what} {code_bits / 1024:,.0f} Kbit, but {target.name} holds at most {room / 1024:,.0f} Kbit "
        f"of weight codes ({where}): no datapath fits; choose a model about "
        f"{room / max(code_bits, 1):.0%} of this size, or another target")


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: int, what: str, fix: str) -> None:
    """Refuse ``what`` when its estimated ``needed`` bytes exceed the memory available."""
    free = available_memory()
    if free is not None and needed > free:
        raise LimitError(f"{what} would need about {needed / GIB:,.1f} GiB of memory and "
                         f"{free / GIB:,.1f} GiB are free; {fix}")


def golden_bytes(qmodel, batch: int, steps: int) -> int:
    """The golden model's memory for ``batch`` sequences of ``steps``: int64 inputs, outputs and
    every layer's per-step state (the run keeps them for the caller), twice for temporaries."""
    stage = qmodel.input
    per_step = getattr(stage, "size", 1) + sum(layer.hidden_size * 2 for layer in qmodel.layers)
    per_step += qmodel.output.w.shape[0] if qmodel.output is not None else 0
    return 2 * 8 * batch * steps * per_step


def export_bytes(weights: int) -> int:
    return EXPORT_BYTES_PER_WEIGHT * weights
