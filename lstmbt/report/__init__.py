"""The report of a run: figures (matplotlib Figure objects), QuantStats tear-sheets, index.html,
and `build_report`, which redraws all of it from a run folder's saved files."""

from lstmbt.report.figures import report_figures
from lstmbt.report.tearsheets import write_tearsheet
from lstmbt.report.writer import build_report, draw_report

__all__ = ["build_report", "draw_report", "report_figures", "write_tearsheet"]
