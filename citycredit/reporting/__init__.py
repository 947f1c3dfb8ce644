"""The monthly city credit monitoring report (月度城市信用状况监测报告).

``ReportInputs`` collects a period's facts from the same records the index reads;
``build_report`` turns them into the report's content; ``render`` writes it as HTML,
XLSX or PDF. ``citycredit report`` and the desk's download call these three.
"""
from .data import NATIONAL, ReportInputs, build_report
from .render import FORMATS, render

__all__ = ["FORMATS", "NATIONAL", "ReportInputs", "build_report", "render"]
