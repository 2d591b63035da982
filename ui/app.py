"""The `webcoach ui` web app: Starlette routes over the library calls the CLI uses, rendered with Jinja2 (autoescape on).

Security, because it runs beside the user's browser and shows text web pages wrote:
- every request needs the per-launch token: in the printed URL once (then swapped for an HttpOnly, SameSite=Strict
  cookie and redirected away, as Jupyter does), else refused with 403;
- the Host header must name the address it was bound to (a DNS-rebinding page cannot borrow the cookie's origin);
- every write is a POST to one route (`Pages.act`) carrying the per-launch CSRF token of the form it came from, and a
  cross-origin Origin is refused;
- every string from memory is escaped by the templates; the Content-Security-Policy allows no script at all and no
  asset from anywhere (there are none: the CSS is inline), so the app works offline.

The embedded store is opened for each request and closed after it (as the MCP server does), so an agent, `ingest` or
`watch` can use it while the UI idles.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from webcoach.condenser.guard import clean
from webcoach.errors import NamespaceNotFoundError, WebcoachError
from webcoach.memory.store import EpisodeStore
from webcoach.ui.data import lesson_author, site_summaries

COOKIE = "webcoach_ui"
PAGE = 50
SCAN_BUDGET = 5000  # episodes one Episodes page may read when a filter matches rarely (~0.7 s here), then "keep looking"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


@dataclass(frozen=True, kw_only=True)
class UIOptions:
    home: Path | None = None
    namespace: str | None = None
    chroma_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8755
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"


_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["clean"] = lambda v: clean(str(v)) if v is not None else ""
_env.filters["when"] = lambda d: d.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if isinstance(d, datetime) else "-"


class _Guard(BaseHTTPMiddleware):
    def __init__(self, app: Any, options: UIOptions) -> None:
        super().__init__(app)
        self.o = options
        self.hosts = {f"{h}:{options.port}" for h in ("127.0.0.1", "localhost", "[::1]", options.host)}

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.headers.get("host", "") not in self.hosts:
            return _refuse("this address is not the one webcoach ui was started on")
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given, self.o.token):
                return _refuse("wrong token: open the URL that `webcoach ui` printed")
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            response: Response = RedirectResponse(request.url.path + (f"?{urlencode(rest)}" if rest else ""), 303)
            response.set_cookie(COOKIE, self.o.token, httponly=True, samesite="strict", path="/")
            return _secured(response)
        if not hmac.compare_digest(request.cookies.get(COOKIE, ""), self.o.token):
            return _refuse("no token: open the URL that `webcoach ui` printed (it holds a token for this launch)")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin is not None and f"{urlsplit(origin).netloc}" not in self.hosts:
                return _refuse("a write from another site was refused")
            # The form's CSRF token is checked by the one route that writes (Pages.act): a form read here would not
            # reach it (the body is consumed).
        return _secured(await call_next(request))


def _secured(response: Response) -> Response:
    response.headers["content-security-policy"] = CSP
    response.headers["x-content-type-options"] = "nosniff"
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on form posts, which the check refuses
    response.headers["referrer-policy"] = "same-origin"
    response.headers["cache-control"] = "no-store"
    return response


def _refuse(why: str) -> Response:
    return _secured(HTMLResponse(_env.get_template("refused.html").render(why=why), status_code=403))


class Pages:
    def __init__(self, options: UIOptions) -> None:
        self.o = options
        self._io = threading.Lock()  # one store at a time: the embedded store is one process's, opened per request
        # The Sites view reads every episode (~1.4 s at 20k here): kept while the count holds and nothing was written here.
        self._sites: tuple[int, list[Any]] | None = None

    @contextmanager
    def store(self) -> Iterator[EpisodeStore]:
        o = self.o
        with self._io, EpisodeStore(home=o.home, namespace=o.namespace, url=o.chroma_url, create=False) as store:
            yield store

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = _env.get_template(name).render(
            csrf=self.o.csrf, path=request.url.path, namespace=self.o.namespace or "default", **context
        )
        return HTMLResponse(html, status_code=status)

    def failed(self, request: Request, exc: WebcoachError) -> HTMLResponse:
        if isinstance(exc, NamespaceNotFoundError) and not exc.existing:
            return self.render(request, "empty.html")
        return self.render(request, "error.html", status=400, message=str(exc))

    # -- views -------------------------------------------------------------------------------------------------------

    def sites(self, request: Request) -> Response:
        try:
            with self.store() as store:
                count = store.count()
                if self._sites is None or self._sites[0] != count:
                    self._sites = (count, site_summaries(store.episodes()))
                summaries = self._sites[1]
        except WebcoachError as exc:
            return self.failed(request, exc)
        return self.render(request, "sites.html", sites=summaries)

    def episodes(self, request: Request) -> Response:
        from webcoach.memory.curate import EpisodeFilter, browse

        q = request.query_params
        try:
            cursor = max(0, int(q.get("cursor", "0") or 0))
        except ValueError:
            cursor = 0
        form = {k: q.get(k, "") for k in ("site", "outcome", "trust", "text", "since", "until")}
        form["banned"] = "1" if q.get("banned") else ""
        try:
            where = EpisodeFilter(
                site=form["site"] or None,
                outcome=form["outcome"] or None,
                trust=form["trust"] or None,
                banned=bool(form["banned"]),
                text=form["text"] or None,
                since=_date(form["since"], "since"),
                until=_date(form["until"], "until", end=True),
            )
            with self.store() as store:
                page = browse(store, where, limit=PAGE, cursor=cursor, budget=SCAN_BUDGET)
                total = store.count()
        except WebcoachError as exc:
            return self.failed(request, exc)
        keep = {k: v for k, v in form.items() if v}
        return self.render(
            request,
            "episodes.html",
            page=page,
            total=total,
            form=form,
            first_q=urlencode(keep),
            next_q=urlencode({**keep, "cursor": page.next_cursor or 0}),
        )

    def episode(self, request: Request) -> Response:
        episode_id = request.path_params["id"]
        try:
            with self.store() as store:
                ep = store.get(episode_id)
                advice = store.advice_log().entries(episode=episode_id)
        except WebcoachError as exc:
            return self.failed(request, exc)
        return self.render(
            request,
            "episode.html",
            ep=ep,
            author=lesson_author(ep),
            advice=advice,
            editing=request.query_params.get("edit") == "1",
            confirm_forget=request.query_params.get("forget") == "1",
        )

    async def act(self, request: Request) -> Response:
        from webcoach.memory.curate import revise

        episode_id, action = request.path_params["id"], request.path_params["action"]
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), self.o.csrf):
            return _refuse("the form's CSRF token is missing or stale: reload the page and try again")
        target = f"/episodes/{episode_id}"

        def run() -> str:
            with self.store() as store:
                if action in ("pin", "unpin"):
                    store.review(episode_id, pinned=action == "pin")
                elif action in ("ban", "unban"):
                    store.review(episode_id, banned=action == "ban")
                elif action == "forget":
                    store.forget(episode_id)
                    return "/episodes"
                elif action == "edit":
                    lessons = [x for x in str(form.get("lessons", "")).splitlines() if x.strip()]
                    revision = revise(store, episode_id, lessons=lessons, summary=str(form.get("summary", "")))
                    return f"/episodes/{revision.id}"
                return target

        from starlette.concurrency import run_in_threadpool

        if action not in ("pin", "unpin", "ban", "unban", "forget", "edit"):
            return self.render(request, "error.html", status=404, message=f"no action {action}")
        self._sites = None
        try:
            where = await run_in_threadpool(run)
        except WebcoachError as exc:
            return self.failed(request, exc)
        return RedirectResponse(where, 303)

    def ask(self, request: Request) -> Response:
        import asyncio
        from dataclasses import asdict

        from webcoach.coach.coach import Coach

        task = request.query_params.get("task", "").strip()
        url = request.query_params.get("url", "").strip() or None
        result: dict[str, Any] = {}
        if task:
            try:
                with self.store() as store:
                    coach = Coach(store)
                    hits = asyncio.run(coach.retrieve(task, url))
                    advice = asyncio.run(coach.advise(task, url, hits=hits))
                result = {"advice": advice, "hits": hits, "config": asdict(coach.config)}
            except WebcoachError as exc:
                return self.failed(request, exc)
        return self.render(request, "ask.html", task=task, url=url or "", **result)

    def advice(self, request: Request) -> Response:
        from webcoach.memory.curate import EpisodeFilter

        site = request.query_params.get("site", "").strip()
        try:
            wanted = EpisodeFilter(site=site).site if site else None
            with self.store() as store:
                entries = store.advice_log().entries(site=wanted, limit=500)
        except WebcoachError as exc:
            return self.failed(request, exc)
        return self.render(request, "advice.html", entries=entries, site=site)


def _date(text: str, name: str, *, end: bool = False) -> datetime | None:
    from webcoach.errors import InputError

    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InputError(f"{name} must be a date like 2026-12-01, not {text[:40]!r}") from exc
    return day.replace(hour=23, minute=59, second=59) if end else day


def make_app(options: UIOptions) -> Starlette:
    pages = Pages(options)
    routes = [
        Route("/", pages.sites),
        Route("/episodes", pages.episodes),
        Route("/episodes/{id}", pages.episode),
        Route("/episodes/{id}/{action}", pages.act, methods=["POST"]),
        Route("/ask", pages.ask),
        Route("/advice", pages.advice),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_Guard, options=options)])
