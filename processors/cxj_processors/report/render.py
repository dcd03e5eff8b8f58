"""One self-contained HTML page from report data: inline CSS and SVG, nothing fetched (pure)."""

from __future__ import annotations

import time
from html import escape

from cxj_processors.report import cards, sections, tables
from cxj_processors.report import formats as fmt
from cxj_processors.report.history import history
from cxj_processors.report.model import ReportData

REFRESH_S = 5

STYLE = """
:root{--bg:#0b1220;--panel:#111a2d;--line:#23304a;--text:#e6edf7;--muted:#9fb0c8}
*{box-sizing:border-box}
body{margin:0;padding:24px 28px 40px;background:var(--bg);color:var(--text);
font:16px/1.4 system-ui,"Segoe UI","DejaVu Sans","Liberation Sans",sans-serif;
font-variant-numeric:tabular-nums}
h1{margin:0;font-size:30px;letter-spacing:.2px}h2{margin:0 0 10px;font-size:20px}
h2 small,.meta,.sub,dt,small{color:var(--muted);font-weight:400}
h2 small{font-size:14px;margin-left:8px}
.top{display:flex;align-items:center;gap:24px;margin-bottom:14px}
.top>div:first-child{flex:1 1 auto;min-width:0}.meta{margin:4px 0 0;font-size:15px}
.scale{white-space:nowrap;padding:2px 10px;border-radius:12px;background:#1e2a44;color:#fde68a}
.verdict{display:flex;align-items:center;gap:12px;padding:12px 22px;border-radius:12px;
font-size:24px;font-weight:700;background:color-mix(in srgb,var(--state) 18%,transparent);
border:2px solid var(--state);color:var(--text);white-space:nowrap}
.dot{width:16px;height:16px;border-radius:50%;background:var(--state);
box-shadow:0 0 12px var(--state)}
.counts{display:flex;gap:18px;font-size:18px;color:var(--muted);white-space:nowrap}
.counts b{font-size:28px;color:var(--text);margin-right:6px}
.count.ok b{color:#22c55e}.count.bad b{color:#f59e0b}
.notes{display:flex;flex-wrap:wrap;gap:8px 22px;margin:0 0 18px;padding:0;list-style:none;
font-size:15px;color:#cbd5e1}
.notes li{display:flex;align-items:center;gap:8px}
.notes .n{display:inline-grid;place-items:center;width:22px;height:22px;border-radius:50%;
background:#e2e8f0;color:#0b1220;font-weight:700;font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px;
margin-bottom:18px}
.card{background:var(--panel);border:1px solid var(--line);border-top:5px solid var(--state);
border-radius:12px;padding:14px 18px 16px}
.card-head{display:flex;justify-content:space-between;align-items:flex-start;gap:10px}
.card-head>div:first-child{min-width:0}
.card h3{margin:0;font-size:21px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sub{margin:2px 0 0;font-size:14px}
.pill{padding:2px 9px;border-radius:12px;font-weight:700;font-size:13px;text-transform:uppercase;
letter-spacing:.4px;color:#0b1220;background:var(--state);white-space:nowrap}
.pills{display:flex;gap:5px;flex-shrink:0}
.headline{display:flex;align-items:center;gap:16px;margin:8px 0 10px}
.score{display:flex;flex-direction:column;align-items:center;min-width:108px}
.big{font-size:72px;font-weight:800;line-height:1}.band{font-size:14px;opacity:.9}
.trend{flex:1;min-width:0}.spark{display:block;width:100%;height:44px;margin-top:4px}
.tiles{display:grid;grid-template-columns:1fr 1fr;gap:8px;margin-bottom:10px}
.tile{background:#0e1729;border:1px solid var(--line);border-radius:8px;padding:6px 10px}
.tile small{display:block;font-size:13px}
.tile .value{font-size:22px;font-weight:700;white-space:nowrap}
.tile .value small{display:inline;font-size:14px}
.tile .meter{display:block;width:100%;height:10px;margin-top:5px}
.badge,.chip{display:inline-block;padding:1px 9px;border-radius:10px;font-size:13px;
font-weight:700;color:#0b1220;background:var(--chip);text-transform:uppercase;letter-spacing:.4px}
.since{margin:0;font-size:15px;line-height:1.5;color:#cbd5e1}
.cause{border-top:1px solid var(--line);padding-top:8px;font-size:15px}
.cause.calm{color:var(--muted)}.step b{color:var(--text)}
.trace{margin-top:4px;white-space:nowrap}
code{font:14px "DejaVu Sans Mono",ui-monospace,monospace;color:#bae6fd}
.voice{display:flex;gap:14px;align-items:baseline;margin-top:6px;font-size:15px}
.mos{white-space:nowrap}.mos b{font-size:19px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-bottom:16px}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:12px;padding:14px 16px}
.chart{display:block;width:100%;height:auto}
.legend{display:flex;gap:8px;margin:0 0 6px}
.minis{display:grid;grid-template-columns:1fr 1fr;gap:4px 14px}
.mini h4{margin:4px 0 0 4px;font-size:15px}
.empty{color:var(--muted);font-size:17px;padding:26px 6px}
table{width:100%;border-collapse:collapse;font-size:15px}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid var(--line)}
th{color:var(--muted);font-weight:600}.num{text-align:right}.more{color:var(--muted)}
.stale{display:none;position:fixed;top:0;left:0;right:0;padding:6px;text-align:center;
background:#7f1d1d;color:#fff;font-weight:700}
body[data-stale] .stale{display:block}
body>.panel{margin-bottom:16px}
.welcome{max-width:900px;margin:12vh auto;text-align:center}
.welcome h2{font-size:34px;margin-top:26px}.welcome p{font-size:19px;color:#cbd5e1}
"""

# Swaps the body for a fresh copy every few seconds; keeps the scroll position, and says so
# when the processor stops answering instead of showing stale numbers as if they were live.
LIVE_SCRIPT = """<script>
(function refresh(){setTimeout(function(){fetch(location.href,{cache:"no-store"})
.then(function(r){if(!r.ok)throw new Error(r.status);return r.text()})
.then(function(t){var d=new DOMParser().parseFromString(t,"text/html");
document.body.innerHTML=d.body.innerHTML;document.body.removeAttribute("data-stale")})
.catch(function(){document.body.setAttribute("data-stale","1")})
.finally(refresh)},%d)})();
</script>"""


def scale_note(time_scale: float) -> str:
    """What the page says when a demo compresses time; empty in real time."""
    if abs(time_scale - 1.0) < 1e-9:
        return ""
    if time_scale % 3600 == 0:
        per = f"{time_scale / 3600:g} h"
    elif time_scale % 60 == 0:
        per = f"{time_scale / 60:g} min"
    else:
        per = f"{time_scale:g} s"
    return f"time compressed {time_scale:g}×: 1 s shown = {per} of SLO time"


def _page(title: str, body: str, live: bool) -> str:
    script = LIVE_SCRIPT % (REFRESH_S * 1000) if live else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<div class="stale">processor not answering: numbers below are stale</div>'
        f"{body}{script}</body></html>"
    )


def _welcome(data: ReportData, live: bool) -> str:
    generated = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(data.generated_at))
    body = (
        f'<main class="welcome"><h1>{escape(data.title)}</h1>'
        "<h2>No telemetry yet</h2>"
        "<p>No journey has reported a run so far. Probes report after their first "
        "interval; if this stays empty, check that they send OTLP to this processor.</p>"
        f'<p class="meta">updated {generated} UTC</p></main>'
    )
    return _page(data.title, body, live)


def render_report(data: ReportData, live: bool = False) -> str:
    """The whole report as one HTML document.

    Args:
        data: What to show; the numbers on the cards are the latest snapshot's.
        live: Adds a few lines of script that refresh the page every REFRESH_S seconds
            (the processor's live overview); a saved report stays static.
    """
    if not data.snapshots or not data.snapshots[-1][1]:
        return _welcome(data, live)
    latest = data.snapshots[-1][1]
    generated = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(data.generated_at))
    notes = "".join(
        f'<li><span class="n">{i + 1}</span><span class="t">{fmt.clock(t)}</span> '
        f"{escape(text)}</li>"
        for i, (t, text) in enumerate(data.notes)
    )
    h = history(data.snapshots, data.notes)
    body = "".join(
        [
            cards.header(data.title, latest, generated, scale_note(data.time_scale)),
            f'<ol class="notes">{notes}</ol>' if notes else "",
            '<div class="cards">',
            *(cards.card(d, h, data.time_scale) for d in cards.worst_first(latest)),
            "</div>",
            f'<div class="grid">{sections.score_panel(h)}{sections.burn_panel(h)}</div>',
            f'<div class="grid">{sections.mos_panel(h)}{sections.attribution_panel(h)}</div>',
            sections.alert_panel(h, data.alerts),
            # the processor keeps no runs, only example traces: the live page lists those
            tables.example_runs_panel(h) if live else tables.runs_panel(data.worst_runs),
        ]
    )
    return _page(data.title, body, live)
