/*
 * util.c
 *	  Time, ids, request-field validation, currencies and wallets.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/rand.h>

/* ISO 4217 codes the sandbox accepts (the Amount rules page's list and neighbours). */
static const char *const currencies[] = {
	"AED", "AUD", "BDT", "BRL", "CAD", "CHF", "CLP", "CNY", "CZK", "DKK", "EUR",
	"GBP", "HKD", "HUF", "IDR", "ILS", "INR", "JPY", "KRW", "KWD", "LKR", "MOP",
	"MXN", "MYR", "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "QAR", "SAR", "SEK",
	"SGD", "THB", "TRY", "TWD", "USD", "VND", "ZAR", NULL
};

/* customerBelongsTo values of the official SDKs' CustomerBelongsTo enum. */
static const char *const wallets[] = {
	"ALIPAY_CN", "ALIPAY_HK", "MPAY", "DANA", "PAYPAY", "BOOST", "TNG",
	"GRABPAY_MY", "HIPAY", "GCASH", "MAYA", "GRABPAY_PH", "GRABPAY_SG",
	"KAKAOPAY", "NAVERPAY", "TOSSPAY", "RABBIT_LINE_PAY", "TRUEMONEY", "KPLUS",
	"DIRECT_DEBIT_SIAMCOMMERCIALBANK", "DIRECT_DEBIT_KRUNGTHAIBANK",
	"ACH_DIRECT_DEBIT", "ZALOPAY", "MOMO", "VIETTELMONEY", "JKOPAY", "BKASH",
	"EASYPAISA", "DIRECTDEBIT_YAPILY", "ANTOM_BIZ_ACCOUNT", NULL
};

/* A result object: {"resultCode", "resultStatus", "resultMessage"} (answers and notifications). */
json_t *
result_object(const char *code, const char *status, const char *message)
{
	return json_pack("{s:s,s:s,s:s}", "resultCode", code, "resultStatus", status,
					 "resultMessage", message);
}

/* Is item one of the comma-separated list's entries? */
bool
in_comma_list(const char *list, const char *item)
{
	size_t		n = strlen(item);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, item, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* Is code in a NULL-terminated list? */
static bool
in_list(const char *const *list, const char *code)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], code) == 0)
			return true;
	return false;
}

/* Is this an ISO 4217 currency the sandbox knows? */
bool
currency_known(const char *code)
{
	return in_list(currencies, code);
}

/* Is this a wallet (customerBelongsTo) the sandbox knows? */
bool
wallet_known(const char *code)
{
	return in_list(wallets, code);
}

/* Seconds since the epoch, with sub-second precision. */
double
now_epoch(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/* Format t as ISO 8601 in UTC+08:00, Antom's habit, with or without milliseconds. */
void
iso_time(double t, bool millis, char *out, size_t outlen)
{
	time_t		secs = (time_t) t + 8 * 3600;
	struct tm	tm;
	char		base[32];

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (millis)
		snprintf(out, outlen, "%s.%03d+08:00", base, (int) ((t - (time_t) t) * 1000));
	else
		snprintf(out, outlen, "%s+08:00", base);
}

/* prefix followed by hexchars random hex digits. */
void
random_id(const char *prefix, int hexchars, char *out, size_t outlen)
{
	unsigned char raw[64];
	size_t		n = strlen(prefix);

	if (hexchars > 128)
		hexchars = 128;
	RAND_bytes(raw, (hexchars + 1) / 2);
	snprintf(out, outlen, "%s", prefix);
	for (int i = 0; i < hexchars && n + 1 < outlen; i++)
		out[n++] = "0123456789abcdef"[(raw[i / 2] >> ((i % 2) * 4)) & 0xf];
	out[n] = '\0';
}

/* An Antom-looking numeric paymentId/refundId: date then 20 random digits. */
void
payment_id(char *out, size_t outlen)
{
	unsigned char raw[20];
	time_t		t = time(NULL);
	struct tm	tm;
	size_t		n;

	gmtime_r(&t, &tm);
	n = strftime(out, outlen, "%Y%m%d", &tm);
	RAND_bytes(raw, sizeof(raw));
	for (int i = 0; i < 20 && n + 1 < outlen; i++)
		out[n++] = (char) ('0' + raw[i] % 10);
	out[n] = '\0';
}

/* Is url an http(s) URL on a loopback host?  Copies its path into path. */
bool
loopback_url(const char *url, char *path, size_t pathlen)
{
	CURLU	   *u = curl_url();
	char	   *host = NULL;
	char	   *scheme = NULL;
	char	   *p = NULL;
	bool		ok = false;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK)
	{
		ok = (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
			(strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 ||
			 strcmp(host, "[::1]") == 0);
		if (ok && path)
			snprintf(path, pathlen, "%s", p);
	}
	curl_free(host);
	curl_free(scheme);
	curl_free(p);
	curl_url_cleanup(u);
	return ok;
}

/* Read a whole file into a NUL-terminated malloc'd buffer. */
char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		size;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > 1 << 20 ||
		fseek(f, 0, SEEK_SET) != 0)
	{
		fclose(f);
		return NULL;
	}
	buf = malloc(size + 1);
	if (buf == NULL || fread(buf, 1, size, f) != (size_t) size)
	{
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[size] = '\0';
	if (len)
		*len = (size_t) size;
	return buf;
}

/* Record the first validation failure. */
void
check_fail(Check *chk, const char *fmt,...)
{
	va_list		ap;

	if (chk->bad)
		return;
	chk->bad = true;
	va_start(ap, fmt);
	vsnprintf(chk->msg, sizeof(chk->msg), fmt, ap);
	va_end(ap);
}

/* A string field of at most maxlen characters; NULL when absent or bad. */
const char *
check_str(Check *chk, json_t *obj, const char *key, const char *label,
		  size_t maxlen, bool required)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;
	const char *s;

	if (v == NULL || json_is_null(v))
	{
		if (required)
			check_fail(chk, "%s is required", label);
		return NULL;
	}
	if (!json_is_string(v))
	{
		check_fail(chk, "%s must be a JSON string", label);
		return NULL;
	}
	s = json_string_value(v);
	if (s[0] == '\0')
	{
		check_fail(chk, "%s must not be empty", label);
		return NULL;
	}
	if (json_string_length(v) > maxlen)
	{
		check_fail(chk, "%s is longer than %zu characters", label, maxlen);
		return NULL;
	}
	return s;
}

/* An object field; NULL when absent or bad. */
json_t *
check_obj(Check *chk, json_t *obj, const char *key, const char *label, bool required)
{
	json_t	   *v = obj ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
	{
		if (required)
			check_fail(chk, "%s is required", label);
		return NULL;
	}
	if (!json_is_object(v))
	{
		check_fail(chk, "%s must be an object", label);
		return NULL;
	}
	return v;
}

/* An Amount {currency, value}: known currency, positive integer string of ≤16 digits. */
bool
check_amount(Check *chk, json_t *obj, const char *key, const char *label,
			 bool required, const char **currency, long long *value)
{
	char		l1[96];
	char		l2[96];
	json_t	   *a = check_obj(chk, obj, key, label, required);
	const char *cur;
	const char *val;

	if (a == NULL)
		return false;
	snprintf(l1, sizeof(l1), "%s.currency", label);
	snprintf(l2, sizeof(l2), "%s.value", label);
	cur = check_str(chk, a, "currency", l1, 3, true);
	val = check_str(chk, a, "value", l2, 16, true);
	if (cur == NULL || val == NULL)
		return false;
	if (!currency_known(cur))
	{
		check_fail(chk, "%s %s is not a supported ISO 4217 currency", l1, cur);
		return false;
	}
	for (const char *p = val; *p; p++)
		if (!isdigit((unsigned char) *p))
		{
			check_fail(chk, "%s must be a whole number of minor units", l2);
			return false;
		}
	*value = strtoll(val, NULL, 10);
	if (*value <= 0)
	{
		check_fail(chk, "%s must be positive", l2);
		return false;
	}
	*currency = cur;
	return true;
}
