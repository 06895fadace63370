"""Before the suite: under CI, a missing browser or database is a failure, never a skip."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys


def main() -> int:
    problems = []
    if not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"):
        problems.append("Chromium is not installed (apt-get install -y chromium): browser tests cannot run")
    url = os.environ.get("FEEDBACK_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        try:
            import asyncpg

            async def ping() -> None:
                conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=5)
                await conn.close()

            asyncio.run(ping())
        except Exception as exc:  # noqa: BLE001
            problems.append(f"PostgreSQL is not reachable at {url}: {exc}")
    for problem in problems:
        print(f"preflight: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
