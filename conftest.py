"""Repository wiring only: the audits' plugin is ``paramcheck.pytest_plugin`` (also registered by entry point)."""

pytest_plugins = ["paramcheck.pytest_plugin"]
