"""Fetch Kafka and Apicurio Registry from Maven Central into a local cache, once.

Kafka comes as the jars of a release (``deploy/maven/kafka-pom.xml`` resolved with
``mvn dependency:copy-dependencies``); Apicurio as its runnable Quarkus layout (``-all.tar.gz``
unpacked with ``mvn dependency:unpack``). A folder counts as complete only once its marker file,
written last, lists every file the download produced.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

__all__ = [
    "APICURIO_VERSION",
    "KAFKA_VERSION",
    "MavenError",
    "apicurio_home",
    "cache_dir",
    "kafka_lib",
]

KAFKA_VERSION = "4.4.0"
APICURIO_VERSION = "3.3.3"
_MARKER = ".socialpulse-complete"


class MavenError(RuntimeError):
    """Maven is missing or could not fetch an artifact."""


def _repo_root() -> Path | None:
    """The checkout this package runs from (the folder above ``deploy/`` with a pyproject.toml)."""
    parent = Path(__file__).resolve().parent.parent
    return parent if (parent / "pyproject.toml").is_file() else None


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$SOCIALPULSE_CACHE_DIR``, else ``<checkout>/.cache``, else ``~/.cache/socialpulse``."""
    env = os.environ if environ is None else environ
    if env.get("SOCIALPULSE_CACHE_DIR"):
        path = Path(env["SOCIALPULSE_CACHE_DIR"]).expanduser()
    else:
        root = _repo_root()
        path = root / ".cache" if root is not None else Path.home() / ".cache" / "socialpulse"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def kafka_lib(version: str | None = None, cache: Path | None = None) -> Path:
    """The folder holding every jar of Kafka ``version``; downloads it on first use."""
    version = version or os.environ.get("SOCIALPULSE_KAFKA_VERSION") or KAFKA_VERSION
    lib = (cache or cache_dir()) / f"kafka-{version}" / "lib"
    if _complete(lib):
        return lib
    with _lock(lib.parent), resources.as_file(resources.files(__package__) / "maven" / "kafka-pom.xml") as pom:
        if _complete(lib):  # another process finished while we waited for the lock
            return lib
        lib.mkdir(parents=True, exist_ok=True)
        _run_mvn(
            [
                "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime",
                f"-Dkafka.version={version}", f"-DoutputDirectory={lib}",
            ],
            what=f"Kafka {version} jars",
        )
        missing = [p for p in ("kafka_2.13-", "kafka-tools-", "log4j-core-", "log4j-slf4j")
                   if not any(f.name.startswith(p) for f in lib.glob("*.jar"))]
        if missing:
            raise MavenError(f"Maven finished but {lib} lacks {', '.join(missing)}*.jar")
        _mark_complete(lib)
    return lib


def apicurio_home(version: str = APICURIO_VERSION, cache: Path | None = None) -> Path:
    """The unpacked Apicurio Registry app (holding ``quarkus-run.jar``); downloads it on first use."""
    home = (cache or cache_dir()) / f"apicurio-{version}"
    if _complete(home):
        return home
    with _lock(home.parent / f"apicurio-{version}.d"):
        if _complete(home):
            return home
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        _run_mvn(
            [
                "dependency:unpack",
                f"-Dartifact=io.apicurio:apicurio-registry-app:{version}:tar.gz:all",
                f"-DoutputDirectory={home}",
                f"-Dmdep.markersDirectory={home.parent / f'.apicurio-{version}-markers'}",
            ],
            what=f"Apicurio Registry {version}",
        )
        if not (home / "quarkus-run.jar").is_file():
            raise MavenError(f"unpacked Apicurio {version} into {home} but found no quarkus-run.jar")
        _mark_complete(home)
    return home


def _complete(folder: Path) -> bool:
    marker = folder / _MARKER
    if not marker.is_file():
        return False
    names = marker.read_text().split("\n")
    return all((folder / n).exists() for n in names if n)


def _mark_complete(folder: Path) -> None:
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != _MARKER)
    tmp = folder / (_MARKER + ".tmp")
    tmp.write_text("\n".join(names) + "\n")
    tmp.replace(folder / _MARKER)


@contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """Serialise downloads between processes (e.g. two test sessions starting at once)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def find_mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError(
            "mvn not found: install Maven (e.g. `apt-get install maven`) and make sure `mvn` is on PATH; "
            "it fetches Kafka and the schema registry from Maven Central once."
        )
    return mvn


_DOWNLOADED = re.compile(r"^\[INFO\] Downloaded from \S+: \S+/([^/\s]+) \(")


def _run_mvn(args: list[str], what: str) -> None:
    """Run Maven in batch mode; show one progress line on stderr and keep the full log."""
    mvn = find_mvn()
    err = sys.stderr
    print(f"Fetching {what} from Maven Central (one-off, about a minute)...", file=err, flush=True)
    log_path = cache_dir() / "maven.log"
    # Run outside any project folder so Maven never picks up a stray pom.xml.
    with tempfile.TemporaryDirectory() as cwd, open(log_path, "a") as log:
        log.write(f"\n$ mvn {' '.join(args)}\n")
        proc = subprocess.Popen(
            [mvn, "-B", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        count, errors = 0, []
        for line in proc.stdout:
            log.write(line)
            if line.startswith("[ERROR]"):
                errors.append(line.rstrip())
            match = _DOWNLOADED.match(line)
            if match:
                count += 1
                if err.isatty():
                    print(f"\r  {count} files downloaded, last {match.group(1)[:60]:<60}", end="", file=err)
                elif count % 50 == 0:
                    print(f"  {count} files downloaded", file=err, flush=True)
        rc = proc.wait()
    if err.isatty() and count:
        print(file=err)
    if rc != 0:
        detail = "\n".join(errors[:15]) or "(no [ERROR] lines)"
        raise MavenError(f"mvn failed fetching {what} (exit {rc}); full log: {log_path}\n{detail}")
    print(f"Fetched {what} ({count} new downloads; the rest came from ~/.m2).", file=err, flush=True)
