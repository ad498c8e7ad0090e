"""Load generator for `dedup load`: generated news documents, a weighted mix of RPCs, exact latency percentiles."""

import contextlib
import math
import random
import re
import threading
import time
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final, TextIO, TypeVar

import grpc

from client.dedup_client import DedupClient, make_document
from client.errors import DedupClientError
from dedup.v1 import dedup_service_pb2, document_pb2

# The operations of a mix, and the RPC each one sends.
RPC_BY_OPERATION: Final[Mapping[str, str]] = {
    "ingest": "IngestDocuments",
    "find": "FindSimilar",  # by the id of a stored document
    "find-text": "FindSimilar",  # by a text, which is not stored
    "provenance": "GetProvenance",
    "cluster": "GetCluster",
    "compare": "Compare",
    "stats": "GetStats",
}
OPERATIONS: Final = tuple(RPC_BY_OPERATION)
DEFAULT_MIX: Final = "ingest=1,find=4,find-text=1,provenance=2,cluster=1,compare=0,stats=0"
# The percentiles every report gives, besides the maximum.
PERCENTILES: Final = (50, 90, 95, 99)
# The share of generated documents that copy, excerpt or rewrite an earlier one.
DEFAULT_COPY_SHARE: Final = 0.3

# Operations that ask about a stored document, and so need an id to ask about.
_NEEDS_TARGET: Final = frozenset({"find", "provenance", "cluster"})
# After Ctrl-C, calls in flight get this long to finish and be counted before their channels are closed.
_INTERRUPT_GRACE_SECONDS: Final = 2.0
# Generated documents kept for deriving later ones and query texts from; a few MB.
_CACHED_DOCUMENTS: Final = 4096
# How often, in the measured time, the server is asked for its memory (GetStats), to show whether it stays flat.
MEMORY_SAMPLE_SECONDS: Final = 10.0


# Parsing --mix.


def parse_mix(text: str) -> dict[str, float]:
    """Return the weight of every operation from ``name=weight,...``; operations not named get weight 0.

    Weights are relative: ``find=4,ingest=1`` sends four FindSimilar calls for each IngestDocuments call.

    >>> parse_mix("ingest=1, find=4")
    {'ingest': 1.0, 'find': 4.0, 'find-text': 0.0, 'provenance': 0.0, 'cluster': 0.0, 'compare': 0.0, 'stats': 0.0}

    Raises:
        ValueError: An entry is not ``name=weight``, a name is unknown or repeated, a weight is not a finite
            number at least 0, or every weight is 0; the message says which entry and what to write.
    """
    weights = dict.fromkeys(OPERATIONS, 0.0)
    named: set[str] = set()
    if not text.strip():
        raise ValueError(f"the mix is empty; write it like {DEFAULT_MIX!r}")
    for entry in text.split(","):
        name, equals, value = (part.strip() for part in entry.partition("="))
        if not equals or not name or not value:
            raise ValueError(f"{entry.strip()!r} is not name=weight; write the mix like {DEFAULT_MIX!r}")
        if name not in weights:
            raise ValueError(f"unknown operation {name!r}; the operations are {', '.join(OPERATIONS)}")
        if name in named:
            raise ValueError(f"{name!r} is given twice; give each operation once")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"the weight of {name!r} must be a number, got {value!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"the weight of {name!r} must be a finite number at least 0, got {value!r}")
        named.add(name)
        weights[name] = weight
    if not any(weights.values()):
        raise ValueError("every weight is 0; give at least one operation a weight above 0")
    return weights


# Latency percentiles.


def percentile(sorted_values: Sequence[float], percent: float) -> float:
    """Return the nearest-rank percentile of values sorted in ascending order.

    That is the smallest value such that at least `percent` % of the values are at most it: the value at rank
    ceil(percent / 100 * n), counting from 1 (rank 1 for percent 0). It is always one of the values, never an
    interpolation between two, so a p99 is a latency some request really had. The rank is computed in exact
    decimal arithmetic, so p99.9 of 1000 values is the 999th, not the 1000th.

    >>> values = [15, 20, 35, 40, 50]
    >>> [percentile(values, p) for p in (5, 30, 40, 50, 100)]
    [15, 20, 20, 35, 50]

    Raises:
        ValueError: `sorted_values` is empty, or `percent` is outside [0, 100].
    """
    if not sorted_values:
        raise ValueError("no values to take a percentile of")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be in [0, 100], got {percent}")
    # Fraction(str(...)) reads 99.9 as 999/10 exactly; the float 99.9 is a little above it and would round up.
    rank = math.ceil(Fraction(str(percent)) * len(sorted_values) / 100)
    return sorted_values[max(rank, 1) - 1]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency percentiles in milliseconds, rounded to the microsecond; `percentiles` maps 50 to p50 and so on."""

    percentiles: Mapping[int, float]
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "LatencySummary | None":
        """Summarise latencies given in seconds, in any order; None when there are none."""
        if not seconds:
            return None
        ordered = sorted(seconds)
        return cls(
            {p: _milliseconds(percentile(ordered, p)) for p in PERCENTILES},
            _milliseconds(ordered[-1]),
        )


def _milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 3)


# Generated documents.
#
# Articles come from a small phrase grammar: a sentence is an optional opening, a core clause and an optional
# tail, with slots for the story's people, organisations, places and numbers, and wording alternatives written
# [like|as|this]. An original picks one wording per alternative; a rewrite re-picks them, so it says the same
# things (same names, same figures, same order) in other words, as a rewrite does. The grammar has thousands of
# sentence shapes, so that independent articles share words but not runs of sentences.


def _phrases(text: str) -> tuple[str, ...]:
    """Return the phrases of a "|"-separated list: long vocabularies stay a few lines long."""
    return tuple(text.split("|"))


_FIRST_NAMES: Final = _phrases(
    "Amara|Anders|Beatriz|Carlos|Chen|Dalia|Daniel|Elena|Emeka|Farah|Fatima|Gabriel|Grace|Hannah|Hiroshi|Ines|"
    "Ivan|James|Jana|Joaquin|Kofi|Laila|Leon|Lucia|Malik|Maria|Mateo|Mei|Miriam|Nadia|Nikolai|Noor|Olga|Omar|"
    "Pablo|Priya|Rafael|Rania|Ruth|Samir|Sara|Sean|Sofia|Tariq|Tomas|Uma|Victor|Wanjiru|Yara|Yusuf|Zofia|Anika|"
    "Bruno|Chiara|Dmitri|Esther|Felix|Greta|Henrik"
)
_LAST_NAMES: Final = _phrases(
    "Abebe|Alvarez|Andersen|Bakker|Banda|Becker|Bianchi|Castillo|Chowdhury|Costa|Dubois|Eriksen|Fernandes|Fischer|"
    "Garcia|Gonzaga|Haddad|Hansen|Horvat|Ibrahim|Ito|Jansen|Kaminski|Kariuki|Kowalski|Kruger|Laine|Larsen|"
    "Lindqvist|Lopez|Mahlangu|Marino|Mendes|Moreau|Mwangi|Nakamura|Navarro|Nielsen|Novak|Nowak|Okafor|Okonkwo|"
    "Olsen|Ortega|Petrov|Pereira|Quinn|Rahman|Reyes|Ricci|Rossi|Santos|Schmidt|Silva|Sorensen|Suzuki|Tanaka|"
    "Teixeira|Torres|Varga|Vasquez|Virtanen|Wagner|Weber|Wojcik|Yilmaz|Zaman|Zhou|Zielinski|Asante|Boateng|"
    "Cardoso|Demir|Ekstrom|Ferreira|Gallagher|Hoffmann|Iversen"
)
_ROLES: Final = _phrases(
    "chief executive|finance minister|mayor|spokeswoman|spokesman|chief economist|union leader|project director|"
    "regional governor|board chairman|transport minister|health commissioner|city treasurer|planning officer|"
    "opposition leader|senior analyst|environment minister|port director|council leader|housing secretary|"
    "operations manager|deputy mayor|trade representative|chief engineer|procurement director"
)
_CITIES: Final = _phrases(
    "Lisbon|Rotterdam|Gdansk|Mombasa|Valparaiso|Durban|Halifax|Bergen|Tampere|Porto|Cork|Aarhus|Brno|Ljubljana|"
    "Split|Tbilisi|Izmir|Haifa|Kochi|Chennai|Cebu|Surabaya|Darwin|Hobart|Dunedin|Recife|Cordoba|Rosario|Monterrey|"
    "Tacoma|Duluth|Savannah|Winnipeg|Leeds|Glasgow|Cardiff|Lyon|Bordeaux|Genoa|Bari|Seville|Bilbao|Graz|Basel|"
    "Antwerp|Malmo|Turku|Tallinn|Riga|Vilnius|Krakow|Plovdiv|Constanta|Thessaloniki|Alexandria|Tangier|Accra|"
    "Kumasi|Arusha|Windhoek"
)
_ORGANISATION_NAMES: Final = _phrases(
    "Northgate|Bellmore|Riverside|Crestfield|Harlow|Kestrel|Meridian|Oakridge|Pinecrest|Stonebridge|Westbury|"
    "Ashford|Fairhaven|Granton|Larkspur|Millbrook|Redcliff|Silverlake|Thornbury|Whitmore|Aldergrove|Blackwater|"
    "Castlereagh|Dunmore|Elmstead|Foxhollow|Greystone|Hawthorne|Ironbridge|Juniper|Kingsmere|Lowther|Marchmont|"
    "Newhaven|Orchard|Portland|Queensway|Rosebank|Summit|Tidewater"
)
_ORGANISATION_KINDS: Final = _phrases(
    "Holdings|Transport Authority|Energy|Mining|Port Authority|Water Board|Health Trust|Construction Group|Bank|"
    "Shipping Lines|Telecom|Steelworks|Farmers Union|Teachers Federation|Chamber of Commerce|Development Agency|"
    "Railways|Insurance|Logistics|Housing Association"
)
_TOPIC_MODIFIERS: Final = _phrases(
    "new|proposed|regional|municipal|coastal|northern|southern|eastern|western|national|long-delayed|disputed|"
    "flagship|cross-border|underground"
)
_TOPIC_NOUNS: Final = _phrases(
    "ferry terminal|rail link|water treatment plant|hospital wing|school meals programme|wind farm|bridge repair|"
    "tram extension|housing scheme|tax rebate|airport runway|flood barrier|fishing quota|broadband network|"
    "vaccination drive|steel mill|cocoa levy|copper mine|pension reform|fuel subsidy|pay settlement|"
    "library network|bus network|recycling contract|harbour dredging|data centre|grain terminal|border crossing|"
    "solar park|dairy cooperative|ring road|desalination plant|cable car|bypass tunnel|cycle lane network|"
    "court building|stadium renovation|port expansion|land registry|irrigation canal|power line|gas pipeline|"
    "container depot|market hall|sewage works|police station|university campus|ambulance service|toll road|"
    "rent cap"
)
_GROUPS: Final = _phrases(
    "residents|farmers|commuters|small businesses|nurses|teachers|fishermen|students|pensioners|shop owners|"
    "truck drivers|dock workers|tenants|parents|taxi drivers|miners|bank customers|landlords|researchers|"
    "volunteers|bus drivers|hotel owners|factory workers|local traders|cyclists|doctors|growers|port workers"
)
_ADJECTIVES: Final = _phrases(
    "independent|detailed|critical|lengthy|unexpected|damning|cautious|thorough|rushed|hasty|modest|severe|"
    "significant|serious|persistent|costly|surprising|worrying|stubborn|sharp"
)
# (base form, past tense) of the verbs that act on a topic.
_VERBS: Final = tuple(
    (base, past)
    for base, past in (
        pair.split("/")
        for pair in _phrases(
            "approve/approved|delay/delayed|expand/expanded|review/reviewed|suspend/suspended|fund/funded|"
            "cancel/cancelled|extend/extended|reject/rejected|back/backed|block/blocked|launch/launched|"
            "revise/revised|postpone/postponed|defend/defended|criticise/criticised|investigate/investigated|"
            "overhaul/overhauled|scrap/scrapped|restore/restored|upgrade/upgraded|audit/audited|endorse/endorsed|"
            "challenge/challenged|finance/financed|redesign/redesigned|halt/halted"
        )
    )
)
_DAYS: Final = _phrases("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday")
_MONTHS: Final = _phrases("January|February|March|April|May|June|July|August|September|October|November|December")
_AGENCIES: Final = ("Harbour Wire", "Continental Press", "Meridian News", "Northern Press Agency", "Coastline Media")

# Slots: P a person's full name, L a last name, R a role, O and O2 organisations, C and C2 cities, T the story's
# topic, U a topic (often the story's), G a group, A an adjective, V a past-tense verb, B its base form, D a
# weekday, M a month, Y a year, N a count, N2 a small count, PC a percentage, MO an amount of money, Ag the agency.
_OPENINGS: Final = (
    "On {D},",
    "[Earlier|Late] [this year|last year],",
    "In {M},",
    "[Last week|This week|Last month],",
    "According to {O2},",
    "In a [statement|press release] on {D},",
    "[Despite|In spite of] {A} [opposition|criticism],",
    "After {N2} months of [talks|negotiations|wrangling],",
    "For the [first|second|third] time since {Y},",
    "[Meanwhile|Separately|Elsewhere],",
    "By the end of {M},",
    "[Until|As recently as] {Y},",
)
# A clause is a subject and a predicate, any with any (predicates are in the past tense, so they agree with every
# subject), or one of the clauses that stand alone.
_SUBJECTS: Final = (
    "{P}, the {R} [of|at] {O},",
    "{L}",
    "{O}",
    "[officials|authorities|administrators] in {C}",
    "the {R}",
    "[some|many] {G} in {C}",
    "[analysts|economists|experts] at {O2}",
    "the [council|assembly|board] in {C}",
    "[inspectors|auditors|engineers] from {O2}",
    "[critics|opponents], [among them|including] {P} of {O2},",
    "[lawyers|attorneys|advisers] for {G}",
    "a [spokeswoman|spokesman|representative] for {O}",
    "the [government|ministry|cabinet]",
    "[campaigners|activists|environmental groups]",
    "the [union|federation|association] representing {G}",
    "{P}, a {R} who has [followed|tracked] the [case|dispute] [closely|carefully],",
)
_PREDICATES: Final = (
    "{V} {U}",
    "[said|stated|told reporters] that {U} would [cost|require] [about|around|roughly] {MO}",
    "[argued|claimed|insisted] that {U} was {V} without [proper|adequate] [consultation|debate|scrutiny]",
    "[warned|cautioned|feared] that {U} could [threaten|endanger|harm|damage] [wetlands|farmland|fisheries|jobs|"
    "tourism|water supplies|house prices] [near|around|in] {C}",
    "[declined|refused] to [comment on|say] whether {O} would {B} {U}",
    "[promised|pledged|vowed] to {B} {U}",
    "[said|noted|added] that {N} {G} [had been|were] [affected|hit|hurt]",
    "[called|described] the [outcome|result|decision] {A}",
    "[blamed|faulted|criticised] {O2} for the [delays|overruns|confusion]",
    "[threatened|vowed] to [strike|walk out|stage protests] over {U}",
    "[received|logged|recorded] {N} [complaints|objections|grievances] about {U}",
    "[recommended|advised|urged] that {U} be {V}",
    "[estimated|calculated|reckoned] that {U} [would|could|might] [add|contribute] {PC} to [the regional economy|local "
    "output|annual growth|tax revenue|exports from {C}]",
    "[signed|backed|endorsed] a [petition|letter|motion] [against|opposing] {U}",
    "[did not respond to|ignored|turned down] [requests|queries|calls] from {Ag} [about|regarding] {U}",
    "[presented|submitted|published] [revised|updated|new] [figures|estimates|plans] for {U}",
    "[said|insisted] the [decision|move|ruling] would [hurt|harm|damage] {G} [across|throughout] {C}",
    "[met|held talks with|sat down with] {O2} [to discuss|over|about] {U} [on {D}|in {C2}|last week|in {M}]",
    "[questioned|challenged|disputed] the [cost|timing|need] of {U}",
    "[welcomed|praised|applauded] the [decision|vote|announcement] on {U}",
    "[spent|set aside|earmarked] {MO} [on|for] {U}",
    "[asked|urged|called on] {O2} to {B} {U}",
)
_CLAUSES: Final = (
    "shares in {O} [rose|climbed|jumped] {PC} in [early|morning] trading",
    "[figures|data|statistics] [published|released] by {O2} [showed|indicated|revealed] that {N} {G} [had been|were] "
    "[affected|hit|hurt]",
    "the [plan|proposal|scheme] would also {B} {U}",
    "[turnout|attendance] at the [public hearing|town hall meeting] on {U} in {C} [was|had been] the "
    "[highest|largest|biggest] in {N2} years, with {N} {G} [present|attending]",
    "{G} would [receive|get|be paid] {MO} in [compensation|payments|damages]",
    "{O} [employs|has] [about|around|roughly] {N} [people|staff|workers] in the [region|area|province]",
    "[costs|prices|bills|rents|fees] for {G} [in|across] {C} have [risen|climbed|gone up] {PC} since {U} was {V}",
    "a [poll|survey] by {O2} [found|showed|suggested] that {PC} of {G} [supported|backed|favoured] {U}",
    "it was not [immediately|yet] [clear|known] how {O} [planned|intended|hoped] to [pay for|fund|finance] {U} "
    "[after|following] {N2} [years|months] of [losses|overruns|delays]",
    "[the previous|an earlier|the last] [attempt|effort|bid] to {B} {U} [collapsed|failed|fell apart]",
    "[traffic|transport] in central {C} was [disrupted|snarled|brought to a halt] as {G} [marched|protested|rallied]",
    "[documents|papers|records] [seen by|obtained by|shown to] {Ag} [show|suggest|indicate] that {O} had "
    "[warned|known] about [rising|growing|mounting] [costs|delays|problems]",
    "[supporters|backers|advocates] say {U} will [create|generate|bring] {N} jobs",
    "{C} has [struggled|wrestled|coped] with [shortages|delays|rising costs|falling revenue] since {Y}",
    "[talks|negotiations|discussions] [between|involving] {O} and {O2} are [expected|due|set] to "
    "[resume|restart|continue] [next week|next month|on {D}|in {M}|later this year]",
    "the [council|assembly|board] [will|is due to|is set to] vote on {U} [next week|on {D}|in {M}|before {M}]",
    "{O} [posted|reported|recorded] a [loss|profit] of {MO} for {Y}",
    "[work|construction|progress] on {U} has been {V} [repeatedly|several times|twice] since {Y}",
    "{N} {G} [have signed up|have registered|have applied] for the [programme|scheme|plan] so far",
)
_LEDE: Final = (
    "{P}, the {R} [of|at] {O}, [said|stated|told reporters] that {T} would [cost|require] [about|around|roughly] {MO}"
)
_TAILS: Final = (
    "by {M} {Y}",
    "[despite|in spite of] {A} [costs|objections|delays]",
    "[after|following] {N} {G} [complained|objected|protested]",
    "[citing|pointing to|blaming] {A} [demand|weather|costs|regulation]",
    "in {C2}",
    "before the {M} deadline",
    "over the next {N2} years",
    "at a cost of {MO}",
    "according to {L}",
    "on {D}",
    ", a [move|step] that {G} have [long|repeatedly] [opposed|resisted]",
    "as part of a {MO} [recovery|investment|spending] [package|plan]",
    ", which [would|could] [affect|hit] [about|around] {N} {G}",
    "for the [first|second] time in {N2} years",
    "[while|as] {G} in {C2} [waited|watched|looked on]",
    "[amid|during] a [row|dispute|standoff] with {O2}",
    ", [officials|analysts|organisers] [said|estimated|reported]",
    "with [little|no|limited] [warning|notice|explanation]",
    "[ahead of|before] [elections|the budget|a vote] in {M}",
)
_QUOTES: Final = (
    '"[We|Our team] [looked at|examined|studied] every [option|alternative] for {U}, and this is the one that '
    '[protects|helps|serves] {G} in {C}," {L} [said|added]',
    '"Nobody [asked|consulted] {G} in {C} what they [wanted|needed] from {U}," said {P}, who has [lived|worked] there '
    "for {N2} years",
    '"This is [a good day|a turning point|a big step] for {G} and for {O}," {L} [said|told reporters] on {D}',
    '"[We will|We intend to] keep [fighting|pushing|campaigning] until {U} is {V}," said {P} of {O2}',
    '"The [numbers|figures|sums] for {U} simply do not add up," {L} [said|insisted], pointing to {MO} in '
    "[overruns|extra costs]",
)
_HEADLINES: Final = (
    "{C} to {B} {Tn} [despite|amid] protests",
    "{O} {V} {Tn}, [citing|blaming] costs",
    "{Gc} in {C} [split|divided] over {Tn}",
    "{Tn} [faces|hit by] new delay in {C}",
    "{O} under [pressure|fire] over {Tn}",
    "Vote on {Tn} set for {M}",
)
_CREDIT_LINES: Final = (
    "This article was first published by {Ag}.",
    "Additional reporting by {P}.",
    "{Ag} contributed reporting from {C}.",
)
_SLOT: Final = re.compile(r"\{(\w+)\}")
_ALTERNATIVES: Final = re.compile(r"\[([^\[\]]*)\]")
_CHOSEN: Final = "*"  # marks the chosen wording of an alternative; no wording starts with it


def _rng(*key: object) -> random.Random:
    # A string seed is hashed with SHA-512, so the same key gives the same numbers on every platform and run,
    # whatever PYTHONHASHSEED is.
    return random.Random("/".join(map(str, key)))  # noqa: S311 -- test data, not a secret


@dataclass(frozen=True, slots=True)
class _Story:
    """Who and what one generated article is about; its sentences keep coming back to these."""

    people: tuple[tuple[str, str], ...]  # (full name, role)
    organisations: tuple[str, ...]
    cities: tuple[str, ...]
    topic: str
    agency: str

    @classmethod
    def draw(cls, rng: random.Random) -> "_Story":
        people = tuple((f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}", rng.choice(_ROLES)) for _ in range(3))
        names = rng.sample(_ORGANISATION_NAMES, 2)
        organisations = tuple(f"{name} {rng.choice(_ORGANISATION_KINDS)}" for name in names)
        return cls(people, organisations, tuple(rng.sample(_CITIES, 2)), _topic(rng), rng.choice(_AGENCIES))


def _topic(rng: random.Random) -> str:
    return f"the {rng.choice(_TOPIC_MODIFIERS)} {rng.choice(_TOPIC_NOUNS)}"


def _fill(template: str, story: _Story, rng: random.Random) -> str:
    """Put the story's names and fresh figures into a template's slots; wording alternatives stay for later."""
    verb = rng.choice(_VERBS)
    full_name, role = rng.choice(story.people)
    last_name = full_name.split()[-1]
    values: dict[str, Callable[[], str]] = {
        # Names and figures come with the other ways a writer refers to them, for rewrites to choose from.
        "P": lambda: f"[{full_name}|{last_name}]",
        "L": lambda: last_name,
        "R": lambda: role,
        "O": lambda: _organisation(story.organisations[0]),
        "O2": lambda: _organisation(story.organisations[1]),
        "C": lambda: story.cities[0],
        "C2": lambda: story.cities[1],
        "T": lambda: _topic_mention(story.topic),
        "Tn": lambda: story.topic.removeprefix("the "),
        "U": lambda: _topic_mention(story.topic if rng.random() < 0.5 else _topic(rng)),
        "G": lambda: rng.choice(_GROUPS),
        "Gc": lambda: rng.choice(_GROUPS).capitalize(),
        "A": lambda: rng.choice(_ADJECTIVES),
        "V": lambda: verb[1],
        "B": lambda: verb[0],
        "D": lambda: rng.choice(_DAYS),
        "M": lambda: rng.choice(_MONTHS),
        "Y": lambda: str(rng.randint(2008, 2031)),
        "N": lambda: f"{rng.randint(12, 98_000):,}",
        "N2": lambda: str(rng.randint(2, 30)),
        "PC": lambda: (lambda x: f"[{x} percent|{x} per cent|{x}%]")(f"{rng.uniform(0.5, 45):.1f}"),
        "MO": lambda: _money(rng),
        "Ag": lambda: story.agency,
    }
    return _SLOT.sub(lambda match: values[match.group(1)](), template)


def _organisation(name: str) -> str:
    return f"[{name}|{name.split()[0]}]"


def _topic_mention(topic: str) -> str:
    # "the regional tax rebate", "the tax rebate", "the rebate"
    words = topic.split()
    return "[" + "|".join(dict.fromkeys([topic, " ".join(["the", *words[2:]]), f"the {words[-1]}"])) + "]"


def _money(rng: random.Random) -> str:
    amount, unit = f"{rng.uniform(1.2, 950):.1f}", rng.choice(("million", "million", "billion"))
    return f"[${amount} {unit}|{amount} {unit} dollars]"


def _sentence_plan(story: _Story, rng: random.Random, clause: str | None = None) -> str:
    """Return a sentence with its slots filled and its wording alternatives still open."""
    if clause is None:
        kind = rng.random()
        if kind < 0.06:
            return _fill(rng.choice(_QUOTES), story, rng) + "."
        # Subject-predicate clauses most of the time; the clauses that stand alone are fewer and recur more.
        clause = rng.choice(_CLAUSES) if kind < 0.18 else f"{rng.choice(_SUBJECTS)} {rng.choice(_PREDICATES)}"
    opening = _fill(rng.choice(_OPENINGS), story, rng) + " " if rng.random() < 0.4 else ""
    tail = _fill(rng.choice(_TAILS), story, rng) if rng.random() < 0.75 else ""
    text = opening + _fill(clause, story, rng)
    if tail:
        text += tail if tail.startswith(",") else f" {tail}"
    return text + "."


def _word(plan: str, rng: random.Random, change: float = 1.0) -> str:
    """Choose a wording for the alternatives of a plan, marking it ``[like|*this]``.

    An alternative already chosen keeps its wording, except that a `change` share of them get another one.
    """

    def choose(match: re.Match[str]) -> str:
        options = match.group(1).split("|")
        chosen = next((option for option in options if option.startswith(_CHOSEN)), None)
        options = [option.removeprefix(_CHOSEN) for option in options]
        if chosen is None or (len(options) > 1 and rng.random() < change):
            chosen = rng.choice([option for option in options if _CHOSEN + option != chosen])
        else:
            chosen = chosen.removeprefix(_CHOSEN)
        return "[" + "|".join(_CHOSEN + option if option == chosen else option for option in options) + "]"

    return _ALTERNATIVES.sub(choose, plan)


def _render(worded: str) -> str:
    """Return a worded plan as plain text: each alternative becomes its chosen wording."""

    def chosen(match: re.Match[str]) -> str:
        options = match.group(1).split("|")
        return next(option for option in options if option.startswith(_CHOSEN)).removeprefix(_CHOSEN)

    text = _ALTERNATIVES.sub(chosen, worded)
    return text[0].upper() + text[1:]


@dataclass(frozen=True, slots=True)
class GeneratedDocument:
    """One generated news article.

    Attributes:
        index: Its number in the run; the same seed and index give the same document.
        id: `id_prefix` followed by the index.
        kind: "original", or how it derives from document `source_index`: "duplicate" (a near-verbatim copy),
            "excerpt" (a run of the source's sentences inside other text) or "rewrite" (the source reworded).
        source_index: The index of the document it derives from; None for an original.
        headline: The first line.
        sentences: The body, each sentence with its wording alternatives and the chosen one, ``[like|*this]``.
        text: Headline, dateline and body, in paragraphs of one to three sentences.
    """

    index: int
    id: str
    kind: str
    source_index: int | None
    headline: str
    sentences: tuple[str, ...]
    text: str

    def to_proto(self) -> document_pb2.Document:
        return make_document(self.id, self.text, title=self.headline)


class DocumentGenerator:
    """Deterministic news-sized articles (a few hundred words), a share of them copies of earlier ones.

    Document `i` depends only on the seed and `i`: about `copy_share` of the documents are a duplicate, an
    excerpt or a rewrite of one of the `source_window` documents before them (which may itself be a copy, so
    chains form), the others are original stories. Thread-safe.

    >>> generator = DocumentGenerator(seed=7, id_prefix="run1-")
    >>> generator.document(12).id, generator.document(12) == DocumentGenerator(seed=7, id_prefix="run1-").document(12)
    ('run1-00000012', True)
    """

    def __init__(
        self, seed: int, id_prefix: str = "", *, copy_share: float = DEFAULT_COPY_SHARE, source_window: int = 200
    ) -> None:
        if not 0 <= copy_share <= 1:
            raise ValueError(f"copy_share must be in [0, 1], got {copy_share}")
        self.seed = seed
        self.id_prefix = id_prefix
        self.copy_share = copy_share
        self.source_window = max(source_window, 1)
        self._cache: OrderedDict[int, GeneratedDocument] = OrderedDict()
        self._lock = threading.Lock()

    def plan(self, index: int) -> tuple[str, int | None]:
        """Return (kind, source index) of document `index`, without generating any text."""
        if index < 0:
            raise ValueError(f"document indexes start at 0, got {index}")
        rng = _rng(self.seed, "plan", index)
        if index == 0 or rng.random() >= self.copy_share:
            return "original", None
        kind = rng.choices(("duplicate", "excerpt", "rewrite"), (1, 2, 2))[0]
        return kind, rng.randrange(max(0, index - self.source_window), index)

    def document(self, index: int) -> GeneratedDocument:
        with self._lock:
            cached = self._cache.get(index)
            if cached is not None:
                self._cache.move_to_end(index)
                return cached
            # A copy needs its source: walk down to a cached or original document, then build back up.
            chain = [index]
            while True:
                _, source = self.plan(chain[-1])
                if source is None or source in self._cache:
                    break
                chain.append(source)
            generated: dict[int, GeneratedDocument] = {}
            for step in reversed(chain):
                _, source = self.plan(step)
                source_document = None if source is None else generated.get(source) or self._cache[source]
                generated[step] = self._generate(step, source_document)
                self._remember(generated[step])
            return generated[index]

    def documents(self, indexes: Iterable[int]) -> list[GeneratedDocument]:
        return [self.document(index) for index in indexes]

    def derived_text(self, index: int, rng: random.Random) -> str:
        """Return a new excerpt or rewrite of document `index`, for queries by text and comparisons."""
        source = self.document(index)
        headline, sentences = _derive(rng.choice(("excerpt", "rewrite")), source, _Story.draw(rng), rng)
        return _layout(headline, _dateline(_Story.draw(rng), rng), sentences, rng)

    def _remember(self, document: GeneratedDocument) -> None:
        self._cache[document.index] = document
        while len(self._cache) > _CACHED_DOCUMENTS:
            self._cache.popitem(last=False)

    def _generate(self, index: int, source: GeneratedDocument | None) -> GeneratedDocument:
        kind, source_index = self.plan(index)
        rng = _rng(self.seed, "text", index)
        story = _Story.draw(rng)
        if source is None:
            headline, sentences = _original(story, rng)
        else:
            headline, sentences = _derive(kind, source, story, rng)
        return GeneratedDocument(
            index=index,
            id=f"{self.id_prefix}{index:08d}",
            kind=kind,
            source_index=source_index,
            headline=headline,
            sentences=sentences,
            text=_layout(headline, _dateline(story, rng), sentences, rng),
        )


def _original(story: _Story, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    headline = _render(_word(_fill(rng.choice(_HEADLINES), story, rng), rng))
    # The first sentence says what the story is about, as a lede does.
    sentences = [_word(_sentence_plan(story, rng, clause=_LEDE), rng)]
    sentences += [_word(_sentence_plan(story, rng), rng) for _ in range(rng.randint(14, 26))]
    return headline, tuple(sentences)


def _derive(kind: str, source: GeneratedDocument, story: _Story, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    """Return (headline, sentences) of a copy of `source`; `story` supplies what the copier adds around it."""
    new_headline = _render(_word(_fill(rng.choice(_HEADLINES), story, rng), rng))
    sentences = list(source.sentences)
    if kind == "duplicate":
        # A syndicated copy: the same body, perhaps a new headline, a sentence cut, a credit line added.
        if len(sentences) > 10 and rng.random() < 0.5:
            del sentences[rng.randrange(1, len(sentences))]
        if rng.random() < 0.5:
            sentences.append(_word(_fill(rng.choice(_CREDIT_LINES), story, rng), rng))
        return (source.headline if rng.random() < 0.5 else new_headline), tuple(sentences)
    if kind == "excerpt":
        # A run of the source's sentences, verbatim, with the copier's own sentences before and after.
        length = min(len(sentences), max(3, round(len(sentences) * rng.uniform(0.3, 0.6))))
        start = rng.randrange(0, len(sentences) - length + 1)
        before = [_word(_sentence_plan(story, rng), rng) for _ in range(rng.randint(2, 5))]
        after = [_word(_sentence_plan(story, rng), rng) for _ in range(rng.randint(1, 4))]
        return new_headline, (*before, *sentences[start : start + length], *after)
    if kind == "rewrite":
        # The source's facts in the source's order, reworded; a few sentences dropped, a few of its own added.
        rewritten: list[str] = []
        for sentence in sentences:
            if rng.random() < 0.1:
                continue
            rewritten.append(_word(sentence, rng, change=0.9))
            if rng.random() < 0.08:
                rewritten.append(_word(_sentence_plan(story, rng), rng))
        return new_headline, tuple(rewritten or sentences[:1])
    raise ValueError(f"unknown kind of copy {kind!r}")


def _dateline(story: _Story, rng: random.Random) -> str:
    return f"{story.cities[0].upper()}, {rng.choice(_MONTHS)} {rng.randint(1, 28)} ({story.agency}) - "


def _layout(headline: str, dateline: str, sentences: Sequence[str], rng: random.Random) -> str:
    paragraphs: list[str] = []
    position = 0
    while position < len(sentences):
        size = rng.randint(1, 3)
        paragraphs.append(" ".join(_render(sentence) for sentence in sentences[position : position + size]))
        position += size
    return "\n\n".join([headline, dateline + paragraphs[0], *paragraphs[1:]]) + "\n"


# The run.


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """What one load run sends, how fast, and for how long.

    Attributes:
        mix: The weight of each operation, as `parse_mix` returns it.
        concurrency: Worker threads; each sends one call at a time.
        duration: Seconds to measure for, after the warm-up; None when only `requests` bounds the run.
        requests: Calls to measure, after the warm-up; None when only `duration` bounds the run. With both,
            the run stops at whichever comes first.
        batch_size: Documents per IngestDocuments call.
        rate: Calls per second to start, across all workers, on a fixed schedule (open loop); None sends each
            worker's next call as soon as its last one is answered (closed loop).
        warmup: Seconds of load before measuring starts; calls started in it are not in the figures.
        seed: Seed of the generated documents and of the workers' choices.
        id_prefix: Prefix of the generated documents' ids.
        query_ids: Stored ids to query; empty means the documents this run ingests.
        copy_share: Share of generated documents that copy an earlier one.
    """

    mix: Mapping[str, float]
    concurrency: int = 4
    duration: float | None = 60.0
    requests: int | None = None
    batch_size: int = 16
    rate: float | None = None
    warmup: float = 0.0
    seed: int = 1
    id_prefix: str = "load-"
    query_ids: Sequence[str] = ()
    copy_share: float = DEFAULT_COPY_SHARE

    def __post_init__(self) -> None:
        if self.duration is None and self.requests is None:
            raise ValueError("a load run needs a duration, a number of requests, or both")
        if self.concurrency < 1 or self.batch_size < 1:
            raise ValueError("concurrency and batch_size must be at least 1")
        if (self.duration is not None and self.duration <= 0) or (self.requests is not None and self.requests < 1):
            raise ValueError("duration must be above 0 and requests at least 1")
        if (self.rate is not None and self.rate <= 0) or self.warmup < 0:
            raise ValueError("rate must be above 0 and warmup at least 0")
        if not any(self.mix.get(operation, 0) > 0 for operation in OPERATIONS):
            raise ValueError("the mix gives no operation a weight above 0")


@dataclass(frozen=True, slots=True)
class OperationReport:
    """The figures of one operation, or of all of them (operation "total").

    `count` is every measured call, answered OK or not; `requests_per_second` divides it by the measured
    seconds. `documents` counts documents that measured ingest calls stored or found already stored (not the
    rejected ones). Latencies are of the calls answered OK, so that fast refusals cannot flatter them.
    """

    operation: str
    count: int
    ok: int
    requests_per_second: float
    documents: int
    documents_per_second: float
    latency: LatencySummary | None

    @property
    def non_ok(self) -> int:
        return self.count - self.ok


@dataclass(frozen=True, slots=True)
class StatusReport:
    """How many times one operation ended with one status code (or one rejected document had it)."""

    operation: str
    code: str
    count: int
    example: str


@dataclass(frozen=True, slots=True)
class MemorySample:
    """The server's memory at one moment (GetStats): its processes' resident bytes, the indexes' share, documents."""

    seconds: float  # since measuring began
    resident_bytes: int
    index_bytes: int
    documents: int


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load run measured.

    Attributes:
        config: What was asked for.
        target: The server.
        seconds: The measured time: from the end of the warm-up to the last measured answer.
        interrupted_by: What stopped the run early ("Ctrl-C", or a signal's name such as "SIGTERM"), or None when
            it ran its course; the figures of a run stopped early cover what was done until then.
        operations: One entry per operation that had calls or weight, in `OPERATIONS` order.
        total: All operations together.
        statuses: Every non-OK status code, by operation, most frequent first.
        rejected_documents: Documents that ingest calls answered OK but rejected, by status code.
        ingest_results: Measured ingest results by status ("created", "unchanged", "replaced", "rejected").
        warmup_calls: Calls started during the warm-up (not in the figures).
        warmup_statuses: Non-OK statuses of those calls; they still make the run fail.
        start_lag: With a rate, how late calls started against their schedule (because every worker was
            busy), in ms, as a latency summary; None in closed loop.
        memory: The server's memory as GetStats reported it when measuring began, every MEMORY_SAMPLE_SECONDS
            after, and at the end; empty when it could not be asked.
        memory_error: Why the server's memory is missing (GetStats failed, or the server does not report it).
    """

    config: LoadConfig
    target: str
    seconds: float
    interrupted_by: str | None
    operations: Sequence[OperationReport]
    total: OperationReport
    statuses: Sequence[StatusReport]
    rejected_documents: Sequence[StatusReport]
    ingest_results: Mapping[str, int]
    warmup_calls: int
    warmup_statuses: Sequence[StatusReport]
    start_lag: LatencySummary | None
    memory: Sequence[MemorySample] = ()
    memory_error: str | None = None

    @property
    def all_ok(self) -> bool:
        return not (self.statuses or self.rejected_documents or self.warmup_statuses)

    @property
    def interrupted(self) -> bool:
        return self.interrupted_by is not None


class _MemorySampler:
    """Asks the server for its memory now and then, over a channel of its own, until asking fails once."""

    def __init__(self, client: DedupClient, measure_from: float) -> None:
        self._client = client
        self._measure_from = measure_from
        self.samples: list[MemorySample] = []
        self.error: str | None = None

    def due(self, now: float) -> bool:
        if self.error is not None or now < self._measure_from:
            return False
        return not self.samples or now - self._measure_from >= self.samples[-1].seconds + MEMORY_SAMPLE_SECONDS

    def sample(self) -> None:
        if self.error is not None:
            return
        try:
            stats = self._client.stats()
        except DedupClientError as error:
            self.error = f"GetStats failed: {error}"
            return
        if not stats.resident_bytes:
            self.error = "the server does not report its memory (GetStats resident_bytes is 0)"
            return
        self.samples.append(
            MemorySample(
                round(time.perf_counter() - self._measure_from, 3),
                stats.resident_bytes,
                stats.index_bytes,
                stats.document_count,
            )
        )

    def close(self) -> None:
        self._client.close()


@dataclass(slots=True)
class _Tally:
    count: int = 0
    ok: int = 0
    documents: int = 0
    # Every latency, in seconds, as C doubles: 8 bytes a call, 2.9 MB for an hour at 100 calls a second.
    latencies: "array[float]" = field(default_factory=lambda: array("d"))


@dataclass(slots=True)
class _StatusTally:
    count: int
    example: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one call returned: the documents it stored and the documents it rejected (ingest only)."""

    stored_ids: Sequence[str] = ()
    stored_indexes: Sequence[int] = ()
    rejected: Sequence[dedup_service_pb2.IngestResult] = ()
    ingest_statuses: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Progress:
    """What the progress line shows: the answers since it was last drawn, and running totals."""

    answers: int
    latencies: Sequence[float]
    measured: int
    non_ok: int


class _Recorder:
    """Collects every call's result, from all workers, under one lock."""

    def __init__(self, *, open_loop: bool) -> None:
        self._lock = threading.Lock()
        self.tallies: dict[str, _Tally] = {}
        self.statuses: dict[tuple[str, str], _StatusTally] = {}
        self.rejected: dict[str, _StatusTally] = {}
        self.ingest_results: Counter[str] = Counter()
        self.warmup_calls = 0
        self.warmup_statuses: dict[tuple[str, str], _StatusTally] = {}
        self.start_lags: array[float] | None = array("d") if open_loop else None
        self.last_measured_answer: float | None = None
        self._interval_latencies: list[float] = []
        self._interval_answers = 0
        self._non_ok = 0

    def record(
        self,
        operation: str,
        *,
        measured: bool,
        latency: float,
        start_lag: float,
        finished: float,
        error: DedupClientError | None,
        outcome: _Outcome,
    ) -> None:
        with self._lock:
            self._interval_answers += 1
            if error is None:
                self._interval_latencies.append(latency)
            else:
                self._non_ok += 1
            if not measured:
                self.warmup_calls += 1
                if error is not None:
                    _count(self.warmup_statuses, (operation, error.code.name), error.details)
                return
            tally = self.tallies.setdefault(operation, _Tally())
            tally.count += 1
            if self.last_measured_answer is None or finished > self.last_measured_answer:
                self.last_measured_answer = finished
            if self.start_lags is not None:
                self.start_lags.append(start_lag)
            if error is not None:
                _count(self.statuses, (operation, error.code.name), error.details)
                return
            tally.ok += 1
            tally.latencies.append(latency)
            tally.documents += len(outcome.stored_ids)
            self.ingest_results.update(outcome.ingest_statuses)
            for result in outcome.rejected:
                _count(self.rejected, _status_name(result.error_code), f"{result.document_id}: {result.error_message}")

    def take_progress(self) -> _Progress:
        with self._lock:
            progress = _Progress(
                self._interval_answers,
                self._interval_latencies,
                sum(tally.count for tally in self.tallies.values()),
                self._non_ok,
            )
            self._interval_answers, self._interval_latencies = 0, []
            return progress


_K = TypeVar("_K")


def _count(table: dict[_K, _StatusTally], key: _K, example: str) -> None:
    entry = table.get(key)
    if entry is None:
        table[key] = _StatusTally(1, example)
    else:
        entry.count += 1


_STATUS_NAME_BY_NUMBER: Final[Mapping[int, str]] = {code.value[0]: code.name for code in grpc.StatusCode}


def _status_name(number: int) -> str:
    return _STATUS_NAME_BY_NUMBER.get(number, str(number))


class _Schedule:
    """Hands out the start time of every call, and ends the run.

    Closed loop (no rate): a call starts as soon as a worker is free. Open loop: call k starts at
    start + k / rate whoever sends it, so the offered load does not drop when the server slows down.
    """

    def __init__(self, config: LoadConfig, start: float, stop: threading.Event) -> None:
        self._rate = config.rate
        self._start = start
        self.measure_from = start + config.warmup
        self._end = None if config.duration is None else self.measure_from + config.duration
        self._requests = config.requests
        self._stop = stop
        self._lock = threading.Lock()
        self._slots = 0
        self._measured = 0

    def take(self) -> tuple[float, bool] | None:
        """Return (start time, whether the call is measured) of the next call, or None when the run is over."""
        with self._lock:
            if self._stop.is_set():
                return None
            scheduled = time.perf_counter() if self._rate is None else self._start + self._slots / self._rate
            if self._end is not None and scheduled >= self._end:
                return None
            measured = scheduled >= self.measure_from
            if measured:
                if self._requests is not None and self._measured >= self._requests:
                    return None
                self._measured += 1
            self._slots += 1
            return scheduled, measured

    def wait_until(self, moment: float) -> bool:
        """Sleep until `moment`; False when the run was stopped meanwhile."""
        delay = moment - time.perf_counter()
        return not (self._stop.wait(delay) if delay > 0 else self._stop.is_set())


class _ProgressLine:
    """Once a second on stderr: elapsed time, measured calls, current rate, p50/p99 and non-OK count.

    On a terminal it is one line rewritten in place; into a file or a pipe, one line per second.
    """

    def __init__(self, stream: TextIO, start: float, measure_from: float) -> None:
        self._stream = stream
        self._start = start
        self._measure_from = measure_from
        self._last = start
        self._terminal = stream.isatty()
        self._drawn = False

    def draw(self, progress: _Progress, now: float) -> None:
        line = format_progress(
            elapsed=now - self._start,
            warming_up=now < self._measure_from,
            answers=progress.answers,
            seconds=now - self._last,
            latencies=progress.latencies,
            measured=progress.measured,
            non_ok=progress.non_ok,
        )
        self._last = now
        self._stream.write(f"\r{line}\x1b[K" if self._terminal else f"{line}\n")
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._terminal and self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def format_progress(
    *,
    elapsed: float,
    warming_up: bool,
    answers: int,
    seconds: float,
    latencies: Sequence[float],
    measured: int,
    non_ok: int,
) -> str:
    """Return the progress line: latencies are of the OK answers of the last interval, in seconds.

    >>> format_progress(elapsed=3.0, warming_up=False, answers=50, seconds=1.0, latencies=[0.002, 0.004],
    ...                 measured=120, non_ok=0)
    '   3.0 s  requests 120  rate 50.0/s  p50 2.00 ms  p99 4.00 ms  non-OK 0'
    """
    ordered = sorted(latencies)
    p50, p99 = (f"{percentile(ordered, p) * 1000:.2f} ms" if ordered else "-" for p in (50, 99))
    rate = answers / seconds if seconds > 0 else 0.0
    phase = "  (warm-up)" if warming_up else ""
    return f"{elapsed:6.1f} s  requests {measured}  rate {rate:.1f}/s  p50 {p50}  p99 {p99}  non-OK {non_ok}{phase}"


class _LoadRun:
    """One run: the workers, the schedule they share and the recorder they report to."""

    def __init__(self, config: LoadConfig, clients: Sequence[DedupClient]) -> None:
        self.config = config
        self.clients = clients
        self.generator = DocumentGenerator(config.seed, config.id_prefix, copy_share=config.copy_share)
        self.recorder = _Recorder(open_loop=config.rate is not None)
        self.stop = threading.Event()
        self.done = threading.Event()
        self.interrupted_by: str | None = None
        # Set just before the channels are closed: a call that starts after it fails in gRPC, not in the server.
        self.closing = False
        self.failure: BaseException | None = None
        self._operations = [operation for operation in OPERATIONS if config.mix.get(operation, 0) > 0]
        self._weights = [config.mix[operation] for operation in self._operations]
        self._lock = threading.Lock()
        self._targets: list[str] = list(config.query_ids)
        self._ingested_indexes: list[int] = []
        self._next_document = 0
        self._running = config.concurrency
        self.schedule = _Schedule(config, time.perf_counter(), self.stop)

    def work(self, number: int) -> None:
        # Each worker draws its operations from its own seeded generator: the same seed gives every worker
        # the same sequence of choices, though the server's timing decides how they interleave.
        rng = _rng(self.config.seed, "worker", number)
        client = self.clients[number % len(self.clients)]
        try:
            while (slot := self.schedule.take()) is not None:
                scheduled, measured = slot
                # The request is built before its start time, so generating text is not timed as the server's.
                operation, call = self._prepare(rng.choices(self._operations, self._weights)[0], client, rng)
                if not self.schedule.wait_until(scheduled):
                    break
                self._send(operation, call, scheduled=scheduled, measured=measured)
        except BaseException as error:  # a bug here must end the run loudly, not leave a silent worker
            self.failure = error
            self.stop.set()
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self.done.set()

    def _send(self, operation: str, call: Callable[[], _Outcome], *, scheduled: float, measured: bool) -> None:
        started = time.perf_counter()
        error: DedupClientError | None = None
        outcome = _Outcome()
        try:
            outcome = call()
        except DedupClientError as failed:
            error = failed
        except ValueError:
            if self.closing:
                return  # "Cannot invoke RPC on closed channel": started as this run closed its channels
            raise
        finished = time.perf_counter()
        if self.closing and error is not None and error.code == grpc.StatusCode.CANCELLED:
            return  # cancelled by this run when it closed its channels (after Ctrl-C), not by the server
        # In open loop a call's latency runs from its scheduled start: a call that waited for a free worker
        # waited because the server was slow, and leaving that out would hide it (coordinated omission).
        reference = started if self.config.rate is None else scheduled
        self.recorder.record(
            operation,
            measured=measured,
            latency=finished - reference,
            start_lag=max(0.0, started - scheduled),
            finished=finished,
            error=error,
            outcome=outcome,
        )
        if outcome.stored_ids and not self.config.query_ids:
            with self._lock:
                self._targets.extend(outcome.stored_ids)
                self._ingested_indexes.extend(outcome.stored_indexes)

    def _prepare(self, operation: str, client: DedupClient, rng: random.Random) -> tuple[str, Callable[[], _Outcome]]:
        if operation in _NEEDS_TARGET:
            with self._lock:
                target = self._targets[rng.randrange(len(self._targets))] if self._targets else None
            if target is None:
                # Nothing stored yet to ask about: store something first.
                operation = "ingest"
            elif operation == "find":
                return operation, lambda: _answered(client.find_similar(document_id=target))
            elif operation == "provenance":
                return operation, lambda: _answered(client.provenance(target))
            else:
                return operation, lambda: _answered(client.cluster(target))
        if operation == "ingest":
            return operation, self._prepare_ingest(client)
        if operation == "stats":
            return operation, lambda: _answered(client.stats())
        index = self._text_source(rng)
        text = self.generator.derived_text(index, rng)
        if operation == "find-text":
            return operation, lambda: _answered(client.find_similar(text=text))
        original = self.generator.document(index).text
        return operation, lambda: _answered(client.compare(text, original))

    def _prepare_ingest(self, client: DedupClient) -> Callable[[], _Outcome]:
        with self._lock:
            first = self._next_document
            self._next_document += self.config.batch_size
        generated = self.generator.documents(range(first, first + self.config.batch_size))
        index_by_id = {document.id: document.index for document in generated}
        documents = [document.to_proto() for document in generated]

        def call() -> _Outcome:
            results = client.ingest(documents)
            stored = [result for result in results if result.status != dedup_service_pb2.INGEST_STATUS_REJECTED]
            statuses = Counter(
                dedup_service_pb2.IngestStatus.Name(result.status).removeprefix("INGEST_STATUS_").lower()
                for result in results
            )
            return _Outcome(
                stored_ids=[result.document_id for result in stored],
                stored_indexes=[index_by_id[result.document_id] for result in stored],
                rejected=[result for result in results if result.status == dedup_service_pb2.INGEST_STATUS_REJECTED],
                ingest_statuses=statuses,
            )

        return call

    def _text_source(self, rng: random.Random) -> int:
        """Return a generated document to derive a query text from: one this run stored, when there is one."""
        with self._lock:
            if self._ingested_indexes:
                return self._ingested_indexes[rng.randrange(len(self._ingested_indexes))]
        # Before the first ingest, or when querying a store given by --ids-from: the text is new to the server
        # unless an earlier run with the same seed stored it, and a text query does the same work either way.
        return rng.randrange(1000)

    def report(self, target: str, memory: _MemorySampler) -> LoadReport:
        recorder = self.recorder
        measure_from = self.schedule.measure_from
        last = recorder.last_measured_answer
        seconds = round(max(0.0, last - measure_from), 3) if last is not None else 0.0
        shown = [op for op in OPERATIONS if self.config.mix.get(op, 0) > 0 or op in recorder.tallies]
        operations = [_operation_report(op, recorder.tallies.get(op, _Tally()), seconds) for op in shown]
        total = _Tally()
        for tally in recorder.tallies.values():
            total.count += tally.count
            total.ok += tally.ok
            total.documents += tally.documents
            total.latencies.extend(tally.latencies)
        return LoadReport(
            config=self.config,
            target=target,
            seconds=seconds,
            interrupted_by=self.interrupted_by,
            operations=operations,
            total=_operation_report("total", total, seconds),
            statuses=_status_reports(recorder.statuses),
            rejected_documents=_status_reports({("ingest", code): tally for code, tally in recorder.rejected.items()}),
            ingest_results={
                status: recorder.ingest_results.get(status, 0)
                for status in ("created", "unchanged", "replaced", "rejected")
            },
            warmup_calls=recorder.warmup_calls,
            warmup_statuses=_status_reports(recorder.warmup_statuses),
            start_lag=LatencySummary.of(recorder.start_lags) if recorder.start_lags is not None else None,
            memory=tuple(memory.samples),
            memory_error=memory.error,
        )


def _answered(_response: object) -> _Outcome:
    return _Outcome()


def _operation_report(operation: str, tally: _Tally, seconds: float) -> OperationReport:
    def per_second(count: int) -> float:
        return round(count / seconds, 3) if seconds > 0 else 0.0

    return OperationReport(
        operation=operation,
        count=tally.count,
        ok=tally.ok,
        requests_per_second=per_second(tally.count),
        documents=tally.documents,
        documents_per_second=per_second(tally.documents),
        latency=LatencySummary.of(tally.latencies),
    )


def _status_reports(table: Mapping[tuple[str, str], _StatusTally]) -> list[StatusReport]:
    order = {operation: position for position, operation in enumerate(OPERATIONS)}
    reports = [StatusReport(operation, code, tally.count, tally.example) for (operation, code), tally in table.items()]
    return sorted(reports, key=lambda report: (-report.count, order.get(report.operation, 0), report.code))


class StopRequest(KeyboardInterrupt):
    """Stops a run early as Ctrl-C does, naming what asked (raised from a signal handler, such as SIGTERM's).

    A KeyboardInterrupt, so that whatever stops on Ctrl-C stops on it too.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def run_load(
    config: LoadConfig,
    connect: Callable[[], DedupClient],
    *,
    target: str,
    progress: TextIO | None = None,
) -> LoadReport:
    """Run the load `config` describes against the server `connect` reaches, and return what was measured.

    Ctrl-C (KeyboardInterrupt) stops the run early: calls in flight get a moment to finish, and the report
    covers what was done, with `interrupted_by` set. A signal handler that raises `StopRequest` stops it the same way.

    Args:
        config: What to send, how fast and for how long.
        connect: Opens a client (a channel); called once per worker.
        target: The server's address, for the report.
        progress: Where to draw the progress line once a second (stderr); None draws none.
    """
    # One channel per worker. gRPC Python takes a channel's lock (cygrpc's channel-state condition) to start
    # every blocking call and again, with notify_all, to finish it, so workers sharing one channel queue on one
    # lock. Separate channels with the same target and arguments still share one TCP connection (gRPC's global
    # subchannel pool), so the server sees one client either way. Measured on the 2-core development machine
    # against a local server, 3 alternating 8-second rounds, closed loop: with 8 workers on GetProvenance, one
    # shared channel gave 2,205 calls/s (median), a channel per worker 2,759, and a channel per worker on its own
    # connection (grpc.use_local_subchannel_pool) 2,072; with 4 workers on the default query mix, where the
    # server's work dominates, all three gave 103-113 calls/s, within the noise.
    clients = [connect() for _ in range(config.concurrency)]
    run = _LoadRun(config, clients)
    memory = _MemorySampler(connect(), run.schedule.measure_from)
    line = (
        _ProgressLine(progress, run.schedule.measure_from - config.warmup, run.schedule.measure_from)
        if progress
        else None
    )
    threads = [
        threading.Thread(target=run.work, args=(number,), name=f"dedup-load-{number}", daemon=True)
        for number in range(config.concurrency)
    ]
    try:
        for thread in threads:
            thread.start()
        tick = 1
        start = run.schedule.measure_from - config.warmup
        while not run.done.wait(max(0.0, start + tick - time.perf_counter())):
            if line is not None:
                line.draw(run.recorder.take_progress(), time.perf_counter())
            if memory.due(time.perf_counter()):
                memory.sample()
            tick += 1
    except KeyboardInterrupt as interruption:
        run.interrupted_by = interruption.reason if isinstance(interruption, StopRequest) else "Ctrl-C"
        run.stop.set()
        # Calls in flight are answered and counted if the server answers them within the grace time.
        with contextlib.suppress(KeyboardInterrupt):
            run.done.wait(_INTERRUPT_GRACE_SECONDS)
    finally:
        run.stop.set()
        # Closing a channel cancels its calls in flight; a worker stuck in a long call then returns at once.
        run.closing = True
        for client in clients:
            client.close()
        with contextlib.suppress(KeyboardInterrupt):
            run.done.wait(_INTERRUPT_GRACE_SECONDS)
        if line is not None:
            line.finish()
    try:
        if run.failure is None and time.perf_counter() >= run.schedule.measure_from:
            memory.sample()  # at the end, after the last measured answer
    finally:
        memory.close()
    if run.failure is not None:
        raise run.failure
    return run.report(target, memory)


# The report, as text and as JSON.


def report_to_json(report: LoadReport) -> dict[str, object]:
    """Return the report as JSON-ready data: the figures of the text report, plus what the run was asked to do."""
    config = report.config
    return {
        "target": report.target,
        "concurrency": config.concurrency,
        "loop": "closed" if config.rate is None else "open",
        "rate": config.rate,
        "duration_seconds": config.duration,
        "requests": config.requests,
        "warmup_seconds": config.warmup,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "id_prefix": config.id_prefix,
        "mix": {operation: config.mix.get(operation, 0.0) for operation in OPERATIONS},
        "query_ids": len(config.query_ids),
        "seconds": report.seconds,
        "interrupted": report.interrupted,
        "interrupted_by": report.interrupted_by,
        "all_ok": report.all_ok,
        "operations": {entry.operation: _operation_to_json(entry) for entry in report.operations},
        "total": _operation_to_json(report.total),
        "statuses": [_status_to_json(entry) for entry in report.statuses],
        "rejected_documents": [_status_to_json(entry) for entry in report.rejected_documents],
        "ingest_results": dict(report.ingest_results),
        "warmup": {"calls": report.warmup_calls, "statuses": [_status_to_json(e) for e in report.warmup_statuses]},
        "start_lag_ms": _latency_to_json(report.start_lag),
        "server_memory": {
            "samples": [
                {
                    "seconds": sample.seconds,
                    "resident_bytes": sample.resident_bytes,
                    "index_bytes": sample.index_bytes,
                    "documents": sample.documents,
                }
                for sample in report.memory
            ],
            "error": report.memory_error,
        },
    }


def _operation_to_json(entry: OperationReport) -> dict[str, object]:
    return {
        "count": entry.count,
        "ok": entry.ok,
        "non_ok": entry.non_ok,
        "requests_per_second": entry.requests_per_second,
        "documents": entry.documents,
        "documents_per_second": entry.documents_per_second,
        "latency_ms": _latency_to_json(entry.latency),
    }


def _latency_to_json(latency: LatencySummary | None) -> dict[str, float] | None:
    if latency is None:
        return None
    return {**{f"p{p}": value for p, value in latency.percentiles.items()}, "max": latency.max}


def _status_to_json(entry: StatusReport) -> dict[str, object]:
    return {"operation": entry.operation, "code": entry.code, "count": entry.count, "example": entry.example}


_TABLE_HEADER: Final = (
    f"{'operation':<12}{'calls':>9}{'non-OK':>8}{'req/s':>10}{'docs/s':>10}"
    + "".join(f"{f'p{p} ms':>10}" for p in PERCENTILES)
    + f"{'max ms':>10}"
)


def format_report(report: LoadReport) -> str:
    """Return the report as a table for people: one row per operation and a total, then every non-OK status.

    Throughput divides by the measured seconds; docs/s counts the documents ingest calls stored; latencies, in
    milliseconds, are of the calls answered OK (nearest-rank percentiles).
    """
    config = report.config
    loop = "closed loop" if config.rate is None else f"open loop at {config.rate:g} calls/s"
    mix = ",".join(f"{op}={config.mix[op]:g}" for op in OPERATIONS if config.mix.get(op, 0) > 0)
    queried = f", querying {len(config.query_ids)} given ids" if config.query_ids else ""
    lines = [
        f"dedup load against {report.target}: {config.concurrency} workers, {loop}, mix {mix}, "
        f"batch {config.batch_size}, seed {config.seed}{queried}",
    ]
    measured = f"measured {report.seconds:.1f} s"
    if config.warmup > 0:
        measured += f" after a {config.warmup:g} s warm-up ({report.warmup_calls} calls, not counted)"
    if report.interrupted_by is not None:
        measured += f"; interrupted ({report.interrupted_by}): the figures cover the calls answered until then"
    lines += [measured, "", _TABLE_HEADER]
    lines += [_format_row(entry) for entry in (*report.operations, report.total)]
    ingest = next((entry for entry in report.operations if entry.operation == "ingest"), None)
    if ingest is not None and ingest.count:
        counts = ", ".join(f"{count} {status}" for status, count in report.ingest_results.items())
        lines += ["", f"ingested documents: {counts}"]
    if report.start_lag is not None:
        lag = report.start_lag
        lines.append(
            f"start lag behind the schedule: p50 {lag.percentiles[50]:.2f} ms, p99 {lag.percentiles[99]:.2f} ms, "
            f"max {lag.max:.2f} ms (a lag near the latencies means the workers could not keep up: add --concurrency)"
        )
    lines += _memory_lines(report.memory, report.memory_error)
    for title, entries in (
        ("non-OK statuses", report.statuses),
        ("rejected documents (in ingest calls answered OK)", report.rejected_documents),
        ("non-OK statuses during the warm-up", report.warmup_statuses),
    ):
        if entries:
            lines += ["", f"{title}:"]
            lines += [
                f"  {entry.operation:<12}{entry.code:<20}{entry.count:>8}  e.g. {_one_line(entry.example)}"
                for entry in entries
            ]
    failed = sum(entry.count for entry in (*report.statuses, *report.rejected_documents, *report.warmup_statuses))
    lines += ["", "all calls OK" if report.all_ok else f"not OK: {failed} calls or documents failed (see above)"]
    return "\n".join(lines)


def _memory_lines(samples: Sequence[MemorySample], error: str | None) -> list[str]:
    """Say how the server's memory moved over the measured time: from start to end, at most, and by half.

    Growth that is mostly the indexes' (they grow with every stored document) and that slows from the first half
    to the second is what flat looks like while documents are added.
    """
    if not samples:
        return [f"server memory: not known ({error})"] if error else []
    first, last = samples[0], samples[-1]
    lines = [
        f"server memory (GetStats: the server and its workers, resident): {_mib(first.resident_bytes)} when "
        f"measuring began, {_mib(last.resident_bytes)} at the end, {_mib(max(s.resident_bytes for s in samples))} "
        f"at most ({len(samples)} readings)"
    ]
    if len(samples) >= 3:
        middle_time = (first.seconds + last.seconds) / 2
        middle = min(samples[1:-1], key=lambda sample: abs(sample.seconds - middle_time))
        halves = (
            f" ({_signed_mib(middle.resident_bytes - first.resident_bytes)} by {middle.seconds:.0f} s, "
            f"{_signed_mib(last.resident_bytes - middle.resident_bytes)} after)"
        )
    else:
        halves = ""
    lines.append(
        f"  {_signed_mib(last.resident_bytes - first.resident_bytes)}{halves} while {last.documents - first.documents}"
        f" documents were added; of it the indexes {_signed_mib(last.index_bytes - first.index_bytes)}"
    )
    if error:
        lines.append(f"  stopped asking: {error}")
    return lines


def _mib(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


def _signed_mib(count: int) -> str:
    return f"{count / 2**20:+.1f} MiB"


def _format_row(entry: OperationReport) -> str:
    documents = f"{entry.documents_per_second:.1f}" if entry.operation in ("ingest", "total") else "-"
    if entry.latency is None:
        latencies = "".join(f"{'-':>10}" for _ in range(len(PERCENTILES) + 1))
    else:
        values = (*entry.latency.percentiles.values(), entry.latency.max)
        latencies = "".join(f"{value:>10.2f}" for value in values)
    return (
        f"{entry.operation:<12}{entry.count:>9}{entry.non_ok:>8}{entry.requests_per_second:>10.1f}{documents:>10}"
        + latencies
    )


def _one_line(text: str, length: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[:length].rstrip() + "…"
