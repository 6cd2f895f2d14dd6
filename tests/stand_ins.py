"""Stand-ins for the official images compose.yaml names beside the app's (Caddy, Redis), made
from Debian's packages (see tests/test_container.py for why images are stand-ins here): each
once, kept in .cache/ and in podman's store under the name compose.yaml gives, with the
official image's command, folders and entry point. Where the official image is already in
podman's store, it is used as it is.
"""

from __future__ import annotations

import fcntl
import shlex
import subprocess
from dataclasses import dataclass

from .harness import CACHE, run
from .test_container import podman, require


@dataclass(frozen=True)
class StandIn:
    image: str  # the official image's name, as compose.yaml has it
    packages: str  # Debian's, for mmdebstrap --include
    changes: tuple[str, ...]  # the official image's configuration (podman import --change)
    entrypoint: str = ""  # a shell script at /usr/local/bin/docker-entrypoint.sh, if any

    @property
    def tar(self) -> str:
        return self.image.rpartition("/")[2].replace(":", "-")


CADDY = StandIn(
    "docker.io/library/caddy:2",
    "caddy,ca-certificates",
    (
        "ENV XDG_CONFIG_HOME=/config",  # where Caddy keeps its certificates and state
        "ENV XDG_DATA_HOME=/data",
        "WORKDIR /srv",
        "EXPOSE 80",
        "EXPOSE 443",
        'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]',
    ),
)
# The official Redis image is built with protected mode off, so that other containers may
# connect without a password; Debian's redis-server has it on, hence the entry point.
REDIS = StandIn(
    "docker.io/library/redis:8",
    "redis-server",
    (
        "WORKDIR /data",
        "EXPOSE 6379",
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
        'CMD ["redis-server"]',
    ),
    entrypoint=(
        '#!/bin/sh\n'
        'if [ "$1" = redis-server ]; then shift; set -- redis-server --protected-mode no "$@"; fi\n'
        'exec "$@"\n'
    ),
)


def stand_in(env: dict[str, str], wanted: StandIn) -> str:
    """`wanted`'s image in podman's store: the official one if there, else the stand-in."""
    with open(CACHE / f"{wanted.tar}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if subprocess.run(["podman", "image", "exists", wanted.image], env=env).returncode == 0:
            return wanted.image
        tar = CACHE / f"{wanted.tar}-bookworm.tar"
        if not tar.is_file():
            require("mmdebstrap")
            partial = tar.with_name(f"{wanted.tar}-partial.tar")
            hooks = []
            if wanted.entrypoint:
                path = '"$1/usr/local/bin/docker-entrypoint.sh"'
                script = f"printf %s {shlex.quote(wanted.entrypoint)} > {path}; chmod 755 {path}"
                hooks = [f"--customize-hook={script}"]
            run(
                ["mmdebstrap", "--quiet", "--variant=minbase", f"--include={wanted.packages}",
                 *hooks, "bookworm", str(partial)],
                cwd=CACHE, timeout=900,
            )
            partial.rename(tar)
        changes = [argument for change in wanted.changes for argument in ("--change", change)]
        podman(env, "import", *changes, str(tar), wanted.image, timeout=300)
    return wanted.image
