"""Hatch build hook: protoc → *_pb2.py, *_pb2_grpc.py (+ .pyi) beside each .proto."""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Final

from grpc_tools import protoc
from hatchling.builders.config import BuilderConfig
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

GENERATED_PATTERNS: Final = ("*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py", "*_pb2_grpc.pyi")
MYPY_PLUGINS: Final = ("protoc-gen-mypy", "protoc-gen-mypy_grpc")


class ProtoBuildHook(BuildHookInterface[BuilderConfig]):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        # An sdist ships the .proto files and this hook, not their output: the wheel built from it regenerates.
        if self.target_name != "wheel":
            return
        proto_root = Path(self.root) / "proto"
        protos = sorted(path.relative_to(proto_root).as_posix() for path in proto_root.rglob("*.proto"))
        # grpc_tools bundles google/protobuf/*.proto, but only its command-line entry point adds them to the path.
        well_known_protos = resources.files("grpc_tools") / "_proto"
        exit_code = protoc.main(
            [
                "protoc",
                f"-I{proto_root}",
                f"-I{well_known_protos}",
                *(f"--plugin={name}={_find_plugin(name)}" for name in MYPY_PLUGINS),
                f"--python_out={proto_root}",
                f"--grpc_python_out={proto_root}",
                f"--mypy_out={proto_root}",
                f"--mypy_grpc_out={proto_root}",
                *protos,
            ]
        )
        if exit_code != 0:
            raise RuntimeError(f"protoc failed with exit code {exit_code}; its messages are printed above")
        # Generated files are git-ignored, so they must be declared to land in the wheel.
        build_data["artifacts"].extend(f"proto/**/{pattern}" for pattern in GENERATED_PATTERNS)

    def clean(self, versions: list[str]) -> None:
        proto_root = Path(self.root) / "proto"
        for pattern in GENERATED_PATTERNS:
            for path in proto_root.rglob(pattern):
                path.unlink()


def _find_plugin(name: str) -> str:
    # protoc finds plugins on PATH, which misses a venv's bin/ when the venv isn't activated
    # (`.venv/bin/hatchling build --hooks-only`), so look beside the running interpreter as well.
    search_path = os.pathsep.join(filter(None, [os.environ.get("PATH"), str(Path(sys.executable).parent)]))
    found = shutil.which(name, path=search_path)
    if found is None:
        raise RuntimeError(f"{name} not found on PATH: install mypy-protobuf==5.1.0 (it is in the dev extra)")
    return found
