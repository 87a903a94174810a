// keyward's dashboards: fills the panels of each page from the JSON API,
// and the panels of the HTML report from the data inlined in it.
//
// Every value from the store is written with textContent or drawn on a
// canvas by ECharts (tooltips in rich-text mode, not HTML), never parsed as
// HTML. Filters live in the page URL, so a view can be shared.
'use strict';

(function () {
  const FILTER_NAMES = ['accounts', 'regions', 'since', 'from', 'to'];
  const FINDING_FILTER_NAMES = ['rule', 'severity', 'verdict', 'resource_type', 'resource'];
  const ARN_COLUMNS = new Set(['arn', 'key', 'secret', 'certificate', 'resource_arn', 'asset']);
  const HIDDEN_COLUMNS = new Set(['severity_rank']);
  // The findings table leaves out the rule title and the check time, which
  // repeat the rule id and are the same on every row.
  const HIDDEN_FINDING_COLUMNS = new Set(['severity_rank', 'title', 'checked_at']);
  const PAGE_SIZE = 20;
  // Tables with a route of their own rather than /api/tables/{name}.
  const TABLE_ROUTES = { findings: '/api/findings', 'quantum-assets': '/api/quantum/assets' };

  // ECharts instances by panel id, read by the browser tests.
  const charts = {};
  window.keywardCharts = charts;

  // ---- helpers ----------------------------------------------------------

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function urlParams() {
    return new URLSearchParams(window.location.search);
  }

  // Returns the filters of the current URL, as the API takes them.
  function filterQuery(names) {
    const current = urlParams();
    const query = new URLSearchParams();
    for (const name of names || FILTER_NAMES) {
      const value = current.get(name);
      if (value) {
        query.set(name, value);
      }
    }
    return query;
  }

  async function getJson(path, query) {
    const text = query ? query.toString() : '';
    const url = text ? path + '?' + text : path;
    const response = await fetch(url, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(body.error || response.status + ' ' + response.statusText);
    }
    return body;
  }

  function showMessage(text) {
    const message = document.getElementById('message');
    if (message) {
      message.textContent = text;
      message.hidden = false;
    }
  }

  function formatNumber(value) {
    if (typeof value !== 'number') {
      return value === null || value === undefined ? '' : String(value);
    }
    return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
  }

  function formatMoney(value) {
    return '$' + (value || 0).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function formatValue(value) {
    if (value === null || value === undefined) {
      return '';
    }
    if (typeof value === 'boolean') {
      return value ? 'yes' : 'no';
    }
    if (typeof value === 'number') {
      return formatNumber(value);
    }
    if (typeof value === 'object') {
      return JSON.stringify(value);
    }
    const text = String(value);
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(text)) {
      return text.replace('T', ' ');
    }
    return text;
  }

  function assetLink(arn) {
    const query = filterQuery();
    query.set('arn', arn);
    const link = element('a', arn, 'arn');
    link.href = '/asset?' + query.toString();
    return link;
  }

  function setWindow(id, label) {
    const section = document.getElementById(id);
    const note = section && section.querySelector('.window');
    if (note && label) {
      note.textContent = 'Window: ' + label;
    }
  }

  function setFigure(id, nodes) {
    const section = document.getElementById(id);
    if (!section) {
      return;
    }
    const figure = section.querySelector('.figure');
    figure.replaceChildren(...nodes);
  }

  function bigNumber(value, linkText, href) {
    const nodes = [element('p', formatNumber(value), 'big-number')];
    if (linkText) {
      const link = element('a', linkText);
      link.href = href;
      nodes.push(link);
    }
    return nodes;
  }

  function definitionList(pairs) {
    const list = element('dl');
    for (const [term, value] of pairs) {
      list.append(element('dt', term));
      const definition = element('dd');
      if (value instanceof Node) {
        definition.append(value);
      } else {
        definition.textContent = formatValue(value);
      }
      list.append(definition);
    }
    return list;
  }

  function unique(values) {
    return Array.from(new Set(values));
  }

  // ---- charts ------------------------------------------------------------

  function drawChart(id, option, empty) {
    const section = document.getElementById(id);
    if (!section || typeof echarts === 'undefined') {
      return;
    }
    const container = section.querySelector('.chart');
    const instance = echarts.getInstanceByDom(container) || echarts.init(container);
    const base = {
      animation: false,
      tooltip: { trigger: 'item', renderMode: 'richText', confine: true },
      grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
    };
    if (empty) {
      base.title = {
        text: 'No data for these filters',
        left: 'center',
        top: 'middle',
        textStyle: { fontSize: 14, fontWeight: 'normal', color: '#666' },
      };
    }
    instance.setOption(Object.assign(base, option), true);
    charts[id] = instance;
  }

  function shortLabel(text) {
    const value = String(text);
    const tail = value.includes('/') ? value.slice(value.lastIndexOf('/') + 1) : value;
    return tail.length > 28 ? tail.slice(0, 27) + '…' : tail;
  }

  function pieChart(id, rows, nameKey, valueKey) {
    const data = rows.map((row) => ({ name: String(row[nameKey]), value: row[valueKey] }));
    drawChart(
      id,
      {
        legend: { type: 'scroll', top: 0 },
        series: [{ type: 'pie', radius: ['35%', '65%'], top: 30, data: data }],
      },
      data.length === 0,
    );
  }

  // Draws bars per category, stacked by a second column. `colors`, when
  // given, fixes the order and the color of the stacks it names.
  function stackedBarChart(id, rows, categoryKey, stackKey, valueKey, colors) {
    const categories = unique(rows.map((row) => String(row[categoryKey])));
    let stacks = unique(rows.map((row) => String(row[stackKey])));
    if (colors) {
      const named = Object.keys(colors).filter((stack) => stacks.includes(stack));
      stacks = named.concat(stacks.filter((stack) => !named.includes(stack)));
    }
    const series = stacks.map((stack) => ({
      type: 'bar',
      stack: 'total',
      name: stack,
      itemStyle: colors && colors[stack] ? { color: colors[stack] } : undefined,
      data: categories.map((category) => {
        const row = rows.find(
          (candidate) =>
            String(candidate[categoryKey]) === category && String(candidate[stackKey]) === stack,
        );
        return row ? row[valueKey] : 0;
      }),
    }));
    drawChart(
      id,
      {
        legend: { type: 'scroll', top: 0 },
        xAxis: {
          type: 'category',
          data: categories,
          axisLabel: { formatter: shortLabel, interval: 0, rotate: categories.length > 4 ? 30 : 0 },
        },
        yAxis: { type: 'value', minInterval: 1 },
        series: series,
      },
      rows.length === 0,
    );
  }

  function barChart(id, rows, categoryKey, valueKey, name) {
    stackedBarChart(
      id,
      rows.map((row) => ({ category: row[categoryKey], stack: name, value: row[valueKey] })),
      'category',
      'stack',
      'value',
    );
  }

  function trendChart(id, rows) {
    const times = rows.map((row) => formatValue(row.checked_at));
    drawChart(
      id,
      {
        tooltip: { trigger: 'axis', renderMode: 'richText', confine: true },
        legend: { top: 0 },
        xAxis: { type: 'category', data: times },
        yAxis: { type: 'value', minInterval: 1 },
        series: [
          { type: 'line', name: 'failing findings', data: rows.map((row) => row.failing) },
          { type: 'line', name: 'unused assets', data: rows.map((row) => row.unused) },
        ],
      },
      rows.length === 0,
    );
  }

  // ---- tables ------------------------------------------------------------

  function cell(column, value) {
    const node = element('td');
    if (typeof value === 'string' && ARN_COLUMNS.has(column) && value !== '') {
      node.append(assetLink(value));
    } else if (column === 'evidence' && value) {
      const details = element('details');
      details.append(element('summary', 'evidence'));
      let text = String(value);
      try {
        text = JSON.stringify(JSON.parse(text), null, 2);
      } catch (error) {
        // Evidence that is not JSON is shown as it is.
      }
      details.append(element('pre', text));
      node.append(details);
    } else {
      node.textContent = formatValue(value);
      if (typeof value === 'number') {
        node.className = 'number';
      }
    }
    return node;
  }

  function renderRows(table, columns, rows) {
    const body = table.querySelector('tbody');
    const lines = rows.map((row) => {
      const line = element('tr');
      for (const column of columns) {
        line.append(cell(column, row[column]));
      }
      return line;
    });
    if (lines.length === 0) {
      const line = element('tr');
      const empty = element('td', 'No rows for these filters.', 'empty');
      empty.colSpan = Math.max(columns.length, 1);
      line.append(empty);
      lines.push(line);
    }
    body.replaceChildren(...lines);
  }

  function renderHead(table, columns, state, reload) {
    const line = element('tr');
    for (const column of columns) {
      const heading = element('th');
      const button = element('button', column.replace(/_/g, ' '), 'sort');
      button.type = 'button';
      button.dataset.column = column;
      if (state.sort === column) {
        button.textContent += state.order === 'desc' ? ' ▼' : ' ▲';
        heading.setAttribute('aria-sort', state.order === 'desc' ? 'descending' : 'ascending');
      }
      button.addEventListener('click', () => {
        if (state.sort === column) {
          state.order = state.order === 'asc' ? 'desc' : 'asc';
        } else {
          state.sort = column;
          state.order = 'asc';
        }
        state.page = 1;
        reload();
      });
      heading.append(button);
      line.append(heading);
    }
    table.querySelector('thead').replaceChildren(line);
  }

  function renderPager(section, page, state, reload) {
    const pager = section.querySelector('.pager');
    const first = page.total === 0 ? 0 : (page.page - 1) * page.page_size + 1;
    const last = Math.min(page.page * page.page_size, page.total);
    const summary = element('span', 'Rows ' + first + '–' + last + ' of ' + page.total, 'rows');
    const previous = element('button', 'Previous');
    previous.type = 'button';
    previous.disabled = page.page <= 1;
    previous.addEventListener('click', () => {
      state.page -= 1;
      reload();
    });
    const next = element('button', 'Next');
    next.type = 'button';
    next.disabled = last >= page.total;
    next.addEventListener('click', () => {
      state.page += 1;
      reload();
    });
    pager.replaceChildren(summary, previous, next);
  }

  // Loads a server-paged table; the findings table keeps its page and sort
  // in the URL as well.
  function setupTable(section) {
    const name = section.dataset.table;
    const isFindings = name === 'findings';
    const current = urlParams();
    const state = {
      page: isFindings ? Number(current.get('page')) || 1 : 1,
      sort: isFindings ? current.get('sort') : null,
      order: isFindings && current.get('order') === 'desc' ? 'desc' : 'asc',
    };
    const load = async () => {
      const names = isFindings ? FILTER_NAMES.concat(FINDING_FILTER_NAMES) : FILTER_NAMES;
      const query = filterQuery(names);
      query.set('page', state.page);
      query.set('page_size', PAGE_SIZE);
      if (state.sort) {
        query.set('sort', state.sort);
        query.set('order', state.order);
      }

      const path = TABLE_ROUTES[name] || '/api/tables/' + encodeURIComponent(name);
      const page = await getJson(path, query);
      const hidden = isFindings ? HIDDEN_FINDING_COLUMNS : HIDDEN_COLUMNS;
      const columns = page.columns.filter((column) => !hidden.has(column));
      const table = section.querySelector('table');

      if (isFindings) {
        const url = urlParams();
        for (const key of ['page', 'sort', 'order']) {
          url.delete(key);
        }
        if (state.page > 1) {
          url.set('page', state.page);
        }
        if (state.sort) {
          url.set('sort', state.sort);
          url.set('order', state.order);
        }
        window.history.replaceState(null, '', '?' + url.toString());
      }

      renderHead(table, columns, state, load);
      renderRows(table, columns, page.rows);
      renderPager(section, page, state, load);
      section.dataset.total = page.total;
    };
    return load();
  }

  function setupTables() {
    const sections = document.querySelectorAll('[data-table]');
    return Promise.all(Array.from(sections).map(setupTable));
  }

  // Draws calls by account, then Region, then operation, with subtotals.
  function renderPivot(id, rows, window) {
    const section = document.getElementById(id);
    if (!section) {
      return;
    }
    setWindow(id, window);
    const table = section.querySelector('table');
    const head = element('tr');
    for (const heading of ['account', 'region', 'operation', 'calls']) {
      head.append(element('th', heading));
    }
    table.querySelector('thead').replaceChildren(head);
    const lines = [];
    const total = (filter) => rows.filter(filter).reduce((sum, row) => sum + row.calls, 0);
    const addLine = (values, className) => {
      const line = element('tr', null, className);
      values.forEach((value, index) => {
        const node = element('td', formatValue(value));
        if (index === 3) {
          node.className = 'number';
        }
        line.append(node);
      });
      lines.push(line);
    };
    for (const account of unique(rows.map((row) => row.account))) {
      addLine([account, '', '', total((row) => row.account === account)], 'subtotal account');
      const ofAccount = rows.filter((row) => row.account === account);
      for (const region of unique(ofAccount.map((row) => row.region))) {
        const ofRegion = ofAccount.filter((row) => row.region === region);
        addLine(['', region, '', total((row) => row.account === account && row.region === region)], 'subtotal region');
        for (const row of ofRegion) {
          addLine(['', '', row.operation, row.calls], 'detail');
        }
      }
    }
    addLine(['Total', '', '', total(() => true)], 'subtotal grand');
    table.querySelector('tbody').replaceChildren(...lines);
  }

  // ---- pages -------------------------------------------------------------

  function renderOverview(data) {
    const status = data.status || {};
    const scan = status.latest_scan;
    const check = status.latest_check;
    let scanText = 'none';
    if (scan) {
      scanText = formatValue(scan.finished_at);
      if (!scan.complete) {
        scanText += ' (incomplete)';
      }
    }
    setFigure('status', [
      definitionList([
        ['Latest scan', scanText],
        ['Latest check', check ? formatValue(check.checked_at) : 'none'],
        ['Coverage gaps', status.coverage_gaps],
        ['Findings that could not be decided', status.unknown_findings],
      ]),
    ]);
    const savings = data.savings || [];
    const total = savings.reduce((sum, row) => sum + (row.monthly_usd || 0), 0);
    const pairs = savings.map((row) => [
      row.resource_type + ' (' + row.assets + ' unused)',
      formatMoney(row.monthly_usd),
    ]);
    setFigure('savings', [
      element('p', formatMoney(total) + ' per month', 'big-number'),
      definitionList(pairs),
    ]);
    stackedBarChart('assets', data.assets || [], 'service', 'state', 'assets');
    barChart('severities', data.severities || [], 'severity', 'findings', 'open findings');
    trendChart('trend', data.trend || []);
  }

  async function loadOverview() {
    renderOverview(await getJson('/api/overview', filterQuery()));
  }

  async function loadKms() {
    const data = await getJson('/api/kms', filterQuery());
    const findings = '/findings?rule=kms-key-unused&' + filterQuery().toString();
    setFigure('kms-unused', bigNumber(data.unused_keys, 'Show the findings', findings));
    stackedBarChart('kms-rotation', data.rotation.rows, 'account', 'region', 'keys');
    setWindow('kms-rotation', data.rotation.window);
    pieChart('kms-operations', data.operations.rows, 'operation', 'calls');
    setWindow('kms-operations', data.operations.window);
    stackedBarChart('kms-denied', data.denied.rows, 'principal', 'operation', 'denials');
    setWindow('kms-denied', data.denied.window);
  }

  async function loadCertificates() {
    const data = await getJson('/api/certificates', filterQuery());
    setFigure('cert-pending', bigNumber(data.pending_validation));
    pieChart('cert-operations', data.operations.rows, 'operation', 'calls');
    setWindow('cert-operations', data.operations.window);
    stackedBarChart('cert-expiring', data.expiring.rows, 'account', 'region', 'certificates');
    setWindow('cert-expiring', data.expiring.window);
    barChart('cert-issued', data.issued.rows, 'account', 'certificates', 'issued');
    setWindow('cert-issued', data.issued.window);
    barChart('cert-revoked', data.revoked.rows, 'account', 'certificates', 'revoked or deleted');
    setWindow('cert-revoked', data.revoked.window);
    renderPivot('cert-pivot', data.pivot.rows, data.pivot.window);
  }

  async function loadSecrets() {
    const data = await getJson('/api/secrets', filterQuery());
    const findings = '/findings?rule=secret-unused&' + filterQuery().toString();
    setFigure('sm-unused', bigNumber(data.unused_secrets, 'Show the findings', findings));
    pieChart('sm-operations', data.operations.rows, 'operation', 'calls');
    setWindow('sm-operations', data.operations.window);
    stackedBarChart('sm-denied', data.denied.rows, 'principal', 'account', 'denials');
    setWindow('sm-denied', data.denied.window);
    barChart('sm-deleted', data.deleted.rows, 'account', 'secrets', 'deleted');
    setWindow('sm-deleted', data.deleted.window);
    renderPivot('sm-pivot', data.pivot.rows, data.pivot.window);
  }

  // Colors of the quantum classes, the same in every chart.
  const QUANTUM_CLASS_COLORS = {
    'quantum-vulnerable': '#c0392b',
    weakened: '#e67e22',
    'quantum-safe': '#27ae60',
    unknown: '#95a5a6',
  };

  async function loadQuantum() {
    const data = await getJson('/api/quantum', filterQuery());
    setFigure('pq-classes', [
      definitionList(data.totals.map((row) => [row.class, row.assets])),
    ]);
    stackedBarChart('pq-services', data.services, 'service', 'class', 'assets', QUANTUM_CLASS_COLORS);
    setWindow('pq-services', data.window);
    stackedBarChart('pq-accounts', data.accounts, 'account', 'class', 'assets', QUANTUM_CLASS_COLORS);
    setWindow('pq-accounts', data.window);
    setFigure('pq-algorithms', [
      smallTable(
        ['algorithm', 'primitive', 'nist_quantum_level', 'class', 'keys', 'certificates'],
        data.algorithms,
      ),
    ]);
  }

  function tagList(tags) {
    const list = element('ul', null, 'tags');
    for (const tag of tags) {
      list.append(element('li', tag.key + ' = ' + tag.value));
    }
    return list;
  }

  function smallTable(columns, rows) {
    const table = element('table');
    table.append(element('thead'), element('tbody'));
    const head = element('tr');
    for (const column of columns) {
      head.append(element('th', column.replace(/_/g, ' ')));
    }
    table.querySelector('thead').append(head);
    renderRows(table, columns, rows);
    const scroll = element('div', null, 'table-scroll');
    scroll.append(table);
    return scroll;
  }

  function policyNodes(policy, document) {
    if (!policy) {
      return [element('p', 'No policy was read for this asset.')];
    }
    if (policy.error) {
      return [element('p', policy.error)];
    }
    const nodes = [];
    const outside = [];
    if (policy.public_statements.length > 0) {
      outside.push('Allows anyone: ' + policy.public_statements.join(', '));
    }
    if (policy.external_accounts.length > 0) {
      outside.push('Names other accounts: ' + policy.external_accounts.join(', '));
    }
    nodes.push(element('p', outside.length ? outside.join('. ') : 'No statement allows anyone or another account.', outside.length ? 'warning' : ''));
    const rows = policy.statements.map((statement) => ({
      statement: statement.sid,
      effect: statement.effect,
      principals: (statement.not_principal ? 'NotPrincipal ' : '') + statement.principals.join(', '),
      actions: statement.actions.join(', '),
      conditions: statement.conditions.join(', '),
    }));
    nodes.push(smallTable(['statement', 'effect', 'principals', 'actions', 'conditions'], rows));
    const raw = element('details');
    raw.append(element('summary', 'Policy document'), element('pre', document));
    nodes.push(raw);
    return nodes;
  }

  async function loadAsset() {
    const arn = urlParams().get('arn');
    if (!arn) {
      throw new Error('missing arn: open this page from a link to an asset');
    }
    const query = filterQuery();
    query.set('arn', arn);
    const data = await getJson('/api/asset', query);

    document.getElementById('asset-title').textContent = data.kind + ': ' + data.arn;
    document.title = data.arn + ' · keyward';
    const metadata = Object.entries(data.metadata || {})
      .filter(([name]) => name !== 'policy')
      .map(([name, value]) => {
        if (name === 'tags' && Array.isArray(value)) {
          return [name, tagList(value)];
        }
        if (Array.isArray(value)) {
          return [name, value.join(', ')];
        }
        return [name, value];
      });

    const usage = data.usage || {};
    const usagePairs = Object.entries(usage).filter(([name]) => name !== 'asset');
    setFigure('asset-metadata', [
      metadata.length ? definitionList(metadata) : element('p', 'Not in the latest scan.'),
      element('h3', 'CloudTrail usage'),
      usagePairs.length ? definitionList(usagePairs) : element('p', 'No stored event names it.'),
    ]);

    const policyText = data.metadata ? data.metadata.policy : null;
    setFigure('asset-policy', policyNodes(data.policy, policyText));
    setFigure('asset-findings', [
      smallTable(['verdict', 'severity', 'rule_id', 'cause', 'first_seen', 'evidence'], data.findings),
    ]);

    const days = data.timeline.map((row) => row.day);
    drawChart(
      'asset-timeline',
      {
        tooltip: { trigger: 'axis', renderMode: 'richText', confine: true },
        legend: { top: 0 },
        xAxis: { type: 'category', data: days },
        yAxis: { type: 'value', minInterval: 1 },
        series: [
          { type: 'bar', stack: 'calls', name: 'successes', data: data.timeline.map((row) => row.successes) },
          { type: 'bar', stack: 'calls', name: 'failures', data: data.timeline.map((row) => row.failures) },
        ],
      },
      days.length === 0,
    );

    setFigure('asset-principals', [
      smallTable(['principal', 'calls', 'successes', 'failures', 'operations', 'last_call'], data.principals),
    ]);
  }

  // ---- filters -----------------------------------------------------------

  function fillSelect(select, values, chosen) {
    for (const value of values) {
      const option = element('option', value);
      option.value = value;
      option.selected = chosen.includes(value);
      select.append(option);
    }
  }

  async function setupFilters() {
    const form = document.getElementById('filters');
    if (!form) {
      return;
    }
    const current = urlParams();
    const list = (name) => (current.get(name) || '').split(',').filter(Boolean);

    const choices = await getJson('/api/filters');
    fillSelect(form.elements.accounts, choices.accounts, list('accounts'));
    fillSelect(form.elements.regions, choices.regions, list('regions'));
    form.elements.since.value = current.get('since') || '';
    form.elements.from.value = (current.get('from') || '').slice(0, 10);
    form.elements.to.value = (current.get('to') || '').slice(0, 10);

    if (form.elements.rule) {
      const rules = await getJson('/api/rules');
      fillSelect(form.elements.rule, rules.map((rule) => rule.id), list('rule'));
      for (const name of ['severity', 'verdict', 'resource_type', 'resource']) {
        form.elements[name].value = current.get(name) || '';
      }
    }

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const query = new URLSearchParams();
      const selected = (select) => Array.from(select.selectedOptions).map((option) => option.value);
      const accounts = selected(form.elements.accounts);
      const regions = selected(form.elements.regions);
      if (accounts.length) {
        query.set('accounts', accounts.join(','));
      }
      if (regions.length) {
        query.set('regions', regions.join(','));
      }
      for (const name of ['since', 'from', 'to'].concat(form.elements.rule ? FINDING_FILTER_NAMES : [])) {
        const value = form.elements[name].value;
        if (value) {
          query.set(name, value);
        }
      }
      if (current.get('arn')) {
        query.set('arn', current.get('arn'));
      }
      window.location.search = query.toString();
    });

    const filters = filterQuery().toString();
    for (const link of document.querySelectorAll('a[data-nav]')) {
      link.href = link.getAttribute('href').split('?')[0] + (filters ? '?' + filters : '');
    }
  }

  // ---- start -------------------------------------------------------------

  const LOADERS = {
    overview: loadOverview,
    kms: loadKms,
    certificates: loadCertificates,
    secrets: loadSecrets,
    quantum: loadQuantum,
    findings: async () => {},
    asset: loadAsset,
  };

  function loadReport() {
    const source = document.getElementById('report-data');
    renderOverview(JSON.parse(source.textContent));
  }

  async function start() {
    const page = document.body.dataset.page;
    if (page === 'report') {
      loadReport();
      document.body.dataset.ready = 'true';
      return;
    }
    const loader = LOADERS[page];
    try {
      await Promise.all([setupFilters(), loader ? loader() : null, setupTables()]);
      document.body.dataset.ready = 'true';
    } catch (error) {
      showMessage('Could not load the data: ' + error.message);
      document.body.dataset.ready = 'error';
    }
  }

  window.addEventListener('resize', () => {
    for (const instance of Object.values(charts)) {
      instance.resize();
    }
  });

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
