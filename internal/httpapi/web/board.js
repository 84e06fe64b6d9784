// Pleiades BLF board: every hint as a lamp, live over the event WebSocket, and the cluster's
// members with their health. Plain JS, no build step.
"use strict";
(function () {
  const base = location.pathname.replace(/\/board(\/.*)?$/, ""); // the http.conf prefix
  const params = new URLSearchParams(location.search);
  let apiKey = params.get("api_key") || sessionStorage.getItem("pleiades.api_key") || "";
  const $ = (id) => document.getElementById(id);
  const lamps = new Map(); // "exten@context" -> element
  let members = [];
  let ws = null, retry = 0, refreshTimer = 0;

  const stateText = { NOT_INUSE: "Not in use", INUSE: "In use", BUSY: "Busy", INVALID: "Invalid",
    UNAVAILABLE: "Unavailable", RINGING: "Ringing", RINGINUSE: "Ring+Inuse", ONHOLD: "On Hold", UNKNOWN: "Unknown" };

  function headers() {
    const h = { "X-Requested-With": "pleiades-board", Accept: "application/json" };
    if (apiKey) h.Authorization = "Basic " + btoa(unescape(encodeURIComponent(apiKey)));
    return h;
  }

  async function api(path) {
    const r = await fetch(base + path, { headers: headers(), cache: "no-store" });
    if (r.status === 401) { needLogin(); throw new Error("unauthorized"); }
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r.json();
  }

  function needLogin(msg) {
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    $("app").hidden = true;
    $("login").hidden = false;
    if (msg || apiKey) { $("login-error").textContent = msg || "Wrong user or password."; $("login-error").hidden = false; }
    setConn("down", "signed out");
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    apiKey = $("user").value + ":" + $("password").value;
    sessionStorage.setItem("pleiades.api_key", apiKey);
    $("login").hidden = true;
    $("app").hidden = false;
    start();
  });

  function setConn(state, text) {
    const c = $("conn");
    c.dataset.conn = state;
    c.textContent = text;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function nodeLabel(srv) {
    if (srv.node) return srv.node;
    return srv.eid.slice(-8); // the last bytes of the Entity ID
  }

  function renderDevices(ul, devices) {
    ul.replaceChildren();
    for (const d of devices || []) {
      const li = el("li", "device");
      li.dataset.device = d.name;
      li.dataset.state = d.state;
      li.append(el("span", "dname", d.name));
      const st = el("span", "chip", stateText[d.state] || d.state);
      st.dataset.state = d.state;
      st.classList.add("aggregate");
      li.append(st);
      for (const s of d.servers || []) {
        const c = el("span", "chip server", nodeLabel(s) + (s.self ? "*" : "") + " " + (stateText[s.state] || s.state));
        c.dataset.state = s.state;
        c.dataset.eid = s.eid;
        c.title = "Server " + (s.node ? s.node + " " : "") + s.eid + (s.self ? " (this server)" : "") + ": " + s.state;
        li.append(c);
      }
      ul.append(li);
    }
  }

  function renderHint(h) {
    const key = h.exten + "@" + h.context;
    let lamp = lamps.get(key);
    if (!lamp) {
      lamp = el("article", "lamp");
      lamp.dataset.key = key;
      const bulb = el("div", "bulb");
      bulb.setAttribute("role", "img");
      const title = el("div", "exten");
      title.append(document.createTextNode(h.exten + " "), el("span", "context", "@" + h.context));
      lamp.append(bulb, title, el("div", "state"), el("ul", "devices"));
      lamps.set(key, lamp);
      insertSorted(lamp);
    }
    lamp.dataset.state = h.state_text;
    lamp.dataset.stateCode = String(h.state);
    lamp.dataset.hint = h.hint;
    lamp.querySelector(".bulb").setAttribute("aria-label", h.state_text);
    lamp.querySelector(".state").textContent = h.state_text;
    lamp.title = key + " = " + h.hint;
    renderDevices(lamp.querySelector(".devices"), h.devices);
    applyFilter(lamp);
    $("hints-count").textContent = "(" + lamps.size + ")";
    $("empty").hidden = lamps.size > 0;
  }

  function sortKey(k) {
    const [exten, ctx] = k.split("@");
    return [ctx, exten.padStart(12, "0")];
  }

  function insertSorted(lamp) {
    const box = $("lamps");
    const [c, e] = sortKey(lamp.dataset.key);
    for (const other of box.children) {
      const [oc, oe] = sortKey(other.dataset.key);
      if (c < oc || (c === oc && e < oe)) { box.insertBefore(lamp, other); return; }
    }
    box.append(lamp);
  }

  function applyFilter(lamp) {
    const q = $("search").value.trim().toLowerCase();
    lamp.hidden = q !== "" && !(lamp.dataset.key + " " + (lamp.dataset.hint || "")).toLowerCase().includes(q);
  }
  $("search").addEventListener("input", () => lamps.forEach(applyFilter));

  function age(iso) {
    if (!iso) return "";
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    return s < 2 ? "now" : s < 120 ? Math.round(s) + " s ago" : Math.round(s / 60) + " min ago";
  }

  // With sites (cluster.conf site=) members are grouped by site, this server's site first,
  // each group headed by the site's name and this server's link to it.
  function sitesOrder() {
    if (!members.some((m) => m.site)) return [null];
    const own = (members.find((m) => m.self) || {}).site || "";
    const names = [...new Set(members.map((m) => m.site || ""))];
    names.sort((a, b) => (a === own ? -1 : b === own ? 1 : a.localeCompare(b)));
    return names;
  }

  function renderMembers() {
    const ul = $("members");
    ul.replaceChildren();
    for (const site of sitesOrder()) {
      const group = site === null ? members : members.filter((m) => (m.site || "") === site);
      if (site !== null) {
        const link = (group.find((m) => m.site_link) || {}).site_link || "";
        const head = el("li", "site", (site || "no site") + (group.some((m) => m.self) ? " · this site" : link ? " · link " + link : ""));
        head.dataset.site = site;
        head.dataset.link = link;
        ul.append(head);
      }
      renderGroup(ul, group);
    }
    $("members-count").textContent = "(" + members.length + ")";
  }

  function renderGroup(ul, group) {
    for (const m of group) {
      const li = el("li", "member");
      li.dataset.eid = m.eid;
      li.dataset.state = m.state;
      li.dataset.health = m.self || m.state === "up" ? "up" : "down";
      const name = el("div", "name", m.name || m.eid);
      if (m.self) name.append(el("span", "self", "this server"));
      li.append(el("span", "health"), name,
        el("div", "meta", m.eid + (m.address ? "  " + m.address : "")),
        el("div", "meta", m.state + (m.last_heartbeat && !m.self ? " · heartbeat " + age(m.last_heartbeat) : "")));
      ul.append(li);
    }
  }

  async function refresh() {
    const [hints, ms] = await Promise.all([api("/api/hints"), api("/api/cluster/members")]);
    const seen = new Set();
    for (const h of hints) { renderHint(h); seen.add(h.exten + "@" + h.context); }
    for (const [k, lamp] of lamps) if (!seen.has(k)) { lamp.remove(); lamps.delete(k); }
    $("hints-count").textContent = "(" + lamps.size + ")";
    $("empty").hidden = lamps.size > 0;
    members = ms;
    renderMembers();
  }

  // A device change may change which servers contribute without changing a hint: refetch
  // soon, once for a burst.
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = 0; refresh().catch(() => {}); }, 300);
  }

  function onEvent(ev) {
    switch (ev.type) {
      case "ExtensionStatus":
        if (ev.hint.state === -2) { // removed
          const lamp = lamps.get(ev.hint.exten + "@" + ev.hint.context);
          if (lamp) lamp.dataset.state = "Removed";
          refreshSoon();
        } else {
          renderHint(ev.hint);
        }
        break;
      case "DeviceStateChanged":
        for (const li of document.querySelectorAll(".device")) {
          if (li.dataset.device === ev.device_state.name) {
            li.dataset.state = ev.device_state.state;
            const agg = li.querySelector(".aggregate");
            agg.dataset.state = ev.device_state.state;
            agg.textContent = stateText[ev.device_state.state] || ev.device_state.state;
          }
        }
        refreshSoon();
        break;
      case "ClusterMember":
        refreshSoon();
        break;
    }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let url = proto + "//" + location.host + base + "/api/events?app=blf-board&types=ExtensionStatus,DeviceStateChanged,ClusterMember";
    if (apiKey) url += "&api_key=" + encodeURIComponent(apiKey);
    ws = new WebSocket(url);
    ws.onopen = () => {
      retry = 0;
      setConn("live", "live");
      refresh().catch((e) => console.warn(e));
    };
    ws.onmessage = (m) => {
      try { onEvent(JSON.parse(m.data)); } catch (e) { console.warn(e); }
    };
    ws.onclose = () => {
      ws = null;
      setConn("down", "reconnecting…");
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 250 * 2 ** retry);
    };
  }

  async function start() {
    try {
      await refresh();
    } catch (e) {
      if (String(e.message) === "unauthorized") return;
    }
    connect();
  }

  setInterval(() => { if (ws && ws.readyState === 1) refresh().catch(() => {}); else renderMembers(); }, 10000);
  start();
})();
