/*
 * admin.c
 *	  /sandbox/admin/ endpoints for tests and operators: the ledger, faults,
 *	  in-wallet revocation, wallet users, notifications and counters.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Serialize v (reference taken) into *out; returns status. */
static int
reply(int status, json_t *v, char **out)
{
	*out = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(v);
	return status;
}

/* An error reply {"error": message}. */
static int
error_reply(int status, const char *message, char **out)
{
	return reply(status, json_pack("{s:s}", "error", message), out);
}

/* One ledger entry for a payment, without internal fields. */
static json_t *
ledger_payment(json_t *p)
{
	json_t	   *e = json_object();
	static const char *const keys[] = {
		"clientId", "paymentRequestId", "paymentId", "currency", "amount", "status",
		"resultCode", "userLoginId", "referenceOrderId", "paymentCreateTime",
		"paymentTime", "cancelTime", "refunded", NULL
	};

	for (int i = 0; keys[i]; i++)
		if (json_object_get(p, keys[i]))
			json_object_set(e, keys[i], json_object_get(p, keys[i]));
	return e;
}

/* GET ledger: payments (settled first if due), cancels, refunds. */
static json_t *
ledger(void)
{
	json_t	   *payments = json_array();
	json_t	   *refunds = json_array();
	size_t		i;
	json_t	   *v;

	pthread_mutex_lock(&store_lock);
	json_array_foreach(ledger_payments, i, v)
	{
		payment_settle_if_due(v);
		json_array_append_new(payments, ledger_payment(v));
	}
	json_array_foreach(ledger_refunds, i, v)
	{
		refund_settle_if_due(v);
		json_array_append_new(refunds, json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:O}",
												 "clientId", json_object_get(v, "clientId"),
												 "refundRequestId", json_object_get(v, "refundRequestId"),
												 "refundId", json_object_get(v, "refundId"),
												 "paymentId", json_object_get(v, "paymentId"),
												 "paymentRequestId", json_object_get(v, "paymentRequestId"),
												 "currency", json_object_get(v, "currency"),
												 "amount", json_object_get(v, "amount")));
		json_object_set(json_array_get(refunds, i), "status", json_object_get(v, "status"));
	}
	v = json_pack("{s:o,s:o,s:o}", "payments", payments,
				  "cancels", json_deep_copy(ledger_cancels), "refunds", refunds);
	pthread_mutex_unlock(&store_lock);
	return v;
}

/* POST faults: replace the spec, force the next ones, or clear. */
static int
admin_faults(json_t *req, char **out)
{
	char		err[256];
	json_t	   *spec = json_object_get(req, "spec");
	json_t	   *next = json_object_get(req, "next");

	if (json_is_true(json_object_get(req, "clear")))
		faults_clear();
	if (json_is_string(spec) && !faults_set_spec(json_string_value(spec), err, sizeof(err)))
		return error_reply(400, err, out);
	if (json_is_string(next))
	{
		json_t	   *count = json_object_get(req, "count");

		if (!faults_force(json_string_value(next),
						  json_string_value(json_object_get(req, "api")),
						  count ? (int) json_integer_value(count) : 1, err, sizeof(err)))
			return error_reply(400, err, out);
	}
	return reply(200, faults_describe(), out);
}

/* POST revoke: the user cancels the authorization inside the wallet. */
static int
admin_revoke(json_t *req, char **out)
{
	const char *keys[] = {"accessToken", "authState", "userLoginId"};
	const char *key = NULL;
	const char *value = NULL;
	const char *reason = json_string_value(json_object_get(req, "reason"));
	const char *token;
	json_t	   *agr;
	json_t	   *hits = json_array();
	size_t		i;
	void	   *tmp;
	int			n = 0;

	for (int k = 0; k < 3 && value == NULL; k++)
		if ((value = json_string_value(json_object_get(req, keys[k]))) != NULL)
			key = keys[k];
	if (value == NULL)
	{
		json_decref(hits);
		return error_reply(400, "give accessToken, authState or userLoginId", out);
	}

	pthread_mutex_lock(&store_lock);
	json_object_foreach_safe(store_tokens, tmp, token, agr)
	{
		const char *v = strcmp(key, "accessToken") == 0 ? token :
			json_string_value(json_object_get(agr, key));

		if (v && strcmp(v, value) == 0 &&
			strcmp(json_string_value(json_object_get(agr, "status")), "ACTIVE") == 0)
		{
			json_object_set_new(agr, "status", json_string("REVOKED"));
			json_array_append(hits, agr);
		}
	}
	json_array_foreach(hits, i, agr)
	{
		const char *url = json_string_value(json_object_get(agr, "authNotifyUrl"));

		n++;
		if (url == NULL)
			url = cfg.auth_notify_url;
		if (url)
			notify_auth(url, json_string_value(json_object_get(agr, "clientId")),
						json_pack("{s:s,s:O,s:O,s:O,s:s}",
								  "authorizationNotifyType", "TOKEN_CANCELED",
								  "accessToken", json_object_get(agr, "accessToken"),
								  "authState", json_object_get(agr, "authState"),
								  "userLoginId", json_object_get(agr, "userLoginId"),
								  "reason", reason ? reason : "the user cancelled the authorization in the wallet"));
	}
	pthread_mutex_unlock(&store_lock);
	json_decref(hits);
	return reply(200, json_pack("{s:i}", "revoked", n), out);
}

/* GET or POST users/LOGIN: read or set balances and the single-payment limit. */
static int
admin_user(const char *method, const char *login, json_t *req, char **out)
{
	json_t	   *user;
	json_t	   *copy;

	if (login[0] == '\0')
		return error_reply(404, "no user named", out);
	pthread_mutex_lock(&store_lock);
	if (strcmp(method, "POST") == 0)
	{
		json_t	   *balance = json_object_get(req, "balance");
		json_t	   *limit = json_object_get(req, "singleLimit");
		const char *cur;
		json_t	   *v;

		user = store_user(login);
		json_object_foreach(balance, cur, v)
		{
			if (!currency_known(cur) || !json_is_string(v))
			{
				pthread_mutex_unlock(&store_lock);
				return error_reply(400, "balance must map known currencies to strings of minor units", out);
			}
			json_object_set_new(json_object_get(user, "balance"), cur,
								json_integer(strtoll(json_string_value(v), NULL, 10)));
		}
		if (json_is_string(limit))
			json_object_set_new(user, "singleLimit",
								json_integer(strtoll(json_string_value(limit), NULL, 10)));
		else if (json_is_null(limit))
			json_object_set_new(user, "singleLimit", json_null());
	}
	else if ((user = json_object_get(store_users, login)) == NULL)
	{
		pthread_mutex_unlock(&store_lock);
		return error_reply(404, "no such user", out);
	}
	copy = json_deep_copy(user);
	json_object_set_new(copy, "defaultBalance", json_integer(cfg.default_balance));
	pthread_mutex_unlock(&store_lock);
	return reply(200, copy, out);
}

/* Route one admin request; returns the HTTP status and a JSON body in *out. */
int
admin_handle(const char *method, const char *url, const char *body, size_t len, char **out)
{
	const char *what = url + strlen("/sandbox/admin/");
	json_t	   *req = NULL;
	int			status;

	if (strcmp(method, "POST") == 0)
	{
		req = json_loadb(len ? body : "{}", len ? len : 2, 0, NULL);
		if (!json_is_object(req))
		{
			json_decref(req);
			return error_reply(400, "the body must be a JSON object", out);
		}
	}
	if (strcmp(what, "ledger") == 0 && strcmp(method, "GET") == 0)
		status = reply(200, ledger(), out);
	else if (strcmp(what, "faults") == 0 && strcmp(method, "GET") == 0)
		status = reply(200, faults_describe(), out);
	else if (strcmp(what, "faults") == 0 && req)
		status = admin_faults(req, out);
	else if (strcmp(what, "revoke") == 0 && req)
		status = admin_revoke(req, out);
	else if (strncmp(what, "users/", 6) == 0)
		status = admin_user(method, what + 6, req, out);
	else if (strcmp(what, "notifications") == 0 && strcmp(method, "GET") == 0)
		status = reply(200, notify_describe(), out);
	else if (strcmp(what, "stats") == 0 && strcmp(method, "GET") == 0)
	{
		pthread_mutex_lock(&store_lock);
		status = reply(200, json_deep_copy(store_stats), out);
		pthread_mutex_unlock(&store_lock);
	}
	else
		status = error_reply(404, "no such admin endpoint", out);
	json_decref(req);
	return status;
}
