"""Texts that stress tokenisation, shared by the tests of the compiled paths (signing, tokenizing).

Hypothesis strategies of words from several scripts, links and handles, every line break, spaces and punctuation
(sentence ends among them), and a list of tricky texts, each of which once told a compiled path from the domain.
"""

from __future__ import annotations

from typing import Final

from hypothesis import strategies as st

from server.domain.tokenization import STOPWORDS

ASCII_WORDS = st.one_of(
    st.sampled_from(sorted(STOPWORDS)),
    st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True),
    st.sampled_from(["Mosul", "ISIS", "THE", "Said", "2017", "a_b", "_", "x"]),
)
# Letters whose normal form is the compiled path's own, characters that are tokens on their own, and characters
# whose normal form takes the reference path (kana with sound marks, compatibility forms, astral letters).
FOLDED_WORDS = ["café", "CAFÉ", "Zürich", "İstanbul", "ı", "ß", "ΐ", "Σίσυφος", "Москва", "٣", "e\u0301"]
SINGLE_CHARACTER_WORDS = ["東京都", "・", "한국어", "ไทย"]
REFERENCE_WORDS = ["ｶﾞ", "ｱ", "ﾞ", "ﬁne", "Ⅻ", "²", "𝐀", "😀", "\u1100\u1161\u11a8"]
OTHER_WORDS = st.sampled_from([*FOLDED_WORDS, *SINGLE_CHARACTER_WORDS, *REFERENCE_WORDS])
ASCII_LINKS = st.one_of(
    st.sampled_from(["http://x.com/a", "HTTPS://y.org/b?c=d", "www.ex.com", "WwW.x", "pic.twitter.com/abc"]),
    st.sampled_from(["PIC.TWITTER.COM/x", "http:/", "https:", "www", "@", "a@b", "x@y.z"]),
    st.from_regex(r"@[A-Za-z0-9_]{1,8}", fullmatch=True),
)
OTHER_LINKS = st.sampled_from(["httpſ://z", "pıc.twitter.com/q", "@Józef", "https://ex.com/ünï", "@東京"])
# Every line break str.splitlines knows, spaces, and the punctuation of English news (a combining accent too).
LINE_BREAKS = ["\n", "\n\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
SPACES = [" ", " ", " ", " ", "  ", "\t", "\x1f", "\u00a0", "\u3000"]
PUNCTUATION = [", ", ". ", "-", "'", "/", ":", " — ", "“", "”", "’", "…", "«", "»", "€", "\u0301"]
# Sentence ends and near misses: stops before closing quotes or brackets, CJK stops, a stop glued to the next word
# ("world.Directions" ends a sentence, "U.S.Army" does not), an opening quote before the next sentence.
STOPS = [
    ". ",
    "! ",
    "? ",
    '." ',
    ".’ ",
    ".”\n",
    ".) ",
    "?] ",
    ". “",
    "! (",
    ".",
    "!",
    "?",
    "。",
    "！",
    "？",
    "...",
    ".\t",
]
SEPARATORS = st.sampled_from([*LINE_BREAKS, *SPACES, *SPACES, *PUNCTUATION, *STOPS])


@st.composite
def texts(draw: st.DrawFn, words: st.SearchStrategy[str], links: st.SearchStrategy[str]) -> str:
    kind = draw(st.sampled_from(["prose", "lines", "stopwords"]))
    if kind == "stopwords":  # long runs of stopwords, so that whole windows have no content word
        stopwords = draw(st.lists(st.sampled_from(sorted(STOPWORDS)), min_size=40, max_size=160))
        for _ in range(draw(st.integers(0, 3))):
            stopwords.insert(draw(st.integers(0, len(stopwords))), draw(words))
        return " ".join(stopwords)
    if kind == "lines":  # short boilerplate lines between content lines
        lines = draw(st.lists(st.lists(st.one_of(words, links), max_size=12).map(" ".join), max_size=25))
        return draw(st.sampled_from(["\n", "\r\n", "\u2028"])).join(lines)
    pieces = draw(st.lists(st.tuples(st.one_of(words, words, words, links), SEPARATORS), max_size=150))
    return "".join(piece + separator for piece, separator in pieces)


TRICKY_TEXTS: Final = [
    "",
    "\n\n",
    "one",
    "one two three four",
    "the of and to a in is it",  # stopwords only: a document row and no passage
    "Scroll down\nThe Leader LEFT Mosul last week\nok",
    "café CAFÉ Zürich İstanbul STRASSE straße ΐ Μόσχα Москва Erdoğan",
    "東京都の市民 한국어 ไทย ・ and more words here",
    "ｶﾞｷﾞ ｱ ﾞ one two three four",  # half-width kana: the reference path
    "ﬁne Ⅻ ² ٣ e\u0301 \u1100\u1161\u11a8 one two three",  # their normal forms need the reference path
    "httpſ://x.com one two three four",  # re.IGNORECASE lets the long s match "s"
    "pıc.twitter.com/abc one two three four\nand more words on a line",
    "PİC.TWITTER.COM/x one two\nthree four five six",
    "WwW.Example.com/x HTTP://a.b/c @Handle_1 @Józef a@b foohttp://x @ @@x one two",
    "\u2028".join(["a b c d e"] * 30) + "\x85x y\r\nz\x0cw\x1cv\x1dq\x1er\x1fs\x0bt",
    "lone \ud800 surrogate and other words",
    # Wrapped lines: a line that starts with a lower-case letter continues the one before, unless a link starts it.
    "Students must identify themselves as\noutlined in\nthe\r\nrequirements below. The\nstudent body\rworks",
    "A short line\nhttp://x.com/a then words\nwww.y.org more words\npic.twitter.com/b and more\nzebra",
    "\nfirst\n\nsecond line here\u2028third line here\x85fourth\r\r\nfifth and sixth words",
    "𝐀𝐁 \U00020000 😀 emoji and astral words",
    # Sentence ends: glued stops, closers and openers, links and handles after a stop, CJK stops.
    "Most visited in the world.Directions to the U.S.Army base.Then the U.S. and Iraqi forces left.",
    'He said "go." Then left. "Next," she said. (It ended.) [Done.] \u201cYes.\u201d \u2018No.\u2019 Then.',
    "The end. http://x.com/a Then more. @bob said so. www.y.org now. Www.z.org Then, pic.twitter.com/q x",
    "a stop.Http://x.com Yes and ab.Chttp://x more words, the ok.Xhttps://y.z a b c",
    "東京。大阪！京都？ words after them。 And more！ Then？ end",
    "wow!! Really? yes.\n\nNew para.\r\nAnother one!\u2028last line. the\nend of it. Yes",
    "stop.\n\nlower line follows. stop.\t\u00a0\u3000Next. stop.\u0301 Next. stop.\x1c Next.",
    "short. lines. here.\nok.\nfine. Fine.",
]
