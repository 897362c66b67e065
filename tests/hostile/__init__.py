"""The hostile corpus of issue 13: broken and malicious inputs, each with the contract it must meet.

Black-box: every case drives ``paramcheck.cli.main`` (or ``pytest.main`` for the plugin) in a forked child with a
deadline and a memory cap, or ``python -m paramcheck`` in a subprocess; no other part of paramcheck is imported.
Generators and the runner live in ``corpus.py``; one module per surface holds the case tables.
"""
