import { FerryError } from '../../lib/ferry-error.js';

/**
 * The wildcard syntax a {@link TopicTrie} speaks:
 * - `amqp`: words separated by `.`; `*` is exactly one word, `#` zero or more words, anywhere.
 * - `mqtt`: levels separated by `/`; `+` is exactly one level, `#` this level and all below, last only.
 * - `nats`: tokens separated by `.`; `*` is exactly one token, `>` one or more tokens, last only.
 */
export type TopicDialect = 'amqp' | 'mqtt' | 'nats';

/** The facts of each dialect, as data; the matcher below is written once against them. */
interface DialectRules {
  readonly separator: string;
  /** The word that matches exactly one word. */
  readonly singleWildcard: string;
  /** The word that matches several words. */
  readonly multipleWildcard: string;
  /** Whether the multiple wildcard also matches zero words (`a.#` and `a/#` match `a`; NATS `a.>` does not). */
  readonly multipleMatchesNone: boolean;
  /** Whether the empty string is zero words (RabbitMQ splits "" into no words) rather than one empty word. */
  readonly emptyIsNoWords: boolean;
  /** [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with `$`. */
  readonly dollarTopicsHidden: boolean;
}

const dialectRules: Readonly<Record<TopicDialect, DialectRules>> = {
  amqp: {
    separator: '.',
    singleWildcard: '*',
    multipleWildcard: '#',
    multipleMatchesNone: true,
    emptyIsNoWords: true,
    dollarTopicsHidden: false,
  },
  mqtt: {
    separator: '/',
    singleWildcard: '+',
    multipleWildcard: '#',
    multipleMatchesNone: true,
    emptyIsNoWords: false,
    dollarTopicsHidden: true,
  },
  nats: {
    separator: '.',
    singleWildcard: '*',
    multipleWildcard: '>',
    multipleMatchesNone: false,
    emptyIsNoWords: false,
    dollarTopicsHidden: false,
  },
};

class TrieNode<T> {
  literalChildren: Map<string, TrieNode<T>> | undefined = undefined;
  singleWildcardChild: TrieNode<T> | undefined = undefined;
  multipleWildcardChild: TrieNode<T> | undefined = undefined;
  /** The multiset of values bound with the pattern ending here: value → number of copies. */
  values: Map<T, number> | undefined = undefined;
  // Only AMQP `#` nodes use these two: the match call that last expanded this node, and the
  // lowest word position it was expanded from in that call. Expanding again from a later
  // position can add nothing, which keeps patterns such as `#.a.#.a.#` from taking
  // time exponential in the topic's length.
  expandedGeneration = 0;
  expandedFromPosition = 0;

  isEmpty(): boolean {
    return (
      this.values === undefined &&
      this.literalChildren === undefined &&
      this.singleWildcardChild === undefined &&
      this.multipleWildcardChild === undefined
    );
  }
}

/**
 * A subscription trie: patterns with wildcards map to values, and `match(topic)`
 * finds every value whose pattern matches. One dialect per trie (see {@link TopicDialect}).
 *
 * Values form a multiset per pattern: adding the same (pattern, value) twice needs
 * two removals before the value stops matching, which is what overlapping bindings
 * need. `match` returns each value once however many patterns lead to it.
 *
 * Topics are matched literally: a topic word `*` is just a word. Validating published
 * topic names (MQTT forbids wildcards in them, NATS forbids empty tokens) is the front
 * end's job. MQTT shared subscriptions (`$share/group/filter`) must be stripped to
 * `filter` by the front end before they reach the trie.
 *
 * Cost: `match` visits each trie node at most once per word position, so it is linear
 * in the topic's length for patterns without `#`, and bounded by nodes × words with it.
 */
export class TopicTrie<T> {
  readonly dialect: TopicDialect;
  private readonly rules: DialectRules;
  private readonly root = new TrieNode<T>();
  private generation = 0;
  private copies = 0;
  private nodes = 1;
  private visits = 0;
  private readonly pendingNodes: TrieNode<T>[] = [];
  private readonly pendingPositions: number[] = [];

  /** An empty trie speaking `dialect` (AMQP when omitted). */
  constructor(dialect: TopicDialect = 'amqp') {
    if (!Object.hasOwn(dialectRules, dialect)) {
      throw new FerryError('INVALID_ARGUMENT', `unknown topic dialect ${JSON.stringify(dialect)}`);
    }
    this.dialect = dialect;
    this.rules = dialectRules[dialect];
  }

  /** The number of (pattern, value) copies held, counting repeats. */
  get size(): number {
    return this.copies;
  }

  /** The number of trie nodes, root included; for metrics, and to check that removal prunes. */
  get nodeCount(): number {
    return this.nodes;
  }

  /**
   * How many (node, word position) steps the last `match` took; for tests and profiling.
   * It never exceeds `nodeCount × (words in the topic + 1)`.
   */
  get visitsLastMatch(): number {
    return this.visits;
  }

  /**
   * Explains why `pattern` is not a valid pattern in this trie's dialect, or returns
   * undefined when it is. `add` throws `INVALID_TOPIC_PATTERN` with this text.
   */
  patternProblem(pattern: string): string | undefined {
    return findPatternProblem(this.rules, this.dialect, pattern, this.split(pattern));
  }

  /**
   * Adds one copy of `value` under `pattern`. Throws `INVALID_TOPIC_PATTERN` when the
   * pattern breaks the dialect's rules; the trie is unchanged then.
   */
  add(pattern: string, value: T): void {
    const words = this.split(pattern);
    const problem = findPatternProblem(this.rules, this.dialect, pattern, words);
    if (problem !== undefined) {
      throw new FerryError('INVALID_TOPIC_PATTERN', `${JSON.stringify(pattern)}: ${problem}`);
    }
    let node = this.root;
    for (const word of words) node = this.childOf(node, word);
    node.values ??= new Map();
    node.values.set(value, (node.values.get(value) ?? 0) + 1);
    this.copies += 1;
  }

  /**
   * Removes one copy of `value` under `pattern`; returns false when there was none
   * (an invalid pattern can never have been added, so it returns false too).
   * Nodes left with no values and no children are pruned.
   */
  remove(pattern: string, value: T): boolean {
    const words = this.split(pattern);
    const path: TrieNode<T>[] = [this.root];
    let node: TrieNode<T> | undefined = this.root;
    for (const word of words) {
      node = this.existingChildOf(node, word);
      if (node === undefined) return false;
      path.push(node);
    }
    const count = node.values?.get(value);
    if (count === undefined) return false;
    if (count > 1) {
      node.values!.set(value, count - 1);
    } else {
      node.values!.delete(value);
      if (node.values!.size === 0) node.values = undefined;
    }
    this.copies -= 1;
    for (let depth = words.length; depth > 0 && path[depth]!.isEmpty(); depth--) {
      this.detachChild(path[depth - 1]!, words[depth - 1]!);
      this.nodes -= 1;
    }
    return true;
  }

  /** The distinct values whose patterns match `topic`, each once. A new set on every call. */
  match(topic: string): Set<T> {
    const result = new Set<T>();
    const words = this.split(topic);
    const wordCount = words.length;
    const generation = ++this.generation;
    // [MQTT-4.7.2-1]: the root's wildcard children are skipped for `$` topics.
    const rootWildcardsHidden = this.rules.dollarTopicsHidden && topic.charCodeAt(0) === 0x24; /* $ */
    const multipleMatchesNone = this.rules.multipleMatchesNone;
    // An explicit stack instead of recursion, so deep topics cannot overflow the call stack;
    // kept between calls because allocating it per match cost about a tenth of the time.
    const pendingNodes = this.pendingNodes;
    const pendingPositions = this.pendingPositions;
    pendingNodes[0] = this.root;
    pendingPositions[0] = 0;
    let pending = 1;
    let visits = 0;
    while (pending > 0) {
      pending -= 1;
      const node = pendingNodes[pending]!;
      const position = pendingPositions[pending]!;
      visits += 1;
      const wildcardsAllowed = !(rootWildcardsHidden && node === this.root);
      const multiple = wildcardsAllowed ? node.multipleWildcardChild : undefined;
      if (position === wordCount) {
        collect(node, result);
        if (multiple !== undefined && multipleMatchesNone) pending = this.expandMultiple(multiple, position, wordCount, generation, pending, result);
        continue;
      }
      const literal = node.literalChildren?.get(words[position]!);
      if (literal !== undefined) {
        pendingNodes[pending] = literal;
        pendingPositions[pending] = position + 1;
        pending += 1;
      }
      if (!wildcardsAllowed) continue;
      if (node.singleWildcardChild !== undefined) {
        pendingNodes[pending] = node.singleWildcardChild;
        pendingPositions[pending] = position + 1;
        pending += 1;
      }
      // At least one word remains, which every dialect's multiple wildcard may consume.
      if (multiple !== undefined) pending = this.expandMultiple(multiple, position, wordCount, generation, pending, result);
    }
    this.visits = visits;
    return result;
  }

  /**
   * Schedules a multiple-wildcard node at every word position from `fromPosition` on,
   * each at most once per match (see `expandedFromPosition`). Returns the new stack height.
   */
  private expandMultiple(node: TrieNode<T>, fromPosition: number, wordCount: number, generation: number, pending: number, result: Set<T>): number {
    if (node.literalChildren === undefined && node.singleWildcardChild === undefined && node.multipleWildcardChild === undefined) {
      // A trailing wildcard (always so in MQTT and NATS, where it must be last) matches
      // whatever remains, so there is no need to walk the positions.
      collect(node, result);
      return pending;
    }
    if (node.expandedGeneration !== generation) {
      node.expandedGeneration = generation;
      node.expandedFromPosition = wordCount + 1;
    }
    for (let position = fromPosition; position < node.expandedFromPosition; position++) {
      this.pendingNodes[pending] = node;
      this.pendingPositions[pending] = position;
      pending += 1;
    }
    if (fromPosition < node.expandedFromPosition) node.expandedFromPosition = fromPosition;
    return pending;
  }

  private split(text: string): string[] {
    if (text === '' && this.rules.emptyIsNoWords) return [];
    return text.split(this.rules.separator);
  }

  private childOf(node: TrieNode<T>, word: string): TrieNode<T> {
    const existing = this.existingChildOf(node, word);
    if (existing !== undefined) return existing;
    const child = new TrieNode<T>();
    this.nodes += 1;
    if (word === this.rules.singleWildcard) node.singleWildcardChild = child;
    else if (word === this.rules.multipleWildcard) node.multipleWildcardChild = child;
    else (node.literalChildren ??= new Map()).set(word, child);
    return child;
  }

  private existingChildOf(node: TrieNode<T>, word: string): TrieNode<T> | undefined {
    if (word === this.rules.singleWildcard) return node.singleWildcardChild;
    if (word === this.rules.multipleWildcard) return node.multipleWildcardChild;
    return node.literalChildren?.get(word);
  }

  private detachChild(node: TrieNode<T>, word: string): void {
    if (word === this.rules.singleWildcard) {
      node.singleWildcardChild = undefined;
    } else if (word === this.rules.multipleWildcard) {
      node.multipleWildcardChild = undefined;
    } else {
      node.literalChildren!.delete(word);
      if (node.literalChildren!.size === 0) node.literalChildren = undefined;
    }
  }
}

function collect<T>(node: TrieNode<T>, result: Set<T>): void {
  if (node.values === undefined) return;
  for (const value of node.values.keys()) result.add(value);
}

// Whitespace is not allowed in a NATS subject token (nats-server's IsValidSubject).
const natsWhitespace = /[ \t\n\r\f]/;

function findPatternProblem(rules: DialectRules, dialect: TopicDialect, pattern: string, words: readonly string[]): string | undefined {
  switch (dialect) {
    case 'amqp':
      // AMQP 0-9-1 gives binding keys no syntax beyond words: `a#b` is a literal word, `a..b` has an empty one.
      return undefined;
    case 'mqtt':
      if (pattern === '') return 'a topic filter must be at least one character long [MQTT-4.7.3-1]';
      if (pattern.includes('\u0000')) return 'a topic filter must not contain U+0000 [MQTT-4.7.3-2]';
      for (let index = 0; index < words.length; index++) {
        const level = words[index]!;
        if (level.includes('#')) {
          if (level !== '#') return '"#" must occupy a whole level [MQTT-4.7.1-2]';
          if (index !== words.length - 1) return '"#" must be the last level [MQTT-4.7.1-2]';
        }
        if (level.includes('+') && level !== '+') return '"+" must occupy a whole level [MQTT-4.7.1-3]';
      }
      return undefined;
    case 'nats':
      if (pattern === '') return 'a subject must not be empty';
      for (let index = 0; index < words.length; index++) {
        const token = words[index]!;
        if (token === '') return 'a subject must not have empty tokens';
        if (natsWhitespace.test(token)) return 'a subject must not contain whitespace';
        if (token === rules.multipleWildcard && index !== words.length - 1) return '">" must be the last token';
      }
      return undefined;
  }
}
