"""``python -m fashion_classifier.models``: the versions, the one in service, promote, roll back.

  list             every version: date, data, test and out-of-scope figures; * marks the one in service
  show V           one version's model card facts
  promote V        gate V against the version in service, replay recent nights, switch if not worse
  rollback         back to the version that was in service before the current one

The API picks up a switch without a restart; every switch is recorded in the history
database (model_events) and shown on the dashboard.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from contextlib import closing

from ..config import load_config
from ..history import HistoryDB
from .gate import compare_cards, corrections_accuracy, figure
from .store import ModelStore, StoreError

HOLDOUT_CSV = "corrections_holdout.csv"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def cmd_list(store: ModelStore, args) -> int:
    current = store.current().name
    print(
        f"{'':2}{'version':<34}{'created':<21}{'data':<10}{'test acc':>9}{'macro-F1':>9}"
        f"{'held-out Other':>15}{'held-out auto':>14}"
    )
    for v in store.versions():
        card = v.card
        print(
            f"{'*' if v.name == current else ' ':2}{v.name:<34}{card.get('created', '-')[:19]:<21}"
            f"{str((card.get('data') or {}).get('data_hash') or '-')[:8]:<10}"
            f"{_pct(figure(card, ('metrics', 'accuracy'))):>9}"
            f"{_pct(figure(card, ('metrics', 'macro_f1'))):>9}"
            f"{_pct(figure(card, ('metrics', 'open_world', 'fixed', 'held_out_types', 'called_other'))):>15}"
            f"{_pct(figure(card, ('metrics', 'open_world', 'fixed', 'held_out_types', 'auto_approved'))):>14}"
        )
    return 0


def cmd_show(store: ModelStore, args) -> int:
    version = store.get(args.version)
    card = version.card
    facts = {
        k: card.get(k)
        for k in ("version", "created", "architecture", "labels", "temperature", "test_time_augmentation")
    }
    facts["folder"] = str(version.folder)
    facts["data"] = card.get("data", {}).get("data_hash")
    facts["metrics"] = {k: v for k, v in (card.get("metrics") or {}).items() if k != "per_class"}
    facts["training"] = {k: v for k, v in (card.get("training") or {}).items() if k != "history"}
    print(json.dumps(facts, indent=2))
    return 0


def cmd_promote(store: ModelStore, args, config) -> int:
    from ..model import Predictor
    from .replay import replay

    current, candidate = store.current(), store.get(args.version)
    if current.name == candidate.name:
        print(f"{candidate.name} is already in service")
        return 0
    gate = compare_cards(current.card, candidate.card, args.tolerance)
    holdout = candidate.folder / HOLDOUT_CSV
    if holdout.is_file():
        old = Predictor.from_config(config, version=current.name, warmup=False)
        new = Predictor.from_config(config, version=candidate.name, warmup=False)
        from .gate import Check

        gate.checks.append(
            Check(
                "held-back clerk corrections",
                corrections_accuracy(old, holdout),
                corrections_accuracy(new, holdout),
                True,
                args.tolerance,
            )
        )
    print(
        f"gate: {current.name} (in service) -> {candidate.name}, tolerance {100 * args.tolerance:.2f} points"
    )
    print(gate.report())
    with closing(HistoryDB(config.path("history_db"))) as db:
        replayed = replay(
            db, Predictor.from_config(config, version=candidate.name, warmup=False), args.replay_runs
        )
        print(replayed.report())
        if not gate.passed and not args.force:
            print(
                f"refused: {candidate.name} is worse than {current.name} beyond the tolerance "
                "(--force to promote anyway; it is recorded)"
            )
            return 1
        store.switch(candidate.name)
        db.record_model_event(
            "promote",
            args.actor,
            current.name,
            candidate.name,
            forced=not gate.passed,
            metrics={"gate": gate.as_dict(), "replay": replayed.as_dict()},
        )
    print(
        f"promoted {candidate.name}{' (forced past the gate)' if not gate.passed else ''}; "
        "the API switches to it within seconds, no restart needed"
    )
    return 0


def cmd_rollback(store: ModelStore, args, config) -> int:
    current = store.current().name
    with closing(HistoryDB(config.path("history_db"))) as db:
        events = [e for e in db.model_events(200) if e["to_version"] == current]
        if not events or not events[0]["from_version"]:
            print(f"nothing to roll back to: no recorded switch to {current}")
            return 1
        previous = events[0]["from_version"]
        store.switch(previous)
        db.record_model_event("rollback", args.actor, current, previous)
    print(f"rolled back from {current} to {previous}; the API switches within seconds")
    return 0


def main(argv=None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(
        prog="python -m fashion_classifier.models",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument(
        "--actor", default=getpass.getuser(), help="who is switching (recorded; default: you)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every version and its figures")
    show = sub.add_parser("show", help="one version's card")
    show.add_argument("version")
    promote = sub.add_parser("promote", help="gate, replay, switch")
    promote.add_argument("version")
    promote.add_argument(
        "--tolerance",
        type=float,
        default=0.005,
        help="how much worse any figure may be, as a fraction (default: %(default)s = 0.5 points)",
    )
    promote.add_argument("--force", action="store_true", help="promote even if the gate refuses (recorded)")
    promote.add_argument(
        "--replay-runs", type=int, default=7, help="recent nights to replay (default: %(default)s)"
    )
    sub.add_parser("rollback", help="back to the version in service before this one")
    args = parser.parse_args(argv)
    store = ModelStore.of(config)
    try:
        if args.command == "list":
            return cmd_list(store, args)
        if args.command == "show":
            return cmd_show(store, args)
        if args.command == "promote":
            return cmd_promote(store, args, config)
        return cmd_rollback(store, args, config)
    except StoreError as exc:
        print(f"models: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
