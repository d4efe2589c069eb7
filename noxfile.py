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
    session.install(*CONSTRAINTS, "-e", f".{extras}")


def ensure_chromium(session: nox.Session) -> None:
    """The browser test drives Debian's Chromium; install it where we can (root with apt-get)."""
    if os.environ.get("REPRO_CHROMIUM") or shutil.which("chromium"):
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", "chromium", external=True,
                    env={"DEBIAN_FRONTEND": "noninteractive"})
        return
    session.error("the browser test needs Chromium: install Debian's `chromium` package, "
                  "or set REPRO_CHROMIUM=/path/to/chromium")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, the browser test included."""
    install(session, "[dev]")
    ensure_chromium(session)
    session.run("pytest", *session.posargs)


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
