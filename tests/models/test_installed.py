"""tests/models/installed.py: corpus programs imported from installed packages, torch mapped."""

from __future__ import annotations

import builtins
import sys
import types

import pytest
from installed import ProgramNotInstalled, _fresh_modules, _torch_imported_by, load_program


def test_a_missing_package_names_the_install_command():
    with pytest.raises(ProgramNotInstalled, match=r"pip install --no-deps no-such-dist==1\.0"):
        load_program(builtins.__import__, "no-such-dist", "1.0", "no_such_dist")


def test_torch_imports_go_through_the_given_function(tmp_path, monkeypatch):
    (tmp_path / "h8_prog.py").write_text("import torch.nn as nn\nimport json\nNN = nn\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    stand_in = types.SimpleNamespace(nn="the mapped nn")
    seen = []

    def import_torch(name, globals=None, locals=None, fromlist=(), level=0):
        seen.append(name)
        return stand_in

    real_import = builtins.__import__
    with _fresh_modules("h8_prog"), _torch_imported_by(import_torch):
        import h8_prog
        assert h8_prog.NN == "the mapped nn" and h8_prog.json is sys.modules["json"]
    assert seen == ["torch.nn"]
    assert "h8_prog" not in sys.modules  # the next load runs the file again
    assert builtins.__import__ is real_import
