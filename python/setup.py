"""Builds the onnxloss wheel: the package plus the onnxloss binary.

build_py runs `go build -o <build_lib>/onnxloss/bin/onnxloss ./cmd/onnxloss`
with CGO_ENABLED=0 in the repository root (the parent of this folder), so the
binary goes into the build folder and never into the source tree. The
commands the package uses (export, append, describe, list) need no cgo.
GO names the go command (default: go on PATH). Every build folder is a
temporary directory, so `pip install ./python` leaves no files behind.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# One temporary folder for every build output (build/, *.egg-info).
_TMP = tempfile.mkdtemp(prefix="onnxloss-build-")
atexit.register(shutil.rmtree, _TMP, True)


class BuildPy(build_py):
    """Copies the package and builds the onnxloss binary next to it."""

    def run(self):
        super().run()
        if not os.path.isfile(os.path.join(ROOT, "go.mod")):
            sys.exit(
                "onnxloss: %s is not the onnxloss repository (no go.mod); "
                "install from a checkout: pip install ./python" % ROOT
            )
        exe = "onnxloss.exe" if os.name == "nt" else "onnxloss"
        out = os.path.join(os.path.abspath(self.build_lib), "onnxloss", "bin", exe)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        go = os.environ.get("GO", "go")
        env = dict(os.environ, CGO_ENABLED="0")
        cmd = [go, "build", "-trimpath", "-o", out, "./cmd/onnxloss"]
        try:
            subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        except FileNotFoundError:
            sys.exit("onnxloss: %r not found: install Go 1.24 or newer, or set GO" % go)
        except subprocess.CalledProcessError as e:
            sys.exit("onnxloss: %s failed (exit %d) in %s" % (" ".join(cmd), e.returncode, ROOT))


class EggInfo(egg_info):
    """Writes the .egg-info folder into the temporary build folder."""

    def initialize_options(self):
        super().initialize_options()
        self.egg_base = _TMP


class BinaryDistribution(Distribution):
    """Marks the distribution as holding a binary, so the wheel is
    platform-specific and installs into platlib."""

    def has_ext_modules(self):
        return True


class BdistWheel(bdist_wheel):
    """Tags the wheel for the platform only: the binary needs no Python ABI."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPy, "egg_info": EggInfo, "bdist_wheel": BdistWheel},
    options={
        "build": {"build_base": os.path.join(_TMP, "build")},
        "bdist_wheel": {"bdist_dir": os.path.join(_TMP, "bdist")},
    },
)
