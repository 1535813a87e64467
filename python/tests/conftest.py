"""Shared fixtures of the Python package's tests (run on the installed wheel).

The reference fixtures come from ``../shared`` beside the checkout (or ``$ICAM_SHARED``); the
``icam`` binary from ``target/release/icam`` (or ``$ICAM_BIN``). Tests that need either print
``SKIPPED: ...`` and are skipped when it is absent.
"""

import os
import subprocess
from pathlib import Path

import pytest

import icam

REPO = Path(__file__).resolve().parents[2]


def shared_dir():
    env = os.environ.get("ICAM_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def skip(reason):
    print(f"SKIPPED: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fixtures():
    fx = shared_dir() / "reference" / "fixtures"
    if not (fx / "resnet50_seed0.safetensors").is_file():
        skip(f"reference fixtures not found at {fx} (set ICAM_SHARED)")
    return fx


@pytest.fixture(scope="session")
def data_dir():
    d = shared_dir() / "data" / "dev-voc"
    if not d.is_dir():
        skip(f"development data not found at {d} (set ICAM_SHARED)")
    return d


@pytest.fixture(scope="session")
def icam_bin():
    b = Path(os.environ.get("ICAM_BIN", REPO / "target" / "release" / "icam"))
    if not b.is_file():
        skip(f"the icam binary is not built at {b} (cargo build --release)")
    return b


@pytest.fixture(scope="session")
def resnet(fixtures):
    """The reference's setting: ResNet-50 with seeded random weights, images as they are."""
    return icam.Model.load(fixtures / "resnet50_seed0.safetensors", no_resize=True)


@pytest.fixture(scope="session")
def chelsea(fixtures):
    return str(fixtures / "chelsea224.png")


def run_cli(icam_bin, *args, check=True):
    """Run ``icam ARGS``; returns the completed process."""
    p = subprocess.run(
        [str(icam_bin), *map(str, args)], capture_output=True, text=True, timeout=600
    )
    if check and p.returncode != 0:
        raise AssertionError(f"icam {' '.join(map(str, args))} failed:\n{p.stderr}")
    return p


def cli_error(icam_bin, *args):
    """The one-line message of a failing ``icam ARGS`` (without ``error: ``)."""
    p = run_cli(icam_bin, *args, check=False)
    assert p.returncode != 0, f"icam {args} succeeded"
    line = p.stderr.strip().splitlines()[-1] if "error: " not in p.stderr else next(
        l for l in p.stderr.splitlines() if l.startswith("error: ")
    )
    return line.removeprefix("error: ")
