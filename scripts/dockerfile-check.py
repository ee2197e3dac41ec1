#!/usr/bin/env python3
"""Checks the Dockerfile against the tree, since CI has no Docker engine to build it with.

    scripts/dockerfile-check.py [--runtime-packages FILE]

- every stage named in `COPY --from=` is defined before it;
- every COPY source outside another stage exists, and .dockerignore lets its files into the build
  context (a pattern with a wildcard may match nothing: Package.resolved is optional);
- every repository script a RUN executes exists, is executable in git, and was copied into that
  stage before the RUN;
- the executables scripts/build-release.sh collects are exactly the package's products, and the
  image's CMD names one of them;
- with --runtime-packages (written by scripts/build-release.sh), the final stage's apt-get line
  installs every package the binaries' shared libraries come from.

Exit status 1 with one line per problem.
"""

import argparse
import glob
import json
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def instructions(path):
    """(line number, INSTRUCTION, arguments) with continuations joined and comments dropped."""
    result, buffer, start = [], "", 0
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not buffer and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if buffer and line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            if not buffer:
                start = number
            if line.endswith("\\"):
                buffer += line[:-1] + " "
                continue
            buffer += line
            keyword, _, rest = buffer.strip().partition(" ")
            result.append((start, keyword.upper(), rest.strip()))
            buffer = ""
    return result


def flags_and_args(text):
    """Split `--flag=value ... args` into a dict of flags and the remaining words."""
    words = shlex.split(text)
    flags = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        flags[name] = value
    return flags, words


def dockerignore_patterns():
    path = os.path.join(ROOT, ".dockerignore")
    patterns = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    negated = line.startswith("!")
                    patterns.append((negated, line.lstrip("!").strip("/")))
    return patterns


def pattern_matches(pattern, path):
    """Docker's matching, closely enough for this file: `**` spans directories, `*` and `?` stay
    within one (no character classes), and a pattern that matches a directory matches everything
    below it."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    parts = path.split("/")
    return any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1))


def in_context(path, patterns):
    excluded = False
    for negated, pattern in patterns:
        if pattern_matches(pattern, path):
            excluded = not negated
    return not excluded


def git_files(under):
    out = subprocess.run(
        ["git", "ls-files", "-s", "--", under], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    files = {}
    for line in out.splitlines():
        meta, _, name = line.partition("\t")
        files[name] = meta.split()[0]
    return files


def package_products():
    text = open(os.path.join(ROOT, "Package.swift")).read()
    names = set(re.findall(r'executable:\s*"([a-z]+)"', text))
    names |= set(re.findall(r'\.executable\(name:\s*"([a-z]+)"', text))
    return names


def build_script_executables():
    text = open(os.path.join(ROOT, "scripts/build-release.sh")).read()
    match = re.search(r"^EXECUTABLES=\(([^)]*)\)", text, re.M)
    return set(match.group(1).split()) if match else set()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dockerfile", default=os.path.join(ROOT, "Dockerfile"))
    parser.add_argument("--runtime-packages")
    options = parser.parse_args()

    problems = []
    patterns = dockerignore_patterns()
    stages = []  # (name or None, copied sources)
    final_apt_packages = set()
    cmd = None
    for number, keyword, args in instructions(options.dockerfile):
        where = f"Dockerfile:{number}"
        if keyword == "FROM":
            words = args.split()
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append((name, set()))
            final_apt_packages = set()
            cmd = None
        elif keyword in ("COPY", "ADD"):
            flags, words = flags_and_args(args)
            if len(words) < 2:
                problems.append(f"{where}: {keyword} needs a source and a destination")
                continue
            sources = words[:-1]
            if "from" in flags:
                earlier = [s[0] for s in stages[:-1]]
                if flags["from"].lower() not in earlier:
                    problems.append(f"{where}: COPY --from={flags['from']}: no earlier stage has that name")
                continue
            for source in sources:
                source = source[2:] if source.startswith("./") else source
                # A clone has only what git tracks: a file present here but untracked would pass
                # here and break the build in CI. A wildcard may match nothing (optional files).
                tracked = git_files(source)
                if not tracked and not glob.has_magic(source):
                    problems.append(f"{where}: COPY source {source} is not in git (or holds no tracked files)")
                    continue
                for name in tracked:
                    if not in_context(name, patterns):
                        problems.append(f"{where}: {name} is copied but .dockerignore keeps it out of the context")
                        break
                stages[-1][1].add(source.rstrip("/"))
        elif keyword == "RUN":
            _, words = flags_and_args(args)
            for word in re.findall(r"(?:\./)?scripts/[\w./-]+", " ".join(words)):
                script = word[2:] if word.startswith("./") else word
                tracked = git_files(script)
                if script not in tracked:
                    problems.append(f"{where}: RUN executes {script}, which is not a tracked file")
                elif tracked[script] != "100755":
                    problems.append(f"{where}: RUN executes {script}, which is not executable in git")
                copied = stages[-1][1] if stages else set()
                if not any(script == c or script.startswith(c + "/") for c in copied):
                    problems.append(f"{where}: RUN executes {script} before any COPY brings it into this stage")
            if "apt-get install" in args:
                final_apt_packages |= {
                    w for w in args.split("apt-get install", 1)[1].split("&&")[0].split() if not w.startswith("-")
                }
        elif keyword == "CMD":
            try:
                cmd = json.loads(args)
            except ValueError:
                cmd = shlex.split(args)

    products, collected = package_products(), build_script_executables()
    if products != collected:
        problems.append(
            f"scripts/build-release.sh collects {sorted(collected)}, Package.swift declares {sorted(products)}"
        )
    # Resource bundles (the dashboard's page) travel inside /dist/bin: the runtime stage must copy
    # that folder whole, and the build script must put the bundles there.
    if "resources:" in open(os.path.join(ROOT, "Package.swift")).read():
        with open(os.path.join(ROOT, "scripts", "build-release.sh")) as f:
            if ".resources" not in f.read():
                problems.append("Package.swift declares resources that scripts/build-release.sh does not collect")
        with open(options.dockerfile) as f:
            if not re.search(r"^COPY --from=\S+ /dist/bin/ ", f.read(), re.MULTILINE):
                problems.append("Dockerfile: the runtime stage must copy /dist/bin/ whole (it holds the resource bundles)")
    if not cmd or os.path.basename(cmd[0]) not in products:
        problems.append(f"Dockerfile: the final CMD {cmd} names none of the executables {sorted(products)}")
    if options.runtime_packages:
        with open(options.runtime_packages) as f:
            needed = {line.strip() for line in f if line.strip()}
        missing = needed - final_apt_packages
        if missing:
            problems.append(
                f"Dockerfile: the runtime stage does not install {sorted(missing)}, which the binaries need"
                f" ({options.runtime_packages})"
            )

    for problem in problems:
        print(f"dockerfile-check: {problem}", file=sys.stderr)
    if problems:
        return 1
    checked = "the stages, COPY sources, .dockerignore, RUN scripts, executables"
    if options.runtime_packages:
        checked += ", runtime packages"
    print(f"dockerfile-check: OK ({checked})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
