"""Shadow, then promote: a candidate model beside the live one, compared and never published,
then switched in (and back) between batches. See README.md, "Shadow, then promote".

    compare.py    agreement, label pairs, per-class shifts (pure arithmetic)
    sampler.py    which batches the candidate classifies too
    judgement.py  trends and alerts on the sampled messages, with either side's labels
    lineup.py     live, candidate and previous classifiers; loading a candidate
    desk.py       the daemon's one object for all of it; metrics and logs of the switches
    api.py        /api/shadow and /api/models/*
    client.py     ``monitor models ...``, which calls that API

Kept free of imports here, so ``monitor models`` (the client) does not load torch.
"""
