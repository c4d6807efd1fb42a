"""What loyalty-engine ships for testing: the storage contract suite and a ledger state machine.

These modules import pytest and Hypothesis, which are test dependencies
(``pip install loyalty-engine[test]``); nothing in the engine imports them.
"""
