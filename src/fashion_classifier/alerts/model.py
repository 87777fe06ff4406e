"""An alert and how it reads in an e-mail and in Slack (the spec's examples, 6.5.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")
CHANNELS = ("email", "slack")
# the spec's routing (6.5.1 and 3.2.3): who hears about what
DEFAULT_CHANNELS = {"CRITICAL": ("email", "slack"), "ERROR": ("email", "slack"),
                    "WARNING": ("slack",), "INFO": ("slack",)}
EMOJI = {"CRITICAL": "🔴", "ERROR": "🟠", "WARNING": "🟡", "INFO": "🟢"}
SYSTEM = "Fashion Classification System"
HEAVY_RULE = "━" * 40


@dataclass(frozen=True)
class Alert:
    severity: str
    subject: str  # short title: "High Error Rate"
    message: str  # what happened, in a sentence or two
    source: str = "batch"
    details: tuple[tuple[str, str], ...] = ()  # ("Total processed", "247"), ...
    details_title: str = "Details"
    actions: tuple[str, ...] = ()
    channels: tuple[str, ...] | None = None  # None: DEFAULT_CHANNELS[severity]
    timestamp: datetime = field(default_factory=lambda: datetime.now().replace(microsecond=0))

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")
        unknown = set(self.channels or ()) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown alert channels: {sorted(unknown)}")

    @property
    def routes(self) -> tuple[str, ...]:
        return self.channels if self.channels is not None else DEFAULT_CHANNELS[self.severity]

    def email_subject(self) -> str:
        return f"[{self.severity}] Fashion Classifier - {self.subject}"

    def plain_text(self) -> str:
        """The stored message: sentence, details and actions."""
        lines = [self.message]
        if self.details:
            lines += ["", f"{self.details_title}:"] + [f"- {k}: {v}" for k, v in self.details]
        if self.actions:
            lines += ["", "Recommended Actions:"] + [f"{i}. {a}" for i, a in enumerate(self.actions, 1)]
        return "\n".join(lines)

    def email_body(self) -> str:
        return "\n".join([
            HEAVY_RULE, self.subject, HEAVY_RULE, "",
            f"Severity: {self.severity}", f"Time: {self.timestamp:%Y-%m-%d %H:%M:%S}", "",
            HEAVY_RULE, "", self.plain_text(), "", HEAVY_RULE,
            f"This is an automated alert from {SYSTEM}", ""])

    def slack_text(self) -> str:
        lines = [f"{EMOJI[self.severity]} {self.severity}: Fashion Classifier Alert", f"*{self.subject}*",
                 self.message]
        lines += [f"{k}: {v}" for k, v in self.details]
        if self.actions:
            lines.append("Recommended: " + "; ".join(self.actions))
        lines += [SYSTEM, f"{self.timestamp:%Y-%m-%d %H:%M}"]
        return "\n".join(lines)
