import { useState } from 'preact/hooks';
import { apiPath, describeError } from '../api/api-client.js';
import type { BrowsedMessage } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { NumberField, SelectField, TextField } from '../components/form-fields.js';
import { notify } from '../components/notices.js';
import { MessageList } from '../messages/message-list.js';

/** Reads messages of one partition (`GET /api/streams/…/messages`); streams are replayed, so nothing is removed. */
export function StreamReader({ vhost, stream, partitions }: { vhost: string; stream: string; partitions: number }) {
  const api = useApi();
  const [partition, setPartition] = useState('0');
  const [from, setFrom] = useState<'first' | 'last' | 'offset'>('last');
  const [offset, setOffset] = useState('0');
  const [count, setCount] = useState('10');
  const [messages, setMessages] = useState<readonly BrowsedMessage[] | null>(null);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const start = from === 'offset' ? String(Math.max(0, Math.floor(Number(offset) || 0))) : from;
    const wanted = String(Math.max(1, Math.min(1_000, Math.floor(Number(count) || 10))));
    try {
      setMessages(await api.get<BrowsedMessage[]>(`${apiPath`/streams/${vhost}/${stream}/messages`}?partition=${encodeURIComponent(partition)}&from=${start}&count=${wanted}&truncate=50000`));
    } catch (error) {
      notify('error', `Read failed: ${describeError(error)}`);
    }
  };

  return (
    <div data-testid="stream-reader">
      <form class="form" onSubmit={(event) => void submit(event)}>
        <div class="form-row">
          <SelectField label="Partition" value={partition} onChange={setPartition} options={Array.from({ length: partitions }, (_, index) => [String(index), String(index)] as const)} />
          <SelectField
            label="From"
            value={from}
            onChange={setFrom}
            options={[
              ['last', 'Newest'],
              ['first', 'Oldest'],
              ['offset', 'Offset…'],
            ]}
          />
          {from === 'offset' && <TextField label="Offset" value={offset} onInput={setOffset} pattern="[0-9]+" />}
          <NumberField label="Messages" value={count} onInput={setCount} min={1} max={1_000} />
        </div>
        <div class="actions">
          <button type="submit" class="button button-primary">
            Read messages
          </button>
        </div>
      </form>
      {messages !== null && <MessageList messages={messages} />}
    </div>
  );
}
