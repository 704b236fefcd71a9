"""The hardware generator: Amaranth components that compute exactly what :mod:`hwgen.spec.golden` does.

The design (docs/generator.md): :func:`plan_design` resolves a QModel and :class:`DesignParams`
into a :class:`DesignPlan` (plain values: stages, cycles, memories); :func:`build_design` builds
the top component from it and :func:`emit_verilog` writes its Verilog. Arithmetic building blocks
(``lib.wiring`` Components with a ``latency`` property): :class:`HardActivation` and
:class:`TableActivation`; the lanes and the requantize are functions that build into a module
(:func:`hwgen.generator.lanes.apply_code`, :func:`round_clamp`).

Names are imported on first use, so reading a plan (``hwgen.generator.plan``) does not import
Amaranth.
"""

from importlib import import_module

_NAMES = {
    "DesignParams": "plan", "DesignPlan": "plan", "StagePlan": "plan", "MemoryPlan": "plan",
    "plan_design": "planner", "auto_multipliers": "planner",
    "HwgenTop": "top", "build_design": "top",
    "emit_verilog": "emit", "emit_all": "emit",
    "HardActivation": "activation_units", "TableActivation": "activation_units",
    "CodeFormat": "codes", "code_width": "codes", "decode_codes": "codes", "encode_codes": "codes",
    "Bounded": "requantize", "round_clamp": "requantize",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_NAMES[name]}", __name__), name)
    globals()[name] = value
    return value
