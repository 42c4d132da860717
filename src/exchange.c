/*
 * exchange.c
 *	  One call to the acquirer, as the SQL primitive autodebit._exchange():
 *	  put the secret into the body (decrypted here, never in SQL), journal a
 *	  money request, sign, send, verify the answer's signature over the exact
 *	  bytes received, and classify the outcome as S, F, U or UNKNOWN.
 *	  Tokens in an answer are sealed here and removed from the body returned.
 *
 *	  UNKNOWN covers every answer we cannot believe: no answer, a timeout, a
 *	  non-200 status, a missing or bad signature, a body that is not JSON or
 *	  has no result.  Those are never success and never failure.
 */
#include "autodebit.h"

#include <sys/time.h>

#include "antsig.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#define SECRET_PLACEHOLDER	"\"@@autodebit_secret@@\""

PG_FUNCTION_INFO_V1(autodebit_exchange);

/* The Antom APIs autodebit calls: SQL name, path under /v1/, carries money? */
static const struct
{
	const char *name;
	const char *path;
	bool		money;
}			apis[] = {
	{"consult", "authorizations/consult", false},
	{"applyToken", "authorizations/applyToken", false},
	{"revoke", "authorizations/revoke", false},
	{"pay", "payments/pay", true},
	{"inquiryPayment", "payments/inquiryPayment", false},
	{"cancel", "payments/cancel", false},
	{"refund", "payments/refund", true},
	{"inquiryRefund", "payments/inquiryRefund", false},
	{NULL, NULL, false}
};

/* Columns of autodebit.exchange_result. */
enum
{
	COL_OUTCOME,
	COL_RESULT_CODE,
	COL_RESULT_STATUS,
	COL_RESULT_MESSAGE,
	COL_HTTP_STATUS,
	COL_BODY,
	COL_ACCESS_TOKEN_ENC,
	COL_REFRESH_TOKEN_ENC,
	COL_ACCESS_TOKEN_FP,
	COL_LATENCY_MS,
	COL_ERROR,
	NUM_COLS
};

/* A string member of a JSONB object as a palloc'd C string, or NULL. */
char *
jb_string(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (c == NULL || getKeyJsonValueFromContainer(c, key, strlen(key), &v) == NULL ||
		v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* An object member of a JSONB object, or NULL. */
JsonbContainer *
jb_object(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (c == NULL || getKeyJsonValueFromContainer(c, key, strlen(key), &v) == NULL ||
		v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
		return NULL;
	return v.val.binary.data;
}

/* Does text parse as JSON?  Checked without raising, so no answer text reaches a log. */
bool
json_valid(char *text, size_t len)
{
#if PG_VERSION_NUM >= 170000
	JsonLexContext *lex = makeJsonLexContextCstringLen(NULL, text, len, GetDatabaseEncoding(), true);
#else
	JsonLexContext *lex = makeJsonLexContextCstringLen(text, (int) len, GetDatabaseEncoding(), true);
#endif

	return pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS;
}

/* The body to send: the template with the placeholder replaced by the JSON-escaped secret. */
static char *
insert_secret(const char *template, const char *secret)
{
	const char *at = strstr(template, SECRET_PLACEHOLDER);
	StringInfoData out;

	if (at == NULL || strstr(at + 1, SECRET_PLACEHOLDER) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("request body must hold the secret placeholder exactly once")));
	initStringInfo(&out);
	appendBinaryStringInfo(&out, template, (int) (at - template));
	escape_json(&out, secret);
	appendStringInfoString(&out, at + strlen(SECRET_PLACEHOLDER));
	return out.data;
}

/* Seal a token from an answer for a row; NULL when the answer has none. */
static Datum
seal_token(const char *token, const char *aad_base, const char *suffix, bool *isnull)
{
	char	   *aad;

	*isnull = (token == NULL);
	if (token == NULL)
		return (Datum) 0;
	aad = psprintf("%s:%s", aad_base, suffix);
	return PointerGetDatum(vault_seal(token, strlen(token), aad));
}

/* SQL: autodebit._exchange(client_id, gateway_url, private_key_file, acquirer_public_key,
 *		key_version, api, request_id, body, secret, secret_aad, seal_aad, journal_meta)
 *		-> exchange_result */
Datum
autodebit_exchange(PG_FUNCTION_ARGS)
{
	char	   *client_id;
	char	   *gateway_url;
	char	   *key_file;
	char	   *acquirer_key;
	int32		key_version;
	char	   *api;
	char	   *request_id;
	Jsonb	   *body_jb;
	char	   *template;
	char	   *body;
	char	   *secret = NULL;
	size_t		secret_len = 0;
	char	   *seal_aad = NULL;
	int			api_index = -1;
	char	   *path;
	char	   *url;
	char		rtime[32];
	char		sig[ANTSIG_MAX_ENCODED];
	char		sighdr[ANTSIG_MAX_HEADER];
	const char *headers[4];
	TransportResult tr;
	TupleDesc	tupdesc;
	Datum		values[NUM_COLS];
	bool		nulls[NUM_COLS];
	struct timeval tv;
	char	   *outcome = "UNKNOWN";
	char	   *error = NULL;

	for (int i = 0; i < 8; i++)
		if (PG_ARGISNULL(i) && i != 6)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("autodebit._exchange argument %d must not be null", i + 1)));
	client_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	gateway_url = text_to_cstring(PG_GETARG_TEXT_PP(1));
	key_file = text_to_cstring(PG_GETARG_TEXT_PP(2));
	acquirer_key = text_to_cstring(PG_GETARG_TEXT_PP(3));
	key_version = PG_GETARG_INT32(4);
	api = text_to_cstring(PG_GETARG_TEXT_PP(5));
	request_id = PG_ARGISNULL(6) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(6));
	body_jb = PG_GETARG_JSONB_P(7);
	if (!PG_ARGISNULL(10))
		seal_aad = text_to_cstring(PG_GETARG_TEXT_PP(10));

	for (int i = 0; apis[i].name; i++)
		if (strcmp(apis[i].name, api) == 0)
			api_index = i;
	if (api_index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown acquirer API \"%s\"", api)));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "autodebit._exchange must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	/* The request: sandbox path rule, then the body with its secret. */
	path = psprintf("/ams/%sapi/v1/%s",
					strncmp(client_id, "SANDBOX_", 8) == 0 ? "sandbox/" : "",
					apis[api_index].path);
	url = psprintf("%s%s", gateway_url, path);
	if (strlen(gateway_url) > 0 && gateway_url[strlen(gateway_url) - 1] == '/')
		url = psprintf("%.*s%s", (int) strlen(gateway_url) - 1, gateway_url, path);
	template = JsonbToCString(NULL, &body_jb->root, VARSIZE(body_jb));
	body = template;
	if (!PG_ARGISNULL(8))
	{
		if (PG_ARGISNULL(9))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a sealed secret needs its associated data")));
		secret = vault_open(PG_GETARG_BYTEA_PP(8), text_to_cstring(PG_GETARG_TEXT_PP(9)),
							&secret_len);
		body = insert_secret(template, secret);
	}

	/* Nothing that moves money leaves before it is on disk (DESIGN §4.2). */
	if (apis[api_index].money)
		journal_append(client_id, api, request_id, template, strlen(template),
					   PG_ARGISNULL(11) ? NULL :
					   JsonbToCString(NULL, &PG_GETARG_JSONB_P(11)->root, VARSIZE(PG_GETARG_JSONB_P(11))));

	gettimeofday(&tv, NULL);
	snprintf(rtime, sizeof(rtime), "%lld", (long long) tv.tv_sec * 1000 + tv.tv_usec / 1000);
	{
		AntSigMessage msg = {"POST", path, client_id, rtime, body, strlen(body)};

		if (!antsig_sign(keys_private(key_file), &msg, sig) ||
			!antsig_format_header(sighdr, sizeof(sighdr), key_version, sig))
			ereport(ERROR,
					(errcode(ERRCODE_AUTODEBIT_CONFIG),
					 errmsg("could not sign the request with merchant key \"%s\"", key_file)));
	}
	headers[0] = "Content-Type: application/json; charset=UTF-8";
	headers[1] = psprintf("Client-Id: %s", client_id);
	headers[2] = psprintf("Request-Time: %s", rtime);
	headers[3] = psprintf("Signature: %s", sighdr);

	transport_post(url, headers, 4, body, strlen(body), &tr);
	if (secret)
	{
		explicit_bzero(body, strlen(body));
		explicit_bzero(secret, secret_len);
	}

	memset(nulls, true, sizeof(nulls));
	memset(values, 0, sizeof(values));

	/* Classify: only a verified, parseable answer with a result is believed. */
	if (!tr.ok)
		error = tr.error;
	else
	{
		values[COL_HTTP_STATUS] = Int32GetDatum((int32) tr.http_status);
		nulls[COL_HTTP_STATUS] = false;
		if (tr.http_status != 200)
			error = psprintf("HTTP status %ld", tr.http_status);
		else if (tr.signature == NULL || tr.response_time == NULL)
			error = "the answer is not signed";
		else if (!antsig_parse_header(tr.signature, sig, sizeof(sig)) ||
				 !antsig_verify(keys_acquirer(acquirer_key),
								&(AntSigMessage)
								{
									"POST", path, client_id, tr.response_time, tr.body, tr.body_len
								}, sig))
			error = "the answer's signature does not verify with the acquirer public key";
		else if (!json_valid(tr.body, tr.body_len))
			error = "the answer is not JSON";
		else
		{
			Jsonb	   *answer = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(tr.body)));
			JsonbContainer *result = JsonContainerIsObject(&answer->root) ?
				jb_object(&answer->root, "result") : NULL;
			char	   *status = jb_string(result, "resultStatus");
			char	   *code = jb_string(result, "resultCode");
			char	   *message = jb_string(result, "resultMessage");

			if (status == NULL || code == NULL ||
				(strcmp(status, "S") != 0 && strcmp(status, "F") != 0 && strcmp(status, "U") != 0))
				error = "the answer has no result status";
			else
			{
				outcome = status;
				values[COL_RESULT_CODE] = CStringGetTextDatum(code);
				nulls[COL_RESULT_CODE] = false;
				values[COL_RESULT_STATUS] = CStringGetTextDatum(status);
				nulls[COL_RESULT_STATUS] = false;
				if (message)
				{
					values[COL_RESULT_MESSAGE] = CStringGetTextDatum(message);
					nulls[COL_RESULT_MESSAGE] = false;
				}
				if (seal_aad && strcmp(status, "S") == 0)
				{
					char	   *access = jb_string(&answer->root, "accessToken");
					char	   *refresh = jb_string(&answer->root, "refreshToken");

					values[COL_ACCESS_TOKEN_ENC] = seal_token(access, seal_aad, "access",
															  &nulls[COL_ACCESS_TOKEN_ENC]);
					values[COL_REFRESH_TOKEN_ENC] = seal_token(refresh, seal_aad, "refresh",
															   &nulls[COL_REFRESH_TOKEN_ENC]);
					if (access)
					{
						values[COL_ACCESS_TOKEN_FP] =
							PointerGetDatum(vault_fingerprint(access, strlen(access)));
						nulls[COL_ACCESS_TOKEN_FP] = false;
						explicit_bzero(access, strlen(access));
					}
					if (refresh)
						explicit_bzero(refresh, strlen(refresh));
				}
				/* tokens never leave C in the clear */
				answer = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(answer),
															CStringGetTextDatum("accessToken")));
				answer = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(answer),
															CStringGetTextDatum("refreshToken")));
				values[COL_BODY] = JsonbPGetDatum(answer);
				nulls[COL_BODY] = false;
			}
		}
		explicit_bzero(tr.body, tr.body_len);
	}

	values[COL_OUTCOME] = CStringGetTextDatum(outcome);
	nulls[COL_OUTCOME] = false;
	values[COL_LATENCY_MS] = Float8GetDatum(tr.elapsed_ms);
	nulls[COL_LATENCY_MS] = false;
	if (error)
	{
		values[COL_ERROR] = CStringGetTextDatum(error);
		nulls[COL_ERROR] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
