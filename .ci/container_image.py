"""The tools, the base image and the image: everything `make container-test` makes.

The base is a python:3.11-slim stand-in (no registry image can be pulled here), cached
in podman's store and as a tarball, keyed by BASE_VERSION.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from container_common import (
    BASE_IMAGE,
    BASE_VERSION,
    CACHE,
    DEBIAN_MIRROR,
    IMAGE,
    PACKAGES,
    REPO,
    Failed,
    Skip,
    run,
)


def install_tools() -> None:
    """apt-get install what is missing (root only); Skip where that cannot be done."""
    if sys.platform != "linux":
        raise Skip(f"podman and debootstrap need Linux; this is {sys.platform}")
    if os.geteuid() != 0:
        raise Skip("needs root: debootstrap makes the base image and podman runs it rootful")
    missing = [pkg for tool, pkg in PACKAGES.items() if shutil.which(tool) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise Skip(f"missing {', '.join(missing)} and there is no apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", *missing, env=env)


def containers_conf(folder: Path) -> Path:
    """A containers.conf for podman and buildah: runc, cgroupfs, no systemd.

    `default_ulimits = []`: without it podman asks runc for nofile=1048576, and with
    only nofile given for nproc=4194304; runc may not raise either here ("error setting
    rlimit ... operation not permitted"). The empty list keeps limits the host allows.
    """
    conf = folder / "containers.conf"
    conf.write_text(
        "[containers]\n"
        "default_ulimits = []\n"
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    return conf


def ensure_base(work: Path) -> str:
    """The python:3.11-slim stand-in, from podman's store, the tarball cache or debootstrap."""
    if run("podman", "image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return "in podman's store"
    tarball = CACHE / f"base-{BASE_VERSION}.tar.gz"
    how = "imported from the cache"
    if not tarball.exists():
        make_base_tarball(work / "rootfs", tarball)
        how = "made with debootstrap"
    run(
        "podman", "import",
        "--change", "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change", "ENV LANG=C.UTF-8",
        "--change", 'CMD ["python3"]',
        str(tarball), BASE_IMAGE,
    )  # fmt: skip
    return how


def make_base_tarball(root: Path, tarball: Path) -> None:
    """Debian bookworm (minbase) with Python, as python:3.11-slim lays it out."""
    run(
        "debootstrap", "--variant=minbase",
        "--include=python3,python3-venv,python3-pip,ca-certificates",
        "bookworm", str(root), DEBIAN_MIRROR,
    )  # fmt: skip
    local_bin = root / "usr/local/bin"
    (local_bin / "python").symlink_to("/usr/bin/python3")
    (local_bin / "pip").symlink_to("/usr/bin/pip3")
    # python:3.11-slim's pip installs where it is told; Debian's refuses (PEP 668).
    for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    for junk in ("var/cache/apt", "var/lib/apt/lists"):
        shutil.rmtree(root / junk)
        (root / junk).mkdir()
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial")
    run("tar", "--numeric-owner", "-C", str(root), "-czf", str(partial), ".")
    partial.rename(tarball)
    shutil.rmtree(root)


def build_image() -> None:
    """buildah bud of the repository's Dockerfile, as is, on the stand-in base."""
    cmd = [
        "buildah", "bud", "--isolation", "chroot", "--network", "host",
        "--format", "docker",  # OCI images drop HEALTHCHECK
        "--layers", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "--tag", IMAGE,
    ]  # fmt: skip
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():  # pip in the build trusts what this host trusts (a TLS proxy's CA)
        cmd += ["--volume", f"{bundle}:{bundle}:ro"]
    run(*cmd, str(REPO))
    # Each new code state leaves untagged images behind (about 45 MB each). Prune only
    # removes those without a tag or a child, so the layers this build reuses stay; the
    # hour spares a build running beside this one.
    run("podman", "image", "prune", "--force", "--filter", "until=1h", capture=True)


def check_pins() -> None:
    """The image holds exactly the releases constraints.txt pins (plus pip and us)."""
    pinned = {normal(line) for line in (REPO / "constraints.txt").read_text().splitlines()}
    pinned.discard("")
    done = run("podman", "run", "--rm", "--entrypoint", "pip", IMAGE, "freeze", "--all",
               capture=True)  # fmt: skip
    installed = {normal(line) for line in done.stdout.splitlines()}
    installed = {p for p in installed if not p.startswith(("pip==", "testpress-notifier"))}
    if pinned != installed:
        missing, extra = sorted(pinned - installed), sorted(installed - pinned)
        raise Failed(f"the image differs from constraints.txt: missing {missing}, extra {extra}")


def check_config() -> None:
    """What the Dockerfile promises a runtime: user, port, address, volume, health check."""
    done = run("podman", "image", "inspect", IMAGE, capture=True)
    [image] = json.loads(done.stdout)
    config, health = image["Config"], image.get("Healthcheck") or {}
    wrong = []
    if config.get("User") != "10001:10001":
        wrong.append(f"User {config.get('User')!r}")
    if "8080/tcp" not in (config.get("ExposedPorts") or {}):
        wrong.append("no EXPOSE 8080")
    if "NOTIFIER_HTTP_ADDR=0.0.0.0:8080" not in config.get("Env", []):
        wrong.append("NOTIFIER_HTTP_ADDR is not 0.0.0.0:8080")
    if "/data" not in (config.get("Volumes") or {}):
        wrong.append("no /data volume")
    if "/opt/notifier/healthcheck.py" not in health.get("Test", []):
        wrong.append(f"HEALTHCHECK {health.get('Test')}")
    if wrong:
        raise Failed("the image's configuration: " + "; ".join(wrong))


def normal(requirement: str) -> str:
    """`Jinja2==3.1.6` -> `jinja2==3.1.6`; comments -> ''."""
    return requirement.split("#", 1)[0].strip().lower().replace("_", "-")


def probe_podman() -> None:
    """Skip when podman cannot start a container here at all."""
    done = run(
        "podman", "run", "--rm", "--network", "host", BASE_IMAGE, "true", check=False, capture=True
    )
    if done.returncode != 0:
        raise Skip(f"podman cannot run a container here: {(done.stderr or done.stdout).strip()}")
