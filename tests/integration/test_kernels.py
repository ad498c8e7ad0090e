"""numba's kernels compiled apart, by a process of their own, and the marker that records they are cached."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from server.adapters.kernels import KERNEL_MODULES, compile_apart_unless_cached, kernels_marker


def test_kernels_not_marked_as_cached_are_compiled_apart_and_then_marked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="server.adapters.kernels"):
        assert compile_apart_unless_cached(128, 1, cache_directory=tmp_path)

    assert "compiled numba's kernels into its cache" in caplog.text
    # The marker is written once the processes have compiled (or loaded) every kernel.
    (marker,) = tmp_path.glob("dedup-kernels-*.cached")
    assert marker == kernels_marker(tmp_path, [Path(module.__file__ or "") for module in KERNEL_MODULES])

    assert not compile_apart_unless_cached(128, 1, cache_directory=tmp_path)


def test_the_marker_names_the_kernels_sources_as_they_are_now(tmp_path: Path) -> None:
    source = tmp_path / "kernel.py"
    source.write_text("SCALE = 1\n")
    before = kernels_marker(tmp_path, [source])
    assert kernels_marker(tmp_path, [source]) == before

    # numba stamps a cached kernel with its source's modification time and size, and compiles it again when they change.
    source.write_text("SCALE = 10\n")

    assert kernels_marker(tmp_path, [source]) != before
    assert kernels_marker(tmp_path, [source]).parent == tmp_path
