"""The e2e suite uses the shared fixtures of tests/conftest.py (make_sandbox, sb)."""
