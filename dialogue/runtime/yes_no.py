"""Reading a yes/no answer, English and Chinese, without guessing.

A message is a yes or a no only when it is a *bare* answer: once its yes words, no
words and fillers (``please``, ``thanks``, ``well``; ``吧``, ``谢谢``) are taken out,
nothing is left. So ``please use the other order`` is not a yes (``please`` is a yes
only on its own), and ``yes, AB123456`` is not one either: the message says
something else, and the question is asked again.

:func:`yes_no` gives ``True``, ``False``, or why not:

* ``"uncertain"``: a hedge (``maybe``, ``I guess so``, ``可能吧``), a question back
  (``是不是``), or a yes/no with a catch (``yes but ...``, ``wait``, ``不过``);
* ``"ambiguous"``: both a yes and a no (``yes no``, ``ok, no``);
* ``"no_match"``: no answer word at all, or other content beside it.

Negations are no: ``not really``, ``I don't think so``, ``not ok`` (``not`` before
any yes word), ``不太好``. Words are matched as whole words (CJK by substring,
longest first), after the message's punctuation is taken out.
"""

from __future__ import annotations

from typing import Literal

from dialogue.runtime.rules import KeywordIndex, LazyPattern

Kind = Literal["yes", "no", "unsure", "but", "filler"]

_YES = (
    "yes|yeah|yea|yeh|ya|yah|yep|yup|yas|y|sure|sure thing|for sure|ok|okay|okey|k|kk|"
    "correct|right|that's right|that's correct|exactly|precisely|indeed|affirmative|"
    "please|please do|yes please|of course|absolutely|definitely|certainly|confirm|confirmed|"
    "go ahead|please go ahead|go for it|do it|let's do it|let's go|proceed|sounds good|"
    "sounds great|sounds perfect|that works|works for me|that would be great|perfect|great|"
    "good|cool|fine|that's fine|alright|all right|true|agreed|i agree|agree|"
    "no problem|no worries|not a problem|why not|you bet|yes sir|i do|we do|it is|that is|"
    "i am|we are|"
    "是|是的|是啊|是呀|是滴|对|对的|对啊|对呀|对头|好|好的|好啊|好呀|好吧|好嘞|好滴|嗯|嗯嗯|"
    "可以|可以的|可以啊|当然可以|行|行啊|行吧|成|妥|确认|确定|正确|没问题|没有问题|没错|"
    "没毛病|当然|当然了|同意|要|需要|不错|就这样|就这么办"
)
_NO = (
    "no|nope|nah|naw|n|not really|not at all|not yet|not now|not this time|never|"
    "negative|no way|no thanks|no thank you|no need|not needed|wrong|incorrect|false|"
    "don't|do not|i don't|i do not|please don't|i don't think so|don't think so|"
    "i do not think so|i don't want to|absolutely not|of course not|certainly not|"
    "definitely not|surely not|hell no|no that's fine|no it's fine|no that's ok|"
    "no it's ok|no that's okay|no it's okay|no it's alright|that's wrong|"
    "不|不是|不要|不要了|不用|不用了|不用谢|否|不对|算了|算了吧|不行|不可以|不需要|别|不好|"
    "没有|不确认|不了|错|错了|不同意|不必|没必要|不太|不太好|不太对|我不觉得|我不这么认为|"
    "当然不|当然不是|不想|不愿意|拒绝"
)
_UNSURE = (
    "not sure|unsure|i'm not sure|maybe|perhaps|possibly|probably|i guess|i guess so|"
    "i suppose|i suppose so|i think|i think so|kind of|kinda|sort of|sorta|"
    "i don't know|don't know|dunno|idk|no idea|not certain|not exactly|hard to say|"
    "it depends|depends|let me think|could be|might be|if you want|whatever|either way|"
    "i don't mind|yes and no|"
    "不确定|不太确定|不知道|不清楚|可能|可能吧|也许|或许|说不好|不一定|看情况|大概|应该|"
    "好像|差不多|我觉得|我想想|让我想想|随便|都行|都可以|无所谓|再说|再看看|"
    "是不是|对不对|好不好|行不行|要不要|可不可以|吗"
)
_BUT = (
    "but|however|except|although|though|only if|unless|wait|hold on|hang on|"
    "但是|但|不过|可是|只是|除非|等等|等一下"
)
_FILLER = (
    "please|thanks|thank you|thx|ty|cheers|well|oh|um|umm|uh|er|hmm|ah|so|then|"
    "i did|i'm|it's|sir|madam|ma'am|mate|"
    "really|totally|just|actually|haha|lol|"
    "吧|呢|啊|呀|啦|哦|噢|哈|哈哈|谢谢|谢了|多谢|麻烦了|麻烦你|请|的|嘛|那|那就|就|"
    "对不起|抱歉"
)
_EMOJI = {"\U0001f44d": " yes ", "\U0001f44c": " ok ", "\U0001f44e": " no "}


def _phrases(text: str, kind: Kind) -> list[tuple[str, Kind]]:
    """``|``-separated phrases; each ``'`` also stands for nothing (``dont``)."""
    forms: list[tuple[str, Kind]] = []
    for phrase in text.split("|"):
        forms.append((phrase, kind))
        if "'" in phrase:
            forms.append((phrase.replace("'", ""), kind))
    return forms


def _negated_yes() -> list[tuple[str, Kind]]:
    """``not`` before an English yes word is a no: ``not ok``, ``not correct``."""
    return [(f"not {p}", "no") for p in _YES.split("|") if p.isascii() and p not in ("please",)]


# Earlier entries win a tie: "不确定" is unsure although "不" + "确定" reads as a no.
_INDEX: KeywordIndex[Kind] = KeywordIndex(
    _phrases(_UNSURE, "unsure")
    + _phrases(_BUT, "but")
    + _phrases(_NO, "no")
    + _negated_yes()
    + _phrases(_YES, "yes")
    + _phrases(_FILLER, "filler"),
    lazy=True,
)
_PUNCTUATION = LazyPattern(r"[^\w\s']+")
_CONTENT = LazyPattern(r"\w")

Answer = bool | Literal["uncertain", "ambiguous", "no_match"]


def yes_no(folded: str) -> Answer:
    """``True``, ``False``, or why the message is not a bare answer (see the module)."""
    for emoji, word in _EMOJI.items():
        folded = folded.replace(emoji, word)
    text = " ".join(_PUNCTUATION.compiled().sub(" ", folded).split())
    hits = _INDEX.scan(text)
    kinds = {hit.value for hit in hits}
    rest, end = [], 0
    for hit in hits:
        rest.append(text[end : hit.start])
        end = hit.end
    rest.append(text[end:])
    if "unsure" in kinds or "but" in kinds:
        return "uncertain"
    if _CONTENT.search("".join(rest)) is not None:
        return "no_match"
    if "yes" in kinds and "no" in kinds:
        return "ambiguous"
    if "yes" in kinds:
        return True
    return False if "no" in kinds else "no_match"
