"""Load benchmark: the real bot, as its own process, with hundreds of ``/imagine`` in flight.

Run it with ``cd /work/main && .venv/bin/python -m bench.load`` (``--quick`` for a smoke run of
about 15 s, ``--help`` for the knobs). Like every script in ``bench/`` it prints figures and
compares them with a baseline measured in the same run; the issue's targets are reported as
PASS/MISS for information only, and the exit status is 0 unless the run itself failed.

Set-up (one run):

* This process (the driver) serves the fake Discord (``tests/fakes/fake_discord``) and the fake
  MyRouter (synchronous: one POST answered after a fixed latency ``L``, then a GET of the result
  file). MyRouter rather than an asynchronous provider keeps the provider's share simple: exactly
  ``L`` plus one download. Results are a smooth 1024x1024 JPEG (~30 KB; 1K is the smallest size
  Seedream 4.0 offers) so that the figures are about the bot, not about Pillow. The fake
  Discord's OpenAPI schema checks are off unless ``--validate``: see :func:`fake_discord`.
* The bot runs as ``python -m bench._bot_with_probe run``: the normal CLI and settings, plus
  probes (event-loop lag, waits for the database lock, Pillow worker calls), so that its CPU time
  and memory are read from ``/proc`` apart from the driver's. Its Pillow worker processes are
  counted with it: CPU and RSS are the whole process tree.
* ``N`` members of one server send ``/imagine`` (1K, one image) on a fixed open-loop schedule,
  ``rate`` per second; a fraction attach a small PNG (``image1``). Concurrency limits and quotas
  are lifted in the bot's environment so that nothing queues by configuration. Four warm-up jobs
  at zero latency come first (Pillow workers, connections) and are not measured.

Measured per job, from timestamps taken in this process as requests arrive (one clock):

* acknowledgement = the interaction is sent on the gateway -> the bot's interaction callback
  arrives (Discord's hard limit is 3 s);
* end-to-end = sent -> the edit carrying the result image arrives; bot-added = end-to-end - ``L``,
  split at the moment the provider receives the POST (before) and answers, ``L`` later (after).

Baseline arm, same run, same fake, same schedule, before the bot starts: the same provider calls
(the JSON the adapter builds, POST, then GET of the result) made directly with aiohttp over a
connector without a connection limit: the floor for end-to-end / ``L``.

Every arm also prints how the driver kept up (its CPU, its loop lag, how late sends started) and
how much CPU other processes on the machine used meanwhile, since the bot and the driver share
the machine's CPUs with them. ``--connection-limit N`` is a what-if, not the bot as shipped (see
:mod:`bench._bot_with_probe`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

from bench.common import machine, percentile, run_benchmark, sized, verdict
from bot.providers.models import GenerationRequest, Reference
from bot.providers.myrouter import MyRouter
from tests.fakes.fake_discord import FakeDiscord, wire
from tests.fakes.fake_discord.recording import Call, File
from tests.fakes.providers.common import ImageFactory, Recorded
from tests.fakes.providers.myrouter import FakeMyRouter
from tests.helpers import cli_env, png_bytes

#: the issue's targets (informational: a benchmark never fails a build on them)
IN_FLIGHT_TARGET = 500
ACK_P99_TARGET = 0.100
RATIO_TARGET = 1.05
MIB_PER_JOB_TARGET = 0.5
#: Discord's hard limit for the first response to an interaction
ACK_LIMIT = 3.0

MODEL = "seedream-4.0"
RESOLUTION = "1K"
REFERENCE_SIDE = 512
#: jobs run with zero provider latency before measuring: pool workers, connections, caches
WARMUP_JOBS = 4
#: how often the driver reads the bot's RSS and its own in-flight count
SAMPLE_EVERY = 0.25
#: how long the bot may take to connect, and to stop
START_TIMEOUT = 30.0
STOP_TIMEOUT = 40.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024.0 * 1024.0
MS = 1e3


# -- parameters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """Everything the run depends on, printed with the figures so a reader can reproduce them."""

    members: int
    jobs: int
    rate: float
    latency: float
    refs_fraction: float
    lag_tick: float
    log_level: str
    seed: int
    connection_limit: int | None = None
    validate: bool = False
    keep: bool = False
    quick: bool = False

    @property
    def send_seconds(self) -> float:
        return self.jobs / self.rate

    @property
    def drain_timeout(self) -> float:
        """How long after the last send the run waits for the last result."""
        return 10 * self.latency + 30.0


#: size knobs: (default, --quick)
_SIZES: dict[str, tuple[Any, Any]] = {
    "members": (200, 20),
    "jobs": (1000, 60),
    "rate": (55.0, 20.0),
    "latency": (10.0, 1.0),
}


def parse_args(argv: list[str] | None = None) -> Params:
    """Command-line knobs; ``--quick`` only changes the sizes that were not given explicitly."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="The bot under load against fake Discord and a fake provider (figures, "
        "not tests).",
    )
    parser.add_argument("--members", type=int, help="members sending commands (default 200)")
    parser.add_argument("--jobs", type=int, help="/imagine commands in all (default 1000)")
    parser.add_argument(
        "--rate", type=float, help="commands per second, open loop (default 55, quick 20)"
    )
    parser.add_argument(
        "--latency", type=float, help="seconds the fake provider takes (L; default 10, quick 1)"
    )
    parser.add_argument(
        "--refs-fraction",
        type=float,
        default=0.1,
        help="share of commands with a reference image attached (default 0.1)",
    )
    parser.add_argument(
        "--lag-tick",
        type=float,
        default=0.01,
        help="period of the bot's event-loop lag probe in seconds (default 0.01)",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="the bot's LOG_LEVEL (default INFO, as deployed)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for who sends what (default 1)")
    parser.add_argument(
        "--connection-limit",
        type=int,
        metavar="N",
        help="what-if, not the bot as shipped: give the bot's own HTTP session a connector with "
        "this connection limit (0 = none) instead of aiohttp's default 100",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="let the fake Discord check every request and reply against Discord's OpenAPI "
        "schema (as in the tests); costs the driver ~5 ms of CPU per request",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the bot's log, database and probe files (path printed)",
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run (about 15 s)")
    args = parser.parse_args(argv)
    sizes = sized(args, _SIZES)
    if sizes["members"] < 1 or sizes["jobs"] < 1:
        parser.error("--members and --jobs must be at least 1")
    if sizes["rate"] <= 0 or sizes["latency"] < 0 or args.lag_tick <= 0:
        parser.error("--rate and --lag-tick must be > 0, --latency >= 0")
    if not 0 <= args.refs_fraction <= 1:
        parser.error("--refs-fraction must be within [0, 1]")
    if args.connection_limit is not None and args.connection_limit < 0:
        parser.error("--connection-limit must be >= 0")
    return Params(
        refs_fraction=args.refs_fraction,
        lag_tick=args.lag_tick,
        log_level=args.log_level.upper(),
        seed=args.seed,
        connection_limit=args.connection_limit,
        validate=args.validate,
        keep=args.keep,
        quick=args.quick,
        **sizes,
    )


# -- what is sent ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One command of the schedule: when (seconds after the start), who, and with what."""

    index: int
    at: float
    member: str
    prompt: str
    reference: bool


def schedule(params: Params) -> list[Planned]:
    """The same open-loop schedule for both arms: evenly spaced, members and references drawn
    from a seeded generator (so a run can be repeated exactly)."""
    rng = random.Random(params.seed)
    return [
        Planned(
            index=i,
            at=i / params.rate,
            member=member_name(rng.randrange(params.members)),
            prompt=f"a lighthouse on a cliff at dusk, oil painting, study {i}",
            reference=rng.random() < params.refs_fraction,
        )
        for i in range(params.jobs)
    ]


def member_name(number: int) -> str:
    return f"member{number:04d}"


class SmallImages(ImageFactory):
    """The fake provider's results: a smooth gradient (~30 KB at 1024x1024) instead of a noisy
    photo-like JPEG (~700 KB), so that Pillow and byte copying do not dominate the figures."""

    async def make(self, width: int, height: int, fmt: str = "JPEG", variant: int = 0) -> bytes:
        key = (width, height, fmt, 0)
        if key not in self._cache:
            ramp = Image.linear_gradient("L").resize((width, height))
            out = io.BytesIO()
            Image.merge("RGB", (ramp, ramp, ramp)).save(out, fmt, quality=85)
            self._cache[key] = out.getvalue()
        return self._cache[key]


async def drive(
    plan: list[Planned], send: Callable[[Planned], Coroutine[Any, Any, None]], started: float
) -> list[float]:
    """Start every send at its planned moment (each in its own task); returns how late each
    started, which says whether the driver kept to the schedule."""
    loop = asyncio.get_running_loop()
    late: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    for job in plan:
        delay = started + job.at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late.append(max(0.0, loop.time() - started - job.at))
        task = asyncio.create_task(send(job))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return late


# -- /proc -------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (the bot, its forkserver and Pillow workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as kids:
                    todo.extend(int(kid) for kid in kids.read().split())
        except OSError:
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process plus what its reaped children used."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14-17
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes; zeros once the process is gone."""
    values = {"VmRSS:": 0, "VmHWM:": 0}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                words = line.split()
                if words and words[0] in values:
                    values[words[0]] = int(words[1]) * 1024
    except OSError:
        pass
    return values["VmRSS:"], values["VmHWM:"]


def tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def tree_rss(pid: int) -> int:
    return sum(memory(p)[0] for p in process_tree(pid))


@dataclass(frozen=True)
class MachineCpu:
    """CPU seconds the whole machine spent busy (all processes) and stolen by the hypervisor,
    from ``/proc/stat``: with this process's and the bot's own CPU, says how busy the machine
    was with other work during an arm."""

    busy: float
    steal: float

    @classmethod
    def read(cls) -> MachineCpu:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (ticks + [0] * 8)[:8]
        return cls((user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS)

    def __sub__(self, other: MachineCpu) -> MachineCpu:
        return MachineCpu(self.busy - other.busy, self.steal - other.steal)


# -- the fake Discord's call log, read as it happens -------------------------------------------


@dataclass
class CallLog:
    """What the bot did, keyed for joining with what the driver sent.

    Filled by a hook on the fake's ``Recorder.add_call`` (in this process, as each request is
    answered), instead of one waiter per interaction: 500 waiters that each rescan the whole
    call log on every change would cost the driver more than the bot it measures. ``Call.at`` is
    ``time.monotonic()`` when the request's body had been read, i.e. when it arrived.
    """

    acks: dict[str, float] = field(default_factory=dict)  # interaction id -> callback arrived
    ack_types: dict[str, int] = field(default_factory=dict)
    results: dict[str, float] = field(default_factory=dict)  # token -> result edit arrived
    failures: dict[str, float] = field(default_factory=dict)  # token -> error follow-up arrived
    done: int = 0
    api_calls: int = 0
    errors: dict[int, int] = field(default_factory=dict)  # HTTP status >= 400 -> count

    def reset(self) -> None:
        self.acks.clear()
        self.ack_types.clear()
        self.results.clear()
        self.failures.clear()
        self.done = self.api_calls = 0
        self.errors.clear()

    def see(self, call: Call) -> None:
        self.api_calls += 1
        if call.status >= 400:
            self.errors[call.status] = self.errors.get(call.status, 0) + 1
        parts = call.path.split("/")
        if len(parts) == 5 and parts[1] == "interactions" and parts[4] == "callback":
            self.acks.setdefault(parts[2], call.at)
            if isinstance(call.json, dict):
                self.ack_types.setdefault(parts[2], int(call.json.get("type", 0)))
        elif len(parts) >= 4 and parts[1] == "webhooks" and call.status < 400:
            token = parts[3]
            if call.files and token not in self.results:
                self.results[token] = call.at
                self.done += token not in self.failures
            elif call.method == "POST" and len(parts) == 4 and token not in self.failures:
                self.failures[token] = call.at  # an ephemeral follow-up: the job's error
                self.done += token not in self.results


def hook(fake: FakeDiscord, calls: CallLog) -> None:
    """Feed every answered call to ``calls`` and drop uploaded bytes from the call log (the
    fake's CDN keeps the posted files; the log would hold a second copy of every result)."""
    add_call = fake.recorder.add_call

    def add(call: Call) -> None:
        calls.see(call)
        if call.files:
            call.files = [File(f.field, f.filename, f.content_type, b"") for f in call.files]
        add_call(call)

    fake.recorder.add_call = add  # type: ignore[method-assign]


def hook_provider(provider: FakeMyRouter) -> dict[str, float]:
    """Prompt -> when the provider fake received the POST carrying it (``time.monotonic()``,
    after the body was read). Prompts are unique per job, so this splits a job's time into
    before the provider call and after the provider's answer."""
    arrivals: dict[str, float] = {}
    record = provider.record

    async def timed(request: web.Request) -> Recorded:
        call = await record(request)
        if isinstance(call.json, dict) and isinstance(call.json.get("prompt"), str):
            arrivals.setdefault(call.json["prompt"], time.monotonic())
        return call

    provider.record = timed  # type: ignore[method-assign]
    return arrivals


def fake_discord(validate: bool) -> FakeDiscord:
    """The fake Discord; without ``validate``, it skips its OpenAPI schema checks.

    Those checks (jsonschema over Discord's OpenAPI document, on every request and every reply)
    cost this process ~5 ms of CPU per request: at 55 jobs/s, most of a CPU that the bot on a
    2-CPU machine needs, and bursts of them stall this loop, which then answers the bot late
    and inflates the very latencies measured. They test conformance, which the test suite does;
    the figures still count every HTTP error the fake answers and every problem it records.
    """
    fake = FakeDiscord()
    if not validate:
        fake.api.check_responses = False
        wire.validate_request = lambda method, path, body: []  # type: ignore[attr-defined]
    return fake


# -- the bot process ---------------------------------------------------------------------------


class BotProcess:
    """``python -m bench._bot_with_probe run`` against the fakes, as deployed but with limits
    lifted: the CLI and its settings, a fresh SQLite file, logs to a file."""

    def __init__(
        self, fake: FakeDiscord, provider: FakeMyRouter, tmp: Path, params: Params
    ) -> None:
        self.fake = fake
        self.tmp = tmp
        self.log = tmp / "bot.log"
        unlimited = str(max(100_000, params.jobs * 10))
        self.env = {
            "DISCORD_TOKEN": fake.token,
            **fake.env,
            "MYROUTER_API_KEY": provider.api_key,
            "MYROUTER_BASE_URL": provider.base_url,
            "SEEDREAM_PROVIDERS": "myrouter",
            "DATABASE_URL": f"sqlite:///{tmp / 'bot.db'}",
            "SEEDREAM_DEFAULT_MODEL": MODEL,
            "SEEDREAM_DEFAULT_QUOTA": "-1",
            "SEEDREAM_GLOBAL_CAP": "0",
            # SEEDREAM_MAX_CONCURRENT is also the router's per-provider semaphore (build_router).
            "SEEDREAM_MAX_CONCURRENT": unlimited,
            "SEEDREAM_MAX_PER_SERVER": unlimited,
            "SEEDREAM_MAX_PER_USER": unlimited,
            "LOG_LEVEL": params.log_level,
            "BENCH_PROBE_DIR": str(tmp),
            "BENCH_LAG_TICK": str(params.lag_tick),
        }
        if params.connection_limit is not None:
            self.env["BENCH_CONNECTION_LIMIT"] = str(params.connection_limit)
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench._bot_with_probe",
                "run",
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=cli_env(self.env),
                cwd=self.tmp,
            )
        try:
            await self.fake.wait_until_connected(timeout=START_TIMEOUT)
            await self.fake.wait_for_commands("imagine", timeout=START_TIMEOUT)
        except AssertionError:
            raise RuntimeError(f"the bot did not connect; its log:\n{self.tail()}") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self) -> int | None:
        """SIGTERM (a clean stop, which also flushes the lag probe); SIGKILL if it hangs."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.text().splitlines()[-lines:]) or "(no log)"

    def probe(self, name: str, width: int) -> list[tuple[float, ...]]:
        """Records of ``width`` doubles the probe wrote (see :mod:`bench._bot_with_probe`)."""
        try:
            data = (self.tmp / name).read_bytes()
        except OSError:
            return []
        size = 8 * width
        usable = len(data) - len(data) % size
        return list(struct.iter_unpack("<" + "d" * width, data[:usable]))


_FIELD = re.compile(r'\b(msg|error|kind)=("(?:[^"\\]|\\.)*"|\S+)')


def log_summary(text: str) -> tuple[int, int, list[tuple[int, str]]]:
    """(lines, tracebacks, [(count, what)] of WARNING-or-worse lines, most frequent first);
    ``what`` is the level, logger, ``msg``, ``kind`` and ``error`` fields, job ids left out."""
    lines = text.splitlines()
    counts: dict[str, int] = {}
    for line in lines:
        words = line.split(" ", 3)
        if len(words) < 4 or words[1] not in ("WARNING", "ERROR", "CRITICAL"):
            continue
        fields = " ".join(f"{k}={v}" for k, v in _FIELD.findall(words[3]))
        what = f"{words[1]} {words[2]} {fields}"[:160]
        counts[what] = counts.get(what, 0) + 1
    ranked = sorted(((n, what) for what, n in counts.items()), reverse=True)
    return len(lines), text.count("Traceback"), ranked


# -- figures -----------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    in_flight: int
    rss_main: int
    rss_tree: int


@dataclass
class Sent:
    job: Planned
    at: float
    interaction_id: str = ""
    token: str = ""
    error: str = ""


@dataclass
class Health:
    """Is the driver keeping up, and how busy is the machine with other work?"""

    wall: float
    driver_cpu: float
    bot_cpu: float
    machine: MachineCpu
    driver_lag: list[float]
    late: list[float]

    @property
    def others(self) -> float:
        """CPU seconds used by processes other than the driver and the bot (and its workers)."""
        return max(0.0, self.machine.busy - self.driver_cpu - self.bot_cpu)

    def line(self) -> str:
        cpus = len(os.sched_getaffinity(0))
        wall = max(self.wall, 1e-9)
        return (
            f"   driver CPU {self.driver_cpu / wall * 100:.0f}% of one CPU, loop lag "
            f"p99 {percentile(self.driver_lag, 99) * MS if self.driver_lag else 0:.1f} ms max "
            f"{max(self.driver_lag, default=0) * MS:.0f} ms, sends late by max "
            f"{max(self.late, default=0) * MS:.0f} ms; other processes used "
            f"{self.others / wall * 100:.0f}% of one CPU (of {cpus}), steal "
            f"{self.machine.steal / wall * 100:.0f}%"
        )


@dataclass
class BotFigures:
    sent: list[Sent]
    calls: CallLog
    started: float
    finished: float
    samples: list[Sample]
    lag: list[float]
    db_lock: list[tuple[float, float]]
    pool: list[float]
    cpu_tree: float
    cpu_main: float
    rss_idle_main: int
    rss_idle_tree: int
    hwm_main: int
    health: Health
    provider_max_in_flight: int
    provider_calls: int
    log_text: str
    problems: list[str]
    arrivals: dict[str, float]
    exit_status: int | None = None

    def acks(self) -> list[float]:
        return [
            self.calls.acks[s.interaction_id] - s.at
            for s in self.sent
            if s.interaction_id in self.calls.acks
        ]

    def e2e(self) -> list[float]:
        return [
            self.calls.results[s.token] - s.at for s in self.sent if s.token in self.calls.results
        ]

    def split(self, latency: float) -> tuple[list[float], list[float]]:
        """Per finished job: (sent -> the provider receives the POST) and (the provider's answer,
        its arrival + L -> the result edit arrives)."""
        before, after = [], []
        for s in self.sent:
            arrived = self.arrivals.get(s.job.prompt)
            if arrived is None or s.token not in self.calls.results:
                continue
            before.append(arrived - s.at)
            after.append(self.calls.results[s.token] - arrived - latency)
        return before, after

    def ends(self) -> dict[str, float]:
        return {**self.calls.failures, **self.calls.results}

    def done_at(self) -> list[float]:
        ends = self.ends()
        return sorted(ends[s.token] for s in self.sent if s.token in ends)

    def peak_in_flight(self) -> tuple[int, float]:
        """Most commands sent and not yet answered with a result or an error, and when."""
        ends = self.ends()
        events = [(s.at, 1) for s in self.sent] + [
            (ends[s.token], -1) for s in self.sent if s.token in ends
        ]
        events.sort()
        level = peak = 0
        when = self.started
        for at, step in events:
            level += step
            if level > peak:
                peak, when = level, at
        return peak, when


@dataclass
class BaselineFigures:
    e2e: list[float]
    failures: list[str]
    provider_max_in_flight: int
    health: Health


class LoopLag:
    """The driver's own event-loop lag (is the driver keeping up?), same method as the probe."""

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(self.tick)
            self.samples.append(max(0.0, time.monotonic() - start - self.tick))

    async def stop(self) -> list[float]:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return self.samples


class Window:
    """CPU of this process, of the bot's tree and of the machine, and the driver's loop lag,
    between ``start()`` and ``stop()``."""

    def __init__(self, tick: float, bot_pid: int | None = None) -> None:
        self.bot_pid = bot_pid
        self.lag = LoopLag(tick)

    def start(self) -> None:
        self.lag.start()
        self.wall = time.monotonic()
        self.cpu = time.process_time()
        self.bot = tree_cpu(self.bot_pid) if self.bot_pid else 0.0
        self.machine = MachineCpu.read()

    async def stop(self, late: list[float]) -> Health:
        wall = time.monotonic() - self.wall
        cpu = time.process_time() - self.cpu
        bot = tree_cpu(self.bot_pid) - self.bot if self.bot_pid else 0.0
        machine = MachineCpu.read() - self.machine
        return Health(wall, cpu, bot, machine, await self.lag.stop(), late)


# -- baseline arm ------------------------------------------------------------------------------


def reference_png() -> bytes:
    return png_bytes(REFERENCE_SIDE, REFERENCE_SIDE, (40, 90, 160))


async def baseline_arm(
    provider: FakeMyRouter, plan: list[Planned], params: Params
) -> BaselineFigures:
    """The provider calls alone: the adapter's own JSON body, POST, then GET of the result."""
    reference = Reference(
        filename="ref.png",
        data=reference_png(),
        mime="image/png",
        width=REFERENCE_SIDE,
        height=REFERENCE_SIDE,
    )
    e2e: list[float] = []
    failures: list[str] = []
    provider.max_in_flight = 0
    # No connection limit: the floor, not a second copy of whatever the bot's session does.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        adapter = MyRouter(session, provider.api_key, provider.base_url)
        headers = {
            "Authorization": f"Bearer {provider.api_key}",
            "Content-Type": "application/json",
        }
        url = provider.base_url + "/v3/" + MODEL

        def body(job: Planned) -> str:
            request = GenerationRequest(
                prompt=job.prompt,
                model=MODEL,
                resolution=RESOLUTION,
                references=(reference,) if job.reference else (),
            )
            return json.dumps(adapter.build_payload(request, adapter.check(request)))

        async def send(job: Planned) -> None:
            started = time.monotonic()
            try:
                async with session.post(url, data=body(job), headers=headers) as response:
                    answer = await response.json()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}: {answer}")
                item = answer["images"][0]
                async with session.get(item if isinstance(item, str) else item["url"]) as file:
                    if file.status != 200 or not await file.read():
                        raise RuntimeError(f"result download: HTTP {file.status}")
            except Exception as exc:
                failures.append(repr(exc))
                return
            e2e.append(time.monotonic() - started)

        window = Window(params.lag_tick)
        window.start()
        late = await drive(plan, send, asyncio.get_running_loop().time())
        health = await window.stop(late)
    return BaselineFigures(e2e, failures, provider.max_in_flight, health)


# -- bot arm -----------------------------------------------------------------------------------


async def warm_up(fake: FakeDiscord, provider: FakeMyRouter, calls: CallLog, members: int) -> None:
    """A few jobs (some with a reference) at zero latency: the bot's Pillow workers start,
    connections open, lazy imports and caches fill. Not measured."""
    latency, provider.latency = provider.latency, 0.0
    try:
        for n in range(WARMUP_JOBS):
            options: dict[str, Any] = {"prompt": f"warm-up {n}", "resolution": RESOLUTION}
            if n % 2:
                options["image1"] = fake.add_cdn_file("ref.png", reference_png(), "image/png")
            await fake.slash("imagine", options, user=member_name(n % members))
        await fake.wait_until(
            lambda: calls.done >= WARMUP_JOBS, timeout=60, what="the warm-up results"
        )
        if len(calls.results) < WARMUP_JOBS:
            raise RuntimeError(f"warm-up jobs failed: {len(calls.failures)} of {WARMUP_JOBS}")
    finally:
        provider.latency = latency


async def bot_arm(
    fake: FakeDiscord,
    provider: FakeMyRouter,
    bot: BotProcess,
    calls: CallLog,
    arrivals: dict[str, float],
    plan: list[Planned],
    params: Params,
) -> BotFigures:
    await warm_up(fake, provider, calls, params.members)
    await asyncio.sleep(1.0)  # let the warm-up's last edits and DB writes settle
    calls.reset()
    provider.max_in_flight = 0
    provider_calls = len(provider.calls)
    problems_before = len(fake.recorder.unexpected_problems())
    sent: list[Sent] = []
    samples: list[Sample] = []

    async def send(job: Planned) -> None:
        options: dict[str, Any] = {"prompt": job.prompt, "resolution": RESOLUTION}
        if job.reference:
            options["image1"] = fake.add_cdn_file("ref.png", reference_png(), "image/png")
        record = Sent(job, time.monotonic())
        sent.append(record)
        try:
            inter = await fake.slash("imagine", options, user=job.member)
        except Exception as exc:  # the fake refused to send it: say so in the figures
            record.error = repr(exc)
            return
        record.interaction_id, record.token = inter.id, inter.token

    async def sample() -> None:
        while True:
            main_rss, _ = memory(bot.pid)
            samples.append(
                Sample(time.monotonic(), len(sent) - calls.done, main_rss, tree_rss(bot.pid))
            )
            await asyncio.sleep(SAMPLE_EVERY)

    idle_main, _ = memory(bot.pid)
    idle_tree = tree_rss(bot.pid)
    cpu_main = cpu_seconds(bot.pid)
    window = Window(params.lag_tick, bot.pid)
    window.start()
    sampler = asyncio.create_task(sample())
    loop = asyncio.get_running_loop()
    started = loop.time()
    late: list[float] = []
    try:
        late = await drive(plan, send, started)
        with contextlib.suppress(AssertionError):  # a timeout: reported as unfinished jobs
            await fake.wait_until(
                lambda: calls.done >= len(sent) or not bot.alive(),
                timeout=params.drain_timeout,
                what="every result",
            )
        finished = loop.time()
        cpu_main = cpu_seconds(bot.pid) - cpu_main
        _, hwm_main = memory(bot.pid)
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        health = await window.stop(late)
    exit_status = await bot.stop()
    lag = [value for at, value in bot.probe("lag.bin", 2) if started <= at <= finished]
    db_lock = [
        (wait, hold) for at, wait, hold in bot.probe("db_lock.bin", 3) if started <= at <= finished
    ]
    pool = [seconds for at, seconds in bot.probe("pool.bin", 2) if started <= at <= finished]
    problems = [str(p) for p in fake.recorder.unexpected_problems()[problems_before:]]
    return BotFigures(
        sent=sent,
        calls=calls,
        started=started,
        finished=finished,
        samples=samples,
        lag=lag,
        db_lock=db_lock,
        pool=pool,
        cpu_tree=health.bot_cpu,
        cpu_main=cpu_main,
        rss_idle_main=idle_main,
        rss_idle_tree=idle_tree,
        hwm_main=hwm_main,
        health=health,
        provider_max_in_flight=provider.max_in_flight,
        provider_calls=len(provider.calls) - provider_calls,
        log_text=bot.text(),
        problems=problems,
        arrivals=arrivals,
        exit_status=exit_status,
    )


# -- printing ----------------------------------------------------------------------------------


def spread(values: list[float], scale: float = MS, unit: str = "ms", digits: int = 1) -> str:
    if not values:
        return "no samples"
    return "   ".join(
        f"{name} {value * scale:8.{digits}f} {unit}"
        for name, value in (
            ("p50", percentile(values, 50)),
            ("p99", percentile(values, 99)),
            ("max", max(values)),
        )
    )


def ratios(values: list[float], latency: float) -> str:
    if not values or latency <= 0:
        return "n/a"
    return (
        f"p50 {percentile(values, 50) / latency:.4f}   p99 {percentile(values, 99) / latency:.4f}"
        f"   max {max(values) / latency:.4f}"
    )


def describe(params: Params) -> Iterator[str]:
    yield "Load benchmark (bench/load.py)" + ("  [--quick]" if params.quick else "")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    yield "machine: " + machine(
        f"discord.py {version('discord.py')}",
        f"aiohttp {version('aiohttp')}",
        f"load average {load} at start",
    )
    yield (
        f"params: members={params.members} jobs={params.jobs} rate={params.rate:g}/s "
        f"latency L={params.latency:g}s refs_fraction={params.refs_fraction:g} "
        f"lag_tick={params.lag_tick:g}s log_level={params.log_level} seed={params.seed}"
        + (
            f" connection_limit={params.connection_limit}"
            if params.connection_limit is not None
            else ""
        )
    )
    yield (
        f"   /imagine {MODEL} {RESOLUTION} 1:1, one image; references: a {REFERENCE_SIDE}x"
        f"{REFERENCE_SIDE} PNG; provider: fake MyRouter (synchronous), result a ~30 KB JPEG;\n"
        f"   sending takes {params.send_seconds:.1f} s; expected in flight ~ rate x L = "
        f"{params.rate * params.latency:.0f}; fake Discord's OpenAPI schema checks "
        + ("on" if params.validate else "off (--validate turns them on)")
    )
    if params.connection_limit is not None:
        yield (
            f"   WHAT-IF: the bot's own HTTP session gets a connector with limit="
            f"{params.connection_limit} (aiohttp's default, as shipped, is 100); not the bot as "
            "shipped"
        )


def print_baseline(fig: BaselineFigures, params: Params) -> None:
    print(
        f"\n== Baseline: the same {params.jobs} provider calls, no bot (aiohttp, no connection "
        f"limit; POST + result GET)\n"
        f"   arm took {fig.health.wall:.1f} s; fake provider's most requests at once: "
        f"{fig.provider_max_in_flight}\n{fig.health.line()}"
    )
    print(f"   end-to-end          {spread(fig.e2e, 1, 's', 3)}")
    print(f"   end-to-end - L      {spread([v - params.latency for v in fig.e2e])}")
    print(f"   end-to-end / L      {ratios(fig.e2e, params.latency)}")
    if fig.failures:
        print(f"   FAILED calls: {len(fig.failures)}, first: {fig.failures[0]}")


def print_bot(fig: BotFigures, base: BaselineFigures, params: Params) -> dict[str, bool]:
    """The bot arm's figures; returns the verdict of each target."""
    jobs = len(fig.sent)
    acks, e2e = fig.acks(), fig.e2e()
    deferred = sum(1 for t in fig.calls.ack_types.values() if t == 5)
    results, failures = len(fig.calls.results), len(fig.calls.failures)
    unfinished = jobs - results - failures
    send_errors = [s.error for s in fig.sent if s.error]
    peak, peak_at = fig.peak_in_flight()
    done = fig.done_at()
    posted = sorted(fig.calls.results.values())
    wall = fig.finished - fig.started
    result_rate = (len(posted) - 1) / (posted[-1] - posted[0]) if len(posted) > 1 else 0.0
    late_acks = sum(1 for a in acks if a > ACK_LIMIT)
    lines, tracebacks, warnings = log_summary(fig.log_text)

    what = "the bot as shipped" if params.connection_limit is None else "WHAT-IF (see above)"
    print(
        f"\n== Bot ({what}): python -m bot run + probes in its own process; the fakes in the "
        f"driver\n"
        f"   arm took {wall:.1f} s after a {WARMUP_JOBS}-job warm-up; {jobs} /imagine sent "
        f"({sum(s.job.reference for s in fig.sent)} with a reference)\n{fig.health.line()}"
    )
    print(
        f"   outcome: {results} results posted, {failures} failed, {unfinished} unfinished after "
        f"{params.drain_timeout:.0f} s, {len(send_errors)} not sent; callbacks: {len(acks)} "
        f"({deferred} deferred), {late_acks} after Discord's {ACK_LIMIT:.0f} s"
    )
    print(
        f"   in flight (sent, no result yet): peak {peak} at +{peak_at - fig.started:.1f} s; "
        f"fake provider's most requests at once: {fig.provider_max_in_flight} "
        f"(baseline {base.provider_max_in_flight}); provider calls {fig.provider_calls}"
    )
    print(f"   acknowledgement     {spread(acks)}")
    print(f"   end-to-end          {spread(e2e, 1, 's', 3)}")
    print(f"   bot-added (e2e - L) {spread([v - params.latency for v in e2e])}")
    print(f"   end-to-end / L      {ratios(e2e, params.latency)}")
    if e2e and base.e2e:
        print(
            f"   bot / baseline      p50 {percentile(e2e, 50) / percentile(base.e2e, 50):.4f}"
            f"   p99 {percentile(e2e, 99) / percentile(base.e2e, 99):.4f}  (end-to-end)"
        )
    before, after = fig.split(params.latency)
    print(f"     before provider   {spread(before)}  (sent -> provider has the POST)")
    print(f"     after provider    {spread(after)}  (provider answered -> result edit arrives)")
    print(
        f"   jobs per second     {result_rate:.1f} results/s from first to last result "
        f"(offered {params.rate:g}/s); {len(posted) / wall:.1f}/s over the whole arm"
    )
    cpu_per_job = fig.cpu_tree / max(1, len(done))
    print(
        f"   CPU per job         {cpu_per_job * MS:.1f} ms (bot with its Pillow workers "
        f"{fig.cpu_tree:.1f} s, the bot's process alone {fig.cpu_main:.1f} s; "
        f"{fig.cpu_tree / wall * 100:.0f}% of one CPU over the arm)"
    )
    top = max(fig.samples, key=lambda s: s.rss_tree, default=None)
    highest = top.rss_tree if top else 0
    growth = highest - fig.rss_idle_tree
    per_job = growth / max(1, peak) / MIB
    print(
        f"   RSS                 bot process: idle {fig.rss_idle_main / MIB:.1f} MiB, peak "
        f"(VmHWM) {fig.hwm_main / MIB:.1f} MiB; with its Pillow workers: idle "
        f"{fig.rss_idle_tree / MIB:.1f} MiB, highest sample {highest / MIB:.1f} MiB"
    )
    print(
        f"   RSS per in-flight   {per_job:.3f} MiB = (highest sample - idle) / peak in flight "
        f"= {growth / MIB:.1f} MiB / {peak}; bot process alone "
        f"{(fig.hwm_main - fig.rss_idle_main) / max(1, peak) / MIB:.3f} MiB (VmHWM - idle)"
    )
    print(
        f"   event-loop lag      {spread(fig.lag)}  (bot's loop, {len(fig.lag)} ticks of "
        f"{params.lag_tick:g} s)"
    )
    waits = [wait for wait, _ in fig.db_lock]
    holds = [hold for _, hold in fig.db_lock]
    print(
        f"   database lock       wait {spread(waits)}\n"
        f"                       held {spread(holds)}\n"
        f"                       {len(fig.db_lock)} uses ({len(fig.db_lock) / max(1, jobs):.1f} "
        f"per job), held {sum(holds) / wall * 100:.0f}% of the arm"
    )
    print(f"   Pillow worker calls {spread(fig.pool)}  ({len(fig.pool)} calls, queueing included)")
    errors = dict(sorted(fig.calls.errors.items())) or "none"
    api = fig.calls.api_calls
    print(
        f"   fake Discord: {api} API calls ({api / max(1, jobs):.1f} per job), HTTP errors "
        f"{errors}, {len(fig.problems)} problems recorded"
    )
    for problem in fig.problems[:3]:
        print(f"      {problem[:200]}")
    print(
        f"   bot log: {lines} lines, {sum(n for n, _ in warnings)} warnings or errors, "
        f"{tracebacks} tracebacks; exit status {fig.exit_status}"
    )
    for count, line in warnings[:4]:
        print(f"      {count:5d} x {line}")
    ack_p99 = percentile(acks, 99) if acks else float("inf")
    ratio_p99 = percentile(e2e, 99) / params.latency if e2e and params.latency else float("inf")
    complete = unfinished == 0 and not send_errors and len(acks) == jobs
    return {
        "in_flight_ack": complete and peak >= IN_FLIGHT_TARGET and ack_p99 <= ACK_P99_TARGET,
        "ratio": complete and failures == 0 and ratio_p99 <= RATIO_TARGET,
        "memory": per_job < MIB_PER_JOB_TARGET,
    }


# -- main --------------------------------------------------------------------------------------


async def run(params: Params) -> None:
    begun = time.perf_counter()
    for line in describe(params):
        print(line, flush=True)
    plan = schedule(params)
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    fake = fake_discord(params.validate)
    provider = FakeMyRouter()
    provider.images = SmallImages()
    provider.latency = params.latency
    await fake.start()
    await provider.start()
    bot: BotProcess | None = None
    try:
        for number in range(params.members):
            fake.add_member(member_name(number))
        base = await baseline_arm(provider, plan, params)
        print_baseline(base, params)
        if provider.rejections:
            raise RuntimeError(f"the fake provider rejected: {provider.rejections[:3]}")
        calls = CallLog()
        hook(fake, calls)
        arrivals = hook_provider(provider)  # after the baseline, which sends the same prompts
        bot = BotProcess(fake, provider, tmp, params)
        await bot.start()
        figures = await bot_arm(fake, provider, bot, calls, arrivals, plan, params)
        if provider.rejections:
            raise RuntimeError(f"the fake provider rejected: {provider.rejections[:3]}")
        ok = print_bot(figures, base, params)
    finally:
        if bot is not None:
            await bot.stop()
        await provider.stop()
        await fake.stop()
        if params.keep:
            print(f"\n(kept the bot's log, database and probe files in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\n== Targets (informational, for L = 10 s on 2 CPUs): {IN_FLIGHT_TARGET} in flight with"
        f" ack p99 <= {ACK_P99_TARGET * MS:.0f} ms {verdict(ok['in_flight_ack'])}, end-to-end / L"
        f" <= {RATIO_TARGET} at p99 {verdict(ok['ratio'])}, < {MIB_PER_JOB_TARGET} MiB RSS per "
        f"in-flight job {verdict(ok['memory'])}\n   run took {time.perf_counter() - begun:.1f} s;"
        f" load average {load} at the end"
    )


def main(argv: list[str] | None = None) -> int:
    params = parse_args(argv)
    return run_benchmark(run(params))


if __name__ == "__main__":
    sys.exit(main())
