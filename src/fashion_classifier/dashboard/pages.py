"""The pages: the dashboard, its refreshed overview fragment, the review queue."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, render_template, request

from ..alerts import no_channel_notice
from ..labels import OTHER, category_names, folder_names
from ..model import TIER_TITLES
from .data import RANGES, overview
from .panels import charts

bp = Blueprint("pages", __name__)


def _days() -> int:
    try:
        days = int(request.args.get("days", RANGES[1]))
    except ValueError:
        days = RANGES[1]
    return days if days in RANGES else RANGES[1]


def _overview_context() -> dict:
    config, db = current_app.config["FASHION"], current_app.extensions["dashboard_db"]
    o = overview(config, db, _days())
    return {"o": o, "charts": charts(o, config), "config": config, "tier_titles": TIER_TITLES,
            "alert_notice": no_channel_notice(config)}


@bp.get("/")
def index():
    return render_template("dashboard.html", ranges=RANGES, **_overview_context())


@bp.get("/fragment/overview")
def overview_fragment():
    return render_template("_overview.html", **_overview_context())


@bp.get("/review")
def review():
    config = current_app.config["FASHION"]
    return render_template("review.html", categories=folder_names(category_names(config)), other=OTHER,
                           user=g.get("user"), config=config)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
