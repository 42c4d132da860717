-- What \dx+, \df+ and \d+ say about each table, view and API function (the README has more).
-- Replayable: included in the install script and in every update script.

COMMENT ON SCHEMA autodebit IS 'autodebit: tables, views and internals (the API functions are in the extension''s schema)';

COMMENT ON TABLE autodebit.currency IS 'ISO 4217 currencies: minor units and the multiple an amount must be; shipped rows are kept as shipped, an admin may add rows';
COMMENT ON TABLE autodebit.wallet IS 'my.getSiteInfo site names and the customerBelongsTo each maps to; shipped rows are kept as shipped, an admin may add rows';
COMMENT ON TABLE autodebit.merchant IS 'Registered Antom clients: gateway, key file name, acquirer public key, app id, notify URLs (autodebit_merchant_set)';
COMMENT ON TABLE autodebit.merchant_grant IS 'Which roles act for which merchant (autodebit_merchant_grant); read autodebit.merchant_grants';
COMMENT ON TABLE autodebit.consult_session IS 'One consult: the auth_state, who it is for, until when it can be used, and the agreement it made';
COMMENT ON TABLE autodebit.agreement IS 'Authorizations, with their tokens sealed (AES-256-GCM); read autodebit.agreements';
COMMENT ON TABLE autodebit.payment IS 'Payment attempts with the exact request sent and the sealed token; read autodebit.payments';
COMMENT ON TABLE autodebit.exchange_log IS 'Append-only: every acquirer call (API, request id, HTTP status, outcome, result code, latency), never a token or a body';
COMMENT ON TABLE autodebit.refund IS 'Refunds; read autodebit.refunds';
COMMENT ON TABLE autodebit.item_error IS 'What reconcile or the runner could not handle, and alarms for a person (ZD503, ZD504, ZD505)';
COMMENT ON TABLE autodebit.notification IS 'Every verified notification, once per merchant: kind, type, reference, body without secrets, outcome';
COMMENT ON TABLE autodebit.journal_cursor IS 'How far reconcile has read the send journal in this cluster''s WAL (not dumped)';
COMMENT ON TABLE autodebit.journal_retry IS 'Send journal records read but not adopted yet, retried with back-off';
COMMENT ON TABLE autodebit.transition IS 'The state machines: every status move each kind of object may make, and why';
COMMENT ON TABLE autodebit.schedule IS 'Recurring debits; read autodebit.schedules';
COMMENT ON TABLE autodebit.schedule_period IS 'Each period of a schedule: due, status (OPEN, RETRY, PAID, FAILED, SKIPPED), failures, next attempt';
COMMENT ON TABLE autodebit.events IS 'Every status change of a payment, refund, agreement or schedule, appended in the transaction that made it (read them with autodebit_events)';
COMMENT ON TABLE autodebit.event_consumer IS 'Where each named event consumer has read to, and the role it belongs to';
COMMENT ON TABLE autodebit.run IS 'One row per autodebit_run(): claimed, sent, succeeded, failed, unknown, throttled, recovered, duration';

COMMENT ON VIEW autodebit.agreements IS 'Authorizations without tokens, of the merchants the reader acts for';
COMMENT ON VIEW autodebit.payments IS 'Payment attempts without request bodies or tokens, of the merchants the reader acts for';
COMMENT ON VIEW autodebit.refunds IS 'Refunds, of the merchants the reader acts for';
COMMENT ON VIEW autodebit.schedules IS 'Recurring debits with when the next period falls due, of the merchants the reader acts for';
COMMENT ON VIEW autodebit.queue IS 'Open payments by merchant and status: count, oldest, age of the oldest';
COMMENT ON VIEW autodebit.merchant_grants IS 'Who acts for which merchant (admins)';
COMMENT ON VIEW autodebit.health IS 'What an operator asks: open and unknown payments, give-backs, journal records waiting, alarms, runs, expiring tokens, notifications not applied; each with its threshold and ok or alert';
COMMENT ON VIEW autodebit.data_key_use IS 'How many stored tokens each data key version seals (admins; for retiring a key)';

COMMENT ON FUNCTION @extschema@.autodebit_merchant_set(text, text, text, text, integer, text, text, text, text, text) IS 'Register or update a merchant''s Antom client after checking its URLs and keys (admins)';
COMMENT ON FUNCTION @extschema@.autodebit_merchant_grant(text, name) IS 'Let a role and its members act for a merchant (admins)';
COMMENT ON FUNCTION @extschema@.autodebit_merchant_revoke(text, name) IS 'Stop a role acting for a merchant (admins)';
COMMENT ON FUNCTION @extschema@.autodebit_consult(text, text, text, text, text, text) IS 'Start an authorization: an auth_state and the URL for my.signContract';
COMMENT ON FUNCTION @extschema@.autodebit_apply_token(text, text) IS 'Exchange the authCode the wallet returned for tokens and store the agreement';
COMMENT ON FUNCTION @extschema@.autodebit_pay(text, text, bigint, text, text, text, text, boolean) IS 'Debit a customer for an order, once: sync, or deferred to autodebit_run()';
COMMENT ON FUNCTION @extschema@.autodebit_revoke(text, text, text) IS 'End a customer''s authorization at the acquirer';
COMMENT ON FUNCTION @extschema@.autodebit_inquire(text) IS 'Ask the acquirer what became of a payment and record it';
COMMENT ON FUNCTION @extschema@.autodebit_cancel(text) IS 'Cancel a payment at the acquirer (the money goes back if it was taken)';
COMMENT ON FUNCTION @extschema@.autodebit_refund(text, bigint, text) IS 'Refund part or all of a successful payment';
COMMENT ON FUNCTION @extschema@.autodebit_inquire_refund(text) IS 'Ask the acquirer what became of a refund and record it';
COMMENT ON FUNCTION @extschema@.autodebit_refresh_token(text, text, text) IS 'Refresh a customer''s access token now';
COMMENT ON FUNCTION @extschema@.autodebit_reconcile() IS 'Settle everything left open: the send journal, unknown payments and refunds, give-backs, expiries (admins)';
COMMENT ON FUNCTION @extschema@.autodebit_handle_notification(text, text, text, text, bytea) IS 'Verify, record once and apply a notification from the acquirer (autodebit-notifyd calls it)';
COMMENT ON FUNCTION @extschema@.autodebit_handle_notification(text, text, text, text, text) IS 'autodebit_handle_notification for a body held as text';
COMMENT ON FUNCTION @extschema@.autodebit_reseal_tokens(integer) IS 'Seal again under the current data key the tokens sealed under an older one (admins)';
COMMENT ON FUNCTION @extschema@.autodebit_schedule(text, bigint, text, text, interval, timestamptz, text, text, boolean, interval[]) IS 'A recurring debit for a customer, with dunning';
COMMENT ON FUNCTION @extschema@.autodebit_schedule_pause(bigint) IS 'Pause a schedule';
COMMENT ON FUNCTION @extschema@.autodebit_schedule_resume(bigint) IS 'Resume a schedule (periods that fell due while paused are not charged)';
COMMENT ON FUNCTION @extschema@.autodebit_schedule_cancel(bigint) IS 'Cancel a schedule for good';
COMMENT ON PROCEDURE @extschema@.autodebit_run(integer) IS 'What pg_cron calls every minute: open due periods, send queued payments in batches, reconcile, refresh (admins)';
COMMENT ON FUNCTION @extschema@.autodebit_events(text, integer) IS 'The next payment events for a named consumer, its position moved past them in the caller''s transaction';
COMMENT ON FUNCTION @extschema@.autodebit_metrics() IS 'autodebit.health and payments by status in the Prometheus text exposition format';
