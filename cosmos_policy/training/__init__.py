"""Training of the compact world-action model (:mod:`cosmos_policy.models` holds the
networks and checkpoints; training builds on them).

:mod:`~cosmos_policy.training.layout` reads the task layout (cube colours, recorded goal
fixtures, other wordings of the prompts) from the suite YAML, so nothing task-specific is
code here; :mod:`~cosmos_policy.training.datacache` holds the decoded episodes,
:mod:`~cosmos_policy.training.objects` the auxiliary object head, and
:mod:`~cosmos_policy.training.trainer` the ``Trainer`` behind ``cosmos-policy train``.
Importing this package is cheap: the modules load on use.
"""
