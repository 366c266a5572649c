"""Network addresses of what the project starts: checked once, used by config and drivers.

Everything streamgmm starts listens on the loopback interface unless a config
says otherwise (``compute.host``, ``compute.dashboard_address``); these helpers
define what such a value may be and turn it into the address to bind.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from ..core.errors import InvalidParameterError

__all__ = ["DEFAULT_HOST", "check_host", "dashboard_listen_address", "is_loopback"]

#: Interface of everything a local cluster listens on, unless told otherwise.
DEFAULT_HOST = "127.0.0.1"

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def check_host(host: str) -> str:
    """``host`` if it is an IP address or a host name (no scheme, no port), else an error.

    Raises
    ------
    InvalidParameterError
        Naming the value and what to give instead.
    """
    text = str(host).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if _HOSTNAME.match(text):
        return text
    raise InvalidParameterError(
        f"host={host!r} is not an IP address or a host name; give e.g. '127.0.0.1' (this "
        "machine only, the default) or '0.0.0.0' (every interface), without scheme or port"
    )


def dashboard_listen_address(host: str, dashboard_address: str | bool | None) -> str | None:
    """The ``HOST:PORT`` a local cluster's dashboard binds to, or None for no dashboard.

    Parameters
    ----------
    host : str
        The cluster's interface (already checked by :func:`check_host`).
    dashboard_address : str, bool or None
        None or True: a free port on ``host``; False: no dashboard; ``":PORT"``:
        that port on ``host``; ``"HOST:PORT"`` as given.
    """
    if dashboard_address is False:
        return None
    if dashboard_address is None or dashboard_address is True:
        address, port = host, "0"
    else:
        address, sep, port = str(dashboard_address).strip().rpartition(":")
        address = address.strip("[]") or host
        if not sep or not port.isdigit() or int(port) > 65535:
            raise InvalidParameterError(
                f"dashboard_address={dashboard_address!r} is not HOST:PORT or :PORT; give e.g. "
                "'127.0.0.1:8787', ':8787' (on the cluster's host) or false (no dashboard)"
            )
        address = check_host(address)
    return f"[{address}]:{int(port)}" if ":" in address else f"{address}:{int(port)}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, or a name resolved here) is this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False
