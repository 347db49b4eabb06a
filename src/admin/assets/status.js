// The status page: polls /api/status (at most once a second, never two requests in flight) and
// draws health, alerts, monitor charts, the actor tree, channels and process resources.
//
// Every value from the server reaches the DOM as text (textContent, text nodes, attribute values);
// nothing here parses markup, so a label such as `<script>` shows as what it is. The page runs under
// a Content-Security-Policy without inline script or style: this file and status.css are all it
// loads. The admin token for acknowledging and silencing is typed in by the operator and kept in a
// variable, and in sessionStorage only when asked to.
'use strict';

(function () {
  const POLL_MS = 1000;
  const SVG = 'http://www.w3.org/2000/svg';
  const TOKEN_KEY = 'watchkeeper.token';
  const WHO_KEY = 'watchkeeper.who';

  let token = stored(TOKEN_KEY);
  let timer = null;
  let inflight = false;
  let lastStart = 0;

  function stored(key) {
    try { return window.sessionStorage.getItem(key); } catch (_) { return null; }
  }
  function store(key, value) {
    try {
      if (value === null) window.sessionStorage.removeItem(key);
      else window.sessionStorage.setItem(key, value);
    } catch (_) { /* storage disabled: memory only */ }
  }

  // ---- DOM building: text only ----

  // An element with attributes (never `style` nor event handlers) and children (nodes or text).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    setAttrs(node, attrs);
    return node;
  }
  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (name === 'text') node.textContent = String(value);
      else if (name === 'style' || name.startsWith('on')) throw new Error('refused attribute ' + name);
      else node.setAttribute(name, String(value));
    }
  }
  function byId(id) { return document.getElementById(id); }

  // ---- formatting ----

  function sig(x, digits) {
    if (!isFinite(x)) return '–';
    if (x === 0) return '0';
    const a = Math.abs(x);
    return a >= Math.pow(10, digits) ? Math.round(x).toString() : Number(x.toPrecision(digits)).toString();
  }
  function seconds(s) {
    if (s === null || s === undefined) return '–';
    if (s === 0) return '0';
    if (s < 1e-6) return sig(s * 1e9, 3) + ' ns';
    if (s < 1e-3) return sig(s * 1e6, 3) + ' µs';
    if (s < 1) return sig(s * 1e3, 3) + ' ms';
    return sig(s, 3) + ' s';
  }
  function rate(r) { return sig(r, 3) + '/s'; }
  function bytes(b) {
    if (b === null || b === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i += 1; }
    return sig(b, 3) + ' ' + units[i];
  }
  function span(s) {
    if (!isFinite(s)) return '–';
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + (s % 60) + 's';
    return (s % 60) + 's';
  }
  function since(iso) {
    if (!iso) return '–';
    const t = Date.parse(iso);
    return isNaN(t) ? String(iso) : span((Date.now() - t) / 1000) + ' ago';
  }
  function number(v) { return (v === null || v === undefined) ? '–' : sig(v, 4); }
  function slug(text) { return String(text).replace(/[^a-z0-9_]/gi, '_').toLowerCase(); }

  // A round upper bound for an axis: 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // ---- charts ----

  const W = 300, H = 96, L = 46, R = 4, T = 6, B = 14;

  // A path through the points, broken where a value is missing; a lone point gets a short stroke.
  function linePath(points) {
    let d = '', run = 0;
    for (const p of points) {
      if (p === null) { if (run === 1) d += ' l 2 0'; run = 0; continue; }
      d += (run === 0 ? ' M ' : ' L ') + p[0].toFixed(1) + ' ' + p[1].toFixed(1);
      run += 1;
    }
    if (run === 1) d += ' l 2 0';
    return d.trim();
  }

  function frame(chart, top, spanSeconds, label) {
    chart.append(svg('rect', { class: 'frame', x: L, y: T, width: W - L - R, height: H - T - B }));
    chart.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: T + (H - T - B) / 2, y2: T + (H - T - B) / 2 }));
    const t = (text, attrs) => { const n = svg('text', attrs); n.textContent = text; chart.append(n); };
    t(label(top), { x: L - 3, y: T + 8, 'text-anchor': 'end' });
    t(label(top / 2), { x: L - 3, y: T + (H - T - B) / 2 + 3, 'text-anchor': 'end' });
    t('0', { x: L - 3, y: H - B, 'text-anchor': 'end' });
    t('−' + span(spanSeconds), { x: L, y: H - 2 });
    t('now', { x: W - R, y: H - 2, 'text-anchor': 'end' });
  }

  function xOf(ago, spanSeconds) {
    const f = Math.max(0, Math.min(1, 1 - ago / spanSeconds));
    return L + f * (W - L - R);
  }
  function yOf(v, top) { return T + (H - T - B) * (1 - Math.min(v, top) / top); }

  function latencyChart(monitor, kind, spanSeconds) {
    const points = kind.intervals.filter((i) => i.p50_seconds !== null);
    const top = niceMax(Math.max(0, ...points.map((i) => i.p999_seconds)));
    const chart = svg('svg', {
      class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img',
      'data-chart': 'latency', 'data-monitor': monitor, 'data-kind': kind.kind, 'data-points': points.length,
      'aria-label': 'latency of ' + monitor + ' ' + kind.kind,
    });
    frame(chart, top, spanSeconds, seconds);
    for (const q of ['p999', 'p99', 'p50']) {
      const path = linePath(kind.intervals.map((i) => i[q + '_seconds'] === null ? null
        : [xOf(i.ago_seconds, spanSeconds), yOf(i[q + '_seconds'], top)]));
      if (path) chart.append(svg('path', { class: q, d: path, 'data-quantile': q }));
    }
    return chart;
  }

  function throughputChart(monitor, kind, spanSeconds) {
    const top = niceMax(Math.max(0, ...kind.intervals.map((i) => i.per_second)));
    const chart = svg('svg', {
      class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img',
      'data-chart': 'throughput', 'data-monitor': monitor, 'data-kind': kind.kind, 'data-points': kind.intervals.length,
      'aria-label': 'throughput of ' + monitor + ' ' + kind.kind,
    });
    frame(chart, top, spanSeconds, (v) => sig(v, 3) + '/s');
    const pts = kind.intervals.map((i) => [xOf(i.ago_seconds, spanSeconds), yOf(i.per_second, top)]);
    if (pts.length > 0) {
      const line = linePath(pts);
      const base = yOf(0, top).toFixed(1);
      const area = 'M ' + pts[0][0].toFixed(1) + ' ' + base + ' ' + line.replace(/^M/, 'L') +
        ' L ' + pts[pts.length - 1][0].toFixed(1) + ' ' + base + ' Z';
      chart.append(svg('path', { class: 'rate-area', d: area }));
      chart.append(svg('path', { class: 'rate', d: line }));
    }
    return chart;
  }

  function renderMonitors(history) {
    const cards = [];
    for (const m of history) {
      const spanSeconds = Math.max(m.tick_seconds * m.window_intervals, m.tick_seconds);
      let kinds = m.kinds.filter((k) => k.total > 0);
      const card = el('div', { class: 'card', 'data-monitor': m.monitor },
        el('h3', { text: m.monitor }));
      if (kinds.length === 0) {
        card.append(el('p', { class: 'muted', text: 'no operations recorded yet' }));
        kinds = m.kinds.slice(0, 1);
      }
      for (const k of kinds) {
        const latest = k.intervals.slice().reverse().find((i) => i.p50_seconds !== null);
        const now = k.intervals.length ? k.intervals[k.intervals.length - 1].per_second : 0;
        const summary = latest
          ? 'p50 ' + seconds(latest.p50_seconds) + ' · p99 ' + seconds(latest.p99_seconds) +
            ' · p99.9 ' + seconds(latest.p999_seconds)
          : 'no operations in the window';
        card.append(el('div', { class: 'kind', 'data-kind': k.kind },
          el('div', { class: 'kind-title' },
            el('b', { text: k.kind }),
            el('span', { class: 'muted', text: summary }),
            el('span', { class: 'muted', text: rate(now) + ' · ' + k.total + ' total' })),
          el('div', {},
            latencyChart(m.monitor, k, spanSeconds),
            el('div', { class: 'legend' },
              el('span', { class: 'key p50', text: 'p50' }),
              el('span', { class: 'key p99', text: 'p99' }),
              el('span', { class: 'key p999', text: 'p99.9' }))),
          el('div', {},
            throughputChart(m.monitor, k, spanSeconds),
            el('div', { class: 'legend' }, el('span', { class: 'key rate', text: 'operations per second' })))));
      }
      cards.push(card);
    }
    if (cards.length === 0) cards.push(el('p', { class: 'muted', text: 'no monitors' }));
    byId('monitors').replaceChildren(...cards);
  }

  // ---- alerts ----

  function renderAlerts(alerts) {
    const box = byId('alerts');
    if (alerts === null) {
      byId('alert-count').textContent = '';
      box.replaceChildren(el('p', { class: 'muted', text: 'the alerting actor did not answer' }));
      return;
    }
    const firing = alerts.items.filter((a) => a.state !== 'pending').length;
    byId('alert-count').textContent = firing + ' firing, ' + (alerts.items.length - firing) + ' pending' +
      (alerts.total > alerts.items.length ? ' (' + alerts.items.length + ' of ' + alerts.total + ' shown)' : '');
    if (alerts.items.length === 0) {
      box.replaceChildren(el('p', { class: 'muted', text: 'No alerts.' }));
      return;
    }
    const rows = alerts.items.map((a) => {
      const labels = el('div', { class: 'labels' });
      for (const [name, value] of Object.entries(a.labels)) {
        if (name === 'alertname' || name === 'severity') continue;
        labels.append(el('span', { class: 'label', 'data-label': name }, name + '=' + value));
      }
      const evidence = el('dl', { class: 'evidence' });
      for (const [name, value] of Object.entries(a.annotations)) {
        evidence.append(el('dt', { text: name }), el('dd', { 'data-annotation': name, text: value }));
      }
      if (a.value !== null && a.value !== undefined) {
        evidence.append(el('dt', { text: 'value' }), el('dd', { text: number(a.value) + ' (threshold ' + number(a.threshold) + ')' }));
      }
      const actions = el('td', { class: 'actions' });
      if (a.acknowledged_by) actions.append(el('div', { class: 'muted', text: 'acknowledged by ' + a.acknowledged_by }));
      else if (a.state !== 'pending') {
        actions.append(el('button', { type: 'button', 'data-action': 'acknowledge', text: 'Acknowledge' }));
      }
      if (a.silenced) actions.append(el('div', { class: 'muted', text: 'silenced' }));
      else actions.append(el('button', { type: 'button', 'data-action': 'silence', text: 'Silence' }));
      if (a.inhibited) actions.append(el('div', { class: 'muted', text: 'inhibited' }));
      const row = el('tr', { class: 'alert', 'data-fingerprint': a.fingerprint, 'data-state': a.state },
        el('td', {}, el('span', { class: 'state state-' + slug(a.state), text: a.state })),
        el('td', {}, el('b', { class: 'alertname', text: a.labels.alertname || '(no name)' }), el('br'),
          el('span', { class: 'muted', text: a.severity })),
        el('td', {}, labels),
        el('td', {}, evidence),
        el('td', { text: a.fired_at ? since(a.fired_at) : 'pending' }),
        actions);
      for (const button of actions.querySelectorAll('button')) {
        button.addEventListener('click', () => openAction(button.getAttribute('data-action'), a));
      }
      return row;
    });
    box.replaceChildren(el('table', { id: 'alert-table' },
      el('thead', {}, el('tr', {}, ...['state', 'alert', 'labels', 'evidence', 'since', ''].map((h) => el('th', { text: h })))),
      el('tbody', {}, ...rows)));
  }

  // ---- actor tree, channels, process ----

  function treeRows(sup, depth, rows) {
    rows.push(el('tr', { class: 'supervisor', 'data-actor': sup.name, 'data-state': sup.state, 'data-restarts': sup.restarts_total },
      el('td', { class: 'depth-' + depth }, el('b', { text: sup.name }), ' ', el('span', { class: 'muted', text: sup.strategy })),
      el('td', {}, el('span', { class: 'state state-' + slug(sup.state), text: sup.state })),
      el('td', { class: 'num', text: sup.restarts_total }),
      el('td', { class: 'num', text: '' }),
      el('td', { class: 'num', text: '' }),
      el('td', { class: 'muted', text: sup.escalations > 0 ? sup.escalations + ' escalations' : '' })));
    for (const child of sup.children) {
      if (child.nested) { treeRows(child.nested, depth + 1, rows); continue; }
      const mb = child.mailbox;
      rows.push(el('tr', { class: 'child', 'data-actor': child.name, 'data-state': child.state, 'data-restarts': child.restarts },
        el('td', { class: 'depth-' + (depth + 1), text: child.name }),
        el('td', {}, el('span', { class: 'state state-' + slug(child.state), text: child.state })),
        el('td', { class: 'num', text: child.restarts }),
        el('td', { class: 'num', text: mb ? mb.depth + ' / ' + mb.capacity : '–' }),
        el('td', { class: 'num', text: mb ? mb.high_water : '–' }),
        el('td', { class: 'failure', text: child.last_failure || '' })));
    }
  }

  function renderTree(supervision) {
    const rows = [];
    if (supervision) treeRows(supervision, 0, rows);
    else rows.push(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'the root supervisor did not answer' })));
    byId('tree').tBodies[0].replaceChildren(...rows);
  }

  function renderChannels(channels) {
    const rows = channels.map((c) => el('tr', { 'data-channel': c.channel },
      el('td', { text: c.channel }),
      el('td', { class: 'num', text: c.queued }),
      el('td', { class: 'num', text: c.delivered }),
      el('td', { class: 'num', text: c.failed }),
      el('td', { class: 'num', text: c.retried }),
      el('td', {}, el('span', { class: 'state state-' + (c.breaker_open ? 'open' : 'closed'), text: c.breaker_open ? 'open' : 'closed' }))));
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'no channels enabled' })));
    byId('channels').tBodies[0].replaceChildren(...rows);
  }

  function renderProcess(health) {
    const p = health.process;
    const s = p ? p.stats : {};
    const a = health.alerting;
    const facts = [
      ['resident memory', bytes(s.resident_bytes)],
      ['peak resident', bytes(s.peak_resident_bytes)],
      ['CPU', p && p.cpu_percent !== null ? sig(p.cpu_percent, 3) + ' % of a core' : '–'],
      ['CPU time', seconds(s.cpu_seconds)],
      ['threads', s.threads ?? '–'],
      ['open files', s.open_fds ?? '–'],
      ['storage read / written', bytes(s.read_bytes) + ' / ' + bytes(s.write_bytes)],
      ['mailbox drops', health.mailbox_drops],
      ['alerts fired', a ? a.fired_total + ' (' + a.alerts_today + ' today)' : '–'],
      ['rule evaluations', a ? a.evaluations : '–'],
    ];
    byId('process').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  }

  function renderHealth(health) {
    const badge = byId('health');
    badge.textContent = health.status;
    badge.setAttribute('data-status', health.status);
    byId('score').textContent = 'score ' + health.score + '/100';
    byId('uptime').textContent = 'up ' + span(health.uptime_seconds);
    const issues = health.issues.map((i) => el('li', { text: i }));
    byId('issues').replaceChildren(...issues);
    byId('issues-section').hidden = issues.length === 0;
  }

  function render(doc) {
    renderHealth(doc.health);
    renderAlerts(doc.alerts);
    renderMonitors(doc.history);
    renderTree(doc.health.supervision);
    renderChannels(doc.health.channels);
    renderProcess(doc.health);
    byId('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.body.setAttribute('data-loaded', 'true');
  }

  // ---- polling: one request at a time, at least POLL_MS apart, paused while hidden ----

  function schedule() {
    if (timer !== null || inflight) return;
    const wait = Math.max(0, POLL_MS - (Date.now() - lastStart));
    timer = window.setTimeout(() => { timer = null; poll(); }, wait);
  }

  async function poll() {
    if (document.hidden) return; // visibilitychange resumes
    inflight = true;
    lastStart = Date.now();
    try {
      const response = await fetch('/api/status', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!response.ok) throw new Error('the server answered ' + response.status);
      render(await response.json());
    } catch (e) {
      const badge = byId('health');
      badge.textContent = 'offline';
      badge.setAttribute('data-status', 'offline');
      byId('updated').textContent = String(e && e.message ? e.message : e);
    } finally {
      inflight = false;
      schedule();
    }
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden) schedule(); });

  // ---- acknowledge and silence ----

  let pending = null;

  function notice(text) {
    byId('notice').textContent = text;
    byId('forget-token').hidden = token === null;
  }

  function openAction(kind, alert) {
    pending = { kind, alert };
    const silence = kind === 'silence';
    byId('action-title').textContent = silence ? 'Silence this alert' : 'Acknowledge this alert';
    byId('action-submit').textContent = silence ? 'Silence' : 'Acknowledge';
    byId('action-target').textContent = (alert.labels.alertname || '') + ' ' +
      Object.entries(alert.labels).filter(([k]) => k !== 'alertname').map(([k, v]) => k + '=' + v).join(' ');
    byId('token-row').hidden = token !== null;
    byId('remember-row').hidden = token !== null;
    byId('duration-row').hidden = !silence;
    byId('comment-row').hidden = !silence;
    byId('who').value = stored(WHO_KEY) || '';
    byId('token').value = '';
    byId('action-error').textContent = '';
    byId('action').showModal();
  }

  async function submitAction(event) {
    event.preventDefault();
    if (!pending) return;
    const { kind, alert } = pending;
    const typed = byId('token').value.trim();
    const useToken = token !== null ? token : typed;
    const who = byId('who').value.trim();
    if (!useToken) { byId('action-error').textContent = 'The admin token is needed.'; return; }
    if (!who) { byId('action-error').textContent = 'Say who you are.'; return; }
    store(WHO_KEY, who);
    let url, body;
    if (kind === 'acknowledge') {
      url = '/alerts/' + encodeURIComponent(alert.fingerprint) + '/acknowledge';
      body = { by: who };
    } else {
      const now = Date.now();
      url = '/api/v2/silences';
      body = {
        matchers: Object.entries(alert.labels).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true })),
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + Number(byId('duration').value) * 1000).toISOString(),
        createdBy: who,
        comment: byId('comment').value.trim() || 'silenced from the status page',
      };
    }
    let response;
    try {
      response = await fetch(url, {
        method: 'POST',
        cache: 'no-store',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + useToken },
        body: JSON.stringify(body),
      });
    } catch (e) {
      byId('action-error').textContent = 'Cannot reach the server: ' + e;
      return;
    }
    if (response.status === 401 || response.status === 403) {
      token = null;
      store(TOKEN_KEY, null);
      byId('token-row').hidden = false;
      byId('remember-row').hidden = false;
      byId('action-error').textContent = await reason(response);
      return;
    }
    if (!response.ok) { byId('action-error').textContent = await reason(response); return; }
    if (token === null) {
      token = typed;
      if (byId('remember').checked) store(TOKEN_KEY, token);
    }
    byId('action').close();
    pending = null;
    notice(kind === 'acknowledge' ? 'Acknowledged ' + (alert.labels.alertname || alert.fingerprint)
      : 'Silenced ' + (alert.labels.alertname || alert.fingerprint));
  }

  async function reason(response) {
    let text = '';
    try {
      const body = await response.json();
      text = typeof body === 'string' ? body : (body.error || JSON.stringify(body));
    } catch (_) { /* not JSON */ }
    return 'The server answered ' + response.status + (text ? ': ' + text : '');
  }

  byId('action-form').addEventListener('submit', submitAction);
  byId('action-cancel').addEventListener('click', () => { pending = null; byId('action').close(); });
  byId('forget-token').addEventListener('click', () => { token = null; store(TOKEN_KEY, null); notice('Token forgotten'); });
  byId('forget-token').hidden = token === null;

  poll();
}());
