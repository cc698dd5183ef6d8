"""A private network namespace for what runs Janus on this machine (benchmarks, tests), and
the veth Janus runs ICE on inside it.

Janus will not run ICE on a loopback interface, so it gets a veth pair whose end `vxa`
carries 127.0.0.2/32, and the aiortc peers gather candidates on 127.0.0.2. The veth is only
ever created in a private namespace (`unshare -n`): it vanishes with the process, nothing is
added to the machine's own network, and all traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from typing import NoReturn

VETH = "vxa"
VETH_PEER = "vxb"
VETH_ADDRESS = "127.0.0.2"
# Set on the command re-executed under `unshare`: it must find itself in a private namespace.
REEXEC_MARK = "VOXROOM_PRIVATE_NETNS"


class NotPrivateNamespace(RuntimeError):
    """This process's network namespace is (or may be) the machine's own."""


def private_namespace_problem() -> str | None:
    """Why this process's network namespace is not a private one, or None.

    Private means: not the namespace of pid 1, or where that cannot be read (sandboxes deny
    it even to root), not the namespace of the nearest ancestor in another one (`unshare -n`
    leaves the shell that ran it outside; wrappers such as `timeout` in between share ours).
    And the namespace must be empty apart from loopback and our own veth, which a machine's
    real one never is."""
    own = os.readlink("/proc/self/ns/net")
    try:
        if os.readlink("/proc/1/ns/net") == own:
            return "it is the namespace of pid 1"
    except OSError:
        if (problem := _ancestor_problem(own)) is not None:
            return problem
    others = sorted(_interfaces() - {"lo", VETH, VETH_PEER})
    if others:
        return f"the namespace has other interfaces ({', '.join(others)})"
    return None


def _ancestor_problem(own: str) -> str | None:
    pid = os.getpid()
    while pid > 1:
        pid = _parent(pid)
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != own:
                return None  # an ancestor is outside: ours was made below it
        except OSError:
            return "no other namespace could be read to compare with"
    return "no ancestor is in another namespace"


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:  # "pid (comm) state ppid …"; comm may hold spaces
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _interfaces() -> set[str]:
    # Asked of the kernel (netlink): /sys/class/net shows the namespace /sys was mounted in.
    return {name for _, name in socket.if_nameindex()}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def create_veth() -> str:
    """Bring loopback up and add `vxa` (127.0.0.2/32) with its peer `vxb`, once; returns the
    interface Janus should gather on. Refuses (NotPrivateNamespace) outside a private
    namespace: never an interface in the machine's own network."""
    problem = private_namespace_problem()
    if problem is not None:
        raise NotPrivateNamespace(problem)
    if VETH not in _interfaces():
        _ip("link", "set", "lo", "up")
        _ip("link", "add", VETH, "type", "veth", "peer", "name", VETH_PEER)
        _ip("addr", "add", f"{VETH_ADDRESS}/32", "dev", VETH)
        _ip("link", "set", VETH, "up")
        _ip("link", "set", VETH_PEER, "up")
    return VETH


def unshare_command(command: Sequence[str]) -> list[str]:
    """`command` run in a new network namespace: `unshare -n` as root, otherwise in a new
    user namespace too (`unshare -rn`), where this user may add interfaces."""
    flags = "-n" if os.geteuid() == 0 else "-rn"
    return ["unshare", flags, "--", *command]


def reexec_in_private_namespace(command: Sequence[str]) -> NoReturn:
    """Replace this process with `command` run under `unshare` (see `unshare_command`).

    The re-executed command carries REEXEC_MARK: if it still is not in a private namespace,
    `ensure_private_namespace` raises instead of looping."""
    if os.environ.get(REEXEC_MARK):
        raise NotPrivateNamespace(
            f"re-executed under unshare, yet: {private_namespace_problem() or 'unknown'}"
        )
    if shutil.which("unshare") is None:
        raise NotPrivateNamespace("`unshare` (util-linux) is not installed")
    argv = unshare_command(command)
    os.execvpe(argv[0], argv, {**os.environ, REEXEC_MARK: "1"})


def ensure_private_namespace(command: Sequence[str]) -> str:
    """In a private namespace: create the veth and return its name. Elsewhere: re-execute
    `command` (this program, as it was started) in a new one; this call does not return."""
    if private_namespace_problem() is not None:
        reexec_in_private_namespace(command)
    return create_veth()
