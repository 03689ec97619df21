"""Which of a bundle's embodiment domains a caller means."""

from __future__ import annotations

from cosmos_policy.embodiment import Embodiment, available_embodiments, load_embodiment
from cosmos_policy.errors import UserError
from cosmos_policy.models.config import DomainSpec


def resolve_domain(domains: list[DomainSpec], embodiment: Embodiment | str | None
                   ) -> tuple[int, Embodiment | None]:
    """The index of ``embodiment`` (an Embodiment, a shipped name or a domain name/alias)
    among a bundle's ``domains``, and the shipped Embodiment when there is one.
    ``None`` is allowed when the bundle has one domain."""
    emb = embodiment
    if isinstance(embodiment, str) and embodiment in available_embodiments():
        emb = load_embodiment(embodiment)
    if emb is None:
        if len(domains) != 1:
            raise UserError(f"this model has domains {[d.name for d in domains]}; "
                            "pass embodiment= to choose one")
        return 0, None
    names = [emb.name, emb.robot_type] if isinstance(emb, Embodiment) else [emb]
    found = [i for i, d in enumerate(domains) if any(d.matches(n) for n in names)]
    if not found:
        raise UserError(f"embodiment {names[0]!r} is not a domain of this model "
                        f"(domains: {[d.name for d in domains]}); fine-tune one with "
                        "`cosmos-policy train --projector-only --init MODEL DATASET`")
    return found[0], emb if isinstance(emb, Embodiment) else None
