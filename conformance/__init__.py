"""BFCL conformance tooling shared by the tests and the benchmarks (not shipped with the product):
BFCL's own checker as an oracle (``bfcl_oracle``) and the call-list mutations put to it
(``mutations``). A package of its own so that ``benchmarks/`` need not import from ``tests/``."""
