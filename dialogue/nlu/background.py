"""Everyday messages that belong to no intent: the classifier's "none of these" class.

A flow with a handful of intents has no examples of what its intents are *not*,
so a linear model spreads an unrelated message ("my name is Bob") over the
intents it knows, often confidently. Training an extra class on these sentences
(as Dialogflow's negative examples or Rasa's ``out_of_scope`` intent do) gives
that probability somewhere to go: the classifier then abstains. A sentence equal
to one of the flow's own utterances is left out; ``nlu: {background: false}``
turns the class off.
"""

from __future__ import annotations

NONE = "__none__"
"""The name of the background class (never an intent: intent names are identifiers)."""

EN = (
    "what's the weather like today",
    "is it going to rain tomorrow",
    "my name is Bob",
    "I live in London",
    "how old are you",
    "are you a robot",
    "tell me a joke",
    "what time is it",
    "who won the game last night",
    "I like pizza",
    "what is the meaning of life",
    "can you recommend a good movie",
    "how do I cook pasta",
    "what's the capital of France",
    "play some music",
    "I am bored",
    "my cat is sick",
    "do you know any good restaurants nearby",
    "how tall is the Eiffel tower",
    "set an alarm for seven",
    "what is two plus two",
    "translate this into Spanish",
    "I'm learning to play the guitar",
    "how far is the moon",
    "book me a flight to Paris",
    "what's on TV tonight",
    "the sky is blue",
    "I had a long day at work",
    "do you like dogs",
    "my favourite colour is green",
    "what are your opening hours",
    "can I pay with paypal",
    "where is the nearest train station",
    "how do I reset my password",
    "what's your phone number",
    "I need a taxi",
    "write me a poem",
    "who is the president",
    "how many calories in an apple",
    "let's talk about football",
    "asdf qwerty",
    "blah blah",
    "hmm",
    "ok",
    "lol",
    "test",
)

ZH = (
    "今天天气怎么样",
    "明天会下雨吗",
    "我叫小明",
    "我住在北京",
    "你几岁了",
    "你是机器人吗",
    "给我讲个笑话",
    "现在几点了",
    "昨晚比赛谁赢了",
    "我喜欢吃火锅",
    "推荐一部好看的电影",
    "怎么做红烧肉",
    "法国的首都是哪里",
    "放首歌",
    "我好无聊",
    "我的猫生病了",
    "附近有什么好吃的",
    "帮我定个七点的闹钟",
    "二加二等于几",
    "翻译成英文",
    "我在学吉他",
    "月亮有多远",
    "帮我订去上海的机票",
    "今晚电视放什么",
    "天空是蓝色的",
    "今天上班好累",
    "你喜欢狗吗",
    "你们几点开门",
    "可以用支付宝付款吗",
    "最近的地铁站在哪",
    "怎么重置密码",
    "给我写首诗",
    "一个苹果有多少卡路里",
    "我们聊聊足球吧",
    "嗯",
    "哈哈",
    "测试",
)

BY_LANGUAGE = {"en": EN, "zh": ZH}
