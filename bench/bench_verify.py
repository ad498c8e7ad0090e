"""Verification: what analysing a text and comparing it with one candidate cost, by how the two are related.

Every query and every ingested document that has candidates is compared with each of them on the real text
(README, *How it works*, step 4), in the verification workers, so this cost bounds FindSimilar by text and ingest
alike. Pairs come from the generated corpus: each copy, excerpt and rewrite with the original it reuses, and as
many pairs of two originals written one after the other (same language and topics, unrelated: what a chance
candidate is).

Each text is analysed (`profile_text` with the compiled tokenizer the workers use: tokens, sentences, their index)
and each pair compared (`compare_profiles` with the compiled weights the workers use), both on texts analysed
beforehand, as the workers' cache holds them, and from the texts alone, as a candidate not in that cache costs
(both analysed, then compared: what a text makes on its first comparison included). Each is measured `--rounds`
times and its fastest kept (`bench_signatures.time_paths`) (the machine is shared and noisy). The figures are
medians in microseconds, with how many pairs of each kind were found related.

    python -m bench.bench_verify --documents 2000
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from collections.abc import Sequence
from typing import Final

from bench.bench_signatures import time_paths
from bench.corpus import Kind, generate
from bench.report import Report
from server.adapters import compiled_tokenizer, compiled_weights
from server.domain.comparison import TextProfile, compare_profiles, profile_text

_DESCRIPTION: Final = "Time analysing texts and comparing them with their candidates, on generated related pairs."
# The figures' name for pairs of two consecutive originals, beside the corpus's kinds of reuse.
UNRELATED: Final = "unrelated"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_verify", description=_DESCRIPTION)
    parser.add_argument("--documents", type=int, default=2000, help="generated documents to pair (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="times each text and pair is timed; the fastest counts")
    arguments = parser.parse_args(argv)
    if arguments.documents < 2 or arguments.rounds < 1:
        parser.error("--documents must be at least 2 and --rounds at least 1")
    report = Report()
    report.header(
        "verification: analysing and comparing texts", ["python -m bench.bench_verify", *(argv or sys.argv[1:])]
    )

    documents = list(generate(arguments.documents, arguments.seed))
    pairs: list[tuple[str, str, str]] = [
        (document.kind.value, document.id, document.source_id)
        for document in documents
        if document.source_id is not None
    ]
    originals = [document.id for document in documents if document.kind is Kind.ORIGINAL]
    pairs += [(UNRELATED, later, earlier) for earlier, later in itertools.pairwise(originals)][: len(pairs)]

    profiles: dict[str, TextProfile] = {document.id: analyse(document.text) for document in documents}
    # Compiled code loads from numba's cache on first use, and a profile makes its shingles on first use: both once.
    found = {pair: compare_profiles(profiles[pair[1]], profiles[pair[2]], compiled_weights.weigh) for pair in pairs}

    texts = [document.text for document in documents]
    texts_by_id = {document.id: document.text for document in documents}
    profile_pairs = [(profiles[derived], profiles[source]) for _, derived, source in pairs]
    text_pairs = [(texts_by_id[derived], texts_by_id[source]) for _, derived, source in pairs]

    def analyse_and_compare(index: int) -> object:
        derived, source = text_pairs[index]
        return compare_profiles(analyse(derived), analyse(source), compiled_weights.weigh)

    rounds = arguments.rounds
    analyses = time_paths({"analyse": lambda index: analyse(texts[index])}, len(texts), rounds)["analyse"]
    pair_times = time_paths(
        {
            "compare analysed texts": lambda index: compare_profiles(*profile_pairs[index], compiled_weights.weigh),
            "analyse both and compare": analyse_and_compare,
        },
        len(pairs),
        rounds,
    )
    words = statistics.median(len(profiles[document.id].tokens) for document in documents)
    report.line(
        f"corpus: {len(documents)} documents (seed {arguments.seed}), median {words:.0f} words; {len(pairs)} pairs; "
        f"{arguments.rounds} rounds, fastest kept"
    )

    report.heading("median time (µs)")
    report.figure("analyse a text (profile_text)", statistics.median(analyses) * 1e6, "µs", digits=0)
    kinds = [kind.value for kind in Kind if kind is not Kind.ORIGINAL] + [UNRELATED]
    for path, times_of_pairs in pair_times.items():
        for kind in kinds:
            times = [seconds for pair, seconds in zip(pairs, times_of_pairs, strict=True) if pair[0] == kind]
            if times:
                report.figure(f"{path}, {kind}", statistics.median(times) * 1e6, "µs", digits=0)
        if path == "compare analysed texts":
            report.figure(f"{path}, all pairs", statistics.median(times_of_pairs) * 1e6, "µs", digits=0)

    report.heading("pairs found related")
    for kind in kinds:
        of_kind = [pair for pair in pairs if pair[0] == kind]
        if of_kind:
            related = sum(found[pair] is not None for pair in of_kind)
            report.line(f"  {kind:<10} {related} of {len(of_kind)}")
    return 0


def analyse(text: str) -> TextProfile:
    """Analyse `text` as a verification worker does."""
    return profile_text(text, tokenizer=compiled_tokenizer.tokenize)


if __name__ == "__main__":
    sys.exit(main())
