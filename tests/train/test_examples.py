"""The docstring examples of optim, data, models and train run as written (doctest)."""
import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("optim", "data", "models", "train")
MODULES = sorted(f"convzoo.{p}.{m.name}" for p in PACKAGES
                 for m in pkgutil.iter_modules(importlib.import_module(f"convzoo.{p}").__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_package_has_examples():
    counts = {p: sum(doctest.testmod(importlib.import_module(m)).attempted for m in MODULES if m.startswith(f"convzoo.{p}."))
              for p in PACKAGES}
    assert all(counts.values()), counts
