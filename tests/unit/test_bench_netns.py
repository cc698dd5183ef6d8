"""bench/netns.py: the veth is only ever made in a private namespace; re-executing under
unshare happens once."""

from __future__ import annotations

import os

import pytest

from voxroom.bench import netns


def test_no_interface_is_made_outside_a_private_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, ...]] = []
    monkeypatch.setattr(netns, "private_namespace_problem", lambda: "it is the namespace of pid 1")
    monkeypatch.setattr(netns, "_ip", lambda *args: made.append(args))
    with pytest.raises(netns.NotPrivateNamespace, match="pid 1"):
        netns.create_veth()
    assert made == []


def test_the_veth_is_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, ...]] = []
    interfaces = {"lo"}
    monkeypatch.setattr(netns, "private_namespace_problem", lambda: None)
    monkeypatch.setattr(netns, "_interfaces", lambda: set(interfaces))
    monkeypatch.setattr(netns, "_ip", lambda *args: made.append(args))
    assert netns.create_veth() == "vxa"
    assert ("addr", "add", "127.0.0.2/32", "dev", "vxa") in made
    interfaces.add("vxa")
    made.clear()
    netns.create_veth()
    assert made == []


@pytest.mark.parametrize(("uid", "flags"), [(0, "-n"), (1000, "-rn")])
def test_unshare_makes_a_user_namespace_too_when_not_root(
    monkeypatch: pytest.MonkeyPatch, uid: int, flags: str
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    assert netns.unshare_command(["python", "-m", "voxroom"]) == [
        "unshare",
        flags,
        "--",
        "python",
        "-m",
        "voxroom",
    ]


def test_a_re_executed_command_does_not_re_execute_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(netns.REEXEC_MARK, "1")
    monkeypatch.setattr(netns, "private_namespace_problem", lambda: "no ancestor is elsewhere")
    monkeypatch.setattr(os, "execvpe", lambda *a: pytest.fail("exec'd again"))
    with pytest.raises(netns.NotPrivateNamespace, match="re-executed"):
        netns.ensure_private_namespace(["true"])
