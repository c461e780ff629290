"""Package metadata: the licence is an SPDX string with its file, so setuptools (>= 77) reads it
without the deprecation warning that the old `license = { text = ... }` table gave on every install."""

from __future__ import annotations

import shutil
import tomllib
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _setuptools_warnings(project_dir: Path) -> list[str]:
    """Warnings setuptools gives while applying `project_dir`/pyproject.toml, as pip's build does."""
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = Distribution({"src_root": str(project_dir)})
        apply_configuration(dist, project_dir / "pyproject.toml")
    return [str(w.message) for w in caught]


def test_licence_is_an_spdx_string_with_its_file() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    files = project["project"]["license-files"]
    assert files and all((REPO / f).is_file() for f in files)
    assert "Apache License" in (REPO / "LICENSE").read_text()[:200]
    assert "setuptools>=77" in project["build-system"]["requires"]  # the first to read SPDX strings


def test_setuptools_reads_the_licence_without_a_deprecation_warning(tmp_path: Path, monkeypatch) -> None:
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    assert not [w for w in _setuptools_warnings(tmp_path) if "license" in w.lower()]
    # and the check does see the old form's warning
    old = (
        (tmp_path / "pyproject.toml").read_text().replace('license = "Apache-2.0"', 'license = { text = "Apache-2.0" }')
    )
    (tmp_path / "pyproject.toml").write_text(old.replace('license-files = ["LICENSE"]\n', ""))
    assert [w for w in _setuptools_warnings(tmp_path) if "license" in w.lower()]
