#!/usr/bin/env python3
"""One trace across the processes: `make trace ID=<trace id>`.

Prints the log lines of every process that carry `trace.id=<id>`, merged in time order (the logs
have whole seconds; lines of one second keep each process's own order), then the events on the
topic whose `traceparent` Kafka header belongs to that trace, in partition and offset order.

    trace.py ID [--logs DIR] [--kcat PATH --brokers HOST:PORT --topic TOPIC]

ID is the 32 hex digits of a trace id, or a whole traceparent (as the gateway's `traceresponse`
header answers it). Without --kcat the events are left out. Exit status 1 when nothing matched.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
# StreamLogHandler: "<ISO-8601 time> <level> <label>: <metadata> [<source>] <message>"
LINE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})")


def trace_id(text):
    text = text.strip().lower()
    if TRACE_ID.match(text):
        return text
    match = TRACEPARENT.match(text)
    if match:
        return match.group(1)
    sys.exit(f"trace: '{text}' is neither a trace id (32 hex digits) nor a traceparent")


def log_lines(directory, wanted):
    """(time, process, order, line) for every line of every *.log carrying trace.id=wanted."""
    needle = f"trace.id={wanted}"
    found = []
    for path in sorted(glob.glob(os.path.join(directory, "*.log"))):
        process = os.path.basename(path)[: -len(".log")]
        with open(path, encoding="utf-8", errors="replace") as log:
            for order, line in enumerate(log):
                if needle in line:
                    time = LINE_TIME.match(line)
                    found.append((time.group(1) if time else "", process, order, line.rstrip("\n")))
    found.sort(key=lambda entry: (entry[0], entry[1], entry[2]))
    return found


def events(kcat, brokers, topic, wanted):
    """(partition, offset, event type, value) of each event whose traceparent header is in the trace."""
    environment = dict(os.environ)
    try:
        result = subprocess.run(
            [kcat, "-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p\t%o\t%h\t%s\n"],
            capture_output=True, text=True, timeout=30, env=environment,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"trace: events not read: {error}", file=sys.stderr)
        return []
    found = []
    for line in result.stdout.splitlines():
        parts = line.split("\t", 3)
        if len(parts) != 4:
            continue
        partition, offset, headers, value = parts
        # kcat prints headers as key=value joined with ','; a traceparent holds no ','.
        fields = dict(item.split("=", 1) for item in headers.split(",") if "=" in item)
        parent = TRACEPARENT.match(fields.get("traceparent", ""))
        if parent and parent.group(1) == wanted:
            found.append((int(partition), int(offset), fields.get("event-type", "?"), value))
    found.sort()
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("id")
    parser.add_argument("--logs", default=".run/logs")
    parser.add_argument("--kcat")
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="cinema")
    arguments = parser.parse_args()
    wanted = trace_id(arguments.id)

    lines = log_lines(arguments.logs, wanted)
    print(f"== trace {wanted}: {len(lines)} log lines in {arguments.logs} ==")
    width = max((len(process) for _, process, _, _ in lines), default=0)
    for _, process, _, line in lines:
        print(f"{process:<{width}} | {line}")
    found = events(arguments.kcat, arguments.brokers, arguments.topic, wanted) if arguments.kcat else []
    if arguments.kcat:
        print(f"== {len(found)} events on {arguments.topic} with traceparent in trace {wanted} ==")
        for partition, offset, event_type, value in found:
            print(f"{partition}/{offset} {event_type} {value}")
    return 0 if lines or found else 1


if __name__ == "__main__":
    sys.exit(main())
