"""A checkout's name for :mod:`nasjax.launch` (the wheel installs ``nasjax`` only).

``launch.<name>`` is the very module ``nasjax.launch.<name>`` (one module object under two
names, so patching either patches both), and ``python -m launch.<name>`` runs
``nasjax/launch/<name>.py``: the commands of the README work from a checkout as written.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import runpy
import sys
from pathlib import Path
from types import CodeType, ModuleType

TARGET = "nasjax.launch"  # the package that `launch` names


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``launch.X`` as the module ``nasjax.launch.X``, imported once under its own name."""

    def __init__(self) -> None:
        self._own_specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        """A spec of ``launch.X`` with the origin of ``nasjax/launch/X.py``; None for other
        names."""
        del path, target
        if not fullname.startswith(__name__ + "."):
            return None
        real = importlib.util.find_spec(TARGET + fullname[len(__name__):])
        return None if real is None else importlib.util.spec_from_loader(
            fullname, self, origin=real.origin)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """The module ``nasjax.launch.X`` itself (imported now if it was not)."""
        module = importlib.import_module(TARGET + spec.name[len(__name__):])
        self._own_specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (the module ran under its own name); it gets back its own spec, which
        the import system replaced by the alias's."""
        module.__spec__ = self._own_specs.pop(module.__name__)

    def get_code(self, fullname: str) -> CodeType:
        """The code of ``nasjax/launch/X.py``, for ``python -m launch.X`` (runpy)."""
        real = importlib.util.find_spec(TARGET + fullname[len(__name__):])
        return real.loader.get_code(real.name)


if sys.argv[:1] == ["-m"]:  # `python -m launch.<name>`: the start-up signal handling of
    # nasjax/launch/__init__.py, read from its file before nasjax imports JAX (seconds)
    _FILE = Path(importlib.util.find_spec("nasjax").origin).parent / "launch" / "__init__.py"
    runpy.run_path(str(_FILE))["stop_while_starting"]()
sys.meta_path.insert(0, _Alias())
