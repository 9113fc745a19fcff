"""Install vsrife: the Python package, and the native plugin that gives VapourSynth the `rife` namespace.

The plugin (native/vsrife_plugin.c) is built against the headers of the vapoursynth wheel and installed into
site-packages/vapoursynth/plugins/vsrife/, where the VapourSynth core autoloads it. It does not link
libpython: it finds the interpreter's symbols at run time. The weight manifest lives in models/ (the weight
store of a checkout) and is copied into the package.
"""

import json
import shutil
from pathlib import Path

import vapoursynth
from setuptools import Extension, find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithManifest(build_py):
    """Ship models/manifest.toml inside the package, and remember the checkout it was installed from."""

    def run(self) -> None:
        super().run()
        package = Path(self.build_lib) / "vsrife"
        package.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "models" / "manifest.toml", package / "manifest.toml")
        # installed from a source checkout: its models/ stays the weight store (see vsrife.weights.model_dir)
        info = {"checkout": str(ROOT)} if (ROOT / ".git").exists() else {}
        (package / "install_info.json").write_text(json.dumps(info))


native_plugin = Extension(
    "vapoursynth.plugins.vsrife.vsrife",
    sources=["native/vsrife_plugin.c"],
    include_dirs=[vapoursynth.get_include()],
    extra_compile_args=["-O2", "-Wall", "-Wextra"],
    libraries=["dl", "pthread"],
)

# The fast path's fused CPU kernels (vsrife/arch/kernels.py loads them with ctypes; optional at run time).
# Linked against the OpenMP runtime PyTorch ships (same soname), so they share its thread pool.
fused_kernels = Extension(
    "vsrife._kernels",
    sources=["native/kernels.c"],
    # -fno-trapping-math: nothing here relies on floating-point exceptions, and without it GCC keeps
    # comparisons of floats as branches instead of vectorising them (the PReLU and quantization loops)
    extra_compile_args=["-O3", "-fopenmp", "-fno-trapping-math", "-Wall", "-Wextra"],
    extra_link_args=["-fopenmp"],
)


setup(
    # the import name stays `vsrife` (scripts written for vs-rife run unchanged); the distribution needs its
    # own name, as `vsrife` is vs-rife's on the registry (install one or the other: both provide `vsrife/`)
    name="vsrife-zoo",
    version="0.2.0",
    description="RIFE video frame interpolation for VapourSynth: the whole model family, exact and verified",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.12",
    # `training/` is run from a checkout (python -m training); a top-level "training" package is too
    # generic a name to install into site-packages
    packages=find_packages(include=["vsrife", "vsrife.*"]),
    # the int8-gptq path's shipped GPTQ roundings (vsrife/gptq.py)
    package_data={"vsrife": ["data/*.npz"]},
    install_requires=[
        "vapoursynth>=74",  # R74+ wheels (cp312 abi3); R81 is what we test
        "torch>=2.6",
        "numpy>=1.26",
        "vsutil>=0.8",  # frame/plane helpers that follow VapourSynth conventions
        "tqdm>=4.66",  # download (and later training) progress on stderr
        "platformdirs>=4",  # per-user weight store outside a checkout
    ],
    extras_require={
        # python -m training: PNG datasets (Pillow), TensorBoard logs, video decoding for make-dataset
        "train": ["pillow", "tensorboard", "vapoursynth-bestsource"],
        # tests, the demo and the examples: sources via bestsource, an x265 encoder via imageio-ffmpeg
        "dev": ["pytest>=8", "ruff>=0.6", "vapoursynth-bestsource", "pillow", "imageio-ffmpeg", "tensorboard"],
    },
    ext_modules=[native_plugin, fused_kernels],
    cmdclass={"build_py": BuildPyWithManifest},
    entry_points={"console_scripts": ["vsrife=vsrife.__main__:main"]},
)
