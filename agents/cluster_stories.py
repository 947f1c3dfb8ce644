"""classified -> items: give each analysed item its story id, in event time.

The story state is a changelogged Faust table (``story-state``), co-partitioned with
``classified`` (both keyed by the clustering bucket), so it survives restarts and moves
with its partition. Items go to ``items`` keyed by story id, so every sighting of a
story meets the same window table downstream.

A placed credit item's story is echoed to the no-city bucket: a ``{"echo": item}`` record
on ``classified`` keyed ``none``. The agent holding that partition registers the echo, so
a later wording naming no city joins the city's story, and sends to ``items`` again, as
that story's, the earlier no-city sightings the echo claims (Understanding.echo).
"""
from __future__ import annotations

from citycredit.app import app, classified_topic, dead_letter, dead_letter_unexpected, items_topic
from citycredit.exceptions import InputError
from citycredit.understanding import NO_CITY_BUCKET, Understanding
from schemas import Item

# Values are small JSON records (see citycredit/understanding/cluster.py for the layout).
story_state = app.Table("story-state", default=None, partitions=classified_topic.partitions,
                        help="Open stories for clustering: wordings, cities, event times, bounded by the window.")

understanding = Understanding(story_state=story_state)


def item_from(value: object) -> Item:
    """A ``classified`` record (JSON object) back into an Item, or InputError."""
    if not isinstance(value, dict):
        raise InputError(f"classified: expected a JSON object, got {type(value).__name__}")
    try:
        return Item(**{k: value[k] for k in Item._options.fields if k in value})  # absent: the field's default, or TypeError
    except (KeyError, TypeError) as exc:
        raise InputError(f"classified: not an analysed item: {exc}") from exc


@app.agent(classified_topic)
async def cluster_stories(stream):
    async for event in stream.events():
        try:
            if isinstance(event.value, dict) and "echo" in event.value:
                # a placed story's echo -> the no-city sightings it claims, as items of that story
                for claimed in understanding.echo(item_from(event.value["echo"])):
                    await items_topic.send(key=claimed.story_id, value=claimed)
                    yield claimed
                continue
            item = item_from(event.value)
            # Item -> Item with story_id (reads and writes story_state for this bucket)
            item = understanding.assign_story(item)
        except InputError as exc:
            await dead_letter("cluster_stories", str(exc), event.value, event)
            continue
        except Exception as exc:  # noqa: BLE001 - a bug met one item: keep it, go on with the rest
            await dead_letter_unexpected("cluster_stories", exc, event)
            continue
        await items_topic.send(key=item.story_id, value=item)
        if understanding.echoes(item):
            await classified_topic.send(key=NO_CITY_BUCKET, value={"echo": item.asdict()})
        yield item
