"""Constructed news texts with known reuse, and the seed corpus, shared by the unit and integration tests."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

from bench.corpus import GeneratedDocument, Kind, Shares, generate

CORPUS: Final = Path(__file__).resolve().parent.parent / "corpus"

REWRITE_ID: Final = "000_687f1ee267ab1df4"
WIRE_ID: Final = "001_83c010ac56584491"
EXCERPT_ID: Final = "002_534b010889ca0eb9"
VOA_ID: Final = "003_13d2cf2eca4bd097"
AP_ID: Final = "004_5e8af2485a74f351"
SEED_IDS: Final = (REWRITE_ID, WIRE_ID, EXCERPT_ID, VOA_ID, AP_ID)

# A wire story of eight sentences; the texts below copy, cut and reword it.
BRIDGE_SENTENCES: Final = (
    "The city council of Riverton approved a plan on Monday to rebuild the old harbour bridge.",
    "Engineers found deep cracks in the steel supports during an inspection last winter.",
    "The bridge carries about forty thousand cars across the estuary every day.",
    "Construction crews will close two of the four lanes from early April.",
    "Mayor Helen Ortiz promised that ferries would run every twenty minutes during the works.",
    "Local shop owners fear that the closure will drive customers to the new mall outside town.",
    "The regional government will pay most of the cost, estimated at ninety million dollars.",
    "Work is expected to finish before the summer festival two years from now.",
)
BRIDGE_STORY: Final = " ".join(BRIDGE_SENTENCES)

# The same facts in the same order, every sentence reworded.
BRIDGE_REWRITE: Final = (
    "Riverton's councillors voted on Monday for a scheme to rebuild the ageing harbour bridge. "
    "An inspection last winter had found that the steel supports were deeply cracked, engineers said. "
    "Every day some forty thousand cars cross the estuary over the bridge. "
    "From early April, crews will shut two lanes out of four for construction. "
    "Ferries are to run every twenty minutes while the works last, Mayor Helen Ortiz promised. "
    "Owners of local shops worry the closure may push customers toward the new mall outside town. "
    "Most of the ninety million dollar cost is to be paid by the regional government. "
    "The works should finish ahead of the summer festival in two years."
)

# Three sentences of the story, verbatim, with a little unrelated material around them.
EXCERPT_LEAD: Final = "Here is our morning round-up of the regional news for commuters."
EXCERPT_BODY: Final = " ".join(BRIDGE_SENTENCES[2:5])
EXCERPT_TAIL: Final = "Tickets for the jazz concert in the park sold out within an hour."
BRIDGE_EXCERPT: Final = f"{EXCERPT_LEAD} {EXCERPT_BODY} {EXCERPT_TAIL}"

# The story again, with one word changed: a near-verbatim copy of the whole.
BRIDGE_COPY: Final = BRIDGE_STORY.replace("deep cracks", "large cracks")

# On the same topic as the story, sharing names and words, but written independently.
BRIDGE_INDEPENDENT: Final = (
    "Residents of Riverton have long complained about traffic on the harbour bridge. "
    "A petition signed by three thousand people asked the council for a second crossing. "
    "Some residents proposed a tunnel under the estuary instead of a bridge. "
    "The council has not yet answered the petition, a spokesman said on Thursday. "
    "Cyclists also want a protected lane, which the current bridge does not offer. "
    "Traffic experts warn that any closure of the bridge would cause long queues."
)

# About something else entirely.
FOOTBALL_STORY: Final = (
    "Riverton's football club signed a new goalkeeper from a rival team on Friday. "
    "The transfer fee was not disclosed, but fans welcomed the move at the stadium. "
    "The coach said the squad needed experience before the cup final in May."
)

# A story whose sentences keep returning to its subject, as long reports do, and a digest of unrelated
# items with its middle three sentences pasted among them: the story is the more covered text, yet
# the digest is the one that took text from the other.
DAM_SENTENCES: Final = (
    "Engineers began draining the Hollow Creek reservoir behind the old dam on Tuesday.",
    "The dam was built in 1931 and its concrete wall has leaked since the floods of last spring.",
    "Water from the reservoir will be released slowly into the creek over three weeks.",
    "Fish in the reservoir are being moved to a hatchery downstream before the water level drops.",
    "The county expects the empty reservoir to expose the cracked foundations of the dam wall.",
    "Repairs to the dam will take two summers and cost the county forty million dollars.",
    "Farmers who draw water from the creek will receive deliveries by truck during the repairs.",
    "The county will refill the reservoir once inspectors have approved the repaired dam wall.",
)
DAM_STORY: Final = " ".join(DAM_SENTENCES)
DAM_EXCERPT: Final = " ".join(DAM_SENTENCES[2:5])
GARDEN_STORY: Final = (
    "The botanical garden opened a new glasshouse for tropical orchids on Saturday morning. "
    "Volunteers spent two years collecting rare plants from private growers across the country. "
    "Entry to the glasshouse is free for children and students until the end of the year."
)
DIGEST_WITH_EXCERPT: Final = f"{FOOTBALL_STORY} {DAM_EXCERPT} {GARDEN_STORY}"


# A long report, and a summary whose four sentences each restate one sentence of it, five sentences apart:
# the summary condenses sixteen sentences into four, in their order.
FLOOD_SENTENCES: Final = (
    "Heavy rain flooded the lower districts of Marlow on Sunday night after the river burst its banks.",
    "Water reached the first floors of houses along Canal Street within two hours.",
    "Firefighters used boats to carry elderly residents from their homes to the town hall.",
    "The railway station closed when the tracks south of the town disappeared under the water.",
    "Shopkeepers piled sandbags at their doors, but many lost their stock anyway.",
    "The mayor declared an emergency on Monday morning and asked the army for pumps.",
    "Soldiers arrived at noon with twelve trucks and began draining the flooded streets.",
    "Schools stayed closed for the week while inspectors checked their buildings.",
    "A farmer upstream said the river had not risen so fast in fifty years.",
    "Volunteers served hot meals in the church hall to families who had left their homes.",
    "Insurers estimated the damage to homes and businesses at thirty million pounds.",
    "The council promised grants to owners whose policies do not cover flooding.",
    "Engineers blamed a collapsed culvert that should have carried the water under the bypass.",
    "Repairs to the culvert had been postponed twice for lack of money, council papers show.",
    "Residents plan a protest meeting at the town hall next Thursday evening.",
    "The government has ordered an inquiry into the flood defences of the whole valley.",
)
FLOOD_REPORT: Final = " ".join(FLOOD_SENTENCES)
FLOOD_SUMMARY: Final = (
    "On Sunday night the river burst its banks and flooded the lower districts of Marlow with heavy rain. "
    "On Monday morning the mayor declared an emergency and the army was asked for pumps. "
    "The damage to businesses and homes was estimated by insurers at thirty million pounds. "
    "An inquiry into the flood defences of the valley has been ordered by the government."
)


@functools.cache
def seed_texts() -> dict[str, str]:
    """Return the seed corpus (`corpus/*.txt`) as {id: text}, in id order."""
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.txt"))}


def wire_story_and_its_derivatives(count: int, seed: int) -> list[GeneratedDocument]:
    """Return one generated story, then `count` pages made from it, none dated.

    About half reprint it whole under a headline of their own, most of the rest quote a stretch of it
    among text of their own (all of it, when the story is short), and a few reword it.
    """
    shares = Shares(original=1e-6, copy=0.5, excerpt=0.4, rewrite=0.1 - 1e-6)
    story, *derived = generate(count + 1, seed=seed, shares=shares, pool_size=1)
    assert story.kind is Kind.ORIGINAL
    assert all(document.source_id == story.id for document in derived)
    return [story, *derived]
