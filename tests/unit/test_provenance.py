from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain import provenance
from server.domain.model import ClusterMember, DirectionBasis, Link, PairwiseDirection, Relation, Span
from server.domain.provenance import (
    LinksOf,
    best_source,
    cluster_of,
    decide_directions,
    decide_suppression,
    origin_chain,
    provenance_of,
    unsettled,
)
from tests.fakes import link


def graph(*links: Link) -> LinksOf:
    def links_of(document_id: str) -> list[Link]:
        return [one for one in links if document_id in (one.document_id, one.source_id)]

    return links_of


def pair(one: Link) -> tuple[str, str]:
    return one.document_id, one.source_id


# x and y both copy text from z: x's 0-1000 is z's 0-1000, y's 0-800 is z's 200-1000.
X_FROM_Z = link("x", "z", (0, 1000, 0, 1000))
Y_FROM_Z = link("y", "z", (0, 800, 200, 1000))


def test_two_copies_of_one_source_are_siblings_not_source_and_copy() -> None:
    # What x and y share is x's 200-1000 and y's 0-800: all of it came from z.
    x_from_y = link("x", "y", (200, 1000, 0, 800))

    (decided,) = decide_suppression([x_from_y], [X_FROM_Z, Y_FROM_Z, x_from_y])

    assert decided.suppressed
    assert pair(decided) == ("x", "y")


def test_a_sibling_link_stays_suppressed_whatever_the_order_of_the_context() -> None:
    x_from_y = link("x", "y", (200, 1000, 0, 800))

    outcomes = {
        decide_suppression([x_from_y], list(context))[0].suppressed
        for context in itertools.permutations([X_FROM_Z, Y_FROM_Z, x_from_y])
    }

    assert outcomes == {True}


def test_shared_text_that_the_common_source_does_not_explain_keeps_the_link() -> None:
    # x and y share x's 2000-3000 and y's 1500-2500, text that neither took from z.
    x_from_y = link("x", "y", (2000, 3000, 1500, 2500))

    (decided,) = decide_suppression([x_from_y], [X_FROM_Z, Y_FROM_Z, x_from_y])

    assert not decided.suppressed


def test_shared_text_explained_on_one_side_only_keeps_the_link() -> None:
    # x's side lies in what x took from z, but y's side (1500-2300) is y's own.
    x_from_y = link("x", "y", (200, 1000, 1500, 2300))

    (decided,) = decide_suppression([x_from_y], [X_FROM_Z, Y_FROM_Z, x_from_y])

    assert not decided.suppressed


def test_a_link_without_a_common_source_is_not_suppressed_even_if_it_was() -> None:
    x_from_y = link("x", "y", (200, 1000, 0, 800), suppressed=True)

    (decided,) = decide_suppression([x_from_y], [X_FROM_Z, x_from_y])

    assert not decided.suppressed


@pytest.mark.parametrize("reworded", ["x", "y"])
def test_words_two_texts_share_that_the_common_source_only_rewords_keep_their_link(reworded: str) -> None:
    # x and y share their text word for word; z holds it reworded (as x's source, or as y's).
    x_from_y = link("x", "y", (200, 1000, 0, 800), relation=Relation.EXCERPT)
    x_from_z = link("x", "z", (0, 1000, 0, 1000), relation=Relation.REWRITE if reworded == "x" else Relation.EXCERPT)
    y_from_z = link("y", "z", (0, 800, 200, 1000), relation=Relation.REWRITE if reworded == "y" else Relation.EXCERPT)

    (decided,) = decide_suppression([x_from_y], [x_from_z, y_from_z, x_from_y])

    assert not decided.suppressed


def test_two_rewrites_of_a_common_source_stay_siblings() -> None:
    x_from_y = link("x", "y", (200, 1000, 0, 800), relation=Relation.REWRITE)
    x_from_z = link("x", "z", (0, 1000, 0, 1000), relation=Relation.REWRITE)
    y_from_z = link("y", "z", (0, 800, 200, 1000), relation=Relation.REWRITE)

    (decided,) = decide_suppression([x_from_y], [x_from_z, y_from_z, x_from_y])

    assert decided.suppressed


def test_an_excerpt_of_a_story_and_a_reprint_of_it_stay_siblings() -> None:
    x_from_y = link("x", "y", (200, 1000, 0, 800), relation=Relation.EXCERPT)
    y_from_z = link("y", "z", (0, 800, 200, 1000), relation=Relation.DUPLICATE)

    (decided,) = decide_suppression([x_from_y], [X_FROM_Z, y_from_z, x_from_y])

    assert decided.suppressed


def test_a_direct_link_to_the_common_source_is_never_a_sibling_link() -> None:
    decided = decide_suppression([X_FROM_Z, Y_FROM_Z], [X_FROM_Z, Y_FROM_Z])

    assert [one.suppressed for one in decided] == [False, False]


def test_suppressed_links_are_not_provenance() -> None:
    links_of = graph(X_FROM_Z, link("x", "y", (200, 1000, 0, 800), score=0.99, suppressed=True))

    provenance = provenance_of("x", links_of)

    assert [pair(one) for one in provenance.sources] == [("x", "z")]
    assert provenance.origin_id == "z"
    assert best_source("y", links_of) is None
    assert provenance_of("y", links_of).derivatives == ()


def test_the_origin_chain_follows_the_best_source_of_each_document() -> None:
    links_of = graph(
        link("d", "c", score=0.9),
        link("d", "e", score=0.4),
        link("c", "b", score=0.8),
        link("b", "a", score=0.7),
        link("e", "f", score=0.9),
    )

    chain = origin_chain("d", links_of)

    assert [pair(one) for one in chain] == [("d", "c"), ("c", "b"), ("b", "a")]
    assert provenance_of("d", links_of).origin_id == "a"


def test_confidence_then_source_id_break_ties_between_equally_strong_sources() -> None:
    links_of = graph(link("d", "b", score=0.5), link("d", "m", score=0.5, confidence=0.9), link("d", "a", score=0.5))

    best = best_source("d", links_of)

    assert best is not None
    assert best.source_id == "m"
    assert best_source("d", graph(link("d", "b", score=0.5), link("d", "a", score=0.5))) == link("d", "a", score=0.5)


def test_an_origin_has_no_origin_id_and_an_empty_chain() -> None:
    links_of = graph(link("b", "a"))

    provenance = provenance_of("a", links_of)

    assert provenance.origin_id is None
    assert provenance.origin_chain == ()
    assert [pair(one) for one in provenance.derivatives] == [("b", "a")]


def test_a_loop_of_links_terminates_at_the_last_document_reached() -> None:
    links_of = graph(link("a", "b"), link("b", "c"), link("c", "a"))

    chain = origin_chain("a", links_of)

    assert [pair(one) for one in chain] == [("a", "b"), ("b", "c")]
    assert provenance_of("a", links_of).origin_id == "c"
    cluster = cluster_of("a", links_of)
    assert cluster.origin_id == "c"
    assert len({member.document_id for member in cluster.members}) == len(cluster.members)


def test_a_cluster_lists_the_origin_then_its_members_with_their_depth() -> None:
    links_of = graph(
        link("copy", "wire", relation=Relation.DUPLICATE, score=0.9),
        link("excerpt", "wire", relation=Relation.EXCERPT, score=0.6),
        link("blog", "copy", relation=Relation.REWRITE, score=0.5),
        link("unrelated", "other", relation=Relation.DUPLICATE, score=0.9),
    )

    cluster = cluster_of("blog", links_of)

    assert cluster.origin_id == "wire"
    assert cluster.members == (
        ClusterMember("wire", None, None, 0),
        ClusterMember("copy", Relation.DUPLICATE, "wire", 1),
        ClusterMember("excerpt", Relation.EXCERPT, "wire", 1),
        ClusterMember("blog", Relation.REWRITE, "copy", 2),
    )
    assert cluster_of("wire", links_of) == cluster
    assert cluster_of("excerpt", links_of) == cluster


def test_a_cluster_member_appears_under_its_best_source_only() -> None:
    links_of = graph(
        link("b", "a", score=0.9),
        link("c", "a", score=0.9),
        link("d", "b", score=0.3),
        link("d", "c", score=0.8),
    )

    members = cluster_of("a", links_of).members

    assert [(m.document_id, m.source_id, m.depth) for m in members] == [
        ("a", None, 0),
        ("b", "a", 1),
        ("c", "a", 1),
        ("d", "c", 2),
    ]


def test_a_provenance_chain_reads_only_the_sources_of_the_documents_it_passes() -> None:
    # A wire story with many copies, one of them reprinted in turn: every chain ends at the story.
    links = [link(f"copy-{number}", "wire", score=0.9) for number in range(40)]
    links.append(link("reprint", "copy-0", score=0.9))
    links_of = graph(*links)
    read_whole: list[str] = []
    read_sources: list[str] = []

    def recorded_links_of(document_id: str) -> list[Link]:
        read_whole.append(document_id)
        return links_of(document_id)

    def recorded_sources_of(document_id: str) -> list[Link]:
        read_sources.append(document_id)
        return [one for one in links if one.document_id == document_id]

    provenance = provenance_of("reprint", recorded_links_of, recorded_sources_of)

    # The same answer as from every link, without reading the story's forty derivatives for the walk up.
    assert provenance == provenance_of("reprint", links_of)
    assert provenance.origin_id == "wire"
    assert read_whole == ["reprint"]
    # The reprint's own sources are among its links, read once.
    assert read_sources == ["copy-0", "wire"]


def test_a_document_without_links_is_a_cluster_of_one() -> None:
    cluster = cluster_of("alone", graph())

    assert cluster.origin_id == "alone"
    assert cluster.members == (ClusterMember("alone", None, None, 0),)


def test_sources_and_derivatives_are_ranked_best_first() -> None:
    links_of = graph(
        link("m", "weak", score=0.2),
        link("m", "strong", score=0.8),
        link("child1", "m", score=0.3),
        link("child2", "m", score=0.7),
    )

    provenance = provenance_of("m", links_of)

    assert [one.source_id for one in provenance.sources] == ["strong", "weak"]
    assert [one.document_id for one in provenance.derivatives] == ["child2", "child1"]
    assert provenance.origin_id == "strong"


# An essay e is stitched from parts of four pages: e's 0-500 is p1's 100-600, e's 500-1000 p2's 0-500,
# and so on. The pages' texts alone call each page the excerpt, because more of a page than of the
# essay lies in what they share.
ESSAY_PARTS = [link(f"p{n}", "e", (100, 600, 500 * (n - 1), 500 * n)) for n in (1, 2, 3, 4)]


def test_a_text_stitched_from_parts_of_several_others_is_their_derivative() -> None:
    decided = decide_directions(ESSAY_PARTS, graph(*ESSAY_PARTS))

    assert [pair(one) for one in decided] == [("e", "p1"), ("e", "p2"), ("e", "p3"), ("e", "p4")]
    assert all(one.basis is DirectionBasis.COMPILATION for one in decided)
    # Three other parts against none on the page's side.
    assert decided[0].confidence == 0.95
    assert decided[0].evidence == (Span(0, 500, 100, 600),)
    assert decided[0].pairwise == PairwiseDirection("e", DirectionBasis.CONTAINMENT, 0.7)


def test_copies_of_one_part_of_a_source_are_not_a_compilation() -> None:
    # Four pages copy the source's opening; they overlap each other on the source's side.
    copies = [link(f"c{n}", "s", (0, 400, 0, 400 + 50 * n)) for n in (1, 2, 3, 4)]

    decided = decide_directions(copies, graph(*copies))

    assert decided == copies


def test_a_source_whose_own_parts_are_shared_widely_is_not_called_a_compilation() -> None:
    # p1 shares its 100-600 with the essay, and four other parts of itself with four other documents.
    page_parts = [link("p1", f"q{n}", (1000 * n, 1000 * n + 400, 0, 400)) for n in (1, 2, 3, 4)]
    links = [*ESSAY_PARTS, *page_parts]

    decided = decide_directions(ESSAY_PARTS[:1], graph(*links))

    # The essay has three other parts and p1 has four: neither is a compilation of the other.
    assert decided == ESSAY_PARTS[:1]


def test_a_compiled_link_returns_to_its_texts_own_direction_when_the_other_parts_go() -> None:
    (compiled, *_) = decide_directions(ESSAY_PARTS, graph(*ESSAY_PARTS))

    (restored,) = decide_directions([compiled], graph(compiled, ESSAY_PARTS[1]))

    assert restored == ESSAY_PARTS[0]


def test_published_dates_outrank_the_documents_around_a_link() -> None:
    dated = [
        link(f"p{n}", "e", (100, 600, 500 * (n - 1), 500 * n), basis=DirectionBasis.PUBLISHED_AT) for n in (1, 2, 3, 4)
    ]

    assert decide_directions(dated, graph(*dated)) == dated


def test_the_direction_of_a_compilation_does_not_depend_on_the_order_of_its_links() -> None:
    expected = {pair(one) for one in decide_directions(ESSAY_PARTS, graph(*ESSAY_PARTS))}
    for order in itertools.permutations(ESSAY_PARTS):
        assert {pair(one) for one in decide_directions(list(order), graph(*reversed(order)))} == expected


# A wire story w of 3,000 characters: four pages reprint it whole under a headline of their own (a reprint's
# 100-3100 is w's 0-3000), and four pages each quote one stretch of it. Each excerpt's text alone calls it the
# excerpt, and w shares three other parts with other documents than with each excerpt, as a compilation would.
REPRINTS_OF_W = [link(f"r{n}", "w", (100, 3100, 0, 3000), relation=Relation.DUPLICATE) for n in (1, 2, 3, 4)]
EXCERPTS_OF_W = [link(f"e{n}", "w", (200, 700, 700 * n, 700 * n + 500)) for n in (0, 1, 2, 3)]


def test_a_story_reprinted_whole_is_the_source_of_its_excerpts_not_their_compilation() -> None:
    links = [*REPRINTS_OF_W, *EXCERPTS_OF_W]

    decided = decide_directions(EXCERPTS_OF_W, graph(*links))

    assert [pair(one) for one in decided] == [("e0", "w"), ("e1", "w"), ("e2", "w"), ("e3", "w")]
    assert all(one.basis is DirectionBasis.REPRINTS for one in decided)
    # Four reprints hold each excerpt's part of w within more; none holds the excerpt's own part.
    assert decided[0].confidence == 0.95
    assert decided[0].pairwise == PairwiseDirection("w", DirectionBasis.CONTAINMENT, 0.7)


def test_without_its_reprints_the_story_reads_as_a_compilation_of_its_excerpts() -> None:
    decided = decide_directions(EXCERPTS_OF_W, graph(*EXCERPTS_OF_W))

    assert [(pair(one), one.basis) for one in decided] == [
        (("w", f"e{n}"), DirectionBasis.COMPILATION) for n in (0, 1, 2, 3)
    ]


def test_a_compilation_reprinted_by_no_more_documents_than_share_its_other_parts_stays_a_compilation() -> None:
    # Three pages copy the whole essay (e's 0-2000); the essay shares three other parts with other pages.
    copies = [link(f"r{n}", "e", (0, 2000, 0, 2000), relation=Relation.DUPLICATE) for n in (1, 2, 3)]
    links = [*ESSAY_PARTS, *copies]

    decided = decide_directions(ESSAY_PARTS, graph(*links))

    assert [(pair(one), one.basis) for one in decided] == [
        (("e", f"p{n}"), DirectionBasis.COMPILATION) for n in (1, 2, 3, 4)
    ]


@pytest.mark.parametrize(
    ("basis", "turned"),
    [
        (DirectionBasis.CONTAINMENT, True),
        (DirectionBasis.CONTEXT, True),
        (DirectionBasis.INGEST_ORDER, True),
        (DirectionBasis.CONDENSATION, False),
    ],
)
def test_reprints_overrule_the_texts_own_direction_but_not_a_summary(basis: DirectionBasis, turned: bool) -> None:
    # Page s (1,000 characters) restates in its 0-500 a stretch of d; three pages reprint s whole.
    s_from_d = link("s", "d", (0, 500, 4000, 6000), relation=Relation.REWRITE, basis=basis)
    copies = [link(f"r{n}", "s", (0, 1000, 0, 1000), relation=Relation.DUPLICATE) for n in (1, 2, 3)]

    (decided,) = decide_directions([s_from_d], graph(s_from_d, *copies))

    if turned:
        assert (pair(decided), decided.basis) == (("d", "s"), DirectionBasis.REPRINTS)
        assert decided.pairwise == PairwiseDirection("d", basis, 0.7)
    else:
        assert decided == s_from_d


# A short story s of 1,000 characters lies whole in four pages, each of which has text of its own around it
# (a page's 200-1200 is s's 0-1000): the texts alone call the story the excerpt of each page.
PAGES_AROUND_S = [
    link("s", f"p{n}", (0, 1000, 200, 1200), containment=1.0, source_containment=0.5) for n in (1, 2, 3, 4)
]


def test_a_short_story_that_several_pages_embed_whole_is_the_source_of_each() -> None:
    decided = decide_directions(PAGES_AROUND_S, graph(*PAGES_AROUND_S))

    assert [(pair(one), one.basis) for one in decided] == [
        ((f"p{n}", "s"), DirectionBasis.REPRINTS) for n in (1, 2, 3, 4)
    ]
    # Three other pages embed the story beside each link's page.
    assert decided[0].confidence == 0.95
    assert decided[0].pairwise == PairwiseDirection("p1", DirectionBasis.CONTAINMENT, 0.7)


def test_a_text_that_three_pages_embed_is_left_to_its_texts() -> None:
    # Beside each link's page, two others: too few to tell a story from a page quoted twice.
    decided = decide_directions(PAGES_AROUND_S[:3], graph(*PAGES_AROUND_S[:3]))

    assert decided == PAGES_AROUND_S[:3]


def test_a_short_excerpt_that_lies_whole_in_a_story_and_its_reprints_is_not_the_storys_source() -> None:
    # e is w's 1000-1500, whole; w is reprinted by r1 and r2 (a reprint's 100-3100 is w's 0-3000), and one page q
    # quotes the same stretch among text of its own. e lies whole in w, r1, r2 and q, but r1 and r2 hold it
    # because they hold all of w: only q embeds it with text of its own.
    e_from_w = link("e", "w", (0, 500, 1000, 1500), containment=1.0, source_containment=0.17)
    reprints = [
        link(f"r{n}", "w", (100, 3100, 0, 3000), relation=Relation.DUPLICATE, containment=0.97, source_containment=1.0)
        for n in (1, 2)
    ]
    in_reprints = [link("e", f"r{n}", (0, 500, 1100, 1600), containment=1.0, source_containment=0.16) for n in (1, 2)]
    q_links = [
        link("e", "q", (0, 500, 300, 800), containment=1.0, source_containment=0.4),
        link("q", "w", (300, 800, 1000, 1500), containment=0.4, source_containment=0.17),
        *(link("q", f"r{n}", (300, 800, 1100, 1600), containment=0.4, source_containment=0.16) for n in (1, 2)),
    ]

    (decided,) = decide_directions([e_from_w], graph(e_from_w, *reprints, *in_reprints, *q_links))

    assert decided == e_from_w


def test_copies_that_differ_by_a_sentence_do_not_count_as_reprints_of_each_other() -> None:
    # Four copies of w's opening, each a little longer than the last: none reaches a fifth beyond another.
    copies = [link(f"c{n}", "w", (0, 1000 + 50 * n, 0, 1000 + 50 * n)) for n in (1, 2, 3, 4)]

    assert decide_directions(copies, graph(*copies)) == copies


# Five copies of z's opening 0-1000, each with a slightly different end.
COPIES_OF_Z = [link(f"c{n}", "z", (0, 1000 - 20 * n, 0, 1000 - 20 * n)) for n in (1, 2, 3, 4, 5)]


def changed(*links: Link) -> LinksOf:
    return graph(*links)


def test_a_new_copy_of_the_same_part_leaves_the_other_copies_settled() -> None:
    new_copy = link("n", "z", (0, 900, 0, 900))

    assert unsettled([*COPIES_OF_Z, new_copy], changed(new_copy)) == [new_copy]


def test_a_new_link_to_another_part_unsettles_every_link_it_is_another_part_for() -> None:
    elsewhere = link("n", "z", (0, 500, 3000, 3500))

    assert unsettled([*COPIES_OF_Z, elsewhere], changed(elsewhere)) == [*COPIES_OF_Z, elsewhere]


def test_a_removed_link_to_another_part_unsettles_the_links_it_counted_for() -> None:
    gone = link("g", "z", (0, 500, 3000, 3500))

    assert unsettled(COPIES_OF_Z, changed(gone)) == COPIES_OF_Z


def test_a_new_reprint_unsettles_the_links_whose_part_of_the_story_it_holds_within_more() -> None:
    # The new page carries w's 0-2600: it holds the parts of the first four excerpts within more (the count
    # that decides reprints), and shares another part of w than the fifth's 2800-3300.
    excerpts = [link(f"e{n}", "w", (0, 500, 700 * n, 700 * n + 500)) for n in (0, 1, 2, 3, 4)]
    reprint = link("r", "w", (0, 2600, 0, 2600), relation=Relation.DUPLICATE)

    assert unsettled([*excerpts, reprint], changed(reprint)) == [*excerpts, reprint]


def test_a_new_page_embedding_a_text_unsettles_the_links_of_the_pages_that_embed_it_already() -> None:
    # The new page shares the same part of s as the others: only the count of pages that embed s changes.
    new_page = link("s", "p5", (0, 1000, 300, 1300), containment=1.0, source_containment=0.6)
    whole_copy = link("c", "s", (0, 1000, 0, 1000), containment=1.0, source_containment=1.0)

    assert unsettled([*PAGES_AROUND_S, whole_copy, new_page], changed(new_page)) == [*PAGES_AROUND_S, new_page]


def test_a_changed_link_is_judged_by_its_part_before_and_after() -> None:
    # The link from m to z moved from z's opening to another part: the copies lose one count.
    before, after = link("m", "z", (0, 800, 0, 800)), link("m", "z", (0, 500, 3000, 3500))

    assert unsettled([*COPIES_OF_Z, after], changed(before, after)) == [*COPIES_OF_Z, after]


def ends(one: Link) -> frozenset[str]:
    return frozenset(pair(one))


def random_links(rng: random.Random, documents: Sequence[str], count: int) -> list[Link]:
    pairs = rng.sample(list(itertools.combinations(documents, 2)), count)
    made = []
    for derived, source in pairs:
        spans = []
        for _ in range(rng.randint(1, 2)):
            start, source_start = rng.choice((0, 1000, 2000)), rng.choice((0, 1000, 2000))
            length = rng.choice((300, 600, 900))
            spans.append((start, start + length, source_start, source_start + length))
        # Some ends lie whole in their link (a short text inside a page), so that embedding is decided too.
        containment, source_containment = rng.choice((0.5, 0.9)), rng.choice((0.4, 0.9))
        made.append(
            link(
                derived,
                source,
                *spans,
                confidence=round(rng.uniform(0.5, 0.9), 2),
                containment=containment,
                source_containment=source_containment,
            )
        )
    return made


def test_deciding_only_the_unsettled_links_gives_what_deciding_them_all_gives() -> None:
    rng = random.Random(7)  # noqa: S311 - test graphs, not secrets
    documents = [f"d{n}" for n in range(8)]
    compiled = reprinted = embedding = 0
    for _ in range(300):
        links = random_links(rng, documents, 14)
        settled = decide_directions(links, graph(*links))
        new = random_links(rng, documents, 16)[-1]
        if any(ends(new) == ends(one) for one in settled):
            continue
        after = [*settled, new]
        expected = decide_directions(after, graph(*after))
        redecided = {ends(one): one for one in decide_directions(unsettled(after, changed(new)), graph(*after))}
        assert [redecided.get(ends(one), one) for one in after] == expected
        compiled += sum(one.basis is DirectionBasis.COMPILATION for one in expected)
        reprinted += sum(one.basis is DirectionBasis.REPRINTS and not embedded(one) for one in expected)
        embedding += sum(one.basis is DirectionBasis.REPRINTS and embedded(one) for one in expected)
    # The graphs are dense enough that compilations, reprints and embedded texts come and go with the new link.
    assert compiled > 50
    assert reprinted > 50
    assert embedding > 20


def embedded(one: Link) -> bool:
    """Tell whether the source of `one` lies whole in it and the derived text does not (a rule's mark, not proof)."""
    return one.source_containment >= provenance.WHOLE_COVERAGE > one.containment


def test_a_story_copied_many_times_over_one_stretch_is_counted_once_per_distinct_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 300 copies of z's opening, and three excerpts of other stretches: five distinct parts of z.
    copies = [link(f"c{n}", "z", (0, 1000, 0, 1000)) for n in range(300)]
    excerpts = [link(f"e{n}", "z", (0, 500, 2000 * n, 2000 * n + 500)) for n in (1, 2, 3)]
    measured = 0
    standing = provenance._standing

    def counted(part: provenance._Part, parts: dict[provenance._Part, list[str]]) -> provenance._Standing:
        nonlocal measured
        measured += 1
        return standing(part, parts)

    monkeypatch.setattr(provenance, "_standing", counted)

    decided = decide_directions([*copies, *excerpts], graph(*copies, *excerpts))

    # z shares other parts with 302 documents than with each excerpt, and with 3 than with each copy, while
    # the other ends share nothing else: z reads as a compilation of them all, as counting link by link says.
    assert [pair(one) for one in decided[300:]] == [("z", "e1"), ("z", "e2"), ("z", "e3")]
    assert {pair(one) for one in decided[:300]} == {("z", f"c{n}") for n in range(300)}
    # z's four distinct parts are each measured against its others once, not once per link (303 times); each
    # other end has one part.
    assert measured == 4 + 303


_RANGES = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 30)).map(lambda start_length: (start_length[0], sum(start_length))),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(part=_RANGES, others=st.lists(_RANGES, max_size=8))
def test_a_part_stands_among_the_others_as_the_pairwise_relations_say(
    part: list[tuple[int, int]], others: list[list[tuple[int, int]]]
) -> None:
    # Parts of one, two or three ranges, overlapping, nested, apart, empty or of zero length: what the one pass
    # over the distinct parts counts is what each pair's relations say.
    def part_of(ranges: list[tuple[int, int]]) -> provenance._Part:
        return provenance._Part.of("d", link("d", "s", *((start, end, 0, 1) for start, end in ranges)))

    measured = part_of(part)
    # The same ranges read at a link's source end make the same part.
    assert provenance._Part.of("d", link("x", "d", *((0, 1, start, end) for start, end in part))) == measured
    parts: dict[provenance._Part, list[str]] = {}
    for number, ranges in enumerate(others):
        parts.setdefault(part_of(ranges), []).append(f"o{number}")

    standing = provenance._standing(measured, parts)

    # The relations as defined, range against range (provenance.OTHER_PART_OVERLAP, REPRINT_MARGIN).
    def overlap(other: provenance._Part) -> int:
        return sum(max(0, min(end, e) - max(start, s)) for start, end in measured.ranges for s, e in other.ranges)

    def is_another(other: provenance._Part) -> bool:
        return overlap(other) < 0.5 * min(measured.length, other.length)

    def lies_within(other: provenance._Part) -> bool:
        return overlap(other) >= 0.5 * measured.length and other.length - overlap(other) >= 0.2 * measured.length

    assert standing.other_parts == sum(len(ids) for other, ids in parts.items() if is_another(other))
    assert standing.holders == {one for other, ids in parts.items() if lies_within(other) for one in ids}
    # `_standing` writes the relations out; the methods that `unsettled` asks say the same.
    assert all(measured.is_another(other) == is_another(other) for other in parts)
    assert all(measured.lies_within(other) == lies_within(other) for other in parts)


def tally_views(stored: Sequence[Link], laid: Sequence[Link]) -> provenance.TalliesOf:
    """Tallies of the stored links, each document's viewed under the laid links (see `_Neighbourhood.tally_of`)."""
    stored_by_pair = {ends(one): one for one in stored}

    def tally_of(document_id: str) -> provenance.TallyView | None:
        tally = provenance.PartTally(document_id, [one for one in stored if document_id in ends(one)])
        laid_here = [(stored_by_pair.get(ends(one)), one) for one in laid if document_id in ends(one)]
        return provenance.TallyView.of(document_id, tally, laid_here)

    return tally_of


def test_deciding_directions_from_tallies_gives_what_counting_every_link_gives() -> None:
    rng = random.Random(5)  # noqa: S311 - test graphs, not secrets
    documents = [f"d{n}" for n in range(8)]
    turned_round = by_rules = 0
    for _ in range(300):
        stored = random_links(rng, documents, 16)
        # Laid over them: new pairs, and stored links turned round or decided again (the same shared text).
        new = [one for one in random_links(rng, documents, 20) if ends(one) not in {ends(s) for s in stored}][:4]
        again = [
            one.derived_from(one.document_id if rng.random() < 0.5 else one.source_id, DirectionBasis.REPRINTS, 0.8)
            for one in rng.sample(stored, 3)
        ]
        laid = [*new, *again]
        now = [*[one for one in stored if ends(one) not in {ends(a) for a in again}], *laid]

        expected = decide_directions(now, graph(*now))

        assert decide_directions(now, graph(*now), tally_views(stored, laid)) == expected
        turned_round += sum(pair(one) != pair(before) for one, before in zip(again, stored, strict=False))
        by_rules += sum(one.basis in (DirectionBasis.REPRINTS, DirectionBasis.COMPILATION) for one in expected)
    assert turned_round > 100
    assert by_rules > 500


def test_a_tally_view_is_not_given_when_a_laid_link_shares_other_text_than_the_stored_one() -> None:
    stored = link("x", "z", (0, 1000, 0, 1000))
    # The same text of x, another of z.
    moved = link("x", "z", (0, 1000, 3000, 4000))

    assert provenance.TallyView.of("z", provenance.PartTally("z", [stored]), [(stored, moved)]) is None
    assert provenance.TallyView.of("x", provenance.PartTally("x", [stored]), [(stored, moved)]) is not None
    # The same evidence with the two ends swapped: x's text is now read at z.
    swapped = replace(moved, document_id="z", source_id="x")
    assert provenance.TallyView.of("z", provenance.PartTally("z", [moved]), [(moved, swapped)]) is None


@settings(max_examples=300, deadline=None)
@given(
    links=st.lists(
        st.tuples(_RANGES.filter(bool), st.sampled_from(("measured", "added", "laid"))), min_size=1, max_size=12
    ),
    asked=st.lists(_RANGES.filter(bool), max_size=3),
)
def test_a_tally_counted_up_link_by_link_stands_a_part_as_measuring_all_the_links_does(
    links: list[tuple[list[tuple[int, int]], str]], asked: list[list[tuple[int, int]]]
) -> None:
    made = [
        (link(f"o{number}", "d", *((0, 1, start, end) for start, end in ranges)), when)
        for number, (ranges, when) in enumerate(links)
    ]
    tally = provenance.PartTally("d", [one for one, when in made if when == "measured"])
    parts = [provenance._Part.of("d", one) for one, _ in made]
    parts += [provenance._Part.of("d", link("d", "s", *((start, end, 0, 1) for start, end in r))) for r in asked]
    # Measured before the later links come, some of them; the others are first asked after.
    for part in parts[::2]:
        tally.standing(part)
    tally.add([one for one, when in made if when == "added"])
    view = provenance.TallyView.of("d", tally, [(None, one) for one, when in made if when == "laid"])
    assert view is not None

    every: dict[provenance._Part, list[str]] = {}
    for one, _ in made:
        every.setdefault(provenance._Part.of("d", one), []).append(one.other("d"))
    for part in parts:
        counted, measured = view.standing(part), provenance._standing(part, every)
        assert counted.other_parts == measured.other_parts
        assert set(counted.holders) == measured.holders
        assert len(counted.holders) == len(measured.holders)
