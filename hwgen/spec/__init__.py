"""The specification: what a network is and computes, bit for bit, independent of any hardware.

Bottom up: :mod:`.fixedpoint` (formats, rounding, saturation, the interval arithmetic of
:class:`~.fixedpoint.Fx`), :mod:`.ir` (the QModel types), :mod:`.activation` (activation
functions and tables), :mod:`.golden` (the golden model and bound inference); above them
:mod:`.summary`, :mod:`.random_qmodel`, :mod:`.stimulus` and :mod:`.tokens`. Nothing here imports
a stage (export, generator, toolchain) or the command line. The QModel file format is
:mod:`hwgen.qmodel_file`, above this package.
"""
