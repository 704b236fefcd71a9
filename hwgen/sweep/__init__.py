"""`hwgen sweep`: grids of training runs and hardware designs on Ray, from one machine to a
cluster (docs/sweep.md). :mod:`.spec` reads the SPEC, :mod:`.points` is the work of one point,
:mod:`.run` drives Ray and keeps the results folder, :mod:`.report` turns it into tables and plots.
"""
