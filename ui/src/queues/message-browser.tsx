import { useState } from 'preact/hooks';
import { apiPath, describeError } from '../api/api-client.js';
import type { BrowsedMessage } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { confirmAction } from '../components/confirm-dialog.js';
import { NumberField, SelectField } from '../components/form-fields.js';
import { notify } from '../components/notices.js';
import { MessageList } from '../messages/message-list.js';

type AckMode = 'peek' | 'ack_requeue_true' | 'ack_requeue_false' | 'reject_requeue_false';

const MODES: ReadonlyArray<readonly [AckMode, string]> = [
  ['peek', 'Peek (leave them in place)'],
  ['ack_requeue_true', 'Get and requeue (marks them redelivered)'],
  ['ack_requeue_false', 'Get and remove'],
  ['reject_requeue_false', 'Get and dead-letter'],
];

/** Bodies longer than this are cut in the browser (the size shown is the whole body's). */
const TRUNCATE_BYTES = 50_000;

/**
 * Shows the messages at the head of a queue (`POST /api/queues/…/get`). Peek
 * is the default and changes nothing; the modes that remove messages ask first.
 */
export function MessageBrowser({ vhost, queue, onChanged }: { vhost: string; queue: string; onChanged: () => void }) {
  const api = useApi();
  const [count, setCount] = useState('10');
  const [mode, setMode] = useState<AckMode>('peek');
  const [messages, setMessages] = useState<readonly BrowsedMessage[] | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const wanted = Math.max(1, Math.min(1_000, Number(count) || 1));
    if (mode === 'ack_requeue_false' || mode === 'reject_requeue_false') {
      const confirmed = await confirmAction({
        title: mode === 'ack_requeue_false' ? 'Remove messages?' : 'Dead-letter messages?',
        message: `Up to ${wanted} messages will be taken from queue “${queue}” ${mode === 'ack_requeue_false' ? 'and deleted' : 'and sent to its dead-letter exchange'}. This cannot be undone.`,
        confirmLabel: mode === 'ack_requeue_false' ? 'Remove messages' : 'Dead-letter messages',
      });
      if (!confirmed) return;
    }
    setBusy(true);
    try {
      const answer = await api.post<BrowsedMessage[]>(apiPath`/queues/${vhost}/${queue}/get`, { count: wanted, ackmode: mode, encoding: 'auto', truncate: TRUNCATE_BYTES });
      setMessages(answer);
      if (mode !== 'peek') onChanged();
    } catch (error) {
      notify('error', `Get failed: ${describeError(error)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div data-testid="message-browser">
      <form class="form" onSubmit={(event) => void submit(event)}>
        <div class="form-row">
          <NumberField label="Messages" value={count} onInput={setCount} min={1} max={1_000} />
          <SelectField label="Mode" value={mode} onChange={setMode} options={MODES} testId="browse-mode" />
        </div>
        <div class="actions">
          <button type="submit" class="button button-primary" disabled={busy} data-testid="browse-submit">
            {mode === 'peek' ? 'Show messages' : 'Get messages'}
          </button>
        </div>
      </form>
      {messages !== null && <MessageList messages={messages} />}
    </div>
  );
}
