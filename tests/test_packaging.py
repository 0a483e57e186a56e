"""The project's metadata builds without setuptools' deprecation warnings, with its licence as an SPDX expression
(PEP 639): the table form (``license = {text = ...}``) warns on every install and is refused from February 2027."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BUILD_METADATA = """
import sys, warnings
from setuptools import build_meta
from setuptools.warnings import SetuptoolsDeprecationWarning
warnings.simplefilter("error", SetuptoolsDeprecationWarning)
print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))
"""


def test_the_licence_is_an_spdx_expression_and_the_build_backend_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]  # the first to read an SPDX expression


def test_building_the_metadata_raises_no_deprecation_warning(tmp_path):
    built = subprocess.run(
        [sys.executable, "-c", BUILD_METADATA, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert built.returncode == 0, built.stderr[-2000:]
    assert "deprecated" not in built.stderr.lower(), built.stderr[-2000:]
    metadata = (tmp_path / built.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in metadata
