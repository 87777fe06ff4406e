"""The spec's double-line status boxes for the terminal."""

from __future__ import annotations

import textwrap

WIDTH = 58  # inner width of the spec's box


def box(title: str, sections: list[list[str]], width: int = WIDTH) -> str:
    """A title, then sections separated by rules; long lines wrap inside the box."""
    lines = ["╔" + "═" * width + "╗", "║" + title.center(width) + "║"]
    for section in sections:
        lines.append("╠" + "═" * width + "╣")
        for text in section:
            for part in textwrap.wrap(text, width - 4, subsequent_indent="    ") or [""]:
                lines.append("║  " + part.ljust(width - 2) + "║")
    lines.append("╚" + "═" * width + "╝")
    return "\n".join(lines)


def table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    """A plain aligned text table; columns in ``right`` are right-aligned (numbers)."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]

    def line(values) -> str:
        cells = [str(v).rjust(w) if i in right else str(v).ljust(w)
                 for i, (v, w) in enumerate(zip(values, widths, strict=True))]
        return "  ".join(cells).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])
