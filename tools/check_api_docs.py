#!/usr/bin/env python3
"""Check that docs/api.md documents every public name of include/dualrerank/ (issue 15).

    python3 tools/check_api_docs.py              exit 1 and print each undocumented name
    python3 tools/check_api_docs.py --list       print the public names per header
    python3 tools/check_api_docs.py --self-test  run the checker on tests/api_docs/ (a fixture)
    python3 tools/check_api_docs.py --include DIR --doc FILE   check another tree

A public name is a namespace-scope class, struct, union, enum, function, type alias (using /
typedef), using-declaration or variable declared in a header under include/dualrerank/ (sim/
included) outside any `detail` or anonymous namespace. Members of classes are not names here:
a class's section line documents its members. Macros are not names here either.

It is documented when it appears inside a code span (`...`) of its header's section of the doc:
the section is the text from a heading whose code span is the header's path relative to include/
(e.g. "## `dualrerank/model/ar_teacher.hpp`") to the next heading of the same or a higher level.
A name matches as a whole word, with or without its namespace (`decode::greedy` or `greedy`).
A section for a header that does not exist fails too (a stale page).

The extraction is a heuristic, not a C++ parser, and relies on the house style:
  * comments, string and character literals, attributes ([[...]]) and preprocessor lines are
    dropped first; DUALRERANK_NAMESPACE_BEGIN / _END open and close namespace dualrerank;
  * braces are tracked: a `namespace X {` opens a namespace scope, any other `{` (a class, enum
    or function body, an initializer) opens a scope whose contents are skipped;
  * each namespace-scope statement (text up to `;` or a body's `{`) is classified by its leading
    keyword after `template <...>`, `inline`, `constexpr`, `static` and the like: class / struct /
    union / enum name, `using name =`, `using a::name;`, `typedef ... name;`; otherwise a
    statement with a top-level `(` is a function named by the identifier before it (operators,
    qualified out-of-line definitions `X::f(` and explicit specializations `X<...>` are skipped),
    and the rest are variables named by the identifier before `=`, `{`, `[` or `;`.
Python 3 standard library only.
"""

import os
import re
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
INCLUDE_DIR = os.path.join(REPO, "include")
DOC = os.path.join(REPO, "docs", "api.md")
FIXTURE = os.path.join(REPO, "tests", "api_docs")

IDENT = re.compile(r"[A-Za-z_]\w*")
MACRO = re.compile(r"[A-Z][A-Z0-9_]*")
TOKEN = re.compile(r"[A-Za-z_]\w*|::|->|\.\.\.|[0-9][\w.']*|\S")
SPECIFIERS = {"inline", "constexpr", "static", "extern", "consteval", "constinit", "friend", "virtual", "explicit",
              "thread_local", "typename"}
SKIP_LEADING = {"static_assert", "template", "return", "namespace", "extern"}


def strip_source(text):
    """Drop comments, literals, attributes and preprocessor lines; keep line structure loosely."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start:
            j = i
            while j < n and text[j] in " \t":
                j += 1
            if j < n and text[j] == "#":  # a preprocessor line, with continuations
                while j < n:
                    k = text.find("\n", j)
                    if k < 0:
                        j = n
                        break
                    if text[k - 1] == "\\":
                        j = k + 1
                        continue
                    j = k
                    break
                i = j
                continue
            at_line_start = False
        if c == "\n":
            out.append("\n")
            at_line_start = True
            i += 1
        elif text.startswith("//", i):
            k = text.find("\n", i)
            i = n if k < 0 else k
        elif text.startswith("/*", i):
            k = text.find("*/", i + 2)
            i = n if k < 0 else k + 2
            out.append(" ")
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if m:
                end = text.find(")" + m.group(1) + '"', i + m.end())
                i = n if end < 0 else end + len(m.group(1)) + 2
                out.append('""')
            else:
                out.append(c)
                i += 1
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # a digit separator (1'000)
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            out.append('""' if c == '"' else "' '")
        elif text.startswith("[[", i):
            depth, j = 0, i
            while j < n:
                if text[j] == "[":
                    depth += 1
                elif text[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            i = j + 1
            out.append(" ")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def skip_template_prefix(tokens):
    """Drop leading `template <...>` (balanced angle brackets), repeatedly."""
    while tokens and tokens[0] == "template":
        if len(tokens) < 2 or tokens[1] != "<":
            return tokens[1:]
        depth, parens, i = 0, 0, 1
        while i < len(tokens):
            if tokens[i] in ("(", "["):
                parens += 1
            elif tokens[i] in (")", "]"):
                parens -= 1
            elif parens == 0 and tokens[i] == "<":
                depth += 1
            elif parens == 0 and tokens[i] == ">":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        tokens = tokens[i + 1:]
    return tokens


def classify(statement, has_body):
    """(name, kind) a namespace-scope statement declares, or None. kind: "function" (with a body),
    "declaration" (a function declared without a body) or "entity" (anything else)."""
    got = classify_name(statement, has_body)
    if got is not None and MACRO.fullmatch(got[0]):
        return None  # a macro invocation (house style: macros are upper case)
    return got


def classify_name(statement, has_body):
    tokens = TOKEN.findall(statement)
    tokens = skip_template_prefix(tokens)
    while tokens and tokens[0] in SPECIFIERS:
        tokens = tokens[1:]
    if not tokens:
        return None
    head = tokens[0]
    if head in ("class", "struct", "union"):
        rest = [t for t in tokens[1:] if t not in ("final", "alignas")]
        if not rest or not IDENT.fullmatch(rest[0]):
            return None
        if len(rest) > 1 and rest[1] in ("<", "::"):  # an explicit specialization or a qualified name
            return None
        if not has_body and len(rest) == 1:  # a forward declaration: the defining header owns the name
            return None
        return rest[0], "entity"
    if head == "enum":
        rest = tokens[1:]
        if rest and rest[0] in ("class", "struct"):
            rest = rest[1:]
        return (rest[0], "entity") if rest and IDENT.fullmatch(rest[0]) else None
    if head == "using":
        if len(tokens) > 1 and tokens[1] == "namespace":
            return None
        if len(tokens) > 2 and tokens[2] == "=":
            return tokens[1], "entity"
        idents = [t for t in tokens[1:] if IDENT.fullmatch(t)]
        return (idents[-1], "entity") if idents else None
    if head == "typedef":
        idents = [t for t in tokens if IDENT.fullmatch(t)]
        return (idents[-1], "entity") if len(idents) > 1 else None
    if head in SKIP_LEADING or "operator" in tokens or not (IDENT.fullmatch(head) or head == "::"):
        return None  # operators belong to their types
    # a function: the identifier right before the first '(' outside angle brackets
    angle = 0
    for i, t in enumerate(tokens):
        if t == "<":
            angle += 1
        elif t == ">" and angle > 0:
            angle -= 1
        elif t == ">>" and angle > 0:
            angle = max(0, angle - 2)
        elif t in ("=", "{", "[") and angle == 0:
            break  # a variable (its initializer may hold parentheses)
        elif t == "(" and angle == 0:
            if i == 0 or not IDENT.fullmatch(tokens[i - 1]):
                return None
            name = tokens[i - 1]
            if i >= 2 and tokens[i - 2] in ("::", "operator", "~") or name == "operator":
                return None
            if name in ("decltype", "alignas", "noexcept", "sizeof"):
                return None
            return name, ("function" if has_body else "declaration")
    # a variable: the identifier before '=', '{', '[' or the end
    end = len(tokens)
    for i, t in enumerate(tokens):
        if t in ("=", "{", "[", ";"):
            end = i
            break
    if end >= 2 and IDENT.fullmatch(tokens[end - 1]) and tokens[end - 2] not in ("::", "operator"):
        return tokens[end - 1], "entity"
    return None


def public_names(path):
    """[(qualified name, name)] declared at namespace scope outside detail in one header (before
    dropping definitions of functions another header declares: see all_public_names)."""
    return [(q, n) for q, n, _ in scan(path)]


def all_public_names(include_dir):
    """{header: [(qualified name, name)]}: a function defined in one header and declared without a
    body in another (an out-of-line definition, e.g. serve/reranker_impl.hpp) belongs to the
    declaring header."""
    found = {h: scan(os.path.join(include_dir, h)) for h in headers(include_dir)}
    declared = {}
    for h, names in found.items():
        for q, _, kind in names:
            if kind == "declaration":
                declared.setdefault(q, set()).add(h)
    out = {}
    for h, names in found.items():
        out[h] = [(q, n) for q, n, kind in names if not (kind == "function" and q in declared and h not in declared[q])]
    return out


def scan(path):
    with open(path, encoding="utf-8") as f:
        text = strip_source(f.read())
    text = text.replace("DUALRERANK_NAMESPACE_BEGIN", " namespace dualrerank { ")
    text = text.replace("DUALRERANK_NAMESPACE_END", " } ")
    names = []
    scopes = []  # each: ("ns", name) or ("body", None)
    stmt = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "{":
            statement = "".join(stmt)
            m = re.search(r"(?:^|[\s;])(inline\s+)?namespace\s*([\w:]*)\s*$", statement)
            in_ns = all(kind != "body" for kind, _ in scopes)
            if m:
                parts = [p for p in m.group(2).split("::") if p] or [""]
                for p in parts:
                    scopes.append(("ns", p))
                scopes.append(("mark", len(parts)))  # one closing brace pops all the parts
            else:
                if in_ns:
                    record(statement, scopes, names, True)
                scopes.append(("body", None))
            stmt = []
            i += 1
        elif c == "}":
            if scopes and scopes[-1][0] == "mark":
                count = scopes.pop()[1]
                del scopes[len(scopes) - count:]
            elif scopes:
                scopes.pop()
            stmt = []
            i += 1
        elif c == ";":
            record("".join(stmt), scopes, names, False)
            stmt = []
            i += 1
        else:
            stmt.append(c)
            i += 1
    return names


def record(statement, scopes, names, has_body):
    if any(kind == "body" for kind, _ in scopes):
        return
    spaces = [name for kind, name in scopes if kind == "ns"]
    if any(s in ("detail", "") for s in spaces):
        return
    got = classify(statement.strip(), has_body)
    if got is None:
        return
    name, kind = got
    qual = "::".join([s for s in spaces if s != "dualrerank"] + [name])
    for i, (q, n, k) in enumerate(names):
        if q == qual:
            if k == "function" and kind == "declaration":
                names[i] = (q, n, kind)
            return
    names.append((qual, name, kind))


def headers(include_dir):
    root = os.path.join(include_dir, "dualrerank")
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".hpp"):
                out.append(os.path.relpath(os.path.join(d, f), include_dir).replace(os.sep, "/"))
    return sorted(out)


HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
CODE_SPAN = re.compile(r"`([^`\n]+)`")


def doc_sections(doc_path):
    """{header path: section text} from the doc's headings."""
    with open(doc_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    sections, current, level = {}, None, 0
    for line in lines:
        m = HEADING.match(line)
        if m:
            spans = CODE_SPAN.findall(m.group(2))
            lvl = len(m.group(1))
            if spans and spans[0].startswith("dualrerank/") and spans[0].endswith(".hpp"):
                current, level = spans[0], lvl
                sections.setdefault(current, [])
                continue
            if current is not None and lvl <= level:
                current = None
        if current is not None:
            sections[current].append(line)
    return {h: "\n".join(body) for h, body in sections.items()}


def documented(section, qual, name):
    for span in CODE_SPAN.findall(section):
        if re.search(r"(?<![\w:])" + re.escape(name) + r"(?!\w)", span) or qual in span:
            return True
    return False


def check(include_dir, doc_path, out=sys.stdout):
    """Print each problem; return the list of (header, qualified name) missing and the stale sections."""
    sections = doc_sections(doc_path)
    hs = headers(include_dir)
    every = all_public_names(include_dir)
    missing = []
    for h in hs:
        names = every[h]
        if not names:
            continue
        if h not in sections:
            for qual, _ in names:
                missing.append((h, qual))
            print(f"{doc_path}: no section for {h} ({len(names)} public names: "
                  + ", ".join(q for q, _ in names) + ")", file=out)
            continue
        for qual, name in names:
            if not documented(sections[h], qual, name):
                missing.append((h, qual))
                print(f"{doc_path}: {h}: `{qual}` is not documented in its section", file=out)
    stale = sorted(set(sections) - set(hs))
    for h in stale:
        print(f"{doc_path}: a section for {h}, which does not exist", file=out)
    return missing, stale


def self_test():
    """The checker on the fixture: the extracted names, a complete page passes, a page missing
    names reports exactly those, a stale section is reported."""
    inc = os.path.join(FIXTURE, "include")
    expected = {
        "dualrerank/fixture.hpp": [
            "plain_struct", "templated_class", "kind", "legacy_enum", "alias_t", "typedef_t", "free_function",
            "templated_function", "trailing_return", "max_items", "default_name", "inner::nested_function",
            "inner::nested_struct", "nested_ns::deep_variable", "string", "imported", "declared_only",
            "after_macro_body",
        ],
        "dualrerank/internal_only.hpp": [],
    }
    failures = []
    for h, want in expected.items():
        got = [q for q, _ in all_public_names(inc)[h]]
        if sorted(got) != sorted(want):
            failures.append(f"{h}: extracted {sorted(got)}, expected {sorted(want)}")
    import io
    sink = io.StringIO()
    missing, stale = check(inc, os.path.join(FIXTURE, "complete.md"), sink)
    if missing or stale:
        failures.append("complete.md should pass, got:\n" + sink.getvalue())
    sink = io.StringIO()
    missing, stale = check(inc, os.path.join(FIXTURE, "missing.md"), sink)
    want_missing = [("dualrerank/fixture.hpp", "templated_function"), ("dualrerank/fixture.hpp", "inner::nested_struct"),
                    ("dualrerank/fixture.hpp", "max_items")]
    if sorted(missing) != sorted(want_missing) or stale != ["dualrerank/gone.hpp"]:
        failures.append(f"missing.md: reported missing {sorted(missing)} and stale {stale}, expected "
                        f"{sorted(want_missing)} and ['dualrerank/gone.hpp']\n" + sink.getvalue())
    for f in failures:
        print("self-test FAILED: " + f)
    if not failures:
        print("self-test passed: names extracted as expected, a complete page passes, missing names and a "
              "stale section are reported")
    return 1 if failures else 0


def main(argv):
    include_dir, doc_path = INCLUDE_DIR, DOC
    args = list(argv)
    if "--self-test" in args:
        return self_test()
    if "--include" in args:
        include_dir = args[args.index("--include") + 1]
    if "--doc" in args:
        doc_path = args[args.index("--doc") + 1]
    if "--list" in args:
        for h, names in all_public_names(include_dir).items():
            print(f"{h}: " + (", ".join(q for q, _ in names) if names else "(no public names)"))
        return 0
    if not os.path.exists(doc_path):
        print(f"{doc_path}: missing")
        return 1
    missing, stale = check(include_dir, doc_path)
    if missing or stale:
        print(f"{len(missing)} public names undocumented, {len(stale)} stale sections "
              f"(docs/api.md: add a line in the header's section)")
        return 1
    total = sum(len(names) for names in all_public_names(include_dir).values())
    print(f"docs/api.md documents all {total} public names")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
