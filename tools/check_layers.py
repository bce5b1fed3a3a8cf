#!/usr/bin/env python3
"""Check the include layering of include/dualrerank/ (docs/design.md section 11, STYLE.md's layout).

    python3 tools/check_layers.py          exit 1 and print each violation

A header in folder A may include a header in folder B only if B is in ALLOWED[A]. The rules:
core <- nn <- model <- decode; train, io, eval and serve sit on model; io never includes train or
sim; only the simulator wing (sim/) includes sim/; the top-level headers (the umbrella,
serve.hpp, eigen.hpp) include no sim/. Outside include/: tools/ never includes examples/.
Python 3 standard library only.
"""

import os
import re
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LIB = os.path.join(REPO, "include", "dualrerank")
INCLUDE = re.compile(r'^\s*#\s*include\s*(?:"([^"]+)"|<(dualrerank/[^>]+)>)')

BASE = {"top", "core"}
ALLOWED = {
    "top": BASE,
    "core": BASE,
    "nn": BASE | {"nn"},
    "model": BASE | {"nn", "model"},
    "decode": BASE | {"nn", "model", "decode"},
    "data": BASE | {"data"},
    "eval": BASE | {"eval", "model"},
    "io": BASE | {"nn", "model", "io", "data"},
    "train": BASE | {"nn", "model", "decode", "io", "eval", "data", "train"},
    "serve": BASE | {"nn", "model", "decode", "io", "serve"},
    "sim": None,  # the simulator wing may include anything
}
# the top-level headers themselves (umbrella, serve.hpp, eigen.hpp): anything but sim/
TOP_LEVEL_FORBIDDEN = {"sim"}


def folder_of(path):
    rel = os.path.relpath(path, LIB).replace(os.sep, "/")
    return rel.split("/")[0] if "/" in rel else "top"


def check_library(errors):
    for root, _, files in os.walk(LIB):
        for name in sorted(files):
            if not name.endswith(".hpp"):
                continue
            path = os.path.join(root, name)
            src = folder_of(path)
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    if m.group(1):
                        target = os.path.normpath(os.path.join(root, m.group(1)))
                    else:
                        target = os.path.normpath(os.path.join(REPO, "include", m.group(2)))
                    if not target.startswith(LIB + os.sep):
                        continue
                    dst = folder_of(target)
                    where = "%s:%d" % (os.path.relpath(path, REPO), lineno)
                    if src == "top" and os.path.dirname(path) == LIB:
                        if dst in TOP_LEVEL_FORBIDDEN:
                            errors.append("%s: the top-level header includes %s/ (%s)" % (where, dst, line.strip()))
                        continue
                    allowed = ALLOWED.get(src)
                    if allowed is None:
                        if src not in ALLOWED:
                            errors.append("%s: folder %s/ has no layering rule in tools/check_layers.py" % (where, src))
                        continue
                    if dst not in allowed:
                        errors.append("%s: %s/ may not include %s/ (%s)" % (where, src, dst, line.strip()))


def check_tools(errors):
    tools = os.path.join(REPO, "tools")
    for root, _, files in os.walk(tools):
        for name in sorted(files):
            if not name.endswith((".hpp", ".cpp", ".h", ".cc")):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if re.match(r'^\s*#\s*include\s*"[^"]*examples/', line):
                        errors.append("%s:%d: tools/ includes examples/ (%s)" % (os.path.relpath(path, REPO), lineno, line.strip()))


def main():
    errors = []
    check_library(errors)
    check_tools(errors)
    for e in errors:
        print(e)
    if errors:
        print("check_layers: %d violation(s)" % len(errors))
        return 1
    print("check_layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
