"""The analyst in the loop: corrections (``corrections``, ``log``; ``snapshot`` reads them once for
retraining), the review queue (``review``), and their HTTP endpoints (``desk``)."""

from monitor.feedback.corrections import Correction, CorrectionBook, InvalidCorrection
from monitor.feedback.desk import AnalystDesk

__all__ = ["AnalystDesk", "Correction", "CorrectionBook", "InvalidCorrection"]
