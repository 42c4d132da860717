/*
 * store.c
 *	  The wallet's state: consult sessions, auth codes, tokens, users with
 *	  balances and limits, payments and refunds, and the ledger.  Records are
 *	  jansson objects kept in jansson maps; every access holds store_lock.
 */
#include "sandbox.h"

#include <string.h>

pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
json_t	   *store_sessions;
json_t	   *store_codes;
json_t	   *store_tokens;
json_t	   *store_refresh;
json_t	   *store_users;
json_t	   *store_payments;
json_t	   *store_payment_ids;
json_t	   *store_refunds;
json_t	   *store_refund_ids;
json_t	   *ledger_payments;
json_t	   *ledger_cancels;
json_t	   *ledger_refunds;
json_t	   *store_stats;

/* Create the empty maps. */
void
store_init(void)
{
	store_sessions = json_object();
	store_codes = json_object();
	store_tokens = json_object();
	store_refresh = json_object();
	store_users = json_object();
	store_payments = json_object();
	store_payment_ids = json_object();
	store_refunds = json_object();
	store_refund_ids = json_object();
	ledger_payments = json_array();
	ledger_cancels = json_array();
	ledger_refunds = json_array();
	store_stats = json_object();
}

/* The user with this login id, created with the default balance if new. */
json_t *
store_user(const char *login)
{
	json_t	   *u = json_object_get(store_users, login);

	if (u == NULL)
	{
		u = json_pack("{s:s,s:{},s:n}", "userLoginId", login, "balance", "singleLimit");
		json_object_set_new(store_users, login, u);
	}
	return u;
}

/* A user's balance in one currency (the default balance until first touched). */
long long
user_balance(json_t *user, const char *currency)
{
	json_t	   *b = json_object_get(json_object_get(user, "balance"), currency);

	return b ? json_integer_value(b) : cfg.default_balance;
}

/* Add delta (negative to debit) to a user's balance in one currency. */
void
user_add(json_t *user, const char *currency, long long delta)
{
	json_object_set_new(json_object_get(user, "balance"), currency,
						json_integer(user_balance(user, currency) + delta));
}

/* Is a payment in a final state (anything but PROCESSING)? */
bool
payment_is_final(json_t *payment)
{
	return strcmp(json_string_value(json_object_get(payment, "status")), "PROCESSING") != 0;
}

/* Settle a PROCESSING payment whose settle time has come. */
void
payment_settle_if_due(json_t *payment)
{
	json_t	   *user;
	const char *currency;
	long long	amount;
	char		t[40];

	if (payment_is_final(payment) ||
		json_real_value(json_object_get(payment, "settleAt")) > now_epoch())
		return;
	user = store_user(json_string_value(json_object_get(payment, "userLoginId")));
	currency = json_string_value(json_object_get(payment, "currency"));
	amount = json_integer_value(json_object_get(payment, "amount"));
	if (json_is_true(json_object_get(payment, "settleToSuccess")) &&
		user_balance(user, currency) >= amount)
	{
		user_add(user, currency, -amount);
		iso_time(now_epoch(), false, t, sizeof(t));
		json_object_set_new(payment, "status", json_string("SUCCESS"));
		json_object_set_new(payment, "resultCode", json_string("SUCCESS"));
		json_object_set_new(payment, "resultMessage", json_string("success"));
		json_object_set_new(payment, "paymentTime", json_string(t));
	}
	else
	{
		json_object_set_new(payment, "status", json_string("FAIL"));
		json_object_set_new(payment, "resultCode", json_string("USER_BALANCE_NOT_ENOUGH"));
		json_object_set_new(payment, "resultMessage", json_string("the user's balance is not enough"));
	}
}

/* Settle a PROCESSING refund whose settle time has come. */
void
refund_settle_if_due(json_t *refund)
{
	char		t[40];

	if (strcmp(json_string_value(json_object_get(refund, "status")), "PROCESSING") != 0 ||
		json_real_value(json_object_get(refund, "settleAt")) > now_epoch())
		return;
	iso_time(now_epoch(), false, t, sizeof(t));
	json_object_set_new(refund, "status", json_string("SUCCESS"));
	json_object_set_new(refund, "refundTime", json_string(t));
}

/* Count one answer by API and result code. */
void
stats_count(const char *api, const char *code)
{
	json_t	   *per = json_object_get(store_stats, api);
	json_t	   *n;

	if (per == NULL)
	{
		per = json_object();
		json_object_set_new(store_stats, api, per);
	}
	n = json_object_get(per, code);
	json_object_set_new(per, code, json_integer(n ? json_integer_value(n) + 1 : 1));
}
