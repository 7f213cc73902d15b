"""The image's release build, checked without a Docker engine: the binary is built exactly as
the Dockerfile's build stage builds it (its cargo command, in a target dir of its own profile),
it runs `--version` and `crd`, and the runtime stage ships that binary alone, as a numeric
non-root user, with the binary as entrypoint."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = "cross-account-api-operator"


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            out.append([])
        out[-1].append((word.upper(), rest.strip()))
    return out


def build_stage():
    return next(s for s in stages() if s[0][1].endswith(" AS build"))


def runtime_stage():
    return stages()[-1]


def release_build_command() -> list[str]:
    """The cargo command of the build stage's last RUN that builds (the real sources)."""
    runs = [args for word, args in build_stage() if word == "RUN" and "cargo build" in args]
    assert runs, "no cargo build in the build stage"
    (cargo,) = [c.strip() for c in runs[-1].split("&&") if c.strip().startswith("cargo build")]
    return shlex.split(cargo)


def test_build_stage_uses_the_pinned_toolchain():
    channel = tomllib.loads((ROOT / "rust-toolchain.toml").read_text())["toolchain"]["channel"]
    image = build_stage()[0][1].split()[0]
    assert image == f"rust:{channel}-bookworm", image
    copied = " ".join(args for word, args in build_stage() if word == "COPY")
    assert "rust-toolchain.toml" in copied, "the build stage must see the toolchain file"


def test_runtime_stage_ships_only_the_binary_as_nonroot():
    stage = runtime_stage()
    words = [w for w, _ in stage]
    assert "RUN" not in words and "ADD" not in words, words
    copies = [args for w, args in stage if w == "COPY"]
    assert copies == [f"--from=build /{BINARY} /{BINARY}"], copies
    # The build stage puts exactly that file there.
    real_build = [a for w, a in build_stage() if w == "RUN" and "cargo build" in a][-1]
    assert f"cp target/release/{BINARY} /{BINARY}" in real_build
    (user,) = [a for w, a in stage if w == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit(), f"USER {user}: numeric, not root"
    (entrypoint,) = [a for w, a in stage if w == "ENTRYPOINT"]
    assert json.loads(entrypoint) == [f"/{BINARY}"]
    (cmd,) = [a for w, a in stage if w == "CMD"]
    assert json.loads(cmd) == ["run"]


def test_runtime_stage_limits_glibc_arenas_as_the_bench_runs_it():
    envs = [args for word, args in runtime_stage() if word == "ENV"]
    assert "MALLOC_ARENA_MAX=2" in envs, envs
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    assert bench.image_env() == dict(e.partition("=")[::2] for e in envs)


@pytest.fixture(scope="module")
def release_binary() -> Path:
    argv = release_build_command()
    assert argv[:2] == ["cargo", "build"] and "--release" in argv, argv
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(argv, cwd=ROOT, check=True)
    binary = target / "release" / BINARY
    assert binary.exists(), binary
    return binary


def test_release_binary_prints_its_version(release_binary: Path):
    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    out = subprocess.run([release_binary, "--version"], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == f"{BINARY} {version}", out.stdout


def test_release_binary_prints_the_shipped_crds(release_binary: Path):
    out = subprocess.run([release_binary, "crd"], check=True, capture_output=True, text=True).stdout
    shipped = [(ROOT / "crds" / f).read_text().strip() for f in ("crossaccountapi.yaml", "accountrole.yaml")]
    assert [d.strip() for d in out.split("\n---\n")] == shipped


if __name__ == "__main__":
    # `./dev test` starts this build early, in the background, so that it overlaps the
    # integration tests; the test above then finds it done.
    raise SystemExit(subprocess.run(release_build_command(), cwd=ROOT).returncode)
