"""Words that never explain an alert: function words and the commonest verbs, English and Chinese.

The English list is the usual information-retrieval stop list (the one scikit-learn and Glasgow's
IR group use) with the verbs and fillers that headlines and chat use for everything ("still",
"taking", "need", "know", "tell", "put", "point"). Chinese terms are character pairs, so the
Chinese list holds the pairs that are function words or reporting boilerplate (我们, 记者, 表示).
"""

from __future__ import annotations

ENGLISH = frozenset("""
a about above across after afterwards again against all almost alone along already also although always am among
amongst amount an and another any anyhow anyone anything anyway anywhere are around as at back be became because
become becomes becoming been before beforehand behind being below beside besides between beyond both bottom but by
call can cannot cant could couldnt de describe detail do done down due during each eg eight either eleven else
elsewhere empty enough etc even ever every everyone everything everywhere except few fifteen fifty fill find fire
first five for former formerly forty found four from front full further get give go had has hasnt have he hence her
here hereafter hereby herein hereupon hers herself him himself his how however hundred i ie if in inc indeed
interest into is it its itself keep last latter latterly least less ltd made many may me meanwhile might mill mine
more moreover most mostly move much must my myself name namely neither never nevertheless next nine no nobody none
noone nor not nothing now nowhere of off often on once one only onto or other others otherwise our ours ourselves
out over own part per perhaps please put rather re same see seem seemed seeming seems serious several she should
show side since sincere six sixty so some somehow someone something sometime sometimes somewhere still such system
take ten than that the their them themselves then thence there thereafter thereby therefore therein thereupon these
they thick thin third this those though three through throughout thru thus to together too top toward towards
twelve twenty two un under until up upon us very via was we well were what whatever when whence whenever where
whereafter whereas whereby wherein whereupon wherever whether which while whither who whoever whole whom whose why
will with within without would yet you your yours yourself yourselves
able across actually added adding ago ahead allow allowed already anymore around asked asking away bad big bit
came come comes coming continue continues could day days did didnt does doesnt doing dont end ended ending felt
going gone good got great guy guys hard havent help here hes high hour hours ill im isnt ive just know known knows
let lets like likely look looking looks lot lots make makes making man mean means men month months need needed needs
new news number old pay people place plan plans point points pretty probably really right said say saying says
seen set shall short since sure taking tell telling thank thanks thing things think thought time times today told
took tried try trying turn turned use used uses using want wanted wants way ways week weeks went whats wont work
working works world yeah year years yes youre youve amp http https www com
""".split())

CHINESE = frozenset("""
我们 你们 他们 她们 它们 自己 大家 这个 那个 这些 那些 这样 那样 这里 那里 什么 怎么 为什么 一个 一些 一种 一样 一直 一下 一起 没有
可以 因为 所以 但是 如果 已经 还是 就是 不是 只是 还有 而且 或者 以及 以后 之后 之前 以前 时候 现在 今天 昨天 明天 今年 去年 目前 当时
表示 认为 记者 报道 据悉 了解 介绍 进行 通过 对于 关于 根据 其中 其他 方面 问题 情况 工作 已经 开始 成为 作为 同时 此外 另外 不过 然后
非常 比较 特别 真的 觉得 知道 希望 可能 应该 需要 不能 不会 不要 没什么 很多 很好 还是 有些 有的 就是 这种 那种 这次 上午 下午 晚上
""".split())
