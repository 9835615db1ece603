// AI-Companion web chat. Plain browser JavaScript, no build step, no third-party code.
// Streams answers from POST /v1/chat/completions (stream: true, Server-Sent Events read with fetch),
// shows how each answer was routed (companion.route / x-companion-route), sends thumbs up/down to
// POST /v1/feedback, and keeps the knowledge and cluster panels fresh.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { history: [], controller: null };

const keyInput = $('apiKey');
keyInput.value = localStorage.getItem('companion.apiKey') || '';
keyInput.addEventListener('change', () => {
  localStorage.setItem('companion.apiKey', keyInput.value.trim());
  refreshAll();
});

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  const key = keyInput.value.trim();
  if (key) h['Authorization'] = 'Bearer ' + key;
  return h;
}

async function getJson(path) {
  const res = await fetch(path, { headers: headers(false) });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw apiError(res.status, body);
  return body;
}

function apiError(status, body) {
  const e = new Error((body && body.error && body.error.message) || ('HTTP ' + status));
  e.status = status;
  return e;
}

function setStatus(text) { $('status').textContent = text || ''; }

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---- models

async function loadModels() {
  try {
    const body = await getJson('/v1/models');
    const select = $('model');
    const current = select.value;
    select.textContent = '';
    for (const m of body.data || []) {
      const o = el('option', null, m.id);
      o.value = m.id;
      select.appendChild(o);
    }
    if (![...select.options].some((o) => o.value === 'auto')) {
      const o = el('option', null, 'auto'); o.value = 'auto'; select.prepend(o);
    }
    select.value = [...select.options].some((o) => o.value === current) ? current : 'auto';
  } catch (e) {
    setStatus(e.status === 401 ? 'This node needs an API key: enter it above.' : 'Models: ' + e.message);
  }
}

// ---- chat

function describeRoute(route) {
  if (!route) return null;
  if (typeof route === 'string') return route; // the x-companion-route header
  const reasons = (route.reasons || []).join('; ');
  return 'model ' + route.model + ' \u00b7 strategy ' + route.strategy + ' \u00b7 worker ' +
    (route.worker || route.workerId || '?') + (reasons ? ' \u00b7 why: ' + reasons : '');
}

function renderRoute(box, route) {
  const text = describeRoute(route);
  if (!text) return;
  box.textContent = 'Answered by ' + text;
}

function feedbackButtons(requestId) {
  const box = el('div', 'feedback');
  for (const [label, rating, title] of [['\u2714 good', 1, 'Good answer'], ['\u2718 bad', -1, 'Bad answer']]) {
    const b = el('button', null, label);
    b.type = 'button';
    b.title = title;
    b.dataset.rating = String(rating);
    b.addEventListener('click', async () => {
      try {
        const res = await fetch('/v1/feedback', {
          method: 'POST', headers: headers(true),
          body: JSON.stringify({ request_id: requestId, rating }),
        });
        const body = await res.json().catch(() => ({}));
        if (!res.ok) throw apiError(res.status, body);
        box.querySelectorAll('button').forEach((x) => x.classList.remove('chosen'));
        b.classList.add('chosen');
        setStatus('Thanks: feedback recorded.');
        refreshKnowledge();
      } catch (e) {
        setStatus('Feedback failed: ' + e.message);
      }
    });
    box.appendChild(b);
  }
  return box;
}

async function ask(question) {
  const messages = $('messages');
  const you = el('div', 'msg user', question);
  messages.appendChild(you);
  const answer = el('div', 'msg assistant');
  answer.dataset.streaming = 'true';
  const text = el('span', 'text');
  const route = el('div', 'route');
  answer.append(text, route);
  messages.appendChild(answer);
  messages.scrollTop = messages.scrollHeight;

  state.history.push({ role: 'user', content: question });
  const body = {
    model: $('model').value || 'auto',
    messages: state.history.slice(-8),
    stream: true,
    stream_options: { include_usage: true },
    temperature: Number($('temperature').value),
    max_tokens: Number($('maxTokens').value),
  };
  state.controller = new AbortController();
  $('send').disabled = true;
  $('stop').disabled = false;
  setStatus('Thinking\u2026');
  let requestId = null;
  let full = '';
  const started = performance.now();
  let firstTokenAt = null;
  let usage = null;
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST', headers: headers(true), body: JSON.stringify(body), signal: state.controller.signal,
    });
    if (!res.ok) {
      const err = await res.json().catch(() => ({}));
      throw apiError(res.status, err);
    }
    renderRoute(route, res.headers.get('x-companion-route'));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffered.indexOf('\n\n')) >= 0) {
        const event = buffered.slice(0, cut);
        buffered = buffered.slice(cut + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw apiError(500, chunk);
          if (chunk.companion) {
            if (chunk.companion.request_id) requestId = chunk.companion.request_id;
            if (chunk.companion.route) renderRoute(route, chunk.companion.route);
          }
          if (!requestId && chunk.id) requestId = chunk.id;
          if (chunk.usage) usage = chunk.usage;
          for (const choice of chunk.choices || []) {
            const piece = choice.delta && choice.delta.content;
            if (piece) {
              if (firstTokenAt === null) firstTokenAt = performance.now();
              full += piece;
              text.textContent = full;
              messages.scrollTop = messages.scrollHeight;
            }
          }
        }
      }
    }
    state.history.push({ role: 'assistant', content: full });
    const secs = ((performance.now() - started) / 1000).toFixed(2);
    const ttft = firstTokenAt === null ? '-' : ((firstTokenAt - started) / 1000).toFixed(2);
    setStatus('Done in ' + secs + ' s (first token after ' + ttft + ' s' +
      (usage ? ', ' + usage.completion_tokens + ' tokens' : '') + ').');
    if (requestId) answer.appendChild(feedbackButtons(requestId));
  } catch (e) {
    if (e.name === 'AbortError') {
      setStatus('Stopped.');
      state.history.push({ role: 'assistant', content: full });
    } else {
      answer.classList.add('error');
      text.textContent = (full ? full + '\n' : '') + 'Error: ' + e.message;
      setStatus(e.status === 401 ? 'This node needs an API key: enter it above.' : '');
      state.history.pop();
    }
  } finally {
    answer.dataset.streaming = 'false';
    state.controller = null;
    $('send').disabled = false;
    $('stop').disabled = true;
  }
}

$('ask').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = $('question').value.trim();
  if (!q || state.controller) return;
  $('question').value = '';
  ask(q);
});
$('question').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey) {
    ev.preventDefault();
    $('ask').requestSubmit();
  }
});
$('stop').addEventListener('click', () => state.controller && state.controller.abort());

// ---- knowledge panel

function fillList(list, items, render) {
  list.textContent = '';
  if (!items.length) list.appendChild(el('li', 'muted', 'nothing yet'));
  for (const item of items) list.appendChild(el('li', null, render(item)));
}

async function refreshKnowledge() {
  try {
    const gaps = await getJson('/v1/knowledge/gaps');
    fillList($('gaps'), gaps.gaps || [], (g) => g.question + ' (asked ' + g.count + '\u00d7, best score ' +
      (typeof g.best_score === 'number' ? g.best_score.toFixed(2) : '-') + ')');
    const cov = gaps.coverage !== undefined ? gaps.coverage : null;
    if (cov !== null) $('coverage').textContent = (100 * cov).toFixed(0) + ' %';
  } catch (e) {
    fillList($('gaps'), [], null);
    $('gaps').firstChild.textContent = 'unavailable (' + e.message + ')';
  }
  try {
    const patterns = await getJson('/v1/knowledge/patterns');
    const items = patterns.patterns || [];
    // the knowledge service's shape: {id, question (the cluster's representative), count, examples, unanswered}
    fillList($('patterns'), items, (p) => p.question + ' (asked ' + p.count + '\u00d7' +
      (p.unanswered ? ', ' + p.unanswered + ' without a good answer' : '') + ')');
    if (patterns.coverage !== undefined && $('coverage').textContent === '\u2013') {
      $('coverage').textContent = (100 * patterns.coverage).toFixed(0) + ' %';
    }
  } catch (e) {
    fillList($('patterns'), [], null);
    $('patterns').firstChild.textContent = 'unavailable (' + e.message + ')';
  }
}

// ---- cluster panel

async function refreshCluster() {
  const body = $('nodes');
  try {
    const data = await getJson('/v1/cluster/nodes');
    body.textContent = '';
    for (const n of data.nodes || []) {
      const tr = el('tr');
      const l = n.load || {};
      const load = l.workers ? l.activeSequences + ' running, ' + l.queuedRequests + ' queued, '
        + l.outstandingTokens + ' tokens to go' : '\u2013';
      const models = (n.models || []).map((m) => typeof m === 'string' ? m : m.id).join(', ');
      for (const v of [n.name, (n.roles || []).join(', '), models, n.device || '', load]) tr.appendChild(el('td', null, v));
      body.appendChild(tr);
    }
    if (!body.children.length) body.appendChild(el('tr', 'muted', 'no nodes'));
  } catch (e) {
    body.textContent = '';
    const tr = el('tr'); const td = el('td', 'muted', 'unavailable (' + e.message + ')'); td.colSpan = 5;
    tr.appendChild(td); body.appendChild(tr);
  }
}

document.querySelectorAll('button.refresh').forEach((b) => b.addEventListener('click', () =>
  b.dataset.panel === 'cluster' ? refreshCluster() : refreshKnowledge()));

function refreshAll() {
  loadModels();
  refreshKnowledge();
  refreshCluster();
}

refreshAll();
setInterval(refreshCluster, 10000);
