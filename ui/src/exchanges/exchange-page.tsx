import { apiPath, describeError } from '../api/api-client.js';
import { DEFAULT_EXCHANGE_PATH_NAME, type Binding, type Exchange } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { navigate, routeHref } from '../app/hash-route.js';
import { usePoll } from '../app/use-poll.js';
import { AddBindingForm } from '../bindings/add-binding-form.js';
import { BindingTable } from '../bindings/binding-table.js';
import { Badges } from '../components/badges.js';
import { confirmAction } from '../components/confirm-dialog.js';
import { LoadError } from '../components/load-error.js';
import { notify } from '../components/notices.js';
import { PageHeader } from '../components/page-header.js';
import { StatList } from '../components/stat-list.js';
import { PublishForm } from '../messages/publish-form.js';

/** One exchange (by its path name; `amq.default` is the default exchange): bindings from and to it, publish; delete. */
export function ExchangePage({ vhost, name }: { vhost: string; name: string }) {
  const api = useApi();
  const key = `${vhost}\u0000${name}`;
  const isDefault = name === DEFAULT_EXCHANGE_PATH_NAME;
  const builtIn = name.startsWith('amq.');
  const poll = usePoll(() => api.get<Exchange>(apiPath`/exchanges/${vhost}/${name}`), 5_000, key);
  const from = usePoll(() => api.get<Binding[]>(apiPath`/exchanges/${vhost}/${name}/bindings/source`), 5_000, key);
  const to = usePoll(() => api.get<Binding[]>(apiPath`/exchanges/${vhost}/${name}/bindings/destination`), 5_000, key);
  const exchange = poll.data;
  const title = isDefault ? '(default exchange)' : name;

  const remove = async (): Promise<void> => {
    const confirmed = await confirmAction({
      title: `Delete exchange ${name}?`,
      message: `Exchange “${name}” in vhost “${vhost}” and its ${exchange?.bindings_from ?? 0} bindings will be deleted. Publishers to it will fail. This cannot be undone.`,
      confirmLabel: 'Delete exchange',
    });
    if (!confirmed) return;
    try {
      await api.delete(apiPath`/exchanges/${vhost}/${name}`);
      notify('success', `Exchange ${name} deleted`);
      navigate(routeHref('exchanges'));
    } catch (error) {
      notify('error', `Delete failed: ${describeError(error)}`);
    }
  };

  const refreshBindings = (): void => {
    from.refresh();
    to.refresh();
    poll.refresh();
  };

  return (
    <section>
      <PageHeader title={title} kind={`Exchange in vhost ${vhost}`}>
        {!builtIn && (
          <button type="button" class="button button-danger" onClick={() => void remove()} data-testid="delete-exchange">
            Delete
          </button>
        )}
      </PageHeader>
      <LoadError error={poll.error} />
      {exchange && <Badges flags={{ durable: exchange.durable, 'auto-delete': exchange.auto_delete, internal: exchange.internal }} />}
      <StatList
        stats={[
          { label: 'Type', value: exchange?.type ?? '–' },
          { label: 'Bindings', value: exchange?.bindings_from ?? '–' },
          { label: 'Alternate exchange', value: exchange?.alternate_exchange ?? 'none' },
          ...(exchange?.topic_dialect ? [{ label: 'Topic dialect', value: exchange.topic_dialect }] : []),
        ]}
      />
      {isDefault ? (
        <p class="form-note">The default exchange routes each message to the queue or stream named by its routing key; it takes no bindings.</p>
      ) : (
        <>
          <div class="panel">
            <h2>Bindings from this exchange</h2>
            <BindingTable bindings={from.data} onChanged={refreshBindings} testId="bindings-from" />
            <details class="more">
              <summary>Add a binding</summary>
              <AddBindingForm vhost={vhost} fixed={{ side: 'source', exchange: name }} onBound={refreshBindings} />
            </details>
          </div>
          {(to.data?.length ?? 0) > 0 && (
            <div class="panel">
              <h2>Bindings to this exchange</h2>
              <BindingTable bindings={to.data} onChanged={refreshBindings} />
            </div>
          )}
        </>
      )}
      {!exchange?.internal && (
        <div class="panel">
          <h2>Publish a message</h2>
          <PublishForm vhost={vhost} exchange={name} />
        </div>
      )}
    </section>
  );
}
