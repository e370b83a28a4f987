"""Benchmark: compiling a real newsletter once, then rendering it per reader.

Compiles ../shared/testdata/newsletter/weekly.html (30 KB, 41 CSS rules, 25 links) in the default
layout the way a campaign start does (CSS inlined by premailer, links collected, text part derived,
both parts compiled in the sandbox), then renders HTML and text for one reader with 25 tracked link
URLs, as the send path will. Prints one JSON line, last: compile_ms (median of runs after a warm-up)
and render_us (mean over many renders), with the ratio of one compile to one render.
Run: .venv/bin/python -m bench.compile [--newsletter PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from app import create_app
from bench import scratch_folder
from mailer.compiler import compile_message

NEWSLETTER = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "newsletter" / "weekly.html"
LAYOUT = Path(__file__).resolve().parents[1] / "templates" / "mailer" / "layouts" / "newsletter.html"
# The sample's own variables, mapped onto Kairan's personalisation context.
NAMES = {"{{ first_name }}": "{{ subscriber.attribs.first_name }}",
         "{{ last_name }}": "{{ subscriber.attribs.last_name }}", "{{ city }}": "{{ subscriber.attribs.city }}",
         "{{ member_since }}": "{{ subscriber.attribs.member_since }}", "{{ email }}": "{{ subscriber.email }}"}
COMPILES = 15
RENDERS = 5000


def main() -> None:
    """Compile and render, then print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--newsletter", type=Path, default=NEWSLETTER)
    args = parser.parse_args()
    if not args.newsletter.exists():
        raise SystemExit(f"{args.newsletter} is missing: pass --newsletter with a newsletter HTML file.")
    body = args.newsletter.read_text(encoding="utf-8")
    for theirs, ours in NAMES.items():
        body = body.replace(theirs, ours)
    layout = LAYOUT.read_text(encoding="utf-8")
    folder = str(scratch_folder("compile"))
    app = create_app({"KAIRAN_DATA_DIR": folder, "KAIRAN_REDIS_URL": "redis://127.0.0.1:1/0"})
    with app.app_context():
        compile_message(body, layout)  # warm-up: imports, cssutils' caches
        samples = []
        for _ in range(COMPILES):
            started = time.perf_counter()
            compiled = compile_message(body, layout)
            samples.append((time.perf_counter() - started) * 1000)
        context = {
            "subscriber": {"id": 1, "uuid": "0192f0c4-0000-7000-8000-000000000001", "email": "taro@example.jp",
                           "name": "山田 太郎", "status": "enabled",
                           "attribs": {"first_name": "太郎", "last_name": "山田", "city": "大阪",
                                       "member_since": "2021-04-01"}},
            "campaign": {"id": 1, "uuid": "c", "name": "Weekly #142", "subject": "Weekly"},
            "sender": {"name": "回覧商事", "address": "大阪市北区梅田1-2-3", "contact": "info@kairan.example"},
            "unsubscribe_url": "https://kairan.example/u/token", "preferences_url": "https://kairan.example/p/token",
            "archive_url": "", "track_view": "", "preheader": "今週のお知らせ", "lang": "ja",
        }
        # What the send path passes: one signed click URL per link.
        tracked = [f"https://kairan.example/c/AbCdEfGh{i:02d}.x7Yz" for i in range(len(compiled.urls))]
        html, text = compiled.render(context, tracked)
        assert "{{" not in html and "山田" in text and tracked[0] in html
        started = time.perf_counter()
        for _ in range(RENDERS):
            compiled.render(context, tracked)
        render_us = (time.perf_counter() - started) / RENDERS * 1e6
    compile_ms = statistics.median(samples)
    print(json.dumps({
        "benchmark": "compile", "newsletter_kb": round(len(body.encode()) / 1024, 1), "links": len(compiled.urls),
        "html_kb": round(len(html.encode()) / 1024, 1), "text_kb": round(len(text.encode()) / 1024, 1),
        "compile_ms": round(compile_ms, 1), "render_us": round(render_us, 1),
        "compile_to_render_ratio": round(compile_ms * 1000 / render_us), "target_compile_ms": 100,
        "target_render_us": 100,
    }))


if __name__ == "__main__":
    main()
