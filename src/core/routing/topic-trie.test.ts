import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFerryError } from '../../lib/ferry-error.js';
import { type TopicDialect, TopicTrie } from './topic-trie.js';

/** [pattern, topic, matches] rows, checked one binding at a time. */
type Case = readonly [pattern: string, topic: string, matches: boolean];

function matchesAlone(dialect: TopicDialect, pattern: string, topic: string): boolean {
  const trie = new TopicTrie<string>(dialect);
  trie.add(pattern, 'value');
  return trie.match(topic).has('value');
}

function checkCases(dialect: TopicDialect, cases: readonly Case[]): void {
  for (const [pattern, topic, expected] of cases) {
    assert.equal(matchesAlone(dialect, pattern, topic), expected, `${dialect}: ${JSON.stringify(pattern)} vs ${JSON.stringify(topic)}`);
  }
}

function throwsCode(code: string): (error: unknown) => boolean {
  return (error) => isFerryError(error, code);
}

test('AMQP patterns match words literally and with * and #', () => {
  checkCases('amqp', [
    ['stock.usd.nyse', 'stock.usd.nyse', true],
    ['stock.usd.nyse', 'stock.usd', false],
    ['stock.*.nyse', 'stock.eur.nyse', true],
    ['stock.*.nyse', 'stock.nyse', false],
    ['stock.*', 'stock.eur.nyse', false],
    ['stock.#', 'stock', true],
    ['stock.#', 'stock.eur.nyse', true],
    ['#.nyse', 'nyse', true],
    ['#.nyse', 'a.b.c.nyse', true],
    ['a.#.b', 'a.b', true],
    ['a.#.b', 'a.x.y.b', true],
    ['a.#.b', 'a.x.y.c', false],
    ['#.*', '', false],
    ['#.*', 'a', true],
    ['*.#.*', 'a', false],
    ['*.#.*', 'a.b', true],
    ['#.#', 'a.b.c', true],
    // A wildcard character inside a longer word is an ordinary character.
    ['a*', 'ab', false],
    ['a*', 'a*', true],
    ['a#.b', 'a#.b', true],
  ]);
});

test('AMQP # matches every routing key including the empty one', () => {
  checkCases('amqp', [
    ['#', '', true],
    ['#', 'a', true],
    ['#', 'a.b.c', true],
    ['#', '.', true],
    ['#.#', '', true],
  ]);
});

test('AMQP treats the empty routing key as zero words and keeps empty words elsewhere', () => {
  checkCases('amqp', [
    ['', '', true],
    ['', 'a', false],
    ['*', '', false],
    ['*', 'a', true],
    // `.` is two empty words, as in RabbitMQ.
    ['*.*', '.', true],
    ['*', '.', false],
    ['a..b', 'a..b', true],
    ['a.*.b', 'a..b', true],
    ['a.#.b', 'a..b', true],
    ['a..b', 'a.b', false],
    ['a.', 'a.', true],
    ['a.*', 'a.', true],
    ['a', 'a.', false],
  ]);
});

test('MQTT filters match levels with + and a trailing #, which also matches the parent level', () => {
  checkCases('mqtt', [
    ['sport/tennis/player1', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/#', 'sport', true],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['a//b', 'a//b', true],
    ['a/+/b', 'a//b', true],
    // `.` is an ordinary character in MQTT.
    ['a.b/#', 'a.b/c', true],
  ]);
});

test('MQTT filters starting with a wildcard do not match topics starting with $ [MQTT-4.7.2-1]', () => {
  checkCases('mqtt', [
    ['#', '$SYS/broker/uptime', false],
    ['+/broker/uptime', '$SYS/broker/uptime', false],
    ['+', '$SYS', false],
    ['$SYS/#', '$SYS/broker/uptime', true],
    ['$SYS/#', '$SYS', true],
    ['$SYS/+/uptime', '$SYS/broker/uptime', true],
    // Only the first character of the topic counts.
    ['a/+', 'a/$b', true],
    ['#', 'a/$b', true],
  ]);
});

test('NATS subjects match tokens with * and a trailing >, which needs at least one token', () => {
  checkCases('nats', [
    ['foo.bar', 'foo.bar', true],
    ['foo.*', 'foo.bar', true],
    ['foo.*', 'foo.bar.baz', false],
    ['foo.*.baz', 'foo.bar.baz', true],
    ['foo.>', 'foo.bar', true],
    ['foo.>', 'foo.bar.baz', true],
    ['foo.>', 'foo', false],
    ['>', 'foo', true],
    ['>', 'foo.bar', true],
    ['*', 'foo.bar', false],
    ['*.>', 'foo', false],
    ['*.>', 'foo.bar', true],
    // `>` and `*` inside a longer token are ordinary characters.
    ['foo.b>', 'foo.b>', true],
    ['foo.b>', 'foo.bar', false],
    ['foo*', 'foox', false],
  ]);
});

test('invalid patterns are refused with INVALID_TOPIC_PATTERN and leave the trie unchanged', () => {
  const invalid: ReadonlyArray<readonly [TopicDialect, string]> = [
    ['mqtt', ''],
    ['mqtt', 'a/#/b'],
    ['mqtt', '#/a'],
    ['mqtt', 'a/b#'],
    ['mqtt', 'a/#b'],
    ['mqtt', 'a+/b'],
    ['mqtt', 'a/+b'],
    ['mqtt', 'a/\u0000'],
    ['nats', ''],
    ['nats', 'a..b'],
    ['nats', '.a'],
    ['nats', 'a.'],
    ['nats', 'a.>.b'],
    ['nats', '>.a'],
    ['nats', 'a b'],
    ['nats', 'a.\tb'],
  ];
  for (const [dialect, pattern] of invalid) {
    const trie = new TopicTrie<number>(dialect);
    assert.notEqual(trie.patternProblem(pattern), undefined, `${dialect} ${JSON.stringify(pattern)} has a problem`);
    assert.throws(() => trie.add(pattern, 1), throwsCode('INVALID_TOPIC_PATTERN'), `${dialect} ${JSON.stringify(pattern)}`);
    assert.equal(trie.size, 0);
    assert.equal(trie.nodeCount, 1);
    assert.equal(trie.remove(pattern, 1), false);
  }
});

test('AMQP accepts every binding key, since AMQP gives binding keys no syntax to break', () => {
  const trie = new TopicTrie<number>('amqp');
  for (const pattern of ['', '.', '#.#', 'a#b', '*.*.#', '..', 'a.*#']) {
    assert.equal(trie.patternProblem(pattern), undefined);
    trie.add(pattern, 1);
  }
  assert.equal(trie.size, 7);
});

test('a trie refuses an unknown dialect', () => {
  assert.throws(() => new TopicTrie<number>('stomp' as TopicDialect), throwsCode('INVALID_ARGUMENT'));
});

test('a value reached through several patterns is returned once', () => {
  const trie = new TopicTrie<string>('amqp');
  trie.add('a.b', 'q1');
  trie.add('a.*', 'q1');
  trie.add('#', 'q1');
  trie.add('#.b', 'q2');
  assert.deepEqual([...trie.match('a.b')].sort(), ['q1', 'q2']);
});

test('values are a multiset per pattern: each copy added needs its own removal', () => {
  const trie = new TopicTrie<string>('mqtt');
  trie.add('a/+', 'q');
  trie.add('a/+', 'q');
  assert.equal(trie.size, 2);
  assert.equal(trie.remove('a/+', 'q'), true);
  assert.deepEqual([...trie.match('a/b')], ['q']);
  assert.equal(trie.remove('a/+', 'q'), true);
  assert.deepEqual([...trie.match('a/b')], []);
  assert.equal(trie.remove('a/+', 'q'), false);
  assert.equal(trie.size, 0);
});

test('removing a value that was never added under that pattern returns false and changes nothing', () => {
  const trie = new TopicTrie<string>('nats');
  trie.add('a.*', 'q');
  assert.equal(trie.remove('a.*', 'other'), false);
  assert.equal(trie.remove('a.>', 'q'), false);
  assert.equal(trie.remove('a.*.c', 'q'), false);
  assert.equal(trie.remove('a', 'q'), false);
  assert.deepEqual([...trie.match('a.b')], ['q']);
  assert.equal(trie.size, 1);
});

test('removal prunes nodes that no longer lead to a value, and keeps shared ones', () => {
  const trie = new TopicTrie<number>('amqp');
  trie.add('a.b.c', 1);
  trie.add('a.*.#', 2);
  const nodesWithBoth = trie.nodeCount;
  trie.add('a.b.c.d', 3);
  assert.equal(trie.nodeCount, nodesWithBoth + 1);
  assert.equal(trie.remove('a.b.c.d', 3), true);
  assert.equal(trie.nodeCount, nodesWithBoth);
  assert.equal(trie.remove('a.b.c', 1), true);
  assert.deepEqual([...trie.match('a.b.c')], [2]);
  assert.equal(trie.remove('a.*.#', 2), true);
  assert.equal(trie.nodeCount, 1);
});

test('many # wildcards against a long key visit each node at most once per word position', () => {
  // Trying every way to split the key between the # wildcards would take C(40 + 5, 5) ≈ 1.2 million steps here.
  const trie = new TopicTrie<string>('amqp');
  trie.add('#.a.#.a.#.a.#.a.#.b', 'ends in b');
  trie.add('#.a.#.a.#.a.#.a.#.a', 'ends in a');
  const words = Array.from({ length: 40 }, () => 'a');
  for (const key of [words.join('.'), [...words, 'b'].join('.')]) {
    const expected = key.endsWith('b') ? ['ends in b'] : ['ends in a'];
    assert.deepEqual([...trie.match(key)], expected);
    const wordCount = key.split('.').length;
    assert.ok(trie.visitsLastMatch <= trie.nodeCount * (wordCount + 1), `${trie.visitsLastMatch} visits`);
  }
});

test('deep patterns and topics do not overflow the call stack', () => {
  const trie = new TopicTrie<string>('mqtt');
  const levels = Array.from({ length: 50_000 }, (_, index) => (index % 2 === 0 ? 'x' : '+'));
  trie.add(levels.join('/'), 'deep');
  const topic = Array.from({ length: 50_000 }, () => 'x').join('/');
  assert.deepEqual([...trie.match(topic)], ['deep']);
  assert.equal(trie.remove(levels.join('/'), 'deep'), true);
  assert.equal(trie.nodeCount, 1);
});

// ---------------------------------------------------------------------------
// Property tests: the trie against a direct, recursive reading of each dialect's rules.

const separators: Record<TopicDialect, string> = { amqp: '.', mqtt: '/', nats: '.' };

function splitReference(dialect: TopicDialect, text: string): string[] {
  // RabbitMQ splits the empty routing key into no words at all.
  if (dialect === 'amqp' && text === '') return [];
  return text.split(separators[dialect]);
}

function referenceMatch(dialect: TopicDialect, pattern: string, topic: string): boolean {
  const patternWords = splitReference(dialect, pattern);
  const topicWords = splitReference(dialect, topic);
  const single = dialect === 'mqtt' ? '+' : '*';
  const multiple = dialect === 'nats' ? '>' : '#';
  if (dialect === 'mqtt' && topic.startsWith('$') && (patternWords[0] === '+' || patternWords[0] === '#')) return false;
  const matchFrom = (patternIndex: number, topicIndex: number): boolean => {
    if (patternIndex === patternWords.length) return topicIndex === topicWords.length;
    const word = patternWords[patternIndex];
    if (word === multiple) {
      const wordsNeeded = dialect === 'nats' ? 1 : 0;
      for (let next = topicIndex + wordsNeeded; next <= topicWords.length; next++) {
        if (matchFrom(patternIndex + 1, next)) return true;
      }
      return false;
    }
    if (topicIndex === topicWords.length) return false;
    if (word !== single && word !== topicWords[topicIndex]) return false;
    return matchFrom(patternIndex + 1, topicIndex + 1);
  };
  return matchFrom(0, 0);
}

interface Scenario {
  readonly entries: ReadonlyArray<{ readonly pattern: string; readonly value: number; readonly removed: boolean }>;
  readonly topics: readonly string[];
}

function scenarios(patterns: fc.Arbitrary<string>, topics: fc.Arbitrary<string>): fc.Arbitrary<Scenario> {
  return fc.record({
    entries: fc.array(fc.record({ pattern: patterns, value: fc.integer({ min: 0, max: 5 }), removed: fc.boolean() }), { maxLength: 25 }),
    topics: fc.array(topics, { minLength: 1, maxLength: 12 }),
  });
}

function checkAgainstReference(dialect: TopicDialect, scenario: Scenario): void {
  const trie = new TopicTrie<number>(dialect);
  for (const { pattern, value } of scenario.entries) trie.add(pattern, value);
  for (const { pattern, value, removed } of scenario.entries) {
    if (removed) assert.equal(trie.remove(pattern, value), true, 'every added copy can be removed once');
  }
  const kept = scenario.entries.filter((entry) => !entry.removed);
  assert.equal(trie.size, kept.length);
  for (const topic of scenario.topics) {
    const expected = [...new Set(kept.filter((entry) => referenceMatch(dialect, entry.pattern, topic)).map((entry) => entry.value))];
    assert.deepEqual([...trie.match(topic)].sort(), expected.sort(), `topic ${JSON.stringify(topic)}`);
  }
  for (const { pattern, value } of kept) assert.equal(trie.remove(pattern, value), true);
  assert.equal(trie.nodeCount, 1, 'a trie emptied of values has no nodes but the root');
}

const propertyRuns = { numRuns: 400 };

function join(words: readonly string[], separator: string): string {
  return words.join(separator);
}

test('AMQP matching agrees with a recursive reference matcher on random keys', () => {
  const patternWord = fc.constantFrom('a', 'b', '', '*', '#', 'a*');
  const topicWord = fc.constantFrom('a', 'b', '', 'a*', '*');
  const patterns = fc.array(patternWord, { maxLength: 6 }).map((words) => join(words, '.'));
  const topics = fc.array(topicWord, { maxLength: 7 }).map((words) => join(words, '.'));
  fc.assert(fc.property(scenarios(patterns, topics), (scenario) => checkAgainstReference('amqp', scenario)), propertyRuns);
});

test('MQTT matching agrees with a recursive reference matcher on random filters and topics', () => {
  const level = fc.constantFrom('a', 'b', '', '$a', '+');
  const patterns = fc
    .tuple(fc.array(level, { maxLength: 5 }), fc.boolean())
    .map(([levels, trailingHash]) => join(trailingHash ? [...levels, '#'] : levels, '/'))
    .filter((pattern) => pattern !== '');
  const topics = fc.array(fc.constantFrom('a', 'b', '', '$a', '$'), { minLength: 1, maxLength: 6 }).map((levels) => join(levels, '/'));
  fc.assert(fc.property(scenarios(patterns, topics), (scenario) => checkAgainstReference('mqtt', scenario)), propertyRuns);
});

test('NATS matching agrees with a recursive reference matcher on random subjects', () => {
  const patterns = fc
    .tuple(fc.array(fc.constantFrom('a', 'b', 'c', '*'), { minLength: 0, maxLength: 5 }), fc.boolean())
    .map(([tokens, trailing]) => join(trailing ? [...tokens, '>'] : tokens, '.'))
    .filter((pattern) => pattern !== '');
  const topics = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 6 }).map((tokens) => join(tokens, '.'));
  fc.assert(fc.property(scenarios(patterns, topics), (scenario) => checkAgainstReference('nats', scenario)), propertyRuns);
});

test('the reference matcher used by the property tests agrees with hand-checked cases', () => {
  // Guards the guard: a reference that matched everything would make the properties vacuous.
  assert.equal(referenceMatch('amqp', '#', ''), true);
  assert.equal(referenceMatch('amqp', '*', ''), false);
  assert.equal(referenceMatch('amqp', 'a.#.b', 'a.b'), true);
  assert.equal(referenceMatch('mqtt', 'a/#', 'a'), true);
  assert.equal(referenceMatch('mqtt', '#', '$a'), false);
  assert.equal(referenceMatch('nats', 'a.>', 'a'), false);
  assert.equal(referenceMatch('nats', 'a.>', 'a.b.c'), true);
  assert.equal(referenceMatch('nats', 'a.*', 'a.b.c'), false);
});
