/*
 * api.c
 *	  The eight Auto Debit APIs: validate the request as Antom does, change the
 *	  wallet's state, and build the answer body.  Transport, signatures and
 *	  faults are server.c's business.
 */
#include "sandbox.h"
#include "antom_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An answer body holding only its result. */
json_t *
api_result(const char *code, const char *status, const char *message)
{
	return json_pack("{s:o}", "result", result_object(code, status, message));
}

/* Keep a new record in its idempotency map, its id map and the ledger (store_lock held). */
static void
store_record(json_t *by_key, const char *key, json_t *by_id, const char *id,
			 json_t *ledger, json_t *rec)
{
	json_object_set(by_key, key, rec);
	json_object_set(by_id, id, rec);
	json_array_append(ledger, rec);
}

/* The answer to a request that failed validation. */
static json_t *
param_illegal(Check *chk)
{
	return api_result("PARAM_ILLEGAL", "F", chk->msg);
}

/* An Amount object with its value as a string of minor units. */
static json_t *
amount_json(const char *currency, long long value)
{
	char		v[32];

	snprintf(v, sizeof(v), "%lld", value);
	return json_pack("{s:s,s:s}", "currency", currency, "value", v);
}

/* Shorthand for a string member of a record. */
static const char *
get_s(json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

/* Shorthand for an integer member of a record. */
static long long
get_i(json_t *rec, const char *key)
{
	return json_integer_value(json_object_get(rec, key));
}

/* Map key "clientId|id" for per-client idempotency. */
static void
client_key(char *out, size_t outlen, const char *client_id, const char *id)
{
	snprintf(out, outlen, "%s|%s", client_id, id);
}

/* The terminal type of a request: env.terminalType, else top-level terminalType. */
static const char *
terminal_type(Check *chk, json_t *env_holder, json_t *req)
{
	json_t	   *env = check_obj(chk, env_holder, "env", "env", false);
	const char *t = check_str(chk, env, "terminalType", "env.terminalType", 16, false);

	if (t == NULL)
		t = check_str(chk, req, "terminalType", "terminalType", 16, false);
	return t;
}

/* Is t one of WEB, WAP, APP, MINI_APP? */
static bool
terminal_known(const char *t)
{
	return strcmp(t, "WEB") == 0 || strcmp(t, "WAP") == 0 ||
		strcmp(t, "APP") == 0 || strcmp(t, "MINI_APP") == 0;
}

/* consult: open a consent session and answer its URLs. */
static json_t *
api_consult(const char *client_id, json_t *req)
{
	static const char *const scopes_known[] = {
		"AGREEMENT_PAY", "BASE_USER_INFO", "USER_INFO", "USER_LOGIN_ID",
		"HASH_LOGIN_ID", "SEND_OTP", "TAOBAO_REBIND", NULL
	};
	Check		chk = {0};
	const char *wallet = check_str(&chk, req, "customerBelongsTo", "customerBelongsTo", 64, true);
	const char *redirect = check_str(&chk, req, "authRedirectUrl", "authRedirectUrl", 1024, true);
	const char *state = check_str(&chk, req, "authState", "authState", 256, true);
	const char *notify = check_str(&chk, req, "authNotifyUrl", "authNotifyUrl", 1024, false);
	const char *terminal = terminal_type(&chk, req, req);
	json_t	   *env = json_object_get(req, "env");
	const char *os = check_str(&chk, env, "osType", "env.osType", 16, false);
	json_t	   *scopes = json_object_get(req, "scopes");
	json_t	   *session;
	json_t	   *answer;
	char		sid[40];
	char		url[512];

	if (os == NULL)
		os = check_str(&chk, req, "osType", "osType", 16, false);
	check_str(&chk, req, "osVersion", "osVersion", 16, false);
	check_str(&chk, req, "merchantRegion", "merchantRegion", 2, false);
	if (!chk.bad && !wallet_known(wallet))
		check_fail(&chk, "customerBelongsTo %s is not a supported wallet", wallet);
	if (!chk.bad && strstr(redirect, "://") == NULL)
		check_fail(&chk, "authRedirectUrl must be an absolute URL");
	if (!chk.bad && (!json_is_array(scopes) || json_array_size(scopes) < 1 ||
					 json_array_size(scopes) > 4))
		check_fail(&chk, "scopes must be an array of 1 to 4 scopes");
	for (size_t i = 0; !chk.bad && i < json_array_size(scopes); i++)
	{
		const char *s = json_string_value(json_array_get(scopes, i));
		bool		known = false;

		for (int k = 0; s && scopes_known[k]; k++)
			known = known || strcmp(s, scopes_known[k]) == 0;
		if (!known)
			check_fail(&chk, "scopes[%zu] is not a known scope", i);
	}
	if (!chk.bad && terminal == NULL)
		check_fail(&chk, "env.terminalType (or terminalType) is required");
	if (!chk.bad && !terminal_known(terminal))
		check_fail(&chk, "terminalType %s is not WEB, WAP, APP or MINI_APP", terminal);
	if (!chk.bad && (strcmp(terminal, "APP") == 0 || strcmp(terminal, "WAP") == 0) &&
		(os == NULL || (strcmp(os, "IOS") != 0 && strcmp(os, "ANDROID") != 0)))
		check_fail(&chk, "env.osType must be IOS or ANDROID for terminalType %s", terminal);
	if (chk.bad)
		return param_illegal(&chk);

	random_id("", 32, sid, sizeof(sid));
	session = json_pack("{s:s,s:s,s:s,s:s,s:O,s:s,s:s*,s:f,s:b}",
						"clientId", client_id, "authState", state, "wallet", wallet,
						"redirect", redirect, "scopes", scopes, "terminalType", terminal,
						"authNotifyUrl", notify, "created", now_epoch(), "decided", 0);
	pthread_mutex_lock(&store_lock);
	json_object_set_new(store_sessions, sid, session);
	pthread_mutex_unlock(&store_lock);

	snprintf(url, sizeof(url), "%s/sandbox/authorize?session=%s", cfg.base_url, sid);
	answer = api_result("SUCCESS", "S", "success");
	json_object_set_new(answer, "authUrl", json_string(url));
	json_object_set_new(answer, "normalUrl", json_string(url));
	json_object_set_new(answer, "schemeUrl", json_string(url));
	json_object_set_new(answer, "applinkUrl", json_string(url));
	return answer;
}

/* Issue a fresh access token for an agreement (store_lock held). */
static void
agreement_new_access_token(json_t *agr)
{
	char		token[80];
	const char *old = get_s(agr, "accessToken");

	if (old)
		json_object_del(store_tokens, old);
	random_id("sbx_at_", 48, token, sizeof(token));
	json_object_set_new(agr, "accessToken", json_string(token));
	json_object_set_new(agr, "accessExpires", json_real(now_epoch() + cfg.token_ttl));
	json_object_set(store_tokens, token, agr);
}

/* The applyToken answer for an agreement (store_lock held). */
static json_t *
token_answer(json_t *agr)
{
	char		at[40];
	char		rt[40];
	json_t	   *answer = api_result("SUCCESS", "S", "success");

	iso_time(json_real_value(json_object_get(agr, "accessExpires")), false, at, sizeof(at));
	iso_time(json_real_value(json_object_get(agr, "refreshExpires")), false, rt, sizeof(rt));
	json_object_set_new(answer, "accessToken", json_string(get_s(agr, "accessToken")));
	json_object_set_new(answer, "accessTokenExpiryTime", json_string(at));
	json_object_set_new(answer, "refreshToken", json_string(get_s(agr, "refreshToken")));
	json_object_set_new(answer, "refreshTokenExpiryTime", json_string(rt));
	json_object_set_new(answer, "userLoginId", json_string(get_s(agr, "userLoginId")));
	return answer;
}

/* applyToken: exchange an authCode or a refresh token for an access token. */
static json_t *
api_apply_token(const char *client_id, json_t *req)
{
	Check		chk = {0};
	const char *grant = check_str(&chk, req, "grantType", "grantType", 32, true);
	const char *wallet = check_str(&chk, req, "customerBelongsTo", "customerBelongsTo", 64, true);
	const char *code = check_str(&chk, req, "authCode", "authCode", 128, false);
	const char *refresh = check_str(&chk, req, "refreshToken", "refreshToken", 128, false);
	bool		by_code;
	json_t	   *answer;
	json_t	   *agr;
	double		now = now_epoch();

	check_str(&chk, req, "merchantRegion", "merchantRegion", 2, false);
	check_str(&chk, req, "merchantAccountId", "merchantAccountId", 64, false);
	if (!chk.bad && strcmp(grant, "AUTHORIZATION_CODE") != 0 && strcmp(grant, "REFRESH_TOKEN") != 0)
		check_fail(&chk, "grantType must be AUTHORIZATION_CODE or REFRESH_TOKEN");
	if (!chk.bad && !wallet_known(wallet))
		check_fail(&chk, "customerBelongsTo %s is not a supported wallet", wallet);
	by_code = !chk.bad && strcmp(grant, "AUTHORIZATION_CODE") == 0;
	if (!chk.bad && by_code && code == NULL)
		check_fail(&chk, "authCode is required for grantType AUTHORIZATION_CODE");
	if (!chk.bad && !by_code && refresh == NULL)
		check_fail(&chk, "refreshToken is required for grantType REFRESH_TOKEN");
	if (chk.bad)
		return param_illegal(&chk);

	pthread_mutex_lock(&store_lock);
	if (by_code)
	{
		json_t	   *c = json_object_get(store_codes, code);
		char		rt[80];

		if (c == NULL || json_is_true(json_object_get(c, "used")) ||
			json_real_value(json_object_get(c, "expires")) < now ||
			strcmp(get_s(c, "clientId"), client_id) != 0 ||
			strcmp(get_s(c, "wallet"), wallet) != 0)
		{
			pthread_mutex_unlock(&store_lock);
			return api_result("INVALID_CODE", "F",
							  "the authCode is unknown, expired, already used or for another wallet");
		}
		json_object_set_new(c, "used", json_true());
		random_id("sbx_rt_", 48, rt, sizeof(rt));
		agr = json_pack("{s:s,s:s,s:s,s:s,s:f,s:s,s:s*,s:s}",
						"clientId", client_id, "wallet", wallet,
						"userLoginId", get_s(c, "userLoginId"),
						"refreshToken", rt, "refreshExpires", now + cfg.refresh_ttl,
						"authState", get_s(c, "authState"),
						"authNotifyUrl", get_s(c, "authNotifyUrl"), "status", "ACTIVE");
		json_object_set(store_refresh, rt, agr);
		agreement_new_access_token(agr);
		json_decref(agr);
	}
	else
	{
		agr = json_object_get(store_refresh, refresh);
		if (agr == NULL || strcmp(get_s(agr, "status"), "ACTIVE") != 0 ||
			json_real_value(json_object_get(agr, "refreshExpires")) < now ||
			strcmp(get_s(agr, "clientId"), client_id) != 0 ||
			strcmp(get_s(agr, "wallet"), wallet) != 0)
		{
			pthread_mutex_unlock(&store_lock);
			return api_result("INVALID_REFRESH_TOKEN", "F",
							  "the refresh token is unknown, expired or revoked");
		}
		agreement_new_access_token(agr);
	}
	answer = token_answer(agr);
	pthread_mutex_unlock(&store_lock);
	return answer;
}

/* The live agreement of an access token for this client, or NULL (store_lock held). */
static json_t *
live_agreement(const char *client_id, const char *token)
{
	json_t	   *agr = json_object_get(store_tokens, token);

	if (agr == NULL || strcmp(get_s(agr, "status"), "ACTIVE") != 0 ||
		strcmp(get_s(agr, "clientId"), client_id) != 0 ||
		json_real_value(json_object_get(agr, "accessExpires")) < now_epoch())
		return NULL;
	return agr;
}

/* revoke: kill an access token and its refresh token. */
static json_t *
api_revoke(const char *client_id, json_t *req)
{
	Check		chk = {0};
	const char *token = check_str(&chk, req, "accessToken", "accessToken", 128, true);
	json_t	   *agr;

	check_str(&chk, req, "merchantAccountId", "merchantAccountId", 64, false);
	if (chk.bad)
		return param_illegal(&chk);
	pthread_mutex_lock(&store_lock);
	agr = live_agreement(client_id, token);
	if (agr)
		json_object_set_new(agr, "status", json_string("REVOKED"));
	pthread_mutex_unlock(&store_lock);
	if (agr == NULL)
		return api_result("INVALID_ACCESS_TOKEN", "F",
						  "the access token is expired, revoked or unknown");
	return api_result("SUCCESS", "S", "success");
}

/* The pay answer for a payment's current state (store_lock held). */
static json_t *
pay_answer(json_t *p)
{
	const char *status = get_s(p, "status");
	json_t	   *answer;

	if (strcmp(status, "SUCCESS") == 0)
		answer = api_result("SUCCESS", "S", "success");
	else if (strcmp(status, "PROCESSING") == 0)
		answer = api_result("PAYMENT_IN_PROCESS", "U", "the payment is being processed");
	else if (strcmp(status, "CANCELLED") == 0)
		answer = api_result("ORDER_IS_CLOSED", "F", "the payment was cancelled");
	else
		answer = api_result(get_s(p, "resultCode"), "F", get_s(p, "resultMessage"));

	json_object_set_new(answer, "paymentRequestId", json_string(get_s(p, "paymentRequestId")));
	json_object_set_new(answer, "paymentAmount",
						amount_json(get_s(p, "currency"), get_i(p, "amount")));
	if (strcmp(status, "FAIL") != 0)
	{
		json_object_set_new(answer, "paymentId", json_string(get_s(p, "paymentId")));
		json_object_set_new(answer, "paymentCreateTime",
							json_string(get_s(p, "paymentCreateTime")));
	}
	if (strcmp(status, "SUCCESS") == 0)
		json_object_set_new(answer, "paymentTime", json_string(get_s(p, "paymentTime")));
	return answer;
}

/* Decide a new payment's outcome: magic amounts, token, limit, balance (store_lock held). */
static void
pay_decide(json_t *p, json_t *agr, const char *wallet)
{
	long long	amount = get_i(p, "amount");
	const char *currency = get_s(p, "currency");
	const char *code = "SUCCESS";
	const char *message = "success";
	json_t	   *user = NULL;
	json_t	   *limit;

	if (agr == NULL || strcmp(get_s(agr, "wallet"), wallet) != 0)
	{
		code = "INVALID_ACCESS_TOKEN";
		message = "the access token is expired, revoked or unknown";
	}
	else
	{
		user = store_user(get_s(agr, "userLoginId"));
		json_object_set_new(p, "userLoginId", json_string(get_s(agr, "userLoginId")));
		limit = json_object_get(user, "singleLimit");
		if (amount == 9001)
			code = "USER_BALANCE_NOT_ENOUGH", message = "the user's balance is not enough";
		else if (amount == 9002)
			code = "INVALID_ACCESS_TOKEN", message = "the access token is expired, revoked or unknown";
		else if (amount == 9003 || amount == 9004)
			code = "PAYMENT_IN_PROCESS";
		else if (amount == 9005)
			code = "RISK_REJECT", message = "the payment was rejected by risk control";
		else if (amount == 9006)
			code = "USER_AMOUNT_EXCEED_LIMIT", message = "the amount exceeds the wallet's single-payment limit for this user";
		else if (amount == 9007)
			code = "PAYMENT_AMOUNT_EXCEED_LIMIT", message = "the amount exceeds Alipay+'s single-payment limit";
		else if (json_is_integer(limit) && amount > json_integer_value(limit))
			code = "USER_AMOUNT_EXCEED_LIMIT", message = "the amount exceeds the wallet's single-payment limit for this user";
		else if (user_balance(user, currency) < amount)
			code = "USER_BALANCE_NOT_ENOUGH", message = "the user's balance is not enough";
	}

	if (strcmp(code, "SUCCESS") == 0)
	{
		char		t[40];

		user_add(user, currency, -amount);
		iso_time(now_epoch(), false, t, sizeof(t));
		json_object_set_new(p, "status", json_string("SUCCESS"));
		json_object_set_new(p, "paymentTime", json_string(t));
	}
	else if (strcmp(code, "PAYMENT_IN_PROCESS") == 0)
	{
		json_object_set_new(p, "status", json_string("PROCESSING"));
		json_object_set_new(p, "settleAt", json_real(now_epoch() + cfg.settle_ms / 1000.0));
		json_object_set_new(p, "settleToSuccess", json_boolean(amount == 9003));
		message = "the payment is being processed";
	}
	else
		json_object_set_new(p, "status", json_string("FAIL"));
	json_object_set_new(p, "resultCode", json_string(code));
	json_object_set_new(p, "resultMessage", json_string(message));
}

/* pay (AGREEMENT_PAYMENT): debit the user behind an access token, idempotently. */
static json_t *
api_pay(const char *client_id, json_t *req)
{
	Check		chk = {0};
	const char *product = check_str(&chk, req, "productCode", "productCode", 32, true);
	const char *prid = check_str(&chk, req, "paymentRequestId", "paymentRequestId", 64, true);
	const char *currency = NULL;
	long long	amount = 0;
	json_t	   *pm;
	json_t	   *order;
	const char *wallet;
	const char *token;
	const char *terminal;
	const char *notify;
	json_t	   *settle;
	const char *settle_currency;
	const char *order_ref;
	json_t	   *p;
	json_t	   *answer;
	char		key[200];
	char		pid[40];
	char		t[40];

	check_amount(&chk, req, "paymentAmount", "paymentAmount", true, &currency, &amount);
	pm = check_obj(&chk, req, "paymentMethod", "paymentMethod", true);
	wallet = check_str(&chk, pm, "paymentMethodType", "paymentMethod.paymentMethodType", 64, true);
	token = check_str(&chk, pm, "paymentMethodId", "paymentMethod.paymentMethodId", 128, true);
	order = check_obj(&chk, req, "order", "order", true);
	order_ref = check_str(&chk, order, "referenceOrderId", "order.referenceOrderId", 64, true);
	check_str(&chk, order, "orderDescription", "order.orderDescription", 256, true);
	if (order && json_object_get(order, "orderAmount"))
	{
		const char *oc;
		long long	ov;

		check_amount(&chk, order, "orderAmount", "order.orderAmount", false, &oc, &ov);
	}
	notify = check_str(&chk, req, "paymentNotifyUrl", "paymentNotifyUrl", 2048, false);
	settle = check_obj(&chk, req, "settlementStrategy", "settlementStrategy", false);
	settle_currency = settle ? check_str(&chk, settle, "settlementCurrency",
										 "settlementStrategy.settlementCurrency", 3, false) : NULL;
	check_str(&chk, req, "paymentExpiryTime", "paymentExpiryTime", 64, false);
	check_str(&chk, req, "appId", "appId", 32, false);
	terminal = terminal_type(&chk, req, req);
	if (terminal == NULL && order)
		terminal = terminal_type(&chk, order, order);
	if (!chk.bad && strcmp(product, "AGREEMENT_PAYMENT") != 0)
		check_fail(&chk, "productCode must be AGREEMENT_PAYMENT");
	if (!chk.bad && settle_currency && !currency_known(settle_currency))
		check_fail(&chk, "settlementStrategy.settlementCurrency %s is not a currency", settle_currency);
	if (!chk.bad && cfg.settlement_currencies && settle_currency &&
		!in_comma_list(cfg.settlement_currencies, settle_currency))
		check_fail(&chk, "settlementStrategy.settlementCurrency %s is not one the merchant settles in (%s)",
				   settle_currency, cfg.settlement_currencies);
	if (!chk.bad && cfg.settlement_currencies && strchr(cfg.settlement_currencies, ',') && !settle_currency)
		check_fail(&chk, "settlementStrategy.settlementCurrency is required: the merchant settles in %s",
				   cfg.settlement_currencies);
	if (!chk.bad && !wallet_known(wallet))
		check_fail(&chk, "paymentMethod.paymentMethodType %s is not a supported wallet", wallet);
	if (!chk.bad && terminal && !terminal_known(terminal))
		check_fail(&chk, "terminalType %s is not WEB, WAP, APP or MINI_APP", terminal);
	if (!chk.bad && terminal && strcmp(terminal, "MINI_APP") == 0 &&
		json_object_get(req, "appId") == NULL)
		check_fail(&chk, "appId is required when terminalType is MINI_APP");
	if (chk.bad)
	{
		/* the refusal names the request it refuses, as Antom's pay answers do */
		answer = param_illegal(&chk);
		if (prid)
			json_object_set_new(answer, "paymentRequestId", json_string(prid));
		return answer;
	}

	client_key(key, sizeof(key), client_id, prid);
	pthread_mutex_lock(&store_lock);
	p = json_object_get(store_payments, key);
	if (p)
	{
		if (get_i(p, "amount") != amount || strcmp(get_s(p, "currency"), currency) != 0 ||
			strcmp(get_s(p, "paymentMethodId"), token) != 0)
		{
			pthread_mutex_unlock(&store_lock);
			return api_result("REPEAT_REQ_INCONSISTENT", "F",
							  "paymentRequestId was used with another amount or token");
		}
		payment_settle_if_due(p);
		answer = pay_answer(p);
		pthread_mutex_unlock(&store_lock);
		return answer;
	}

	payment_id(pid, sizeof(pid));
	iso_time(now_epoch(), false, t, sizeof(t));
	p = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:f,s:I,s:s*}",
				  "clientId", client_id, "paymentRequestId", prid, "paymentId", pid,
				  "amount", (json_int_t) amount, "currency", currency,
				  "paymentMethodId", token, "wallet", wallet,
				  "referenceOrderId", order_ref, "paymentCreateTime", t,
				  "createdAt", now_epoch(), "refunded", (json_int_t) 0,
				  "notifyUrl", notify);
	pay_decide(p, live_agreement(client_id, token), wallet);
	store_record(store_payments, key, store_payment_ids, pid, ledger_payments, p);
	answer = pay_answer(p);
	if (notify)
		notify_payment(p, notify);
	json_decref(p);
	pthread_mutex_unlock(&store_lock);
	return answer;
}

/* Find a payment by paymentId (wins) or paymentRequestId for this client (store_lock held). */
static json_t *
find_payment(const char *client_id, const char *pid, const char *prid)
{
	json_t	   *p;
	char		key[200];

	if (pid)
		p = json_object_get(store_payment_ids, pid);
	else
	{
		client_key(key, sizeof(key), client_id, prid);
		p = json_object_get(store_payments, key);
	}
	if (p && strcmp(get_s(p, "clientId"), client_id) != 0)
		return NULL;
	return p;
}

/* Validate the paymentId-or-paymentRequestId pair of inquiry and cancel. */
static bool
payment_ids(Check *chk, json_t *req, const char **pid, const char **prid)
{
	*pid = check_str(chk, req, "paymentId", "paymentId", 64, false);
	*prid = check_str(chk, req, "paymentRequestId", "paymentRequestId", 64, false);
	check_str(chk, req, "merchantAccountId", "merchantAccountId", 32, false);
	if (!chk->bad && *pid == NULL && *prid == NULL)
		check_fail(chk, "paymentId or paymentRequestId is required");
	return !chk->bad;
}

/* inquiryPayment: the payment's status and outcome. */
static json_t *
api_inquiry_payment(const char *client_id, json_t *req)
{
	Check		chk = {0};
	const char *pid;
	const char *prid;
	json_t	   *p;
	json_t	   *answer;

	if (!payment_ids(&chk, req, &pid, &prid))
		return param_illegal(&chk);
	pthread_mutex_lock(&store_lock);
	p = find_payment(client_id, pid, prid);
	if (p == NULL)
	{
		pthread_mutex_unlock(&store_lock);
		return api_result("ORDER_NOT_EXIST", "F", "no such payment");
	}
	payment_settle_if_due(p);
	answer = api_result("SUCCESS", "S", "success");
	json_object_set_new(answer, "paymentStatus", json_string(get_s(p, "status")));
	json_object_set_new(answer, "paymentResultCode", json_string(get_s(p, "resultCode")));
	json_object_set_new(answer, "paymentResultMessage", json_string(get_s(p, "resultMessage")));
	json_object_set_new(answer, "paymentRequestId", json_string(get_s(p, "paymentRequestId")));
	json_object_set_new(answer, "paymentId", json_string(get_s(p, "paymentId")));
	json_object_set_new(answer, "paymentAmount",
						amount_json(get_s(p, "currency"), get_i(p, "amount")));
	json_object_set_new(answer, "paymentCreateTime", json_string(get_s(p, "paymentCreateTime")));
	if (strcmp(get_s(p, "status"), "SUCCESS") == 0)
		json_object_set_new(answer, "paymentTime", json_string(get_s(p, "paymentTime")));
	pthread_mutex_unlock(&store_lock);
	return answer;
}

/* cancel: close a payment and give the money back, within the cancel window. */
static json_t *
api_cancel(const char *client_id, json_t *req)
{
	Check		chk = {0};
	const char *pid;
	const char *prid;
	const char *status;
	json_t	   *p;
	json_t	   *answer;
	long long	returned = 0;
	char		t[40];

	if (!payment_ids(&chk, req, &pid, &prid))
		return param_illegal(&chk);
	pthread_mutex_lock(&store_lock);
	p = find_payment(client_id, pid, prid);
	if (p == NULL)
	{
		pthread_mutex_unlock(&store_lock);
		return api_result("ORDER_NOT_EXIST", "F", "no such payment");
	}
	payment_settle_if_due(p);
	status = get_s(p, "status");
	if (strcmp(status, "FAIL") == 0 || get_i(p, "refunded") > 0)
	{
		pthread_mutex_unlock(&store_lock);
		return api_result("ORDER_STATUS_INVALID", "F",
						  "a failed or refunded payment cannot be cancelled");
	}
	if (strcmp(status, "CANCELLED") != 0)
	{
		if (json_real_value(json_object_get(p, "createdAt")) + cfg.cancel_window < now_epoch())
		{
			pthread_mutex_unlock(&store_lock);
			return api_result("CANCEL_WINDOW_EXCEED", "F",
							  "the cancel window has passed; refund the payment instead");
		}
		if (strcmp(status, "SUCCESS") == 0)
		{
			returned = get_i(p, "amount");
			user_add(store_user(get_s(p, "userLoginId")), get_s(p, "currency"), returned);
		}
		iso_time(now_epoch(), false, t, sizeof(t));
		json_object_set_new(p, "status", json_string("CANCELLED"));
		json_object_set_new(p, "cancelTime", json_string(t));
		json_array_append_new(ledger_cancels,
							  json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s}",
										"clientId", client_id,
										"paymentRequestId", get_s(p, "paymentRequestId"),
										"paymentId", get_s(p, "paymentId"),
										"currency", get_s(p, "currency"),
										"amount", (json_int_t) get_i(p, "amount"),
										"returned", (json_int_t) returned,
										"cancelTime", t));
	}
	answer = api_result("SUCCESS", "S", "success");
	json_object_set_new(answer, "paymentId", json_string(get_s(p, "paymentId")));
	json_object_set_new(answer, "paymentRequestId", json_string(get_s(p, "paymentRequestId")));
	json_object_set_new(answer, "cancelTime", json_string(get_s(p, "cancelTime")));
	pthread_mutex_unlock(&store_lock);
	return answer;
}

/* The refund answer for a refund's current state (store_lock held). */
static json_t *
refund_answer(json_t *r)
{
	bool		done = strcmp(get_s(r, "status"), "SUCCESS") == 0;
	json_t	   *answer = done ? api_result("SUCCESS", "S", "success") :
		api_result("REFUND_IN_PROCESS", "U", "the refund is being processed");

	json_object_set_new(answer, "refundRequestId", json_string(get_s(r, "refundRequestId")));
	json_object_set_new(answer, "refundId", json_string(get_s(r, "refundId")));
	json_object_set_new(answer, "paymentId", json_string(get_s(r, "paymentId")));
	json_object_set_new(answer, "refundAmount",
						amount_json(get_s(r, "currency"), get_i(r, "amount")));
	if (done)
		json_object_set_new(answer, "refundTime", json_string(get_s(r, "refundTime")));
	return answer;
}

/* refund: give back part or all of a successful payment, idempotently. */
static json_t *
api_refund(const char *client_id, json_t *req)
{
	Check		chk = {0};
	const char *rrid = check_str(&chk, req, "refundRequestId", "refundRequestId", 64, true);
	const char *pid = check_str(&chk, req, "paymentId", "paymentId", 64, true);
	const char *notify = check_str(&chk, req, "refundNotifyUrl", "refundNotifyUrl", 1024, false);
	const char *currency = NULL;
	long long	amount = 0;
	json_t	   *p;
	json_t	   *r;
	json_t	   *answer;
	char		key[200];
	char		rid[40];
	char		t[40];

	check_amount(&chk, req, "refundAmount", "refundAmount", true, &currency, &amount);
	check_str(&chk, req, "refundReason", "refundReason", 256, false);
	check_str(&chk, req, "referenceRefundId", "referenceRefundId", 64, false);
	if (chk.bad)
		return param_illegal(&chk);

	client_key(key, sizeof(key), client_id, rrid);
	pthread_mutex_lock(&store_lock);
	r = json_object_get(store_refunds, key);
	if (r)
	{
		if (strcmp(get_s(r, "paymentId"), pid) != 0 || get_i(r, "amount") != amount ||
			strcmp(get_s(r, "currency"), currency) != 0)
		{
			pthread_mutex_unlock(&store_lock);
			return api_result("REPEAT_REQ_INCONSISTENT", "F",
							  "refundRequestId was used with another payment or amount");
		}
		refund_settle_if_due(r);
		answer = refund_answer(r);
		pthread_mutex_unlock(&store_lock);
		return answer;
	}
	p = find_payment(client_id, pid, NULL);
	if (p)
		payment_settle_if_due(p);
	if (p == NULL)
		answer = api_result("ORDER_NOT_EXIST", "F", "no such payment");
	else if (strcmp(get_s(p, "status"), "SUCCESS") != 0)
		answer = api_result("ORDER_STATUS_INVALID", "F", "only a successful payment can be refunded");
	else if (strcmp(get_s(p, "currency"), currency) != 0)
		answer = api_result("PARAM_ILLEGAL", "F", "refundAmount.currency differs from the payment's");
	else if (get_i(p, "refunded") + amount > get_i(p, "amount"))
		answer = api_result("REFUND_AMOUNT_EXCEED", "F",
							"the refunds would exceed the amount paid");
	else
		answer = NULL;
	if (answer)
	{
		pthread_mutex_unlock(&store_lock);
		return answer;
	}

	payment_id(rid, sizeof(rid));
	iso_time(now_epoch(), false, t, sizeof(t));
	r = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:f,s:s*}",
				  "clientId", client_id, "refundRequestId", rrid, "refundId", rid,
				  "paymentId", pid, "paymentRequestId", get_s(p, "paymentRequestId"),
				  "amount", (json_int_t) amount, "currency", currency,
				  "status", amount == 9003 ? "PROCESSING" : "SUCCESS",
				  "settleAt", now_epoch() + cfg.settle_ms / 1000.0, "notifyUrl", notify);
	if (amount != 9003)
		json_object_set_new(r, "refundTime", json_string(t));
	json_object_set_new(p, "refunded", json_integer(get_i(p, "refunded") + amount));
	user_add(store_user(get_s(p, "userLoginId")), currency, amount);
	store_record(store_refunds, key, store_refund_ids, rid, ledger_refunds, r);
	answer = refund_answer(r);
	if (notify)
		notify_refund(r, notify);
	json_decref(r);
	pthread_mutex_unlock(&store_lock);
	return answer;
}

/* inquiryRefund: a refund's status. */
static json_t *
api_inquiry_refund(const char *client_id, json_t *req)
{
	Check		chk = {0};
	const char *rid = check_str(&chk, req, "refundId", "refundId", 64, false);
	const char *rrid = check_str(&chk, req, "refundRequestId", "refundRequestId", 64, false);
	json_t	   *r;
	json_t	   *answer;
	char		key[200];

	if (!chk.bad && rid == NULL && rrid == NULL)
		check_fail(&chk, "refundId or refundRequestId is required");
	if (chk.bad)
		return param_illegal(&chk);
	pthread_mutex_lock(&store_lock);
	if (rid)
		r = json_object_get(store_refund_ids, rid);
	else
	{
		client_key(key, sizeof(key), client_id, rrid);
		r = json_object_get(store_refunds, key);
	}
	if (r == NULL || strcmp(get_s(r, "clientId"), client_id) != 0)
	{
		pthread_mutex_unlock(&store_lock);
		return api_result("ORDER_NOT_EXIST", "F", "no such refund");
	}
	refund_settle_if_due(r);
	answer = api_result("SUCCESS", "S", "success");
	json_object_set_new(answer, "refundStatus", json_string(get_s(r, "status")));
	json_object_set_new(answer, "refundRequestId", json_string(get_s(r, "refundRequestId")));
	json_object_set_new(answer, "refundId", json_string(get_s(r, "refundId")));
	json_object_set_new(answer, "refundAmount",
						amount_json(get_s(r, "currency"), get_i(r, "amount")));
	if (get_s(r, "refundTime"))
		json_object_set_new(answer, "refundTime", json_string(get_s(r, "refundTime")));
	pthread_mutex_unlock(&store_lock);
	return answer;
}

/* The handler for an API path (under /v1/), or NULL. */
ApiHandler
api_lookup(const char *name)
{
	static const struct
	{
		const char *api;
		ApiHandler	fn;
	}			handlers[] = {
		{"consult", api_consult},
		{"applyToken", api_apply_token},
		{"revoke", api_revoke},
		{"pay", api_pay},
		{"inquiryPayment", api_inquiry_payment},
		{"cancel", api_cancel},
		{"refund", api_refund},
		{"inquiryRefund", api_inquiry_refund},
		{NULL, NULL}
	};
	int			i = antom_api_by_path(name);

	for (int h = 0; i >= 0 && handlers[h].api; h++)
		if (strcmp(handlers[h].api, antom_apis[i].name) == 0)
			return handlers[h].fn;
	return NULL;
}
