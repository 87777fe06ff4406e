"""Check results as exit codes (the Nagios convention cron wrappers and monitors understand)."""

from __future__ import annotations

from dataclasses import dataclass, field

OK, WARNING, CRITICAL = 0, 1, 2
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}


def level_name(level: int) -> str:
    return NAMES.get(level, "UNKNOWN")


@dataclass(frozen=True)
class Issue:
    level: int  # WARNING or CRITICAL
    text: str


@dataclass
class Findings:
    """Issues found by a check; its exit code is the worst of them."""

    issues: list[Issue] = field(default_factory=list)

    def warn(self, text: str) -> None:
        self.issues.append(Issue(WARNING, text))

    def critical(self, text: str) -> None:
        self.issues.append(Issue(CRITICAL, text))

    @property
    def level(self) -> int:
        return max((i.level for i in self.issues), default=OK)
