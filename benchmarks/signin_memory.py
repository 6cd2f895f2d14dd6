"""Memory a burst of wrong sign-ins leaves in a worker: 60 at once from three client addresses.

Renders a users project (SQLite), serves it with each server through its own `scripts/start`,
signs up nobody and sends 60 concurrent sign-ins with wrong passwords for 60 addresses (so the
per-account limit never answers first), 20 from each of three client addresses (given as
X-Forwarded-For, trusted through FORWARDED_ALLOW_IPS; inside the default 20/minute per
address). Each line is one server and one setting: without the hashing cap (as before it
existed: PASSWORD_HASHES_IN_FLIGHT=64), with the default cap, and with the default cap and
MALLOC_ARENA_MAX=2. RSS is summed over scripts/start's processes, measured after a warm-up
sign-in and again 2 s after the burst. Printed, not asserted: the figures depend on the machine.

    python -m benchmarks.signin_memory [--python PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).parents[1]))
from benchmarks.run import Server  # noqa: E402
from tests.harness import build_venv, render, run, venv_env  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ADDRESSES = ("192.0.2.2", "192.0.2.3", "192.0.2.4")  # documentation addresses, never dialled
SETTINGS = {
    "no cap": {"PASSWORD_HASHES_IN_FLIGHT": "64"},
    "cap 2": {},
    "cap 2, MALLOC_ARENA_MAX=2": {"MALLOC_ARENA_MAX": "2"},
}


async def attempt(url: str, number: int) -> int:
    address = ADDRESSES[number % len(ADDRESSES)]
    headers = {"X-Forwarded-For": address}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        form = await client.get("/sign-in")
        found = CSRF.search(form.text)
        assert found is not None, form.text
        fields = {"email": f"nobody{number}@example.com", "password": "wrong password"}
        answer = await client.post("/sign-in", data={**fields, "csrf_token": found.group(1)})
        return answer.status_code


async def burst(url: str, count: int) -> list[int]:
    return list(await asyncio.gather(*(attempt(url, number) for number in range(count))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--count", type=int, default=60)
    options, _ = parser.parse_known_args()  # scripts/bench passes the others' options too

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        project = render(Path(folder), auth="users")
        env = venv_env(build_venv([project], python=options.python))
        env |= {"DATABASE_URL": f"sqlite+aiosqlite:///{folder}/bench.db"}
        env |= {"FORWARDED_ALLOW_IPS": "127.0.0.1", "ALLOWED_HOSTS": "127.0.0.1,localhost"}
        run(["scripts/migrate", "upgrade", "head"], cwd=project, env=env)
        for name in ("granian", "uvicorn"):
            for label, settings in SETTINGS.items():
                server_env = {**env, "SERVER": name, **settings}
                server = Server(name, ["scripts/start"], project, server_env, cpus="0,1")
                server.start()
                try:
                    asyncio.run(burst(server.url, 1))  # warm-up: the first hash, the templates
                    before = server.memory("VmRSS")
                    began = time.perf_counter()
                    statuses = asyncio.run(burst(server.url, options.count))
                    seconds = time.perf_counter() - began
                    time.sleep(2)
                    after = server.memory("VmRSS")
                finally:
                    server.stop()
                counts = {status: statuses.count(status) for status in sorted(set(statuses))}
                rows.append((name, label, before, after, seconds, counts))

    print(f"\n{options.count} concurrent wrong sign-ins from {len(ADDRESSES)} addresses; "
          f"Python {options.python}; target: growth <= 64 MiB")
    print("| server | setting | RSS before MiB | RSS after MiB | growth MiB | burst s | answers |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, label, before, after, seconds, counts in rows:
        answers = ", ".join(f"{count} × {status}" for status, count in counts.items())
        print(f"| {name} | {label} | {before / 1024:.0f} | {after / 1024:.0f} | "
              f"{(after - before) / 1024:.0f} | {seconds:.2f} | {answers} |")


if __name__ == "__main__":
    main()
