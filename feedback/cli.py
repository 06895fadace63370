"""The ``feedback`` command (also ``python -m feedback``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Sequence

from feedback.settings import Settings, SettingsError, load_settings


def _progress(label: str) -> callable:  # type: ignore[valid-type]
    started = time.monotonic()

    def report(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-6)
        end = "\n" if done >= total else "\r"
        print(f"{label}: {done:,}/{total:,} ({rate:,.0f}/s)", end=end, file=sys.stderr, flush=True)

    return report


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from feedback import migrate

    migrate.upgrade(settings.database_url)
    asyncio.run(_ensure_taxonomy(settings))
    print("database is up to date")
    return 0


async def _ensure_taxonomy(settings: Settings) -> None:
    from feedback.db import Database
    from feedback.seed import ensure_taxonomy

    db = Database(settings.database_url)
    try:
        async with db.write() as session, session.begin():
            await ensure_taxonomy(session)
    finally:
        await db.dispose()


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from feedback import migrate

    if not settings.production:
        migrate.upgrade(settings.database_url)
        asyncio.run(_ensure_taxonomy(settings))
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"serving on http://{host}:{port}", file=sys.stderr)
    from feedback.settings import PROJECT_ROOT

    uvicorn.run(
        "server:app", app_dir=str(PROJECT_ROOT), host=host, port=port, workers=args.workers,
        proxy_headers=True, log_level="info", access_log=args.access_log,
    )
    return 0


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_seed_demo(settings, args))


async def _seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from feedback.db import Database
    from feedback.models import utcnow
    from feedback.seed import (
        DEMO_PASSWORD,
        generate_items,
        is_seeded,
        seed_demo_items,
        seed_kiosks,
        seed_places_and_partners,
    )

    db = Database(settings.database_url)
    try:
        async with db.write() as session:
            seeded = await is_seeded(session)
        accounts = None
        if not seeded:
            async with db.write() as session, session.begin():
                accounts = await seed_places_and_partners(session, utcnow().date())
                await seed_kiosks(session, utcnow())
            print(f"seeding {args.demo_items} demo items...", file=sys.stderr)
            await seed_demo_items(db.write, args.demo_items, base_url=settings.base_url,
                                  weekend=settings.weekend_days)
        elif not args.items:
            print("demo data already present: nothing added", file=sys.stderr)
        if args.items:
            await generate_items(db.write, args.items, progress=_progress("generating items"))
        if accounts is None:
            from sqlalchemy import select

            from feedback.models import User

            async with db.read() as session:
                users = (await session.scalars(select(User).order_by(User.id))).all()
            accounts_lines = [(u.login, u.role) for u in users]
        else:
            accounts_lines = [(a.login, a.role) for a in accounts]
        print(f"\nDemo sign-in (password for every demo account: {DEMO_PASSWORD}):")
        for login, role in accounts_lines:
            print(f"  {login:<14} {role}")
        print()
    finally:
        await db.dispose()
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    password = args.password
    if password is None:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    return asyncio.run(_create_user(settings, args, password))


async def _create_user(settings: Settings, args: argparse.Namespace, password: str) -> int:
    from feedback.db import Database
    from feedback.domain import accounts

    db = Database(settings.database_url)
    try:
        async with db.write() as session, session.begin():
            user = await accounts.create_user(
                session, login=args.login, name=args.name or args.login, role=args.role, password=password,
                partner_slug=args.partner, site_codes=args.site or [], locale=args.locale, email=args.email,
            )
        print(f"created user {user.login} ({user.role})")
        return 0
    except accounts.AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()


def cmd_api_key(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_api_key(settings, args))


async def _api_key(settings: Settings, args: argparse.Namespace) -> int:
    from feedback.db import Database
    from feedback.domain import apikeys

    db = Database(settings.database_url)
    try:
        async with db.write() as session, session.begin():
            key = await apikeys.create_api_key(session, name=args.name, partner_slug=args.partner)
        print(key)
        return 0
    except apikeys.ApiKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_import(settings, args))


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    from feedback.db import Database
    from feedback.domain import imports

    db = Database(settings.database_url)
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as handle:  # noqa: ASYNC230 (a one-shot command)
            text = handle.read()
        async with db.write() as session, session.begin():
            count = await imports.import_csv(session, args.kind, text, filename=args.file,
                                             progress=_progress(f"importing {args.kind}"))
        print(f"imported {count} {args.kind}")
        return 0
    except FileNotFoundError:
        print(f"error: {args.file}: no such file", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"error: {args.file}: not UTF-8 text (byte {exc.start})", file=sys.stderr)
        return 2
    except imports.ImportFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was imported", file=sys.stderr)
        return 2
    finally:
        await db.dispose()


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_export(settings, args))


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from feedback.db import Database
    from feedback.queries import exports

    db = Database(settings.database_url)
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: ASYNC230, SIM115
    try:
        async with db.read() as session:
            chunks = exports.csv_chunks if args.format == "csv" else exports.json_chunks
            async for chunk in chunks(session, exports.ExportFilter()):
                out.write(chunk)
        return 0
    finally:
        if out is not sys.stdout:
            out.close()
        await db.dispose()


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from feedback import backup

    try:
        info = backup.backup(settings, args.path)
    except backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(info)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from feedback import worker

    return asyncio.run(worker.run(settings, once=args.once, interval=args.interval))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedback", description="Sauti community feedback platform.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", help="apply database migrations (and the seed taxonomy)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="serve the web app (migrates first in development)")
    p.add_argument("--host", help="address to listen on (default FEEDBACK_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default FEEDBACK_PORT or 8000)")
    p.add_argument("--workers", type=int, default=1, help="number of processes (default 1)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("seed-demo", help="add the Bamako demo data (once) and N generated items")
    p.add_argument("--items", type=int, default=0, help="also generate N items (bulk, for benchmarks)")
    p.add_argument("--demo-items", type=int, default=300, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_seed_demo)

    p = sub.add_parser("create-user", help="create a staff account")
    p.add_argument("--login", required=True)
    p.add_argument("--role", required=True, help="partner_agent, partner_manager, moderator, "
                   "community_monitor, safeguarding_officer or admin")
    p.add_argument("--partner", help="partner slug (partner roles)")
    p.add_argument("--site", action="append", help="site code (community monitors; repeatable)")
    p.add_argument("--name", help="full name (default: the login)")
    p.add_argument("--email")
    p.add_argument("--locale", default="fr", choices=("fr", "bm", "en"))
    p.add_argument("--password", help="password (default: read from standard input)")
    p.set_defaults(func=cmd_create_user)

    p = sub.add_parser("api-key", help="manage Open311 API keys")
    keys = p.add_subparsers(dest="api_key_command", required=True, metavar="ACTION")
    k = keys.add_parser("create", help="create a key and print it (shown once)")
    k.add_argument("--name", required=True)
    k.add_argument("--partner", help="partner slug the key belongs to")
    k.set_defaults(func=cmd_api_key)

    p = sub.add_parser("import", help="import areas, sites, partners, routing rules or users from CSV")
    p.add_argument("kind", choices=("areas", "sites", "partners", "rules", "users"))
    p.add_argument("file", help="UTF-8 CSV file with a header row (see docs/import.md)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export published feedback (no personal data)")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--output", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("backup", help="write a consistent copy of the database, even while serving")
    p.add_argument("path", help="file to write (SQLite) or directory (PostgreSQL dump)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("worker", help="deliver messages, escalate late items, close and erase on time")
    p.add_argument("--once", action="store_true", help="run each job once and exit")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between rounds")
    p.set_defaults(func=cmd_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "serve":
            settings.check_production()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return int(args.func(settings, args))
