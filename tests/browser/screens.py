"""Screenshots of the product for reviewers: ``make screens`` (``python -m tests.browser.screens``).

Starts its own server on the demo data (``feedback migrate`` + ``feedback seed-demo`` in a
temporary data directory), walks the kiosk through every step, and photographs each step, the
tracking page, the partner inbox and the board at phone (360×740) and kiosk (1280×800) sizes.
The PNGs go to docs/screens/ with a README index. They are reduced to 256 colours in the browser
itself (no imaging library needed) to keep each file small.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback.seed import DEMO_PASSWORD
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PROJECT_ROOT,
    LiveServer,
    start_server,
    stop_server,
)
from tests.conftest import SECRET

OUT = PROJECT_ROOT / "docs" / "screens"
SITE = "BKO-C4-LAF"
SIZES = {"phone": {"width": 360, "height": 740}, "kiosk": {"width": 1280, "height": 800}}
CONVERTER: list[Any] = []
KIOSK_TEXT = "On attend plus de trois heures à la maternité le matin, et il n'y a pas de banc."


@dataclass(frozen=True)
class Shot:
    name: str
    title: str


# The order of the README; each kiosk step is photographed after it is shown.
SHOTS = [
    Shot("01-language", "Kiosk: choose your language"),
    Shot("02-type", "Kiosk: what do you want to tell us?"),
    Shot("03-topic", "Kiosk: what is it about?"),
    Shot("04-say", "Kiosk: tell us (text and a voice note)"),
    Shot("05-contact", "Kiosk: may we call you back?"),
    Shot("06-publish", "Kiosk: may we publish a summary?"),
    Shot("07-gender", "Kiosk: woman or man (optional)"),
    Shot("08-age", "Kiosk: age band (optional)"),
    Shot("09-review", "Kiosk: check and send"),
    Shot("10-receipt", "Kiosk: receipt with the tracking code"),
    Shot("11-track", "Tracking page of a resolved item"),
    Shot("12-portal-inbox", "Partner portal: inbox"),
    Shot("13-board", "Public board: all health centres"),
]


# ---- small PNGs without an imaging library ----------------------------------------------

# In the browser (fast, and already running): decode a PNG, keep its 256 most frequent colours
# (after merging near-identical ones), map every pixel to the nearest, and return the palette and
# the indices. Screens of an interface have few colours, so this looks the same and weighs a
# third of the truecolour file.
QUANTIZE = """async (dataUrl) => {
  const img = new Image();
  img.src = dataUrl;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, img.width, img.height).data;
  const key = (i) => ((px[i] >> 3) << 10) | ((px[i + 1] >> 3) << 5) | (px[i + 2] >> 3);
  const counts = new Map();
  for (let i = 0; i < px.length; i += 4) { const k = key(i); counts.set(k, (counts.get(k) || 0) + 1); }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 256).map(e => e[0]);
  const palette = top.map(k => [((k >> 10) & 31) * 8 + 4, ((k >> 5) & 31) * 8 + 4, (k & 31) * 8 + 4]);
  const nearest = new Map();
  const out = new Uint8Array(px.length / 4);
  for (let i = 0, j = 0; i < px.length; i += 4, j++) {
    const k = key(i);
    let best = nearest.get(k);
    if (best === undefined) {
      const r = ((k >> 10) & 31) * 8 + 4, g = ((k >> 5) & 31) * 8 + 4, b = (k & 31) * 8 + 4;
      let bestDistance = Infinity;
      palette.forEach((c, n) => {
        const d = 3 * (c[0] - r) ** 2 + 4 * (c[1] - g) ** 2 + 2 * (c[2] - b) ** 2;
        if (d < bestDistance) { bestDistance = d; best = n; }
      });
      nearest.set(k, best);
    }
    out[j] = best;
  }
  let binary = '';
  for (let i = 0; i < out.length; i += 0x8000) binary += String.fromCharCode.apply(null, out.subarray(i, i + 0x8000));
  return {width: img.width, height: img.height, palette: palette.flat(), indices: btoa(binary)};
}"""


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def indexed_png(width: int, height: int, palette: list[int], indices: bytes) -> bytes:
    """An 8-bit palette PNG (colour type 3) from a palette and one index per pixel."""
    rows = b"".join(b"\x00" + indices[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
            + _chunk(b"PLTE", bytes(palette))
            + _chunk(b"IDAT", zlib.compress(rows, 9))
            + _chunk(b"IEND", b""))


def small_png(converter: Any, png: bytes) -> bytes:
    """The screenshot with at most 256 colours, or as it was when that is not smaller."""
    found = converter.evaluate(QUANTIZE, "data:image/png;base64," + base64.b64encode(png).decode())
    smaller = indexed_png(found["width"], found["height"], found["palette"], base64.b64decode(found["indices"]))
    return smaller if len(smaller) < len(png) else png


# ---- the server ------------------------------------------------------------------------

def demo_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], LiveServer]:
    """Migrate and seed the demo data in ``data_dir``, then serve it."""
    database_url = f"sqlite+aiosqlite:///{data_dir / 'feedback.db'}"
    env = {**os.environ, "FEEDBACK_DATA_DIR": str(data_dir), "FEEDBACK_DATABASE_URL": database_url,
           "FEEDBACK_SECRET_KEY": SECRET, "FEEDBACK_ENV": "development"}
    for command in (["migrate"], ["seed-demo"]):
        subprocess.run([sys.executable, "-m", "feedback", *command], cwd=PROJECT_ROOT, env=env, check=True,  # noqa: S603
                       stdout=subprocess.DEVNULL)
    return start_server(database_url, data_dir, FEEDBACK_KIOSK_IDLE_SECONDS="900",
                        FEEDBACK_KIOSK_WARNING_SECONDS="60")


# ---- the pictures ----------------------------------------------------------------------

def save(page: Any, size: str, shot: str, written: dict[str, int]) -> None:
    page.mouse.move(0, 0)  # no hover left over from the last click
    png = small_png(CONVERTER[0], page.screenshot(animations="disabled", caret="hide"))
    name = f"{size}-{shot}.png"
    (OUT / name).write_bytes(png)
    written[name] = len(png)


def kiosk_steps(page: Any, server: LiveServer, size: str, written: dict[str, int]) -> str:
    """Walk the kiosk in French and photograph every step; returns the receipt's code."""
    page.goto(server.url(f"/kiosk/{SITE}"))
    page.wait_for_selector("#flow.step-language")
    save(page, size, "01-language", written)
    answers = [
        ("02-type", "button[name=lang][value=fr]"),
        ("03-topic", "button[name=feedback_type][value=complaint]"),
        ("04-say", "button[name=topic][value=waiting]"),
        ("05-contact", "button[name=nav][value=next]"),
        ("06-publish", "button[name=contact_consent][value=no]"),
        ("07-gender", "button[name=publish_consent][value=yes]"),
        ("08-age", "button[name=gender][value=female]"),
        ("09-review", "button[name=age_band][value='25_34']"),
        ("10-receipt", "button[name=nav][value=send]"),
    ]
    for shot, answer in answers:
        if shot == "05-contact":  # on the "say" screen: some words and a short voice note
            page.fill("#text", KIOSK_TEXT)
            page.click("[data-record]")
            page.wait_for_selector("[data-stop]:not([hidden])")
            page.wait_for_timeout(1200)
            page.click("[data-stop]")
            page.wait_for_selector("[data-recorded]:not([hidden])")
            page.evaluate("window.scrollTo(0, 0)")
            save(page, size, "04-say", written)
        page.click(answer)
        step = shot.split("-", 1)[1]
        page.wait_for_selector("[data-receipt]" if step == "receipt" else f"#flow.step-{step}")
        page.evaluate("window.scrollTo(0, 0)")
        if shot != "04-say":  # photographed once something is said (above)
            save(page, size, shot, written)
    return str(page.locator(".tracking-code").inner_text()).replace("-", "").strip()


def resolved_code(server: LiveServer, page: Any) -> str | None:
    """The code of a resolved demo item (from the partner's inbox, filtered)."""
    page.goto(server.url("/portal/?status=resolved"))
    link = page.locator("#results tbody tr code").first
    return str(link.inner_text()).replace("-", "").strip() if link.count() else None


def staff_and_public(page: Any, server: LiveServer, size: str, written: dict[str, int]) -> None:
    page.goto(server.url("/language?lang=fr&next=/login"))
    page.fill("#login", "agent.laf")
    page.fill("#password", DEMO_PASSWORD)
    page.click("form[action$='/login'] button[type=submit]")
    page.wait_for_url("**/portal/**")
    save(page, size, "12-portal-inbox", written)
    code = resolved_code(server, page)
    if code:
        page.goto(server.url(f"/track/{code}"))
        save(page, size, "11-track", written)
    page.goto(server.url("/board/"))
    save(page, size, "13-board", written)


def write_index(written: dict[str, int]) -> None:
    lines = [
        "# Screens",
        "",
        "What Sauti looks like, at phone size (360×740) and on a kiosk screen (1280×800), on the",
        "demo data (`make run`). Regenerate them with `make screens` (it starts its own server on",
        "a fresh copy of the demo data; see `tests/browser/screens.py`). The kiosk is shown in",
        "French, its default language.",
        "",
        "| Screen | Phone (360×740) | Kiosk and desktop (1280×800) |",
        "|---|---|---|",
    ]
    for shot in SHOTS:
        cells = []
        for size in SIZES:
            name = f"{size}-{shot.name}.png"
            cells.append(f"[![{shot.title}, {size}]({name})]({name})" if name in written else "—")
        lines.append(f"| {shot.title} | {cells[0]} | {cells[1]} |")
    total = sum(written.values())
    lines += ["", f"{len(written)} images, {total // 1024} KB in all (largest {max(written.values()) // 1024} KB).", ""]
    (OUT / "README.md").write_text("\n".join(lines))


def main() -> int:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    data_dir = Path(tempfile.mkdtemp(prefix="sauti-screens-"))
    written: dict[str, int] = {}
    process = None
    try:
        print("seeding the demo data...", file=sys.stderr)
        process, server = demo_server(data_dir)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            CONVERTER.append(browser.new_page())  # a blank page that shrinks the screenshots
            for size, viewport in SIZES.items():
                context = browser.new_context(viewport=viewport, permissions=["microphone"],
                                              has_touch=size == "phone", is_mobile=size == "phone")
                context.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url
                              else route.abort())
                kiosk_steps(context.new_page(), server, size, written)
                staff_and_public(context.new_page(), server, size, written)
                context.close()
            browser.close()
    finally:
        if process is not None:
            stop_server(process)
        shutil.rmtree(data_dir, ignore_errors=True)
    write_index(written)
    for name, size in sorted(written.items()):
        print(f"{size // 1024:>4} KB  docs/screens/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
