"""The README's Python snippets run, in order, as written; its op table lists every op."""

import re
from pathlib import Path

import graphrnn as gr

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_snippets_run(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)  # snippets may write files (out/...)
    namespace = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    # the snippets' claims hold
    assert namespace["graph"].outputs["y"].shape == (5, gr.B, 1)
    assert namespace["seq"].ravel().tolist() == [1, 2, 3, 5, 8, 13, 21, 34]
    assert "state  h[t] = h[t-1] @ W + x[t] @ U + b : f64(B, 3)   (init zeros)" in str(namespace["rec"])
    assert namespace["h"].shape == (gr.B, 4)
    assert list(namespace["dg"].outputs) == ["h", "loss", "dloss/dW", "dloss/db"]
    assert namespace["report"].ok
    assert set(namespace["diagrams"]) == {"folded", "unrolled", "cells", "gradients", "diff"}
    assert namespace["output"].shape == (5, 3, 16) and namespace["greedy"].shape[0] == 2
    assert namespace["grads"]["weight_hh_l0_reverse"].shape == (64, 16)
    assert namespace["ops"]["matmul"] < 50
    assert namespace["history"]["epoch_loss"][-1] < 1e-6
    assert namespace["grid"].shape == (16, 30)  # gradient per unit and step (the heat map)
    assert len(namespace["cell"].kernels) == 1 and "E[0](" in namespace["cell"].source
    printed = capsys.readouterr().out
    assert "abcdabcdabcd" in printed and "stepped cdabcd" in printed  # generate, a stepper
    assert "[ 1.  3.  6.  9. 12.]" in printed and "[('y', 1)]" in printed
    assert "[0.0, 6.0, 24.0]" in printed  # a bound call reads its arrays in place
    # one model protocol: the outputs and carried states, generation, fit without inputs
    for line in ("Elman ['h_n', 'output'] {'h': (1, 3, 4)}",
                 "Jordan ['h_n', 'output', 'y_n'] {'y': (1, 3, 2)}",
                 "LSTM ['c_n', 'h_n', 'output'] {'h': (4, 3, 16), 'c': (4, 3, 16)}",
                 "Autonomous ['output', 's_n'] {'s': (1, 3, 4)}", "0.59 -> 0.05",
                 "['bias_h', 'bias_y', 'input', 'weight_hy', 'weight_ih', 'weight_yh']"):
        assert line in printed, line
    assert namespace["more"].shape == (4, 3, 2)


def test_readme_op_table_names_every_registered_op():
    table = README.read_text().split("## Ops", 1)[1].split("## Command line", 1)[0]
    named = set(re.findall(r"`(\w+)`", table))
    missing = sorted(set(gr.OPS) - named)
    assert not missing, f"ops missing from the README table: {missing}"
    assert f"{len(gr.OPS)} ops" in README.read_text()
