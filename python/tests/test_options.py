"""The keywords are the command's options: the same names and defaults as ``icam explain
--help`` (and eval, predict), and the type stubs list them all. These tests fail when an option
is added to one side only."""

import ast
import re
from pathlib import Path

import pytest

import icam
from conftest import run_cli

STUB = Path(icam.__file__).with_name("_icam.pyi")

# Flags of the commands that Python takes elsewhere than as options of the same call.
EXPLAIN_ONLY_HERE = {"--out", "--dump-intermediates"}  # explain(out=, dump_intermediates=)
PREDICT_ONLY_HERE = {"--top-k"}  # predict(top_k=)
CLI_ONLY = {"--help", "--json"}  # the command's own


def help_flags(icam_bin, command):
    text = run_cli(icam_bin, command, "--help").stdout
    return set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", text, re.M)), text


def flags(command):
    return {o["flag"] for o in icam.options(command)}


def test_explain_keywords_are_the_explain_flags(icam_bin):
    cli, _ = help_flags(icam_bin, "explain")
    py = flags("explain") | flags("load") | EXPLAIN_ONLY_HERE
    assert cli - CLI_ONLY == py, f"CLI only: {cli - CLI_ONLY - py}; Python only: {py - cli}"


def test_eval_and_predict_keywords(icam_bin):
    cli, _ = help_flags(icam_bin, "eval")
    assert cli - CLI_ONLY == flags("evaluate")
    cli, text = help_flags(icam_bin, "predict")
    assert cli - CLI_ONLY == flags("load") | PREDICT_ONLY_HERE
    top_k = re.search(r"--top-k <TOP_K>.*?\[default: (\d+)\]", text, re.S).group(1)
    assert int(top_k) == stub_defaults("Model.predict")["top_k"]


def test_defaults_are_the_help_defaults(icam_bin):
    _, text = help_flags(icam_bin, "explain")
    for o in icam.options("explain") + icam.options("load"):
        # The flag's own entry (a line starting with it), not a mention in another's help.
        m = re.search(
            r"^\s+(?:-\w, )?" + re.escape(o["flag"]) + r"(?: <[^>]+>)?\s.*?(?=\n\s+-|\Z)", text, re.S | re.M
        )
        assert m, o["flag"]
        d = re.search(r"\[default: ([^\]]+)\]", m.group(0))
        if o["kind"] == "flag":
            assert d is None and o["default"] is False
        elif o["kind"] == "list":
            assert (d.group(1).split(",") if d else []) == o["default"], o["flag"]
        else:
            assert (d.group(1) if d else None) == o["default"], o["flag"]


def stub_defaults(qualname):
    """The keyword defaults of a function in the stub (the last definition of an overload)."""
    tree = ast.parse(STUB.read_text())
    owner, _, name = qualname.rpartition(".")
    body = tree.body
    if owner:
        body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner).body
    fn = [n for n in body if isinstance(n, ast.FunctionDef) and n.name == name][-1]
    a = fn.args
    out = {}
    for arg, default in zip(a.args[len(a.args) - len(a.defaults):], a.defaults):
        out[arg.arg] = ast.literal_eval(default)
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        out[arg.arg] = ast.literal_eval(default) if default is not None else ...
    return out


def same(option, stub_value):
    d = option["default"]
    if option["kind"] == "flag":
        return stub_value is False
    if option["kind"] == "list":
        return [str(v) for v in (stub_value or ())] == d
    if d is None:
        return stub_value is None
    return str(stub_value) == d or (isinstance(stub_value, float) and float(d) == stub_value)


@pytest.mark.parametrize(
    "qualname,command,extra",
    [
        ("Model.explain", "explain", {"out", "dump_intermediates", "progress", "target"}),
        ("Model.load", "load", set()),
        ("Model.default", "load", set()),
        ("evaluate", "evaluate", {"progress"}),
    ],
)
def test_the_stub_lists_every_option_with_its_default(qualname, command, extra):
    stub = stub_defaults(qualname)
    opts = {o["name"]: o for o in icam.options(command)}
    assert set(stub) - extra == set(opts), (
        f"stub only: {set(stub) - extra - set(opts)}; options only: {set(opts) - set(stub)}"
    )
    per_call = {"no_resize", "normalize"} if command == "explain" else set()
    for name, o in opts.items():
        if name in per_call:
            assert stub[name] is None  # the model's, unless given
        else:
            assert same(o, stub[name]), f"{qualname}({name}=...): stub {stub[name]!r}, option {o['default']!r}"
    for name, o in opts.items():
        if o["choices"] and isinstance(stub[name], str):
            assert stub[name] in o["choices"]


def test_methods_come_from_the_options():
    method = next(o for o in icam.options("explain") if o["name"] == "method")
    assert icam.methods() == method["choices"]
    with pytest.raises(ValueError, match="unknown command"):
        icam.options("nope")
