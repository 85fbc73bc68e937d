"""The layout: `backends/` and `viz/` at the root install as `graphc.backends` / `graphc.viz`,
in an editable install (this checkout) and in a built wheel."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_editable_install_maps_backends_into_graphc():
    import graphc.backends.numpy_backend as nb

    assert Path(nb.__file__).resolve().parent == ROOT / "backends"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    uv = shutil.which("uv")
    assert uv, "uv is needed to build the wheel (CI installs it)"
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(out), str(ROOT)], check=True,
                   capture_output=True)
    (whl,) = out.glob("graphc-*.whl")
    return whl


def test_wheel_has_no_generic_top_level_packages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "graphc/backends/numpy_backend.py" in names
    assert "graphc/ops/core.py" in names
    top = {n.split("/")[0] for n in names}
    assert top <= {"graphc", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, top
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[graphc.backends]" in text and "graphc = graphc.cli:main" in text


def test_wheel_installs_and_runs_outside_the_checkout(wheel, tmp_path):
    uv = shutil.which("uv")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), str(wheel)], check=True,
                   env=env)
    code = (
        "import graphc as gc, graphc.backends.numpy_backend as nb, numpy as np;"
        "x = gc.placeholder('x', (2,));"
        "g = gc.grad(gc.Graph([x], [gc.sum(x * x)]));"
        "print('numpy' in gc.list_backends(), gc.compile(g)(x=np.array([1.0, 2.0]))[1].tolist(),"
        " 'site-packages' in nb.__file__)"
    )
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.stdout.split() == ["True", "[2.0,", "4.0]", "True"]
    cli = subprocess.run([str(venv / "bin" / "graphc"), "--help"], capture_output=True, text=True)
    assert cli.returncode == 0 and "demo" in cli.stdout
