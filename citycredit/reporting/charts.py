"""The report's charts as SVG text, drawn with matplotlib, byte-identical for the same data.

SVG keeps text as text (``svg.fonttype = none``): the Chinese city names stay searchable
and are set by the reader's font (Noto Sans CJK, installed by ops/install-test-deps.sh).
A fixed hash salt and no date in the metadata make the same figure the same bytes.
"""
from __future__ import annotations

import io
import logging
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display, ever: the report is made on servers
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import colors  # noqa: E402

# The CJK families fontconfig knows on Debian (fonts-noto-cjk), then a Latin fallback for
# the digits when none is installed; the PDF/HTML viewer sets the text either way.
FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "WenQuanYi Zen Hei", "DejaVu Sans"]
STYLE = {"svg.fonttype": "none", "svg.hashsalt": "citycredit-report", "font.family": "sans-serif",
         "font.sans-serif": FONTS, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
# A diverging scale for scores: red below the middle, green above (grey-free, readable in print).
SCORE_MAP = matplotlib.colormaps["RdYlGn"]
UP, DOWN = "#2e7d32", "#c62828"

# matplotlib logs a warning per missing family (the whole list is tried on every label)
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # inline in HTML: no XML declaration or DOCTYPE


def score_colour(score: float, low: float, high: float) -> tuple[str, str]:
    """(background, text) colours of a score's tile on the scope's own scale (low..high):
    the map's pale middle 70 %, so the text stays readable; dark text on light tiles."""
    span = (high - low) or 1.0
    r, g, b, _ = SCORE_MAP(0.15 + 0.7 * min(1.0, max(0.0, (score - low) / span)))
    text = "#111111" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "#ffffff"
    return colors.to_hex((r, g, b)), text


def score_distribution(groups: list[dict[str, Any]]) -> str:
    """One histogram per peer group: how the group's scores spread this month."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(groups), figsize=(2.6 * max(1, len(groups)) + 0.6, 2.4), squeeze=False)
        for ax, g in zip(axes[0], groups):
            scores = [r["score"] for r in g["rows"]]
            ax.hist(scores, bins=min(20, max(5, len(set(scores)))), color="#3f6fb5", edgecolor="white", linewidth=0.5)
            ax.set_title(f"{g['label']}（{len(scores)}）", fontsize=9)
            ax.set_xlabel("得分")
        axes[0][0].set_ylabel("城市数")
        fig.tight_layout()
        return _svg(fig)


def movers(up: list[dict[str, Any]], down: list[dict[str, Any]]) -> str:
    """The largest score changes against the month before, rises above falls."""
    rows = list(up) + list(reversed(down))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 0.26 * max(4, len(rows)) + 0.6))
        if not rows:
            ax.text(0.5, 0.5, "本月无得分变动", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return _svg(fig)
        labels = [f"{r['city']}（{r['province']}）" for r in rows]
        values = [r["score_change"] for r in rows]
        y = list(range(len(rows)))[::-1]
        ax.barh(y, values, color=[UP if v > 0 else DOWN for v in values], height=0.7)
        ax.set_yticks(y, labels)
        ax.axvline(0, color="#555555", linewidth=0.6)
        for yy, v in zip(y, values):
            ax.text(v, yy, f" {v:+.2f} ", va="center", ha="left" if v > 0 else "right", fontsize=8)
        ax.set_xlabel("得分变化（较上月）")
        lim = max(abs(v) for v in values) * 1.35
        ax.set_xlim(-lim, lim)
        fig.tight_layout()
        return _svg(fig)
