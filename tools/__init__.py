"""Developer tooling run by the Makefile and the tests (not part of the deployed stack)."""
