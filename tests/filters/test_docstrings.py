"""The docstring examples of convzoo.filters and nn.summary run as doctests."""
import doctest
import importlib

import pytest

MODULES = ["convzoo.filters.blurs", "convzoo.filters.catalog", "convzoo.filters.correlation", "convzoo.filters.edges",
           "convzoo.filters.enhancement", "convzoo.filters.separability", "convzoo.nn.summary"]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
