"""Settings from a TOML file and the environment (pydantic-settings), validated as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxroom.config import ConfigError, VoxroomConfig


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("VOXROOM_") and ("__" in key or key == "VOXROOM_CONFIG"):
            monkeypatch.delenv(key)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "voxroom.toml"
    path.write_text(text)
    return path


def test_the_file_sets_and_the_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[server]\nport = 9000\nmax_sessions = 3\n[fleet]\n'
                 'redis_url = "redis://10.1.2.3:6379/1"\n[rooms]\n'
                 'janus = "ws://127.0.0.1:8188, ws://127.0.0.1:8189"\n')  # fmt: skip
    monkeypatch.setenv("VOXROOM_SERVER__PORT", "9100")
    monkeypatch.setenv("VOXROOM_TRANSPORT__ICE_ADDRESSES", "127.0.0.1,127.0.0.2")
    config = VoxroomConfig.from_env(path)
    assert (config.server.port, config.server.max_sessions) == (9100, 3)
    assert config.fleet.redis_url == "redis://10.1.2.3:6379/1"
    assert config.rooms.janus_urls == ["ws://127.0.0.1:8188", "ws://127.0.0.1:8189"]
    assert config.transport.ice_addresses == ["127.0.0.1", "127.0.0.2"]


def test_voxroom_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXROOM_CONFIG", str(write(tmp_path, "[fleet]\ncapacity = 4\n")))
    assert VoxroomConfig.from_env().fleet.capacity == 4


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[server]\nmax_sesions = 3\n", ["[server] max_sesions", "not a setting", "MAX_SESSIONS"]),
        ("[sevrer]\nport = 1\n", ["is not a setting", "SERVER"]),
        ('[server]\nport = "x"\n', ["[server] port in", "integer"]),
        ("[fleet]\nclaim_idle_ms = 10\n", ["[fleet] claim_idle_ms", "200"]),
        ("[server\nport = 1\n", ["cannot be read"]),
    ],
)
def test_mistakes_in_the_file_are_named(tmp_path: Path, text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        VoxroomConfig.from_env(write(tmp_path, text))
    for word in words:
        assert word in str(raised.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        VoxroomConfig.from_env(tmp_path / "nope.toml")
