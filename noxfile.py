"""Sessions: `nox -s tests`, `nox -s reproduce-<paper>`, `report`, `bench`, `lint`.

Every session installs the suite with the pinned versions in constraints.txt, so a fresh machine
with only Python 3 (and nox) gets the same environment CI tests.
"""
from __future__ import annotations

import os
import shutil

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]

PAPERS = ("faster", "gcfnet", "kpsem", "maivar", "motion_distill")
CONSTRAINTS = ("-c", "constraints.txt")


def install(session: nox.Session, extras: str = "") -> None:
    # pip is quiet under nox; the first install downloads torch and mlflow, so say what the wait is
    session.log("installing the suite and its pinned dependencies (the first time: torch, mlflow and more, a few "
                "minutes)")
    session.install(*CONSTRAINTS, "-e", f".{extras}")


def ensure_debian_package(session: nox.Session, package: str, needed_for: str) -> None:
    """Install a Debian package where we can (root with apt-get); elsewhere say what to install."""
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", package, external=True,
                    env={"DEBIAN_FRONTEND": "noninteractive"})
        return
    session.error(f"{needed_for} needs Debian's `{package}` package (or your system's equivalent)")


def ensure_chromium(session: nox.Session) -> None:
    """The browser test drives Debian's Chromium; REPRO_CHROMIUM names another."""
    if not (os.environ.get("REPRO_CHROMIUM") or shutil.which("chromium")):
        ensure_debian_package(session, "chromium", "the browser test (or set REPRO_CHROMIUM=/path/to/chromium)")


def pinned(*names: str) -> list[str]:
    """`name==version` for each name, as constraints.txt pins it."""
    with open(CONSTRAINTS[1]) as lines:
        pins = dict(line.split(";")[0].strip().split("==", 1) for line in lines
                    if "==" in line and not line.startswith("#"))
    return [f"{name}=={pins[name]}" for name in names]


def decoder_missing(session: nox.Session, backend: str) -> str | None:
    """None when the suite's `backend` decoder can decode in the session's environment, else why not (its
    own check: torchcodec imports without FFmpeg and fails only when a video opens)."""
    code = f"from repro.data.backends import available; print(available({backend!r}) or 'ok')"
    said = (session.run("python", "-c", code, silent=True) or "ok").strip().splitlines()  # None: --install-only
    return None if said and said[-1] == "ok" else (said[-1] if said else "no answer")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, the browser test included. With REPRO_DECODERS=1 (CI sets it), where torchcodec cannot
    load beside this environment's torch, the `decoders` session runs the decoder comparison afterwards."""
    install(session, "[dev,torchcodec]")
    ensure_chromium(session)
    session.run("pytest", *session.posargs)
    why = None if session.posargs else decoder_missing(session, "torchcodec")
    if why and os.environ.get("REPRO_DECODERS") == "1":
        session.log(f"torchcodec does not load here ({why}); the `decoders` session compares it")
        session.notify("decoders")
    elif why:
        session.log(f"torchcodec does not load here ({why}), so its comparison was skipped; "
                    f"`nox -s decoders` installs PyPI's torch build (several GB) and runs it")


@nox.session
def decoders(session: nox.Session) -> None:
    """torchcodec against decord and PyAV on the test videos (tests/test_decoders.py), none skipped.

    PyPI's torchcodec links a CUDA build of torch, and a CPU-only machine's pip may resolve torch to the CPU
    build; so this session installs the pinned torch from PyPI itself (its CUDA build runs without a GPU too),
    ignoring pip's configuration files and variables for that one step (REPRO_TORCH_INDEX names another index,
    e.g. a mirror). torchcodec decodes with the system's FFmpeg libraries."""
    index = os.environ.get("REPRO_TORCH_INDEX", "https://pypi.org/simple")
    session.install("--isolated", "--index-url", index, *pinned("torch", "torchcodec"),
                    env={"PIP_CONFIG_FILE": os.devnull})
    install(session, "[dev,torchcodec]")
    if decoder_missing(session, "torchcodec"):
        ensure_debian_package(session, "ffmpeg", "torchcodec (FFmpeg's shared libraries, versions 4 to 9)")
        if why := decoder_missing(session, "torchcodec"):
            session.error(why)
    session.run("pytest", "-p", "no:cacheprovider", "tests/test_decoders.py", *session.posargs,
                env={"REPRO_REQUIRE_DECODERS": "torchcodec"})


def _reproduce(paper: str | None):
    def run(session: nox.Session) -> None:
        install(session)
        session.run("repro", "reproduce", *(["--paper", paper] if paper else []), *session.posargs)

    run.__doc__ = f"Audit, measure and report {paper or 'every paper'}; the report lands in reports/."
    return run


for _paper in PAPERS:
    nox.session(name=f"reproduce-{_paper.replace('_', '-')}")(_reproduce(_paper))
nox.session(name="reproduce-all")(_reproduce(None))


@nox.session
def report(session: nox.Session) -> None:
    """Re-render the HTML reports from what MLflow holds."""
    install(session)
    session.run("repro", "report", *session.posargs)


BENCH_JSON = "results/benchmarks.json"


@nox.session
def bench(session: nox.Session) -> None:
    """Latency of every model at its paper's input size (pytest-benchmark), saved as results/benchmarks.json,
    then the report with its performance sections. Arguments after -- go to pytest (e.g. -k faster)."""
    install(session, "[dev]")
    os.makedirs("results", exist_ok=True)
    session.run("pytest", "--benchmark-only", f"--benchmark-json={BENCH_JSON}", *session.posargs)
    session.run("repro", "report", "--benchmarks", BENCH_JSON)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the code."""
    session.install("ruff")
    session.run("ruff", "check", "repro", "baselines", "papers", "tests", "noxfile.py")
