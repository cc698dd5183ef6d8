"""voxroom.ids: ids a command line can take as an argument."""

from __future__ import annotations

import secrets

import pytest

from voxroom import ids


def test_an_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["-0ZI9rjA9AeNccmo", "_x", "q0ZI9rjA9AeNccmo"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes: next(drawn))
    assert ids.new_id(12) == "_x"


def test_ids_are_random_and_url_safe() -> None:
    made = {ids.new_id(12) for _ in range(2000)}
    assert len(made) == 2000
    assert all(len(i) == 16 and not i.startswith("-") for i in made)
