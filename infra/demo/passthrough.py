"""A no-op Faust passthrough, the framework's own ceiling on this machine.

`python -m infra.demo.passthrough` (settings from `AIQ_*`) consumes `bench.in` and sends
every message unchanged to `bench.out`, one `Topic.send` per event, with the worker's broker
settings: what any per-event Faust agent pays before doing any work. It prints one JSON
line when `AIQ_BENCH_COUNT` messages went through (messages per second from the first
message consumed to the last one sent and flushed) and keeps running until it is stopped.
"""

from __future__ import annotations

import json
import os
import time

import faust

from infra.settings import Settings

IN_TOPIC, OUT_TOPIC = "bench.in", "bench.out"


def main() -> None:
    settings = Settings()
    count = int(os.environ["AIQ_BENCH_COUNT"])
    bootstrap = ";".join(f"kafka://{h}" for h in settings.kafka_bootstrap.split(","))
    app = faust.App(
        f"{settings.topic_prefix}passthrough",
        broker=bootstrap,
        store="memory://",
        datadir=str(settings.state_dir / "passthrough"),
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        processing_guarantee="at_least_once",
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=5,
        producer_acks=-1,
        stream_wait_empty=False,
    )

    def topic(name: str) -> faust.TopicT:
        return app.topic(settings.topic(name), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw",
                         partitions=settings.topic_partitions)

    source, sink = topic(IN_TOPIC), topic(OUT_TOPIC)
    seen = {"n": 0, "first": 0.0}

    @app.agent(source)
    async def passthrough(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            if not seen["n"]:
                seen["first"] = time.perf_counter()
            await sink.send(key=event.key, value=event.value)
            seen["n"] += 1
            if seen["n"] == count:
                await app.producer.flush()
                seconds = time.perf_counter() - seen["first"]
                print(json.dumps({"messages": count, "seconds": seconds,
                                  "msgs_per_s": count / seconds}), flush=True)

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
