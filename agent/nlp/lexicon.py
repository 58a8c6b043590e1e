"""Deterministic first layer: critical intents, cues and a rough emotion, in English and Chinese.

The phrase tables below are regex fragments, one tuple per label and language; extend them
freely. Text is normalised first: lower case, apostrophes dropped ("don't" -> "dont",
"I'm" -> "im", so fragments are written without them), spaces between Chinese characters
removed, runs of spaces collapsed. English fragments match on word boundaries. Both tables
run on every utterance, so code-switched text is covered; `language` only says which one
the caller expects.

Negation. For the labels in `NEGATION_AWARE`, a match is cancelled by a negator just before
it in the same clause:
- English: a negator ("not", "no", "never", "dont", "cant", ...) among the three tokens
  before the match, counting only tokens after the last subject word ("i", "im", "he", ...)
  and after the last clause break (punctuation, "but", "and", ...). An utterance-initial
  "no" is an interjection, not a negator. "I don't have a lawyer" and "I'm not bankrupt"
  are cancelled; "No, I don't owe this" is not.
- Chinese: 不, 没 or 未 among the three characters before the match, after the last
  pronoun (我, 你, 他, 她) and clause break; A-not-A questions (能不能, 可不可以) are not
  negations. "我没有律师" is cancelled, "能不能分期" is not.
Phrases that carry their own negation ("dont call me", "不还", "没欠") are written as such;
the check looks before them, so a double negation ("我不是不还") cancels too.
Cease-contact, self-harm, anger and the conversational labels (affirm, deny, wrong and third
party, request_human, ask_*) are never cancelled: recall matters more there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from agent.domain import Emotion, Intent, Language

I = Intent  # noqa: E741 - short alias keeps the tables readable

# -- shared English fragments (apostrophes are stripped before matching) --
DONT = r"(?:dont|do not)"
CANT = r"(?:cant|cannot|can not)"
IM = r"(?:im|i am)"
ISNT = r"(?:isnt|is not|aint|wasnt|was not)"
NUM_EN = (
    r"(?:[$£€¥]?\d[\d,.]*k?|a hundred|a grand|one|two|three|four|five|six|seven|eight|nine|"
    r"ten|twelve|fifteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred)"
)
ADV_EN = (
    r"(?:probably|definitely|certainly|just|only|maybe|try to|try and|then|still|at least|also|"
    r"easily|actually|totally|now|gladly|happily|hopefully|def)"
)
PAY_EN = r"(?:pay|send|transfer|settle|clear|wire|make (?:a|the|my|that) payment)"
WEEKDAY_EN = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"

# -- shared Chinese fragments --
WHEN_ZH = (
    r"(?:今天|明天|后天|大后天|今晚|下下?个?(?:周|星期|礼拜).|这个?(?:周|星期|礼拜).|本周.|"
    r"(?:周|星期|礼拜)[一二三四五六日天]|下个?月(?:初|底|中|\d{1,2}[号日]|[一二三四五六七八九十]{1,3}[号日])?|"
    r"月底|月初|月中|\d{1,2}[号日]|[一二三四五六七八九十]{1,3}[号日]|过几天|这几天|马上|立刻|年底)"
)
NOT_STILL_ZH = r"(?![不没要是在有得])"  # 还 as "still": 还不上, 还要, 还是, 还在

EN_PHRASES: dict[Intent, tuple[str, ...]] = {
    I.cease_contact: (
        r"stop (?:calling|ringing|phoning|contacting|texting|messaging|emailing|bothering|"
        r"harass\w*|hounding|pestering)",
        rf"(?:{DONT}|never)(?: ever| you dare)? (?:call|ring|phone|contact|text|message|email|"
        r"bother)(?:ing)? (?:me|us|this number|here|again)",
        r"leave (?:me|us) (?:alone|be)",
        r"^(?:stop[\s!.]*)+$",
        r"(?:remove|delete|erase|take) (?:my|this) (?:phone )?(?:number|name|details)",
        r"take (?:me|my number) off (?:your|the) (?:list|system|database|records)",
        r"(?:lose|forget) (?:my|this) number",
        r"no (?:more|further) (?:calls|phone calls|texts|messages|contact)",
        r"unsubscribe|opt out|cease and desist|cease (?:all )?(?:contact|communication)",
        rf"{DONT} want (?:any )?(?:more )?(?:calls|to be (?:called|contacted)|you (?:calling|"
        r"contacting))",
        r"do not call list",
        # Restricting contact counts too: "only contact me in writing", "go through my lawyer".
        r"(?:contact|write to|email) me (?:only )?in writing|in writing only|only (?:by|in) "
        r"(?:writing|letter|post|mail)",
        r"(?:all )?(?:contact|communication|correspondence)s? (?:must |should )?(?:go )?"
        r"(?:through|via) my (?:lawyer|solicitor|attorney)",
    ),
    I.attorney: (
        r"(?<!power of )attorneys?",
        r"lawyers?|solicitors?|barristers?|paralegal|law firm",
        r"legal (?:counsel|representation|representative|aid|advisor|adviser)",
    ),
    I.bankruptcy: (
        r"bankrupt\w*",
        r"chapter (?:7|13|11|seven|thirteen|eleven)",
        r"iva|individual voluntary arrangement",
        r"insolven\w*|debt relief order|dro|sequestration",
        r"official receiver|trust deed",
    ),
    I.dispute: (
        rf"(?:{ISNT}|not|never was) (?:mine|my (?:debt|account|bill|loan|card|credit card|"
        r"balance|contract|phone bill))",
        rf"(?:{DONT}|didnt|did not|never) (?:even |actually )?owed?",
        r"disput\w*",
        r"(?:amount|balance|figure|number|sum|total|bill|charge)s? (?:is|are|seems?|looks?) "
        r"(?:all |completely |totally |way )?(?:wrong|incorrect|off|too high|not right|inflated)",
        r"wrong (?:amount|balance|figure|total|sum)",
        rf"(?:never|didnt|did not|{DONT}) (?:had|have|open(?:ed)?|sign(?:ed)? (?:up )?for|"
        r"took out|take out|apply for|applied for) (?:an?|any|that|this|the) (?:account|loan|"
        r"card|credit card|contract|agreement)",
        r"identity theft|stolen identity|identity (?:was )?stolen|"
        r"some(?:one|body) (?:used|stole) my (?:identity|details|name)",
        r"(?:not|never) (?:responsible|liable) for",
        rf"{DONT} recogni[sz]e (?:this|that|the|it)",
        r"(?:prove|proof) (?:it|that|i owe)",
        r"(?:debt )?validation (?:notice|letter)|validate (?:the|this|that) debt",
        r"(?:charged|billed) (?:me )?twice|overcharg\w*|double charged",
        r"(?:doesnt|does not) belong to me",
    ),
    I.already_paid: (
        r"already (?:paid|payed|settled|cleared|sent|made|transferred|taken care)",
        r"(?:i|we|ive|weve|i have|we have) (?:just |already )?(?:paid|payed|settled|cleared)",
        r"paid (?:it|this|that|the (?:bill|balance|debt|account|loan)|you|everything|in full|"
        r"off|up)",
        r"(?:its|it is|its been|it has been|it was|this was|that was|thats been|account is|"
        r"balance is|debt is|bill is|loan is) (?:already )?(?:been )?(?:paid|settled|cleared)",
        r"(?:made|sent) (?:the|that|my|this|a|full) (?:payment|money|transfer|check|cheque)",
        r"took care of (?:it|this|that)",
        r"receipt|proof of payment|confirmation number",
    ),
    I.refuse_to_pay: (
        r"(?<!can )(?<!could )not (?:going to |gonna |ever )?(?:pay|paying)(?! (?:attention|for))",
        r"(?:wont|will not|never|will never|wont ever|shall not) (?:\w+ )?pay\b",
        r"refus\w* to pay",
        r"(?:never|not) (?:get|getting|see|seeing) (?:a|one|any) (?:single )?(?:penny|cent|dime|"
        r"dollar|pound|red cent)",
        r"not (?:giving|paying) (?:you )?(?:a|one|any) (?:single )?(?:penny|cent|dime|dollar|"
        r"pound|thing)",
        r"not a (?:single )?(?:penny|cent|dime)",
        r"no way (?:im|i am|am i|i will|ill|in hell)(?: \w+)? pay",
        r"why (?:should|would) i (?:\w+ )?pay",
        r"(?:you can|go ahead and) sue me",
    ),
    I.promise_to_pay: (
        rf"(?:i|we) (?:can|could|will|would|shall|should be able to|am able to|am going to|"
        rf"am gonna)(?: {ADV_EN})? {PAY_EN}",
        rf"(?:ill|well|im going to|im gonna|were going to|im able to|im happy to|i am happy to|"
        rf"id like to|i would like to|let me)(?: {ADV_EN})? {PAY_EN}",
        rf"(?:i|we) (?:can|could) (?:do|manage|afford|find|spare|give you|offer) {NUM_EN}",
        rf"(?:how about|what about|lets say|i can offer|i could offer) {NUM_EN}",
        rf"(?:pay|settle|clear) (?:it|this|that|the (?:balance|debt|bill|rest)) (?:all |off )?"
        rf"(?:in full|today|tomorrow|tonight|this week|next week|on|by|{WEEKDAY_EN})",
        r"pay (?:it |this |that |everything )?(?:all|in full)",
        r"promise (?:to pay|ill pay|i will pay|i can pay|youll get|you will get)",
        r"(?:youll|you will) (?:get|have) (?:it|the money|your money|the payment|payment|"
        r"[$£€¥]?\d)",
        r"(?:check|cheque|payment|money) (?:is|will be) in the (?:mail|post)",
        r"(?:ill|i will|well|we will) (?:have|get) (?:it|the money|you the money|the payment) "
        r"(?:to you|by|on|tomorrow|next|this)",
    ),
    I.payment_plan: (
        r"(?:payment|repayment|instal+ment|pay) (?:plan|plans|arrangement|schedule|agreement)",
        r"instal+ments?",
        r"(?:pay|paying|payments?|do|send|give you|put) (?:it |you |that |this |some |something |"
        r"a (?:bit|little|little bit|few (?:quid|bucks|dollars)) |[$£€¥]?\S+ )?(?:each|every|a|"
        r"per|by the) (?:month|week|fortnight|payday)",
        r"(?:monthly|weekly|fortnightly|biweekly|bi weekly) (?:payments?|instal\w*|amounts?)",
        r"pay (?:it |this |that )?(?:monthly|weekly|fortnightly|biweekly)",
        r"spread (?:it |this |that |the (?:payments?|cost|balance|debt) )?(?:out|over)",
        r"(?:in|into) (?:smaller |several |multiple |a few |monthly |weekly )?(?:parts|chunks|"
        r"stages|pieces)",
        r"over (?:the next |a few |several |\S+ )(?:months|weeks)",
        r"(?:smaller|partial|part|regular|token) payments?",
        r"bit by bit|little by little|a (?:bit|little) at a time",
        r"(?:set up|arrange|work out) (?:a |an )?(?:plan|arrangement)",
    ),
    I.hardship: (
        r"(?:lost|losing|lose) (?:my|our|his|her) (?:job|work|income|business)",
        r"laid off|made redundant|redundan\w*|unemployed|out of work|jobless|(?:got|been|was) "
        r"fired",
        rf"{CANT} (?:afford|pay|make (?:the |my )?payments?|make ends meet|keep up)",
        r"(?:unable|not able|wont be able|will not be able) to (?:pay|afford|make)",
        r"struggl\w*|hardship|hard times|tough times|difficult time|rough patch|hard time",
        r"(?:money|things|finances|cash) (?:is|are) (?:really |very |so |a bit |pretty )?"
        r"(?:tight|short|bad|difficult|hard)",
        r"(?:tight|short) (?:on|of) (?:money|cash|funds)",
        r"on (?:benefits|welfare|universal credit|unemployment|disability|food stamps|"
        r"(?:a )?pension|social security|ssi|jsa|esa)",
        r"universal credit|food stamps",
        r"(?:reduced|cut|fewer|less) (?:my |our )?(?:hours|shifts|pay|wages|salary|income)",
        r"(?:hours|shifts|pay|wages|salary|income) (?:got |have been |were |was |has been )?"
        r"(?:cut|reduced|slashed|dropped)",
        rf"(?:{DONT} have|have no|got no|no) (?:any |the |enough |spare )?(?:money|cash|funds|"
        r"savings)",
        r"(?:im|i am|were|we are|completely|totally|flat|stone) broke",
        r"behind (?:on|with) (?:my |the |all my )?(?:bills|rent|mortgage|payments)",
        r"(?:financial|money) (?:difficult\w*|problems?|trouble|issues|hardship)",
        r"pay ?check to pay ?check|pay ?day to pay ?day|pay cut|(?:medical|hospital) bills",
    ),
    I.vulnerability: (
        r"(?:in|at|into|to) (?:the )?hospital|hospitali[sz]\w*",
        r"cancer|chemo\w*|tumou?r|leuka?emia|terminal\w*|dialysis|stroke|heart attack",
        r"(?:had|having|need|needs) (?:an )?(?:operation|surgery)|surgery",
        r"(?:seriously|very|really|terribly|chronically|terminally|critically) (?:ill|sick)",
        r"(?:chronic|serious|long term|terminal|mental) (?:illness|condition|disease|pain)",
        r"diagnosed with",
        r"died|passed away|passed on|funeral|bereave\w*|widow\w*",
        r"lost my (?:husband|wife|partner|son|daughter|mother|mum|mom|father|dad|child|baby|"
        r"brother|sister)",
        r"depress\w*|anxiety|panic attacks?|bipolar|schizophreni\w*|ptsd|mental health|"
        r"breakdown|psychiatric",
        r"disabled|disability|wheelchair|dementia|alzheimers?|learning difficult\w*|carer",
        rf"(?:no|zero) income|(?:{DONT} have|have no|got no) (?:any )?income|nothing coming in|"
        r"no money coming in",
        rf"{CANT} (?:afford|buy|get) (?:food|to eat|groceries|my medication|medicine|heating)",
        rf"food ?bank|{CANT} feed (?:my|the) (?:kids|children|family)",
        r"homeless|evicted|eviction|sleeping rough",
        r"pregnan\w*|miscarriage|domestic (?:abuse|violence)|addiction|gambling problem",
        r"sick leave|off sick|signed off (?:sick|work|with)",
    ),
    I.wrong_party: (
        r"wrong (?:number|person|guy|man|woman|lady|house|household|phone)",
        r"(?:you have|youve got|you got|youve) (?:got )?the wrong",
        r"(?:no one|nobody|noone) (?:here )?(?:by|of|with|called|named|goes by) (?:that|this|the) "
        r"name",
        rf"{DONT} know (?:him|her|them|that person|anyone|anybody|who (?:that|this) is|who "
        r"youre talking about)",
        r"(?:he|she|they) (?:doesnt|does not|dont|do not|no longer) live here",
        r"never heard of (?:him|her|them|that person|this person)",
        rf"(?:{IM}|this is|its|it is|thats|that is) not (?:him|her|them|me|he|she|the (?:right )?"
        r"person|who youre (?:looking for|after)|who you want)",
        r"my name (?:is not|isnt)",
        # "I'm not Alex (Morgan)": a short reply naming someone else.
        r"^(?:(?:no|nope|sorry|um|uh|well|oh)\s+)*(?:im|i am|this is|this isnt|its) not "
        r"(?!(?:sure|going|gonna|paying|interested|bankrupt|refusing|disputing|able|aware|happy|"
        r"ok|okay|ready|working|busy|driving|home|at|in|on|a|an|the|that|this|very|really|so|too|"
        r"trying|saying|talking|calling|your|giving|doing|here|there|well|feeling|done|asking|"
        r"lying|joking|kidding|rich|available|allowed|worried|scared|angry|mad|upset|sick|ill|"
        r"confused|alone|responsible|liable|listening|answering|dealing|agreeing|hiding|afraid|"
        r"sorry|even|just|quite|exactly|employed|married|familiar|good|fine|stupid|lying|"
        r"\w+ing)\b)[a-z]+(?: [a-z]+)?[\s.!?]*$",
    ),
    I.third_party: (
        r"(?:hes|he is|shes|she is|theyre|they are) (?:not (?:here|home|in|available|around|"
        r"back)|out|away|at work|at school|busy|asleep|sleeping|unavailable|in the shower|"
        r"on holiday|on vacation)",
        rf"(?:he|she|they|hes|shes) (?:{CANT}|isnt able to) (?:come to|get to|take) the phone",
        rf"(?:{IM}|this is) (?:his|her|their) (?:wife|husband|partner|mother|mom|mum|father|dad|"
        r"son|daughter|brother|sister|friend|roommate|flatmate|carer|caregiver|colleague|boss|"
        r"girlfriend|boyfriend|fiance|fiancee|grandmother|grandfather|aunt|uncle|neighbou?r|"
        r"assistant|secretary)",
        r"(?:can|may|shall) i take a message|(?:take|leave) a message",
        r"(?:this is|thats|its) (?:his|her|their) (?:phone|number|cell|mobile)",
        r"(?:ill|i will|i can) (?:tell|let) (?:him|her|them) know",
        r"(?:ill|i will|i can) pass (?:it|the message|that) on",
        r"(?:hell|he will|shell|she will|theyll|they will) (?:be back|call you back|get back to)",
        r"(?:answering|speaking) (?:for|on behalf of) (?:him|her|them)|on (?:his|her) behalf",
    ),
    I.callback_later: (
        r"call (?:me |us |you )?(?:back|later|again|tomorrow|tonight|another time|some other "
        r"time|next week|in an hour|after|in the (?:morning|afternoon|evening))",
        r"ring (?:me |you )?back",
        r"try (?:me |again |back )?(?:later|tomorrow|another time|again later)",
        r"(?:talk|speak|chat) (?:later|tomorrow|another time)",
        r"(?:not a good|bad|not the best|not a great|inconvenient|awkward) time",
        rf"{CANT} (?:talk|speak|chat)(?: right)?(?: now)?",
        rf"{IM} (?:just |a bit |a little |really |very |kind of |kinda |too |so |currently |"
        r"right )?(?:busy|driving|at work|in a meeting|at the office|on the road|in the car|"
        r"working|on the other line|in class|with a customer|at the doctors?)",
        r"in the middle of (?:something|a meeting|work)|not (?:right )?now|another time",
    ),
    I.request_human: (
        r"(?:talk|speak|chat|connect|transfer|put) (?:me )?(?:to|with|through to|over to) "
        r"(?:a |an |some |the |your )?(?:real |actual |live |human )?(?:person|human|agent|"
        r"representative|rep|someone|somebody|manager|supervisor|operator|people|human being|"
        r"advisor|adviser)",
        r"(?:want|need|get|give) (?:me )?(?:a |an |to )?(?:real |actual |live )?(?:human|agent|"
        r"representative|manager|supervisor|operator|person)",
        r"operator|customer service|representative|transfer me",
        r"(?:agent|human|person|someone) please",
        rf"{DONT} want to (?:talk|speak|chat) (?:to|with) (?:a |an )?"
        r"(?:robot|machine|bot|computer)",
    ),
    I.ask_if_bot: (
        r"are you (?:a |an |just a )?(?:real|human|person|robot|bot|machine|computer|ai|"
        r"artificial|automated|recording|recorded|chatbot|program)",
        r"(?:is this|is that) (?:a |an )?(?:recording|robot|bot|machine|computer|automated|"
        r"real person|human|ai|recorded|chatbot)",
        r"(?:am i|are we) (?:talking|speaking|chatting) (?:to|with) (?:a |an )?(?:real |actual )?"
        r"(?:person|human|computer|robot|bot|machine|ai|recording|chatbot)",
        r"(?:youre|you are) (?:a |an |just a )?(?:robot|bot|machine|computer|ai|recording|chatbot)",
        r"(?:you sound|sounds) like a (?:robot|machine|computer|recording)",
        r"human or (?:a )?(?:robot|machine|bot|computer|ai)|(?:robot|bot|machine|computer|ai) or "
        r"(?:a )?(?:human|person|real)",
    ),
    I.ask_details: (
        r"what (?:is|s|was) (?:this|it|that|the call) (?:about|regarding|for|concerning)",
        r"whats (?:this|it|that) (?:about|regarding|for)|what is this regarding",
        r"which (?:debt|account|loan|bill|card|company|creditor|bank|payment)",
        r"who (?:is|s) (?:the )?(?:creditor|lender|original creditor|company|client)",
        r"who (?:are you|is this|is calling|are you with|do you work for|do you represent)",
        r"whos (?:this|calling|the creditor)",
        r"how much (?:do|did|does|would) (?:i|we) (?:owe|have to pay)|what do i owe",
        r"(?:how much|what) (?:is|s) (?:it|the (?:debt|balance|bill|amount|total)|my (?:debt|"
        r"balance))",
        r"why (?:are|r) you (?:calling|ringing|contacting)",
        r"what (?:debt|account|company|loan|bill|money)",
        r"where (?:are you|is this) calling from|what do you want|is (?:this|it) about",
    ),
    I.affirm: (
        r"^(?:(?:oh|well|um|uh|er|hmm)\s+)?(?:yes|yeah|yep|yup|yea|ya|correct|thats (?:right|"
        r"correct)|that is (?:right|correct)|right|sure|ok|okay|alright|all right|speaking|"
        r"absolutely|definitely|certainly|of course|uh huh|mhm|indeed|affirmative|fine)",
        r"(?:thats|it is|its|yes its) me|this is (?:he|she|him|her)",
    ),
    I.deny: (
        r"^(?:(?:oh|well|um|uh)\s+)?(?:no(?! (?:problem|worries|doubt))|nope|nah|not really|"
        r"negative|incorrect)",
        r"(?:thats|that is|its|it is) (?:not (?:right|correct|true)|wrong|incorrect)",
    ),
}

ZH_PHRASES: dict[Intent, tuple[str, ...]] = {
    I.cease_contact: (
        r"别(?:再)?(?:给我|跟我|往这)?打(?:电话)?",
        r"不要(?:再)?(?:给我)?打(?:电话|过来|来|了|$)",
        r"(?:别|不要|不许|不准|禁止|停止)(?:再)?(?:联系|骚扰|打扰|烦|找|催)(?:我|了)",
        r"停止(?:给我)?(?:打电话|联系|催收|骚扰)",
        r"以后(?:都)?(?:别|不要|不用)(?:再)?(?:打|联系)",
        r"不(?:想|要)(?:再)?接(?:到)?(?:你们的)?电话",
        r"(?:删|删掉|删除)(?:我的)?(?:号码|电话|信息)",
        r"(?:再打|再联系)(?:我)?(?:就)?(?:投诉|报警|告你)",
        r"(?:不要|别)再来电|拒绝(?:接听|来电|联系)",
        # Restricting contact: 只能书面联系, 有事寄信, 沟通都通过律师.
        r"(?:只|只能|请)?(?:书面|写信|寄信)(?:联系|沟通|通知)?(?:就行|就好|就可以|即可)|"
        r"只(?:接受|能)?(?:书面|写信|寄信)",
        r"(?:所有|一切|任何)?(?:沟通|联系|事情)(?:都)?(?:请)?(?:通过|找|联系)(?:我的?)?律师",
    ),
    I.attorney: (r"律师", r"法律顾问", r"律所"),
    I.bankruptcy: (r"申请破产", r"宣告破产", r"破产"),
    I.dispute: (
        r"不是我的(?:欠款|债|钱|账|贷款|卡|借款|账单)",
        r"没(?:有)?欠(?:过)?",
        r"不欠",
        r"(?:金额|数目|数字|钱数|账单|欠款|账|数)(?:不对|有误|错了|有问题|不符|算错)",
        r"(?:算错|搞错|弄错)了",
        r"异议",
        r"没(?:有)?(?:借|贷|办|申请|开)过",
        r"不是我借的|不认(?:这笔|这个|账)|不承认",
        r"(?:被|有人)(?:盗用|冒用)",
        r"(?:凭什么|为什么)说我欠",
    ),
    I.already_paid: (
        r"已经(?:还|付|交|转账?|打款|打钱|结)(?!不)",
        r"早(?:就)?(?:还|付|交)(?:了|清|完|过)",
        r"(?:还|付|交)(?:清|完|过)了",
        r"(?:上个?月|上周|昨天|前天|之前)(?:就)?(?:已经)?(?:还|付|转|交)(?:了|过|清)",
        r"结清了|还款(?:记录|凭证)|(?:转账|付款)(?:记录|凭证)",
    ),
    I.refuse_to_pay: (
        r"(?<!还)不(?:会|想|打算|准备|愿意|可能)?还(?:钱|款|你们|了|的)?(?![清完上起有要是在得])",
        r"(?:一分钱?|一毛钱?)(?:都|也)?不(?:会)?(?:还|给)",
        r"(?:凭什么|为什么)(?:要)?(?:我)?还",
        r"不给(?:你们)?(?:钱|了)|没打算还|赖账|(?:有本事|你)(?:去)?(?:告|起诉)(?:我|吧)",
    ),
    I.promise_to_pay: (
        rf"{WHEN_ZH}(?:之前|以前|前)?(?:就|再|先|会|能|可以|一定|肯定)?(?:把钱)?"
        rf"(?:还|付|交|转|打款|还款){NOT_STILL_ZH}",
        rf"(?:会|可以|能|愿意|打算|准备|保证|答应|尽快|一定|肯定)(?:先)?(?:把钱)?"
        rf"(?:还|付|还款|打款){NOT_STILL_ZH}",
        r"还(?:你们?|给你们?)?(?:\d+(?:\.\d+)?(?:万|千|百)?(?:块钱?|元)?|[零一二两三四五六七八九十]*"
        r"[十百千万][零一二两三四五六七八九十百千万]*(?:块钱?|元)?)",
        r"先还(?:一部分|一点|一些|点)",
        r"(?:就|才|再|马上)(?:还|付)(?:钱|款|上|给你们)?(?=$|[\s，,。！!])",
        r"(?:一次性|全部|全额)(?:还|付|结)",
    ),
    I.payment_plan: (
        r"分期",
        r"每(?:个)?月.{0,3}?(?:还|付|交|给|打)",
        r"分(?:几|两|三|四|五|六|十|多|\d+)(?:次|个月|期)",
        r"按月(?:还|付)|慢慢还|一点一点(?:地)?还|分批|(?:每周|每个星期)(?:还|付)",
        r"(?:还款|分期)计划|一个月还",
    ),
    I.hardship: (
        r"手头(?:有点|比较|很|太|特别|非常)?紧",
        r"没(?:有)?钱",
        r"失业|下岗|被裁|裁员|(?:没|丢了|找不到)工作",
        r"收入(?:减少|少了|降低|下降|不稳定|变少|不高)",
        r"困难|资金紧张|经济紧张",
        r"还不(?:了|起|上)|拿不出",
        r"工资(?:降|减|少|被扣|拖欠|没发|发不出)",
        r"周转不(?:开|过来)|生意(?:不好|亏|失败|黄了)|低保|负债累累",
    ),
    I.vulnerability: (
        r"住院|医院|癌|化疗|肿瘤|透析|中风|手术",
        r"(?:重|大)病|病(?:危|重|倒)|生(?:了)?(?:重|大)?病",
        r"去世|过世|病逝|离世|丧偶|丧事|葬礼",
        r"抑郁|焦虑症|精神(?:病|疾病|问题|崩溃|分裂)|心理(?:问题|疾病)",
        r"残疾|残障|瘫痪|老年痴呆",
        r"没(?:有)?(?:任何)?收入",
        r"吃不(?:上|起)饭|揭不开锅|无家可归|流落街头|怀孕|家暴",
    ),
    I.wrong_party: (
        r"打错(?:了|电话)?",
        r"号码错了|找错(?:人|了)|认错人",
        r"没(?:有)?(?:这个|这)人|查无此人",
        r"不认识(?:他|她|这个人|这人)",
        r"这里没有叫",
        r"我不是(?:他|她|本人|你要找的|你说的|你们要找的)",
        r"我不是(?![不没很说在想要会故那这])[\u4e00-\u9fff]{2,3}(?=$|[\s，,。！!？?]|啊|呀)",
        r"不是我(?=$|[\s，,。！!？?]|啊|呀|吧)|不是本人",
    ),
    I.third_party: (
        r"(?:他|她)(?:现在)?不在",
        r"(?:他|她)(?:出去了|出门了|在上班|上班去了|在忙|不方便接|睡了|在睡觉|在洗澡)",
        r"我是(?:他|她)的?(?:妻子|老婆|爱人|太太|丈夫|老公|先生|妈妈|妈|母亲|爸爸|爸|父亲|儿子|"
        r"女儿|哥哥|姐姐|弟弟|妹妹|朋友|同事|家人|亲戚|室友|女朋友|男朋友|对象|邻居)",
        r"(?:替|帮)(?:他|她)接",
        r"(?:我|可以)(?:帮你|帮您)?转告",
        r"(?:这是|这个是)(?:他|她)的(?:手机|电话|号码)",
        r"有什么事(?:跟我说|我转告)|(?:等|让)(?:他|她)回来",
    ),
    I.callback_later: (
        r"晚(?:点|些|一点|些时候)(?:再)?(?:打|联系|说|聊)",
        r"(?:明天|下午|晚上|改天|过会儿?|等会儿?|一会儿?|回头|待会儿?|稍后|下次|有空)"
        r"(?:再)?(?:打|说|联系|聊|回)",
        r"(?<![他她])在(?:开车|开会|上班|忙)",
        r"开车呢|开会呢|上班呢|忙着呢",
        r"不方便|没空|正忙",
        r"再说吧",
    ),
    I.request_human: (
        r"转人工",
        r"人工(?:客服|服务|坐席|接听)",
        r"(?:找|要|叫|换|转)(?:个|一个)?(?:真人|人工|客服|经理|领导|主管|负责人)",
        r"(?:让|叫)(?:真人|人工|你们领导|你们经理)",
        r"(?:跟|和)(?:真人|人)(?:说|谈|讲|聊)",
    ),
    I.ask_if_bot: (
        r"(?:你|您)是(?:不是)?(?:机器人|真人|人工智能|ai|电脑|机器|录音|人还是|自动)",
        r"是(?:ai|机器人|真人|录音|人工智能|机器)吗",
        r"机器人吗|真人吗|(?:人|真人)还是机器",
        r"(?:跟|和)(?:机器|机器人|电脑)(?:说话|聊天|讲话)",
    ),
    I.ask_details: (
        r"什么(?:欠款|债|钱|事|账|贷款|款)",
        r"哪(?:笔|一笔)|哪(?:个|家)(?:平台|公司|银行|机构|贷款)",
        r"欠(?:了|你们)?多少",
        r"(?:你们?|您)是(?:哪里|哪个|谁|什么|哪家)",
        r"哪里(?:的|打来的)|干(?:什么|嘛)的",
        r"(?:找我|打电话)(?:有)?(?:什么|啥)事|为什么(?:给我)?打(?:电话)?|怎么回事|啥(?:钱|事|账)",
    ),
    I.affirm: (
        r"^(?:喂|哦|噢|啊|呃)?[，,\s]*(?:是的|对的|好的|没错|没问题|我就是|就是我|是本人|本人|嗯+|"
        r"(?:是|对|好|行|可以|是我)+(?:啊|呀|啦|吧|的|呢)?(?=$|[\s,，.。!！?？~～]))",
        r"(?:我是|是我|我就是)[\u4e00-\u9fff]{0,3}本人",
    ),
    I.deny: (
        r"^(?:喂|哦|噢|呃)?[，,\s]*(?:不是|不对|不行|不可以|"
        r"(?:不用了?|不要了?|没有|不|没)(?:啊|呀|啦|吧|的|呢)?(?=$|[\s,，.。!！?？~～]))",
    ),
}

NEGATION_AWARE: frozenset[Intent] = frozenset(
    {
        I.attorney,
        I.bankruptcy,
        I.dispute,
        I.already_paid,
        I.refuse_to_pay,
        I.promise_to_pay,
        I.payment_plan,
        I.hardship,
        I.vulnerability,
        I.callback_later,
    }
)

# Cues outside the contract's intents. Self-harm also raises `vulnerability`.
SELF_HARM = "self_harm"
PAY_IN_FULL = "pay_in_full"
# "Is this a scam?" / 你们是不是骗子: caution, not hostility. The policy answers it with how to
# check who we are (template `legitimacy`) instead of the de-escalation offer.
SCAM_CONCERN = "scam_concern"
# "Would you take 500 to settle it?" / 能不能减免: an offer to settle for less, which only a
# person may accept (template `settlement_referral`, then the hand-off).
SETTLEMENT_OFFER = "settlement_offer"
# "A few more days" / 宽限几天: one payment a little later, not instalments (the model reads
# such asks as `payment_plan`, and the agent answered with the monthly plan terms).
DEFERRAL = "deferral"
# "I need to talk to my wife first" / 我跟老婆商量一下: time to decide; the policy asks when to
# come back rather than repeat the options.
NEEDS_TIME = "needs_time"
# A reply that is nothing but yes-words ("没错", "yes, correct") or no-words ("不是",
# "nope"): it means affirm or deny whatever the model makes of so little text (one build
# read a bare 没错 at affirm 0.2, and the promise was never confirmed). A bare "right" is
# left out: said flatly it is often sarcasm.
BARE_YES = "bare_yes"
BARE_NO = "bare_no"
_YES_WORDS = (
    r"yes|yeah|yep|yup|yea|correct|thats (?:right|correct)|that is (?:right|correct)|sure|"
    r"ok|okay|alright|all right|absolutely|definitely|of course|"
    r"是|是的|对|对的|没错|好|好的|行|可以|没问题|嗯+|当然"
)
_NO_WORDS = r"no|nope|nah|not really|不是|不对|不|没有|不行|不可以|不是的"


def _only(words: str) -> re.Pattern[str]:
    """The whole reply is one or more of `words`, each with an optional particle."""
    word = rf"(?:{words})[啊呀啦的吧]?"
    return re.compile(rf"^{word}(?: ?{word})*$")


_BARE_REPLY = {BARE_YES: _only(_YES_WORDS), BARE_NO: _only(_NO_WORDS)}
_REPLY_PUNCTUATION = re.compile(r"[\s,，、.。!！?？~～…]+")

SELF_HARM_EN: tuple[str, ...] = (
    r"kill(?:ing)? my ?self|take my (?:own )?life|end (?:it all|my (?:own )?life)",
    rf"(?:{DONT}|dont even|no longer) want to (?:live|be alive|be here|exist|go on)",
    r"(?:want|wanna|going) to die|suicid\w*|better off dead",
    r"hurt(?:ing)? my ?self|harm(?:ing)? my ?self|self harm\w*|overdose",
    rf"no (?:reason|point) (?:to|in) (?:live|living|going on)|{CANT} go on (?:like this|anymore)",
)
SELF_HARM_ZH: tuple[str, ...] = (
    r"不想活|想死|自杀|活不下去|轻生|跳楼|寻死|割腕",
    r"结束(?:自己的)?生命|了结自己|一死了之|一了百了|死了算了",
)
SCAM_CONCERN_EN: tuple[str, ...] = (
    r"scam(?:s|mers?|ming)?|phishing|fraudsters?|con artists?",
    r"is (?:this|that|it) (?:even )?(?:legit|legitimate|real|genuine)",
    r"are you (?:even )?(?:legit|legitimate|genuine)",
    r"how (?:do|can|would) i know (?:you(?:re| are)|this is|its|it is) "
    r"(?:real|legit|genuine|not a)",
)
SCAM_CONCERN_ZH: tuple[str, ...] = (
    r"骗子|诈骗|骗人|是不是骗|搞诈骗",
    r"怎么(?:证明|知道)你们?(?:是|不是)",
    r"你们?是(?:不是)?(?:真的|正规)|正规(?:公司|机构)吗",
)
SETTLEMENT_OFFER_EN: tuple[str, ...] = (
    r"settle (?:it|this|that|the (?:whole )?(?:thing|account|debt|balance|lot)) for",
    r"(?:take|accept) .{1,30}(?:to settle|as (?:a )?(?:full and final|settlement))",
    r"full and final (?:settlement|payment|offer)|settlement (?:offer|figure|deal)",
    r"(?:reduce|lower) the (?:balance|amount|debt)|knock (?:some|something|it) off",
    r"write off (?:the rest|some|part|the remainder)",
)
SETTLEMENT_OFFER_ZH: tuple[str, ...] = (
    r"减免|打个?折|只还本金|免(?:掉|除)(?:利息|罚息|一部分)",
    r"少还(?:一点|一些|一部分)?就?(?:结清|算了|了结)",
)
DEFERRAL_EN: tuple[str, ...] = (
    r"(?:a )?(?:few|couple(?: of)?|bit|little|couple) (?:more|extra) (?:days|weeks|time)",
    r"more time to pay|an? (?:extension|little longer|bit longer)",
    r"(?:push|move) (?:it|the payment|my payment|the date|the due date|my due date) back",
    r"delay (?:the|my) payment|(?:wait|hold on) (?:till|until) (?:payday|i get paid)",
)
DEFERRAL_ZH: tuple[str, ...] = (
    r"宽限|延期|延后|推迟|往后(?:推|挪)",
    r"缓(?:几|两|一)天|晚(?:几|两|一)天|再给我(?:几|两|一)天|多给我(?:几|两)天",
)
NEEDS_TIME_EN: tuple[str, ...] = (
    r"(?:talk|speak|check) (?:to|with) my (?:wife|husband|partner|family|mum|mom|dad|parents|"
    r"son|daughter|girlfriend|boyfriend|accountant)(?: first| about (?:it|this))?",
    r"(?:think about it|think it over|sleep on it|have a think)",
    r"(?:check|look at|go through) my (?:finances|budget|bank|accounts?|money) first",
    r"get back to you",
)
NEEDS_TIME_ZH: tuple[str, ...] = (
    r"(?:跟|和|问问|问一下)(?:我)?(?:老婆|老公|爱人|家里人?|家人|爸妈|父母|媳妇)(?:商量|说一下|讨论)",
    r"考虑一下|考虑考虑|想一想|想一下|回头(?:再)?(?:说|联系)|我再看看",
)
PAY_IN_FULL_EN: tuple[str, ...] = (
    r"(?:pay|settle|clear) (?:it |this |that |the (?:balance|debt|bill|amount|account) |"
    r"everything |the lot )?(?:all|in full|off in full|in one go|all at once|in one payment|"
    r"in one lump sum|off completely|off entirely)",
    r"(?:pay|settle|clear) (?:off )?(?:the|my) (?:whole|full|entire|total)",
    r"pay (?:off )?everything|(?:full|whole|entire) (?:balance|amount)|lump sum",
    r"pay (?:it|this|that|the debt|the balance) off",
)
PAY_IN_FULL_ZH: tuple[str, ...] = (
    r"(?:全部|全额|一次性|一次|一口气)(?:还|付|结|交)(?!不)",
    r"全额|一次性",
)

EMOTION_EN: dict[Emotion, tuple[str, ...]] = {
    Emotion.angry: (
        r"fuck\w*|shit\w*|bullshit|crap|damn\w*|bloody|bastards?|assholes?|arseholes?|dickhead|"
        r"bitch\w*|piss(?:ed|ing)?|idiots?|stupid|morons?|scum\w*|scam\w*|crooks?|thie(?:f|ves)|"
        r"liars?|bloodsuckers?|vultures?|leeches|parasites?",
        r"ridiculous|outrageous|harass\w*|disgust\w*|furious|angry|mad at|sick of|fed up|"
        r"how dare|what the hell|the hell|go to hell|screw you|shut up|get lost|sue you|"
        r"report you|unbelievable|pathetic|(?:a|this) joke|annoy\w*|irritat\w*",
    ),
    Emotion.distressed: (
        r"scared|afraid|frightened|terrified|worried|worrying|overwhelm\w*|desperate|panic\w*|"
        r"stressed|anxious|hopeless|helpless|ashamed|embarrass\w*|devastat\w*|heartbroken|"
        r"miserable|upset|sad|lonely|nervous",
        rf"{CANT} cope|crying|in tears|{DONT} know what (?:to do|im going to do)|wits end|"
        r"falling apart|breaking down|losing sleep|cant sleep|so much pressure|lost everything",
    ),
    Emotion.confused: (
        rf"{DONT} understand|{DONT} get (?:it|this|what)|confus\w*|what do you mean",
        r"what are you (?:talking|on) about|^what\W*$|^huh\W*$|huh\?|^sorry\?|pardon|come again|"
        r"say that again|no idea what|not sure what|makes no sense|(?:doesnt|does not) make "
        r"(?:any )?sense|im lost|what debt|whats this about|what is this about|what\?|"
        r"what is going on|whats going on",
    ),
    Emotion.positive: (
        r"thank\w*|thx|cheers|great|relieved|relief|appreciate\w*|wonderful|perfect|awesome|"
        r"brilliant|lovely|excellent|fantastic|glad|happy|helpful|that helps|sounds good|"
        r"good news|amazing|very kind|grateful",
    ),
}
EMOTION_ZH: dict[Emotion, tuple[str, ...]] = {
    Emotion.angry: (
        r"滚|烦死|烦不烦|有病|神经病|骗子|诈骗|妈的|他妈|tmd|操(?!作|心|场|办|练)|傻[逼比]|sb|混蛋|"
        r"王八蛋|去死|垃圾|无耻|骚扰|投诉|报警|吃饱了撑|够了|别烦我|人渣|恶心|气死",
    ),
    Emotion.distressed: (
        r"怎么办|压力(?:好|很|太|特别|非常)?大|崩溃|害怕|担心|焦虑|难受|绝望|哭|走投无路|撑不下去|"
        r"睡不着|没办法了|伤心|难过|丢人|无助|心慌|愁死|受不了|没活路",
    ),
    Emotion.confused: (
        r"什么意思|啥意思|听不懂|搞不懂|不明白|不懂|没听(?:懂|清|明白)|什么情况|怎么回事|你说什么|"
        r"再说一遍|什么[？?]|啥[？?]|^什么$|^啊[？?]?$|糊涂|莫名其妙|什么欠款|哪来的",
    ),
    Emotion.positive: (
        r"谢谢|多谢|感谢|太好了|放心了|松了(?:一)?口气|真好|不错|帮大忙|辛苦了|很好|好极了",
    ),
}
NEGATION_AWARE_EMOTIONS: frozenset[Emotion] = frozenset(
    {Emotion.distressed, Emotion.confused, Emotion.positive}
)

# -- negation --
EN_NEGATORS: frozenset[str] = frozenset(
    {
        "not", "no", "never", "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent",
        "havent", "hasnt", "hadnt", "wont", "wouldnt", "cant", "cannot", "couldnt", "shouldnt",
        "aint", "without", "neither", "nor",
    }
)  # fmt: skip
EN_SUBJECTS: frozenset[str] = frozenset(
    {
        "i", "im", "ive", "id", "ill", "we", "were", "weve", "you", "youre", "youll", "he", "hes",
        "she", "shes", "they", "theyre", "it", "its", "this", "that", "thats", "there", "theres",
        "who",
    }
)  # fmt: skip
_EN_CLAUSE_BREAK = re.compile(
    r"[,.;:!?]|\b(?:but|and|so|because|cause|though|although|however|or|if|when|then)\b"
)
_EN_INTERJECTION = re.compile(r"^(?:(?:no|nope|nah|oh|well|um|uh)\s+)+")
ZH_NEGATORS = "不没未"
_ZH_CLAUSE_BREAK = re.compile(r"[\s，,。.!！?？；;：:]|但是|可是|不过|因为|所以")
_ZH_PRONOUN = re.compile(r"[我你他她它]")
_ZH_A_NOT_A = re.compile(r"(.)[不没]\1")
WINDOW = 3


def _negated_en(text: str, start: int) -> bool:
    before = _EN_INTERJECTION.sub("", text[:start])
    tokens = _EN_CLAUSE_BREAK.split(before)[-1].split()[-WINDOW:]
    for index in range(len(tokens) - 1, -1, -1):
        if tokens[index] in EN_SUBJECTS:
            tokens = tokens[index + 1 :]
            break
    return any(token in EN_NEGATORS for token in tokens)


def _negated_zh(text: str, start: int) -> bool:
    clause = _ZH_A_NOT_A.sub("", _ZH_CLAUSE_BREAK.split(text[:start])[-1])
    window = _ZH_PRONOUN.split(clause)[-1][-WINDOW:]
    if window[-1:] in ("不", "没") and window[-2:-1] == text[start]:
        window = window[:-2]  # the match completes an A-not-A question: 能不[能还]
    return any(char in ZH_NEGATORS for char in window)


# -- compiled rules --
@dataclass(frozen=True)
class _Rule:
    label: str
    pattern: re.Pattern[str]
    negatable: bool
    zh: bool

    def count(self, text: str) -> int:
        """How many times the rule matches, leaving out negated matches."""
        return sum(1 for _ in self._affirmed(text))

    def matches(self, text: str) -> bool:
        return next(self._affirmed(text), None) is not None

    def _affirmed(self, text: str) -> Iterator[re.Match[str]]:
        if not self.negatable:
            yield from self.pattern.finditer(text)
            return
        negated = _negated_zh if self.zh else _negated_en
        for match in self.pattern.finditer(text):
            if not negated(text, match.start()):
                yield match


def _compile(fragments: Iterable[str], zh: bool) -> re.Pattern[str]:
    body = "|".join(f"(?:{fragment})" for fragment in fragments)
    return re.compile(body if zh else rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


_Label = TypeVar("_Label", bound=str)


def _rules(
    table: Mapping[_Label, tuple[str, ...]], negatable: frozenset[str], zh: bool
) -> tuple[_Rule, ...]:
    return tuple(
        _Rule(str(label), _compile(fragments, zh), label in negatable, zh)
        for label, fragments in table.items()
    )


_INTENT_RULES = {
    False: _rules(EN_PHRASES, NEGATION_AWARE, zh=False),
    True: _rules(ZH_PHRASES, NEGATION_AWARE, zh=True),
}
_CUE_RULES = {
    False: _rules(
        {
            SELF_HARM: SELF_HARM_EN,
            PAY_IN_FULL: PAY_IN_FULL_EN,
            SCAM_CONCERN: SCAM_CONCERN_EN,
            SETTLEMENT_OFFER: SETTLEMENT_OFFER_EN,
            DEFERRAL: DEFERRAL_EN,
            NEEDS_TIME: NEEDS_TIME_EN,
        },
        frozenset({PAY_IN_FULL}),
        False,
    ),
    True: _rules(
        {
            SELF_HARM: SELF_HARM_ZH,
            PAY_IN_FULL: PAY_IN_FULL_ZH,
            SCAM_CONCERN: SCAM_CONCERN_ZH,
            SETTLEMENT_OFFER: SETTLEMENT_OFFER_ZH,
            DEFERRAL: DEFERRAL_ZH,
            NEEDS_TIME: NEEDS_TIME_ZH,
        },
        frozenset({PAY_IN_FULL}),
        True,
    ),
}
_EMOTION_RULES = {
    False: _rules(EMOTION_EN, NEGATION_AWARE_EMOTIONS, zh=False),
    True: _rules(EMOTION_ZH, NEGATION_AWARE_EMOTIONS, zh=True),
}

_APOSTROPHES = re.compile(r"['’‘`´]")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
_SPACES = re.compile(r"\s+")
_HAS_CJK = re.compile(r"[\u3400-\u9fff]")
_HAS_LATIN = re.compile(r"[a-z]")
_SHOUTING = re.compile(r"\b[A-Z]{2,}\b(?:\W+\b[A-Z]{2,}\b)+|!{2,}")


def normalize(text: str) -> str:
    """The form the phrase tables are written against (see the module docstring)."""
    text = _APOSTROPHES.sub("", text.lower())
    return _SPACES.sub(" ", _CJK_GAP.sub("", text)).strip()


def _scripts(norm: str) -> tuple[bool, ...]:
    """Which tables can match: English needs Latin letters, Chinese needs ideographs."""
    return tuple(zh for zh, probe in ((False, _HAS_LATIN), (True, _HAS_CJK)) if probe.search(norm))


def _labels(rules: dict[bool, tuple[_Rule, ...]], norm: str) -> set[str]:
    return {rule.label for zh in _scripts(norm) for rule in rules[zh] if rule.matches(norm)}


def mentions_pay_in_full(text: str, language: Language) -> bool:
    """True for "pay it all", "in full", "全部还清", "一次性" (not when negated)."""
    return PAY_IN_FULL in _labels(_CUE_RULES, normalize(text))


# -- emotion --
# Ties go to the more urgent feeling.
_PRIORITY = (Emotion.distressed, Emotion.angry, Emotion.confused, Emotion.positive, Emotion.calm)
_LEAN_DISTRESSED = frozenset({I.vulnerability, I.hardship})


def _emotion_hits(text: str, norm: str, intents: set[Intent], cues: set[str]) -> dict[Emotion, int]:
    hits = dict.fromkeys(Emotion, 0)
    for zh in _scripts(norm):
        for rule in _EMOTION_RULES[zh]:
            hits[Emotion(rule.label)] += rule.count(norm)
    if _SHOUTING.search(text):
        hits[Emotion.angry] += 1
    if SELF_HARM in cues:
        hits[Emotion.distressed] += 2
    elif not any(hits.values()) and intents & _LEAN_DISTRESSED:
        hits[Emotion.distressed] += 1
    return hits


def emotion_scores(hits: Mapping[Emotion, int]) -> dict[Emotion, float]:
    """Smoothed probabilities: the dominant feeling gets 0.6-0.85, the rest is shared out."""
    active = {emotion for emotion, count in hits.items() if count > 0}
    if active:
        dominant = max(active, key=lambda e: (hits[e], -_PRIORITY.index(e)))
        top = min(0.85, 0.6 + 0.1 * (hits[dominant] - 1))
    else:
        dominant, top = Emotion.calm, 0.6
    weights = {
        e: 3.0 if e in active else 2.0 if e is Emotion.calm else 1.0
        for e in Emotion
        if e is not dominant
    }
    total = sum(weights.values())
    scores = {e: round((1.0 - top) * w / total, 4) for e, w in weights.items()}
    scores[dominant] = round(1.0 - sum(scores.values()), 4)
    return {e: scores[e] for e in Emotion}


# The word of a critical intent used for something else: "a breakdown of the balance", a
# question that is only "what does bankruptcy mean?". Blanked before the intents are read,
# and when nothing else in the text claims the intent, the model's reading of it is dropped
# too (`LexiconResult.not_claimed`): these ended the conversation or paused collection.
_NOT_A_CLAIM: dict[Intent, re.Pattern[str]] = {
    I.vulnerability: re.compile(
        r"(?<![a-z])break ?downs? (?:of|for) (?:the |my |your |what |all )?"
        r"(?:balance|charges?|fees?|interest|costs?|payments?|account|debt|amount|bill|"
        r"what i owe|how)"
    ),
    I.bankruptcy: re.compile(
        r"^(?:(?:so|um|uh|sorry|wait|ok|okay),? )*what(?:s| is| does| do| would)? (?:an? )?"
        r"(?:bankruptcy|bankrupt|being bankrupt|an iva|iva|chapter (?:7|13|seven|thirteen)|"
        r"debt relief order|dro)(?: even| actually)?(?: mean| involve)?[?.!]*$"
        r"|^(?:个人)?破产是(?:什么|啥)意思[？?。]*$|^什么(?:是|叫)个人破产[？?。]*$"
    ),
}


@dataclass(frozen=True)
class LexiconResult:
    intents: frozenset[Intent]
    cues: frozenset[str]
    emotion_scores: dict[Emotion, float]
    # Critical intents whose word only came up in a sense that claims nothing (_NOT_A_CLAIM).
    not_claimed: frozenset[Intent] = frozenset()


def scan(text: str, language: Language) -> LexiconResult:
    """Critical intents, cues ("self_harm", "pay_in_full") and heuristic emotion scores."""
    norm = normalize(text)
    not_a_claim = {intent for intent, pattern in _NOT_A_CLAIM.items() if pattern.search(norm)}
    claims = norm
    for intent in not_a_claim:
        claims = _NOT_A_CLAIM[intent].sub(" ", claims)
    intents = {Intent(label) for label in _labels(_INTENT_RULES, claims)}
    cues = _labels(_CUE_RULES, norm)
    if SELF_HARM in cues:
        intents.add(I.vulnerability)
    words = _REPLY_PUNCTUATION.sub(" ", norm).strip()
    cues |= {cue for cue, pattern in _BARE_REPLY.items() if pattern.match(words)}
    hits = _emotion_hits(text, norm, intents, cues)
    return LexiconResult(
        frozenset(intents), frozenset(cues), emotion_scores(hits), frozenset(not_a_claim - intents)
    )
