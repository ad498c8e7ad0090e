"""The reference scorer, shared/tools/score_provenance.py: loading it from beside the checkout, comparing with it."""

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

Json = dict[str, Any]


def load_reference_scorer(path: Path) -> ModuleType | None:
    """Return the scorer module at `path`, or None when the file is not there (a checkout on its own)."""
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("score_provenance", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def skip_reason(path: Path) -> str:
    return f"the reference scorer is not at {path}; it sits beside the checkout, in shared/tools/"


def reference_figures(scorer: ModuleType | None, truth: Sequence[Json], predictions: Sequence[Json]) -> Json:
    assert scorer is not None
    figures: Json = scorer.score(list(truth), list(predictions))
    return figures


def assert_same_figures(own: Mapping[str, object], reference: Mapping[str, object]) -> None:
    """Every figure of the reference is in `own`, with no others; floats equal to rounding, the rest exactly."""
    assert own.keys() == reference.keys()
    for key, value in reference.items():
        if isinstance(value, float):
            assert own[key] == pytest.approx(value, abs=1e-12), key
        else:
            assert own[key] == value, key
