// Segments: the list, the builder (Heap Cohorts includes/excludes, attribute, event and
// identified filters, AND/OR groups and NOT, with the exact size from /segments/preview after
// every edit and the time it took), and one saved segment with its description.
import { get, post, q } from '../api.js';
import { fill, h, field, select, table, errorNote, stat, section, when, toast, nextId } from '../ui.js';

const ATTR_OPS = [['equals', 'equals'], ['not_equals', 'does not equal'], ['contains', 'contains'],
    ['gt', 'greater than'], ['gte', 'at least'], ['lt', 'less than'], ['lte', 'at most'],
    ['exists', 'is set'], ['not_exists', 'is not set']];

export async function renderList(main) {
    const res = await get('/segments/list');
    if (!res.ok) return fill(main, h('h1', {}, 'Segments'), errorNote(res, 'Could not load the segments'));
    fill(main, h('h1', {}, 'Segments'),
        h('p', {}, h('a', { href: '#/segments/new', class: 'button' }, 'New segment')),
        table('Segments', ['Name', 'ID'], res.data.segments.map((s) => [
            h('a', { href: `#/segments/${encodeURIComponent(s.id)}` }, s.name), h('code', {}, s.id)]), { id: 'segments-table' }));
}

export async function renderDetails(main, [id]) {
    const res = await get(`/segments/details?${q({ segment_id: id })}`);
    if (!res.ok) return fill(main, h('h1', {}, 'Segment'), errorNote(res, 'Could not load the segment'));
    const s = res.data;
    const editBox = h('div', {});
    fill(main, 
        h('p', {}, h('a', { href: '#/segments' }, '‹ All segments')),
        h('h1', {}, s.name),
        h('p', { class: 'description', id: 'segment-description' }, s.description),
        s.text_description ? h('p', {}, s.text_description) : null,
        h('dl', { class: 'stats' }, stat('Size', String(s.size), 'segment-details-size'),
            stat('Created', when(s.created_at)), stat('Updated', when(s.updated_at))),
        h('p', {}, 'Segment id: ', h('code', {}, id)),
        s.missing_cohorts.length ? h('p', { class: 'notice' }, `Cohorts not imported yet: ${s.missing_cohorts.join(', ')}`) : null,
        h('p', {}, h('a', { href: `#/campaigns/new?segment=${encodeURIComponent(id)}`, class: 'button' }, 'Message this segment')),
        section('Edit', editBox));
    await builder(editBox, { id, name: s.name, filter: s.filter });
}

export async function renderBuilder(main) {
    const box = h('div', {});
    fill(main, h('p', {}, h('a', { href: '#/segments' }, '‹ All segments')), h('h1', {}, 'New segment'), box);
    await builder(box, null);
}

// ---- the filter model: groups {kind:'group', op, not, items} and conditions ----

function group(op, items, not) {
    return { kind: 'group', op: op || 'and', not: !!not, items: items || [] };
}

export function toFilter(n) {
    if (n.kind === 'group') {
        const items = n.items.map(toFilter).filter((x) => x);
        if (!items.length) return null;
        const f = { [n.op]: items };
        return n.not ? { not: f } : f;
    }
    if (n.kind === 'cohort') return n.cohort_id ? { cohort: { partner: n.partner || 'heap', cohort_id: n.cohort_id }, op: n.op } : null;
    if (n.kind === 'attribute') {
        if (!n.attribute) return null;
        const f = { attribute: n.attribute, op: n.op };
        if (n.op !== 'exists' && n.op !== 'not_exists') f.value = typedValue(n.value, n.vtype);
        return f;
    }
    if (n.kind === 'event') {
        if (!n.event) return null;
        const f = { event: n.event, op: n.op };
        if (n.min_count !== '' && n.min_count !== undefined) f.min_count = Number(n.min_count);
        if (n.within_days !== '' && n.within_days !== undefined) f.within_days = Number(n.within_days);
        return f;
    }
    if (n.kind === 'identified') return { identified: n.value };
    return null;
}

function typedValue(v, type) {
    if (type === 'number') return Number(v);
    if (type === 'boolean') return v === 'true';
    return v;
}

export function fromFilter(f) {
    if (!f) return group('and');
    if (f.not) {
        const inner = fromFilter(f.not);
        if (inner.kind === 'group') {
            inner.not = !inner.not;
            return inner;
        }
        return group('and', [inner], true);
    }
    if (f.and || f.or) return group(f.and ? 'and' : 'or', (f.and || f.or).map(fromCondition));
    return group('and', [fromCondition(f)]);
}

function fromCondition(f) {
    if (f.and || f.or || f.not) return fromFilter(f);
    if (f.cohort) return { kind: 'cohort', partner: f.cohort.partner, cohort_id: f.cohort.cohort_id, op: f.op };
    if (f.attribute !== undefined) {
        const vtype = typeof f.value === 'number' ? 'number' : typeof f.value === 'boolean' ? 'boolean' : 'text';
        return { kind: 'attribute', attribute: f.attribute, op: f.op, value: f.value === undefined ? '' : String(f.value), vtype };
    }
    if (f.event !== undefined) return { kind: 'event', event: f.event, op: f.op, min_count: f.min_count ?? '', within_days: f.within_days ?? '' };
    if (f.identified !== undefined) return { kind: 'identified', value: f.identified };
    return { kind: 'identified', value: true };
}

// ---- the builder ----

async function builder(box, existing) {
    const fres = await get('/segments/filters');
    const opts = fres.ok ? fres.data : { cohort_filters: [], attributes: [], events: [] };
    const heapCohorts = (opts.cohort_filters.find((c) => c.partner === 'heap') || { cohorts: [] }).cohorts;
    const attrList = nextId('attrs');
    const eventList = nextId('events');
    const root = existing ? fromFilter(existing.filter) : group('and');
    const name = h('input', { type: 'text', required: true, maxlength: 200, value: existing ? existing.name : '', id: 'segment-name' });
    const size = h('output', { id: 'segment-size', 'aria-live': 'polite' }, '—');
    const took = h('span', { id: 'segment-ms', class: 'hint' }, '');
    const problem = h('div', { 'aria-live': 'polite' });
    const tree = h('div', { class: 'tree' });
    const json = h('pre', { class: 'mono', id: 'segment-json' });
    let seq = 0;
    let timer = null;

    async function preview() {
        const filter = toFilter(root);
        json.textContent = filter ? JSON.stringify(filter, null, 2) : '';
        if (!filter) {
            size.textContent = '—';
            took.textContent = 'add a filter to see the audience size';
            return;
        }
        const mine = ++seq;
        const res = await post('/segments/preview', { filter });
        if (mine !== seq) return;
        if (!res.ok) {
            size.textContent = '—';
            took.textContent = '';
            fill(problem, errorNote(res, 'This filter is not valid yet'));
            return;
        }
        fill(problem, );
        size.textContent = `${res.data.size} ${res.data.size === 1 ? 'user' : 'users'}`;
        size.dataset.size = String(res.data.size);
        took.textContent = `exact, answered in ${Math.round(res.ms)} ms`;
    }

    function changed() {
        clearTimeout(timer);
        timer = setTimeout(preview, 120);
    }

    // The node (a condition or group) whose first control takes the focus after a redraw: the
    // one just added, or the group one was removed from, so the keyboard stays where it was.
    let focusAfter = null;
    function redraw() {
        fill(tree, renderGroup(root, null));
        const mark = tree.querySelector('[data-focus]');
        const first = mark && mark.querySelector('input, select, textarea, button');
        if (first) first.focus();
        focusAfter = null;
        changed();
    }

    function renderGroup(g, parent) {
        const opSel = select([['and', 'AND: users matching all'], ['or', 'OR: users matching any']], g.op, { class: 'group-op' });
        opSel.addEventListener('change', () => { g.op = opSel.value; changed(); });
        const not = h('input', { type: 'checkbox', checked: g.not, class: 'group-not' });
        not.addEventListener('change', () => { g.not = not.checked; changed(); });
        const add = (node) => () => { focusAfter = node(); g.items.push(focusAfter); redraw(); };
        const legendId = nextId('legend');
        return h('fieldset', { class: 'group', 'aria-labelledby': legendId, 'data-focus': focusAfter === g },
            h('legend', { id: legendId }, parent ? 'Group' : 'Users who match'),
            h('div', { class: 'row' }, field('Combine filters with', opSel),
                h('div', { class: 'field check' }, not, h('label', { for: not.id = nextId('not') }, 'NOT (users who do not match this group)'))),
            h('ol', { class: 'items' }, g.items.map((n, i) => h('li', { 'data-focus': n !== focusAfter ? null : n.kind !== 'group' },
                n.kind === 'group' ? renderGroup(n, g) : renderCondition(n),
                h('button', { type: 'button', class: 'remove', 'aria-label': `Remove filter ${i + 1}`,
                    onclick: () => { g.items.splice(i, 1); focusAfter = g; redraw(); } }, 'Remove')))),
            h('div', { class: 'row add' },
                h('button', { type: 'button', onclick: add(() => ({ kind: 'cohort', partner: 'heap', op: 'includes', cohort_id: heapCohorts[0] ? heapCohorts[0].cohort_id : '' })) }, 'Add Heap Cohorts filter'),
                h('button', { type: 'button', onclick: add(() => ({ kind: 'attribute', attribute: '', op: 'equals', value: '', vtype: 'text' })) }, 'Add attribute filter'),
                h('button', { type: 'button', onclick: add(() => ({ kind: 'event', event: '', op: 'performed', min_count: '', within_days: '' })) }, 'Add event filter'),
                h('button', { type: 'button', onclick: add(() => ({ kind: 'identified', value: true })) }, 'Add identified filter'),
                h('button', { type: 'button', onclick: add(() => group(g.op === 'and' ? 'or' : 'and')) }, 'Add group')));
    }

    function bind(el, obj, key, after) {
        el.addEventListener('input', () => { obj[key] = el.value; if (after) after(); changed(); });
        el.addEventListener('change', () => { obj[key] = el.value; if (after) after(); changed(); });
        return el;
    }

    function renderCondition(n) {
        if (n.kind === 'cohort') {
            const known = heapCohorts.some((c) => c.cohort_id === n.cohort_id);
            const choices = heapCohorts.map((c) => [c.cohort_id, c.name]);
            if (!known && n.cohort_id) choices.push([n.cohort_id, `${n.cohort_id} (not imported yet)`]);
            if (!choices.length) choices.push(['', 'no Heap cohorts imported yet']);
            return h('div', { class: 'cond row' }, h('strong', {}, 'Heap Cohorts'),
                field('Cohort rule', bind(select([['includes', 'includes'], ['excludes', 'excludes']], n.op), n, 'op')),
                field('Cohort', bind(select(choices, n.cohort_id), n, 'cohort_id')));
        }
        if (n.kind === 'attribute') {
            const value = bind(h('input', { type: 'text', value: n.value }), n, 'value');
            const showValue = () => { value.parentElement.hidden = n.op === 'exists' || n.op === 'not_exists'; };
            const row = h('div', { class: 'cond row' }, h('strong', {}, 'Attribute'),
                field('Attribute name', bind(h('input', { type: 'text', list: attrList, value: n.attribute }), n, 'attribute')),
                field('Comparison', bind(select(ATTR_OPS, n.op), n, 'op', showValue)),
                field('Value', value),
                field('Value type', bind(select([['text', 'text'], ['number', 'number'], ['boolean', 'true/false']], n.vtype), n, 'vtype')));
            queueMicrotask(showValue);
            return row;
        }
        if (n.kind === 'event') {
            return h('div', { class: 'cond row' }, h('strong', {}, 'Event'),
                field('Event name', bind(h('input', { type: 'text', list: eventList, value: n.event }), n, 'event')),
                field('Event rule', bind(select([['performed', 'performed'], ['not_performed', 'not performed']], n.op), n, 'op')),
                field('At least (times)', bind(h('input', { type: 'number', min: 1, max: 50, value: n.min_count }), n, 'min_count')),
                field('Within (days)', bind(h('input', { type: 'number', min: 1, value: n.within_days }), n, 'within_days')));
        }
        const sel = select([['true', 'identified (has an external_id)'], ['false', 'anonymous']], String(n.value));
        sel.addEventListener('change', () => { n.value = sel.value === 'true'; changed(); });
        return h('div', { class: 'cond row' }, h('strong', {}, 'Identity'), field('Users who are', sel));
    }

    const saveMsg = h('div', { 'aria-live': 'polite' });
    const form = h('form', {
        class: 'builder',
        onsubmit: async (ev) => {
            ev.preventDefault();
            const filter = toFilter(root);
            if (!filter) return fill(saveMsg, h('p', { class: 'error', role: 'alert' }, 'Add at least one filter first.'));
            const res = existing
                ? await post('/segments/update', { segment_id: existing.id, name: name.value, filter })
                : await post('/segments/create', { name: name.value, filter });
            if (!res.ok) return fill(saveMsg, errorNote(res, 'Could not save the segment'));
            toast('Segment saved');
            const id = existing ? existing.id : res.data.segment_id;
            if (location.hash === `#/segments/${id}`) window.dispatchEvent(new HashChangeEvent('hashchange'));
            else location.hash = `#/segments/${encodeURIComponent(id)}`;
        },
    },
    field('Segment name', name),
    h('datalist', { id: attrList }, (opts.attributes || []).map((a) => h('option', { value: a }))),
    h('datalist', { id: eventList }, (opts.events || []).map((a) => h('option', { value: a }))),
    tree,
    h('div', { class: 'size-box' }, h('span', {}, 'Audience size: '), size, ' ', took),
    problem,
    h('details', {}, h('summary', {}, 'Filter as JSON'), json),
    h('button', { type: 'submit', id: 'segment-save' }, existing ? 'Save changes' : 'Save segment'),
    saveMsg);
    fill(box, form);
    redraw();
}
