"""The command line: the demo reaches the moving-sum solution, ops lists the registry."""

import json

import pytest

import graphrnn as gr
from graphrnn.app.cli import main


def test_demo_trains_checks_and_reports(tmp_path, capsys):
    report = tmp_path / "figures.json"
    assert main(["demo", "--out", str(tmp_path / "svg"), "--json", str(report)]) == 0
    text = capsys.readouterr().out
    assert "y = [1.0, 3.0, 6.0, 9.0, 12.0]" in text
    assert "gradcheck passed" in text and "demo passed" in text
    figures = json.loads(report.read_text())
    assert figures["y_exact"] == [1.0, 3.0, 6.0, 9.0, 12.0]
    assert figures["final_loss"] < 1e-6 and figures["gradcheck_ok"]
    if figures["svg"]:  # written only where Graphviz's dot is installed
        for path in figures["svg"]:
            assert open(path).read().lstrip().startswith("<?xml")


def test_ops_lists_every_op(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert f"{len(gr.OPS)} ops" in out
    assert all(name in out for name in gr.OPS)
    assert all(op.doc for op in gr.OPS.values()), "every op documents itself"


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and gr.__version__ in capsys.readouterr().out
