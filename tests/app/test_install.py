"""The package as a wheel: configs/ and problems/ ship inside it, and `kanpde` runs from
any directory of a fresh virtualenv."""

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_kanpde_subpackage_and_the_shipped_folders_are_in_the_package_list():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "kanpde").rglob("__init__.py")}
    assert found | {"kanpde.configs", "kanpde.problems"} == set(setuptools["packages"])
    assert setuptools["package-dir"] == {"kanpde.configs": "configs", "kanpde.problems": "problems"}


@pytest.mark.slow
def test_a_wheel_in_a_fresh_virtualenv_runs_from_outside_the_checkout(tmp_path):
    source, wheels = tmp_path / "source", tmp_path / "wheels"  # a copy: setuptools builds in the tree
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "outputs", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels)], check=True, cwd=tmp_path, timeout=300)
    (wheel,) = wheels.glob("kanpde-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = [p.relative_to(ROOT).as_posix() for p in [*(ROOT / "configs").rglob("*.yaml"),
                                                         *(ROOT / "problems").glob("*.py")]]
    assert all(f"kanpde/{name}" in names for name in shipped)
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co. from this environment
    subprocess.run([env / "bin" / "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    away = tmp_path / "away"
    away.mkdir()
    proc = subprocess.run([env / "bin" / "kanpde", "problem=kdv", "progress=false", "eval_points=400",
                           "sampler.interior=64", "sampler.boundary=16",
                           "train.stages=[{steps:3,optimizer:adam,lr:0.01,grid:3}]"],
                          cwd=away, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    where = subprocess.run([env / "bin" / "python", "-c", "import kanpde; print(kanpde.__file__)"],
                           capture_output=True, text=True, cwd=away)
    assert where.stdout.startswith(str(site / "kanpde"))
    assert list((away / "outputs" / "kdv").glob("*/metrics.json"))
    mine = away / "mine" / "problem"  # a user's config folder adds to the shipped ones
    mine.mkdir(parents=True)
    (mine / "wide.yaml").write_text("name: poisson2d\nparams: {}\nhard_dirichlet: true\n")
    proc = subprocess.run([env / "bin" / "kanpde", "--config-dir", "mine", "problem=wide", "model.widths=[5]",
                           "--cfg", "job"], cwd=away, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "name: poisson2d" in proc.stdout and "- 5" in proc.stdout, proc.stderr
