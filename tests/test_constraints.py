"""constraints.txt pins what a clean checkout installs (scripts/setup, the Dockerfile)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not name==version"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        listed.extend(extra)
    own = canonicalize_name(project["name"])
    return [r for r in map(Requirement, listed) if canonicalize_name(r.name) != own]


def test_every_requirement_is_pinned_at_a_version_it_allows() -> None:
    pins = _pins()
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        if name == "torch":  # scripts/setup installs the CPU wheel, pinned in pyproject
            assert "torch" not in pins
            continue
        assert name in pins, f"{requirement.name} is not in constraints.txt (scripts/lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside {requirement}"
        )


def test_the_installs_use_the_constraints() -> None:
    setup = (ROOT / "scripts" / "setup").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert setup.count("-c constraints.txt") == 3  # torch (both sources) and the project
    assert dockerfile.count("-c constraints.txt") == 3  # the project installs, both stages
    assert "constraints.txt ./" in dockerfile
