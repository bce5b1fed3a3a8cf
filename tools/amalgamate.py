#!/usr/bin/env python3
"""Generate the single-header distribution of dualrerank.

    python3 tools/amalgamate.py                 write single_include/dualrerank/dualrerank.hpp
    python3 tools/amalgamate.py --check         exit 1 if the committed file is stale (or missing)
    python3 tools/amalgamate.py --list-unreachable
                                                print the headers the umbrella does not include

Starting from the umbrella include/dualrerank/dualrerank.hpp, every quoted include
(`#include "..."`, resolved relative to the including file) and every `#include <dualrerank/...>`
is replaced by the text of that header, exactly once per file (the `#pragma once` semantics, keyed
by the resolved path). System and third-party includes (`<vector>`, `<Eigen/Core>`,
`<xsimd/xsimd.hpp>`) are kept as they are, where they are. The inner `#pragma once` lines are
dropped; the generated file has one of its own.

Headers under include/dualrerank/ that the umbrella does not reach are appended after it (each
with its own dependencies first, in sorted path order), so the single header is complete and the
test suite, which includes some internal headers directly, can run against it. `--umbrella-only`
turns that off; `--extra PATH` adds roots explicitly (they are emitted right after the umbrella).

The Eigen adapter include/dualrerank/eigen.hpp is never inlined (SEPARATE): it is the only header
that includes Eigen, and the single header stays Eigen-free. It is written next to the single
header as single_include/dualrerank/eigen.hpp, its library includes replaced by
`#include "dualrerank.hpp"`, so a single-header user opts in to Eigen by including it. `--check`
compares both files.

The output is deterministic (no dates, no absolute paths), so `--check` is a byte comparison.
Python 3 standard library only.
"""

import argparse
import difflib
import os
import re
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
INCLUDE_ROOT = os.path.join(REPO, "include")
LIB_DIR = os.path.join(INCLUDE_ROOT, "dualrerank")
UMBRELLA = os.path.join(LIB_DIR, "dualrerank.hpp")
VERSION_HEADER = os.path.join(LIB_DIR, "version.hpp")
OUTPUT = os.path.join(REPO, "single_include", "dualrerank", "dualrerank.hpp")
# Headers kept out of the single header, each written next to it as a companion that includes it.
SEPARATE = [os.path.join(LIB_DIR, "eigen.hpp")]

QUOTED_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
OWN_ANGLE_INCLUDE = re.compile(r"^\s*#\s*include\s*<(dualrerank/[^>]+)>")
PRAGMA_ONCE = re.compile(r"^\s*#\s*pragma\s+once\b")
COND_OPEN = re.compile(r"^\s*#\s*(if|ifdef|ifndef)\b")
COND_CLOSE = re.compile(r"^\s*#\s*endif\b")
# `#ifndef DUALRERANK_COMPILED_LIB` guards the header-only definitions (serve.hpp). The single
# header is always header-only, so such a block is inlined unconditionally (its #ifndef/#endif
# dropped); compiled mode is for the include/ tree and the dualrerank::compiled target.
HEADER_ONLY_OPEN = re.compile(r"^\s*#\s*ifndef\s+DUALRERANK_COMPILED_LIB\b")


class AmalgamationError(Exception):
    pass


def rel(path):
    """Repository-relative path with forward slashes (used in markers and messages)."""
    return os.path.relpath(path, REPO).replace(os.sep, "/")


def read_text(path):
    with open(path, "r", encoding="utf-8", newline="") as f:
        text = f.read()
    return text.replace("\r\n", "\n")


def code_lines(text):
    """Yield (line, starts_inside_block_comment), so an include inside /* ... */ is left alone.

    A small scanner: string and character literals are skipped (so "/*" in a string does not open
    a comment), `//` ends the line. Raw string literals are not handled (the library has none).
    """
    in_comment = False
    for line in text.split("\n"):
        starts_in_comment = in_comment
        i, n = 0, len(line)
        while i < n:
            if in_comment:
                j = line.find("*/", i)
                if j < 0:
                    break
                in_comment = False
                i = j + 2
                continue
            c = line[i]
            if line.startswith("//", i):
                break
            if line.startswith("/*", i):
                in_comment = True
                i += 2
            elif c in "\"'":
                i += 1
                while i < n and line[i] != c:
                    i += 2 if line[i] == "\\" else 1
                i += 1
            else:
                i += 1
        yield line, starts_in_comment


def resolve(including_file, line):
    """The library header a line includes, or None for system/third-party includes."""
    m = QUOTED_INCLUDE.match(line)
    if m:
        target = os.path.normpath(os.path.join(os.path.dirname(including_file), m.group(1)))
        if not os.path.isfile(target):
            raise AmalgamationError('%s: cannot resolve #include "%s"' % (rel(including_file), m.group(1)))
        if not target.startswith(LIB_DIR + os.sep):
            raise AmalgamationError('%s: #include "%s" leaves include/dualrerank/' % (rel(including_file), m.group(1)))
        return target
    m = OWN_ANGLE_INCLUDE.match(line)
    if m:
        target = os.path.normpath(os.path.join(INCLUDE_ROOT, m.group(1)))
        if not os.path.isfile(target):
            raise AmalgamationError("%s: cannot resolve #include <%s>" % (rel(including_file), m.group(1)))
        return target
    return None


def includes_of(path):
    out = []
    for line, in_comment in code_lines(read_text(path)):
        if not in_comment:
            target = resolve(path, line)
            if target:
                out.append(target)
    return out


class Amalgamator:
    def __init__(self):
        self.seen = set()
        self.order = []  # files in the order they were inlined

    def emit(self, path, out):
        path = os.path.normpath(path)
        if path in self.seen:  # #pragma once: a second include is a no-op
            return
        self.seen.add(path)
        self.order.append(path)
        out.append("// ---- begin %s ----" % rel(path))
        depth = 0
        conds = []  # one entry per open conditional: True for a header-only block (dropped)
        for line, in_comment in code_lines(read_text(path)):
            if in_comment:
                out.append(line)
                continue
            if PRAGMA_ONCE.match(line):
                continue
            if HEADER_ONLY_OPEN.match(line):
                conds.append(True)
                continue
            if COND_OPEN.match(line):
                conds.append(False)
                depth += 1
            elif COND_CLOSE.match(line):
                if conds and conds.pop():
                    continue
                depth -= 1
            target = resolve(path, line)
            if target is None:
                out.append(line)
                continue
            if target in SEPARATE:
                raise AmalgamationError("%s includes %s, which stays out of the single header (SEPARATE)"
                                        % (rel(path), rel(target)))
            if depth > 0:
                # Inlining once inside a conditional would change what other includers see.
                raise AmalgamationError("%s: library include inside a preprocessor conditional is not supported: %s"
                                        % (rel(path), line.strip()))
            self.emit(target, out)
        # Drop the trailing blank lines of the file so the markers stay tidy.
        while out and out[-1].strip() == "":
            out.pop()
        out.append("// ---- end %s ----" % rel(path))
        out.append("")


def all_headers():
    found = []
    for dirpath, dirnames, filenames in os.walk(LIB_DIR):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".hpp", ".h")):
                found.append(os.path.normpath(os.path.join(dirpath, name)))
    return sorted(found, key=rel)


def reachable_from(root):
    seen, stack = set(), [root]
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        stack.extend(includes_of(p))
    return seen


def version_string():
    m = re.search(r'#\s*define\s+DUALRERANK_VERSION_STRING\s+"([^"]+)"', read_text(VERSION_HEADER))
    if not m:
        raise AmalgamationError("%s: DUALRERANK_VERSION_STRING not found" % rel(VERSION_HEADER))
    return m.group(1)


def amalgamate(extra=(), complete=True):
    a = Amalgamator()
    body = []
    a.emit(UMBRELLA, body)
    from_umbrella = set(a.seen)
    for p in extra:
        a.emit(os.path.normpath(os.path.join(REPO, p)), body)
    if complete:
        # Sorted by path; each one's own dependencies are inlined first where it includes them.
        for p in all_headers():
            if p not in a.seen and p not in SEPARATE:
                a.emit(p, body)
    not_in_umbrella = [p for p in a.order if p not in from_umbrella]
    header = [
        "// dualrerank %s - single-header distribution." % version_string(),
        "//",
        "// Generated by tools/amalgamate.py from include/dualrerank/; do not edit.",
        "// Regenerate with `python3 tools/amalgamate.py`; CI runs `python3 tools/amalgamate.py --check`.",
        "// Needs xsimd 8+ (<xsimd/xsimd.hpp>) on the include path, C++17. The Eigen adapter is the",
        "// companion eigen.hpp next to this file (Eigen 3.3 to 5.x); this file does not include Eigen.",
        "//",
        "// Contents: the umbrella include/dualrerank/dualrerank.hpp and everything it includes",
    ]
    if not_in_umbrella:
        header.append("// and, after it, the headers the umbrella does not include:")
        header += ["//   %s" % rel(p) for p in not_in_umbrella]
    header += ["#pragma once", ""]
    text = "\n".join(header + body)
    text = text.rstrip("\n") + "\n"
    return text, [rel(p) for p in not_in_umbrella]


def companion(path):
    """A SEPARATE header as a file next to the single header: its own library includes become one
    `#include "dualrerank.hpp"` (the single header), everything else is kept."""
    body = []
    for line, in_comment in code_lines(read_text(path)):
        if not in_comment and (PRAGMA_ONCE.match(line) or resolve(path, line) is not None):
            continue
        body.append(line)
    name = os.path.basename(path)
    header = [
        "// dualrerank %s - %s for the single-header distribution." % (version_string(), name),
        "//",
        "// Generated by tools/amalgamate.py from %s; do not edit." % rel(path),
        "#pragma once",
        "",
        '#include "dualrerank.hpp"',
        "",
    ]
    text = "\n".join(header + body)
    return os.path.join(os.path.dirname(OUTPUT), name), text.rstrip("\n") + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the output file differs from a fresh amalgamation")
    ap.add_argument("--output", "-o", default=OUTPUT, help="output path (default: %(default)s)")
    ap.add_argument("--extra", nargs="+", default=[], metavar="PATH",
                    help="extra root headers (repository-relative), emitted after the umbrella")
    ap.add_argument("--umbrella-only", action="store_true",
                    help="do not append the headers the umbrella does not reach")
    ap.add_argument("--list-unreachable", action="store_true",
                    help="print the headers under include/dualrerank/ the umbrella does not reach, and exit")
    args = ap.parse_args(argv)

    try:
        if args.list_unreachable:
            reach = reachable_from(os.path.normpath(UMBRELLA))
            for p in all_headers():
                if p not in reach:
                    print(rel(p))
            return 0
        text, appended = amalgamate(args.extra, complete=not args.umbrella_only)
    except (AmalgamationError, OSError) as e:
        print("amalgamate.py: error: %s" % e, file=sys.stderr)
        return 2

    outputs = [(os.path.abspath(args.output), text)]
    if os.path.abspath(args.output) == OUTPUT:  # companions only next to the default output
        outputs += [companion(p) for p in SEPARATE]
    if args.check:
        stale = 0
        for out, fresh in outputs:
            try:
                current = read_text(out)
            except OSError:
                print("amalgamate.py: %s is missing; run python3 tools/amalgamate.py" % os.path.relpath(out, REPO),
                      file=sys.stderr)
                stale += 1
                continue
            if current != fresh:
                diff = list(difflib.unified_diff(current.split("\n"), fresh.split("\n"), "committed", "fresh", n=1,
                                                 lineterm=""))
                print("amalgamate.py: %s is stale; run python3 tools/amalgamate.py (%d diff lines, first 40 below)"
                      % (os.path.relpath(out, REPO), len(diff)), file=sys.stderr)
                for line in diff[:40]:
                    print(line, file=sys.stderr)
                stale += 1
                continue
            print("amalgamate.py: %s is up to date" % os.path.relpath(out, REPO))
        return 1 if stale else 0

    for out, fresh in outputs:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = out + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(fresh)
        os.replace(tmp, out)
        print("amalgamate.py: wrote %s (%d lines)" % (os.path.relpath(out, REPO), fresh.count("\n")))
    if appended:
        print("amalgamate.py: not included by the umbrella, appended: %s" % ", ".join(appended))
    return 0


if __name__ == "__main__":
    sys.exit(main())
