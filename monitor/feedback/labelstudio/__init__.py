"""Label Studio, where analysts label at scale: the review queue out as tasks with the live model's
answers as pre-annotations (``tasks``), finished annotations back in as corrections (``annotations``),
through a project's REST API (``client``) or its JSON export; ``commands`` is ``monitor feedback
label-studio``. Label Studio itself runs elsewhere, in its own environment: nothing here imports it.
"""
