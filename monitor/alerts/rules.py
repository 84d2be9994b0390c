"""An alert rule: a detector applied to some topics' windows, with volume and timing conditions."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from monitor.detectors.base import Detector, load_detector
from monitor.settings import RuleSettings
from monitor.trends import ALL


@dataclass(frozen=True, slots=True)
class Rule:
    """A loaded rule: settings plus its validated detector."""

    settings: RuleSettings
    detector: Detector

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window_seconds(self) -> float:
        return self.settings.window_seconds

    def applies_to(self, key: str) -> bool:
        """Glob match against the rule's topics; ``*`` never matches the market-wide key ``__all__``."""
        for pattern in self.settings.topics:
            if key == ALL:
                if pattern == ALL:
                    return True
            elif fnmatch.fnmatchcase(key, pattern):
                return True
        return False


def build_rule(settings: RuleSettings) -> Rule:
    """Load the detector named by the rule, validating its parameters now."""
    return Rule(settings, load_detector(settings.name, settings.detector, dict(settings.params)))
