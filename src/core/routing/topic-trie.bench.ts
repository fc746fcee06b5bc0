// Micro benchmark of TopicTrie.match: prints one JSON line with matches per second per dialect.
//
//   node dist/src/core/routing/topic-trie.bench.js [bindings] [durationMs]
//
// Bindings mix literal words with single and multiple wildcards the way subscriptions
// tend to (mostly literal, some `*`/`+`, a trailing `#`/`>` now and then); topics are
// literal, drawn from the same vocabulary so that a realistic share of them match.
// Seeded, so every run measures the same workload. Tiny arguments (`100 50`) keep it cheap in CI.
import { SystemClock } from '../../platform/clock.js';
import { SeededRandom } from '../../platform/random.js';
import { type TopicDialect, TopicTrie } from './topic-trie.js';

const bindingCount = Number(process.argv[2] ?? 10_000);
const durationMs = Number(process.argv[3] ?? 1_000);
const topicCount = 10_000;
// Words per level widen with depth, like tenant.service.entity.id hierarchies.
const vocabularySizes = [8, 40, 200, 1_000, 1_000];
const clock = new SystemClock();

const wildcards: Record<TopicDialect, { separator: string; single: string; multiple: string; multipleLastOnly: boolean }> = {
  amqp: { separator: '.', single: '*', multiple: '#', multipleLastOnly: false },
  mqtt: { separator: '/', single: '+', multiple: '#', multipleLastOnly: true },
  nats: { separator: '.', single: '*', multiple: '>', multipleLastOnly: true },
};

function word(random: SeededRandom, level: number): string {
  return `w${random.int(vocabularySizes[level]!)}`;
}

function makePattern(dialect: TopicDialect, random: SeededRandom): string {
  const { separator, single, multiple, multipleLastOnly } = wildcards[dialect];
  const length = 3 + random.int(3);
  const words: string[] = [];
  for (let index = 0; index < length; index++) {
    const draw = random.next();
    const last = index === length - 1;
    if (draw < 0.08) words.push(single);
    else if (draw < 0.12 && (last || !multipleLastOnly)) words.push(multiple);
    else words.push(word(random, index));
  }
  return words.join(separator);
}

function makeTopic(dialect: TopicDialect, random: SeededRandom): string {
  const length = 3 + random.int(3);
  return Array.from({ length }, (_, level) => word(random, level)).join(wildcards[dialect].separator);
}

function measure(dialect: TopicDialect): { matchesPerSecond: number; valuesPerMatch: number; nodes: number } {
  const random = new SeededRandom(42);
  const trie = new TopicTrie<number>(dialect);
  for (let index = 0; index < bindingCount; index++) trie.add(makePattern(dialect, random), index);
  const topics = Array.from({ length: topicCount }, () => makeTopic(dialect, random));
  // Warm up so the JIT has compiled match before the clock starts.
  for (const topic of topics) trie.match(topic);
  let matches = 0;
  let values = 0;
  const startMs = clock.monotonicMs();
  let elapsedMs = 0;
  while (elapsedMs < durationMs) {
    for (let index = 0; index < 1_000; index++) {
      values += trie.match(topics[(matches + index) % topicCount]!).size;
    }
    matches += 1_000;
    elapsedMs = clock.monotonicMs() - startMs;
  }
  return {
    matchesPerSecond: Math.round((matches / elapsedMs) * 1_000),
    valuesPerMatch: Number((values / matches).toFixed(2)),
    nodes: trie.nodeCount,
  };
}

const results: Record<string, unknown> = {};
for (const dialect of ['amqp', 'mqtt', 'nats'] as const) results[dialect] = measure(dialect);
console.log(JSON.stringify({ benchmark: 'topic-trie.match', bindings: bindingCount, topics: topicCount, durationMs, node: process.version, ...results }));
