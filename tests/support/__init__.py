"""Helpers shared by tests of several packages (imported as `support.<module>`: tests/ is on sys.path)."""
