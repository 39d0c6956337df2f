"""The package's layers, read from its source: imports run one way only
(down the table below, so there is no cycle), and numba's compile options
are set in one place.

Every module of ``fastmargin`` must appear in ``LAYERS``; a module may
import only modules of lower layers. Imports inside functions count.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fastmargin"

# From the top: tools, integrations (fastmargin.torch, .dask), the public API,
# routing, the host and GPU halves of a call, target forms, checks and
# runtime helpers, kernels, kernel options.
LAYERS = [
    {"fastmargin.__main__"},
    {"fastmargin.cli"},
    {"fastmargin.cli.parser"},
    {"fastmargin.cli.bench", "fastmargin.cli.precompile"},
    {"fastmargin.cli.info"},
    {"fastmargin.cli.report"},
    {"fastmargin.torch"},
    {"fastmargin.torch.modules"},
    {"fastmargin.torch.functional"},
    {"fastmargin.torch.ops"},
    {"fastmargin.dask"},
    {"fastmargin.dask.adaptive"},
    {"fastmargin.dask.losses"},
    {"fastmargin.dask.chunks"},
    {"fastmargin"},
    {"fastmargin.cli.timing", "fastmargin._precompile"},
    {"fastmargin.losses", "fastmargin.adaptive", "fastmargin.converters"},
    {"fastmargin._dispatch"},
    {"fastmargin._host", "fastmargin.gpu.host"},
    {"fastmargin.gpu.arrays"},
    {"fastmargin._targets"},
    {"fastmargin._labels", "fastmargin._buffers"},
    {"fastmargin._checks", "fastmargin._threads", "fastmargin._docs", "fastmargin.gpu"},
    {"fastmargin.gpu.ranking", "fastmargin.gpu.hinge"},
    {"fastmargin.gpu.ranking_row"},
    {"fastmargin.kernels.ranking", "fastmargin.kernels.hinge", "fastmargin.gpu.common"},
    {"fastmargin.kernels.ranking_counts", "fastmargin.kernels.ranking_rows"},
    {"fastmargin.kernels.ranking_terms", "fastmargin.kernels.labels"},
    {"fastmargin.kernels.sorting"},
    {"fastmargin.kernels.options", "fastmargin.kernels"},
]
LAYER = {module: depth for depth, layer in enumerate(LAYERS) for module in layer}


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name, path):
    """The fastmargin modules that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {module for module in found if module.split(".")[0] == "fastmargin"}


def test_every_module_has_a_layer():
    assert sorted(set(MODULES) - set(LAYER)) == []
    assert sorted(set(LAYER) - set(MODULES)) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_only_lower_layers(name):
    upward = sorted(
        module
        for module in imported_modules(name, MODULES[name])
        if module != name and LAYER[module] <= LAYER[name]
    )
    assert upward == [], f"{name} imports its own layer or one above it"


def test_the_checks_import_nothing_else_of_fastmargin():
    assert imported_modules("fastmargin._checks", MODULES["fastmargin._checks"]) == set()


def test_numba_and_its_options_are_reached_through_the_options_module():
    """No ``njit``/``jit``/``cuda.jit`` outside ``kernels/options.py``, and
    every ``fastmath=`` elsewhere names one of its constants."""
    options_path = MODULES["fastmargin.kernels.options"]
    constants = {
        target.id
        for node in ast.parse(options_path.read_text()).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id.isupper()
    }
    offences = []
    for name, path in MODULES.items():
        if path == options_path:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Name, ast.Attribute)):
                word = node.id if isinstance(node, ast.Name) else node.attr
                if word in ("njit", "jit", "vectorize", "guvectorize"):
                    offences.append(f"{name}:{node.lineno} uses {word}")
            if isinstance(node, ast.keyword) and node.arg == "fastmath":
                if not (isinstance(node.value, ast.Name) and node.value.id in constants):
                    offences.append(f"{name}:{node.value.lineno} sets fastmath itself")
    assert offences == []
