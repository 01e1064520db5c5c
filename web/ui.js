// Small DOM helpers shared by the pages: element building without innerHTML (every text is a
// text node, so nothing the server returns is parsed as markup), labelled form controls, copy
// buttons, a confirmation dialog, tables and status notes.
let uid = 0;

export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'class') el.className = v;
        else if (k === 'value') el.value = v;
        else if (k === 'checked') el.checked = !!v;
        else el.setAttribute(k, v === true ? '' : v);
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === null || c === undefined || c === false) continue;
        if (Array.isArray(c)) append(el, c);
        else if (c instanceof Node) el.appendChild(c);
        else el.appendChild(document.createTextNode(String(c)));
    }
}

export function nextId(prefix) {
    uid += 1;
    return `${prefix}-${uid}`;
}

// A label and its control; `control` is an element without an id, or with one.
export function field(labelText, control, hint) {
    if (!control.id) control.id = nextId('f');
    const parts = [h('label', { for: control.id }, labelText), control];
    if (hint) {
        const hid = nextId('hint');
        control.setAttribute('aria-describedby', hid);
        parts.push(h('small', { id: hid, class: 'hint' }, hint));
    }
    return h('div', { class: 'field' }, parts);
}

export function select(options, value, attrs) {
    const el = h('select', attrs || {});
    for (const o of options) {
        const [v, text] = Array.isArray(o) ? o : [o, o];
        el.appendChild(h('option', { value: v, selected: v === value }, text));
    }
    if (value !== undefined) el.value = value;
    return el;
}

export function copyButton(getText, what) {
    return h('button', {
        type: 'button',
        class: 'copy',
        'aria-label': `Copy ${what}`,
        onclick: async () => {
            const text = getText();
            try {
                await navigator.clipboard.writeText(text);
                toast(`Copied ${what}`);
            } catch (e) {
                toast(`Could not copy ${what}: select it and copy by hand`);
            }
        },
    }, 'Copy');
}

export function toast(text) {
    const t = document.getElementById('toast');
    t.textContent = text;
    t.classList.add('show');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => t.classList.remove('show'), 4000);
}

// Asks before something that breaks things; `text` says what breaks. Resolves true on Confirm.
export function confirmDialog(title, text, okText) {
    const d = document.getElementById('confirm');
    document.getElementById('confirm-title').textContent = title;
    document.getElementById('confirm-text').textContent = text;
    document.getElementById('confirm-ok').textContent = okText || 'Confirm';
    d.returnValue = '';
    d.showModal();
    return new Promise((resolve) => {
        d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    });
}

export function table(caption, headers, rows, attrs) {
    return h('div', { class: 'table-wrap' },
        h('table', attrs || {},
            h('caption', {}, caption),
            h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
            h('tbody', {}, rows.length
                ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))
                : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, 'None yet')))));
}

export function stat(label, value, id) {
    return h('div', { class: 'stat' }, h('dt', {}, label), h('dd', id ? { id } : {}, value));
}

export function errorNote(res, what) {
    const msg = (res.data && res.data.message) || `HTTP ${res.status}`;
    const errs = (res.data && res.data.errors) || [];
    return h('p', { class: 'error', role: 'alert' }, `${what}: ${msg}`,
        errs.length ? ` (${errs.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('; ')})` : '');
}

export function unavailable(what) {
    return h('p', { class: 'unavailable' }, `${what}: not available on this server.`);
}

export function when(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function pct(a, b) {
    return b ? `${((100 * a) / b).toFixed(1)} %` : '—';
}

export function section(title, ...children) {
    const id = nextId('sec');
    return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), children);
}

// el.replaceChildren(...children) without the null / false / undefined placeholders of
// conditional parts (replaceChildren itself would print them as text).
export function fill(el, ...children) {
    el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
        .map((c) => (c instanceof Node ? c : String(c))));
}
