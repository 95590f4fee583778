"""The front end: a model declared as a symbolic recurrence, and its unrolling into an
explicit graph.  Builds on :mod:`graphrnn.core` only."""
