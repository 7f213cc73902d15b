"""README's "Troubleshooting by condition reason" lists every reason the operator can set, and
nothing else.

The reasons are read from src/ mechanically (comments and `#[cfg(test)]` items removed first):

R1  `Error::reason()` (src/error.rs): every string literal in its body.
R2  Arguments to a parameter named `reason`: every `fn` and closure in src/ with a parameter
    `reason` is found, and each call of it contributes the argument at that position
    (`StepCondition::ready/not_ready`, `Outcome::done/waiting`, `access::refused`, the kstatus
    summary's closure, ...). Event helpers (`Journal::normal/warning/push`, `publish_one`) are
    skipped: Event reasons are not condition reasons.
R3  Calls whose first argument is a condition type literal (`"Ready"`, `"Reconciling"`, ...): the
    first following argument that is not `true`/`false` (catches a helper whose reason
    parameter has another name).
R4  Struct fields `reason: "X"` / `reason: Some("X"...)` (e.g. a route's `Removing`).
R5  `let reason = ...;` / `let (reason, ..) = ...;`: CamelCase literals of the initializer.
R6  AWS codes the operator makes itself: `code: "X"` in a struct literal, `.code().unwrap_or("X")`,
    and `("X".into(), ...)` tuples in `Error::aws`; the reason is the code without its
    non-alphanumerics, as `Error::reason()` makes it.

An argument is classified: a string literal (counted); a `const NAME: &str = "X"` of src/
(resolved); an expression that mentions `reason` (a pass-through of a reason counted elsewhere,
e.g. `e.reason()`; literals inside it are counted too, e.g. `.unwrap_or("Ready")`); anything else
fails the test, naming the place, so that a new way of making a reason cannot go unnoticed.

XAPI_README names the README to check (default: the repository's README.md).
"""

import os
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
README = pathlib.Path(os.environ.get("XAPI_README", ROOT / "README.md"))
HEADING = "## Troubleshooting by condition reason"
COLUMNS = ["Reason", "Condition(s)", "What it means", "What to do"]

# Rows that are not one literal of the code, by name.
# A category: any AWS error code passes through (Error::reason()), dots and dashes dropped.
CATEGORY_ROWS = {"<AWS error code>"}
# AWS codes no literal in src/ names but README's "Failure modes" does (they pass through).
AWS_CODE_ROWS = {"AccessDenied", "InvalidVpcIDNotFound", "InvalidSubnetIDNotFound", "InvalidParameter"}
# kstatus condition types (besides api.rs CONDITION_TYPES) for R3.
KSTATUS_TYPES = {"Reconciling", "Stalled"}
# Calls whose `reason` parameter is an Event's, not a condition's.
EVENT_FUNCTIONS = {"normal", "warning", "push", "publish_one"}
# Kubernetes' rule for a condition reason.
K8S_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
# Found in any case: if one goes missing, the extraction is broken, not the code.
MUST_FIND = {"WaitingForGrants", "RoleNotPermitted", "InvalidSpec", "Deleting", "Throttled", "Ready", "Assumed"}

STRING = re.compile(r'r(#*)".*?"\1|"(?:[^"\\]|\\.)*"', re.S)


# --- reading Rust -----------------------------------------------------------------------------


def strip_comments(src):
    """The source with comments blanked (newlines kept), strings and char literals intact."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"' or (c == "r" and re.match(r'r#*"', src[i:]) and not re.match(r"\w", src[i - 1 : i] or " ")):
            m = STRING.match(src, i)
            out.append(m.group(0))
            i = m.end()
        elif c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^\\'])'", src[i:])
            if m:
                out.append(m.group(0))
                i += m.end()
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching(src, i):
    """Index just past the bracket closing the one at `i`, skipping strings and char literals."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack, j = [], i
    while j < len(src):
        c = src[j]
        if c == '"' or (c == "r" and re.match(r'r#*"', src[j:]) and not re.match(r"\w", src[j - 1])):
            j = STRING.match(src, j).end()
            continue
        if c == "'":
            m = re.match(r"'(\\.|[^\\'])'", src[j:])
            if m:
                j += m.end()
                continue
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            assert stack and stack[-1] == c, f"unbalanced {c!r} at {j}"
            stack.pop()
            if not stack:
                return j + 1
        j += 1
    raise AssertionError(f"no closing bracket for {i}")


def split_top(inner, sep=",", angles=False):
    """`inner` split at top-level `sep` (outside brackets and strings; with `angles`, outside
    `<..>` too, for parameter lists with generic types)."""
    parts, depth, start, j = [], 0, 0, 0
    while j < len(inner):
        c = inner[j]
        if c == '"' or (c == "r" and re.match(r'r#*"', inner[j:]) and not re.match(r"\w", inner[j - 1 : j] or " ")):
            j = STRING.match(inner, j).end()
            continue
        if c == "'" and re.match(r"'(\\.|[^\\'])'", inner[j:]):
            j += re.match(r"'(\\.|[^\\'])'", inner[j:]).end()
            continue
        if c in "([{" or (angles and c == "<"):
            depth += 1
        elif c in ")]}" or (angles and c == ">" and inner[j - 1 : j] != "-"):
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(inner[start:j])
            start = j + 1
        j += 1
    parts.append(inner[start:])
    return [p.strip() for p in parts if p.strip()]


def strip_tests(src):
    """The source without `#[cfg(test)]` items (a module, a fn, a `use`)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]", src)
        if not m:
            return src
        j = m.end()
        brace, semi = src.find("{", j), src.find(";", j)
        end = semi + 1 if semi >= 0 and (brace < 0 or semi < brace) else matching(src, brace)
        src = src[: m.start()] + re.sub(r"[^\n]", " ", src[m.start() : end]) + src[end:]


def sources():
    out = {}
    for path in sorted(SRC.rglob("*.rs")):
        out[path.relative_to(ROOT).as_posix()] = strip_tests(strip_comments(path.read_text()))
    return out


def line_of(src, i):
    return src.count("\n", 0, i) + 1


def literal(s):
    return s[1:-1] if s.startswith('"') else re.sub(r'^r#*"|"#*$', "", s)


# --- the extraction ---------------------------------------------------------------------------


class Found:
    def __init__(self, files):
        self.files = files
        self.reasons = {}  # reason -> set of "file:line"
        self.unknown = []  # (place, expression) the extractor cannot judge
        self.consts = {}
        for src in files.values():
            for m in re.finditer(r"\bconst\s+([A-Z_][A-Z0-9_]*)\s*:\s*&(?:'static\s+)?str\s*=\s*(\"(?:[^\"\\]|\\.)*\")", src):
                self.consts[m.group(1)] = literal(m.group(2))

    def add(self, reason, place):
        self.reasons.setdefault(reason, set()).add(place)

    def argument(self, expr, place):
        """Counts what an argument in a reason position contributes."""
        lits = [literal(m.group(0)) for m in STRING.finditer(expr)]
        rest = STRING.sub("", expr)
        rest = re.sub(r"\.(into|to_string|to_owned)\(\)|String::from|Some|[\s&()]", "", rest)
        if lits and not rest:
            for lit in lits:
                self.add(lit, place)
        elif rest in self.consts and not lits:
            self.add(self.consts[rest], place)
        elif re.search(r"\breason\b", expr):
            for lit in lits:
                self.add(lit, place)
        else:
            self.unknown.append((place, " ".join(expr.split())))


def reason_parameters(files):
    """name -> index of its `reason` parameter, for every fn and closure of src/."""
    out = {}
    for src in files.values():
        for m in re.finditer(r"\bfn\s+(\w+)\s*(?:<[^>{}]*>)?\s*\(", src):
            params = split_top(src[m.end() : matching(src, m.end() - 1) - 1], angles=True)
            params = [p for p in params if not re.match(r"^&?(mut\s+)?(\'\w+\s+)?(mut\s+)?self$", p)]
            names = [re.split(r"\s*:", p)[0].strip() for p in params]
            if "reason" in names:
                out[m.group(1)] = names.index("reason")
        for m in re.finditer(r"\blet\s+(\w+)\s*=\s*(?:move\s+)?\|([^|]*)\|", src):
            names = [re.split(r"\s*:", p)[0].strip() for p in split_top(m.group(2), angles=True)]
            if "reason" in names:
                out[m.group(1)] = names.index("reason")
    return out


def calls(src, name):
    """(index of the call, its arguments) for each call of `name` (a path's last segment)."""
    for m in re.finditer(rf"(?<!fn )\b{re.escape(name)}\s*\(", src):
        open_at = m.end() - 1
        yield m.start(), split_top(src[open_at + 1 : matching(src, open_at) - 1])


def condition_types(files):
    api = files["src/api.rs"]
    m = re.search(r"CONDITION_TYPES\s*:[^=]*=\s*\[", api)
    assert m, "src/api.rs has no CONDITION_TYPES"
    body = api[m.end() - 1 : matching(api, m.end() - 1)]
    return {literal(s.group(0)) for s in STRING.finditer(body)} | KSTATUS_TYPES


def extract():
    files = sources()
    found = Found(files)

    # R1: Error::reason()
    err = files["src/error.rs"]
    m = re.search(r"\bfn\s+reason\s*\(\s*&self\s*\)[^{]*\{", err)
    assert m, "src/error.rs has no fn reason(&self)"
    body = err[m.end() - 1 : matching(err, m.end() - 1)]
    for s in STRING.finditer(body):
        found.add(literal(s.group(0)), f"src/error.rs:{line_of(err, m.end() + s.start())}")

    params = reason_parameters(files)
    types = condition_types(files)
    for path, src in files.items():
        # R2: arguments to a `reason` parameter
        for name, index in params.items():
            if name in EVENT_FUNCTIONS:
                continue
            for at, args in calls(src, name):
                if index < len(args):
                    found.argument(args[index], f"{path}:{line_of(src, at)}")
        # R3: after a condition type literal
        for m in re.finditer(r"\b\w+\s*\(\s*\"([A-Za-z]+)\"\s*,", src):
            if m.group(1) not in types:
                continue
            open_at = src.index("(", m.start())
            args = split_top(src[open_at + 1 : matching(src, open_at) - 1])
            rest = [a for a in args[1:] if a not in ("true", "false")]
            if rest and STRING.fullmatch(rest[0].replace(".into()", "")):
                found.argument(rest[0], f"{path}:{line_of(src, m.start())}")
            elif rest and rest[0] in found.consts:
                found.argument(rest[0], f"{path}:{line_of(src, m.start())}")
        # R4: `reason: "X"` fields
        for m in re.finditer(r"\breason\s*:\s*(?:Some\s*\(\s*)?(\"(?:[^\"\\]|\\.)*\")", src):
            found.add(literal(m.group(1)), f"{path}:{line_of(src, m.start())}")
        # R5: `let reason = ...;`
        for m in re.finditer(r"\blet\s+(?:mut\s+)?(?:reason\b|\(\s*reason\s*,)[^=]*=", src):
            end = m.end()
            while end < len(src) and src[end] != ";":
                end = matching(src, end) if src[end] in "([{" else end + 1
            for s in STRING.finditer(src[m.end() : end]):
                if re.fullmatch(r"[A-Z][A-Za-z0-9]+", literal(s.group(0))):
                    found.add(literal(s.group(0)), f"{path}:{line_of(src, m.end() + s.start())}")
        # R6: AWS codes made by the operator
        codes = [(mm.start(), mm.group(1)) for mm in re.finditer(r"\bcode\s*:\s*(\"(?:[^\"\\]|\\.)*\")", src)]
        codes += [(mm.start(), mm.group(1)) for mm in re.finditer(r"\.code\(\)\s*\.unwrap_or\(\s*(\"(?:[^\"\\]|\\.)*\")", src)]
        if path == "src/error.rs":
            fa = re.search(r"\bpub fn aws\b[^{]*\{", src)
            assert fa, "src/error.rs has no fn aws"
            body_end = matching(src, fa.end() - 1)
            codes += [
                (mm.start(), mm.group(1))
                for mm in re.finditer(r"\(\s*(\"(?:[^\"\\]|\\.)*\")\s*\.into\(\)\s*,", src[: body_end])
                if mm.start() > fa.start()
            ]
        for at, lit in codes:
            found.add(re.sub(r"[^A-Za-z0-9]", "", literal(lit)), f"{path}:{line_of(src, at)}")
    return found


# --- the README -------------------------------------------------------------------------------


def table():
    text = README.read_text()
    assert HEADING in text.splitlines(), f"{README} has no heading {HEADING!r}"
    section = text.split(HEADING + "\n", 1)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.M)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows, f"no table under {HEADING!r}"
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header == COLUMNS, header
    out = {}
    for row in rows[2:]:
        first = row.strip("|").split("|")[0].strip()
        m = re.fullmatch(r"`([^`]+)`", first)
        assert m, f"first column is not one reason in backticks: {row}"
        assert m.group(1) not in out, f"{m.group(1)} has two rows"
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        assert len(cells) == len(COLUMNS) and all(cells), f"row with an empty or missing cell: {row}"
        out[m.group(1)] = cells
    return out


@pytest.fixture(scope="module")
def found():
    return extract()


def test_extraction_understands_every_reason_argument(found):
    assert not found.unknown, (
        "reason arguments the extractor cannot judge (make them a literal or a const, or teach "
        f"the extractor): {found.unknown}"
    )


def test_extraction_finds_the_known_reasons(found):
    assert MUST_FIND <= set(found.reasons), MUST_FIND - set(found.reasons)


def test_reasons_are_valid_kubernetes_reasons(found):
    bad = {r: sorted(p) for r, p in found.reasons.items() if not K8S_REASON.match(r)}
    assert not bad, bad


def test_every_reason_has_a_row(found):
    rows = table()
    missing = {r: sorted(p) for r, p in found.reasons.items() if r not in rows}
    assert not missing, f"reasons set in src/ without a row under {HEADING!r} in {README}: {missing}"


def test_every_row_is_a_reason_of_the_code(found):
    rows = table()
    extra = set(rows) - set(found.reasons) - CATEGORY_ROWS - AWS_CODE_ROWS
    assert not extra, f"rows for reasons src/ does not set: {sorted(extra)}"
    assert CATEGORY_ROWS <= set(rows), f"missing category rows: {CATEGORY_ROWS - set(rows)}"


def test_aws_code_rows_are_the_ones_failure_modes_names():
    text = README.read_text()
    failure_modes = re.split(r"^## ", text.split("## Failure modes\n", 1)[1], maxsplit=1, flags=re.M)[0]
    rows = table()
    for code in AWS_CODE_ROWS & set(rows):
        assert f"`{code}`" in failure_modes, f"{code} is not named in README's Failure modes"
