"""Alert rules, the firing/resolved lifecycle, silences and inhibition, and explanations."""

from monitor.alerts.engine import AlertEngine
from monitor.alerts.lifecycle import Lifecycle, fingerprint
from monitor.alerts.rules import Rule, build_rule

__all__ = ["AlertEngine", "Lifecycle", "Rule", "build_rule", "fingerprint"]
