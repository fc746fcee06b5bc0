// Compares the semantics sweep's results, in tiers: semantic (amqplib-decoded values),
// wire-type (field-table type tags), key-order (header key order).
// Two cross-cutting differences are reported once and then factored out:
//   G1 empty headers table dropped (amqplib always sends one); G2 x-death 'time' not a timestamp ('T').
const TIER = { headerTypes: 'wire-type', headerKeyOrder: 'key-order', xDeathKeyOrder: 'key-order' };

function flatten(name, res) {
  if (res && res.__multi) return Object.entries(res.__multi).map(([k, v]) => [`${name}/${k}`, v]);
  return [[name, res]];
}
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
/** Applies the global normalisers in place; returns which fired. */
function normaliseGlobals(v, fired) {
  if (Array.isArray(v)) { v.forEach((x) => normaliseGlobals(x, fired)); return v; }
  if (v && typeof v === 'object') {
    if (v.properties && typeof v.properties === 'object' && 'body' in v) {
      const h = v.properties.headers;
      if (h && Object.keys(h).length === 0) { delete v.properties.headers; delete v.headerTypes; delete v.headerKeyOrder; fired.add('G1'); }
      else if (h === undefined) fired.add('G1?');
    }
    if (Array.isArray(v['x-death'])) for (const e of v['x-death']) {
      if (e.time && typeof e.time === 'object' && e.time.timestamp !== undefined) e.time = '<T>';
      else if (typeof e.time === 'number') { e.time = '<T>'; fired.add('G2'); }
      else if (typeof e.time === 'string' && e.time.length === 1) { e.time = '<T>'; fired.add('G2'); }
      else if (e.time && typeof e.time === 'object') { e.time = '<T>'; }
    }
    if (v['x-death'] && v['x-death'].A) for (const e of v['x-death'].A) if (e.F && e.F.time) { if (e.F.time !== 'T') fired.add('G2'); e.F.time = '<T>'; }
    for (const k of Object.keys(v)) normaliseGlobals(v[k], fired);
  }
  return v;
}
function tierOf(path) { for (const [k, t] of Object.entries(TIER)) if (path.includes(`.${k}`)) return t; return 'semantic'; }
function diff(a, b, path = '', out = []) {
  if (JSON.stringify(a) === JSON.stringify(b)) return out;
  const arrScalars = Array.isArray(a) && Array.isArray(b) && [...a, ...b].every((x) => typeof x !== 'object' || x === null);
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b) && !arrScalars) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (k !== '__info') diff(a[k], b[k], `${path}.${k}`, out);
    return out;
  }
  out.push({ path: path || '.', tier: tierOf(path), rabbitmq: a, ferry: b });
  return out;
}
/**
 * Prints the differences (options.verbose: values in full; nothing with options.quiet); returns
 * { total, matched, differing }, `differing` naming the observations that differ.
 */
export function compare(R, F, options = {}) {
  const log = options.quiet ? () => {} : console.log;
  const names = [...new Set([...Object.keys(R.scenarios), ...Object.keys(F.scenarios)])];
  const rows = []; const globalOnly = []; const info = [];
  let matched = 0, total = 0;
  const globalHits = { G1: new Set(), G2: new Set() };
  for (const n of names) {
    const rs = new Map(flatten(n, R.scenarios[n])); const fsc = new Map(flatten(n, F.scenarios[n]));
    for (const sub of new Set([...rs.keys(), ...fsc.keys()])) {
      total++;
      const a = rs.get(sub), c = fsc.get(sub);
      if (a?.__info || c?.__info) info.push({ sub, rabbitmq: a?.__info, ferry: c?.__info });
      const raw = diff(a, c);
      if (!raw.length) { matched++; continue; }
      const fa = new Set(), fc = new Set();
      const d = diff(normaliseGlobals(clone(a), fa), normaliseGlobals(clone(c), fc));
      const g = [];
      if (fa.has('G1') && fc.has('G1?') && !fc.has('G1')) { g.push('G1'); globalHits.G1.add(sub); }
      if (fc.has('G2') && !fa.has('G2')) { g.push('G2'); globalHits.G2.add(sub); }
      if (!d.length) { globalOnly.push({ sub, g }); continue; }
      rows.push({ sub, d, g });
    }
  }
  const show = (v) => { const s = JSON.stringify(v); return options.verbose || s === undefined || s.length < 500 ? s : s.slice(0, 500) + '…'; };
  for (const r of rows) {
    log(`\n## ${r.sub}${r.g.length ? '  (+' + r.g.join(',') + ')' : ''}`);
    for (const x of r.d) log(`  [${x.tier}] ${x.path}\n     rmq:   ${show(x.rabbitmq)}\n     ferry: ${show(x.ferry)}`);
  }
  log('\nper scenario (tiers with differences after G1/G2 are factored out):');
  for (const r of rows) log(`  ${r.sub}: ${[...new Set(r.d.map((x) => x.tier))].join(',')}${r.g.length ? ' +' + r.g.join(',') : ''}`);
  log(`\nG1 (empty headers table → absent) affects ${globalHits.G1.size} scenarios: ${[...globalHits.G1].join(' ')}`);
  log(`G2 (x-death time not type 'T') affects ${globalHits.G2.size} scenarios: ${[...globalHits.G2].join(' ')}`);
  for (const i of info) log(`info ${i.sub}: rmq ${JSON.stringify(i.rabbitmq)}\n     ferry ${JSON.stringify(i.ferry)}`);
  log(`\nscenarios ${total}: identical ${matched}; differing only by G1/G2 ${globalOnly.length} (${globalOnly.map((x) => x.sub).join(' ')}); other differences ${rows.length}`);
  return { total, matched, differing: [...rows.map((row) => row.sub), ...globalOnly.map((only) => only.sub)] };
}
