/**
 * A typed header value as the core sees it, whatever protocol carried it:
 * AMQP field-table values, MQTT 5 user properties, Kafka record headers and
 * SQS message attributes are all mapped onto this one shape by their front end.
 * `null` stands for AMQP's void value. Values are treated as immutable once handed to the core.
 */
export type HeaderValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | readonly HeaderValue[]
  | { readonly [key: string]: HeaderValue };

/** A table of named header values: message headers, or binding arguments. */
export type HeaderTable = { readonly [key: string]: HeaderValue };

/**
 * Type-aware equality of two header values, deep for arrays and tables.
 *
 * - A string never equals a byte array, a boolean never equals a number.
 * - Numbers compare by mathematical value, so `5`, `5.0` and `5n` are equal: a
 *   front end may decode the same integer as a number or a bigint depending on
 *   its wire width, and RabbitMQ compares integers regardless of width too.
 *   `0` equals `-0`, and `NaN` equals `NaN` so that equality stays reflexive.
 * - Tables are equal when they have the same own keys with equal values; key order is irrelevant.
 */
export function headerValueEquals(left: HeaderValue, right: HeaderValue): boolean {
  if (left === right) return true;
  switch (typeof left) {
    case 'number':
    case 'bigint':
      return numbersEqual(left, right);
    case 'string':
    case 'boolean':
      // Identical primitives were caught above; anything else differs in value or type.
      return false;
    default:
      break;
  }
  if (left === null || right === null || typeof right !== 'object') return false;
  if (left instanceof Uint8Array) return right instanceof Uint8Array && bytesEqual(left, right);
  if (right instanceof Uint8Array) return false;
  if (Array.isArray(left)) return Array.isArray(right) && arraysEqual(left, right);
  if (Array.isArray(right)) return false;
  return tablesEqual(left as HeaderTable, right as HeaderTable);
}

function numbersEqual(left: number | bigint, right: HeaderValue): boolean {
  if (typeof right !== 'number' && typeof right !== 'bigint') return false;
  if (typeof left === 'number' && typeof right === 'number') {
    return left === right || (Number.isNaN(left) && Number.isNaN(right));
  }
  // Loose equality between a number and a bigint compares mathematical values exactly
  // (1.5 == 1n is false, 2 ** 64 == 2n ** 64n is true) without rounding the bigint.
  // eslint-disable-next-line eqeqeq
  return left == right;
}

function bytesEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left.byteLength !== right.byteLength) return false;
  for (let index = 0; index < left.byteLength; index++) {
    if (left[index] !== right[index]) return false;
  }
  return true;
}

function arraysEqual(left: readonly HeaderValue[], right: readonly HeaderValue[]): boolean {
  if (left.length !== right.length) return false;
  for (let index = 0; index < left.length; index++) {
    if (!headerValueEquals(left[index]!, right[index]!)) return false;
  }
  return true;
}

function tablesEqual(left: HeaderTable, right: HeaderTable): boolean {
  const leftKeys = Object.keys(left);
  if (leftKeys.length !== Object.keys(right).length) return false;
  for (const key of leftKeys) {
    // Own keys only: an inherited `toString` must not count as a header.
    if (!Object.hasOwn(right, key)) return false;
    if (!headerValueEquals(left[key]!, right[key]!)) return false;
  }
  return true;
}
