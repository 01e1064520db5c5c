// Line charts drawn as SVG: a y axis from 0 to the largest value, one line per series, and a
// text alternative listing the values for screen readers. Every point carries its series,
// label and value as data attributes (data-series, data-label, data-value), so what the chart
// shows can be read back exactly.
const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
}

// labels: the x axis ['06-01', …]; series: [{name, values: [n, …], cls}] (values per label).
export function seriesChart(title, labels, series) {
    const w = 640, hgt = 220, left = 48, right = 12, top = 12, bottom = 32;
    const max = Math.max(1, ...series.flatMap((s) => s.values));
    const x = (i) => left + (labels.length < 2 ? (w - left - right) / 2 : (i * (w - left - right)) / (labels.length - 1));
    const y = (v) => top + (hgt - top - bottom) * (1 - v / max);
    const root = svg('svg', { viewBox: `0 0 ${w} ${hgt}`, role: 'img', class: 'chart', 'aria-label': title });
    root.appendChild(svg('title', {}, title));
    root.appendChild(svg('desc', {}, labels.map((l, i) => `${l}: ${series.map((s) => (series.length > 1 ? `${s.name} ${s.values[i]}` : String(s.values[i]))).join(', ')}`).join('; ')));
    for (const v of [...new Set([0, Math.round(max / 2), max])]) {
        root.appendChild(svg('line', { x1: left, x2: w - right, y1: y(v), y2: y(v), class: 'grid' }));
        root.appendChild(svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, String(Math.round(v))));
    }
    if (!labels.length) return root;
    for (const s of series) {
        const cls = s.cls || '';
        root.appendChild(svg('polyline', { points: s.values.map((v, i) => `${x(i)},${y(v)}`).join(' '), class: `line ${cls}` }));
        s.values.forEach((v, i) => {
            const dot = svg('circle', { cx: x(i), cy: y(v), r: 3, class: `dot ${cls}`, 'data-series': s.name, 'data-label': labels[i], 'data-value': v });
            dot.appendChild(svg('title', {}, `${labels[i]}: ${s.name} ${v}`));
            root.appendChild(dot);
        });
    }
    // at most about six x labels, the last always, none crowding it; a date shows as MM-DD
    const step = Math.max(1, Math.ceil(labels.length / 6));
    const last = labels.length - 1;
    labels.forEach((l, i) => {
        if (i === last || (i % step === 0 && last - i >= step / 2))
            root.appendChild(svg('text', { x: x(i), y: hgt - 10, 'text-anchor': i === last && labels.length > 1 ? 'end' : 'middle', class: 'axis' },
                /^\d{4}-\d\d-\d\d$/.test(l) ? l.slice(5) : l));
    });
    if (series.length > 1) {
        series.forEach((s, k) => {
            const lx = left + 8 + k * 110;
            root.appendChild(svg('line', { x1: lx, x2: lx + 18, y1: top + 6, y2: top + 6, class: `line ${s.cls || ''}` }));
            root.appendChild(svg('text', { x: lx + 24, y: top + 10, class: 'axis legend' }, s.name));
        });
    }
    return root;
}

// One series: points [{label, value}].
export function lineChart(title, points) {
    return seriesChart(title, points.map((p) => p.label), [{ name: 'value', values: points.map((p) => p.value) }]);
}
