"""The package layout: ir/, passes/, runtime/ install inside tracejit, and nothing is missed."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import tracejit
import tracejit.ir
import tracejit.passes
import tracejit.runtime

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"tracejit": "tracejit", "tracejit.ir": "ir", "tracejit.passes": "passes",
          "tracejit.runtime": "runtime"}


def _config():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _packages_on_disk():
    """Every folder with an __init__.py under the mapped folders, as its installed name."""
    found = set()
    for package, folder in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join((package, *rel.parts)) if rel.parts else package)
    return found


def test_every_package_folder_is_listed_in_pyproject():
    # A subpackage missing from `packages` vanishes from the wheel while an editable install
    # still finds it; this catches it before a user does.
    missing = _packages_on_disk() - set(_config()["packages"])
    assert not missing, f"add these to [tool.setuptools] packages: {sorted(missing)}"


def test_package_dir_maps_the_card_layout():
    assert _config()["package-dir"] == MAPPED


def test_no_shadowing_folders_inside_tracejit():
    for sub in ("ir", "passes", "runtime"):
        assert not (ROOT / "tracejit" / sub).exists(), f"tracejit/{sub} shadows the mapping"


def test_tests_import_the_real_package():
    assert tracejit.__file__ is not None, "a tests/tracejit folder shadows the package"
    assert Path(tracejit.__file__).parent.name == "tracejit"
    assert not (ROOT / "tests" / "tracejit").exists()


def test_subpackages_import_as_tracejit_subpackages():
    assert Path(tracejit.ir.__file__).parent.name == "ir"
    assert tracejit.ir.__name__ == "tracejit.ir"
    assert tracejit.passes.__name__ == "tracejit.passes"
    assert tracejit.runtime.__name__ == "tracejit.runtime"


def test_uninstalled_checkout_says_how_to_install(tmp_path):
    # Only the tracejit/ folder on the path, no site-packages: what an uninstalled clone sees.
    (tmp_path / "tracejit").symlink_to(ROOT / "tracejit")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-S", "-c", "import tracejit"], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0
    assert "ImportError: tracejit is not installed" in proc.stderr
    assert "python -m pip install -e ." in proc.stderr
