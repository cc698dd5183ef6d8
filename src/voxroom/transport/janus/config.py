"""The Janus that voxroom runs: where it is installed, and the config folder written for it.

Janus is never run from /etc/janus: `write_config` writes a minimal folder of its own (the
process points `configs_folder` at it) that loads one plugin (VideoRoom), one transport
(WebSockets on 127.0.0.1, no admin API), no loggers and, unless a webhook is asked for, no
event handlers. Renaming or deleting a module's config file does not stop Janus from loading
the module, so every other module in the installation is named in a `disable` list.

Janus will not run ICE on a loopback interface, so `ice_enforce_list` names a real one: the
laptop's LAN interface in development, a veth carrying 127.0.0.2 in the tests' namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from voxroom.transport.janus.errors import JanusNotInstalled, NoInterfaceError

INSTALL_HINT = "the Debian package janus is not installed: apt install janus"
VIDEOROOM_MODULE = "libjanus_videoroom.so"
WEBSOCKETS_MODULE = "libjanus_websockets.so"
SAMPLEEVH_MODULE = "libjanus_sampleevh.so"
# Event types the webhook receives (`media` would add per-second stats for every handle).
WEBHOOK_EVENTS = "sessions,handles,jsep,webrtc,plugins,transports,core"
# Janus refuses to write recordings or captures under these (its packaged defaults).
PROTECTED_FOLDERS = ["/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin",
                     "/sys", "/usr", "/var"]  # fmt: skip

JcfgValue = str | int | bool | list[str]
Jcfg = dict[str, dict[str, JcfgValue]]


@dataclass(frozen=True)
class JanusOptions:
    """How voxroom runs its Janus. Secrets are optional: without `api_secret` anyone who can
    reach 127.0.0.1:`ws_port` may use the API; without `admin_key` anyone may create rooms."""

    ws_port: int = 8188
    # UDP ports for ICE/RTP; one per PeerConnection with bundle and rtcp-mux.
    rtp_port_range: tuple[int, int] = (20000, 20199)
    # Interfaces (or address prefixes) Janus gathers candidates on; None: `pick_interface()`.
    ice_enforce_list: str | None = None
    api_secret: str | None = None  # every Janus API request but `info` must carry it
    admin_key: str | None = None  # VideoRoom: needed to create rooms and RTP forwarders
    # POST Janus's events (joins, leaves, webrtcup, ...) to this URL (the sampleevh handler).
    event_webhook: str | None = None
    executable: str = "janus"
    # Holds plugins/, transports/, events/, loggers/; None: found next to the executable.
    lib_dir: Path | None = None
    debug_level: int = 4  # Janus's 0-7; 4 logs warnings, errors and its start-up
    session_timeout_s: int = 60  # a session with no request for this long is destroyed
    start_timeout_s: float = 10.0  # from spawning to an answered `info`
    stop_timeout_s: float = 5.0  # SIGTERM → exit; then SIGKILL
    restart_backoff_s: float = 0.5  # first wait before a restart, doubled per quick crash
    restart_backoff_max_s: float = 10.0
    # Running this long counts as stable: the next crash restarts after the first wait again.
    stable_after_s: float = 30.0


@dataclass(frozen=True)
class JanusInstallation:
    executable: Path
    lib_dir: Path

    @classmethod
    def find(cls, executable: str = "janus", lib_dir: Path | None = None) -> JanusInstallation:
        """Locate the binary and its module folders; `JanusNotInstalled` says what is missing."""
        found = shutil.which(executable)
        if found is None:
            raise JanusNotInstalled(f"{INSTALL_HINT} (no executable {executable!r} found)")
        binary = Path(found).resolve()
        libs = lib_dir or _find_lib_dir(binary)
        if libs is None:
            raise JanusNotInstalled(
                f"{INSTALL_HINT} ({binary} is there, but no {VIDEOROOM_MODULE} was found "
                f"under {binary.parent.parent}/lib*/**/janus/plugins)"
            )
        for folder, module in (("plugins", VIDEOROOM_MODULE), ("transports", WEBSOCKETS_MODULE)):
            if not (libs / folder / module).is_file():
                raise JanusNotInstalled(f"{INSTALL_HINT} (missing {libs / folder / module})")
        return cls(binary, libs)

    def modules(self, kind: str) -> list[str]:
        """The module files Janus would load from `kind` (plugins, transports, events,
        loggers): it loads every `*.so` in the folder, so these are what `disable` must name."""
        folder = self.lib_dir / kind
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.name.endswith(".so"))


def _find_lib_dir(binary: Path) -> Path | None:
    prefix = binary.parent.parent  # /usr/bin/janus → /usr
    candidates = [
        *sorted(prefix.glob("lib/*/janus")),  # Debian's multiarch folder
        prefix / "lib" / "janus",
        prefix / "lib64" / "janus",
    ]
    for candidate in candidates:
        if (candidate / "plugins" / VIDEOROOM_MODULE).is_file():
            return candidate
    return None


def pick_interface() -> str:
    """The first interface that is up, not loopback, and has an IPv4 address."""
    stats = psutil.net_if_stats()
    for name, addresses in psutil.net_if_addrs().items():
        stat = stats.get(name)
        flags = getattr(stat, "flags", "loopback" if name == "lo" else "")  # psutil < 5.9.3
        if stat is None or not stat.isup or "loopback" in flags.split(","):
            continue
        if any(a.family == socket.AF_INET for a in addresses):
            return name
    raise NoInterfaceError(
        "no network interface is up with an IPv4 address besides loopback, and Janus cannot "
        "run ICE on loopback: connect one, or name one in JanusOptions.ice_enforce_list"
    )


def check_enforce_list(enforce_list: str) -> None:
    """Fail early if an entry of `enforce_list` (interface names or address prefixes, as
    Janus reads it) matches nothing here: Janus would start, gather no candidate, and only
    fail when someone publishes ("Error gathering candidates", error 490)."""
    interfaces = psutil.net_if_addrs()
    addresses = [a.address for entries in interfaces.values() for a in entries]
    for entry in filter(None, (e.strip() for e in enforce_list.split(","))):
        if not any(n.startswith(entry) for n in interfaces) and not any(
            a.startswith(entry) for a in addresses
        ):
            raise NoInterfaceError(
                f"ice_enforce_list {entry!r} matches no interface or address here "
                f"(interfaces: {', '.join(sorted(interfaces))})"
            )


def render_jcfg(config: Jcfg) -> str:
    """Janus's libconfig syntax: `section: { key = value }`."""
    lines: list[str] = []
    for section, settings in config.items():
        lines.append(f"{section}: {{")
        for key, value in settings.items():
            lines.append(f"\t{key} = {_render_value(value)}")
        lines.append("}")
    return "\n".join(lines) + "\n"


def _render_value(value: JcfgValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_render_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)  # libconfig escapes \" and \\ the same way


def build_config(
    folder: Path,
    options: JanusOptions,
    installation: JanusInstallation,
    interface: str,
    server_name: str = "voxroom",
) -> dict[str, Jcfg]:
    """Every config file of the folder, by file name. `server_name` is what `info` answers."""
    low, high = options.rtp_port_range
    general: dict[str, JcfgValue] = {
        "configs_folder": str(folder),
        "plugins_folder": str(installation.lib_dir / "plugins"),
        "transports_folder": str(installation.lib_dir / "transports"),
        "events_folder": str(installation.lib_dir / "events"),
        "loggers_folder": str(installation.lib_dir / "loggers"),
        "log_to_stdout": True,  # the process captures stdout (crash output included)
        "debug_level": options.debug_level,
        "debug_timestamps": True,
        "debug_colors": False,
        "server_name": server_name,
        "session_timeout": options.session_timeout_s,
        "protected_folders": PROTECTED_FOLDERS,
    }
    if options.api_secret is not None:
        general["api_secret"] = options.api_secret
    webhook = options.event_webhook is not None
    keep_events = [SAMPLEEVH_MODULE] if webhook else []
    files: dict[str, Jcfg] = {
        "janus.jcfg": {
            "general": general,
            "certificates": {},  # none: Janus generates its own DTLS certificate
            "media": {"rtp_port_range": f"{low}-{high}"},
            "nat": {"nice_debug": False, "ice_enforce_list": interface},
            "plugins": {"disable": _disable(installation.modules("plugins"), VIDEOROOM_MODULE)},
            "transports": {
                "disable": _disable(installation.modules("transports"), WEBSOCKETS_MODULE)
            },
            "loggers": {"disable": _disable(installation.modules("loggers"))},
            "events": {
                "broadcast": webhook,
                "disable": _disable(installation.modules("events"), *keep_events),
            },
        },
        "janus.transport.websockets.jcfg": {
            "general": {
                "json": "compact",
                "ws": True,
                "ws_port": options.ws_port,
                "ws_ip": "127.0.0.1",
                "wss": False,
            },
            "admin": {"admin_ws": False, "admin_wss": False},
        },
        "janus.plugin.videoroom.jcfg": {"general": _videoroom_general(options, webhook)},
    }
    if options.event_webhook is not None:
        files["janus.eventhandler.sampleevh.jcfg"] = {
            "general": {
                "enabled": True,
                "events": WEBHOOK_EVENTS,
                "grouping": True,
                "json": "compact",
                "backend": options.event_webhook,
            }
        }
    return files


def _videoroom_general(options: JanusOptions, events: bool) -> dict[str, JcfgValue]:
    general: dict[str, JcfgValue] = {"events": events}
    if options.admin_key is not None:
        general["admin_key"] = options.admin_key
        general["lock_rtp_forward"] = True  # forwarding media out is as sensitive as rooms
    return general


def _disable(modules: list[str], *keep: str) -> str:
    # A comma-separated string; Janus matches each module's file name against it.
    return ",".join(m for m in modules if m not in keep)


def write_config(
    folder: Path,
    options: JanusOptions,
    installation: JanusInstallation,
    interface: str,
    server_name: str = "voxroom",
) -> Path:
    """Write the config folder (files readable by this user only: they hold secrets) and
    return the path of its janus.jcfg."""
    folder.mkdir(parents=True, exist_ok=True)
    files = build_config(folder, options, installation, interface, server_name)
    for name, config in files.items():
        path = folder / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(render_jcfg(config))
    return folder / "janus.jcfg"
