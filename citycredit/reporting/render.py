"""The monthly report as HTML (Jinja2), XLSX (openpyxl) and PDF (WeasyPrint, from the HTML).

The same report dict gives the same HTML and XLSX bytes: no clock, no random ids, sorted
everything, and the XLSX zip written with fixed entry times. The PDF differs only in the
metadata WeasyPrint stamps (its creation date).
"""
from __future__ import annotations

import io
import zipfile
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from citycredit.exceptions import ConfigError
from citycredit.ids import EARLY_WARNING_SUBFIELDS

from . import charts

FORMATS = ("html", "xlsx", "pdf")
ZIP_TIME = (2000, 1, 1, 0, 0, 0)  # every XLSX entry's time: a fixed date keeps the file byte-identical


def _env() -> Environment:
    # autoescape: titles come from news pages; a headline must never become markup
    env = Environment(loader=PackageLoader("citycredit.reporting", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["signed"] = lambda v: f"{v:+.2f}" if v else "0.00"
    env.filters["rank_move"] = lambda v: "—" if not v else (f"↑{v}" if v > 0 else f"↓{-v}")
    env.filters["pct"] = lambda v: f"{v:.0%}"
    return env


def province_grid(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each province of the scope with its cities as tiles coloured by score on the scope's scale."""
    rows = [r for g in report["groups"] for r in g["rows"]]
    if not rows:
        return []
    low, high = min(r["score"] for r in rows), max(r["score"] for r in rows)
    by_province: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: (-r["score"], r["city_adcode"])):
        background, text = charts.score_colour(r["score"], low, high)
        by_province.setdefault(r["province"], []).append(
            {"city": r["city"], "score": r["score"], "background": background, "text": text})
    return [{"province": p, "cities": by_province[p]} for p in sorted(by_province)]


def html(report: dict[str, Any]) -> str:
    figures = {"distribution": charts.score_distribution(report["groups"]) if report["groups"] else "",
               "movers": charts.movers(report["movers"]["up"], report["movers"]["down"])}
    return _env().get_template("monthly.html.j2").render(r=report, figures=figures, grid=province_grid(report))


def pdf(report: dict[str, Any]) -> bytes:
    try:
        from weasyprint import HTML
    except OSError as exc:  # WeasyPrint loads pango with ctypes: a missing system library surfaces here
        raise ConfigError(f"PDF needs the pango library ({exc}); run ops/install-test-deps.sh "
                          "or apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk") from exc
    _check_cjk_font()
    return HTML(string=html(report)).write_pdf()


def _check_cjk_font() -> None:
    """Without a Chinese font the PDF would show empty boxes: refuse with the fix instead."""
    import shutil
    import subprocess

    if shutil.which("fc-list") is None:
        return  # no fontconfig tools to ask; pango still uses fontconfig's own configuration
    found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    if not found.strip():
        raise ConfigError("PDF needs a Chinese font: run ops/install-test-deps.sh or apt-get install fonts-noto-cjk")


def xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    head = Font(bold=True)
    ws = wb.active
    ws.title = "概况"
    for line in _summary_lines(report):
        ws.append(line)
    ws["A1"].font = Font(bold=True, size=14)
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 60

    def sheet(title: str, header: list[str], rows: list[list[Any]], widths: dict[str, int] | None = None) -> None:
        s = wb.create_sheet(title[:31])  # Excel's sheet-name limit
        s.append(header)
        for cell in s[1]:
            cell.font = head
            cell.fill = PatternFill("solid", fgColor="DCE6F1")
        for row in rows:
            s.append(row)
        s.freeze_panes = "A2"
        for col, width in (widths or {}).items():
            s.column_dimensions[col].width = width

    for g in report["groups"]:
        sheet(f"排名-{g['label']}",
              ["排名", "城市", "省份", "得分", "较上月得分变化", "上月排名", "排名变化", f"近{report['rolling_months']}个月得分",
               f"近{report['rolling_months']}个月排名", "重大失信扣分", "政府反馈对冲", "实测占比", "未监测方面"],
              [[r["rank"], r["city"], r["province"], r["score"], r["score_change"], r["prev_rank"], r["rank_change"],
                r["rolling_score"], r["rolling_rank"], r["penalty"], r["offset"], r["measured_share"], "、".join(r["unmeasured"])]
               for r in g["rows"]], {"B": 14, "C": 14, "M": 40})
    sheet("重大失信事件", ["时间", "城市", "省份", "标题", "触发", "扣分", "反馈", "对冲", "净影响", "链接"],
          [[e["ts"], e["city"], e["province"], e["title"], e["trigger_text"], e["deduction"],
            "；".join(f"{x['kind_label']} {x['ts'][:10]} {x['points']:+.2f}" for x in e["responses"]),
            e["offset"], e["net"], " ".join(e["urls"])] for e in report["events"]["major_dishonesty"]],
          {"A": 26, "D": 50, "E": 30, "G": 40})
    sheet("重大守信事件", ["时间", "城市", "省份", "标题", "触发", "加分", "链接"],
          [[e["ts"], e["city"], e["province"], e["title"], e["trigger_text"], e["points"], " ".join(e["urls"])]
           for e in report["events"]["major_trustworthy"]], {"A": 26, "D": 50, "E": 30})
    sheet("预警与高发领域", ["省份", "高发领域失信事件合计", *report["incidence_labels"], "预警"],
          [[w["province"], w["total"], *[w["incidence"][s] for s in EARLY_WARNING_SUBFIELDS],
            "；".join(f"{x['ts'][:10]} {x['city']} {x['subfield']}：{x['title']}" for x in w["early_warnings"])]
           for w in report["warnings"]], {"A": 14, "H": 60})
    sheet("数据覆盖", ["方面", "有实测数据的城市", "范围内城市"],
          [[c["aspect"], c["measured"], c["of"]] for c in report["coverage"]], {"A": 24})
    m = report["methods"]
    sheet("方法", ["方面", "基础分", "下限", "上限", "说明"],
          [[a["aspect"], a["base"], a["min"], a["max"], a["note"]] for a in m["aspects"]]
          + [["重大失信事件（每起扣分）", None, None, -m["deduction"], m["deduction_note"]]]
          + [[f"政府反馈：{s['kind']}", None, None, s["share"], "占该事件扣分的比例"] for s in m["shares"]],
          {"A": 26, "E": 90})
    for s in wb.worksheets:
        for row in s.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # a headline starting with "=" stays text, never a formula
                cell.alignment = Alignment(vertical="top", wrap_text=isinstance(cell.value, str) and len(cell.value) > 30)

    # Fixed document times (the period's data, not the clock) and fixed zip entry times.
    stamp = datetime.fromisoformat(report["data_through"]).replace(tzinfo=None) if report["data_through"] else datetime(2000, 1, 1)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = "citycredit"
    wb.properties.title = report["title"]
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()  # not openpyxl.save_workbook: it stamps "modified" with now()
    return _fixed_zip(raw.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name))
    return out.getvalue()


def _summary_lines(report: dict[str, Any]) -> list[list[Any]]:
    t = report["totals"]
    return [[report["title"]], [],
            ["监测月份", report["period"]], ["范围", report["scope"]],
            ["数据截至", report["data_through"] or "本期无数据"],
            ["参与排名城市", t["cities"]], ["重大失信事件", t["major_dishonesty"]],
            ["政府反馈", t["responses"]], ["重大守信事件", t["major_trustworthy"]], ["预警", t["early_warnings"]],
            ["被拒绝的输入", report["rejected"]],
            ["说明", f"得分为当月得分；排名在同类城市中进行；近{report['rolling_months']}个月得分按滚动权重计算。"
                    "每一分的来源可用 citycredit explain <城市> --period <月份> 查询。"]]


def render(report: dict[str, Any], fmt: str) -> bytes:
    if fmt == "html":
        return html(report).encode("utf-8")
    if fmt == "xlsx":
        return xlsx(report)
    if fmt == "pdf":
        return pdf(report)
    raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
