"""The ``feedback`` command, run as operators run it: a subprocess with FEEDBACK_* variables.

On PostgreSQL (FEEDBACK_TEST_DATABASE_URL set) every test gets a scratch database of its own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.cli import build_parser
from feedback.db import Database
from feedback.models import Area, FeedbackItem, Partner, RoutingRule, Site, User, UserSite
from feedback.passwords import verify_password
from feedback.settings import PROJECT_ROOT
from tests.conftest import SECRET, _pg_admin_url, _pg_execute, is_postgres

EXAMPLES = PROJECT_ROOT / "docs" / "examples"
DEMO_ITEMS = "12"  # a small demo keeps the tests fast


@dataclass
class Cli:
    url: str
    data_dir: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_")}
        env.update({"FEEDBACK_DATA_DIR": str(self.data_dir), "FEEDBACK_DATABASE_URL": self.url,
                    "FEEDBACK_SECRET_KEY": SECRET, "FEEDBACK_ENV": "development"})
        return env

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "feedback", *args], cwd=PROJECT_ROOT, env=self.env,
                              input=input, capture_output=True, text=True, timeout=240)

    def ok(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, input=input)
        assert result.returncode == 0, result.stderr
        return result

    def query(self, fn: Callable[[AsyncSession], Any]) -> Any:
        async def go() -> Any:
            db = Database(self.url)
            try:
                async with db.read() as session:
                    return await fn(session)
            finally:
                await db.dispose()

        return asyncio.run(go())

    def count(self, model: Any) -> int:
        async def fn(session: AsyncSession) -> int:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

        return int(self.query(fn))


def _scratch_pg(template: str | None = None) -> str:
    name = f"feedback_cli_{uuid.uuid4().hex[:12]}"
    suffix = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"{suffix}'))
    return name


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated and seeded by the CLI itself, copied by each test that needs it."""
    data_dir = tmp_path_factory.mktemp("cli-seeded")
    if is_postgres():
        name = _scratch_pg()
        cli = Cli(_pg_admin_url(name), data_dir)
    else:
        name = str(data_dir / "feedback.db")
        cli = Cli(f"sqlite+aiosqlite:///{name}", data_dir)
    cli.ok("migrate")
    cli.ok("seed-demo", "--demo-items", DEMO_ITEMS)
    yield name
    if is_postgres():
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _cli(tmp_path: Path, template: str | None) -> Iterator[Cli]:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    if is_postgres():
        name = _scratch_pg(template)
        yield Cli(_pg_admin_url(name), data_dir)
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = data_dir / "feedback.db"
        if template:
            shutil.copy(template, path)
        yield Cli(f"sqlite+aiosqlite:///{path}", data_dir)


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Cli]:
    """The CLI on a database that does not exist yet (SQLite) or is empty (PostgreSQL)."""
    yield from _cli(tmp_path, None)


@pytest.fixture
def cli(tmp_path: Path, seeded: str) -> Iterator[Cli]:
    """The CLI on a fresh copy of the seeded demo database."""
    yield from _cli(tmp_path, seeded)


# --- every command documents itself ----------------------------------------------------------


def _commands() -> list[list[str]]:
    parser = build_parser()
    found: list[list[str]] = [[]]

    def walk(p: Any, prefix: list[str]) -> None:
        for action in p._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, child in action.choices.items():
                    found.append([*prefix, name])
                    walk(child, [*prefix, name])

    walk(parser, [])
    return found


def test_the_documented_commands_exist() -> None:
    names = {tuple(c) for c in _commands()}
    for command in ("serve", "migrate", "seed-demo", "create-user", "import", "export", "backup", "worker"):
        assert (command,) in names


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "feedback")
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    result = Cli("sqlite+aiosqlite:///unused.db", tmp_path).run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: feedback")
    assert result.stderr == ""


# --- migrate and seed-demo -------------------------------------------------------------------


def test_migrate_creates_the_schema_and_taxonomy_and_is_repeatable(empty: Cli) -> None:
    first = empty.ok("migrate")
    assert "database is up to date" in first.stdout
    from feedback.models import Topic

    topics = empty.count(Topic)
    assert topics >= 10
    empty.ok("migrate")
    assert empty.count(Topic) == topics


def test_seed_demo_twice_adds_nothing_the_second_time(empty: Cli) -> None:
    empty.ok("migrate")
    first = empty.ok("seed-demo", "--demo-items", DEMO_ITEMS)
    assert "Demo sign-in" in first.stdout and "agent.laf" in first.stdout
    counts = (empty.count(FeedbackItem), empty.count(Partner), empty.count(User), empty.count(Site))
    assert counts[0] == int(DEMO_ITEMS) and counts[1] > 10
    second = empty.ok("seed-demo", "--demo-items", DEMO_ITEMS)
    assert "nothing added" in second.stderr
    assert (empty.count(FeedbackItem), empty.count(Partner), empty.count(User), empty.count(Site)) == counts


def test_seed_demo_generates_items_with_progress(cli: Cli) -> None:
    before = cli.count(FeedbackItem)
    result = cli.ok("seed-demo", "--items", "1500")
    assert cli.count(FeedbackItem) == before + 1500
    assert "generating items: 1,500/1,500" in result.stderr


# --- create-user -----------------------------------------------------------------------------


def _password_of(cli: Cli, login: str) -> str:
    async def fn(session: AsyncSession) -> str:
        return str(await session.scalar(select(User.password_hash).where(User.login == login)))

    return str(cli.query(fn))


def test_create_user_with_password_option(cli: Cli) -> None:
    result = cli.ok("create-user", "--login", "Agent.Kati", "--role", "partner_agent", "--partner", "dtc-laf",
                    "--name", "Moussa Sissoko", "--password", "long-enough-pass")
    assert "created user agent.kati (partner_agent)" in result.stdout
    assert verify_password(_password_of(cli, "agent.kati"), "long-enough-pass")


def test_create_user_reads_the_password_from_stdin(cli: Cli) -> None:
    cli.ok("create-user", "--login", "suivi", "--role", "community_monitor", "--site", "BKO-C4-LAF",
           input="from-standard-input\n")
    assert verify_password(_password_of(cli, "suivi"), "from-standard-input")

    async def sites(session: AsyncSession) -> list[str]:
        return list((await session.scalars(
            select(Site.code).join(UserSite, UserSite.site_id == Site.id).join(User, User.id == UserSite.user_id)
            .where(User.login == "suivi"))).all())

    assert cli.query(sites) == ["BKO-C4-LAF"]


@pytest.mark.parametrize(("args", "reason"), [
    (["--role", "chief"], "unknown role 'chief'"),
    (["--role", "partner_agent", "--partner", "no-such-partner"], "unknown partner 'no-such-partner'"),
    (["--role", "partner_agent"], "needs --partner"),
    (["--role", "admin", "--password", "short"], "at least 10 characters"),
])
def test_create_user_refuses_bad_input(cli: Cli, args: list[str], reason: str) -> None:
    users = cli.count(User)
    base = ["create-user", "--login", "someone"]
    result = cli.run(*base, *args, *([] if "--password" in args else ["--password", "a-good-password"]))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and reason in result.stderr
    assert cli.count(User) == users


def test_create_user_refuses_an_existing_login(cli: Cli) -> None:
    result = cli.run("create-user", "--login", "agent.laf", "--role", "admin", "--password", "a-good-password")
    assert result.returncode == 2 and "already exists" in result.stderr


# --- import ----------------------------------------------------------------------------------


def test_import_the_example_files_twice(cli: Cli) -> None:
    expected = {"areas": 4, "sites": 3, "partners": 4, "rules": 5, "users": 4}
    before = {model: cli.count(model) for model in (Area, Site, Partner, RoutingRule, User)}
    for kind, n in expected.items():
        result = cli.ok("import", kind, str(EXAMPLES / f"{kind}.csv"))
        assert f"imported {n} {kind}" in result.stdout
    after = {model: cli.count(model) for model in (Area, Site, Partner, RoutingRule, User)}
    assert [after[m] - before[m] for m in (Area, Site, Partner, RoutingRule, User)] == list(expected.values())
    # Importing again updates in place: nothing new.
    for kind in expected:
        cli.ok("import", kind, str(EXAMPLES / f"{kind}.csv"))
    assert {model: cli.count(model) for model in after} == after

    async def links(session: AsyncSession) -> tuple[Any, ...]:
        dtc = await session.scalar(select(Partner).where(Partner.slug == "dtc-kati-central"))
        asaco = await session.scalar(select(Partner).where(Partner.slug == "asaco-kati-central"))
        site = await session.scalar(select(Site).where(Site.code == "KTI-KAT-CEN"))
        area = await session.scalar(select(Area).where(Area.code == "ML-KKR-KAT-KAT"))
        return dtc.escalation_partner_id, asaco.id, site.area_id, area.id, dtc.site_id, site.id

    esc, asaco_id, site_area, area_id, dtc_site, site_id = cli.query(links)
    # dtc-kati-central escalates to a partner listed after it in the file.
    assert (esc, site_area, dtc_site) == (asaco_id, area_id, site_id)
    # A user imported without a password has an unusable one until an admin sends a reset link.
    stored = _password_of(cli, "agent.kati")
    assert stored.startswith("$argon2") and not verify_password(stored, "")


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_bad_import_names_file_line_and_column_and_imports_nothing(cli: Cli, tmp_path: Path) -> None:
    path = _write(tmp_path, "sites.csv", (
        "code,name,kind,area\n"
        "KTI-NEW,Un bon site,cscom,ML-BKO-C1\n"
        "KTI-TWO,Encore un,cscom,\n"
        "KTI-BAD,Mauvaise zone,cscom,ML-XX\n"
        "KTI-KND,Mauvais type,hospital,\n"
    ))
    sites = cli.count(Site)
    result = cli.run("import", "sites", path)
    assert result.returncode == 2
    assert f"{path}, line 4, column area: unknown area 'ML-XX'" in result.stderr
    assert f"{path}, line 5, column kind: 'hospital' is not one of cscom, csref, community, other" in result.stderr
    assert "nothing was imported" in result.stderr
    assert cli.count(Site) == sites


@pytest.mark.parametrize(("kind", "text", "expected"), [
    ("areas", "code,name\nML-X,X\n", "line 1, column level: missing column"),
    ("areas", "code,name,level,colour\nML-X,X,region,red\n", "line 1, column 4 ('colour'): unknown column"),
    ("areas", "code,name,level\n", "no rows to import"),
    ("partners", "slug,name,kind,escalation\np-a,A,ngo,p-b\np-b,B,ngo,p-a\n",
     "line 2, column escalation: partner 'p-b' (line 3) could not be imported first"),
    ("rules", "site,topic,partner\nBKO-C4-LAF,waiting,dtc-laf\nbko-c4-laf,WAITING,asaco-laf\n",
     "line 3, column site: duplicate of line 2"),
    ("rules", "site,topic,partner\n*,no-such-topic,dtc-laf\n", "line 2, column topic: unknown topic 'no-such-topic'"),
    ("users", "login,name,role,partner\nnew.agent,New Agent,partner_agent,\n",
     "line 2, column partner: Partner agents and managers need a partner"),
    ("users", "login,name,role,password\nnew.admin,New Admin,admin,short\n",
     "line 2, column password: the password must have at least 10 characters"),
    ("sites", "code,name,kind,latitude,longitude\nKTI-X,X,cscom,north,-8\n",
     "line 2, column latitude: 'north' is not a number"),
])
def test_import_problems_are_explained(cli: Cli, tmp_path: Path, kind: str, text: str, expected: str) -> None:
    path = _write(tmp_path, f"{kind}.csv", text)
    result = cli.run("import", kind, path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "nothing was imported" in result.stderr


def test_import_of_a_missing_or_non_utf8_file(cli: Cli, tmp_path: Path) -> None:
    result = cli.run("import", "sites", str(tmp_path / "absent.csv"))
    assert result.returncode == 2 and "no such file" in result.stderr
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("code,name,kind\nKTI-S,Sébénikoro,cscom\n".encode("latin-1"))
    result = cli.run("import", "sites", str(latin1))
    assert result.returncode == 2 and "not UTF-8" in result.stderr


# --- export and backup -----------------------------------------------------------------------


def test_export_writes_published_feedback_as_csv(cli: Cli, tmp_path: Path) -> None:
    cli.ok("seed-demo", "--items", "300")
    out = tmp_path / "export.csv"
    cli.ok("export", "--format", "csv", "--output", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 2 and "," in lines[0]
    assert "@" not in out.read_text(encoding="utf-8")  # no e-mail addresses, nothing personal
    result = cli.ok("export", "--format", "json")
    assert result.stdout.lstrip().startswith(("[", "{"))


def _item_ids(cli: Cli) -> set[int]:
    async def fn(session: AsyncSession) -> set[int]:
        return set((await session.scalars(select(FeedbackItem.id))).all())

    return set(cli.query(fn))


@pytest.mark.skipif(is_postgres(), reason="SQLite file backup")
def test_backup_is_a_checked_copy_with_every_item(cli: Cli, tmp_path: Path) -> None:
    cli.ok("seed-demo", "--items", "2000")
    target = tmp_path / "backup.db"
    result = cli.ok("backup", str(target))
    ids = _item_ids(cli)
    assert f"backup written to {target}" in result.stdout and f"{len(ids):,} items" in result.stdout
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert {row[0] for row in copy.execute("SELECT id FROM feedback_item")} == ids
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        copy.close()
    # Never overwrites; a directory gets a time-stamped file.
    again = cli.run("backup", str(target))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert "feedback-" in cli.ok("backup", str(tmp_path)).stdout


@pytest.mark.skipif(is_postgres(), reason="SQLite file backup")
def test_backup_while_another_process_writes(cli: Cli, tmp_path: Path) -> None:
    # Another process commits 2,000 generated items at a time while backups are taken.
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, cli.url], cwd=PROJECT_ROOT, env=cli.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        before = cli.count(FeedbackItem)
        for _ in range(200):
            if cli.count(FeedbackItem) > before or writer.poll() is not None:
                break
            time.sleep(0.05)
        targets = []
        for n in range(3):
            target = tmp_path / f"during-{n}.db"
            cli.ok("backup", str(target))
            targets.append(target)
    finally:
        _out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
    for target in targets:
        copy = sqlite3.connect(target)
        try:
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            # One instant: the aggregates in each copy match its items exactly.
            items, received = copy.execute(
                "SELECT (SELECT count(*) FROM feedback_item), (SELECT coalesce(sum(received), 0) FROM stat_topic)"
            ).fetchone()
            assert items == received and items >= before
        finally:
            copy.close()


WRITER = """
import asyncio, sys
from feedback import bulk
from feedback.db import Database

async def main():
    db = Database(sys.argv[1])
    await bulk.generate_items(db.write, 30000, batch_size=2000)
    await db.dispose()

asyncio.run(main())
"""


@pytest.mark.skipif(not is_postgres(), reason="pg_dump backup")
def test_postgres_backup_restores_every_item(cli: Cli, tmp_path: Path) -> None:
    cli.ok("seed-demo", "--items", "500")
    result = cli.ok("backup", str(tmp_path))
    dumps = list(tmp_path.glob("feedback-*.dump"))
    assert len(dumps) == 1 and str(dumps[0]) in result.stdout
    ids = _item_ids(cli)
    assert f"{len(ids):,} items" in result.stdout
    restored = _scratch_pg()
    try:
        dsn = _pg_admin_url(restored).replace("postgresql+asyncpg", "postgresql")
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={dsn}", str(dumps[0])], check=True,
                       capture_output=True, timeout=120)
        assert _item_ids(Cli(_pg_admin_url(restored), tmp_path)) == ids
    finally:
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)'))
