"""Example-trained intent matching (the optional extra ``[nlu]``).

``data`` (what a flow's intents teach, and its cache key) needs nothing; ``model``
(the learned weights applied at run time) needs numpy; ``train`` needs
scikit-learn; ``cache`` keeps trained models on disk. None of them is imported by
``import dialogue``: the compiler reaches them only for a flow whose intents have
``examples``.
"""
