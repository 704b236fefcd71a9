"""Verilog templates shipped with hwgen (board and timing wrappers); valid Verilog files that
tools can lint, located with :func:`path`."""

from importlib.resources import files


def path(name: str):
    """The installed location of template ``name`` (e.g. ``"uart_wrapper.v"``)."""
    return files(__name__).joinpath(name)
