"""The core: the graph IR (nodes, graphs, symbolic shapes), the op library, operator
overloading on nodes, printing and safe file input/output.  Imports nothing above it."""
