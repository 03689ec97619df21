"""Training of the compact world-action model: the task layout read from the suite YAML.

Everything task-specific that training needs (cube colours, recorded goal fixtures, other
wordings of the prompts) arrives here as data (:mod:`cosmos_policy.training.layout`).
"""
