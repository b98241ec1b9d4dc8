"""Package discovery only; everything else is in pyproject.toml.

The repository's top level is the package ``storeadvise`` (``package-dir`` maps it), so setuptools'
own discovery would install ``advisor`` and ``bench`` as top-level modules. This lists every folder
with an ``__init__.py`` under the one name instead, and keeps this file out of the wheel.
"""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildPy(build_py):
    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if (m[0], m[1]) != ("storeadvise", "setup")]


setup(
    packages=["storeadvise", *(f"storeadvise.{name}" for name in find_packages(exclude=["tests", "tests.*"]))],
    cmdclass={"build_py": BuildPy},
)
