"""The self-contained HTML report: journey experience at a glance, charts drawn as inline SVG.

`render_report(ReportData)` returns one HTML document with no external asset, for the file
`cxj run` / `cxj demo` write at the end and for the page the processor serves at `/`.
"""

from cxj_processors.report.model import ReportData, from_json, to_json
from cxj_processors.report.render import render_report

__all__ = ["ReportData", "from_json", "render_report", "to_json"]
