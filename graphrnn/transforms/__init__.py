"""Graph-to-graph transforms: reverse-mode differentiation and the optimization passes
(rewrite rules as data, and the global passes).  Builds on the core."""
