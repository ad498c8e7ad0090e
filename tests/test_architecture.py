"""The dependency rule and the error-handling rules, checked on the source so nobody has to remember them."""

import ast
import sys
from pathlib import Path

import pytest

from dedup.v1 import dedup_service_pb2
from server.rpc.interceptors import ROLE_BY_DEDUP_RPC
from server.rpc.servicer import DedupServicer
from server.rpc.tokens import Role

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ROOT / "server" / "domain"
FORBIDDEN_IN_DOMAIN = ("grpc", "dedup", "datasketch", "numpy", "xxhash", "server.rpc", "server.adapters", "client")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _python_files(*parts: str) -> list[Path]:
    return sorted(ROOT.joinpath(*parts).rglob("*.py"))


@pytest.mark.parametrize("module", _python_files("server", "domain"), ids=lambda p: p.name)
def test_domain_module_imports_only_the_standard_library_and_the_domain(module: Path) -> None:
    for name in _imports(module):
        top = name.split(".")[0]
        assert not name.startswith(FORBIDDEN_IN_DOMAIN), f"{module.name} imports {name}"
        assert top in sys.stdlib_module_names or name.startswith("server.domain"), f"{module.name} imports {name}"


@pytest.mark.parametrize("module", _python_files("server"), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_composition_root_imports_adapters(module: Path) -> None:
    if module.parent.name == "adapters" or module.name == "app.py":
        return
    assert not any(name.startswith("server.adapters") for name in _imports(module)), module


@pytest.mark.parametrize("module", _python_files("client"), ids=lambda p: p.name)
def test_client_never_imports_the_server(module: Path) -> None:
    assert not any(name.split(".")[0] == "server" for name in _imports(module)), module


@pytest.mark.parametrize("module", _python_files("server") + _python_files("client"), ids=lambda p: p.name)
def test_only_status_module_aborts_rpcs(module: Path) -> None:
    if module == ROOT / "server" / "rpc" / "status.py":
        return
    tree = ast.parse(module.read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "abort"
    ]
    assert not calls, f"{module} calls .abort(); raise a DedupError and let server/rpc/status.py map it"


def test_every_rpc_handler_translates_errors() -> None:
    service = dedup_service_pb2.DESCRIPTOR.services_by_name["DedupService"]
    for method in service.methods:
        handler = getattr(DedupServicer, method.name)
        assert hasattr(handler, "__wrapped__"), f"{method.name} lacks @translate_errors"


def test_every_rpc_has_a_role_and_only_the_writing_ones_need_write() -> None:
    # A new RPC must be placed here on purpose: one that changes the store must not slip in as a read.
    service = dedup_service_pb2.DESCRIPTOR.services_by_name["DedupService"]
    assert set(ROLE_BY_DEDUP_RPC) == {method.name for method in service.methods}
    writers = {rpc for rpc, role in ROLE_BY_DEDUP_RPC.items() if role is Role.WRITE}
    assert writers == {"IngestDocuments", "DeleteDocument"}
