"""What loyalty-engine ships for testing: the storage contract suite, a ledger state machine,
Hypothesis strategies and a clock a test can move (:mod:`loyalty.testing.clock`).

These modules import pytest and Hypothesis, which are test dependencies
(``pip install loyalty-engine[test]``); nothing in the engine imports them.
"""
