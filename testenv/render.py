#!/usr/bin/env python3
"""Prints a file with ${NAME} replaced from an env file of `export NAME=value` lines (the test
ground's), so examples/ can name the seeded ids. Unknown names are an error, not left as is."""

import re
import string
import sys


def load(path: str) -> dict[str, str]:
    values = {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line.strip())
        if m:
            values[m.group(1)] = m.group(2).strip("'\"")
    return values


def main() -> None:
    env_file, *files = sys.argv[1:]
    values = load(env_file)
    for f in files:
        sys.stdout.write(string.Template(open(f, encoding="utf-8").read()).substitute(values))
        sys.stdout.write("\n---\n" if len(files) > 1 else "")


if __name__ == "__main__":
    main()
