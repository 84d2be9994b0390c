"""Two topics an analyst might define by example, in texts no model in the tests was trained on."""

from __future__ import annotations

BANKS = ("Lloyds", "Barclays", "HSBC", "Santander", "NatWest", "Deutsche Bank")
CLUBS = ("Arsenal", "Celtic", "Leeds", "Everton", "Chelsea", "Rangers")
BANKING = ("{0} raises its mortgage rates after the central bank decision",
           "{0} sets aside more money for bad loans as borrowers fall behind",
           "Savers at {0} will earn more interest on deposit accounts",
           "{0} cuts the rate on its two-year fixed home loans",
           "Regulators tell {0} to hold more capital against its lending")
SPORT = ("{0} win the cup final after extra time",
         "{0} sign a striker on a three-year deal",
         "The {0} manager praises his defence after a clean sheet",
         "{0} fans celebrate a late winner in the derby",
         "{0} are knocked out of the league cup on penalties")


def texts(templates: tuple[str, ...], names: tuple[str, ...]) -> list[str]:
    """Every template with every name: 30 texts a topic."""
    return [t.format(n) for n in names for t in templates]
