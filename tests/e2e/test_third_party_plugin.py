"""A plugin package built and installed from outside the repository is found and used.

These tests pip-install real distributions (not editable) into the running environment
and uninstall them afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from snn_core.testing.contracts import tiny_network

PACKAGES = Path(__file__).parents[1] / "plugins"


def pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True,
        capture_output=True,
        text=True,
    )


def snn(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SNN_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "snn_core.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Iterator[None]:
    """Build wheels of the demo and the broken plugin packages and install them."""
    wheels = tmp_path_factory.mktemp("wheels")
    for name in ("snn-demo-plugins", "snn-broken-plugin"):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(wheels),
                str(PACKAGES / name),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    pip("install", "--no-deps", "--force-reinstall", *map(str, wheels.glob("*.whl")))
    yield
    pip("uninstall", "-y", "snn-demo-plugins", "snn-broken-plugin")


def rows(result: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    assert result.returncode == 0, result.stderr
    return {r["name"]: r for r in json.loads(result.stdout)}


def test_installed_plugin_is_listed(installed) -> None:
    listed = rows(snn("plugins", "list", "--json"))
    assert listed["demo_numpy"]["distribution"] == "snn-demo-plugins"
    assert listed["demo_numpy"]["version"] == "1.2.3"
    assert listed["demo_numpy"]["status"] == "ok"
    assert listed["demo_numpy"]["module"] == "snn_demo_plugins.hooks"
    assert (
        "site-packages"
        in subprocess.run(
            [sys.executable, "-c", "import snn_demo_plugins; print(snn_demo_plugins.__file__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    ), "the demo package must be a real install, not the source tree"


def test_broken_plugin_is_listed_with_its_error_and_harms_nothing(installed) -> None:
    listed = rows(snn("plugins", "list", "--json"))
    broken = listed["broken_sim"]
    assert broken["status"] == "broken"
    assert "snn_no_such_library_xyz" in broken["error"]
    assert broken["distribution"] == "snn-broken-plugin"
    assert listed["demo_rate"]["status"] == "ok"
    table = snn("plugins", "list")
    assert table.returncode == 0 and "broken: ModuleNotFoundError" in table.stdout


def test_load_and_disable_select_plugins(installed) -> None:
    only = rows(snn("plugins", "list", "--json", env={"SNN_LOAD_PLUGINS": "demo"}))
    assert {r["distribution"] for r in only.values()} == {"snn-demo-plugins"}
    without = rows(snn("plugins", "list", "--json", env={"SNN_DISABLE_PLUGINS": "demo,broken_sim"}))
    assert "demo_numpy" not in without and "broken_sim" not in without


def experiment(tmp_path: Path, simulator: str) -> Path:
    tiny_network().save(tmp_path / "tiny.h5")
    path = tmp_path / f"{simulator}.toml"
    path.write_text(
        f"""
[model]
path = "tiny.h5"
[dataset]
reader = "demo_blobs"
[stages]
normalize = false
[code]
name = "demo_rate"
[simulator]
name = "{simulator}"
[simulation]
duration = 25
batch_size = 20
[output]
dir = "runs/{simulator}"
"""
    )
    return path


def test_snn_run_uses_the_installed_plugin(installed, tmp_path) -> None:
    result = snn("run", str(experiment(tmp_path, "demo_numpy")))
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "runs" / "demo_numpy" / "results.json").read_text())
    assert saved["plugins"]["snn-demo-plugins"] == "1.2.3"
    assert saved["snn"]["top1"][-1] > 0.9


def test_running_the_broken_plugin_names_its_import_error(installed, tmp_path) -> None:
    result = snn("run", str(experiment(tmp_path, "broken_sim")))
    assert result.returncode == 2
    assert "snn-broken-plugin 0.0.1, which is installed but failed to load" in result.stderr
    assert "snn_no_such_library_xyz" in result.stderr
    assert "Traceback" not in result.stderr
