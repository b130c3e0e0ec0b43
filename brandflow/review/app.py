"""``brandflow review RUN``: the run's report served on 127.0.0.1 with approve / reject per creative and in bulk.

Server-rendered HTML (the report's template with decision forms, which work without JavaScript) plus a
little progressive JavaScript (decide without reloading). Starlette comes with Prefect; no build step.

Flow of a review: log in with the reviewer token the operator issued (:mod:`brandflow.review.reviewers`);
decide creative by creative or in bulk — each decision is kept, signed, in the run folder
(:mod:`brandflow.review.ledger`); "Send decisions to the run" resumes the paused flow run once, through
the same :class:`~brandflow.review.decisions.ReviewAnswer` that ``brandflow approve`` and the Prefect UI
send. The flow checks every signature before it applies anything and records who, when and why.

The app is built by :func:`create_app` with the resume function injected (the CLI passes
:func:`brandflow.flows.approval.resume_run`), so this room does not import the Prefect wiring above it.
Only files the manifest names are served (creatives, reference packshots, thumbnails), by index:
no user-supplied path is ever opened.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from brandflow.manifest import RunManifest
from brandflow.review import reviewers
from brandflow.review.ledger import DecisionRefused, Ledger, Reviewer, awaiting
from brandflow.review.report import THUMB_PX, render_html, thumbnail_jpeg

COOKIE = "brandflow_reviewer"
Resume = Callable[[str, Any], Any]  # (flow_run_id, ReviewAnswer) -> result; raises on refusal

_pages = Environment(loader=PackageLoader("brandflow.review", "templates"), autoescape=select_autoescape(default=True))


def create_app(run_dir: Path, resume: Resume, keyfile: Path | None = None) -> Starlette:
    """The review app of one run folder.

    Args:
        run_dir: the run folder (holds ``manifest.json``).
        resume: sends an answer to the paused flow run; raises (any exception, its message is shown) when the
            server refuses it, e.g. the run is no longer paused.
        keyfile: the reviewers keyfile (default :func:`~brandflow.review.reviewers.keyfile`).

    Raises:
        FileNotFoundError: ``run_dir`` has no ``manifest.json``.
    """
    run_dir = Path(run_dir).resolve()
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{run_dir}: no manifest.json here; pass a run folder (runs/<campaign>) or a paused flow run id")
    ledger = Ledger(run_dir)
    secret = secrets.token_bytes(32)  # per process: CSRF tokens die with the server

    cache: dict[str, Any] = {}

    def manifest() -> RunManifest:
        """The run's manifest, parsed again only when the file changed (the flow rewrites it when it resumes):
        a page of 1,000 creatives asks for 1,000 thumbnails."""
        st = manifest_path.stat()
        if cache.get("stamp") != (st.st_mtime_ns, st.st_size):
            cache.clear()
            cache.update(stamp=(st.st_mtime_ns, st.st_size), manifest=RunManifest.read(manifest_path))
        return cache["manifest"]

    def files(m: RunManifest) -> dict[str, Path]:
        """The only files served: creatives and reference packshots named by the manifest, keyed by a hash of their path."""
        if cache.get("files_of") is m:
            return cache["files"]
        out: dict[str, Path] = {}
        for job in m.jobs:
            paths = [r.path for r in job.references] + ([job.final.creative.path] if job.final.creative else [])
            for p in paths:
                out[hashlib.sha256(str(p).encode()).hexdigest()[:20]] = Path(p)
        cache.update(files_of=m, files=out)
        return out

    def who(request: Request) -> Reviewer | None:
        value = request.cookies.get(COOKIE, "")
        if not value:
            return None
        if reviewers.configured(keyfile):
            try:
                return Reviewer(name=reviewers.login(value, keyfile), verified=True, token=value)
            except reviewers.ReviewerError:
                return None
        return Reviewer(name=value.removeprefix("name:")[:100], verified=False) if value.startswith("name:") else None

    def csrf(request: Request) -> str:
        return hmac.new(secret, request.cookies.get(COOKIE, "").encode(), hashlib.sha256).hexdigest()

    async def form(request: Request) -> dict[str, list[str]]:
        return parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    def answer(request: Request, ok: bool, message: str, status: int = 200, **extra: Any) -> Response:
        if wants_json(request):
            return JSONResponse({"ok": ok, "message": message, **extra}, status_code=status)
        return RedirectResponse(f"./?{'ok' if ok else 'err'}={quote(message)}", status_code=303)

    async def page(request: Request) -> Response:
        reviewer = who(request)
        if reviewer is None:
            return HTMLResponse(_pages.get_template("login.html.j2").render(
                checking=reviewers.configured(keyfile), error=request.query_params.get("err", ""), run=run_dir.name))
        m = manifest()
        data = ledger.read()
        waiting = awaiting(m)
        drafts = {k: v for k, v in data["decisions"].items()}
        sent = data["sent"]
        if sent:
            closed = f"decisions sent to the run by {sent['by']} at {sent['at']}"
        elif not waiting:
            closed = "this run is not waiting for a decision" + (" (its decisions are in the manifest)" if any(
                j.decision is not None and j.decision.verdict != "pending" for j in m.jobs) else "")
        else:
            closed = ""
        undecided = len([j for j in waiting if j not in drafts])
        fmap = {str(p): k for k, p in files(m).items()}
        index = {j.job_id: i for i, j in enumerate(m.jobs)}
        review = {
            "reviewer": reviewer.name, "verified": reviewer.verified, "csrf": csrf(request), "open": not closed, "closed": closed,
            "drafts": drafts, "message": request.query_params.get("ok") or request.query_params.get("err") or "",
            "message_kind": "ok" if request.query_params.get("ok") else "err",
            "tally": f"{len(drafts)} decided, {undecided} undecided (not published unless approved)",
            "decided": len(drafts), "undecided": undecided,
        }
        html = render_html(m, run_dir, review=review, thumb_url=lambda job: f"thumb/{index[job.job_id]}",
                           link=lambda p: f"file/{fmap.get(str(p), 'missing')}")
        return HTMLResponse(html)

    async def login(request: Request) -> Response:
        f = await form(request)
        value = (f.get("token") or [""])[0].strip()
        if reviewers.configured(keyfile):
            try:
                reviewers.login(value, keyfile)
            except reviewers.ReviewerError as e:
                return RedirectResponse(f"./?err={quote(str(e))}", status_code=303)
            cookie = value
        else:
            name = (f.get("name") or [""])[0].strip()
            if not name:
                return RedirectResponse(f"./?err={quote('give your name')}", status_code=303)
            cookie = "name:" + name[:100]
        response = RedirectResponse("./", status_code=303)
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", max_age=12 * 3600)
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("./", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    def checked(request: Request, f: dict[str, list[str]]) -> Reviewer:
        reviewer = who(request)
        if reviewer is None:
            raise DecisionRefused("log in first: your reviewer token is missing, revoked or not valid here", 401)
        if not hmac.compare_digest((f.get("csrf") or [""])[0], csrf(request)):
            raise DecisionRefused("this form is stale (the review server restarted): reload the page", 403)
        return reviewer

    async def decide(request: Request) -> Response:
        f = await form(request)
        try:
            reviewer = checked(request, f)
            verdict = {"approve": "approved", "reject": "rejected"}.get((f.get("verdict") or [""])[0])
            if verdict is None:
                raise DecisionRefused("say approve or reject", 400)
            jobs = [j for j in f.get("job", []) if j]
            done = ledger.record(manifest(), jobs, verdict, (f.get("reason") or [""])[0], reviewer)  # type: ignore[arg-type]
        except DecisionRefused as e:
            return answer(request, False, str(e), e.status)
        what = done[0] if len(done) == 1 else f"{len(done)} creatives"
        return answer(request, True, f"{what}: {verdict} by {reviewer.name}; send the decisions to the run when you are done",
                      decided=done, verdict=verdict, by=reviewer.name)

    async def send(request: Request) -> Response:
        f = await form(request)
        try:
            reviewer = checked(request, f)
            m = manifest()
            if not m.flow_run_id:
                raise DecisionRefused("this run has no flow run id: it did not pause on a Prefect server, so nothing waits for decisions", 409)
            if not awaiting(m):
                raise DecisionRefused("this run is not waiting for a decision (already decided, or it finished)", 409)
            with ledger.sending(reviewer) as ans:
                try:
                    resume(m.flow_run_id, ans)
                except Exception as e:  # noqa: BLE001 — the server's refusal, shown to the reviewer; nothing is marked sent
                    raise DecisionRefused(f"the run did not take the decisions: {e}", 409) from None
        except DecisionRefused as e:
            return answer(request, False, str(e), e.status)
        n = len(ans.decisions)
        return answer(request, True, f"sent {n} decision{'s' if n != 1 else ''} to flow run {m.flow_run_id}; the run resumes and "
                      "publishes what was approved", sent=n)

    async def thumb(request: Request) -> Response:
        m = manifest()
        i = request.path_params["i"]
        if i >= len(m.jobs) or m.jobs[i].final.creative is None:
            return Response("no such creative", status_code=404)
        c = m.jobs[i].final.creative
        data = thumbnail_jpeg(c.path, THUMB_PX, cache_key=c.sha256)
        if data is None:
            return Response(f"creative file missing: {c.path.name}", status_code=404)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    async def file(request: Request) -> Response:
        path = files(manifest()).get(request.path_params["key"])
        if path is None or not path.is_file():
            return Response("not found: the file is not part of this run or is missing", status_code=404)
        return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})

    # Host check: a page on another site that re-points its DNS name at 127.0.0.1 (DNS rebinding) gets a 400
    return Starlette(middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]"])], routes=[
        Route("/", page), Route("/login", login, methods=["POST"]), Route("/logout", logout, methods=["POST"]),
        Route("/decide", decide, methods=["POST"]), Route("/send", send, methods=["POST"]),
        Route("/thumb/{i:int}", thumb), Route("/file/{key}", file),
    ])


def serve(app: Starlette, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until Ctrl-C (uvicorn, which comes with Prefect). Loopback only by default: the page is for
    the reviewer at this machine; put a TLS reverse proxy in front to share it."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
