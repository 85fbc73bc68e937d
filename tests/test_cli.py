"""The command line: `graphc --help` and `graphc demo`."""

import subprocess
import sys

from graphc import cli, demo


def test_help_explains_the_commands(capsys):
    try:
        cli.main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "adjoint pass" in out


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: graphc" in capsys.readouterr().out


def test_demo_prints_every_example_and_passes(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo writes its pictures into ./graphc-demo
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    for name in ("quadratic", "log_quadratic", "frobenius_residual", "logistic_least_squares"):
        assert name in out
    assert "all checks passed" in out
    assert (tmp_path / "graphc-demo" / "index.html").is_file()
    assert (tmp_path / "graphc-demo" / "logistic_least_squares" / "backprop.html").is_file()


def test_demo_backprop_table_matches_the_hand_computed_column():
    table = demo.backprop_table({"w": 0.5, "b": -1.0, "x": 3.0, "t": 0.2})
    for line in table.splitlines()[3:]:
        *_, graphc_value, by_hand = line.split()
        assert graphc_value == by_hand


def test_console_script_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "graphc.cli", "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and "graphc" in out.stdout
