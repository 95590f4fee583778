"""The application layer: the ``graphrnn`` command line, the demo and the catalog of
built-in recurrences."""
