/** The AMQP reply code amqplib puts on a channel or connection error (`error.code`), or undefined. */
export function replyCodeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
