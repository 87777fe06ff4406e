"""``monitoring/dashboard.py``: serve the dashboard with gunicorn (one worker, a few threads).

One worker keeps the login sessions valid with a per-process secret and the
thumbnail cache in one place; threads serve the browser's parallel requests.
Binding to anything but loopback without a login or API key is refused unless
``FASHION_DASHBOARD_ALLOW_OPEN=true``: the review queue moves files.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import sys

from ..config import Config

EPILOG = """\
examples:
  python monitoring/dashboard.py                      # http://localhost:8050
  python monitoring/dashboard.py --host 0.0.0.0 --port 8080   # needs a login or API keys
  python monitoring/dashboard.py --hash-password sarah >> config/dashboard_users
Settings: FASHION_DASHBOARD_HOST, FASHION_DASHBOARD_PORT, FASHION_DASHBOARD_USERS_FILE,
FASHION_DASHBOARD_API_KEYS, FASHION_DASHBOARD_SECRET_KEY, FASHION_DASHBOARD_REFRESH_SECONDS.
See docs/MONITORING.md.
"""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parser(config: Config) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dashboard.py", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Monitoring dashboard and review queue (web page).")
    p.add_argument("--host", default=config.dashboard_host,
                   help=f"address to listen on (default: {config.dashboard_host})")
    p.add_argument("--port", type=int, default=config.dashboard_port,
                   help=f"port (default: FASHION_DASHBOARD_PORT or {config.dashboard_port})")
    p.add_argument("--hash-password", metavar="NAME",
                   help="print a users-file line for NAME (asks for the password) and exit")
    from ..monitoring.common import add_location_args

    add_location_args(p)
    return p


def hash_password_line(name: str, password: str) -> str:
    from werkzeug.security import generate_password_hash

    if ":" in name or not name.strip():
        raise ValueError("a user name must be non-empty and without ':'")
    return f"{name.strip()}:{generate_password_hash(password)}"


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    config = config or Config.from_env()
    args = parser(config).parse_args(argv)
    if args.hash_password:
        password = getpass.getpass(f"password for {args.hash_password}: ") if sys.stdin.isatty() \
            else sys.stdin.readline().rstrip("\n")
        print(hash_password_line(args.hash_password, password))
        return 0
    from ..monitoring.common import located
    from .auth import Auth

    config = located(config, args)
    if not Auth(config).enabled and not is_loopback(args.host) and not config.dashboard_allow_open:
        print(f"dashboard: refusing to serve {args.host} without a login: set FASHION_DASHBOARD_USERS_FILE"
              " or FASHION_DASHBOARD_API_KEYS (or FASHION_DASHBOARD_ALLOW_OPEN=true)", file=sys.stderr)
        return 2
    shown = "localhost" if is_loopback(args.host) else args.host
    print(f"dashboard: http://{shown}:{args.port}/", flush=True)
    serve(config, args.host, args.port)
    return 0


def serve(config: Config, host: str, port: int) -> None:
    """gunicorn in this process; the app (and its database connection) is made in the worker."""
    from gunicorn.app.base import BaseApplication

    from .factory import create_app

    settings = {"bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "workers": 1,
                "threads": 8, "worker_class": "gthread", "timeout": 120, "graceful_timeout": 10,
                "accesslog": None, "errorlog": "-", "loglevel": "warning", "proc_name": "fashion-dashboard",
                "control_socket_disable": True}  # no control socket under $HOME: nothing uses it

    class Server(BaseApplication):
        def load_config(self):
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app(config)

    Server().run()
