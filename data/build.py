"""Build the labelled utterance set for Tact's NLP classifier.

Reads the hand-written seeds in ``data/seeds/*.txt``, adds a small, documented
amount of seeded variation (ASR-style rendering, chat typos, Chinese
code-switching, re-filled slots, two-part combinations), removes near-duplicates,
splits into ``train.jsonl`` / ``test.jsonl`` and prints the counts table.
Seeds in ``data/seeds_extra/*.txt`` are training-only: expanded the same way,
they are appended to ``train.jsonl`` after the split, which never sees them.

Run:  .venv/bin/python data/build.py          (writes the files, prints the table)
      .venv/bin/python data/build.py --stats  (only checks the existing files)

Deterministic: every random choice comes from a ``random.Random`` seeded with
``SEED`` (one per stage), seed files are read in sorted order and nothing
depends on set or hash order, so two runs give byte-identical output.

Seed file format (one file per language and topic, ``<lang>_<topic>.txt``)::

    # comment
    @ <emotion> : <intent> <intent> ...      block of ordinary seed lines
    % <pool> <emotion> : <intent> ...        block of fragments for combinations
    some utterance {AMT} {DATE}               a line; slots are filled at build time
    another one || angry : cease_contact      per-line override of the block labels
"""

from __future__ import annotations

import bisect
import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

sys.dont_write_bytecode = True
import stats  # noqa: E402  (sibling module, stdlib only)

SEED = 20240611
TEST_FRACTION = 0.15
MIN_TEST_PER_INTENT = 12
MAX_ROWS_PER_RECIPE = 36

EMOTIONS = stats.EMOTIONS
INTENTS = stats.INTENTS

# --------------------------------------------------------------------------- slots

SLOTS: dict[str, dict[str, list[str]]] = {
    "en": {
        "AMT": [
            "$50",
            "fifty dollars",
            "a hundred bucks",
            "$200",
            "£20",
            "twenty quid",
            "£100",
            "a hundred quid",
            "$75",
            "300",
            "$1,240.50",
            "the full 560",
            "£25",
            "forty pounds",
            "$150",
            "two hundred",
            "$30",
            "£60",
            "500 dollars",
            "like 80 bucks",
            "£10",
            "half of it",
            "$400",
            "a tenner",
            "a couple hundred",
        ],
        "DATE": [
            "on Friday",
            "next Friday",
            "on the 15th",
            "tomorrow",
            "by the end of the month",
            "next week",
            "on payday",
            "on the 1st",
            "Monday",
            "this weekend",
            "on the 28th",
            "next Tuesday",
            "in two weeks",
            "by Thursday",
            "tonight",
            "first thing Monday morning",
            "on the 3rd of next month",
            "when I get paid on the 25th",
            "before the weekend",
            "by the 10th",
        ],
        "DAY": [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "the 5th",
            "the 20th",
        ],
        "NAME": [
            "Alex",
            "Sam",
            "Mr Morgan",
            "Ms Taylor",
            "Chris",
            "Jordan",
            "Alex Morgan",
            "Sam Taylor",
            "Jamie",
            "Mrs Patel",
        ],
        "REL": [
            "wife",
            "husband",
            "son",
            "daughter",
            "mum",
            "dad",
            "brother",
            "sister",
            "partner",
            "flatmate",
            "mom",
            "nephew",
        ],
        "PRON": ["he", "she"],
        "MONTH": [
            "January",
            "March",
            "April",
            "June",
            "August",
            "October",
            "December",
            "last spring",
        ],
    },
    "zh": {
        "AMT": [
            "五百",
            "两千块",
            "1000块",
            "三百块钱",
            "一千",
            "八千六",
            "两百",
            "500",
            "一千五",
            "三千",
            "2000",
            "八百块",
            "一半",
            "五千",
            "六百",
            "七百块",
            "一千二",
            "四百块",
            "800",
            "几百块",
        ],
        "DATE": [
            "下周五",
            "15号",
            "月底",
            "明天",
            "下个月初",
            "这周六",
            "发工资那天",
            "后天",
            "下礼拜一",
            "这个月20号",
            "周末",
            "今晚",
            "月初",
            "下个月5号",
            "过两天",
            "年前",
            "28号",
            "这周内",
            "下周",
            "10号",
        ],
        "DAY": ["周一", "周三", "周五", "礼拜六", "10号", "25号", "月初", "月中"],
        "NAME": [
            "张伟",
            "王芳",
            "李强",
            "刘洋",
            "陈静",
            "张先生",
            "王女士",
            "小李",
            "赵磊",
            "孙丽",
        ],
        "REL": [
            "老婆",
            "老公",
            "儿子",
            "女儿",
            "妈",
            "爸",
            "哥",
            "姐",
            "弟弟",
            "室友",
            "媳妇",
            "侄子",
        ],
        "PRON": ["他", "她"],
        "MONTH": ["一月", "三月", "四月", "六月", "八月", "十月", "去年年底", "上个月"],
    },
}

SLOT_RE = re.compile(r"\{([A-Z]+)\}")


def fill_slots(text: str, lang: str, rng: random.Random) -> str:
    return SLOT_RE.sub(lambda m: rng.choice(SLOTS[lang][m.group(1)]), text)


# --------------------------------------------------------------------------- seeds


@dataclass
class Seed:
    text: str
    lang: str
    emotion: str
    intents: tuple[str, ...]
    source: str  # file:line, for tracing


@dataclass
class Row:
    text: str
    lang: str
    emotion: str
    intents: tuple[str, ...]
    group: str  # rows of one group go to the same split
    kind: str  # seed | asr | typo | codeswitch | reslot | combo
    frame: str = ""


@dataclass
class Corpus:
    seeds: list[Seed] = field(default_factory=list)
    pools: dict[tuple[str, str], list[Seed]] = field(default_factory=dict)


def parse_labels(spec: str, where: str) -> tuple[str, tuple[str, ...]]:
    emo, _, ints = spec.partition(":")
    emo = emo.strip()
    intents = tuple(sorted(set(ints.split())))
    if emo not in EMOTIONS:
        raise ValueError(f"{where}: unknown emotion {emo!r}")
    for i in intents:
        if i not in INTENTS:
            raise ValueError(f"{where}: unknown intent {i!r}")
    return emo, intents


def load_seeds(seed_dir: Path) -> Corpus:
    corpus = Corpus()
    for path in sorted(seed_dir.glob("*.txt")):
        lang = path.stem.split("_", 1)[0]
        if lang not in SLOTS:
            raise ValueError(f"{path.name}: file name must start with a language code")
        block: tuple[str, str, tuple[str, ...]] | None = None  # (pool or "", emotion, intents)
        for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            where = f"{path.name}:{n}"
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                block = ("", *parse_labels(line[1:], where))
                continue
            if line.startswith("%"):
                pool, _, spec = line[1:].strip().partition(" ")
                block = (pool, *parse_labels(spec, where))
                continue
            if block is None:
                raise ValueError(f"{where}: line before any block header")
            pool, emo, intents = block
            if "||" in line:
                line, _, spec = line.partition("||")
                line = line.strip()
                emo, intents = parse_labels(spec, where)
            seed = Seed(line, lang, emo, intents, where)
            if pool:
                corpus.pools.setdefault((lang, pool), []).append(seed)
            else:
                corpus.seeds.append(seed)
    return corpus


# --------------------------------------------------------------------------- variation: English

EN_ASR_SUBS = [
    # plausible speech-recognition confusions, applied on lowercased text
    (r"\bpayment\b", "pay meant"),
    (r"\battorney\b", "a tourney"),
    (r"\bsolicitor\b", "solicit her"),
    (r"\bbankruptcy\b", "bankrupt see"),
    (r"\binstal+ments\b", "in stall ments"),
    (r"\brobot\b", "row bot"),
    (r"\bright now\b", "write now"),
    (r"\bchapter 13\b", "chapter thirteen"),
    (r"\bchapter 7\b", "chapter seven"),
    (r"\biva\b", "i v a"),
    (r"\bsupervisor\b", "super visor"),
    (r"\bwould\b", "wood"),
    (r"\bowe\b", "oh"),
    (r"\bthere\b", "their"),
    (r"\bgoing to\b", "gonna"),
    (r"\bwant to\b", "wanna"),
    (r"\bokay\b", "ok"),
    (r"\bquid\b", "squid"),
    (r"\bhuman\b", "you man"),
    (r"\bdebt\b", "det"),
]
EN_FILLERS = ["um", "uh", "erm", "uh so", "um well", "like", "you know", "uhh", "hmm"]
EN_NUMBER_WORDS = {
    "$50": "fifty dollars",
    "$200": "two hundred dollars",
    "£20": "twenty pounds",
    "£100": "a hundred pounds",
    "$75": "seventy five dollars",
    "$1,240.50": "twelve forty fifty",
    "£25": "twenty five pounds",
    "$150": "a hundred and fifty dollars",
    "$30": "thirty dollars",
    "£60": "sixty pounds",
    "£10": "ten pounds",
    "$400": "four hundred dollars",
    "15th": "fifteenth",
    "28th": "twenty eighth",
    "1st": "first",
    "3rd": "third",
    "10th": "tenth",
    "25th": "twenty fifth",
    "5th": "fifth",
    "20th": "twentieth",
}
EN_CHAT_SUBS = [
    (r"\byou\b", "u"),
    (r"\byour\b", "ur"),
    (r"\bplease\b", "pls"),
    (r"\bthanks\b", "thx"),
    (r"\bdon't\b", "dont"),
    (r"\bI'm\b", "im"),
    (r"\bcan't\b", "cant"),
    (r"\bwon't\b", "wont"),
    (r"\bI'll\b", "ill"),
    (r"\bare\b", "r"),
    (r"\bright now\b", "rn"),
    (r"\bbecause\b", "cuz"),
    (r"\bI don't know\b", "idk"),
    (r"\bthat's\b", "thats"),
    (r"\bit's\b", "its"),
    (r"\btomorrow\b", "tmrw"),
    (r"\bokay\b", "k"),
    (r"\bwhat\b", "wat"),
]
KEYBOARD_NEIGHBOURS = {
    "a": "sq",
    "s": "ad",
    "d": "sf",
    "e": "wr",
    "r": "et",
    "t": "ry",
    "o": "ip",
    "i": "uo",
    "n": "bm",
    "m": "n",
    "l": "k",
    "h": "gj",
    "y": "tu",
    "u": "yi",
    "c": "xv",
    "p": "o",
}


def en_asr(text: str, rng: random.Random) -> str:
    t = text
    for k, v in EN_NUMBER_WORDS.items():
        t = t.replace(k, v)
    t = t.lower().replace("’", "'")
    subs = [(p, r) for p, r in EN_ASR_SUBS if re.search(p, t)]
    rng.shuffle(subs)
    for p, r in subs[: rng.choice([1, 1, 2])]:
        t = re.sub(p, r, t, count=1)
    t = re.sub(r"[^\w\s'£$]", " ", t)
    words = t.split()
    if len(words) > 3 and rng.random() < 0.25:  # stutter / repeated word
        i = rng.randrange(len(words) - 1)
        words.insert(i, words[i])
    if words and rng.random() < 0.7:
        pos = 0 if rng.random() < 0.6 or len(words) < 4 else rng.randrange(1, len(words))
        words.insert(pos, rng.choice(EN_FILLERS))
    return " ".join(words)


def en_typo(text: str, rng: random.Random) -> str:
    """Chat-style rendering: texting abbreviations plus at most two keyboard slips."""
    t = text
    subs = [(p, r) for p, r in EN_CHAT_SUBS if re.search(p, t)]
    rng.shuffle(subs)
    for p, r in subs[: rng.choice([1, 2, 3])]:
        t = re.sub(p, r, t)
    if rng.random() < 0.5:
        t = t[0].lower() + t[1:] if t else t
    n_slips = rng.choices([0, 1, 2], weights=[3, 6, 1])[0] if len(t) >= 12 else 0
    for _ in range(n_slips):
        # only inside words of 4+ letters, never the first letter
        spots = [
            m.start() + k for m in re.finditer(r"[a-z]{4,}", t) for k in range(1, len(m.group()))
        ]
        spots = [i for i in spots if t[i] in KEYBOARD_NEIGHBOURS]
        if not spots:
            break
        i = rng.choice(spots)
        op = rng.choice(["swap", "drop", "double", "neighbour"])
        if op == "swap" and i + 1 < len(t) and t[i + 1].isalpha():
            t = t[:i] + t[i + 1] + t[i] + t[i + 2 :]
        elif op == "drop":
            t = t[:i] + t[i + 1 :]
        elif op == "double":
            t = t[:i] + t[i] + t[i:]
        else:
            t = t[:i] + rng.choice(KEYBOARD_NEIGHBOURS[t[i]]) + t[i + 1 :]
    if rng.random() < 0.3:
        t = t.rstrip(".")
    return t


# --------------------------------------------------------------------------- variation: Chinese

ZH_FILLERS = ["嗯", "呃", "那个", "就是", "嗯那个", "然后", "啊"]
# Plausible speech-recognition confusions (homophones, digits for numerals).
ZH_ASR_SUBS = [
    ("在", "再"),
    ("再", "在"),
    ("已经", "以经"),
    ("账", "帐"),
    ("那", "哪"),
    ("她", "他"),
    ("做", "作"),
    ("一千", "1000"),
    ("两千", "2000"),
    ("五百", "500"),
    ("三百", "300"),
    ("15号", "十五号"),
    ("20号", "二十号"),
]
# Code-switching as heard from Mandarin speakers who mix in English words.
# Regex pattern -> replacement; "(?=[，。！？,.!?]|$)" keeps thanks/sorry at a clause end.
_END = r"(?=[，。！？,.!? ]|$)"
ZH_CODESWITCH = [
    (r"(?:^|(?<=[，。！？ ]))好的", "ok"),
    (r"(?:^|(?<=[，。！？ ]))好吧", "ok吧"),
    (r"没问题", "no problem"),
    (r"开会", "开meeting"),
    (r"经理", "manager"),
    (r"邮件", "email"),
    (r"账单", "bill"),
    (r"确认一下", "confirm一下"),
    (r"再打给我", "再call我"),
    (r"打给我", "call我"),
    (r"给我打电话", "call我"),
    (r"谢谢" + _END, "thanks"),
    (r"谢谢你" + _END, "thank you"),
    (r"拜拜", "bye bye"),
    (r"机器人", "AI"),
    (r"我的?律师", "我的lawyer"),
    (r"不好意思" + _END, "sorry"),
    (r"对不起" + _END, "sorry"),
    (r"还一半", "pay一半"),
    (r"已经还了", "已经pay了"),
    (r"周末", "weekend"),
    (r"截图", "screenshot"),
    (r"方案", "plan"),
    (r"还款计划", "还款plan"),
    (r"随便", "whatever"),
    (r"查一下", "check一下"),
    (r"看一下", "check一下"),
    (r"行不行", "ok不ok"),
    (r"可以吗", "ok吗"),
    (r"行吗", "ok吗"),
    (r"老板", "boss"),
    (r"开心", "happy"),
    (r"心情不好", "心情很down"),
    (r"安排一下", "arrange一下"),
    (r"账户", "account"),
    (r"你确定", "你sure"),
    (r"压力好大", "压力好大，好stress"),
    (r"真的很难过", "真的很sad"),
    (r"知道了", "知道了，ok"),
]
# Chat-style spellings: colloquial/internet forms and pinyin-input slips.
ZH_CHAT_SUBS = [
    (r"什么", "啥"),
    (r"怎么", "咋"),
    (r"没有", "木有"),
    (r"这样子", "酱紫"),
    (r"的(?=[，。！？]|$)", "滴"),
    (r"谢谢(?=[，。！？]|$)", "谢啦"),
    (r"在", "再"),
    (r"了(?=[，。！？]|$)", "啦"),
    (r"是不是", "是不"),
    (r"好的", "好滴"),
    (r"吗(?=[？?]|$)", "嘛"),
    (r"这么", "辣么"),
    (r"的", "得"),
    (r"已经", "以经"),
    (r"哪里", "那里"),
]
ZH_PUNCT = "，。！？、；：,.!?~…"


def zh_strip(text: str) -> str:
    return "".join(" " if ch in ZH_PUNCT else ch for ch in text).strip()


def zh_asr(text: str, rng: random.Random) -> str:
    t = text
    subs = [(a, b) for a, b in ZH_ASR_SUBS if a in t]
    rng.shuffle(subs)
    for a, b in subs[: rng.choice([0, 1, 1, 2])]:
        t = t.replace(a, b, 1)
    t = zh_strip(t)
    if rng.random() < 0.5:  # drop the pauses, except between two English words
        t = re.sub(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])", "", t)
    t = re.sub(r"\s+", " ", t)
    if rng.random() < 0.7:
        t = rng.choice(ZH_FILLERS) + rng.choice(["", " "]) + t
    return t


def zh_codeswitch(text: str, rng: random.Random) -> str | None:
    subs = [(p, r) for p, r in ZH_CODESWITCH if re.search(p, text)]
    if not subs:
        return None
    rng.shuffle(subs)
    t = text
    for p, r in subs[: rng.choice([1, 1, 2])]:
        t = re.sub(p, r, t, count=1)
    return t


def zh_typo(text: str, rng: random.Random) -> str:
    t = text
    subs = [(p, r) for p, r in ZH_CHAT_SUBS if re.search(p, t)]
    rng.shuffle(subs)
    for p, r in subs[: rng.choice([1, 1, 2])]:
        t = re.sub(p, r, t, count=1)
    if rng.random() < 0.4:
        t = t.rstrip("。")
    if t.endswith("？") and rng.random() < 0.5:
        t = t + "？？"
    elif t.endswith("！") and rng.random() < 0.5:
        t = t + "！！"
    return t


# --------------------------------------------------------------------------- expansion


def variants_for(seed: Seed, rng: random.Random) -> list[tuple[str, str]]:
    """Candidate (kind, text) variants of one seed; the caller keeps a few."""
    out: list[tuple[str, str]] = []
    has_slot = bool(SLOT_RE.search(seed.text))
    if seed.lang == "en":
        out.append(("asr", en_asr(fill_slots(seed.text, "en", rng), rng)))
        out.append(("typo", en_typo(fill_slots(seed.text, "en", rng), rng)))
    else:
        out.append(("asr", zh_asr(fill_slots(seed.text, "zh", rng), rng)))
        out.append(("typo", zh_typo(fill_slots(seed.text, "zh", rng), rng)))
    if has_slot:
        out.extend([("reslot", fill_slots(seed.text, seed.lang, rng))] * 2)
    return out


EMOTION_PRIORITY = ["angry", "distressed", "confused", "positive", "calm"]

# (pool A, pool B, joiners). The combination's emotion is the stronger of the
# two parts (angry > distressed > confused > positive > calm); intents are the union.
RECIPES: dict[str, list[tuple[str, str, list[str]]]] = {
    "en": [
        ("yes_me", "hard_reason", [", ", ". ", " but ", " - "]),
        ("yes_me", "busy", [", but ", ". ", " but "]),
        ("yes_me", "who_q", [", ", ". ", "... "]),
        ("yes_me", "plan_ask", [", ", ". "]),
        ("yes_me", "promise_core", [", ", ". "]),
        ("yes_me", "vuln_reason", [", ", ". ", " but "]),
        ("yes_me", "dispute_core", [" but ", ", but ", ". "]),
        ("hard_reason", "plan_ask", [", ", ". ", " so ", ", so "]),
        ("hard_reason", "promise_core", [" but ", ", but ", ". "]),
        ("hard_reason", "sorry_tail", [", ", ". ", " and "]),
        ("bot_q", "human_q", [" ", " "]),
        ("dispute_core", "stop", [". ", ", ", " and "]),
        ("dispute_core", "refuse_core", [", ", ". ", " so "]),
        ("paid_core", "stop", [". ", " so "]),
        ("paid_core", "who_q", [". ", ", "]),
        ("lawyer_core", "stop", [". ", ", so "]),
        ("bankrupt_core", "stop", [". ", ", so ", " so "]),
        ("bankrupt_core", "lawyer_core", [". ", ", and "]),
        ("angry_tail", "stop", [" ", ". "]),
        ("angry_tail", "bot_q", [" "]),
        ("angry_tail", "human_q", [" ", ". "]),
        ("who_q", "busy", [" ", " anyway, "]),
        ("vuln_reason", "busy", [". ", ", "]),
        ("vuln_reason", "stop", [". ", ", so "]),
        ("vuln_reason", "plan_ask", [". ", ", "]),
        ("no_me", "stop", [". ", ", so "]),
        ("promise_core", "thanks_tail", [". ", ", "]),
        ("thanks_head", "promise_core", [" ", ", "]),
        ("confused_head", "who_q", [" ", ", "]),
        ("third_intro", "third_vuln", [", ", ". "]),
        ("third_intro", "third_busy", [", ", ". "]),
        ("third_intro", "who_q", [", ", ". "]),
    ],
    "zh": [
        ("yes_me", "hard_reason", ["，", "。", "，但是", " "]),
        ("yes_me", "busy", ["，", "，不过", "。"]),
        ("yes_me", "who_q", ["，", "。", " "]),
        ("yes_me", "plan_ask", ["，", "。"]),
        ("yes_me", "promise_core", ["，", "。"]),
        ("yes_me", "vuln_reason", ["，", "。", "，但是"]),
        ("yes_me", "dispute_core", ["，但是", "，不过", "。"]),
        ("hard_reason", "plan_ask", ["，", "。", "，所以", "，"]),
        ("hard_reason", "promise_core", ["，不过", "，但", "。"]),
        ("hard_reason", "sorry_tail", ["，", "。", " "]),
        ("bot_q", "human_q", ["", "，", " "]),
        ("dispute_core", "stop", ["。", "，", "，"]),
        ("dispute_core", "refuse_core", ["，", "。", "，所以"]),
        ("paid_core", "stop", ["。", "，"]),
        ("paid_core", "who_q", ["。", "，"]),
        ("lawyer_core", "stop", ["。", "，"]),
        ("bankrupt_core", "stop", ["。", "，"]),
        ("bankrupt_core", "lawyer_core", ["。", "，"]),
        ("angry_tail", "stop", ["", "，", "！"]),
        ("angry_tail", "bot_q", ["", "，"]),
        ("angry_tail", "human_q", ["", "，"]),
        ("who_q", "busy", ["", "，"]),
        ("vuln_reason", "busy", ["，", "。"]),
        ("vuln_reason", "stop", ["，", "。"]),
        ("vuln_reason", "plan_ask", ["，", "。"]),
        ("no_me", "stop", ["。", "，"]),
        ("promise_core", "thanks_tail", ["，", "。"]),
        ("thanks_head", "promise_core", ["，", "。"]),
        ("confused_head", "who_q", ["", "，"]),
        ("third_intro", "third_vuln", ["，", "。"]),
        ("third_intro", "third_busy", ["，", "。"]),
        ("third_intro", "who_q", ["，", "。"]),
    ],
}


def join_parts(a: str, b: str, joiner: str, lang: str) -> str:
    if lang == "zh":
        if (joiner and joiner[0] in "，。！") or a.endswith(("？", "！")):
            a = a.rstrip("。，")
        if a.endswith(("？", "！")) and joiner.startswith("，"):
            joiner = joiner[1:]
        return a + joiner + b
    a = a.rstrip(".")
    if a.endswith(("?", "!")) and joiner.startswith((",", ".", " -")):
        joiner = " " + joiner.lstrip(",. -").lstrip()
    keep_case = b.startswith(
        ("I ", "I'", "Alex", "Sam", "Mr", "Ms", "Mrs", "Jordan", "Chris", "Jamie")
    )
    if joiner.rstrip().endswith((".", "?", "!")) or (a.endswith(("?", "!")) and not joiner.strip()):
        b = b[0].upper() + b[1:]
    elif not keep_case:
        b = b[0].lower() + b[1:]
    return a + joiner + b


def combine(corpus: Corpus, lang: str, rng: random.Random) -> list[Row]:
    rows: list[Row] = []
    for a_name, b_name, joiners in RECIPES[lang]:
        pool_a = corpus.pools.get((lang, a_name), [])
        pool_b = corpus.pools.get((lang, b_name), [])
        if not pool_a or not pool_b:
            raise ValueError(f"recipe {lang}:{a_name}+{b_name} has an empty pool")
        n = min(MAX_ROWS_PER_RECIPE, len(pool_a) * len(pool_b), 2 * max(len(pool_a), len(pool_b)))
        pairs = [(i, j) for i in range(len(pool_a)) for j in range(len(pool_b))]
        rng.shuffle(pairs)
        for i, j in pairs[:n]:
            a, b = pool_a[i], pool_b[j]
            text = join_parts(
                fill_slots(a.text, lang, rng),
                fill_slots(b.text, lang, rng),
                rng.choice(joiners),
                lang,
            )
            emotion = min(a.emotion, b.emotion, key=EMOTION_PRIORITY.index)
            intents = tuple(sorted(set(a.intents) | set(b.intents)))
            rows.append(
                Row(
                    text,
                    lang,
                    emotion,
                    intents,
                    f"combo:{lang}:{b_name}:{j}",
                    "combo",
                    f"{a_name}+{b_name}",
                )
            )
    return rows


def expand(corpus: Corpus, combinations: bool = True) -> list[Row]:
    rng = random.Random(SEED)
    rows: list[Row] = []
    for s in corpus.seeds:
        group = f"seed:{s.source}"
        frame = f"seed:{s.source}"
        rows.append(
            Row(fill_slots(s.text, s.lang, rng), s.lang, s.emotion, s.intents, group, "seed", frame)
        )
        if s.lang == "zh":
            # code-switching is its own, additional variant wherever a substitution applies
            cs = zh_codeswitch(fill_slots(s.text, "zh", rng), rng)
            if cs and rng.random() < 0.6:
                rows.append(Row(cs, s.lang, s.emotion, s.intents, group, "codeswitch", frame))
        cands = variants_for(s, rng)
        rng.shuffle(cands)
        # emotional rows get variants more often than calm ones, to keep calm from dominating
        p_one, p_two = (0.22, 0.05) if s.emotion == "calm" else (0.5, 0.12)
        keep = 0
        r = rng.random()
        if r < p_one:
            keep = 1
        if r < p_two:
            keep = 2
        seen_kinds: set[str] = set()
        for kind, text in cands:
            if keep == 0:
                break
            if kind in seen_kinds:
                continue
            seen_kinds.add(kind)
            rows.append(Row(text, s.lang, s.emotion, s.intents, group, kind, frame))
            keep -= 1
    for lang in sorted(SLOTS) if combinations else ():
        rows.extend(combine(corpus, lang, rng))
    return rows


# --------------------------------------------------------------------------- dedup and split


def dedup(rows: list[Row]) -> list[Row]:
    """Keep the first row of each normalised text; drop empty ones.

    A text that occurs with different labels is a labelling error in the seeds.
    """
    seen: dict[str, Row] = {}
    out: list[Row] = []
    conflicts: list[str] = []
    for r in rows:
        key = stats.norm(r.text)
        if not key:
            continue
        if key in seen:
            prev = seen[key]
            if (
                (prev.emotion, prev.intents) != (r.emotion, r.intents)
                and r.kind == "seed"
                and prev.kind == "seed"
            ):
                conflicts.append(
                    f"{r.text!r}: {prev.emotion}{prev.intents} vs {r.emotion}{r.intents}"
                )
            continue
        seen[key] = r
        out.append(r)
    if conflicts:
        raise ValueError("conflicting labels for the same text:\n" + "\n".join(conflicts))
    return out


MIN_CONTAINED_CHARS = {"en": 10, "zh": 5}
MAX_CONTAINING_ROWS = 6


def link_contained(rows: list[Row]) -> None:
    """Merge the groups of rows whose text contains another row's text.

    "stop calling" on its own and "this is ridiculous. stop calling" end up in the
    same split, so the test set holds no phrase that train repeats inside a longer row.
    """
    parent: dict[str, str] = {}

    def find(g: str) -> str:
        while parent.setdefault(g, g) != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    for lang in sorted(SLOTS):
        lang_rows = [r for r in rows if r.lang == lang]
        keys = [stats.norm(r.text) for r in lang_rows]
        starts: list[int] = []
        pos = 0
        for k in keys:
            starts.append(pos)
            pos += len(k) + 1
        haystack = "\n".join(keys)
        for i, k in enumerate(keys):
            if len(k) < MIN_CONTAINED_CHARS[lang]:
                continue
            hits: list[int] = []
            at = haystack.find(k)
            while at != -1 and len(hits) <= MAX_CONTAINING_ROWS:
                j = bisect.bisect_right(starts, at) - 1
                if j != i:
                    hits.append(j)
                at = haystack.find(k, at + 1)
            if len(hits) > MAX_CONTAINING_ROWS:
                continue  # a stock phrase ("yes that's me"); linking it would merge half the set
            for j in hits:
                ga, gb = find(lang_rows[i].group), find(lang_rows[j].group)
                if ga != gb:
                    parent[max(ga, gb)] = min(ga, gb)
    for r in rows:
        r.group = find(r.group)


def _take(
    g: str,
    g_rows: list[Row],
    test_groups: set[str],
    emo_have: dict[str, int],
    int_have: dict[str, int],
) -> None:
    test_groups.add(g)
    for r in g_rows:
        emo_have[r.emotion] += 1
        for i in r.intents:
            int_have[i] += 1


def split(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    rng = random.Random(SEED + 1)
    link_contained(rows)
    test_groups: set[str] = set()
    for lang in sorted(SLOTS):
        lang_rows = [r for r in rows if r.lang == lang]
        groups: dict[str, list[Row]] = {}
        for r in lang_rows:
            groups.setdefault(r.group, []).append(r)
        order = sorted(groups)
        rng.shuffle(order)
        emo_total = {e: sum(1 for r in lang_rows if r.emotion == e) for e in EMOTIONS}
        emo_target = {e: round(TEST_FRACTION * n) for e, n in emo_total.items()}
        int_total = {i: sum(1 for r in lang_rows if i in r.intents) for i in INTENTS}
        int_target = {
            i: max(MIN_TEST_PER_INTENT, round(TEST_FRACTION * n)) for i, n in int_total.items()
        }
        emo_have = dict.fromkeys(EMOTIONS, 0)
        int_have = dict.fromkeys(INTENTS, 0)

        # pass 1: make sure every intent is represented, within the emotion quotas
        for g in order:
            g_rows = groups[g]
            emo = g_rows[0].emotion
            needed = any(int_have[i] < int_target[i] for r in g_rows for i in r.intents)
            if needed and emo_have[emo] + len(g_rows) <= emo_target[emo] * 1.1:
                _take(g, groups[g], test_groups, emo_have, int_have)
        # pass 2: fill the per-emotion quotas
        for g in order:
            if g in test_groups:
                continue
            emo = groups[g][0].emotion
            if emo_have[emo] + len(groups[g]) <= emo_target[emo]:
                _take(g, groups[g], test_groups, emo_have, int_have)
    train = [r for r in rows if r.group not in test_groups]
    test = [r for r in rows if r.group in test_groups]
    return train, test


def training_only(rows: list[Row], test: list[Row]) -> list[Row]:
    """Rows from ``seeds_extra/``, expanded the same way (no combinations), for train only.

    The split above never sees them, so adding training material leaves test.jsonl (and
    the rest of train.jsonl) byte-identical. A row is dropped when its normalised text is
    already in the set, or contains or is contained in a test row's text.
    """
    extra = load_seeds(HERE / "seeds_extra")
    taken = {stats.norm(r.text) for r in rows}
    test_keys = [stats.norm(r.text) for r in test]
    kept = []
    for r in dedup(expand(extra, combinations=False)):
        key = stats.norm(r.text)
        if key in taken or any(_overlaps(key, t, r.lang) for t in test_keys):
            continue
        kept.append(r)
    return kept


def _overlaps(a: str, b: str, lang: str) -> bool:
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) >= MIN_CONTAINED_CHARS[lang] and shorter in longer


def write_jsonl(path: Path, rows: list[Row], counters: dict[str, int], mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8", newline="\n") as fh:
        for r in rows:
            counters[r.lang] += 1
            obj = {
                "id": f"{r.lang}-{counters[r.lang]:06d}",
                "text": r.text,
                "language": r.lang,
                "emotion": r.emotion,
                "intents": list(r.intents),
                # the seed a row was made from (rows linked by containment share one):
                # split() keeps groups whole, and stats.py checks that it did
                "group": r.group,
            }
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")


def frame_report(rows: list[Row]) -> str:
    lines = []
    for lang in sorted(SLOTS):
        lang_rows = [r for r in rows if r.lang == lang]
        by_frame: dict[str, int] = {}
        for r in lang_rows:
            by_frame[r.frame] = by_frame.get(r.frame, 0) + 1
        top = sorted(by_frame.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        kinds: dict[str, int] = {}
        for r in lang_rows:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        share = ", ".join(f"{f} {n} ({100 * n / len(lang_rows):.1f}%)" for f, n in top)
        lines.append(f"{lang}: rows by kind {dict(sorted(kinds.items()))}; largest frames: {share}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if "--stats" in argv:
        return stats.main([])
    corpus = load_seeds(HERE / "seeds")
    rows = dedup(expand(corpus))
    train, test = split(rows)
    extra = training_only(rows, test)
    random.Random(SEED + 2).shuffle(train)
    random.Random(SEED + 3).shuffle(test)
    random.Random(SEED + 4).shuffle(extra)
    counters = dict.fromkeys(SLOTS, 0)
    write_jsonl(HERE / "train.jsonl", train, counters)
    write_jsonl(HERE / "test.jsonl", test, counters)
    write_jsonl(HERE / "train.jsonl", extra, counters, mode="a")  # ids after the test's
    print(f"training-only rows from seeds_extra/: {len(extra)}")
    print(frame_report(rows))
    print()
    return stats.main([])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
