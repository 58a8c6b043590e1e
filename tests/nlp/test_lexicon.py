import pytest

from agent.domain import Emotion, Intent
from agent.nlp.language import detect_language
from agent.nlp.lexicon import (
    DEFERRAL,
    NEEDS_TIME,
    PAY_IN_FULL,
    SCAM_CONCERN,
    SELF_HARM,
    SETTLEMENT_OFFER,
    mentions_pay_in_full,
    scan,
)

I = Intent  # noqa: E741


def intents_of(text: str) -> frozenset[Intent]:
    return scan(text, detect_language(text)).intents


DETECTED: list[tuple[str, Intent]] = [
    # cease_contact
    ("Please stop calling me.", I.cease_contact),
    ("stop ringing this number", I.cease_contact),
    ("Don't call me again", I.cease_contact),
    ("dont contact me", I.cease_contact),
    ("do not ever phone here", I.cease_contact),
    ("just leave me alone", I.cease_contact),
    ("STOP", I.cease_contact),
    ("stop!", I.cease_contact),
    ("remove my number from your system", I.cease_contact),
    ("never contact me again", I.cease_contact),
    ("no more calls please", I.cease_contact),
    ("no, stop calling", I.cease_contact),
    ("别再给我打电话了", I.cease_contact),
    ("不要再打了", I.cease_contact),
    ("别打了行不行", I.cease_contact),
    ("不要联系我", I.cease_contact),
    ("别再联系我了", I.cease_contact),
    ("以后不要再打过来", I.cease_contact),
    ("不 要 再 打 了", I.cease_contact),
    # attorney
    ("you can talk to my lawyer", I.attorney),
    ("I have a lawyer now", I.attorney),
    ("my attorney is handling it", I.attorney),
    ("contact my solicitor please", I.attorney),
    ("i hired an attorney last week", I.attorney),
    ("find my lawyer, not me", I.attorney),
    ("找我律师", I.attorney),
    ("我有律师", I.attorney),
    ("我的律师会处理", I.attorney),
    ("我已经请了律师", I.attorney),
    # bankruptcy
    ("I filed for bankruptcy in the spring", I.bankruptcy),
    ("we're in chapter 7", I.bankruptcy),
    ("it's a chapter thirteen case", I.bankruptcy),
    ("I'm bankrupt", I.bankruptcy),
    ("im bankrupt mate", I.bankruptcy),
    ("I declared bankruptcy", I.bankruptcy),
    ("I'm in an IVA", I.bankruptcy),
    ("我破产了", I.bankruptcy),
    ("我正在申请破产", I.bankruptcy),
    # dispute
    ("this isn't my debt", I.dispute),
    ("this isnt my account", I.dispute),
    ("I don't owe this", I.dispute),
    ("no i dont owe you anything", I.dispute),
    ("I dispute that", I.dispute),
    ("that amount is wrong", I.dispute),
    ("the balance seems too high", I.dispute),
    ("I never had an account with them", I.dispute),
    ("somebody stole my identity", I.dispute),
    ("这不是我的欠款", I.dispute),
    ("我没欠你们钱", I.dispute),
    ("金额不对", I.dispute),
    ("我有异议", I.dispute),
    ("我从来没借过", I.dispute),
    # already_paid
    ("I already paid", I.already_paid),
    ("paid it off last month", I.already_paid),
    ("we settled that in June", I.already_paid),
    ("it's been paid", I.already_paid),
    ("I made the payment yesterday", I.already_paid),
    ("我已经还了", I.already_paid),
    ("早还清了", I.already_paid),
    ("上个月就还了", I.already_paid),
    ("钱已经转过去了", I.already_paid),
    # vulnerability
    ("I'm in hospital at the moment", I.vulnerability),
    ("I've got cancer", I.vulnerability),
    ("my husband died in October", I.vulnerability),
    ("my mum passed away", I.vulnerability),
    ("I've been struggling with depression", I.vulnerability),
    ("I get anxiety attacks", I.vulnerability),
    ("I'm disabled", I.vulnerability),
    ("I lost my job and have no income", I.vulnerability),
    ("i cant afford food for the week", I.vulnerability),
    ("I want to kill myself", I.vulnerability),
    ("我在住院", I.vulnerability),
    ("我得了癌症", I.vulnerability),
    ("我爸刚去世", I.vulnerability),
    ("我有抑郁症", I.vulnerability),
    ("失业了没收入", I.vulnerability),
    ("我不想活了", I.vulnerability),
    # hardship
    ("I lost my job", I.hardship),
    ("I can't afford it right now", I.hardship),
    ("i cant afford that", I.hardship),
    ("we're really struggling", I.hardship),
    ("I won't be able to pay until next month", I.hardship),
    ("money is tight this month", I.hardship),
    ("I'm on benefits", I.hardship),
    ("they reduced my hours", I.hardship),
    ("I've got no money", I.hardship),
    ("手头紧", I.hardship),
    ("我没钱", I.hardship),
    ("我失业了", I.hardship),
    ("收入减少了", I.hardship),
    ("最近有点困难", I.hardship),
    ("真的还不起", I.hardship),
    # wrong_party
    ("wrong number", I.wrong_party),
    ("I'm not Alex", I.wrong_party),
    ("sorry I'm not Sam Taylor", I.wrong_party),
    ("that's not me", I.wrong_party),
    ("there's no one here by that name", I.wrong_party),
    ("you have the wrong person", I.wrong_party),
    ("I don't know who that is", I.wrong_party),
    ("打错了", I.wrong_party),
    ("我不是张伟", I.wrong_party),
    ("不是我", I.wrong_party),
    ("没这个人", I.wrong_party),
    ("你找错人了", I.wrong_party),
    # third_party
    ("he's not here right now", I.third_party),
    ("she's at work", I.third_party),
    ("I'm his wife", I.third_party),
    ("this is her mother speaking", I.third_party),
    ("can I take a message", I.third_party),
    ("this is his phone but he's out", I.third_party),
    ("他不在", I.third_party),
    ("我是他妻子", I.third_party),
    ("我替他接的", I.third_party),
    ("她出去了，有什么事我转告", I.third_party),
    # affirm
    ("yes", I.affirm),
    ("Yeah that's me", I.affirm),
    ("yep", I.affirm),
    ("correct", I.affirm),
    ("that's right", I.affirm),
    ("sure, go ahead", I.affirm),
    ("ok", I.affirm),
    ("speaking", I.affirm),
    ("是", I.affirm),
    ("是的", I.affirm),
    ("对", I.affirm),
    ("对的", I.affirm),
    ("没错", I.affirm),
    ("好", I.affirm),
    ("好的我知道了", I.affirm),
    ("可以", I.affirm),
    ("嗯", I.affirm),
    ("我就是", I.affirm),
    ("我是张伟本人", I.affirm),
    ("对对对", I.affirm),
    # deny
    ("no", I.deny),
    ("nope", I.deny),
    ("No, that's not right", I.deny),
    ("that's not right", I.deny),
    ("不", I.deny),
    ("不是", I.deny),
    ("不对", I.deny),
    ("不行", I.deny),
    ("不可以", I.deny),
    # promise_to_pay
    ("I can pay 200 on Friday", I.promise_to_pay),
    ("I'll pay", I.promise_to_pay),
    ("I will pay it Friday", I.promise_to_pay),
    ("I'll send 200", I.promise_to_pay),
    ("i can do 50 tomorrow", I.promise_to_pay),
    ("i can do fifty tomorrow", I.promise_to_pay),
    ("I'm going to pay it all", I.promise_to_pay),
    ("I'll pay in full next week", I.promise_to_pay),
    ("下周五还两千", I.promise_to_pay),
    ("我明天还", I.promise_to_pay),
    ("15号还五百", I.promise_to_pay),
    ("我会还的", I.promise_to_pay),
    ("月底之前一定还", I.promise_to_pay),
    ("我下个月发了工资就还", I.promise_to_pay),
    ("可以，我下周五还", I.promise_to_pay),
    # payment_plan
    ("can we set up a payment plan", I.payment_plan),
    ("could I pay in installments", I.payment_plan),
    ("I'd rather pay monthly", I.payment_plan),
    ("can I spread it out", I.payment_plan),
    ("I can pay a bit each month", I.payment_plan),
    ("I could do 50 a month", I.payment_plan),
    ("可以分期吗", I.payment_plan),
    ("能不能分期", I.payment_plan),
    ("我每个月还五百", I.payment_plan),
    ("分几次还行吗", I.payment_plan),
    ("我每个月只能还三百", I.payment_plan),
    # refuse_to_pay
    ("I'm not paying", I.refuse_to_pay),
    ("im not paying that", I.refuse_to_pay),
    ("I won't pay", I.refuse_to_pay),
    ("I'm not going to pay", I.refuse_to_pay),
    ("you'll never get a penny from me", I.refuse_to_pay),
    ("I refuse to pay this", I.refuse_to_pay),
    ("我不还", I.refuse_to_pay),
    ("就是不还", I.refuse_to_pay),
    ("不会还的", I.refuse_to_pay),
    ("一分钱都不给", I.refuse_to_pay),
    # callback_later
    ("call me back later", I.callback_later),
    ("can you call back tomorrow", I.callback_later),
    ("I'm busy right now", I.callback_later),
    ("im driving", I.callback_later),
    ("I'm at work", I.callback_later),
    ("it's not a good time", I.callback_later),
    ("i work nights so call me after ten", I.callback_later),
    ("晚点再打", I.callback_later),
    ("我在开车", I.callback_later),
    ("现在不方便", I.callback_later),
    ("明天再说", I.callback_later),
    # request_human
    ("I want to talk to a real person", I.request_human),
    ("can I speak to a human", I.request_human),
    ("let me talk to an agent", I.request_human),
    ("put me through to a representative", I.request_human),
    ("I need to speak to someone", I.request_human),
    ("operator", I.request_human),
    ("I don't want to talk to a machine", I.request_human),
    ("转人工", I.request_human),
    ("我要人工客服", I.request_human),
    ("找真人跟我说", I.request_human),
    # ask_if_bot
    ("are you a robot", I.ask_if_bot),
    ("Are you a real person?", I.ask_if_bot),
    ("is this a recording", I.ask_if_bot),
    ("am I talking to a computer", I.ask_if_bot),
    ("are you human", I.ask_if_bot),
    ("你是机器人吗", I.ask_if_bot),
    ("你是真人吗", I.ask_if_bot),
    ("是AI吗", I.ask_if_bot),
    # ask_details
    ("what is this about", I.ask_details),
    ("which debt?", I.ask_details),
    ("which account is this", I.ask_details),
    ("who is the creditor", I.ask_details),
    ("how much do I owe", I.ask_details),
    ("why are you calling me", I.ask_details),
    ("is this about my phone bill", I.ask_details),
    ("什么欠款", I.ask_details),
    ("哪笔钱", I.ask_details),
    ("我欠多少", I.ask_details),
    ("你们是哪里", I.ask_details),
]

NOT_DETECTED: list[tuple[str, Intent]] = [
    # negation
    ("I'm not refusing to pay", I.refuse_to_pay),
    ("im not refusing to pay i just need time", I.refuse_to_pay),
    ("I don't have a lawyer", I.attorney),
    ("i dont have a lawyer", I.attorney),
    ("I do not have an attorney", I.attorney),
    ("I can't afford a lawyer", I.attorney),
    ("I am not bankrupt", I.bankruptcy),
    ("I'm not bankrupt", I.bankruptcy),
    ("I haven't filed for bankruptcy", I.bankruptcy),
    ("I never went bankrupt", I.bankruptcy),
    ("I'm not disputing it", I.dispute),
    ("not disputing it", I.dispute),
    ("there's no dispute", I.dispute),
    ("I haven't paid it yet", I.already_paid),
    ("I'm not in hospital", I.vulnerability),
    ("I'm not struggling", I.hardship),
    ("I'm not busy", I.callback_later),
    ("I can't pay", I.promise_to_pay),
    ("I won't pay", I.promise_to_pay),
    ("I don't think I can pay", I.promise_to_pay),
    ("I can't pay it all", I.promise_to_pay),
    ("我没有律师", I.attorney),
    ("我没请律师", I.attorney),
    ("我没破产", I.bankruptcy),
    ("我没有申请破产", I.bankruptcy),
    ("我没有异议", I.dispute),
    ("我还没还清", I.already_paid),
    ("我已经还不起了", I.already_paid),
    ("还不了", I.promise_to_pay),
    ("我不会还的", I.promise_to_pay),
    ("我不能明天还", I.promise_to_pay),
    ("我不是不还，是没钱", I.refuse_to_pay),
    ("我还不上", I.refuse_to_pay),
    ("不是没钱", I.hardship),
    ("我不想分期", I.payment_plan),
    # near misses
    ("yesterday was fine", I.affirm),
    ("yesterday", I.affirm),
    ("no problem", I.deny),
    ("I know what this is about", I.deny),
    ("not sure", I.affirm),
    ("I'm not sure", I.wrong_party),
    ("I'm not interested", I.wrong_party),
    ("是不是搞错了", I.affirm),
    ("可以分期吗", I.affirm),
    ("不要再打了", I.deny),
    ("I can pay 200", I.refuse_to_pay),
    ("I won't be able to pay until next month", I.refuse_to_pay),
    ("she's at work", I.callback_later),
    ("are you a robot", I.request_human),
    ("your power of attorney form", I.attorney),
    ("can you call me back", I.cease_contact),
    ("I'll think about a plan", I.cease_contact),
    ("这个月手头紧", I.promise_to_pay),
    ("他不在家", I.wrong_party),
    ("我已经打电话问过了", I.already_paid),
]


@pytest.mark.parametrize(("text", "intent"), DETECTED)
def test_detects_intent(text: str, intent: Intent) -> None:
    assert intent in intents_of(text)


@pytest.mark.parametrize(("text", "intent"), NOT_DETECTED)
def test_does_not_detect_intent(text: str, intent: Intent) -> None:
    assert intent not in intents_of(text)


def test_every_intent_has_english_and_chinese_examples() -> None:
    for chinese in (False, True):
        covered = {
            intent for text, intent in DETECTED if (detect_language(text) == "zh") is chinese
        }
        assert covered == set(Intent)


@pytest.mark.parametrize(
    "text",
    [
        "sorry, are you a robot? I want a real person",
        "I already paid but I'm not paying this again",
    ],
)
def test_several_intents_at_once(text: str) -> None:
    assert len(intents_of(text)) >= 2


def test_asr_style_text_is_understood() -> None:
    text = "im not paying and dont call me again"
    assert {I.refuse_to_pay, I.cease_contact} <= intents_of(text)


def test_code_switched_text_uses_both_tables() -> None:
    assert {I.attorney, I.cease_contact} <= intents_of("我有lawyer, 别再打了")


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "sometimes I think about ending my life, I'll end my life",
        "I don't want to live anymore",
        "i dont want to live",
        "I'm thinking about suicide",
        "I'm not going to kill myself but it's hard",
        "我不想活了",
        "真想死",
        "我想自杀",
    ],
)
def test_self_harm_cue_with_vulnerability(text: str) -> None:
    result = scan(text, detect_language(text))
    assert SELF_HARM in result.cues
    assert I.vulnerability in result.intents
    assert max(result.emotion_scores, key=result.emotion_scores.__getitem__) is Emotion.distressed


@pytest.mark.parametrize(
    "text",
    ["this job is killing me", "I'd kill for a holiday", "my phone died", "想你了", "我想好了"],
)
def test_no_self_harm_cue(text: str) -> None:
    assert SELF_HARM not in scan(text, detect_language(text)).cues


@pytest.mark.parametrize(
    "text",
    [
        "I'll pay it in full",
        "I can pay the whole thing",
        "let me pay the whole balance",
        "I'll pay it all on Friday",
        "I want to pay it off",
        "我下个月全部还清",
        "我可以一次性还清",
        "全额还款",
    ],
)
def test_pay_in_full_cue(text: str) -> None:
    assert PAY_IN_FULL in scan(text, detect_language(text)).cues
    assert mentions_pay_in_full(text, detect_language(text))


@pytest.mark.parametrize(
    "text",
    [
        "I can't pay it all",
        "I can pay some of it",
        "我没法一次性还清",
        "我先还一部分",
        "一次还不清",
    ],
)
def test_no_pay_in_full_cue(text: str) -> None:
    assert PAY_IN_FULL not in scan(text, detect_language(text)).cues
    assert not mentions_pay_in_full(text, detect_language(text))


@pytest.mark.parametrize(
    ("text", "claimed", "not_claimed"),
    [
        ("can you send me a breakdown of the balance", set(), {I.vulnerability}),
        ("what does bankruptcy mean?", set(), {I.bankruptcy}),
        ("so what is an IVA", set(), {I.bankruptcy}),
        ("破产是什么意思？", set(), {I.bankruptcy}),
        # The word claimed for real elsewhere in the text still counts.
        ("I had a breakdown, can I get a breakdown of the charges", {I.vulnerability}, set()),
        ("what does bankruptcy mean for me, I'm filing for bankruptcy", {I.bankruptcy}, set()),
        ("I had a breakdown last year", {I.vulnerability}, set()),
        ("我已经申请个人破产了", {I.bankruptcy}, set()),
    ],
)
def test_a_critical_word_used_for_something_else_claims_nothing(
    text: str, claimed: set[Intent], not_claimed: set[Intent]
) -> None:
    found = scan(text, detect_language(text))
    assert found.intents & {I.vulnerability, I.bankruptcy} == claimed
    assert found.not_claimed == not_claimed


# The cues that steer the policy off its usual path, and wording that must not raise them.
CUES: list[tuple[str, str, bool]] = [
    (SCAM_CONCERN, "is this a scam?", True),
    (SCAM_CONCERN, "you're scammers", True),
    (SCAM_CONCERN, "how do I know you're real", True),
    (SCAM_CONCERN, "is this even legit", True),
    (SCAM_CONCERN, "你们是不是骗子啊", True),
    (SCAM_CONCERN, "我怎么知道你们不是骗人的", True),
    (SCAM_CONCERN, "你们是正规公司吗", True),
    # Not a question about who we are.
    (SCAM_CONCERN, "I was a victim of identity fraud", False),
    (SCAM_CONCERN, "real quick, can I pay on Friday", False),
    (SCAM_CONCERN, "这是真的吗，我欠这么多", False),
    (SETTLEMENT_OFFER, "would you take 500 to settle the whole thing", True),
    (SETTLEMENT_OFFER, "can I settle the account for 600", True),
    (SETTLEMENT_OFFER, "I'll make a full and final settlement offer", True),
    (SETTLEMENT_OFFER, "can you knock something off", True),
    (SETTLEMENT_OFFER, "能不能减免一部分", True),
    (SETTLEMENT_OFFER, "我只还本金行不行", True),
    (SETTLEMENT_OFFER, "少还一点就结清吧", True),
    # Paying, or asking about, the whole balance is not an offer to settle for less.
    (SETTLEMENT_OFFER, "I want to settle the balance in full", False),
    (SETTLEMENT_OFFER, "I can pay 500 on Friday", False),
    (SETTLEMENT_OFFER, "我想一次性还清", False),
    (DEFERRAL, "can I have a few more days", True),
    (DEFERRAL, "I need a bit more time to pay", True),
    (DEFERRAL, "could you push the payment back", True),
    (DEFERRAL, "能不能宽限几天", True),
    (DEFERRAL, "再给我两天时间", True),
    (DEFERRAL, "可以延期吗", True),
    (DEFERRAL, "can I pay monthly", False),
    (DEFERRAL, "我下周三还两千", False),
    (NEEDS_TIME, "I need to talk to my wife first", True),
    (NEEDS_TIME, "let me think about it", True),
    (NEEDS_TIME, "I'll get back to you", True),
    (NEEDS_TIME, "我得跟老婆商量一下", True),
    (NEEDS_TIME, "我考虑一下", True),
    (NEEDS_TIME, "my wife will pay it on Friday", False),
    (NEEDS_TIME, "我老婆下周五还", False),
]


@pytest.mark.parametrize(("cue", "text", "raised"), CUES)
def test_cues(cue: str, text: str, raised: bool) -> None:
    assert (cue in scan(text, detect_language(text)).cues) is raised


EMOTIONS: list[tuple[str, Emotion]] = [
    ("This is ridiculous, stop harassing me", Emotion.angry),
    ("fuck off", Emotion.angry),
    ("you people are scammers", Emotion.angry),
    ("STOP CALLING ME", Emotion.angry),
    ("滚", Emotion.angry),
    ("烦死了", Emotion.angry),
    ("你有病吧", Emotion.angry),
    ("骗子", Emotion.angry),
    ("I'm scared and overwhelmed", Emotion.distressed),
    ("i cant cope anymore", Emotion.distressed),
    ("I'm desperate", Emotion.distressed),
    ("怎么办啊", Emotion.distressed),
    ("压力好大", Emotion.distressed),
    ("我要崩溃了", Emotion.distressed),
    ("I don't understand", Emotion.confused),
    ("what?", Emotion.confused),
    ("huh", Emotion.confused),
    ("I'm confused", Emotion.confused),
    ("什么意思", Emotion.confused),
    ("听不懂", Emotion.confused),
    ("搞不懂你在说什么", Emotion.confused),
    ("thank you so much", Emotion.positive),
    ("thanks, that's great", Emotion.positive),
    ("I'm so relieved", Emotion.positive),
    ("谢谢", Emotion.positive),
    ("太好了", Emotion.positive),
    ("I can pay on Friday", Emotion.calm),
    ("yes", Emotion.calm),
    ("我明天还", Emotion.calm),
    # no emotion words: vulnerability and hardship lean distressed
    ("I lost my job", Emotion.distressed),
    ("my wife passed away", Emotion.distressed),
    ("手头紧", Emotion.distressed),
    # negated emotion words do not count
    ("I'm not happy about this", Emotion.calm),
    ("I'm not worried", Emotion.calm),
]


@pytest.mark.parametrize(("text", "emotion"), EMOTIONS)
def test_dominant_emotion(text: str, emotion: Emotion) -> None:
    scores = scan(text, detect_language(text)).emotion_scores
    assert max(scores, key=scores.__getitem__) is emotion


@pytest.mark.parametrize(("text", "emotion"), EMOTIONS)
def test_emotion_scores_are_a_distribution(text: str, emotion: Emotion) -> None:
    scores = scan(text, detect_language(text)).emotion_scores
    assert set(scores) == set(Emotion)
    assert sum(scores.values()) == pytest.approx(1.0)
    assert all(0.0 < score < 1.0 for score in scores.values())
    assert 0.6 <= scores[emotion] <= 0.85


def test_more_cues_raise_confidence() -> None:
    one = scan("this is ridiculous", "en").emotion_scores[Emotion.angry]
    three = scan("this is ridiculous, you idiots, stop harassing me", "en").emotion_scores
    assert three[Emotion.angry] > one


def test_mixed_cues_share_the_rest() -> None:
    scores = scan("thanks but I'm scared", "en").emotion_scores
    others = {e: s for e, s in scores.items() if e is not Emotion.distressed}
    assert max(others, key=others.__getitem__) is Emotion.positive


def test_result_is_immutable() -> None:
    result = scan("stop calling", "en")
    with pytest.raises(AttributeError):
        result.intents = frozenset()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hello, who is this?", "en"),
        ("", "en"),
        ("12345", "en"),
        ("你好，请问是哪位", "zh"),
        ("我想 pay 两千", "zh"),
        ("ok 好的", "zh"),
        ("我的lawyer会处理", "zh"),
        ("My name is 张伟", "en"),
        ("Please stop calling me, I said 不要", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language
