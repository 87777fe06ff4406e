"""Entry scripts run in the project's virtual environment, however they are started.

``python src/batch_processor.py`` typed on a fresh machine runs the system's
Python, which lacks Pillow, NumPy, Flask... After ``make run`` the project has a
``.venv`` with all of them: ``use_project_venv`` re-executes the script with that
environment's Python (same arguments, same working folder). Without one it says
what to do and exits 2. Standard library only: this runs before anything else.

``FASHION_VENV`` names another environment; ``FASHION_NO_VENV_REEXEC=1`` turns the
re-execution off (an environment managed some other way, e.g. a container).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # <root>/src/fashion_classifier/entry.py
NEEDED = ("numpy", "PIL", "flask", "requests")  # what every entry script imports
EXIT_CANNOT_START = 2


def project_venv() -> Path:
    return Path(os.environ.get("FASHION_VENV") or ROOT / ".venv")


def _inside(venv: Path) -> bool:
    try:
        return Path(sys.prefix).resolve() == venv.resolve()
    except OSError:
        return False


def use_project_venv(script: str) -> None:
    """Re-exec ``script`` in the project's environment if this Python is another one; return if
    this one is it (or has what the script needs); exit 2 with advice when neither."""
    venv = project_venv()
    python = venv / "bin" / "python"
    reexec_off = os.environ.get("FASHION_NO_VENV_REEXEC", "").strip().lower() in ("1", "true", "yes")
    if not reexec_off and not _inside(venv) and python.is_file() and not os.environ.get("_FASHION_REEXEC"):
        os.environ["_FASHION_REEXEC"] = "1"  # one hop at most, whatever that Python turns out to be
        os.execv(str(python), [str(python), str(Path(script).resolve()), *sys.argv[1:]])
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        print(f"{Path(script).name}: this Python ({sys.executable}) lacks {', '.join(missing)}, and there is "
              f"no project environment at {venv}.\n"
              f"Run 'make run' once in {ROOT} (it creates .venv; this command then uses it by itself), "
              "or install requirements.txt into this Python, or set FASHION_VENV to an environment that "
              "has it.", file=sys.stderr)
        sys.exit(EXIT_CANNOT_START)
