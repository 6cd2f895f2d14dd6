"""A stand-in for the official Caddy image, made from Debian's caddy package (see
tests/test_container.py for why images are stand-ins here): once, kept in .cache/ and in
podman's store under the name compose.yaml gives, with the official image's command and
folders. Where the official image is already in podman's store, it is used as it is.
"""

from __future__ import annotations

import fcntl
import subprocess

from .harness import CACHE, run
from .test_container import podman, require

CADDY_IMAGE = "docker.io/library/caddy:2"
CADDY_TAR = CACHE / "caddy-bookworm.tar"
# The official image's configuration: where Caddy keeps its certificates and state.
CHANGES = [
    "ENV XDG_CONFIG_HOME=/config",
    "ENV XDG_DATA_HOME=/data",
    "WORKDIR /srv",
    "EXPOSE 80",
    "EXPOSE 443",
    'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]',
]


def caddy_image(env: dict[str, str]) -> str:
    with open(CACHE / "caddy-image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if subprocess.run(["podman", "image", "exists", CADDY_IMAGE], env=env).returncode == 0:
            return CADDY_IMAGE
        if not CADDY_TAR.is_file():
            require("mmdebstrap")
            partial = CADDY_TAR.with_name("caddy-partial.tar")
            run(
                ["mmdebstrap", "--quiet", "--variant=minbase", "--include=caddy,ca-certificates",
                 "bookworm", str(partial)],
                cwd=CACHE, timeout=900,
            )
            partial.rename(CADDY_TAR)
        changes = [argument for change in CHANGES for argument in ("--change", change)]
        podman(env, "import", *changes, str(CADDY_TAR), CADDY_IMAGE, timeout=300)
    return CADDY_IMAGE
