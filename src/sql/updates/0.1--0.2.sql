-- autodebit 0.1 -> 0.2: the schema changes.  The replayable files follow them in the built
-- update script (autodebit--0.1--0.2.sql) and bring every function, view, guard, policy, dump
-- rule and grant to 0.2.

-- Reference rows: shipped (not dumped, kept as shipped) or an admin's (dumped).  A row of 0.1
-- is shipped when 0.1 shipped it; every other row is the admin's.
ALTER TABLE autodebit.currency ADD COLUMN seeded boolean NOT NULL DEFAULT false;
UPDATE autodebit.currency SET seeded = true WHERE code = ANY (ARRAY[
	'AED', 'AFN', 'ALL', 'AMD', 'ANG', 'AOA', 'ARS', 'AUD', 'AWG', 'AZN', 'BAM', 'BBD', 'BDT', 'BGN',
	'BHD', 'BIF', 'BMD', 'BND', 'BOB', 'BRL', 'BSD', 'BTN', 'BWP', 'BYN', 'BZD', 'CAD', 'CDF', 'CHF',
	'CLP', 'CNY', 'COP', 'CRC', 'CUP', 'CVE', 'CZK', 'DJF', 'DKK', 'DOP', 'DZD', 'EGP', 'ERN', 'ETB',
	'EUR', 'FJD', 'FKP', 'GBP', 'GEL', 'GHS', 'GIP', 'GMD', 'GNF', 'GTQ', 'GYD', 'HKD', 'HNL', 'HTG',
	'HUF', 'IDR', 'ILS', 'INR', 'IQD', 'IRR', 'ISK', 'JMD', 'JOD', 'JPY', 'KES', 'KGS', 'KHR', 'KMF',
	'KRW', 'KWD', 'KYD', 'KZT', 'LAK', 'LBP', 'LKR', 'LRD', 'LSL', 'LYD', 'MAD', 'MDL', 'MGA', 'MKD',
	'MMK', 'MNT', 'MOP', 'MRU', 'MUR', 'MVR', 'MWK', 'MXN', 'MYR', 'MZN', 'NAD', 'NGN', 'NIO', 'NOK',
	'NPR', 'NZD', 'OMR', 'PAB', 'PEN', 'PGK', 'PHP', 'PKR', 'PLN', 'PYG', 'QAR', 'RON', 'RSD', 'RUB',
	'RWF', 'SAR', 'SBD', 'SCR', 'SDG', 'SEK', 'SGD', 'SHP', 'SLE', 'SOS', 'SRD', 'SSP', 'STN', 'SVC',
	'SZL', 'THB', 'TJS', 'TMT', 'TND', 'TOP', 'TRY', 'TTD', 'TWD', 'TZS', 'UAH', 'UGX', 'USD', 'UYU',
	'UZS', 'VES', 'VND', 'VUV', 'WST', 'XAF', 'XCD', 'XOF', 'XPF', 'YER', 'ZAR', 'ZMW']);
ALTER TABLE autodebit.wallet ADD COLUMN seeded boolean NOT NULL DEFAULT false;
UPDATE autodebit.wallet SET seeded = true WHERE site_name = ANY (ARRAY[
	'ALIPAY_CN', 'ALIPAY_HK', 'MPAY', 'DANA', 'PAYPAY', 'BOOST',
	'TNG', 'GRABPAY_MY', 'HIPAY', 'GCASH', 'MAYA', 'GRABPAY_PH',
	'GRABPAY_SG', 'KAKAOPAY', 'NAVERPAY', 'TOSSPAY', 'RABBIT_LINE_PAY', 'TRUEMONEY',
	'KPLUS', 'DIRECT_DEBIT_SIAMCOMMERCIALBANK', 'DIRECT_DEBIT_KRUNGTHAIBANK', 'ACH_DIRECT_DEBIT', 'ZALOPAY', 'MOMO',
	'VIETTELMONEY', 'JKOPAY', 'BKASH', 'EASYPAISA', 'DIRECTDEBIT_YAPILY', 'ANTOM_BIZ_ACCOUNT'])
	AND customer_belongs_to = site_name;

-- Tenancy: who acts for which merchant.
CREATE TABLE autodebit.merchant_grant (
	merchant_id			bigint NOT NULL REFERENCES autodebit.merchant ON DELETE CASCADE,
	role				regrole NOT NULL,
	granted_at			timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (merchant_id, role)
);

-- Notifications: once per merchant; a verified body that cannot be stored is kept as rejected.
ALTER TABLE autodebit.notification DROP CONSTRAINT notification_body_sha256_key;
ALTER TABLE autodebit.notification ADD CONSTRAINT notification_merchant_id_body_sha256_key
	UNIQUE (merchant_id, body_sha256);
ALTER TABLE autodebit.notification ALTER COLUMN body DROP NOT NULL;
ALTER TABLE autodebit.notification ADD COLUMN problem text;
ALTER TABLE autodebit.notification ADD CONSTRAINT notification_rejected_check
	CHECK ((outcome = 'rejected') = (body IS NULL AND problem IS NOT NULL));

-- Wire fidelity: a settlement currency and a refund notify URL per merchant; the OS of an
-- APP or WAP authorization, for pay's env.
ALTER TABLE autodebit.merchant ADD COLUMN settlement_currency text CHECK (settlement_currency ~ '^[A-Z]{3}$');
ALTER TABLE autodebit.merchant ADD COLUMN refund_notify_url text CHECK (length(refund_notify_url) <= 2048);
ALTER TABLE autodebit.agreement ADD COLUMN os_type text;
UPDATE autodebit.agreement a SET os_type = s.os_type
FROM autodebit.consult_session s WHERE s.agreement_id = a.id AND s.os_type IS NOT NULL;

-- Objects whose shape changed: the replayable files create them again.
DROP VIEW autodebit.queue;
DROP FUNCTION autodebit._open_notification(text, text, text, text, text, text);
DROP FUNCTION @extschema@.autodebit_merchant_set(text, text, text, text, integer, text, text, text);
-- the acquirer calls take the merchant's row instead of five of its columns
DROP FUNCTION autodebit._exchange(text, text, text, text, integer, text, text, jsonb, bytea, text, text, jsonb);
DROP FUNCTION autodebit._exchange_many(text, text, text, text, integer, text, text[], jsonb[], bytea[], text[],
	jsonb[], integer, integer);

-- An order's attempts are found through the unique (merchant_id, order_ref, attempt) index; the
-- plain (merchant_id, order_ref) index repeated it and cost every payment insert an index entry.
DROP INDEX autodebit.payment_order;

-- A payment's merchant, currency and agreement are checked by the pay path and guarded against
-- deletion (05_guards.sql) instead of by foreign keys, whose KEY SHARE locks on the one merchant
-- row made a MultiXact for every pair of concurrent pays, and on the agreement's row a WAL
-- record for every pay.
ALTER TABLE autodebit.payment DROP CONSTRAINT payment_merchant_id_fkey,
	DROP CONSTRAINT payment_currency_fkey, DROP CONSTRAINT payment_agreement_id_fkey;

-- A new attempt is stored QUEUED by _queue_payment; a synchronous pay stores its row with the
-- answer (_pay_attempt), so _new_payment's deferred choice has gone.
DROP FUNCTION autodebit._new_payment(autodebit.merchant, autodebit.agreement, text, integer, bigint, text, text, boolean);
