"""The docstring examples of the layers and functional ops run as doctests."""
import doctest
import importlib

import pytest

MODULES = ["convzoo.nn.init", "convzoo.nn.layers.activation", "convzoo.nn.layers.conv", "convzoo.nn.layers.linear",
           "convzoo.nn.layers.loss", "convzoo.nn.layers.normalization", "convzoo.nn.layers.pooling",
           "convzoo.nn.layers.separable", "convzoo.nn.functional.activation", "convzoo.nn.functional.linear",
           "convzoo.nn.functional.loss", "convzoo.nn.functional.normalization", "convzoo.nn.functional.padding",
           "convzoo.nn.functional.pooling", "convzoo.nn.functional.regularization"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no docstring example"
