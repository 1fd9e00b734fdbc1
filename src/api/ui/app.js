// The status page: reads /v1/status, /v1/readers, /v1/queue and /v1/visits with the session cookie, and
// re-reads them whenever /v1/events says something happened. Builds the DOM with textContent
// only (nothing from the daemon is parsed as HTML). Shows only the API's masked views.
'use strict';

const HEALTH = {
  ok: ['正常', 'OK'], starting: ['启动中', 'Starting'], degraded: ['降级', 'Degraded'],
  down: ['故障', 'Down'], disabled: ['未启用', 'Disabled'],
};
const COMPONENTS = {
  store: ['数据库', 'Database'], api: ['本地接口', 'Local API'], readers: ['读卡器', 'Readers'],
  qr: ['扫码设备', 'QR sources'], upstream: ['医保平台', 'Insurance platform'],
  fleet: ['集中账本', 'Fleet ledger'],
};
const RECONCILED = { balanced: ['平', 'Balanced'], unbalanced: ['不平', 'Unbalanced'], failed: ['失败', 'Failed'] };
const PHASE = { starting: ['启动中', 'Starting'], running: ['运行中', 'Running'], stopping: ['停止中', 'Stopping'] };
const SLOT = { contact: ['接触式', 'Contact'], contactless: ['非接触式', 'Contactless'], sam: ['安全模块', 'SAM'] };
const LINK = {
  connecting: ['连接中', 'Connecting'], connected: ['已连接', 'Connected'],
  disconnected: ['已断开', 'Disconnected'], stopped: ['已停止', 'Stopped'],
};
// The same words as the API's state names in Chinese (settle::error::state_zh).
const SALE = {
  captured: ['已登记', 'Captured'], identified: ['已识别', 'Identified'], presettled: ['已预结算', 'Pre-settled'],
  confirmed: ['已确认', 'Confirmed'], queued: ['脱机待上传', 'Queued offline'], settling: ['结算中', 'Settling'],
  settled: ['已结算', 'Settled'], rejected: ['被拒绝', 'Rejected'], unknown: ['结果未知', 'Unknown'],
  reversing: ['冲正中', 'Reversing'], reversed: ['已冲正', 'Reversed'], cancelling: ['撤销中', 'Cancelling'],
  cancelled: ['已撤销', 'Cancelled'], expired: ['已过期', 'Expired'], abandoned: ['已放弃', 'Abandoned'],
  held: ['待人工处理', 'Held for an operator'],
  registering: ['挂号中', 'Registering'], registered: ['已挂号', 'Registered'],
  uploaded: ['费用已上传', 'Fees uploaded'], undoing: ['撤销挂号中', 'Undoing the visit'],
  closing: ['已退费，撤销挂号中', 'Refunded, closing the visit'],
};
// A visit is open until it is settled or ended (outpatient.md): the page lists those only.
const VISIT_CLOSED = new Set(['settled', 'cancelled', 'abandoned']);
const MED_TYPE = {
  11: ['普通门诊', 'General'], 12: ['门诊挂号', 'Registration'], 13: ['急诊', 'Emergency'],
  14: ['门诊慢特病', 'Chronic'], 51: ['生育门诊', 'Maternity'],
};
const BATCH = {
  sending: ['上传中', 'Sending'], uploaded: ['已上传', 'Uploaded'], settled: ['已结算', 'Settled'],
};
const CREDENTIAL = {
  card: ['社保卡', 'Card'], essc: ['电子社保卡码', 'e-SSC'], evoucher: ['医保码', 'e-voucher'],
};
const TOPICS = [
  'card.inserted', 'card.removed', 'card.read', 'card.failed', 'card.pin_verified',
  'reader.added', 'reader.removed', 'reader.service_lost', 'reader.service_restored',
  'qr.scanned', 'qr.source', 'trace.report', 'sale.state', 'visit.state', 'upstream.link', 'reconcile.done',
  'events.lagged',
];

// After a lost stream the browser retries by itself; when it gives up, the page waits this long
// before it opens a new one (and re-reads everything, which also notices an ended session).
const RETRY_MS = 3000;

const state = { sales: new Map(), visits: new Map(), qr: new Map(), upstream: null };

function $(id) { return document.getElementById(id); }

function el(tag, cls, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
  return e;
}

// "中文 English" as a text node and a grey span.
function both(pair, fallback) {
  const [zh, en] = pair || [fallback, ''];
  const f = document.createDocumentFragment();
  f.append(String(zh) + ' ');
  if (en) f.append(el('span', 'en', en));
  return f;
}

function fill(node, items) {
  node.replaceChildren(...items);
}

function time(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString('zh-CN', { hour12: false });
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${seconds} 秒 s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} 分 min`;
  return `${Math.floor(seconds / 3600)} 小时 h ${Math.floor((seconds % 3600) / 60)} 分 min`;
}

function money(v) {
  return v === null || v === undefined ? '—' : `¥${v}`;
}

function row(label, value) {
  return [el('dt', null, both(label)), el('dd', null, value)];
}

async function getJson(path) {
  const r = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 401) {
    // The session ended: the page itself now shows the login form.
    location.reload();
    throw new Error('session ended');
  }
  return { status: r.status, body: await r.json().catch(() => null) };
}

function renderStatus(s) {
  const phase = PHASE[s.phase] || [s.phase, ''];
  const badge = $('phase');
  badge.className = 'badge ' + (s.phase === 'running' ? 'ok' : 'bad');
  fill(badge, [both(phase)]);
  const t = s.terminal || {};
  fill($('terminal'), [
    ...row(['终端编号', 'Terminal ID'], t.id || '—'),
    ...row(['定点机构编码', 'Institution code'], t.fixmedins_code || '—'),
    ...row(['统筹区', 'Region'], t.region || '—'),
    ...row(['模式', 'Mode'], t.mode || '—'),
    ...row(['版本', 'Version'], s.version || '—'),
    ...row(['运行时长', 'Uptime'], age(s.uptime_s)),
  ]);
  const alarms = s.alarms || [];
  fill($('alarms'), alarms.length === 0
    ? [el('li', 'none', '无 ', el('span', 'en', 'None'))]
    : alarms.map((a) => el('li', 'alarm', el('strong', null, a.message_zh), el('br'),
      el('span', 'en', a.message_en), el('br'), el('small', null, `${a.code} · ${time(a.since_ms)}`))));
  const comps = s.components || {};
  fill($('components'), Object.keys(comps).sort().map((name) => {
    const c = comps[name];
    return el('tr', null, el('td', null, both(COMPONENTS[name], name)),
      el('td', c.health, both(HEALTH[c.health], c.health)), el('td', null, c.detail || ''));
  }));
  const qr = comps.qr;
  fill($('qr-summary'), qr
    ? [el('span', qr.health, both(HEALTH[qr.health], qr.health)), ' — ', qr.detail || '']
    : [both(['未配置', 'Not configured'])]);
  const up = comps.upstream;
  // The last upstream.link event says; before one arrives, the link's health does (ok = signed in).
  const signed = state.upstream ? state.upstream.signed_in : (up && up.health === 'ok');
  fill($('upstream'), up ? [
    ...row(['连接', 'Link'], el('span', up.health, both(HEALTH[up.health], up.health))),
    ...row(['签到', 'Signed in'], both(signed ? ['已签到', 'Yes'] : ['未签到', 'No'])),
    ...row(['说明', 'Detail'], up.detail || ''),
  ] : row(['连接', 'Link'], both(['未配置', 'Not configured'])));
  renderFleet(s.fleet);
  renderReconcile(s.reconcile);
  renderTrace(s.trace);
  const q = s.offline_queue;
  if (q) renderQueueSummary(q.count, q.amount, q.oldest_created_at_ms
    ? Math.max(0, Math.floor((Date.now() - q.oldest_created_at_ms) / 1000)) : null, null);
}

// The drug trace reports (3505/3506) by state (`trace` in /v1/status).
function renderTrace(t) {
  if (!t) return;
  const age = t.oldest_pending_at_ms
    ? Math.max(0, Math.floor((Date.now() - t.oldest_pending_at_ms) / 1000)) : null;
  fill($('trace'), [
    ...row(['待上报', 'Pending'], `${t.pending}${age === null ? '' : `（最早 oldest ${age} s）`}`),
    ...row(['被拒绝', 'Refused'], el('span', t.failed > 0 ? 'down' : null, String(t.failed))),
    ...row(['已上报', 'Sent'], String(t.sent)),
  ]);
}

// The last 3201 (and its 3202s) this daemon ran (`reconcile` in /v1/status).
function renderReconcile(r) {
  if (!r) {
    fill($('reconcile'), row(['上次对账', 'Last run'], both(['尚未对账', 'Not run yet'])));
    return;
  }
  fill($('reconcile'), [
    ...row(['对账日', 'Day'], r.day),
    ...row(['结果', 'Result'], el('span', r.balanced ? 'ok' : 'down',
      both(r.balanced ? ['平', 'Balanced'] : ['不平', 'Not balanced']))),
    ...row(['对账组', 'Groups'], `${r.groups}${r.unbalanced.length ? `（不平 unbalanced: ${r.unbalanced.join('; ')}）` : ''}`),
    ...row(['明细对账', 'Detail (3202)'], `${r.details}${r.detail_failures ? `（失败 failed ${r.detail_failures}）` : ''}`),
    ...row(['差异', 'Differences'], el('span', (r.local_only + r.platform_only + r.amount_differs) > 0 ? 'degraded' : null,
      `本地有平台无 local only ${r.local_only} · 平台有本地无 platform only ${r.platform_only} · 金额不符 amount ${r.amount_differs}`)),
    ...row(['时间', 'Ran at'], time(r.at_ms)),
  ]);
}

// The fleet ledger's view (`fleet` in /v1/status), present only with a [fleet] ledger.
function renderFleet(f) {
  $('fleet-section').hidden = !f;
  if (!f) return;
  const s = f.summary || {};
  const asOf = Date.parse(f.as_of);
  fill($('fleet-summary'), [
    ...row(['机构', 'Institution'], f.fixmedins_code || '—'),
    ...row(['终端数', 'Terminals'], `${s.terminals}（失联 stale ${s.stale}）`),
    ...row(['脱机队列', 'Queued offline'], s.queue_depth),
    ...row(['待确认', 'In doubt'], el('span', s.in_doubt > 0 ? 'degraded' : null, String(s.in_doubt))),
    ...row(['待上传', 'Outbox'], `${s.outbox_rows}（最大延迟 max lag ${age(Math.floor((s.max_outbox_lag_ms || 0) / 1000))}）`),
  ]);
  const terminals = f.terminals || [];
  fill($('fleet-terminals'), terminals.length === 0
    ? [el('tr', null, el('td', 'none', both(['尚无终端上报', 'No terminal has reported yet'])))]
    : terminals.map((t) => el('tr', null, el('td', null, el('code', null, t.terminal_id)),
      el('td', t.stale ? 'down' : null, time(Date.parse(t.last_seen)), ' (',
        age(Math.max(0, Math.floor((asOf - Date.parse(t.last_seen)) / 1000))), ')'),
      el('td', null, t.queue_depth), el('td', t.in_doubt > 0 ? 'degraded' : null, t.in_doubt),
      el('td', null, t.outbox_rows), el('td', null, age(Math.floor(t.outbox_lag_ms / 1000))))));
  const days = f.reconciliations || [];
  fill($('fleet-reconciliations'), days.length === 0
    ? [el('tr', null, el('td', 'none', both(['尚无全机构对账', 'No institution-wide reconciliation yet'])))]
    : days.map((r) => el('tr', null, el('td', null, r.day),
      el('td', r.result === 'balanced' ? 'ok' : 'down', both(RECONCILED[r.result], r.result)),
      el('td', null, r.runner_terminal), el('td', null, time(Date.parse(r.ran_at))))));
}

function renderQueueSummary(count, amount, oldestAge, pending) {
  const items = [
    ...row(['笔数', 'Sales'], count),
    ...row(['金额', 'Amount'], money(amount)),
    ...row(['最早一笔已等待', 'Oldest waiting'], age(oldestAge)),
  ];
  if (pending !== null) items.push(...row(['待上传', 'Pending upload'], pending));
  fill($('queue'), items);
}

function renderReaders(r) {
  if (r.status !== 200 || !r.body) {
    fill($('readers'), [el('tr', null, el('td', 'disabled', both(['未启用', 'Disabled'])), el('td'), el('td'))]);
    return;
  }
  const slots = r.body.slots || [];
  fill($('readers'), slots.length === 0
    ? [el('tr', null, el('td', 'none', both(['未发现读卡器', 'No reader found'])), el('td'), el('td'))]
    : slots.map((s) => el('tr', null, el('td', 'reader', s.reader), el('td', null, both(SLOT[s.kind], s.kind)),
      el('td', s.card_present ? 'ok' : 'disabled', both(s.card_present ? ['有卡', 'Card present'] : ['无卡', 'No card'])))));
}

function renderQrSources() {
  fill($('qr-sources'), [...state.qr.values()].map((q) => el('li', null, `${q.source}: `,
    el('span', q.link === 'connected' ? 'ok' : 'degraded', both(LINK[q.link], q.link)),
    q.reason ? ` (${q.reason})` : '')));
}

function renderSales() {
  const sales = [...state.sales.values()].sort((a, b) => (b.created_at_ms || 0) - (a.created_at_ms || 0)).slice(0, 20);
  fill($('sales'), sales.length === 0
    ? [el('tr', null, el('td', 'none', both(['暂无', 'None yet'])))]
    : sales.map((s) => {
      const c = s.credential || {};
      return el('tr', null, el('td', null, time(s.created_at_ms)), el('td', null, el('code', null, s.id)),
        el('td', null, both(SALE[s.state], s.state),
          s.stored && s.state !== 'queued' ? el('small', null, ' 脱机 offline') : null),
        el('td', null, c.kind ? both(CREDENTIAL[c.kind], c.kind) : ''), el('td', null, [c.name, c.id_number].filter(Boolean).join(' ')),
        el('td', null, money(s.amount)));
    }));
}

function renderVisits() {
  const open = [...state.visits.values()].filter((s) => !VISIT_CLOSED.has(s.state))
    .sort((a, b) => (b.created_at_ms || 0) - (a.created_at_ms || 0)).slice(0, 20);
  fill($('visits'), open.length === 0
    ? [el('tr', null, el('td', 'none', both(['暂无', 'None'])))]
    : open.map((s) => {
      const v = s.visit || {};
      const batch = v.batch;
      return el('tr', null, el('td', null, time(s.created_at_ms)), el('td', null, el('code', null, s.id)),
        el('td', null, both(SALE[s.state], s.state)),
        el('td', null, both(MED_TYPE[v.med_type], v.med_type || '—')),
        el('td', v.mdtrt_id ? 'ok' : 'disabled', both(v.mdtrt_id ? ['已登记', 'Yes'] : ['无', 'None'])),
        el('td', null, batch ? both(BATCH[batch.state], batch.state) : both(['无', 'None'])),
        el('td', null, money(s.amount)));
    }));
}

async function refresh() {
  const [status, readers, queue, all, visits] = await Promise.all([
    getJson('/v1/status'), getJson('/v1/readers'), getJson('/v1/queue?limit=1'), getJson('/v1/queue?all=true&limit=500'),
    getJson('/v1/visits?limit=100'),
  ]);
  if (status.body) renderStatus(status.body);
  renderReaders(readers);
  if (queue.status === 200 && queue.body) {
    const t = queue.body.totals;
    renderQueueSummary(t.count, t.amount, t.oldest_age_s, t.pending);
  }
  if (all.status === 200 && all.body) {
    for (const s of all.body.sales || []) state.sales.set(s.id, s);
    renderSales();
  }
  if (visits.status === 200 && visits.body) {
    state.visits = new Map((visits.body.visits || []).map((s) => [s.id, s]));
    renderVisits();
  }
  $('footer').textContent = `更新于 Updated ${time(Date.now())}`;
}

let pending = null;
function refreshSoon() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; refresh().catch(() => {}); }, 200);
}

function onEvent(e) {
  let ev = null;
  try { ev = JSON.parse(e.data); } catch (_) { /* keep-alive or malformed */ }
  const data = ev && ev.data;
  if (e.type === 'sale.state' && data && data.sale) {
    state.sales.set(data.sale.id, data.sale);
    renderSales();
  } else if (e.type === 'visit.state' && data && data.sale) {
    state.visits.set(data.sale.id, data.sale);
    renderVisits();
  } else if (e.type === 'qr.source' && data) {
    state.qr.set(data.source, data);
    renderQrSources();
  } else if (e.type === 'upstream.link' && data) {
    state.upstream = data;
  }
  refreshSoon();
}

// `<body data-live="on|off">` says whether the event stream is open (the banner shows when it
// is not); kiosk shells and the browser test read it.
function live(on) {
  document.body.dataset.live = on ? 'on' : 'off';
  $('banner').hidden = on;
}

function connect() {
  const source = new EventSource('/v1/events', { withCredentials: true });
  for (const t of TOPICS) source.addEventListener(t, onEvent);
  // Anything missed while the stream was down is read again.
  source.onopen = () => { live(true); refreshSoon(); };
  source.onerror = () => {
    live(false);
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. a 401 after a restart): try again, then re-check the session.
      setTimeout(() => { refresh().catch(() => {}); connect(); }, RETRY_MS);
    }
  };
}

document.addEventListener('DOMContentLoaded', () => {
  renderSales();
  renderVisits();
  refresh().catch(() => { $('banner').hidden = false; });
  connect();
});
