// 城市信用监测台 (the monitoring desk). Plain DOM, no build step.
// Every piece of data is put on the page as text (textContent / text nodes), never as
// markup: headlines come from the open internet and may contain HTML or script.
"use strict";

const LABELS = {
  types: { major_dishonesty: "重大失信", major_trustworthy: "重要守信", early_warning: "预警" },
  triggers: { homepages: "多站首页", hotlist: "排行榜", trend: "上升趋势" },
  polarity: { dishonest: "失信", trustworthy: "守信", neutral: "中性" },
  surfaces: { homepage: "首页", hotlist: "排行榜", rss: "RSS" },
  kinds: { statement: "情况说明", investigation: "立案调查", rectification: "整改", accountability: "问责", rule_improvement: "完善制度" },
  status: { open: "未回应", responded: "已回应" },
};
let META = null;

// ---- DOM helpers: text only ---------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
function safeLink(url, text) {
  // Only http(s) links are clickable: a "javascript:" URL in a feed stays inert text.
  if (typeof url === "string" && /^https?:\/\//i.test(url)) return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, text);
  return document.createTextNode(String(text));
}
function num(v, digits = 2) { return (v === null || v === undefined) ? "—" : Number(v).toFixed(digits); }
// Times are shown in Beijing time whatever the officer's machine is set to.
function time(ts) { if (!ts) return "—"; const d = new Date(ts); return isNaN(d) ? ts : d.toLocaleString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" }); }
function periodLabel(p) { return p.startsWith("12m:") ? `近12个月（截至${p.slice(4)}）` : `${p} 月度`; }
function domainLabel(d) { return (META && META.domains[d]) || (d ? d : "—"); }
function badge(cls, text) { return el("span", { class: "badge " + cls }, text); }
function show(...nodes) { const v = document.getElementById("view"); v.replaceChildren(...nodes); }
function table(headers, rows, numeric = []) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { class: numeric.includes(i) ? "num" : null }, h)))),
    el("tbody", {}, rows.map(r => el("tr", {}, r.map((c, i) => el("td", { class: numeric.includes(i) ? "num" : null }, c))))));
}
async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}
function query() { const h = location.hash; const i = h.indexOf("?"); return new URLSearchParams(i >= 0 ? h.slice(i + 1) : ""); }
function go(path, params) {
  const q = new URLSearchParams(Object.entries(params || {}).filter(([, v]) => v)).toString();
  location.hash = path + (q ? "?" + q : "");
}
function select(id, options, value, onchange) {
  return el("select", { id, onchange }, options.map(([v, t]) => el("option", { value: v, selected: v === value ? "selected" : null }, t)));
}

// ---- 信用排行 ----------------------------------------------------------------------
// The rows, ranks and ties come from the index's own ranking code (/api/ranking): this page
// only shows them, so the board and `citycredit ranking` cannot tell different stories.
function coverageText(c) {
  if (!c || c.measured_share === null || c.measured_share === undefined) return "—";
  return `${Math.round(c.measured_share * 100)}%`;
}
function unmeasuredText(c) {
  if (!c || !c.unmeasured || !c.unmeasured.length) return "—";
  return c.unmeasured.map(a => (META.aspects[a] || a)).join("、");
}
// Month-over-month: ↑ up the ranking (rank change > 0), ↓ down, = unchanged; — when the
// month before was never scored.
function changeText(c) {
  if (!c) return "—";
  const arrow = c.rank > 0 ? `↑${c.rank}` : c.rank < 0 ? `↓${-c.rank}` : "=";
  return `${arrow} (${c.score > 0 ? "+" : ""}${num(c.score)})`;
}
async function viewRanking() {
  const q = query();
  const period = q.get("period") || META.default_period || "";
  const province = q.get("province") || "";
  const group = q.get("group") || "";
  if (!period) { show(el("h2", {}, "信用排行"), el("p", { class: "muted" }, "尚无城市指数数据。指数计算完成后此处显示排名。")); return; }
  const params = { period, province, group };
  const data = await getJSON(`/api/ranking?${new URLSearchParams(params)}`);
  const csv = `/api/ranking.csv?${new URLSearchParams(params)}`;
  // The monthly report of the period's month (a rolling period ends with one) and this scope.
  const report = fmt => `/api/report?${new URLSearchParams({ period: period.replace(/^12m:/, ""), scope: province || "全国", format: fmt })}`;
  // A provincial view has its own peer sets (地级及以上 / 县级市); a national one the three groups.
  const groups = province ? META.province_sets : META.groups;
  const rows = data.rows.map(r => [
    `${r.rank} / ${r.of}`,
    el("a", { href: `#/city/${r.city_adcode}?period=${encodeURIComponent(period)}`, class: "city-link" }, r.city),
    r.province || "—", r.peers_label || r.peers, num(r.score), num(r.penalty), num(r.offset),
    num((r.components || {}).major_trustworthy),
    el("span", { class: "change" }, changeText(r.change)),
    coverageText(r.coverage), unmeasuredText(r.coverage),
  ]);
  show(
    el("h2", {}, `信用排行 · ${province || "全国"}${group ? " · " + (groups[group] || group) : ""} · ${periodLabel(period)}`),
    el("div", { class: "toolbar" },
      el("label", {}, "周期 ", select("period", META.periods.map(p => [p, periodLabel(p)]), period, e => go("#/ranking", { ...params, period: e.target.value }))),
      // a peer set of one view is not one of the other: changing the scope resets the group
      el("label", {}, "范围 ", select("province", [["", "全国"], ...META.provinces.map(p => [p, p])], province, e => go("#/ranking", { period, province: e.target.value }))),
      el("label", {}, "同类城市 ", select("group", [["", "全部"], ...Object.entries(groups)], group, e => go("#/ranking", { period, province, group: e.target.value }))),
      el("a", { class: "button", href: csv, download: "" }, "导出CSV"),
      el("a", { class: "button", href: report("pdf"), download: "" }, "月度报告PDF"),
      el("a", { class: "button", href: report("xlsx"), download: "" }, "月度报告XLSX")),
    rows.length ? table(["排名", "城市", "省份", "同类组", "综合指数", "重大失信扣分", "政府回应抵扣", "重要守信加分", "较上月", "已监测占比", "未监测方面"], rows, [4, 5, 6, 7, 8, 9])
      : el("p", { class: "muted" }, "该周期暂无数据。"),
    el("p", { class: "muted" }, "排名在同类城市内计算，同分按评分配置的规则（失信事件少者、已监测方面多者在前）区分；无新闻的城市按基础分列出。点击城市名查看八个方面得分、重大事件及回应情况。"));
}

// ---- 城市页 ------------------------------------------------------------------------
async function viewCity(adcode) {
  const period = query().get("period") || "";
  const d = await getJSON(`/api/cities/${encodeURIComponent(adcode)}?${new URLSearchParams(period ? { period } : {})}`);
  const e = d.entry;
  const head = el("div", { class: "card" },
    el("h2", {}, `${d.city || adcode}`, el("span", { class: "muted" }, `  ${d.province || ""} · ${adcode}`)),
    e ? el("div", {},
      el("div", { class: "score", id: "city-score" }, num(e.score)),
      el("div", {}, `${periodLabel(e.period)} · 全国${d.ranks.group || ""}第 `, el("b", { id: "rank-national" }, String(d.ranks.national)), ` / ${d.ranks.national_of} 名 · 省内${d.ranks.province_group || ""}第 `,
        el("b", { id: "rank-province" }, String(d.ranks.province)), ` / ${d.ranks.province_of} 名`),
      el("div", {}, "重大失信扣分 ", el("b", { id: "city-penalty" }, num(e.penalty)), " · 政府回应抵扣 ", el("b", { id: "city-offset" }, num(e.offset))),
      d.ranks.change ? el("div", { id: "city-change" }, `较 ${d.ranks.change.previous_period}：排名 ${changeText(d.ranks.change)}`,
        (d.ranks.top_changes || []).length ? ` · 主要变化：${d.ranks.top_changes.map(c => `${c.label} ${c.points > 0 ? "+" : ""}${num(c.points)}`).join("，")}` : "") : null)
      : el("p", { class: "muted" }, "该周期尚无指数。"),
    d.periods.length > 1 ? el("div", { class: "toolbar" }, el("label", {}, "周期 ",
      select("city-period", d.periods.map(p => [p, periodLabel(p)]), d.period, ev => go(`#/city/${adcode}`, { period: ev.target.value })))) : null);
  // Coverage from the index: an aspect nobody measured is shown as 未监测, never as silent full or zero marks.
  const cov = (e && e.coverage) || null;
  const measuredBy = { news: "新闻监测", blacklist_import: "黑名单导入", website_check: "网站检查", task_report: "任务报送" };
  const coverageCell = id => {
    const c = cov && cov.aspects && cov.aspects[id];
    if (!c) return "—";
    if (!c.measured) return badge("unknown", "未监测");
    return c.at ? `${measuredBy[c.by] || c.by} ${time(c.at)}` : (measuredBy[c.by] || c.by);
  };
  const comps = e ? el("div", {},
    table(["方面", "得分", "监测"], Object.entries(d.aspects).map(([id, name]) => [name, num((d.aspect_points || {})[id]), coverageCell(id)]), [1]),
    cov ? el("p", { class: "muted", id: "city-coverage" },
      `其中 ${num(cov.unmeasured_points)} 分来自未监测方面；已监测方面占分项得分的 ${Math.round(cov.measured_share * 100)}%`) : null) : null;
  const majors = d.events.filter(a => a.type === "major_dishonesty");
  const events = d.events.length ? table(["类型", "标题", "触发", "首次发现", "认定时间", "回应状态"], d.events.map(a => [
    badge(a.type, LABELS.types[a.type] || a.type),
    safeLink((a.urls || [])[0], a.title),
    `${LABELS.triggers[a.trigger] || a.trigger}（${(a.sites || []).length}站）`,
    time(a.first_seen), time(a.triggered_at),
    a.status ? el("span", {}, badge(a.status, LABELS.status[a.status]),
      // each response under the event it answers: kind, time (Beijing), what it said, where
      ...(a.responses || []).map(r => el("div", { class: "muted response-line" }, `${LABELS.kinds[r.kind] || r.kind}：`,
        r.url ? safeLink(r.url, r.title || r.url) : (r.title || ""), `（${time(r.ts)}）`,
        r.note ? el("div", { class: "response-note" }, r.note) : null))) : "—",
  ])) : el("p", { class: "muted" }, "暂无重大事件或预警。");
  const timeline = d.timeline.length ? table(["时间", "网站", "位置", "标题", "领域", "性质"], d.timeline.map(i => [
    time(i.ts), (META.sites[i.site] || i.site), LABELS.surfaces[i.surface] || i.surface, safeLink(i.url, i.title),
    domainLabel(i.domain), LABELS.polarity[i.polarity] || i.polarity])) : el("p", { class: "muted" }, "暂无事件。");
  show(head, el("div", { class: "grid" },
    el("div", { class: "card" }, el("h3", {}, "八个方面得分"), comps || el("p", { class: "muted" }, "—")),
    el("div", { class: "card" }, el("h3", {}, "提交政府回应"), responseForm(adcode, majors))),
    el("div", { class: "card" }, el("h3", {}, "重大事件与预警"), events),
    el("div", { class: "card" }, el("h3", {}, "事件时间线"), timeline,
      el("a", { class: "button", href: `/api/events.csv?city=${adcode}`, download: "" }, "导出该市事件CSV")));
}

function responseForm(adcode, majors) {
  if (!majors.length) return el("p", { class: "muted" }, "该市暂无重大失信事件，无需回应。");
  const msg = el("div", { class: "msg", id: "response-msg", role: "status" });
  // The token is typed in (the demo prints its own at start) and kept in sessionStorage: it
  // lives as long as this tab, is not written to disk, and a demo's throwaway token is gone
  // when the tab is. The worker never puts a token in a page, so nothing here leaks it.
  localStorage.removeItem("citycredit-token");  // earlier versions kept it there for good
  const token = el("input", { id: "token", type: "password", autocomplete: "off", value: sessionStorage.getItem("citycredit-token") || "" });
  const form = el("form", { class: "response", id: "response-form" },
    el("label", { for: "story" }, "针对的重大失信事件"),
    el("select", { id: "story", name: "story_id" }, majors.map(a => el("option", { value: a.story_id },
      `${a.status === "open" ? "【未回应】" : "【已回应】"}${a.title}`))),
    el("label", { for: "kind" }, "回应类型"),
    el("select", { id: "kind", name: "kind" }, Object.entries(LABELS.kinds).map(([k, t]) => el("option", { value: k }, t))),
    el("label", { for: "title" }, "回应标题（必填其一：标题或说明）"), el("input", { id: "title", name: "title", maxlength: 300 }),
    el("label", { for: "url" }, "发布链接（可选，http/https）"), el("input", { id: "url", name: "url", maxlength: 2000 }),
    el("label", { for: "note" }, "说明（可选）"), el("textarea", { id: "note", name: "note", rows: 2, maxlength: 2000 }),
    el("label", { for: "token" }, "操作令牌（管理员提供；演示时见 citycredit demo 启动输出；仅保存在本标签页）"), token,
    el("div", {}, el("button", { type: "submit", id: "submit-response" }, "提交回应")), msg);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    msg.className = "msg"; msg.textContent = "提交中…";
    sessionStorage.setItem("citycredit-token", token.value);
    const body = { city_adcode: adcode, story_id: form.story.value, kind: form.kind.value,
      title: form.title.value, url: form.url.value, note: form.note.value };
    try {
      const r = await fetch("/api/responses", { method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token.value }, body: JSON.stringify(body) });
      const data = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
      msg.className = "msg ok";
      msg.textContent = `已受理：回应编号 ${data.response.response_id}。指数重新计算后抵扣将显示在上方。`;
      setTimeout(() => { if (location.hash.startsWith(`#/city/${adcode}`)) route(true); }, 2500);
    } catch (err) {
      msg.className = "msg err"; msg.textContent = "提交失败：" + err.message;
    }
  });
  return form;
}

// ---- 实时预警 ----------------------------------------------------------------------
let stream = null;
function alertRow(a) {
  return el("tr", {}, el("td", {}, time(a.triggered_at)), el("td", {}, badge(a.type, LABELS.types[a.type] || a.type)),
    el("td", {}, a.city_adcode ? el("a", { href: `#/city/${a.city_adcode}` }, a.city || a.city_adcode) : "—"),
    el("td", {}, domainLabel(a.domain)), el("td", {}, safeLink((a.urls || [])[0], a.title)),
    el("td", {}, `${LABELS.triggers[a.trigger] || a.trigger} · ${(a.sites || []).map(s => META.sites[s] || s).join("、")}`));
}
async function viewAlerts() {
  const data = await getJSON("/api/alerts?limit=200");
  const tbody = el("tbody", { id: "alerts-body" }, data.rows.map(alertRow));
  const state = el("span", { class: "muted", id: "stream-state" }, "连接中…");
  show(el("h2", {}, "实时预警"), el("div", { class: "toolbar" }, state),
    el("table", {}, el("thead", {}, el("tr", {}, ["认定时间", "类型", "城市", "领域", "标题", "依据"].map(h => el("th", {}, h)))), tbody));
  const seen = new Set(data.rows.map(a => `${a.type}:${a.story_id}`));
  stream = new EventSource("/api/alerts/stream");
  stream.onopen = () => { state.textContent = "已连接，新预警将自动出现在顶部"; };
  stream.onerror = () => { state.textContent = "连接中断，正在重连…"; };
  stream.addEventListener("alert", ev => {
    const a = JSON.parse(ev.data);
    const k = `${a.type}:${a.story_id}`;
    if (seen.has(k)) return;
    seen.add(k);
    tbody.prepend(alertRow(a));
  });
}

// ---- 事件检索 ----------------------------------------------------------------------
async function viewSearch() {
  const q = query();
  const params = { q: q.get("q") || "", domain: q.get("domain") || "", polarity: q.get("polarity") || "", city: q.get("city") || "" };
  const input = el("input", { id: "search-q", value: params.q, placeholder: "输入标题关键词，如 食品、欠薪", size: 30 });
  const domain = select("search-domain", [["", "全部领域"], ...Object.entries(META.domains)], params.domain);
  const polarity = select("search-polarity", [["", "全部性质"], ...Object.entries(LABELS.polarity)], params.polarity);
  const form = el("form", { class: "toolbar", id: "search-form" }, input, domain, polarity, el("button", { type: "submit" }, "检索"),
    el("a", { class: "button", href: `/api/events.csv?${new URLSearchParams(params)}`, download: "" }, "导出CSV"));
  form.addEventListener("submit", ev => { ev.preventDefault(); go("#/search", { q: input.value, domain: domain.value, polarity: polarity.value, city: params.city }); });
  const data = await getJSON(`/api/events?${new URLSearchParams(params)}`);
  show(el("h2", {}, "事件检索"), form,
    data.rows.length ? table(["时间", "城市", "网站", "标题", "领域", "性质"], data.rows.map(i => [
      time(i.ts), i.city_adcode ? el("a", { href: `#/city/${i.city_adcode}` }, i.city || i.city_adcode) : "—",
      META.sites[i.site] || i.site, safeLink(i.url, i.title), domainLabel(i.domain), LABELS.polarity[i.polarity] || i.polarity]))
      : el("p", { class: "muted" }, "没有符合条件的事件。"));
}

// ---- 信源状态 ----------------------------------------------------------------------
async function viewSources() {
  const data = await getJSON("/api/sources");
  const rows = [];
  for (const s of data.rows) {
    if (!s.surfaces.length) { rows.push([s.name, "—", badge("unknown", "未知"), "—", "—", "—", "尚无采集记录"]); continue; }
    for (const h of s.surfaces) {
      const bad = h.consecutive_failures > 0;
      const st = bad ? badge("bad", "故障") : h.yield_drop ? badge("warn", "产出骤降") : badge("good", "正常");
      rows.push([s.name, LABELS.surfaces[h.surface] || h.surface, st, time(h.last_success), String(h.items_parsed),
        String(h.consecutive_failures), h.last_error || ""]);
    }
  }
  show(el("h2", {}, "信源状态（15 家监测网站）"),
    table(["网站", "采集面", "状态", "最近成功", "解析条数", "连续失败", "最近错误"], rows, [4, 5]));
}

// ---- router ------------------------------------------------------------------------
async function route() {
  if (stream) { stream.close(); stream = null; }
  const path = location.hash.split("?")[0] || "#/ranking";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", path.startsWith(a.getAttribute("href")));
  try {
    META = await getJSON("/api/meta");
    document.getElementById("status").textContent = META.caught_up ? "" : "正在载入历史数据…";
    const m = path.match(/^#\/city\/(\d{6})$/);
    if (m) await viewCity(m[1]);
    else if (path === "#/alerts") await viewAlerts();
    else if (path === "#/search") await viewSearch();
    else if (path === "#/sources") await viewSources();
    else await viewRanking();
  } catch (err) {
    show(el("p", { class: "msg err" }, "加载失败：" + err.message));
  }
}
window.addEventListener("hashchange", () => route());
route();
