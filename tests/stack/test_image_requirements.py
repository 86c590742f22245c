"""Each image installs exactly what uv.lock resolves: its requirements.txt is a fresh export."""

from __future__ import annotations

import re

import pytest

from stack import image_requirements
from stack.settings import REPO_ROOT


@pytest.mark.parametrize("image", sorted(image_requirements.IMAGES))
def test_requirements_are_the_lock_exported(image: str) -> None:
    committed = image_requirements.path(image).read_text()
    assert committed == image_requirements.export(image), (
        f"{image}/requirements.txt drifted from uv.lock: run `make requirements` and commit it")


@pytest.mark.parametrize("image", sorted(image_requirements.IMAGES))
def test_image_installs_only_the_hashed_lock(image: str) -> None:
    dockerfile = (REPO_ROOT / image / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^\n]*", dockerfile)
    assert installs, f"{image}/Dockerfile installs nothing"
    for line in installs:
        assert "--require-hashes" in line and "--no-deps" in line and "requirements.txt" in line, line


def test_a_drifted_file_is_named(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    drifted = tmp_path / "requirements.txt"
    drifted.write_text(image_requirements.export("mlflow").replace("mlflow==3.17.2", "mlflow==3.17.1"))
    real_path = image_requirements.path
    monkeypatch.setattr(image_requirements, "path",
                        lambda image: drifted if image == "mlflow" else real_path(image))
    assert image_requirements.main(["--check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "mlflow/requirements.txt differs from uv.lock: run `make requirements`"]
