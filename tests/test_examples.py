"""The docstring examples of the public API run, as ``python -m pytest --doctest-modules MODULE`` would run them."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ("paramcheck", "paramcheck.count", "paramcheck.taxonomy.classify", "paramcheck.checkpoint.check")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name}: no examples found"
    assert result.failed == 0, capsys.readouterr().out
