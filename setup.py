"""The compiled part of fer_toolkit; everything else is in pyproject.toml.

The cascade trainer's and evaluator's loops (fer_toolkit/cascade/csrc/) are built into
the extension fer_toolkit.cascade._ckernels, which fer_toolkit/cascade/_native.py loads
with ctypes. They need a C compiler and Python's headers. With GCC or Clang no
floating-point contraction (fused multiply-add) is allowed, so that every sum rounds as
in OpenCV on every CPU.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_UNIX_FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-std=c99"]


class BuildExt(build_ext):
    """Compiler flags by compiler: GCC and Clang take ``_UNIX_FLAGS``."""

    def build_extensions(self):
        if self.compiler.compiler_type == "unix":
            for extension in self.extensions:
                extension.extra_compile_args = _UNIX_FLAGS
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "fer_toolkit.cascade._ckernels",
            sources=[
                "fer_toolkit/cascade/csrc/module.c",
                "fer_toolkit/cascade/csrc/split_search.c",
                "fer_toolkit/cascade/csrc/window_eval.c",
            ],
        )
    ],
    cmdclass={"build_ext": BuildExt},
)
