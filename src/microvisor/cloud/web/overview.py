"""The overview page: the fleet at a glance and its plots (log lines, connections, crashes per version)."""

from __future__ import annotations

import datetime

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from ..clock import utc_now
from ..models import Deployment, Device
from ..store.deployments import ACTIVE
from . import measures
from .markup import document, facts, join, link, tag
from .plots import Series, figure, time_plot
from .sessions import Visitor
from .guard import console_router

router = console_router()
MINUTE, HOUR = datetime.timedelta(minutes=1), datetime.timedelta(hours=1)
# ?window=: its label, span and bucket (for the connections and crash plots; log lines are the last hour).
WINDOWS = {"1h": ("Last hour", HOUR, MINUTE), "24h": ("Last 24 hours", 24 * HOUR, 30 * MINUTE),
           "7d": ("Last 7 days", 7 * 24 * HOUR, 6 * HOUR)}
DEFAULT_WINDOW = "24h"


def _bucket_words(bucket: datetime.timedelta) -> str:
    minutes = int(bucket.total_seconds() // 60)
    if minutes % 60:
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return "hour" if minutes == 60 else f"{minutes // 60} hours"


@router.get("/overview")
def overview(request: Request, visitor: Visitor) -> Response:
    choice = request.query_params.get("window", DEFAULT_WINDOW)
    if choice not in WINDOWS:
        choice = DEFAULT_WINDOW
    label, span, bucket = WINDOWS[choice]
    now = utc_now()
    last_hour = measures.Window.ending(now, HOUR, MINUTE)
    window = measures.Window.ending(now, span, bucket)
    with request.app.state.service.database.transaction() as session:
        lines = measures.log_lines(session, visitor.account_id, last_hour)
        connected, connections_cut = measures.connected_devices(session, visitor.account_id, window)
        per_version, crashes_cut = measures.crashes_per_version(session, visitor.account_id, window)
        devices, online = session.execute(
            select(func.count(), func.count().filter(Device.connected.is_(True)))
            .where(Device.account_id == visitor.account_id)).one()
        active = session.scalar(select(func.count()).select_from(Deployment)
                                .where(Deployment.account_id == visitor.account_id,
                                       Deployment.status == ACTIVE))
    crash_total = sum(value for one in per_version for _, value in one.points)
    glance = facts([("Devices", devices), ("Online now", online),
                    ("Log lines in the last hour", sum(count for _, count in lines)),
                    (f"Crash reports ({label.lower()})", crash_total), ("Active deployments", active)])
    choices = tag("p", "Connections and crashes: ",
                  [(link(f"/overview?window={key}", words,
                         aria_current="page" if key == choice else None), " ")
                   for key, (words, _, _) in WINDOWS.items()], class_="choices")
    plots = [
        figure(time_plot("Log lines per minute", [Series("log lines", lines)], start=last_hour.start,
                         end=last_hour.end, y_label="lines per minute", kind="bars", bucket=MINUTE,
                         unit="lines"),
               "Log lines stored from all of the account's devices, per minute, over the last hour."),
        figure(time_plot("Connected devices", [Series("connected devices", connected)], start=window.start,
                         end=now, y_label="devices", kind="step", unit="devices",
                         note="from the newest events only" if connections_cut else ""),
               f"How many of the account's devices were connected ({label.lower()})."),
        figure(time_plot("Crash reports per app version", per_version, start=window.start, end=window.end,
                         y_label=f"reports per {_bucket_words(bucket)}", kind="bars", bucket=bucket,
                         unit="reports", note="some counts left out" if crashes_cut else ""),
               f"Crash reports per {_bucket_words(bucket)} ({label.lower()}), one colour per app version."),
    ]
    body = join((tag("section", glance), choices, tag("div", plots, class_="plots")))
    return HTMLResponse(document("Overview", body, page="overview", account_sid=visitor.account_sid,
                                 csrf=visitor.csrf))
