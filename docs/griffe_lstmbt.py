"""griffe extension: find lstmbt.features, lstmbt.models and lstmbt.strategies for mkdocstrings.

The three domain folders sit at the repository's top level but install as sub-packages of
lstmbt (setuptools `package-dir` in pyproject.toml). griffe reads sources statically and looks
for them under lstmbt/, where they are not; this extension visits each mapped folder and
attaches it to the lstmbt package under its installed name, so `::: lstmbt.features.X` works
and the re-exports inside them resolve. The mapping is read from pyproject.toml, not repeated.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parent.parent


def mapped_subpackages() -> dict[str, Path]:
    """{'features': ROOT/'features', ...}: lstmbt's sub-packages that live outside lstmbt/."""
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = doc["tool"]["setuptools"]["package-dir"]
    return {
        name.removeprefix("lstmbt."): ROOT / folder
        for name, folder in mapping.items()
        if name.startswith("lstmbt.") and "." not in name.removeprefix("lstmbt.")
    }


class MappedSubpackages(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        if pkg.path != "lstmbt":
            return
        for name, folder in mapped_subpackages().items():
            if name not in pkg.members:
                pkg.set_member(name, _visit_package(name, folder, pkg, loader))

    def on_module(self, *, mod: griffe.Module, **kwargs) -> None:
        # after every extension's on_package, so the dataclasses extension has built __init__
        if mod.path == "lstmbt":
            _option_defaults(mod["config"]["RunConfig"])


def _option_defaults(cls: griffe.Class) -> None:
    """RunConfig's fields are `option(default, help, ...)` calls: show the default in the
    signature (the help text is the option table's, linked from the page)."""
    init = cls.members.get("__init__")
    for param in init.parameters if init is not None else ():
        default = param.default
        if isinstance(default, griffe.ExprCall) and str(default.function) == "option":
            param.default = default.arguments[0]


def _visit(name: str, path: Path, parent: griffe.Module, loader: griffe.GriffeLoader):
    code = path.read_text(encoding="utf-8")
    loader.lines_collection[path] = code.splitlines(keepends=False)
    return griffe.visit(
        name,
        filepath=path,
        code=code,
        extensions=loader.extensions,
        parent=parent,
        docstring_parser=loader.docstring_parser,
        docstring_options=loader.docstring_options,
        lines_collection=loader.lines_collection,
        modules_collection=loader.modules_collection,
    )


def _visit_package(name: str, folder: Path, parent: griffe.Module, loader: griffe.GriffeLoader):
    package = _visit(name, folder / "__init__.py", parent, loader)
    for path in sorted(folder.iterdir()):
        if path.suffix == ".py" and path.name != "__init__.py":
            package.set_member(path.stem, _visit(path.stem, path, package, loader))
        elif path.is_dir() and (path / "__init__.py").is_file():
            package.set_member(path.name, _visit_package(path.name, path, package, loader))
    return package
