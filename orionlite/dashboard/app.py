"""The dashboard's web application: GET routes only, over a read-only storage.

Endpoints are plain functions, which Starlette runs in its thread pool, so a slow read
never blocks the event loop. Pages are rendered on the server by Jinja2 with
autoescaping on; the browser only fetches small JSON documents and server-rendered
fragments for live updates (``static/dashboard.js``).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route

from orionlite.dashboard import figures, views
from orionlite.errors import ConfigError, OrionliteError
from orionlite.objectives import feasible
from orionlite.records import TrialStatus
from orionlite.sampling import BEST_LINES, MAX_FIT, MAX_LINES
from orionlite.storage.browse import MAX_PAGE_SIZE, SORT_COLUMNS, ReadOnlyStorage, TrialQuery

HERE = Path(__file__).parent
# How often pages ask for changes, in milliseconds.
POLL_MS = 2000
# The plots are redrawn at most this often while trials change, and once more after the
# last change (a trailing redraw): each redraw reads every plot's data again.
REDRAW_MS = 10_000
# Tests shorten the redraw interval (milliseconds) to see a live redraw without waiting.
REDRAW_ENV = "ORIONLITE_DASHBOARD_REDRAW_MS"


class BadRequestError(OrionliteError):
    """A request whose query string the dashboard cannot use."""


def plotly_js() -> Path:
    """plotly.js as shipped inside the plotly package: no download, no build step."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class Dashboard:
    """The pages of one database."""

    def __init__(self, storage: ReadOnlyStorage, base_url: str = "") -> None:
        self.storage = storage
        self.base = base_url.rstrip("/")
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.globals.update(
            base=self.base,
            when=views.when,
            seconds=views.seconds,
            number=views.number,
            best_label=views.best_label,
            storage_url=storage.display_url,
            poll_ms=POLL_MS,
            query_string=query_string,
        )
        self.importance_cache = figures.ImportanceCache()
        self.redraw_ms = redraw_ms()

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code)

    def page(self, build: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """A page that shows the database's problem (missing, other schema) instead."""

        def endpoint(request: Request) -> Response:
            try:
                self.storage.check()
                return build(request)
            except OrionliteError as exc:
                status = 400 if isinstance(exc, BadRequestError) else 503
                return self.render(
                    "error.html", status, message=exc.message, hint=exc.hint, retry=status == 503
                )

        return endpoint

    def data(self, build: Callable[[Request], Any]) -> Callable[[Request], Response]:
        """A JSON document for the pages' scripts; errors as ``{"error": ...}``."""

        def endpoint(request: Request) -> Response:
            try:
                self.storage.check()
                return JSONResponse(_finite(build(request)))
            except OrionliteError as exc:
                status = 400 if isinstance(exc, BadRequestError) else 503
                return JSONResponse({"error": exc.message, "hint": exc.hint}, status)

        return endpoint

    # -- experiments ----------------------------------------------------------------------

    def experiments_page(self, request: Request) -> Response:
        _, watermark = self.storage.changed("")
        return self.render(
            "experiments.html",
            rows=views.branch_tree(self.storage.overview()),
            statuses=views.status_names(),
            watermark=watermark,
        )

    def experiments_rows(self, request: Request) -> dict[str, Any]:
        changed, watermark = self.storage.changed(request.query_params.get("since", ""))
        if not changed:
            return {"changed": False, "watermark": watermark}
        rows = views.branch_tree(self.storage.overview())
        html = self.templates.get_template("_experiment_rows.html").render(
            rows=rows, statuses=views.status_names()
        )
        return {"changed": True, "watermark": watermark, "html": html}

    # -- one experiment -------------------------------------------------------------------

    def _experiment(self, request: Request) -> Any:
        record = self.storage.experiment(_int(request.path_params["experiment_id"], "experiment"))
        if record is None:
            raise BadRequestError(
                f"There is no experiment {request.path_params['experiment_id']}.",
                hint="Pick one from the experiments page.",
            )
        return record

    def experiment_page(self, request: Request) -> Response:
        record = self._experiment(request)
        watermark = self.storage.watermark(record.id)  # before the reads: nothing is missed
        query = trial_query(request, views.dimensions(record), views.maximized(record))
        page = self.storage.trials_page(record.id, query)
        best = self.storage.best_trial(record.id, record)
        objectives = views.objectives_of(record)
        config = {
            "experiment": record.id,
            "watermark": watermark,
            "base": self.base,
            "pollMs": POLL_MS,
            "redrawMs": self.redraw_ms,
            "query": str(request.query_params),
            "maximize": views.maximized(record),
            "objectives": objectives.names,
            "pareto": len(objectives.items) in (2, 3),
        }
        return self.render(
            "experiment.html",
            record=record,
            counts=self.storage.counts(record.id),
            best=best,
            page=page,
            dimensions=views.dimensions(record),
            statuses=views.status_names(),
            sort_columns=list(SORT_COLUMNS),
            config=config,
            objectives=objectives,
            direction=objectives.first.direction,
        )

    def trials_fragment(self, request: Request) -> Response:
        try:
            self.storage.check()
            record = self._experiment(request)
            dimensions = views.dimensions(record)
            query = trial_query(request, dimensions, views.maximized(record))
            page = self.storage.trials_page(record.id, query)
        except OrionliteError as exc:
            return PlainTextResponse(exc.message, 400)
        return self.render("_trials_table.html", page=page, dimensions=dimensions, record=record)

    def changes(self, request: Request) -> dict[str, Any]:
        record = self._experiment(request)
        changes = self.storage.changes(record.id, request.query_params.get("since", ""))
        best = None
        if changes.trials or changes.overflow:
            best = self.storage.best_trial(record.id, record)
        return {
            "watermark": changes.watermark,
            "overflow": changes.overflow,
            "counts": changes.counts,
            "best": None if best is None else {"id": best.id, "objective": best.objective},
            "trials": [
                {
                    "id": trial.id,
                    "status": trial.status.value,
                    "objective": trial.objective,
                    "ended_at": trial.ended_at,
                    "feasible": feasible(trial),
                }
                for trial in changes.trials
            ],
        }

    def curve(self, request: Request) -> dict[str, Any]:
        record = self._experiment(request)
        points = self.storage.completion_points(record.id)
        return figures.curve(points, views.maximized(record))

    def pareto(self, request: Request) -> dict[str, Any]:
        record = self._experiment(request)
        objectives = views.objectives_of(record)
        if len(objectives.items) not in (2, 3):
            raise BadRequestError(
                f"A Pareto front needs 2 or 3 objectives; this experiment has "
                f"{len(objectives.items)}."
            )
        return figures.pareto(objectives, self.storage.pareto(record))

    def progress(self, request: Request) -> dict[str, Any]:
        record = self._experiment(request)
        reported = self.storage.progress_trials(record.id)
        return figures.progress_curves(reported, lambda ids: self.storage.progress(record.id, ids))

    def parallel(self, request: Request) -> dict[str, Any]:
        record = self._experiment(request)
        total = self.storage.counts(record.id).get(TrialStatus.COMPLETED.value, 0)
        sample = self.storage.completed_sample(record.id, MAX_LINES, BEST_LINES)
        return figures.parallel(record, sample, total)

    def importance(self, request: Request) -> dict[str, Any]:
        record = self._experiment(request)
        total = self.storage.counts(record.id).get(TrialStatus.COMPLETED.value, 0)
        return self.importance_cache.get(
            record, total, lambda: self.storage.completed_sample(record.id, MAX_FIT, 0)
        )

    # -- one trial ------------------------------------------------------------------------

    def _trial_context(self, request: Request) -> dict[str, Any]:
        trial_id = _int(request.path_params["trial_id"], "trial")
        trial = self.storage.trial(trial_id)
        record = self.storage.experiment(trial.experiment_id) if trial is not None else None
        if trial is None or record is None:
            raise BadRequestError(
                f"There is no trial {trial_id}.", hint="Pick one from an experiment's page."
            )
        folder = views.trial_folder(record, trial)
        points = self.storage.progress(record.id, [trial.id]).get(trial.id, [])
        return {
            "progress": views.progress_rows(points),
            "progress_total": len(points),
            "objective_rows": views.objective_rows(record, trial),
            "constraints": views.constraint_rows(trial),
            "feasible": feasible(trial),
            "trial": trial,
            "record": record,
            "folder": folder,
            "history": views.history(trial),
            "results": views.results_rows(trial),
            "command": views.command_line(record, trial, folder),
            "stdout": views.log_tail(folder / "stdout.log"),
            "stderr": views.log_tail(folder / "stderr.log"),
            "terminal": trial.status.is_terminal,
        }

    def trial_page(self, request: Request) -> Response:
        return self.render("trial.html", **self._trial_context(request))

    def trial_fragment(self, request: Request) -> Response:
        try:
            self.storage.check()
            context = self._trial_context(request)
        except OrionliteError as exc:
            return PlainTextResponse(exc.message, 400)
        return self.render("_trial_body.html", **context)

    # -- assets ---------------------------------------------------------------------------

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript")
        if name not in ("dashboard.js", "dashboard.css"):
            return PlainTextResponse("Not found.", 404)
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(HERE / "static" / name, media_type=kind)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.page(self.experiments_page)),
            Route("/api/experiments", self.data(self.experiments_rows)),
            Route("/experiments/{experiment_id}", self.page(self.experiment_page)),
            Route("/experiments/{experiment_id}/trials", self.trials_fragment),
            Route("/api/experiments/{experiment_id}/changes", self.data(self.changes)),
            Route("/api/experiments/{experiment_id}/curve", self.data(self.curve)),
            Route("/api/experiments/{experiment_id}/parallel", self.data(self.parallel)),
            Route("/api/experiments/{experiment_id}/importance", self.data(self.importance)),
            Route("/api/experiments/{experiment_id}/pareto", self.data(self.pareto)),
            Route("/api/experiments/{experiment_id}/progress", self.data(self.progress)),
            Route("/trials/{trial_id}", self.page(self.trial_page)),
            Route("/trials/{trial_id}/body", self.trial_fragment),
            Route("/static/{name}", self.static),
        ]


def create_app(storage_url: str | None, base_url: str = "") -> Starlette:
    """The ASGI application; every route answers GET (and HEAD) only."""
    dashboard = Dashboard(ReadOnlyStorage(storage_url), base_url)
    routes = dashboard.routes()
    if dashboard.base:
        prefix = dashboard.base

        def to_prefix(request: Request) -> Response:
            return RedirectResponse(prefix + "/")

        routes = [Mount(prefix, routes=routes), Route("/", to_prefix)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        dashboard.storage.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = dashboard
    return app


def redraw_ms() -> int:
    """The plots' redraw interval: REDRAW_MS, or the whole number of milliseconds in
    $ORIONLITE_DASHBOARD_REDRAW_MS."""
    text = os.environ.get(REDRAW_ENV, "").strip()
    if not text:
        return REDRAW_MS
    if not text.isdigit() or int(text) < 100:
        raise ConfigError(
            f"{REDRAW_ENV}={text!r} is not a number of milliseconds of at least 100.",
            hint=f"Unset it to redraw the plots every {REDRAW_MS // 1000} s, or set e.g. 500.",
        )
    return int(text)


def trial_query(
    request: Request, dimensions: list[tuple[str, bool]], maximize: bool = False
) -> TrialQuery:
    """The trials table's filters, order and page from the query string."""
    params = request.query_params
    numeric = dict(dimensions)
    statuses = tuple(s for s in params.getlist("status") if s)
    sort = params.get("sort", "id")
    if sort not in SORT_COLUMNS and not (sort.startswith("param:") and sort[6:] in numeric):
        raise BadRequestError(
            f"Cannot sort trials by {sort!r}.",
            hint="Sort by " + ", ".join([*SORT_COLUMNS, *(f"param:{n}" for n in numeric)]) + ".",
        )
    param = params.get("param") or None
    low, high = _float(params.get("low")), _float(params.get("high"))
    if param is not None and not numeric.get(param, False):
        raise BadRequestError(
            f"Cannot filter by a range of {param!r}: it is not a numeric dimension.",
            hint="Numeric dimensions: " + ", ".join(n for n, num in dimensions if num) + ".",
        )
    per_page = min(MAX_PAGE_SIZE, max(1, _int(params.get("per_page", "50"), "per_page")))
    return TrialQuery(
        statuses=statuses,
        text=params.get("q", "")[:200],
        param=param,
        low=low,
        high=high,
        sort=sort,
        sort_numeric=numeric.get(sort[6:], True) if sort.startswith("param:") else True,
        descending=params.get("desc", "") in ("1", "true", "on"),
        maximize=maximize,
        page=max(1, _int(params.get("page", "1"), "page")),
        per_page=per_page,
    )


def query_string(query: TrialQuery, page: int) -> str:
    """The query string of ``query`` at another page."""
    pairs: list[tuple[str, Any]] = [("status", status) for status in query.statuses]
    pairs += [("q", query.text), ("param", query.param or "")]
    pairs += [("low", "" if query.low is None else query.low)]
    pairs += [("high", "" if query.high is None else query.high)]
    pairs += [("sort", query.sort), ("desc", "1" if query.descending else "")]
    pairs += [("per_page", query.per_page), ("page", page)]
    return urlencode([(key, value) for key, value in pairs if value != ""])


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequestError(f"{what} must be a whole number, not {text!r}.") from None


def _float(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequestError(f"{text!r} is not a number.", hint="Use e.g. 0.5 or 1e-3.") from None
    if not math.isfinite(value):
        raise BadRequestError(f"{text!r} is not a finite number.")
    return value


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
