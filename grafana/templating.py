"""Grafana stage: what the browser does to a ClickHouse panel query before it is sent.

Two rewrites, in the plugin's order (`CHDatasource.applyTemplateVariables`): first
`$__conditionalAll(condition, $var)` becomes `1=1` when All (or nothing) is selected, else the
condition; then Grafana's template service replaces `$var`, `${var}`, `${var:format}` and
`[[var]]`, with the plugin's own format for plain references (arrays as `'a','b'`, scalars raw).
Pure functions, so the check command and the tests see the SQL Grafana would send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from schemas.errors import MacroError

ALL = "$__all"
CONDITIONAL_ALL = "$__conditionalAll("
# Grafana's variableRegex (public/app/features/variables/utils.ts).
VARIABLE_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
CONDITIONAL_VAR_RE = re.compile(r"(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+")


@dataclass(frozen=True)
class VariableState:
    """A dashboard variable as the browser holds it: its current selection and its options."""

    name: str
    current: str | tuple[str, ...]  # a tuple for multi-value variables, `(ALL,)` or ALL for All
    options: tuple[str, ...] = ()
    all_value: str | None = None  # a custom all value, inserted raw

    @property
    def is_all(self) -> bool:
        return self.current in (ALL, (ALL,))

    def current_text(self) -> str:
        """JavaScript `current.value.toString()`: arrays joined with commas."""
        return ",".join(self.current) if isinstance(self.current, tuple) else self.current

    def value(self) -> str | tuple[str, ...]:
        """The value formats receive: All expands to every option (no custom all value)."""
        return self.options if self.is_all else self.current


def macro_args(sql: str, open_index: int) -> list[str]:
    """The plugin's getMacroArgs: raw (untrimmed) arguments of the bracket at `open_index`."""
    args: list[str] = []
    depth, last = 0, open_index + 1
    for match in re.finditer(r"[(),]", sql[open_index:]):
        token, end = match.group(), open_index + match.end()
        depth += {"(": 1, ")": -1}.get(token, 0)
        if token == "," and depth == 1:
            args.append(sql[last:end - 1])
            last = end
        if depth == 0:
            return [*args, sql[last:end - 1]]
    return []


def apply_conditional_all(sql: str, variables: Mapping[str, VariableState]) -> str:
    """`$__conditionalAll(cond, $var)` -> `1=1` when $var is All or empty, else `cond`; right to left."""
    index = sql.rfind(CONDITIONAL_ALL)
    while index != -1:
        params = macro_args(sql, index + len(CONDITIONAL_ALL) - 1)
        if len(params) != 2:
            return sql
        phrase = params[0]
        found = CONDITIONAL_VAR_RE.search(params[1].strip())
        variable = variables.get(found.group()) if found else None
        if variable is not None and variable.current_text() in ("", ALL):
            phrase = "1=1"
        sql = _js_replace_first(sql, f"{CONDITIONAL_ALL}{params[0]},{params[1]})", phrase)
        index = sql.rfind(CONDITIONAL_ALL)
    return sql


def _js_replace_first(text: str, pattern: str, replacement: str) -> str:
    """JavaScript String.replace with a string pattern: first match, `$$ $& $\\` $'` expanded."""
    at = text.find(pattern)
    if at == -1:
        return text
    before, after = text[:at], text[at + len(pattern):]
    specials = {"$$": "$", "$&": pattern, "$`": before, "$'": after}
    expanded = re.sub(r"\$[$&`']", lambda m: specials[m.group()], replacement)
    return before + expanded + after


def plugin_format(value: str | tuple[str, ...]) -> str:
    """The plugin's format function for plain `$var`: arrays `'a','b'` (unescaped), scalars raw."""
    return "'" + "','".join(value) + "'" if isinstance(value, tuple) else value


def _quoted(quote: str, escape: Callable[[str], str]) -> Callable[[str | tuple[str, ...]], str]:
    def fmt(value: str | tuple[str, ...]) -> str:
        values = value if isinstance(value, tuple) else (value,)
        return ",".join(f"{quote}{escape(v)}{quote}" for v in values)
    return fmt


def _joined(separator: str) -> Callable[[str | tuple[str, ...]], str]:
    return lambda value: separator.join(value) if isinstance(value, tuple) else value


FORMATS: Mapping[str, Callable[[str | tuple[str, ...]], str]] = {
    "singlequote": _quoted("'", lambda v: v.replace("'", "\\'")),
    "sqlstring": _quoted("'", lambda v: v.replace("'", "''").replace('"', '\\"')),
    "doublequote": _quoted('"', lambda v: v.replace('"', '\\"')),
    "csv": _joined(","),
    "raw": _joined(","),
    "pipe": _joined("|"),
    "json": lambda value: json.dumps(list(value) if isinstance(value, tuple) else value, separators=(",", ":")),
}


def format_value(variable: VariableState, fmt: str | None) -> str:
    """One variable reference rendered as Grafana would (custom all values stay raw)."""
    if variable.is_all and variable.all_value is not None:
        return variable.all_value
    value = variable.value()
    if fmt is None:
        return plugin_format(value)
    if fmt not in FORMATS:
        raise MacroError(variable.name, f"variable format {fmt!r} is not supported by the expander")
    return FORMATS[fmt](value)


def interpolate_variables(sql: str, variables: Mapping[str, VariableState],
                          builtins: Mapping[str, str] | None = None) -> str:
    """templateSrv.replace: known variables formatted, unknown `$names` (plugin macros) left alone."""
    known_builtins = builtins or {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in variables:
            rendered = format_value(variables[name], fmt)
            custom_all = variables[name].is_all and variables[name].all_value is not None
            return interpolate_variables(rendered, variables, builtins) if custom_all else rendered
        if name in known_builtins and fmt is None:
            return known_builtins[name]
        return match.group()

    return VARIABLE_RE.sub(replace, sql)
