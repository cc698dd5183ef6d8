"""Virtual environments for the anchor frameworks: made once with `python -m venv` + pip.

Each anchor gets `<cache>/bench-venvs/<name>` (`VOXROOM_CACHE_DIR` moves the cache), installed
from the package registry with pip and nothing else, and reused while its requirement is
unchanged. The pip log stays in the venv (`install.log`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from voxroom.config import ModelsConfig

STAMP = "voxroom-anchor.json"
INSTALL_TIMEOUT_S = 1200


class AnchorInstallError(RuntimeError):
    """pip could not install the anchor; the message ends with the tail of its log."""


@dataclass(frozen=True, slots=True)
class Anchor:
    name: str  # key in the report
    requirement: str  # what pip installs
    distribution: str  # whose version is reported
    script: str  # file beside this module, run with the venv's python
    variants: tuple[str, ...]  # the first is the framework's default settings

    @property
    def script_path(self) -> Path:
        return Path(__file__).with_name(self.script)


PIPECAT = Anchor(
    "pipecat", "pipecat-ai>=1,<2", "pipecat-ai", "pipecat_anchor.py", ("default", "lean")
)
LIVEKIT = Anchor(
    "livekit", "livekit-agents>=1,<2", "livekit-agents", "livekit_anchor.py",
    ("default", "no_preemptive"),
)  # fmt: skip
ANCHORS = (PIPECAT, LIVEKIT)


def venv_root() -> Path:
    return ModelsConfig().cache_dir / "bench-venvs"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


@dataclass(frozen=True, slots=True)
class Installed:
    python: Path
    version: str
    install_s: float | None  # how long venv + pip took when it was made
    reused: bool  # made by an earlier run


def ensure_venv(anchor: Anchor, root: Path | None = None, reinstall: bool = False) -> Installed:
    """The anchor's venv, created and installed unless a matching one is already there."""
    venv = (root or venv_root()) / anchor.name
    stamp_path = venv / STAMP
    if not reinstall and venv_python(venv).exists() and stamp_path.exists():
        stamp = json.loads(stamp_path.read_text())
        if stamp.get("requirement") == anchor.requirement:
            return Installed(venv_python(venv), str(stamp["version"]), stamp.get("install_s"), True)
    started = time.monotonic()
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    log_path = venv / "install.log"
    command = [
        str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
        anchor.requirement,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        result = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S
        )
    if result.returncode != 0:
        lines = log_path.read_text(errors="replace").splitlines()
        tail = [line for line in lines if line.startswith("ERROR")] or lines[-15:]
        raise AnchorInstallError(
            f"pip install {anchor.requirement} failed (log: {log_path}):\n" + "\n".join(tail)
        )
    version = subprocess.run(
        [str(venv_python(venv)), "-c",
         f"import importlib.metadata as m; print(m.version({anchor.distribution!r}))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    install_s = round(time.monotonic() - started, 1)
    stamp_path.write_text(
        json.dumps({"requirement": anchor.requirement, "version": version, "install_s": install_s})
    )
    return Installed(venv_python(venv), version, install_s, False)
