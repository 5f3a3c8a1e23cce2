// A sortable, filterable, paginated table. Only the current page is in the
// DOM, so a subnet of 256 UIDs or a list of 128 subnets stays light however
// often it refreshes.

import { h, count } from './format.js';

// columns: [{key, label, value(row) -> sort key, render(row) -> node|text,
//            numeric, title}]
export class Table {
  constructor({ columns, rowKey, pageSize = 50, sort = null, desc = false, filter = null, empty = 'Nothing yet.', name = '' }) {
    this.columns = columns;
    this.rowKey = rowKey;
    this.pageSize = pageSize;
    this.sortKey = sort;
    this.desc = desc;
    this.filterFn = filter;
    this.query = '';
    this.page = 0;
    this.rows = [];
    this.emptyText = empty;
    this.el = h('div', { class: 'table-wrap', dataset: { table: name } });
  }

  setRows(rows) {
    this.rows = rows;
    this.render();
  }

  sortBy(key) {
    if (this.sortKey === key) this.desc = !this.desc;
    else {
      this.sortKey = key;
      // Numbers read best largest first; text alphabetically.
      this.desc = !!this.columns.find((c) => c.key === key)?.numeric;
    }
    this.page = 0;
    this.render();
  }

  view() {
    let rows = this.rows;
    if (this.query && this.filterFn) rows = rows.filter((r) => this.filterFn(r, this.query));
    const col = this.columns.find((c) => c.key === this.sortKey);
    if (col) {
      const key = col.value ?? ((r) => r[col.key]);
      const sign = this.desc ? -1 : 1;
      // Stable: ties keep their natural order (UID, netuid, height).
      rows = rows.map((r, i) => [key(r), i, r]).sort((a, b) => {
        const x = a[0];
        const y = b[0];
        if (x < y) return -sign;
        if (x > y) return sign;
        return a[1] - b[1];
      }).map((t) => t[2]);
    }
    return rows;
  }

  render() {
    const rows = this.view();
    const pages = Math.max(1, Math.ceil(rows.length / this.pageSize));
    this.page = Math.min(this.page, pages - 1);
    const start = this.page * this.pageSize;
    const shown = rows.slice(start, start + this.pageSize);

    const head = h('tr', {}, this.columns.map((c) => {
      const sorted = this.sortKey === c.key;
      const aria = sorted ? (this.desc ? 'descending' : 'ascending') : 'none';
      return h('th', { class: c.numeric ? 'num' : '', 'aria-sort': aria, dataset: { key: c.key }, title: c.title },
        h('button', { type: 'button', class: 'sort', onclick: () => this.sortBy(c.key) },
          c.label, h('span', { class: 'arrow' }, sorted ? (this.desc ? '▼' : '▲') : '')));
    }));
    const body = shown.map((r) => h('tr', { dataset: { key: String(this.rowKey(r)) } },
      this.columns.map((c) => h('td', { class: c.numeric ? 'num' : '', dataset: { col: c.key } },
        c.render ? c.render(r) : String(r[c.key] ?? '')))));
    const table = h('table', {},
      h('thead', {}, head),
      h('tbody', {}, body.length ? body : h('tr', {}, h('td', { colspan: this.columns.length, class: 'muted' }, this.emptyText))));

    const tools = [];
    if (this.filterFn) {
      const input = h('input', {
        type: 'search', class: 'filter', placeholder: 'filter', value: this.query, 'aria-label': 'Filter rows',
        oninput: (e) => { this.query = e.target.value.trim(); this.page = 0; this.render(); this.focusFilter(); },
      });
      tools.push(input);
    }
    if (rows.length > this.pageSize) {
      tools.push(h('span', { class: 'pager' },
        h('button', { type: 'button', disabled: this.page === 0, onclick: () => { this.page--; this.render(); }, 'aria-label': 'Previous page' }, '‹'),
        ` ${count(start + 1)}–${count(start + shown.length)} of ${count(rows.length)} `,
        h('button', { type: 'button', disabled: this.page >= pages - 1, onclick: () => { this.page++; this.render(); }, 'aria-label': 'Next page' }, '›')));
    } else {
      tools.push(h('span', { class: 'pager muted' }, `${count(rows.length)} rows`));
    }
    this.el.replaceChildren(h('div', { class: 'table-tools' }, tools), h('div', { class: 'scroll' }, table));
  }

  focusFilter() {
    const input = this.el.querySelector('input.filter');
    if (input) {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
  }
}
