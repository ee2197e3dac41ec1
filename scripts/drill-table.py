#!/usr/bin/env python3
"""Renders the drills' figures (JSON lines from CINEMA_DRILL_FIGURES) as a table, prints it, and
writes it into RELIABILITY.md between the figures markers.

    scripts/drill-table.py FIGURES.jsonl [RELIABILITY.md]
"""
import datetime
import json
import os
import platform
import sys

START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def main():
    rows = []
    if os.path.exists(sys.argv[1]):
        with open(sys.argv[1]) as figures:
            rows = [json.loads(line) for line in figures if line.strip()]
    header = "| drill | sent | accepted | confirmed | lost | doubled | seconds | notes |\n|---|---:|---:|---:|---:|---:|---:|---|\n"
    body = "".join(
        f"| {r['drill']} | {r['sent']} | {r['accepted']} | {r['confirmed']} | {r['lost']} | {r['doubled']} | {r['seconds']} | {r['note']} |\n"
        for r in rows
    )
    cores = os.cpu_count()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = os.environ.get("CINEMA_DRILLS", "?")
    table = f"Last run: {stamp}, `make drills DRILLS={mode}`, {platform.system()} {platform.machine()}, {cores} cores.\n\n{header}{body}"
    print(table)
    if len(sys.argv) > 2 and rows:
        path = sys.argv[2]
        text = open(path).read()
        if START in text and END in text:
            before, rest = text.split(START, 1)
            _, after = rest.split(END, 1)
            with open(path, "w") as out:
                out.write(f"{before}{START}\n{table}{END}{after}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main()
