"""Every translation catalogue compiles cleanly and its committed .mo is the compiled .po.

A catalogue that msgfmt refuses (a plural entry with the wrong number of forms, a format string whose
placeholders differ from the English) breaks `make messages` for the next person; a .po edited without
recompiling means the page shows English although the translation is in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "communa"
CATALOGUES = sorted(ROOT.glob("**/locale/*/LC_MESSAGES/django.po"))


def test_there_are_catalogues_for_every_language() -> None:
    assert {path.parts[-3] for path in CATALOGUES} >= {"it", "es", "ru"}


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda path: str(path.relative_to(ROOT)))
def test_catalogue_compiles_and_matches_its_mo(po: Path, tmp_path: Path) -> None:
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "msgfmt (Debian package gettext) is needed to check the catalogues"
    compiled = tmp_path / "django.mo"
    result = subprocess.run(
        [msgfmt, "--check", "-o", str(compiled), str(po)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert compiled.read_bytes() == po.with_suffix(".mo").read_bytes(), f"recompile: msgfmt -o django.mo {po.name}"
