import { useState } from 'preact/hooks';
import { apiPath, describeError } from '../api/api-client.js';
import type { ExchangeType } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { CheckboxField, SelectField, TextField } from '../components/form-fields.js';
import { notify } from '../components/notices.js';
import { VhostField } from '../components/vhost-field.js';

interface ExchangeFields {
  vhost: string;
  name: string;
  type: ExchangeType;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  alternateExchange: string;
  topicDialect: 'amqp' | 'mqtt' | 'nats';
}

const EMPTY: ExchangeFields = { vhost: '/', name: '', type: 'direct', durable: true, autoDelete: false, internal: false, alternateExchange: '', topicDialect: 'amqp' };

/** Declares an exchange (`PUT /api/exchanges/{vhost}/{name}`); the topic dialect applies to topic exchanges. */
export function DeclareExchangeForm({ onDeclared }: { onDeclared: () => void }) {
  const api = useApi();
  const [fields, setFields] = useState<ExchangeFields>(EMPTY);
  const set = <Key extends keyof ExchangeFields>(key: Key) => (value: ExchangeFields[Key]) => setFields((current) => ({ ...current, [key]: value }));

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const body: Record<string, unknown> = { type: fields.type, durable: fields.durable, auto_delete: fields.autoDelete, internal: fields.internal };
    if (fields.alternateExchange !== '') body['alternate_exchange'] = fields.alternateExchange;
    if (fields.type === 'topic') body['topic_dialect'] = fields.topicDialect;
    try {
      await api.put(apiPath`/exchanges/${fields.vhost}/${fields.name}`, body);
      notify('success', `Exchange ${fields.name} declared`);
      setFields((current) => ({ ...EMPTY, vhost: current.vhost }));
      onDeclared();
    } catch (error) {
      notify('error', `Declare failed: ${describeError(error)}`);
    }
  };

  return (
    <form class="form" onSubmit={(event) => void submit(event)} data-testid="declare-exchange-form">
      <div class="form-row">
        <VhostField value={fields.vhost} onChange={set('vhost')} />
        <TextField label="Name" value={fields.name} onInput={set('name')} required monospace testId="exchange-name" />
        <SelectField
          label="Type"
          value={fields.type}
          onChange={set('type')}
          options={[
            ['direct', 'direct'],
            ['fanout', 'fanout'],
            ['topic', 'topic'],
            ['headers', 'headers'],
          ]}
        />
        {fields.type === 'topic' && (
          <SelectField
            label="Topic dialect"
            value={fields.topicDialect}
            onChange={set('topicDialect')}
            options={[
              ['amqp', 'AMQP (. * #)'],
              ['mqtt', 'MQTT (/ + #)'],
              ['nats', 'NATS (. * >)'],
            ]}
          />
        )}
      </div>
      <div class="form-row">
        <CheckboxField label="Durable" checked={fields.durable} onChange={set('durable')} />
        <CheckboxField label="Auto-delete" hint="Deleted when its last binding goes" checked={fields.autoDelete} onChange={set('autoDelete')} />
        <CheckboxField label="Internal" hint="Reached only through bindings" checked={fields.internal} onChange={set('internal')} />
        <TextField label="Alternate exchange" value={fields.alternateExchange} onInput={set('alternateExchange')} monospace />
      </div>
      <div class="actions">
        <button type="submit" class="button button-primary">
          Declare exchange
        </button>
      </div>
    </form>
  );
}
