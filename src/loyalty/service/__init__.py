"""Use cases: each reads a snapshot through the port, asks the domain for a decision and writes it once."""
