"""cocotb benches and their runner for hwgen's generated Verilog (docs/simulation.md).

The product reaches verification through this package's public surface only: `hwgen build
--check` calls :func:`check_build` and `hwgen.simulate` calls :func:`simulate`, nothing else of sim/.
"""

from .check import check_build, simulate

__all__ = ["check_build", "simulate"]
