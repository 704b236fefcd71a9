"""Behaviour unchanged: the generated Verilog, netlist, QModel file and test vectors of the shipped
example and of 24 random QModels (every cell x code kind x style) equal the recorded digests
(tests/behaviour_digests.py says how they are recorded and when to re-record them)."""

from __future__ import annotations

import json

import pytest

import behaviour_digests as bd

RECORDED = json.loads(bd.RECORD.read_text())
CASES = {key: (q, p) for key, q, p in bd.cases()}


@pytest.mark.parametrize("key", sorted(CASES))
def test_random_model_outputs_are_unchanged(key):
    q, params = CASES[key]
    assert bd.digests_of(key, q, params) == RECORDED[key]


def test_example_outputs_are_unchanged():
    key, q, params = bd.example_case()
    assert bd.digests_of(key, q, params) == RECORDED[key]


def test_the_record_covers_every_case():
    assert set(RECORDED) == set(CASES) | {"example"} and len(CASES) == 24
