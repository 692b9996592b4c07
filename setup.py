"""Build hook: the built-in config (config/*.toml: lexicon, messages, settings defaults) ships inside
the package as ``hotline/defaults/``, so an installed ``hotline`` works without the source tree.
config/ stays the one copy people edit; everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONFIG = Path(__file__).resolve().parent / "config"


class BuildWithDefaults(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads config/ from the source tree
        target = Path(self.build_lib) / "hotline" / "defaults"
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted(CONFIG.glob("*.toml")):
            shutil.copyfile(file, target / file.name)


setup(cmdclass={"build_py": BuildWithDefaults})
