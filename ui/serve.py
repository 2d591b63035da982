"""Starting `webcoach ui`: pick the port, print the one line with the URL (token included), open the browser, serve."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import replace

from webcoach.errors import ConfigError
from webcoach.ui.app import UIOptions, make_app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(options: UIOptions, *, open_browser: bool = True, on_url: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C. Port 0 picks a free one."""
    import uvicorn

    if options.port == 0:
        try:
            options = replace(options, port=free_port(options.host))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {options.host}: {exc.strerror or exc} (pass --host 127.0.0.1)") from exc
    else:
        try:  # say a taken port in one line, before uvicorn logs its own traceback
            family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((options.host, options.port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {options.host}:{options.port} ({exc.strerror or exc}): pass another --port, or --port 0"
            ) from exc
    on_url(options.url)
    if open_browser:
        import webbrowser

        webbrowser.open(options.url)
    uvicorn.run(make_app(options), host=options.host, port=options.port, log_level="warning", access_log=False)
