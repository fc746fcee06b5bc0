// Compares the error sweep's results: per scenario the value, the frame events and which
// connections stayed alive must be equal; reply texts are listed apart (options.texts).
// A basic.ack that differs only by its `multiple` flag counts as the same (the scenarios wait for
// each confirm before they publish again, so both confirm the same message) unless options.ackMultiple.

/**
 * Prints the differences (not with options.quiet); returns { total, matched, differing, textsDiffering },
 * the last two the names of the scenarios whose observations, or reply texts, differ.
 */
export function compare(rabbitmq, ferry, options = {}) {
  const log = options.quiet ? () => {} : console.log;
  const a = rabbitmq.scenarios;
  const b = ferry.scenarios;
  const key = (r) => {
    let events = r.events;
    if (!options.ackMultiple) events = events.map((e) => e.replace(/(\.ack \d+) multi$/, '$1'));
    return JSON.stringify({ value: r.value, events, alive: r.alive });
  };
  const show = (r) => `${JSON.stringify(r.value)} | ${r.events.join('; ') || '-'} | alive=${r.alive.join(',')}`;

  let matched = 0;
  const diffs = [];
  const textDiffs = [];
  for (const name of Object.keys(a)) {
    if (!b[name]) continue;
    if (key(a[name]) === key(b[name])) matched++;
    else diffs.push(name);
    const ta = a[name].texts.join(' || ');
    const tb = b[name].texts.join(' || ');
    if (ta !== tb) textDiffs.push([name, ta, tb]);
  }
  for (const n of diffs) log(`## ${n}\n  rabbitmq: ${show(a[n])}\n  ferry:    ${show(b[n])}`);
  if (options.texts) {
    log('\n# reply-text differences');
    for (const [n, ta, tb] of textDiffs) log(`## ${n}\n  rabbitmq: ${ta}\n  ferry:    ${tb}`);
  }
  const total = Object.keys(a).length;
  log(`\nscenarios: ${total}, matched: ${matched}, differ: ${diffs.length}`);
  return { total, matched, differing: diffs, textsDiffering: textDiffs.map(([n]) => n) };
}
