"""Where a kiosk submission's time goes: cProfile around N final steps, in-process.

``python -m bench.profile DB [--count N]`` copies the SQLite database ``DB`` (a migrated,
seeded one, e.g. made by ``feedback seed-demo``), runs the app in this process through httpx's
ASGI transport (no network, one event loop, so the profile is the server's work), and prints
the functions with the most cumulative time, grouped so the big buckets are easy to read.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import inspect
import io
import pstats
import tempfile
import time
from pathlib import Path

import httpx

from bench import load
from bench.run import copy_database
from bench.servers import BENCH_SECRET, NO_RATE_LIMITS

# Buckets of the profile: a label and the code locations that belong to it.
BUCKETS = {
    "CSRF middleware (reads body, parses form)": ("web/csrf.py",),
    "form parsing (python-multipart / parse_qs)": ("multipart", "formparsers.py"),
    "intake.store (checks, ORM, routing, deadlines)": ("domain/intake.py:",),
    "routing": ("domain/routing.py",),
    "deadlines": ("domain/deadlines.py",),
    "stats upserts": ("domain/stats.py",),
    "notify (outbox)": ("domain/notify.py",),
    "template rendering (Jinja2)": ("jinja2", "templating.py", "templates/"),
    "QR code (segno)": ("segno",),
    "SQLAlchemy (all)": ("sqlalchemy",),
    "aiosqlite / sqlite3 driver": ("aiosqlite", "sqlite3"),
}


class Timers:
    """Wall time spent inside chosen functions (wrapped in place), and SQL statements sent."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.statements = 0
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)
        timers = self

        if inspect.iscoroutinefunction(original):
            async def timed(*args: object, **kwargs: object) -> object:
                t0 = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    timers.add(label, time.perf_counter() - t0)
        else:
            def timed(*args: object, **kwargs: object) -> object:  # type: ignore[misc]
                t0 = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    timers.add(label, time.perf_counter() - t0)

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] = self.seconds.get(label, 0.0) + seconds
        self.calls[label] = self.calls.get(label, 0) + 1

    def undo(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()


def install_timers(timers: Timers, app: object) -> None:
    """Wrap the steps of a kiosk submission (see web/kiosk.py and domain/intake.py)."""
    from sqlalchemy import event

    from feedback.domain import intake, reference, stats
    from feedback.web import csrf, kiosk

    timers.wrap(csrf.CSRFMiddleware, "_read_token", "CSRF: read body + parse token")
    timers.wrap(reference, "read", "configuration (in memory; read when changed)")
    timers.wrap(kiosk, "submit_once", "submit_once (waiting for the batch + its transaction)")
    timers.wrap(intake.GroupWriter, "_transaction", "  one batch's transaction (per submission: shared)")
    timers.wrap(intake, "store_many", "    intake.store_many")
    timers.wrap(stats.StatDelta, "write", "      aggregate upserts")
    timers.wrap(kiosk, "_qr_svg", "QR code (segno SVG)")
    timers.wrap(kiosk, "_render", "receipt template rendering")

    def count(*_args: object) -> None:
        timers.statements += 1

    for engine in {app.state.db.engine, app.state.db.write_engine}:  # type: ignore[attr-defined]
        event.listen(engine.sync_engine, "before_cursor_execute", count)

    # How long the one SQLite writer connection is held per checkout: the critical section
    # every concurrent submission queues for.
    held: dict[int, float] = {}

    def checkout(_dbapi: object, record: object, _proxy: object) -> None:
        held[id(record)] = time.perf_counter()

    def checkin(_dbapi: object, record: object) -> None:
        t0 = held.pop(id(record), None)
        if t0 is not None:
            timers.add("writer connection held (per checkout)", time.perf_counter() - t0)

    pool = app.state.db.write_engine.sync_engine.pool  # type: ignore[attr-defined]
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)


async def submissions(database: Path, count: int, profile: cProfile.Profile | None,
                      timers: Timers | None = None, clients: int = 1) -> float:
    from feedback.app import create_app
    from feedback.settings import load_settings

    env = {
        "FEEDBACK_ENV": "test", "FEEDBACK_DATA_DIR": str(database.parent),
        "FEEDBACK_DATABASE_URL": f"sqlite+aiosqlite:///{database}", "FEEDBACK_SECRET_KEY": BENCH_SECRET,
        "FEEDBACK_BASE_URL": "http://127.0.0.1", **NO_RATE_LIMITS,
    }
    app = create_app(load_settings(env))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    https = [httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") for _ in range(clients)]
    kiosks = [load.VirtualClient(n, http) for n, http in enumerate(https)]
    for v in kiosks:
        await load.kiosk_setup(v)
        for n in range(5):  # warm-up: imports, template compilation, connections
            await load.kiosk_submit(v, n)
    if timers is not None:
        install_timers(timers, app)
    remaining = list(range(count))

    async def kiosk(v: load.VirtualClient) -> None:
        while remaining:
            response = await load.kiosk_submit(v, remaining.pop())
            assert load.receipt_check(response), response.status_code

    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    await asyncio.gather(*(kiosk(v) for v in kiosks))
    if profile is not None:
        profile.disable()
    elapsed = time.perf_counter() - started
    if timers is not None:
        timers.undo()
    for http in https:
        await http.aclose()
    await app.state.db.dispose()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    parser.add_argument("database", help="a migrated, seeded SQLite database (copied, not modified)")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--clients", type=int, default=1, help="concurrent kiosks (in one event loop)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sauti-profile-") as scratch:
        database = Path(scratch) / "feedback.db"
        copy_database(Path(args.database), database)
        timers = Timers()
        elapsed = asyncio.run(submissions(database, args.count, None, timers, args.clients))
        print(f"{args.count} submissions in {elapsed:.2f} s: {elapsed / args.count * 1000:.1f} ms each "
              f"(in-process, {args.clients} concurrent, no profiler)\n")
        print("wall time inside each step (nested steps are indented and included in their parent):")
        for label, seconds in timers.seconds.items():
            print(f"  {label:<46} {seconds / args.count * 1000:7.2f} ms/submission "
                  f"({timers.calls[label] / args.count:.1f} calls)")
        print(f"  SQL statements per submission: {timers.statements / args.count:.1f}\n")
        copy_database(Path(args.database), Path(scratch) / "again.db")
        profile = cProfile.Profile()
        elapsed = asyncio.run(submissions(Path(scratch) / "again.db", args.count, profile, None, args.clients))
    print(f"{args.count} submissions in {elapsed:.2f} s: {elapsed / args.count * 1000:.1f} ms each "
          f"(in-process, {args.clients} concurrent, profiler on)\n")
    stats = pstats.Stats(profile)
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    print("cumulative share by bucket (buckets overlap: SQLAlchemy time is inside intake/stats):")
    raw = stats.stats  # type: ignore[attr-defined]
    for label, needles in BUCKETS.items():
        # The largest cumulative time of any function in the bucket approximates its share.
        best = 0.0
        for (filename, _line, _name), (_cc, _nc, _tt, ct, _callers) in raw.items():
            if any(n in filename for n in needles):
                best = max(best, ct)
        print(f"  {label:<48} {best / args.count * 1000:7.2f} ms/submission ({best / total:5.1%})")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
