"""The API application, and the development server: ``python api/app.py [--host H] [--port P] [--debug]``.

``api.app:app`` is the reference system's name for the WSGI application, so its start command
``gunicorn api.app:app`` and its tests' ``from api.app import app`` work. The application is
built on first access of ``app`` (not at import), so running this file as the development
server loads the model once, and ``--help`` does not load it at all.

Production runs gunicorn with our settings (``make run``: ``api/gunicorn.conf.py``).
Address from ``FASHION_API_HOST`` (default 127.0.0.1), port from ``PORT`` (default 5000).
Runs itself in the project's .venv when started with another Python (``fashion_classifier.entry``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import fashion_classifier  # noqa: F401
except ImportError:  # running from a checkout without ``pip install -e .``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fashion_classifier.entry import use_project_venv  # noqa: E402

if __name__ == "__main__":
    use_project_venv(__file__)

from fashion_classifier.api import create_app  # noqa: E402
from fashion_classifier.config import Config  # noqa: E402


def __getattr__(name: str):
    """``app``: the application from the environment's config, built once (PEP 562)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    application = create_app()
    globals()["app"] = application  # later look-ups find it without calling this again
    return application


def main(argv: list[str] | None = None) -> int:
    config = Config.from_env()
    parser = argparse.ArgumentParser(description="Run the classifier API on Flask's development server.")
    parser.add_argument("--host", default=config.api_host,
                        help=f"address to bind (default: $FASHION_API_HOST or {config.api_host})")
    parser.add_argument("--port", type=int, default=config.port, help="port (default: $PORT or 5000)")
    parser.add_argument("--debug", action="store_true", help="Flask debug mode (never in production)")
    args = parser.parse_args(argv)
    app = create_app(config)
    app.run(host=args.host, port=args.port, debug=args.debug, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
