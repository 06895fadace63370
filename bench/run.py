"""`make bench`: the measurements behind DESIGN §12, in one bounded run (a few minutes).

1. Kiosk submission (the final "Send" of the kiosk flow) against the stack's floor
   (``bench/floor.py``) at 1, 16 and 64 concurrent clients: throughput, p50/p95/p99, errors,
   and the ratio to the floor.
2. Board pages, the tracking page and the Open311 request list on a database of 10,000 items
   and on one of 1,000,000 items (both made with ``feedback seed-demo --items N``; the 1M one is
   copied from ``/tmp/big1m/feedback.db`` or ``--big-db`` when present, else generated).
3. The peak memory (VmHWM) of every server process.

Every server is a real uvicorn subprocess on a free loopback port; the load generator
(``bench/load.py``) only targets 127.0.0.1. Results are printed and written as JSON to
``bench/results/`` (not committed; docs/BENCHMARKS.md holds the numbers we publish).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import load, servers

PROJECT_ROOT = servers.PROJECT_ROOT
DEFAULT_BIG_DB = Path("/tmp/big1m/feedback.db")
CONCURRENCY = (1, 16, 64)
# Each page's requests are sent in this many turns per database, the databases alternating;
# likewise the floor's and the kiosk's submissions.
PAGE_ROUNDS = 6
SUBMIT_ROUNDS = 6
BOARD_SITE = "BKO-C4-LAF"
BOARD_PARTNER = "dtc-laf"


@dataclass
class Plan:
    """How much each measurement may send and for how long (both bounds hold)."""

    submit_count: int = 3000
    submit_seconds: float = 12.0
    page_count: int = 300
    page_seconds: float = 6.0
    page_clients: int = 1
    big_items: int = 1_000_000
    small_items: int = 10_000


@dataclass
class Report:
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    targets: list[tuple[str, bool, str]] = field(default_factory=list)


def say(message: str) -> None:
    print(message, flush=True)


def machine_facts() -> dict[str, Any]:
    """What the numbers depend on: CPUs, memory, Python, SQLite, load at the start."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kib = int(next(line for line in meminfo if line.startswith("MemTotal:")).split()[1])
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(total_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def feedback_cli(env: dict[str, str], *args: str) -> None:
    """Run ``python -m feedback ARGS`` with ``env`` (progress goes to our stderr)."""
    subprocess.run(  # noqa: S603 (our interpreter, our arguments)
        [sys.executable, "-m", "feedback", *args], cwd=PROJECT_ROOT, env=env, check=True,
        stdout=subprocess.DEVNULL,
    )


def build_database(path: Path, items: int) -> float:
    """A migrated database with the demo data and ``items`` generated items; returns seconds."""
    url = f"sqlite+aiosqlite:///{path}"
    env = servers.app_env(url, path.parent)
    started = time.monotonic()
    feedback_cli(env, "migrate")
    feedback_cli(env, "seed-demo", "--items", str(items))
    return time.monotonic() - started


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (WAL included), opening the source read-only."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def catch_up_schema(path: Path) -> list[str]:
    """Bring a copied, migrated database up to the current models: nullable columns, indexes.

    The initial migration was regenerated while the schema was young, so a database made before
    0002 may lack a column added since; ``feedback migrate`` cannot know. Returns what was added;
    raises when a missing column cannot be added in place (the caller then generates a fresh
    database).
    """
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.schema import CreateColumn, CreateIndex

    import feedback.models  # noqa: F401 (registers every table)
    from feedback.db import Base

    engine = create_engine(f"sqlite:///{path}")
    added: list[str] = []
    try:
        with engine.begin() as conn:
            existing = inspect(conn)
            tables = set(existing.get_table_names())
            missing_tables = [t for t in Base.metadata.sorted_tables if t.name not in tables]
            if missing_tables:
                Base.metadata.create_all(conn, tables=missing_tables)
                added += [f"table {t.name}" for t in missing_tables]
            for table in Base.metadata.sorted_tables:
                if table.name not in tables:
                    continue
                have = {c["name"] for c in existing.get_columns(table.name)}
                for column in table.columns:
                    if column.name in have:
                        continue
                    if not column.nullable and column.server_default is None:
                        raise RuntimeError(f"{table.name}.{column.name} is NOT NULL without a default")
                    ddl = CreateColumn(column).compile(dialect=conn.dialect)
                    conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN {ddl}')
                    added.append(f"column {table.name}.{column.name}")
            # Indexes: missing ones created, changed ones (another column list or condition)
            # rebuilt, so the copy is read the way a fresh database would be.
            current = {name: " ".join((sql or "").split()) for name, sql in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'")}
            for table in Base.metadata.sorted_tables:
                for index in table.indexes:
                    wanted = " ".join(str(CreateIndex(index).compile(dialect=conn.dialect)).split())
                    if current.get(index.name) == wanted:
                        continue
                    conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
                    conn.exec_driver_sql(wanted)
                    added.append(f"index {index.name}")
    finally:
        engine.dispose()
    return added


def count_items(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM feedback_item").fetchone()[0])


def page_paths(path: Path, rng: random.Random) -> dict[str, list[str]]:
    """The pages to measure on one database: the same site and partner boards on every
    database (the demo's Lafiabougou CSCOM and its management), random tracking codes."""
    site, partner = BOARD_SITE, BOARD_PARTNER
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        top = int(conn.execute("SELECT max(id) FROM feedback_item").fetchone()[0])
        ids = [rng.randint(1, top) for _ in range(200)]
        marks = ",".join("?" * len(ids))
        codes = [row[0] for row in conn.execute(
            f"SELECT tracking_code FROM feedback_item WHERE id IN ({marks})", ids)]  # noqa: S608
    boards = {}
    for board in ("/board/", f"/board/sites/{site}", f"/board/partners/{partner}"):
        for period in ("month", "3m", "12m"):
            boards[f"{board}?period={period}"] = [f"{board}?period={period}"]
    return {
        "/board": ["/board"],
        **boards,
        "/track/{code}": [f"/track/{code}" for code in codes],
        "/open311/v2/requests.json": ["/open311/v2/requests.json"],
    }


async def measure_submissions(report: Report, plan: Plan, scratch: Path, small_db: Path) -> None:
    """Floor and kiosk, one concurrency level after the other (same machine state for both)."""
    kiosk_db = scratch / "kiosk.db"
    copy_database(small_db, kiosk_db)
    floor = servers.floor_server(scratch / "floor.db", scratch)
    kiosk = servers.app_server(f"sqlite+aiosqlite:///{kiosk_db}", scratch)
    floor.start()
    kiosk.start()
    try:
        # Warm both (imports, template compilation, first connections) without measuring.
        await load.run_load(floor.url, load.floor_submit_as("multipart"), clients=4, count=100,
                            duration=10, label="warm-up")
        await load.run_load(kiosk.url, load.kiosk_submit_as("multipart"), clients=4, count=100,
                            duration=10, label="warm-up", setup=load.kiosk_setup)
        for clients in CONCURRENCY:
            for encoding in ("multipart", "urlencoded") if clients == 16 else ("multipart",):
                # Turn by turn, a share of the requests at a time: a machine whose speed drifts
                # during the run shifts the floor and the kiosk alike.
                floor_runs, kiosk_runs = [], []
                for _round in range(SUBMIT_ROUNDS):
                    floor_runs.append(await load.run_load(
                        floor.url, load.floor_submit_as(encoding), clients=clients,
                        count=plan.submit_count // SUBMIT_ROUNDS, duration=plan.submit_seconds / SUBMIT_ROUNDS,
                        label=f"floor ({encoding})",
                    ))
                    kiosk_runs.append(await load.run_load(
                        kiosk.url, load.kiosk_submit_as(encoding), clients=clients,
                        count=plan.submit_count // SUBMIT_ROUNDS, duration=plan.submit_seconds / SUBMIT_ROUNDS,
                        label=f"kiosk submission ({encoding})", setup=load.kiosk_setup, check=load.receipt_check,
                    ))
                floor_result = load.LoadResult.merged(floor_runs, f"floor ({encoding})")
                kiosk_result = load.LoadResult.merged(kiosk_runs, f"kiosk submission ({encoding})")
                ratio = kiosk_result.throughput / floor_result.throughput if floor_result.throughput else 0
                say(floor_result.line())
                say(kiosk_result.line() + f"  ratio={ratio:.2f}")
                report.submissions.append({
                    "clients": clients, "encoding": encoding, "floor": floor_result.summary(),
                    "kiosk": kiosk_result.summary(), "ratio": round(ratio, 2),
                })
    finally:
        floor.stop()
        kiosk.stop()
        report.memory["floor (bare Starlette + aiosqlite)"] = round(floor.peak_rss_mib(), 1)
        report.memory["app, kiosk submissions"] = round(kiosk.peak_rss_mib(), 1)


async def measure_pages(report: Report, plan: Plan, scratch: Path, databases: dict[str, Path]) -> None:
    """Every page on every database: a cold first request, then bounded sequential runs.

    The databases are measured turn by turn, a share of each page's requests at a time, so a
    machine that slows down or speeds up over the minutes of the run (a shared host does) shifts
    every database's numbers alike: the 1M-to-10k ratio compares like with like.
    """
    rng = random.Random(12)
    paths = {label: page_paths(database, rng) for label, database in databases.items()}
    # Boards are measured computing their figures on every request: what their time says is
    # how the aggregates scale, not how well the per-process cache hides it.
    running = {label: servers.app_server(f"sqlite+aiosqlite:///{database}", scratch, FEEDBACK_BOARD_CACHE_SECONDS="0")
               for label, database in databases.items()}
    for server in running.values():
        server.start()
    try:
        first_label = next(iter(databases))
        for name in list(paths[first_label]):
            runs: dict[str, list[load.LoadResult]] = {label: [] for label in databases}
            cold: dict[str, load.LoadResult] = {}
            targets: dict[str, list[str]] = {}
            for label, server in running.items():
                urls = paths[label][name]
                # A path that redirects (``/board`` → ``/board/``) is measured at its target.
                async with httpx.AsyncClient(timeout=120) as http:
                    final = (await http.get(server.url + urls[0], follow_redirects=True)).url.raw_path.decode()
                if final != urls[0] and len(urls) == 1:
                    note = f"`{urls[0]}` answers with a redirect to `{final}`: measured `{final}`"
                    if note not in report.notes:
                        report.notes.append(note)
                    urls = [final]
                targets[label] = urls
                cold[label] = await load.run_load(server.url, load.get_path(urls), clients=1, count=1,
                                                  duration=60, label=f"{name} cold")
            for _round in range(PAGE_ROUNDS):
                for label, server in running.items():
                    runs[label].append(await load.run_load(
                        server.url, load.get_path(targets[label]), clients=plan.page_clients,
                        count=plan.page_count // PAGE_ROUNDS, duration=plan.page_seconds / PAGE_ROUNDS,
                        label=f"{name} @ {label}",
                    ))
            for label in databases:
                result = load.LoadResult.merged(runs[label], f"{name} @ {label}")
                say(result.line() + f"  first={cold[label].ms(1.0):.0f} ms")
                report.pages.append({"database": label, "page": name, "first_ms": round(cold[label].ms(1.0), 1),
                                     **result.summary()})
    finally:
        for label, server in running.items():
            server.stop()
            report.memory[f"app, pages on {label}"] = round(server.peak_rss_mib(), 1)


def judge(report: Report) -> None:
    """The DESIGN §12 targets, each with its verdict."""
    at16 = next(s for s in report.submissions if s["clients"] == 16 and s["encoding"] == "multipart")
    k = at16["kiosk"]
    report.targets.append(("submission ≥ 0.5× floor at 16 clients", at16["ratio"] >= 0.5, f"{at16['ratio']:.2f}×"))
    report.targets.append(("submission p99 < 100 ms at 16 clients", k["p99_ms"] < 100, f"{k['p99_ms']} ms"))
    errors = sum(s["kiosk"]["errors"] for s in report.submissions)
    report.targets.append(("zero submission errors", errors == 0, f"{errors} errors"))
    by_key = {(p["database"], p["page"]): p for p in report.pages}
    for (database, page), row in by_key.items():
        if not page.startswith("/board") or database != "1M":
            continue
        small = by_key.get(("10k", page))
        report.targets.append((f"{page} p95 < 50 ms at 1M", row["p95_ms"] < 50, f"{row['p95_ms']} ms"))
        if small:
            ratio = row["p95_ms"] / small["p95_ms"] if small["p95_ms"] else 0
            report.targets.append((f"{page} 1M ≤ 1.5× 10k (p95)", ratio <= 1.5,
                                   f"{row['p95_ms']} / {small['p95_ms']} ms = {ratio:.2f}×"))


def markdown(report: Report) -> str:
    """The results as Markdown tables (the shape docs/BENCHMARKS.md uses)."""
    f = report.facts
    lines = [
        f"Machine: {f['nproc']} CPUs ({f['cpu']}), {f['memory_gib']} GiB, Python {f['python']}, "
        f"SQLite {f['sqlite']}, Linux {f['kernel']}; load average at start {f['load_average_at_start']}; "
        f"{f['date']}.",
        "",
        "| clients | body | floor /s | kiosk /s | ratio | kiosk p50 | p95 | p99 (ms) | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report.submissions:
        k = s["kiosk"]
        lines.append(
            f"| {s['clients']} | {s['encoding']} | {s['floor']['per_second']} | {k['per_second']} | "
            f"{s['ratio']:.2f} | {k['p50_ms']} | {k['p95_ms']} | {k['p99_ms']} | {k['errors']} |"
        )
    lines += ["", "| database | page | first (ms) | p50 | p95 | p99 (ms) | req/s | errors |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for p in report.pages:
        lines.append(
            f"| {p['database']} | `{p['page']}` | {p['first_ms']} | {p['p50_ms']} | {p['p95_ms']} | "
            f"{p['p99_ms']} | {p['per_second']} | {p['errors']} |"
        )
    lines += ["", "| server | peak RSS (MiB) |", "|---|---:|"]
    lines += [f"| {name} | {mib} |" for name, mib in report.memory.items()]
    lines += ["", "| target (DESIGN §12) | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {value} |" for name, ok, value in report.targets]
    if report.notes:
        lines += [""] + [f"- {note}" for note in dict.fromkeys(report.notes)]
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace) -> Report:
    plan = Plan()
    if args.quick:
        plan = Plan(submit_count=400, submit_seconds=4, page_count=60, page_seconds=3, big_items=100_000,
                    small_items=2_000)
    report = Report(facts=machine_facts())
    scratch = Path(tempfile.mkdtemp(prefix="sauti-bench-"))
    say(f"bench: scratch directory {scratch}")
    try:
        small_db = scratch / "small.db"
        seconds = build_database(small_db, plan.small_items)
        small_label = "10k" if plan.small_items == 10_000 else f"{plan.small_items:,}"
        report.notes.append(f"{small_label} database: `feedback seed-demo --items {plan.small_items}` "
                            f"({count_items(small_db):,} items with the demo's) in {seconds:.0f} s")
        say(f"bench: built the {small_label} database in {seconds:.0f} s")

        await measure_submissions(report, plan, scratch, small_db)
        databases = {small_label: small_db}

        if not args.skip_big:
            big_db = scratch / "big.db"
            source = Path(args.big_db)
            source_exists = source.exists()  # noqa: ASYNC240 (once, before any load)
            big_label = "1M" if plan.big_items == 1_000_000 else f"{plan.big_items:,}"
            copied = False
            if not args.quick and source_exists:
                copy_database(source, big_db)
                try:
                    # The real upgrade path first (it fills new aggregate tables), then whatever
                    # a database from before versioned migrations still lacks.
                    feedback_cli(servers.app_env(f"sqlite+aiosqlite:///{big_db}", big_db.parent), "migrate")
                    added = catch_up_schema(big_db)
                    copied = True
                except RuntimeError as exc:
                    say(f"bench: {source} has an older schema ({exc}): generating instead")
                    big_db.unlink()
                    added = []
                if copied:
                    note = (f"1M database: copied from {source} ({count_items(big_db):,} items; "
                            "made by `feedback seed-demo --items 1000000`)")
                    if added:
                        note += f"; the copy was brought up to the current schema ({', '.join(added)})"
                    report.notes.append(note)
                    say(f"bench: {note}")
            if not copied:
                say(f"bench: no database at {source}: generating {plan.big_items:,} items "
                    "with `feedback seed-demo` (a few minutes)")
                seconds = build_database(big_db, plan.big_items)
                report.notes.append(f"{big_label} database: generated in this run by `feedback seed-demo "
                                    f"--items {plan.big_items}` in {seconds:.0f} s")
            databases[big_label] = big_db
        await measure_pages(report, plan, scratch, databases)
        judge(report)
    finally:
        if args.keep:
            say(f"bench: kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, 100k items (a smoke run)")
    parser.add_argument("--skip-big", action="store_true", help="leave out the 1M-item database")
    parser.add_argument("--big-db", default=str(DEFAULT_BIG_DB), help="an existing 1M-item SQLite database "
                        "to copy (never modified)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report = asyncio.run(run(args))
    text = markdown(report)
    say("\n" + text)
    out_dir = PROJECT_ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{stamp}.json").write_text(json.dumps(report.__dict__, indent=2, default=str))
    (out_dir / f"{stamp}.md").write_text(text)
    say(f"bench: done in {time.monotonic() - started:.0f} s; results in bench/results/{stamp}.md")
    return 0 if all(ok for _name, ok, _value in report.targets) else 1


if __name__ == "__main__":
    raise SystemExit(main())
