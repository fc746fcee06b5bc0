import { useState } from 'preact/hooks';
import { apiPath, describeError } from '../api/api-client.js';
import { useApi } from '../app/api-context.js';
import { CheckboxField, DurationField, durationMs, emptyDuration, integerOf, NumberField, TextField, type DurationValue } from '../components/form-fields.js';
import { notify } from '../components/notices.js';
import { VhostField } from '../components/vhost-field.js';

interface StreamFields {
  vhost: string;
  name: string;
  partitions: string;
  durable: boolean;
  retentionAge: DurationValue;
  retentionBytes: string;
  retentionMessages: string;
}

const EMPTY: StreamFields = { vhost: '/', name: '', partitions: '1', durable: true, retentionAge: emptyDuration('d'), retentionBytes: '', retentionMessages: '' };

/** Declares a stream (`PUT /api/streams/{vhost}/{name}`): partitions and retention by age, bytes and count (per partition). */
export function DeclareStreamForm({ onDeclared }: { onDeclared: () => void }) {
  const api = useApi();
  const [fields, setFields] = useState<StreamFields>(EMPTY);
  const set = <Key extends keyof StreamFields>(key: Key) => (value: StreamFields[Key]) => setFields((current) => ({ ...current, [key]: value }));

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const body: Record<string, unknown> = { durable: fields.durable, partitions: integerOf(fields.partitions) ?? 1 };
    const retentionMs = durationMs(fields.retentionAge);
    if (retentionMs !== undefined) body['retention_ms'] = retentionMs;
    const retentionBytes = integerOf(fields.retentionBytes);
    if (retentionBytes !== undefined) body['retention_bytes'] = retentionBytes;
    const retentionMessages = integerOf(fields.retentionMessages);
    if (retentionMessages !== undefined) body['retention_messages'] = retentionMessages;
    try {
      await api.put(apiPath`/streams/${fields.vhost}/${fields.name}`, body);
      notify('success', `Stream ${fields.name} declared`);
      setFields((current) => ({ ...EMPTY, vhost: current.vhost }));
      onDeclared();
    } catch (error) {
      notify('error', `Declare failed: ${describeError(error)}`);
    }
  };

  return (
    <form class="form" onSubmit={(event) => void submit(event)} data-testid="declare-stream-form">
      <div class="form-row">
        <VhostField value={fields.vhost} onChange={set('vhost')} />
        <TextField label="Name" value={fields.name} onInput={set('name')} required monospace testId="stream-name" />
        <NumberField label="Partitions" value={fields.partitions} onInput={set('partitions')} min={1} max={1024} />
        <CheckboxField label="Durable" hint="On disk, survives a restart" checked={fields.durable} onChange={set('durable')} />
      </div>
      <div class="form-grid">
        <DurationField label="Keep messages for" hint="Per partition, in whole segments" value={fields.retentionAge} onChange={set('retentionAge')} />
        <NumberField label="Keep at most bytes" hint="Per partition" value={fields.retentionBytes} onInput={set('retentionBytes')} min={1} />
        <NumberField label="Keep at most messages" hint="Per partition" value={fields.retentionMessages} onInput={set('retentionMessages')} min={1} />
      </div>
      <div class="actions">
        <button type="submit" class="button button-primary">
          Declare stream
        </button>
      </div>
    </form>
  );
}
