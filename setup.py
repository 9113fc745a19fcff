"""Install vsrife. The weight manifest lives in models/ (the store of a checkout) and is copied into the package."""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithManifest(build_py):
    """Ship models/manifest.toml inside the package, where installed copies look for it."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "vsrife" / "manifest.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "models" / "manifest.toml", target)


setup(
    name="vsrife",
    version="0.1.0",
    description="RIFE video frame interpolation for VapourSynth: the whole model family, exact and verified",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.12",
    packages=find_packages(include=["vsrife", "vsrife.*", "training", "training.*"]),
    install_requires=[
        "vapoursynth>=74",  # R74+ wheels (cp312 abi3); R81 is what we test
        "torch>=2.6",
        "numpy>=1.26",
        "vsutil>=0.8",  # frame/plane helpers that follow VapourSynth conventions
        "tqdm>=4.66",  # download (and later training) progress on stderr
        "platformdirs>=4",  # per-user weight store outside a checkout
    ],
    extras_require={
        "dev": ["pytest>=8", "ruff>=0.6", "vapoursynth-bestsource", "pillow"],
    },
    cmdclass={"build_py": BuildPyWithManifest},
    entry_points={"console_scripts": ["vsrife=vsrife.__main__:main"]},
)
