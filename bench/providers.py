"""Provider-layer benchmark: per-request overhead and memory per in-flight asynchronous task.

Run it with ``cd /work/main && .venv/bin/python -m bench.providers`` (``--quick`` for a smaller
run, ``--help`` for the knobs). Like every script in ``bench/`` it prints figures and compares
them with a baseline measured in the same run; the issue's targets are reported as PASS/MISS for
information only, and the exit status is 0 unless the run itself failed.

1. Overhead. ``Router([MyRouter]).generate`` against a bare aiohttp POST of the same JSON body to
   the same loopback fake over the same session. The fake answers after a fixed latency, so the
   ratio reads as what a member would notice. A zero-latency run then shows the CPU the layer
   adds per request, and a run against a canned in-memory session shows the layer's own Python
   work without any socket noise. Rounds alternate A-B, B-A so slow drift (CPU frequency,
   neighbours on a shared host) falls on both arms alike.
2. Memory. Hundreds of EvoLink tasks that never finish are polled through the real router, and
   the growth of RSS and of the traced Python heap is divided by the number of tasks. The fake
   runs in a child process (see :class:`FakeProcess`), so the figures are the bot's alone; the
   fake's own growth is read from its ``/proc`` entry and shown for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, cast

import aiohttp

from bench.common import machine, percentile, run_benchmark, sized, verdict
from bot.providers.base import PollPolicy, ProgressCallback
from bot.providers.evolink import EvoLink
from bot.providers.models import GenerationRequest
from bot.providers.myrouter import MyRouter
from bot.providers.router import RoutedTaskCallback, Router
from tests.fakes.providers.evolink import FakeEvoLink
from tests.fakes.providers.myrouter import FakeMyRouter

#: the issue's targets (informational: a benchmark never fails a build on them)
RATIO_TARGET = 1.05
KIB_PER_TASK_TARGET = 50.0

#: what a member typically asks for: one 2K square image from a short prompt
PROMPT = "a lighthouse on a cliff at dusk, oil painting, warm light"

#: where ``bot`` and ``tests`` import from (the fake's child process runs there too)
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: internal: run as the fake EvoLink child process of the memory phase
SERVE_FLAG = "--serve-fake-evolink"

#: the zero-latency run is short per round, so it uses more rounds to get a median of pairs
ZERO_ROUNDS = 10
#: calls per repeat in the canned-session run, and repeats per arm (the fastest one counts)
CANNED_CALLS = (20_000, 5_000)
CANNED_REPEATS = 3

#: no phase may hang the run
PHASE_TIMEOUT = 180.0

Call = Callable[[], Awaitable[None]]


# -- parameters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """Everything the run depends on, printed with the figures so a reader can reproduce them."""

    latency: float
    requests: int
    concurrency: int
    rounds: int
    zero_requests: int
    tasks: int
    poll_interval: float
    poll_rounds: int
    quick: bool = False
    serve_fake: bool = False


#: size knobs: (default, --quick)
_SIZES = {
    "requests": (200, 60),
    "concurrency": (20, 10),
    "rounds": (4, 2),
    "zero_requests": (1000, 300),
    "tasks": (500, 200),
    "poll_rounds": (3, 2),
}


def parse_args(argv: list[str] | None = None) -> Params:
    """Command-line knobs; ``--quick`` only changes the sizes that were not given explicitly."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.providers",
        description="Provider-layer overhead and memory per in-flight task (figures, not tests).",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.2,
        help="seconds the fake waits before answering in the overhead run (default 0.2)",
    )
    parser.add_argument("--requests", type=int, help="requests per arm (default 200, quick 60)")
    parser.add_argument("--concurrency", type=int, help="requests in flight (default 20, quick 10)")
    parser.add_argument(
        "--rounds", type=int, help="interleaved rounds per arm (default 4, quick 2)"
    )
    parser.add_argument(
        "--zero-requests",
        type=int,
        help="requests per arm at zero latency (default 1000, quick 300)",
    )
    parser.add_argument(
        "--tasks", type=int, help="asynchronous tasks in flight (default 500, quick 200)"
    )
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="seconds between polls (default 0.5)"
    )
    parser.add_argument(
        "--poll-rounds",
        type=int,
        help="polls every task must have had before measuring (default 3, quick 2)",
    )
    parser.add_argument("--quick", action="store_true", help="a smaller run (about 10 s)")
    parser.add_argument(SERVE_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = sized(args, _SIZES)
    for name, value in sizes.items():
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.latency < 0 or args.poll_interval <= 0:
        parser.error("--latency must be >= 0 and --poll-interval > 0")
    return Params(
        latency=args.latency,
        poll_interval=args.poll_interval,
        quick=args.quick,
        serve_fake=args.serve_fake_evolink,
        **sizes,
    )


# -- small helpers -----------------------------------------------------------------------------


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size (VmRSS) of a process, this one by default: what the host pays for."""
    path = f"/proc/{pid if pid is not None else 'self'}/status"
    with open(path, encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"VmRSS not found in {path}")


def request_for_bench() -> GenerationRequest:
    return GenerationRequest(prompt=PROMPT, model="seedream-4.0")


def short_name(filename: str) -> str:
    """A file name a reader recognises: package-relative, project-relative or ``stdlib x.py``."""
    site = "site-packages" + os.sep
    if site in filename:
        return filename.split(site, 1)[1]
    if filename.startswith(PROJECT_ROOT + os.sep):
        return filename.removeprefix(PROJECT_ROOT + os.sep)
    return "stdlib " + os.path.basename(filename)


# -- 1. overhead -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundCost:
    """One round of one arm: how many calls, and the wall-clock and process CPU they took."""

    count: int
    wall: float
    cpu: float


@dataclass
class Arm:
    """One side of the comparison and everything measured on it."""

    name: str
    call: Call
    latencies: list[float] = field(default_factory=list)
    rounds: list[RoundCost] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def mean(self) -> float:
        return sum(self.latencies) / len(self.latencies)

    @property
    def cpu_per_call(self) -> float:
        return sum(r.cpu for r in self.rounds) / sum(r.count for r in self.rounds)

    @property
    def wall_per_call(self) -> float:
        return sum(r.wall for r in self.rounds) / sum(r.count for r in self.rounds)

    def reset(self) -> None:
        self.latencies.clear()
        self.rounds.clear()


async def run_round(arm: Arm, count: int, concurrency: int) -> None:
    """``count`` calls with at most ``concurrency`` in flight, each call timed on its own.

    Workers pull from a shared counter, so the pipeline stays full until the last calls, as
    under steady load, instead of advancing in lock-step batches.
    """
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            await arm.call()
            arm.latencies.append(time.perf_counter() - start)

    wall, cpu = time.perf_counter(), time.process_time()
    async with asyncio.timeout(PHASE_TIMEOUT):
        await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    arm.rounds.append(RoundCost(count, time.perf_counter() - wall, time.process_time() - cpu))


def split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal positive sizes."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def interleave(
    base: Arm,
    layer: Arm,
    total: int,
    concurrency: int,
    rounds: int,
    between: Callable[[], None],
) -> None:
    """A-B, B-A, A-B… so neither arm always runs first after a switch (drift cancels).

    ``between`` runs before every round, outside the timing.
    """
    for index, size in enumerate(split(total, rounds)):
        order = (base, layer) if index % 2 == 0 else (layer, base)
        for arm in order:
            between()
            await run_round(arm, size, concurrency)


def pair_differences(base: Arm, layer: Arm) -> list[float]:
    """Layer minus bare CPU per call, round by round (rounds of a pair ran back to back)."""
    return [
        lay.cpu / lay.count - bare.cpu / bare.count
        for bare, lay in zip(base.rounds, layer.rounds, strict=True)
    ]


class CannedResponse:
    """An HTTP answer already in memory: enough of aiohttp's response for both arms."""

    status = 200

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers: dict[str, str] = {}

    async def __aenter__(self) -> CannedResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        return self.body

    async def json(self) -> Any:
        return json.loads(self.body)


class CannedSession:
    """Stands in for ``aiohttp.ClientSession`` and answers every call at once, identically.

    With no sockets, event-loop wake-ups or fake server in the way, the difference between the
    arms is only the layer's own Python work, stable to about a microsecond.
    """

    def __init__(self, body: bytes) -> None:
        self.response = CannedResponse(body)

    def request(self, method: str, url: str, **kwargs: Any) -> CannedResponse:
        return self.response

    def post(self, url: str, **kwargs: Any) -> CannedResponse:
        return self.response


@dataclass
class OverheadFigures:
    base: Arm
    layer: Arm
    zero_base: Arm
    zero_layer: Arm
    canned_base: float
    canned_layer: float
    canned_calls: int
    router_limit: int
    payload_bytes: int


async def canned_costs(calls: int, answer: bytes) -> tuple[float, float]:
    """Seconds per call, bare vs layer, over a canned session (fastest of a few repeats)."""
    session = CannedSession(answer)
    provider = MyRouter(cast(aiohttp.ClientSession, session), "sk-canned", "http://canned")
    router = Router([provider])
    request = request_for_bench()
    payload = provider.build_payload(request, provider.check(request))
    url = "http://canned/v3/seedream-4.0"
    headers = {"Authorization": "Bearer sk-canned", "Content-Type": "application/json"}

    async def bare() -> None:
        body = json.dumps(payload, separators=(",", ":"))
        async with session.post(url, data=body, headers=headers) as response:
            data = await response.json()
            if response.status != 200 or not data.get("images"):
                raise RuntimeError("canned bare call: no images")

    async def layer() -> None:
        if not (await router.generate(request)).images:
            raise RuntimeError("canned layer call: no images")

    best = {bare: math.inf, layer: math.inf}
    for _ in range(CANNED_REPEATS):
        for call in (bare, layer):
            start = time.perf_counter()
            for _ in range(calls):
                await call()
            best[call] = min(best[call], (time.perf_counter() - start) / calls)
    return best[bare], best[layer]


async def measure_overhead(params: Params) -> OverheadFigures:
    """Bare aiohttp vs the provider layer on one fake and one session (same pool, same bytes)."""
    fake = FakeMyRouter()
    await fake.start()
    try:
        async with aiohttp.ClientSession() as session:  # as the bot makes it (bot/client.py)
            provider = MyRouter(session, fake.api_key, fake.base_url)
            # The semaphore is part of what is measured, but it must never queue: with its
            # default of 8 and 20 calls in flight the layer would wait by design (throttling,
            # not overhead).
            limit = max(8, params.concurrency)
            router = Router([provider], max_concurrency=limit)
            request = request_for_bench()
            # The exact body the adapter sends, built by the adapter itself; the bare arm pays
            # for serialising it on every call, as any hand-written client would.
            payload = provider.build_payload(request, provider.check(request))
            url = fake.base_url + "/v3/seedream-4.0"
            headers = {
                "Authorization": f"Bearer {fake.api_key}",
                "Content-Type": "application/json",
            }
            answer = b""

            async def bare() -> None:
                nonlocal answer
                body = json.dumps(payload, separators=(",", ":"))
                async with session.post(url, data=body, headers=headers) as response:
                    data = await response.json()
                    if response.status != 200 or not data.get("images"):
                        raise RuntimeError(f"bare call: HTTP {response.status} {data!r:.200}")
                answer = answer or json.dumps(data).encode()

            async def layer() -> None:
                if not (await router.generate(request)).images:
                    raise RuntimeError("layer call: no images")

            def forget() -> None:
                # The fake logs every call and publishes every image under a new name; emptying
                # both keeps its cost per request constant over the run.
                fake.calls.clear()
                fake.files.clear()

            async def compare(requests: int, rounds: int) -> tuple[Arm, Arm]:
                base_arm, layer_arm = Arm("bare aiohttp", bare), Arm("provider layer", layer)
                # Warm-up: renders the fake's image once (cached per size afterwards), opens the
                # pooled connections and fills every lazy cache on the way.
                for arm in (base_arm, layer_arm):
                    await run_round(arm, params.concurrency, params.concurrency)
                    arm.reset()
                await interleave(base_arm, layer_arm, requests, params.concurrency, rounds, forget)
                return base_arm, layer_arm

            fake.latency = params.latency
            base_arm, layer_arm = await compare(params.requests, params.rounds)
            fake.latency = 0.0
            zero_base, zero_layer = await compare(params.zero_requests, ZERO_ROUNDS)
            if fake.rejections:
                raise RuntimeError(f"the fake rejected requests: {fake.rejections[:3]}")
        calls = CANNED_CALLS[int(params.quick)]
        canned_base, canned_layer = await canned_costs(calls, answer)
        return OverheadFigures(
            base=base_arm,
            layer=layer_arm,
            zero_base=zero_base,
            zero_layer=zero_layer,
            canned_base=canned_base,
            canned_layer=canned_layer,
            canned_calls=calls,
            router_limit=limit,
            payload_bytes=len(json.dumps(payload, separators=(",", ":"))),
        )
    finally:
        await fake.stop()


def print_overhead(params: Params, fig: OverheadFigures) -> bool:
    """The overhead section; returns whether the ratio target was met."""
    ms, us = 1e3, 1e6
    print(
        f"\n== 1. Per-request overhead: Router([MyRouter]).generate vs a bare aiohttp POST\n"
        f"   same in-process FakeMyRouter, same ClientSession, same {fig.payload_bytes}-byte "
        f"JSON body\n   (MyRouter.build_payload); "
        f"seedream-4.0, 2K, 1:1, 1 image; Router max_concurrency={fig.router_limit} "
        f"(never queues)\n"
        f"\n   a) fake latency {params.latency * ms:.0f} ms: {params.requests} requests per arm, "
        f"concurrency {params.concurrency}, {params.rounds} interleaved rounds (A-B, B-A, ...)"
    )
    print(f"   {'':16}{'mean':>10}{'p50':>10}{'p99':>10}{'max':>10}")
    for arm in (fig.base, fig.layer):
        lat = arm.latencies
        print(
            f"   {arm.name:16}{arm.mean * ms:>8.2f}ms{percentile(lat, 50) * ms:>8.2f}ms"
            f"{percentile(lat, 99) * ms:>8.2f}ms{max(lat) * ms:>8.2f}ms"
        )
    base_p50, layer_p50 = percentile(fig.base.latencies, 50), percentile(fig.layer.latencies, 50)
    ratio_mean = fig.layer.mean / fig.base.mean
    ratio_p50 = layer_p50 / base_p50
    ok = ratio_mean <= RATIO_TARGET
    print(
        f"   added by the layer: {(fig.layer.mean - fig.base.mean) * ms:+.2f} ms per request "
        f"(mean), {(layer_p50 - base_p50) * ms:+.2f} ms (p50)\n"
        f"   ratio layer/bare: {ratio_mean:.4f} (means), {ratio_p50:.4f} (p50s)   "
        f"target <= {RATIO_TARGET}: {verdict(ok)}"
    )

    zb, zl = fig.zero_base, fig.zero_layer
    diffs = sorted(d * us for d in pair_differences(zb, zl))
    print(
        f"\n   b) zero latency: {params.zero_requests} requests per arm, concurrency "
        f"{params.concurrency}, {len(zb.rounds)} interleaved rounds\n"
        f"      (CPU is this whole process, client and fake; the fake's share cancels out)"
    )
    print(f"   {'':16}{'CPU/req':>11}{'wall/req':>11}{'mean lat':>11}{'p50 lat':>11}")
    for arm in (zb, zl):
        print(
            f"   {arm.name:16}{arm.cpu_per_call * us:>8.0f} us{arm.wall_per_call * us:>8.0f} us"
            f"{arm.mean * us:>8.0f} us{percentile(arm.latencies, 50) * us:>8.0f} us"
        )
    print(
        f"   added by the layer: {statistics.median(diffs):+.0f} us CPU per request (median of "
        f"{len(diffs)} round pairs, range {diffs[0]:+.0f}..{diffs[-1]:+.0f});\n"
        f"   {(zl.cpu_per_call - zb.cpu_per_call) * us:+.0f} us over all rounds"
    )

    added = (fig.canned_layer - fig.canned_base) * us
    print(
        f"\n   c) no network (canned in-memory session), {fig.canned_calls} sequential calls, "
        f"fastest of {CANNED_REPEATS}:\n"
        f"   bare {fig.canned_base * us:.1f} us, layer {fig.canned_layer * us:.1f} us per call: "
        f"the layer's own Python work is {added:+.1f} us per request"
    )
    return ok


# -- 2. memory ---------------------------------------------------------------------------------


class FakeProcess:
    """FakeEvoLink in a child process, so this process's memory is the bot's and nothing else.

    In-process, the fake's per-task state (stored tasks, its call log, the aiohttp server's
    request objects) grows with every task too, and telling it apart needs deep tracemalloc
    stacks, which slow the loop so much that most polls are still in flight when the snapshot
    is taken. Out of process, the bot's RSS is measured directly and the fake's is read from
    ``/proc/<pid>/status`` for reference. The child speaks a line protocol on stdin/stdout:
    ``READY <url> <key>`` once listening, ``reset`` -> ``OK <rejections>``; EOF stops it.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.base_url = ""
        self.api_key = ""

    @classmethod
    async def start(cls) -> FakeProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.providers",
            SERVE_FLAG,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=PROJECT_ROOT,
        )
        fake = cls(process)
        try:
            words = (await fake._read_line()).split()
            if len(words) != 3 or words[0] != "READY":
                raise RuntimeError(f"the fake process said {' '.join(words)!r}, not READY")
        except BaseException:
            await fake.stop()
            raise
        fake.base_url, fake.api_key = words[1], words[2]
        return fake

    async def _read_line(self) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(30):
            line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake process exited (status {self.process.returncode})")
        return line.decode().strip()

    async def reset(self) -> int:
        """Forget stored tasks and the call log; return how many requests it has rejected."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"reset\n")
        await self.process.stdin.drain()
        words = (await self._read_line()).split()
        if len(words) != 2 or words[0] != "OK":
            raise RuntimeError(f"the fake process answered {' '.join(words)!r} to reset")
        return int(words[1])

    def rss(self) -> int:
        return rss_bytes(self.process.pid)

    async def stop(self) -> None:
        """Close its stdin (it stops its server and exits); kill this child only if it hangs."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            async with asyncio.timeout(10):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def serve_fake_evolink() -> None:
    """Child-process mode (``--serve-fake-evolink``): tasks that stay ``processing`` for ever."""
    fake = FakeEvoLink()
    fake.stall = True
    # Progress moves on every poll (1, 2, 3, … up to 99), so on_progress counts the polls.
    fake.steps = tuple(range(1, 100))
    await fake.start()
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    print(f"READY {fake.base_url} {fake.api_key}", flush=True)
    try:
        while line := await reader.readline():
            if line.strip() == b"reset":
                fake.tasks.clear()
                fake.calls.clear()
                gc.collect()
                print(f"OK {len(fake.rejections)}", flush=True)
            else:
                print(f"ERROR unknown command {line.strip()!r}", flush=True)
    finally:
        await fake.stop()


class InFlight:
    """Counts what the bot reports through its own hooks: task ids (``on_task``) and polls.

    The fake's progress changes on every poll, so ``on_progress`` fires once per completed
    poll: the path the job layer uses to update a member's message.
    """

    def __init__(self, size: int) -> None:
        self.submitted = 0
        self.polls = [0] * size

    def hooks(self, index: int) -> tuple[RoutedTaskCallback, ProgressCallback]:
        async def on_task(provider: str, task_id: str) -> None:
            self.submitted += 1

        async def on_progress(progress: int) -> None:
            self.polls[index] += 1

        return on_task, on_progress


async def wait_until(condition: Callable[[], bool], tasks: list[asyncio.Task[Any]]) -> None:
    """Poll ``condition``; fail at once if a generation ended, since a stalled one never should."""
    async with asyncio.timeout(PHASE_TIMEOUT):
        while not condition():
            for task in tasks:
                if task.done():
                    error = task.exception() if not task.cancelled() else None
                    raise RuntimeError(f"a stalled generation ended early: {error!r}")
            await asyncio.sleep(0.02)


async def launch(
    router: Router, request: GenerationRequest, size: int, poll_rounds: int
) -> list[asyncio.Task[Any]]:
    """Start ``size`` generations; return once each has submitted and been polled enough."""
    counter = InFlight(size)
    tasks: list[asyncio.Task[Any]] = []
    try:
        for index in range(size):
            on_task, on_progress = counter.hooks(index)
            coro = router.generate(request, on_task=on_task, on_progress=on_progress)
            tasks.append(asyncio.create_task(coro))
        await wait_until(lambda: counter.submitted == size, tasks)
        await wait_until(lambda: min(counter.polls) >= poll_rounds, tasks)
    except BaseException:
        await cancel_all(tasks, check=False)
        raise
    return tasks


async def cancel_all(tasks: list[asyncio.Task[Any]], *, check: bool = True) -> None:
    """Cancel every generation; with ``check``, make sure cancellation is what ended each one."""
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    odd = [r for r in results if not isinstance(r, asyncio.CancelledError)]
    if check and odd:
        raise RuntimeError(f"{len(odd)} generations did not end by cancellation: {odd[0]!r}")


async def sample(interval: float, read: Callable[[], int], count: int = 10) -> list[int]:
    """``read()`` at ``count + 1`` evenly spaced moments over one poll interval.

    Polls come in waves, so a single reading could land in a lull or on a crest.
    """
    values = [read()]
    for _ in range(count):
        await asyncio.sleep(interval / count)
        values.append(read())
    return values


@dataclass
class MemoryPass:
    """Byte counts of one launch of stalled generations (RSS or traced heap)."""

    seconds: float
    before: int
    low: int
    high: int
    launch_peak: int = 0
    fake_before: int = 0
    fake_after: int = 0
    top: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class MemoryFigures:
    tasks: int
    poll: PollPolicy
    router_limit: int
    rss: MemoryPass
    heap: MemoryPass


@dataclass
class Setup:
    """Objects shared by both passes (created once, before any baseline is read)."""

    fake: FakeProcess
    router: Router
    request: GenerationRequest
    interval: float


async def rss_pass(env: Setup, params: Params) -> MemoryPass:
    """Tracing off: RSS is only honest without tracemalloc's own per-allocation bookkeeping."""
    started = time.perf_counter()
    gc.collect()
    before, fake_before = rss_bytes(), env.fake.rss()
    tasks = await launch(env.router, env.request, params.tasks, params.poll_rounds)
    try:
        gc.collect()
        values = await sample(env.interval, rss_bytes)
        fake_after = env.fake.rss()
    finally:
        await cancel_all(tasks)
    return MemoryPass(
        time.perf_counter() - started,
        before,
        min(values),
        max(values),
        fake_before=fake_before,
        fake_after=fake_after,
    )


async def heap_pass(env: Setup, params: Params) -> MemoryPass:
    """Tracing on: live Python-heap bytes held for the tasks (all of it the bot's), by file."""
    started = time.perf_counter()
    gc.collect()
    tracemalloc.start(1)  # one frame: nothing needs attributing, and tracing stays cheap
    tasks: list[asyncio.Task[Any]] = []
    try:
        before = tracemalloc.get_traced_memory()[0]
        tasks = await launch(env.router, env.request, params.tasks, params.poll_rounds)
        launch_peak = tracemalloc.get_traced_memory()[1]
        gc.collect()
        tracemalloc.reset_peak()
        values = await sample(env.interval, lambda: tracemalloc.get_traced_memory()[0])
        peak = tracemalloc.get_traced_memory()[1]
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        await cancel_all(tasks)
    top = [
        (short_name(stat.traceback[0].filename), stat.size)
        for stat in snapshot.statistics("filename")[:6]
    ]
    return MemoryPass(
        time.perf_counter() - started, before, min(values), peak, launch_peak=launch_peak, top=top
    )


async def measure_memory(params: Params) -> MemoryFigures:
    """RSS pass first (on a heap no earlier phase has grown), then the traced pass."""
    fake = await FakeProcess.start()
    try:
        async with aiohttp.ClientSession() as session:  # as the bot makes it (bot/client.py)
            interval = params.poll_interval
            poll = PollPolicy(
                first_delay=interval, factor=1.0, max_interval=interval, deadline=3600.0
            )
            provider = EvoLink(session, fake.api_key, fake.base_url, poll=poll)
            # The default semaphore (8 per provider) would keep all but 8 tasks queued before
            # they submit; the issue is about tasks that are actually in flight.
            limit = max(1000, params.tasks)
            router = Router([provider], max_concurrency=limit)
            env = Setup(fake, router, request_for_bench(), interval)
            # Warm-up: imports, lazy caches, a few pooled connections. Kept small on purpose: a
            # full-size warm-up would leave freed memory that the measured pass silently reuses.
            await cancel_all(await launch(env.router, env.request, 4, 1))
            await fake.reset()
            rss = await rss_pass(env, params)
            await fake.reset()
            heap = await heap_pass(env, params)
            rejected = await fake.reset()
            if rejected:
                raise RuntimeError(f"the fake rejected {rejected} requests")
            return MemoryFigures(params.tasks, poll, limit, rss, heap)
    finally:
        await fake.stop()


def print_memory(fig: MemoryFigures, params: Params) -> bool:
    """The memory section; returns whether the bot-side figure met the target."""
    kib, mib, n = 1024.0, 1024.0 * 1024.0, fig.tasks
    p, rss, heap = fig.poll, fig.rss, fig.heap

    def per_task(after: int, before: int) -> float:
        return (after - before) / n / kib

    rss_high = per_task(rss.high, rss.before)
    heap_high = per_task(heap.high, heap.before)
    worst = max(rss_high, heap_high)
    ok = worst < KIB_PER_TASK_TARGET
    print(
        f"\n== 2. Memory: {n} EvoLink tasks in flight through Router.generate, never finishing\n"
        f"   FakeEvoLink (stall=True) in a child process; PollPolicy(first_delay={p.first_delay},"
        f" factor={p.factor},\n   max_interval={p.max_interval}, deadline={p.deadline:.0f}); "
        f"Router max_concurrency={fig.router_limit}; default ClientSession (<= 100 connections)."
        f"\n   Read over one poll interval once every task had submitted and been polled "
        f"{params.poll_rounds} times.\n"
        f"   Counted (bot side): each task's asyncio Task, its coroutine chain (Router.generate ->"
        f"\n   _with_retries -> EvoLink.generate -> _wait), its on_task/on_progress callbacks and "
        f"poll timer, and the\n   HTTP state live at that moment (polls in flight, pooled "
        f"connections). Not counted: the fake."
    )
    print(f"   {'':42}{'per task':>12}   total")
    rows = [
        ("RSS, tracing off (highest reading)", rss_high, rss.high - rss.before, rss.seconds),
        ("Python heap, quietest reading", per_task(heap.low, heap.before), heap.low, None),
        ("Python heap, peak over the interval", heap_high, heap.high - heap.before, heap.seconds),
        (
            f"Python heap, peak while {n} submit at once",
            per_task(heap.launch_peak, heap.before),
            heap.launch_peak - heap.before,
            None,
        ),
        (
            "the fake's process, RSS (not counted)",
            per_task(rss.fake_after, rss.fake_before),
            rss.fake_after - rss.fake_before,
            None,
        ),
    ]
    for label, value, total, seconds in rows:
        took = f"   [pass took {seconds:.1f} s]" if seconds is not None else ""
        print(f"   {label:42}{value:>8.1f} KiB   {total / mib:+5.1f} MiB{took}")
    print("   Python heap at the last reading, by the file that allocated it:")
    for name, size in heap.top:
        print(f"   {'':42}{size / n / kib:>8.2f} KiB   {name}")
    print(
        f"   bot side per in-flight task (larger of RSS and heap peak): {worst:.1f} KiB   "
        f"target < {KIB_PER_TASK_TARGET:.0f} KiB: {verdict(ok)}"
    )
    return ok


# -- main --------------------------------------------------------------------------------------


def describe(params: Params) -> Iterator[str]:
    yield "Provider-layer benchmark (bench/providers.py)" + ("  [--quick]" if params.quick else "")
    yield "machine: " + machine(f"aiohttp {version('aiohttp')}", f"pydantic {version('pydantic')}")
    yield (
        f"params: latency={params.latency}s requests={params.requests} "
        f"concurrency={params.concurrency} rounds={params.rounds} "
        f"zero_requests={params.zero_requests} tasks={params.tasks} "
        f"poll_interval={params.poll_interval}s poll_rounds={params.poll_rounds}"
    )


async def run(params: Params) -> None:
    """Memory first: it wants a heap that no earlier phase has already grown."""
    started = time.perf_counter()
    for line in describe(params):
        print(line, flush=True)
    memory = await measure_memory(params)
    overhead = await measure_overhead(params)
    ratio_ok = print_overhead(params, overhead)
    memory_ok = print_memory(memory, params)
    print(
        f"\n== Targets (informational): overhead ratio <= {RATIO_TARGET} {verdict(ratio_ok)}, "
        f"memory < {KIB_PER_TASK_TARGET:.0f} KiB per in-flight task {verdict(memory_ok)}; "
        f"run took {time.perf_counter() - started:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    params = parse_args(argv)
    if params.serve_fake:
        asyncio.run(serve_fake_evolink())
        return 0
    return run_benchmark(run(params))


if __name__ == "__main__":
    sys.exit(main())
