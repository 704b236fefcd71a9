"""The hardware generator: Amaranth components that compute exactly what :mod:`hwgen.golden` does.

The design (docs/generator.md): :func:`build_design` builds the top component, :func:`emit_verilog`
writes its Verilog. Arithmetic building blocks (each a ``lib.wiring`` Component with a ``latency``
property): :class:`RoundSaturate` (requantize), :class:`HardActivation`, :class:`TableActivation`,
:class:`CodeLane` and :class:`LaneSum` (weight codes applied by shifts and adds).
"""

from .activation_units import HardActivation, TableActivation
from .codes import CodeFormat, code_width, decode_codes, encode_codes
from .emit import emit_verilog
from .lanes import CodeLane, LaneSum
from .requantize import Bounded, RoundSaturate, round_clamp
from .top import HwgenTop, auto_multipliers, build_design, design_params

__all__ = [
    "Bounded", "CodeFormat", "auto_multipliers", "CodeLane", "HardActivation", "HwgenTop", "LaneSum", "RoundSaturate",
    "TableActivation", "build_design", "code_width", "decode_codes", "design_params", "emit_verilog",
    "encode_codes", "round_clamp",
]
