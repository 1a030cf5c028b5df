// The board's page script (served as is, no build step): polls api/state and draws the graph, the
// projections, the recent runs and one run's timeline; sends refreshes and retries when allowed.
'use strict';

(() => {
  const POLL_MS = 2000;
  const ACTION_HEADERS = { 'content-type': 'application/json', 'x-cinema-board': '1' };
  let selectedRun;
  let drawnMermaid;
  let graphRenders = 0;
  let latest;

  const $ = (selector) => document.querySelector(selector);

  /** An element with attributes (`class`, `data-*`, `on*` handlers) and text or element children. */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === false) continue;
      if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function ago(iso) {
    if (!iso) return '';
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 1) return 'just now';
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
    return new Date(iso).toLocaleString();
  }

  function ms(value) {
    if (value === undefined || value === null) return '';
    return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(value < 10000 ? 2 : 1)} s`;
  }

  function badge(status) {
    return el('span', { class: `badge ${status}` }, status);
  }

  function notice(text, kind = 'info') {
    const box = $('#notice') ?? document.body.insertBefore(el('div', { id: 'notice', role: 'status' }), $('main'));
    box.className = kind;
    box.textContent = text;
  }

  /** `orgId=42 region=eu,us` (spaces or `;` between keys) as a lens object. */
  function parseLens(text) {
    const lens = {};
    for (const pair of text.split(/[\s;]+/).filter(Boolean)) {
      const equals = pair.indexOf('=');
      if (equals <= 0) throw new Error(`"${pair}" is not KEY=VALUE`);
      const values = pair.slice(equals + 1).split(',');
      lens[pair.slice(0, equals)] = values.length === 1 ? values[0] : values;
    }
    return lens;
  }

  async function act(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      headers: ACTION_HEADERS,
      body: JSON.stringify(body ?? {}),
      credentials: 'same-origin',
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok)
      throw new Error(
        Array.isArray(answer.message) ? answer.message.join('; ') : (answer.message ?? `${response.status} ${response.statusText}`),
      );
    return answer;
  }

  async function refresh(projection, lensText) {
    try {
      const answer = await act('api/refresh', { projection, lens: parseLens(lensText) });
      selectedRun = answer.id;
      notice(`Started run ${answer.id.slice(0, 8)} of ${projection}.`);
      await poll(false);
    } catch (error) {
      notice(`Refresh of ${projection} refused: ${error.message}`, 'error');
    }
  }

  async function retry(id) {
    try {
      const answer = await act(`api/runs/${encodeURIComponent(id)}/retry`);
      selectedRun = answer.id;
      notice(`Retrying run ${id.slice(0, 8)}.`);
      await poll(false);
    } catch (error) {
      notice(`Retry of ${id.slice(0, 8)} refused: ${error.message}`, 'error');
    }
  }

  async function drawGraph(text) {
    if (text === drawnMermaid) return;
    drawnMermaid = text;
    const { svg } = await window.mermaid.render(`cinema-graph-${++graphRenders}`, text);
    const graph = $('#graph');
    graph.innerHTML = svg;
    graph.dataset.renders = String(graphRenders);
  }

  function freshnessCells(projection) {
    const freshness = projection.freshness;
    if (!freshness) return [el('td', {}, projection.virtual ? 'virtual' : '–'), el('td')];
    if (freshness.error) return [el('td', { class: 'error-text', title: freshness.error }, 'unreadable'), el('td')];
    return [
      el('td', {}, badge(freshness.status), freshness.refreshedAt ? ` refreshed ${ago(freshness.refreshedAt)}` : ' never refreshed'),
      el('td', {}, freshness.pendingChanges > 0 ? `${freshness.pendingChanges} (${ms(freshness.lagMs)})` : '0'),
    ];
  }

  function drawProjections(state) {
    const rows = state.projections.map((projection) => {
      const last = projection.last;
      const lensInput = el('input', {
        type: 'text',
        placeholder: 'orgId=42 (empty: all)',
        'aria-label': `lens for ${projection.name}`,
        size: 18,
      });
      const action =
        state.canAct && !projection.virtual
          ? el(
              'td',
              { class: 'action-column' },
              el(
                'form',
                { class: 'refresh', onsubmit: (event) => (event.preventDefault(), refresh(projection.name, lensInput.value)) },
                lensInput,
                el('button', { type: 'submit' }, 'Refresh'),
              ),
            )
          : el('td', { class: 'action-column' });
      return el(
        'tr',
        { 'data-projection': projection.name, 'data-status': last?.status ?? 'none' },
        el('td', {}, el('strong', {}, projection.name), projection.virtual ? el('span', { class: 'tag' }, 'virtual') : undefined),
        el('td', { title: last?.error }, last ? [badge(last.status), last.durationMs !== undefined ? ` ${ms(last.durationMs)}` : ''] : '–'),
        el('td', {}, last?.at ? ago(last.at) : ''),
        ...freshnessCells(projection),
        action,
      );
    });
    $('#projections tbody').replaceChildren(...rows);
  }

  function drawRuns(state) {
    const rows = state.runs.map((run) =>
      el(
        'tr',
        {
          'data-run': run.id,
          'data-status': run.status,
          class: run.id === selectedRun ? 'selected' : undefined,
          onclick: () => {
            selectedRun = run.id;
            drawRuns(latest);
            drawTimeline(latest);
          },
        },
        el('td', { class: 'mono', title: run.id }, run.id.slice(0, 8)),
        el('td', {}, run.projection),
        el('td', {}, run.lens),
        el('td', {}, run.engine),
        el('td', { title: run.error }, badge(run.fresh ? 'fresh' : run.status)),
        el('td', {}, ago(run.createdAt)),
        el('td', {}, ms(run.durationMs)),
        el(
          'td',
          {},
          run.retryable && state.canAct
            ? el('button', { type: 'button', onclick: (event) => (event.stopPropagation(), retry(run.id)) }, 'Retry')
            : undefined,
        ),
      ),
    );
    $('#runs tbody').replaceChildren(...rows);
  }

  /** The selected run's projections as bars on one time axis; the critical path outlined. */
  function drawTimeline(state) {
    const run = state.runs.find((candidate) => candidate.id === selectedRun) ?? state.runs[0];
    const box = $('#timeline');
    if (!run) {
      box.replaceChildren(el('p', { class: 'muted' }, 'No runs yet.'));
      return;
    }
    const now = Date.now() - Date.parse(run.createdAt);
    const total = Math.max(1, run.durationMs ?? 0, ...run.nodes.map((node) => node.endMs ?? (node.startMs !== undefined ? now : 0)));
    const critical = run.nodes.filter((node) => node.critical).map((node) => node.projection);
    const bars = run.nodes.map((node) => {
      const start = node.startMs ?? 0;
      const end = node.endMs ?? (node.startMs !== undefined ? now : start);
      const bar =
        node.startMs === undefined
          ? el('span', { class: 'bar-empty' }, node.status)
          : el(
              'span',
              {
                class: `bar ${node.status}${node.critical ? ' critical' : ''}`,
                style: `left:${(start / total) * 100}%;width:${Math.max(0.5, ((end - start) / total) * 100)}%`,
                title: node.error ?? `${node.projection}: ${ms(node.durationMs)}`,
              },
              `${ms(node.durationMs ?? end - start)} · ${node.written} rows`,
            );
      return el(
        'div',
        { class: 'lane', 'data-projection': node.projection },
        el('span', { class: 'lane-name' }, node.projection),
        el('span', { class: 'track' }, bar),
      );
    });
    const parts = [
      el(
        'h3',
        {},
        `Run ${run.id.slice(0, 8)} of ${run.projection} (${run.lens}): `,
        badge(run.status),
        run.durationMs !== undefined ? ` in ${ms(run.durationMs)}` : '',
      ),
      run.error ? el('p', { class: 'error-text' }, run.error) : undefined,
      ...bars,
      critical.length > 0 ? el('p', { class: 'muted' }, `Critical path: ${critical.join(' → ')}`) : undefined,
    ];
    box.replaceChildren(...parts.filter(Boolean));
  }

  async function poll(again = true) {
    try {
      const response = await fetch('api/state', { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      latest = await response.json();
      $('#summary').textContent =
        `${latest.projections.length} projections · ${latest.runs.length} recent runs · updated ${new Date(latest.generatedAt).toLocaleTimeString()}`;
      $('#mode').textContent = latest.canAct ? 'operator' : 'read-only';
      document.body.classList.toggle('read-only', !latest.canAct);
      drawProjections(latest);
      drawRuns(latest);
      drawTimeline(latest);
      await drawGraph(latest.mermaid);
      document.body.dataset.polls = String(Number(document.body.dataset.polls ?? 0) + 1);
    } catch (error) {
      $('#summary').textContent = `Cannot read the board's state: ${error.message}`;
    } finally {
      if (again) setTimeout(poll, POLL_MS);
    }
  }

  window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral', flowchart: { htmlLabels: true } });
  poll();
})();
