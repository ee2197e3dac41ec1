#!/usr/bin/env python3
"""Dead letters of topic cinema.DLT: list them, or replay them to the event topic.

    scripts/dlt.py list                 one JSON line per dead letter, headers as an object
    scripts/dlt.py replay [GROUP...]    re-publish them (only those of GROUP, if given) to the
                                        event topic, value and key unchanged, with the original
                                        headers (message-id included) and `cinema-replay-group`
                                        naming the group that failed: only that group applies it
                                        again; the others skip it.

Reads with kcat (-J). Environment: KCAT (the kcat to run), KAFKA_BOOTSTRAP, KAFKA_TOPIC,
KAFKA_DLT_TOPIC. Replaying twice is safe: a group applies an event once (its inbox knows the
message id); an event that fails again is dead-lettered again.
"""
import json
import os
import subprocess
import sys
import tempfile

KCAT = os.environ.get("KCAT", "kcat")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
TOPIC = os.environ.get("KAFKA_TOPIC", "cinema")
DLT_TOPIC = os.environ.get("KAFKA_DLT_TOPIC", TOPIC + ".DLT")
REPLAY_HEADER = "cinema-replay-group"
GROUP_HEADER = "dlt-consumer-group"


def letters():
    """Every record on the dead-letter topic, in partition and offset order."""
    out = subprocess.run(
        [KCAT, "-C", "-b", BOOTSTRAP, "-t", DLT_TOPIC, "-o", "beginning", "-e", "-q", "-J"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    records.sort(key=lambda r: (r["partition"], r["offset"]))
    for record in records:
        flat = record.get("headers") or []
        record["headers"] = [(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)]
        yield record


def header(record, name):
    return next((value for key, value in record["headers"] if key == name), None)


def list_letters():
    for record in letters():
        print(json.dumps({
            "partition": record["partition"],
            "offset": record["offset"],
            "key": record.get("key"),
            "value": record.get("payload"),
            "headers": dict(record["headers"]),
        }, ensure_ascii=False), flush=True)


def replay(groups):
    replayed = 0
    for record in letters():
        group = header(record, GROUP_HEADER)
        if groups and group not in groups:
            continue
        headers = [(k, v) for k, v in record["headers"] if not k.startswith("dlt-") and k != REPLAY_HEADER]
        headers.append((REPLAY_HEADER, group or ""))
        command = [KCAT, "-P", "-b", BOOTSTRAP, "-t", TOPIC]
        if record.get("key") is not None:
            command += ["-k", record["key"]]
        for key, value in headers:
            command += ["-H", f"{key}={value if value is not None else ''}"]
        # A file argument is sent as one message, whatever bytes it holds.
        with tempfile.NamedTemporaryFile("wb") as payload:
            payload.write((record.get("payload") or "").encode())
            payload.flush()
            subprocess.run(command + [payload.name], check=True, timeout=60)
        replayed += 1
        print(f"replayed {DLT_TOPIC}[{record['partition']}]@{record['offset']} for group {group}", flush=True)
    print(f"{replayed} dead letter(s) replayed to {TOPIC}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("list", "replay"):
        sys.exit(__doc__)
    if sys.argv[1] == "list":
        list_letters()
    else:
        replay(set(sys.argv[2:]))
