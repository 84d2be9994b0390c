"""Detectors: each judges one topic's window against its baseline and says how unusual it is.

First-party detectors register through the ``monitor.detectors`` entry-point group, the
same way a third-party package would.
"""
