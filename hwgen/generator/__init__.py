"""The hardware generator: Amaranth components that compute exactly what :mod:`hwgen.golden` does.

Arithmetic building blocks (each a ``lib.wiring`` Component with a ``latency`` property):
:class:`RoundSaturate` (requantize), :class:`HardActivation`, :class:`TableActivation`,
:class:`CodeLane` and :class:`LaneSum` (weight codes applied by shifts and adds).
"""

from .activation_units import HardActivation, TableActivation
from .codes import CodeFormat, code_width, decode_codes, encode_codes
from .lanes import CodeLane, LaneSum
from .requantize import Bounded, RoundSaturate, round_clamp

__all__ = [
    "Bounded", "CodeFormat", "CodeLane", "HardActivation", "LaneSum", "RoundSaturate",
    "TableActivation", "code_width", "decode_codes", "encode_codes", "round_clamp",
]
