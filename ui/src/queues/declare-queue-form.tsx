import { useState } from 'preact/hooks';
import { apiPath, describeError } from '../api/api-client.js';
import type { QueuePolicies } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { CheckboxField, DurationField, durationMs, emptyDuration, integerOf, NumberField, SelectField, TextField, type DurationValue } from '../components/form-fields.js';
import { notify } from '../components/notices.js';
import { VhostField } from '../components/vhost-field.js';

interface QueueFields {
  vhost: string;
  name: string;
  durable: boolean;
  autoDelete: boolean;
  maxLength: string;
  maxLengthBytes: string;
  overflow: '' | NonNullable<QueuePolicies['overflow']>;
  messageTtl: DurationValue;
  expires: DurationValue;
  deadLetterExchange: string;
  deadLetterRoutingKey: string;
  deliveryLimit: string;
  maxPriority: string;
  singleActiveConsumer: boolean;
}

const EMPTY: QueueFields = {
  vhost: '/',
  name: '',
  durable: true,
  autoDelete: false,
  maxLength: '',
  maxLengthBytes: '',
  overflow: '',
  messageTtl: emptyDuration('s'),
  expires: emptyDuration('min'),
  deadLetterExchange: '',
  deadLetterRoutingKey: '',
  deliveryLimit: '',
  maxPriority: '',
  singleActiveConsumer: false,
};

/** Declares a queue (`PUT /api/queues/{vhost}/{name}`) with its flags and policies; empty fields are not set. */
export function DeclareQueueForm({ onDeclared }: { onDeclared: (vhost: string, name: string) => void }) {
  const api = useApi();
  const [fields, setFields] = useState<QueueFields>(EMPTY);
  const [busy, setBusy] = useState(false);
  const set = <Key extends keyof QueueFields>(key: Key) => (value: QueueFields[Key]) => setFields((current) => ({ ...current, [key]: value }));

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const policies: Record<string, unknown> = {};
    const numbers: Array<[keyof QueuePolicies, number | undefined]> = [
      ['max_length', integerOf(fields.maxLength)],
      ['max_length_bytes', integerOf(fields.maxLengthBytes)],
      ['message_ttl_ms', durationMs(fields.messageTtl)],
      ['expires_ms', durationMs(fields.expires)],
      ['delivery_limit', integerOf(fields.deliveryLimit)],
      ['max_priority', integerOf(fields.maxPriority)],
    ];
    for (const [name, value] of numbers) if (value !== undefined) policies[name] = value;
    if (fields.overflow !== '') policies['overflow'] = fields.overflow;
    if (fields.deadLetterExchange !== '') policies['dead_letter_exchange'] = fields.deadLetterExchange;
    if (fields.deadLetterRoutingKey !== '') policies['dead_letter_routing_key'] = fields.deadLetterRoutingKey;
    if (fields.singleActiveConsumer) policies['single_active_consumer'] = true;
    setBusy(true);
    try {
      await api.put(apiPath`/queues/${fields.vhost}/${fields.name}`, { durable: fields.durable, auto_delete: fields.autoDelete, policies });
      notify('success', `Queue ${fields.name} declared`);
      onDeclared(fields.vhost, fields.name);
      setFields((current) => ({ ...EMPTY, vhost: current.vhost }));
    } catch (error) {
      notify('error', `Declare failed: ${describeError(error)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="form" onSubmit={(event) => void submit(event)} data-testid="declare-queue-form">
      <div class="form-row">
        <VhostField value={fields.vhost} onChange={set('vhost')} />
        <TextField label="Name" value={fields.name} onInput={set('name')} required monospace testId="queue-name" />
      </div>
      <div class="form-row">
        <CheckboxField label="Durable" hint="Survives a restart" checked={fields.durable} onChange={set('durable')} />
        <CheckboxField label="Auto-delete" hint="Deleted when its last consumer goes" checked={fields.autoDelete} onChange={set('autoDelete')} />
        <CheckboxField label="Single active consumer" checked={fields.singleActiveConsumer} onChange={set('singleActiveConsumer')} />
      </div>
      <details class="more">
        <summary>Policies</summary>
        <div class="form-grid">
          <NumberField label="Max length" hint="Messages" value={fields.maxLength} onInput={set('maxLength')} />
          <NumberField label="Max length bytes" value={fields.maxLengthBytes} onInput={set('maxLengthBytes')} />
          <SelectField
            label="Overflow"
            value={fields.overflow}
            onChange={set('overflow')}
            options={[
              ['', 'Default (drop head)'],
              ['drop-head', 'Drop oldest'],
              ['reject-publish', 'Reject publish'],
              ['reject-publish-dlx', 'Reject publish and dead-letter'],
            ]}
          />
          <DurationField label="Message TTL" value={fields.messageTtl} onChange={set('messageTtl')} />
          <DurationField label="Expires when unused" value={fields.expires} onChange={set('expires')} />
          <TextField label="Dead-letter exchange" value={fields.deadLetterExchange} onInput={set('deadLetterExchange')} monospace />
          <TextField label="Dead-letter routing key" value={fields.deadLetterRoutingKey} onInput={set('deadLetterRoutingKey')} monospace />
          <NumberField label="Delivery limit" value={fields.deliveryLimit} onInput={set('deliveryLimit')} min={1} />
          <NumberField label="Max priority" value={fields.maxPriority} onInput={set('maxPriority')} max={255} />
        </div>
      </details>
      <div class="actions">
        <button type="submit" class="button button-primary" disabled={busy} data-testid="declare-queue-submit">
          Declare queue
        </button>
      </div>
    </form>
  );
}
