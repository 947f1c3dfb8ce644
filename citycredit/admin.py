"""Create the declared topics idempotently, with their partition counts and configs."""
from __future__ import annotations

import asyncio
from typing import Any, Iterable

from .exceptions import BrokerError
from .kafka_client import client_args, connect_error, quiet_bootstrap
from .settings import Settings
from .topics import ALL, TopicSpec


async def ensure_topics(settings: Settings, specs: tuple[TopicSpec, ...] = ALL) -> list[str]:
    """Create missing topics; returns the names created. Existing topics are left as they are."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**client_args(settings), request_timeout_ms=15000)
    try:
        try:
            with quiet_bootstrap():
                await admin.start()
        except KafkaConnectionError as exc:
            # no broker, a wrong password or an untrusted certificate: one line naming the fix
            raise await connect_error(settings, exc) from exc
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        new = [NewTopic(s.name, s.partition_count(settings), settings.topic_replication, topic_configs=dict(s.config))
               for s in missing]
        try:
            response = await admin.create_topics(new)
        except TopicAlreadyExistsError:
            return []  # created concurrently by another process: fine
        except KafkaError as exc:
            raise BrokerError(f"creating topics failed: {exc}") from exc
        for name, code, *rest in getattr(response, "topic_errors", []):
            if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS (a concurrent creator won)
                raise BrokerError(f"creating topic {name} failed with error code {code}: {rest}")
        # Created is not yet listed: wait until the metadata has them, so a worker that joins
        # its group next sees every topic it subscribes to.
        for _ in range(100):
            if {s.name for s in missing} <= set(await admin.list_topics()):
                break
            await asyncio.sleep(0.1)
        return [s.name for s in missing]
    finally:
        await admin.close()


def ensure_topics_sync(settings: Settings, specs: tuple[TopicSpec, ...] = ALL) -> list[str]:
    return asyncio.run(ensure_topics(settings, specs))


def changelog_specs(tables: Iterable[Any]) -> tuple[TopicSpec, ...]:
    """The changelog topics of Faust tables, compacted and partitioned as Faust declares them.

    Created before the worker joins its group: a changelog that Faust had declared but the
    broker did not list yet when the group formed was "ignored" by Faust's assignor, and
    that worker never got past the assignment (seen once on a loaded machine, 120 s).
    """
    return tuple(TopicSpec(t.changelog_topic.get_topic_name(), f"Changelog of the {t.name} table (Faust).", "table key",
                           partitions=t.changelog_topic.partitions, config={"cleanup.policy": "compact"})
                 for t in tables)
