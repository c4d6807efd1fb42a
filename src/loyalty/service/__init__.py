"""Use cases: each reads a snapshot through the port, asks the domain for a decision and writes it once.

One module per use case (see docs/architecture.md); :class:`loyalty.Engine`
is the façade that hands every public method to one of them.
"""
