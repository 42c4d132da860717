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

#include "antom_api.h"
#include "antsig.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#define SECRET_PLACEHOLDER	"@@autodebit_secret@@"

PG_FUNCTION_INFO_V1(autodebit_exchange);
PG_FUNCTION_INFO_V1(autodebit_exchange_many);

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

/*
 * The body to send: the template with the member at secret_path (a dotted path) set to the
 * secret.  The member is found by its path, never by searching the text, so no text a caller
 * chose (a description equal to the placeholder, say) can take the secret's place or stop
 * the request.  The template must hold the placeholder there.
 */
static char *
insert_secret(Jsonb *template, const char *secret_path, const char *secret, size_t secret_len)
{
	JsonbContainer *c = &template->root;
	char	   *path = pstrdup(secret_path);
	char	   *parts[4];
	Datum		elems[4];
	int			n = 0;
	char	   *at = NULL;
	JsonbValue	v;
	Jsonb	   *with_secret;
	char	   *out;

	for (char *part = strtok_r(path, ".", &at); part && n < 4; part = strtok_r(NULL, ".", &at))
	{
		parts[n] = part;
		elems[n++] = CStringGetTextDatum(part);
	}
	for (int i = 0; i < n - 1; i++)
		c = jb_object(c, parts[i]);
	{
		char	   *held = jb_string(c, parts[n - 1]);

		if (held == NULL || strcmp(held, SECRET_PLACEHOLDER) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("request body has no secret placeholder at %s", secret_path)));
	}
	v.type = jbvString;
	v.val.string.val = (char *) secret;
	v.val.string.len = (int) secret_len;
	with_secret = DatumGetJsonbP(DirectFunctionCall4(jsonb_set, JsonbPGetDatum(template),
													 PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT)),
													 JsonbPGetDatum(JsonbValueToJsonb(&v)),
													 BoolGetDatum(false)));
	out = JsonbToCString(NULL, &with_secret->root, VARSIZE(with_secret));
	explicit_bzero(with_secret, VARSIZE(with_secret));
	return out;
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

/* One exchange being prepared, sent and classified. */
typedef struct Exchange
{
	int			api_index;
	const char *client_id;
	const char *request_id;		/* the id the answer must name, or NULL */
	char	   *path;
	char	   *template;		/* the body as stored: token as a placeholder */
	char	   *body;			/* the body as sent */
	char	   *secret;
	size_t		secret_len;
	const char *key_file;		/* the merchant key that signs it */
	int			key_version;
	const char *headers[4];
	TransportRequest req;
} Exchange;

/* Index of an API name in antom_apis[]; raises for an unknown one. */
static int
api_index_of(const char *api)
{
	int			i = antom_api_by_name(api);

	if (i < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown acquirer API \"%s\"", api)));
	return i;
}

/* Build the URL and the body with its secret of one request (exchange_sign signs it). */
static void
exchange_prepare(Exchange *x, const char *client_id, const char *gateway_url, const char *key_file,
				 int key_version, int api_index, Jsonb *body_jb, bytea *secret, const char *secret_aad)
{
	size_t		gl = strlen(gateway_url);

	memset(x, 0, sizeof(*x));
	x->api_index = api_index;
	x->client_id = client_id;
	x->key_file = key_file;
	x->key_version = key_version;
	x->path = psprintf("/ams/%sapi/v1/%s", strncmp(client_id, "SANDBOX_", 8) == 0 ? "sandbox/" : "",
					   antom_apis[api_index].path);
	x->template = JsonbToCString(NULL, &body_jb->root, VARSIZE(body_jb));
	x->body = x->template;
	if (secret)
	{
		if (secret_aad == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a sealed secret needs its associated data")));
		if (antom_apis[api_index].secret_path == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("acquirer API \"%s\" carries no secret", antom_apis[api_index].name)));
		x->secret = vault_open(secret, secret_aad, &x->secret_len);
		x->body = insert_secret(body_jb, antom_apis[api_index].secret_path, x->secret, x->secret_len);
	}
	x->req.url = psprintf("%.*s%s", (int) (gl > 0 && gateway_url[gl - 1] == '/' ? gl - 1 : gl),
						  gateway_url, x->path);
	x->req.body = x->body;
	x->req.body_len = strlen(x->body);
}

/* Stamp a prepared request with its Request-Time and sign it: its headers are then complete. */
static void
exchange_sign(Exchange *x)
{
	char		rtime[32];
	char		sig[ANTSIG_MAX_ENCODED];
	char		sighdr[ANTSIG_MAX_HEADER];
	struct timeval tv;
	AntSigMessage msg;

	gettimeofday(&tv, NULL);
	snprintf(rtime, sizeof(rtime), "%lld", (long long) tv.tv_sec * 1000 + tv.tv_usec / 1000);
	msg = (AntSigMessage)
	{
		"POST", x->path, x->client_id, rtime, x->body, strlen(x->body)
	};
	if (!antsig_sign(keys_private(x->key_file), &msg, sig) ||
		!antsig_format_header(sighdr, sizeof(sighdr), x->key_version, sig))
		ereport(ERROR,
				(errcode(ERRCODE_AUTODEBIT_CONFIG),
				 errmsg("could not sign the request with merchant key \"%s\"", x->key_file)));
	x->headers[0] = "Content-Type: application/json; charset=UTF-8";
	x->headers[1] = psprintf("Client-Id: %s", x->client_id);
	x->headers[2] = psprintf("Request-Time: %s", rtime);
	x->headers[3] = psprintf("Signature: %s", sighdr);
	x->req.headers = x->headers;
	x->req.nheaders = 4;
}

/* TransportRequest.prepare of a batch: sign the request just before it starts. */
static void
exchange_sign_request(TransportRequest *req)
{
	Exchange   *x = (Exchange *) req->prepare_arg;

	exchange_sign(x);
	req->headers = x->headers;
	req->nheaders = 4;
}

/* Forget the secret of a request once it is sent. */
static void
exchange_wipe(Exchange *x)
{
	if (x->secret)
	{
		explicit_bzero(x->body, strlen(x->body));
		explicit_bzero(x->secret, x->secret_len);
	}
}

/* Classify an answer into the exchange_result columns: only a verified answer is believed. */
static void
exchange_classify(Exchange *x, const char *acquirer_key, const char *seal_aad,
				  Datum *values, bool *nulls)
{
	TransportResult *tr = &x->req.result;
	char		sig[ANTSIG_MAX_ENCODED];
	char	   *outcome = "UNKNOWN";
	char	   *error = NULL;

	for (int i = 0; i < NUM_COLS; i++)
	{
		values[i] = (Datum) 0;
		nulls[i] = true;
	}
	if (!tr->ok)
		error = tr->error;
	else
	{
		values[COL_HTTP_STATUS] = Int32GetDatum((int32) tr->http_status);
		nulls[COL_HTTP_STATUS] = false;
		if (tr->http_status != 200)
			error = psprintf("HTTP status %ld", tr->http_status);
		else if (tr->signature == NULL || tr->response_time == NULL)
			error = "the answer is not signed";
		else if (!antsig_parse_header(tr->signature, sig, sizeof(sig)) ||
				 !antsig_verify(keys_acquirer(acquirer_key),
								&(AntSigMessage)
								{
									"POST", x->path, x->client_id, tr->response_time, tr->body, tr->body_len
								}, sig))
			error = "the answer's signature does not verify with the acquirer public key";
		else if ((error = (char *) answer_unparsable(tr->body, tr->body_len)) != NULL)
			;
		else
		{
			Jsonb	   *answer = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(tr->body)));
			JsonbContainer *result = JsonContainerIsObject(&answer->root) ?
				jb_object(&answer->root, "result") : NULL;
			char	   *status = jb_string(result, "resultStatus");
			char	   *code = jb_string(result, "resultCode");
			char	   *message = jb_string(result, "resultMessage");

			if (status == NULL || code == NULL ||
				(strcmp(status, "S") != 0 && strcmp(status, "F") != 0 && strcmp(status, "U") != 0))
				error = "the answer has no result status";
			else if ((error = (char *) answer_unbelievable(&answer->root, status, code,
														   antom_apis[x->api_index].request_id_key,
														   antom_apis[x->api_index].decline_names_request,
														   x->request_id, tr->response_time)) != NULL)
				;
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
		explicit_bzero(tr->body, tr->body_len);
	}
	values[COL_OUTCOME] = CStringGetTextDatum(outcome);
	nulls[COL_OUTCOME] = false;
	values[COL_LATENCY_MS] = Float8GetDatum(tr->elapsed_ms);
	nulls[COL_LATENCY_MS] = false;
	if (error)
	{
		values[COL_ERROR] = CStringGetTextDatum(error);
		nulls[COL_ERROR] = false;
	}
}

/* The text of a nullable jsonb argument, or NULL. */
static char *
jsonb_arg_text(Jsonb *jb)
{
	return jb ? JsonbToCString(NULL, &jb->root, VARSIZE(jb)) : NULL;
}

/* The merchant a request is for, as the SQL functions pass it. */
typedef struct Merchant
{
	char	   *client_id;
	char	   *gateway_url;
	char	   *key_file;
	char	   *acquirer_key;
	int			key_version;
} Merchant;

/* A text attribute of a composite argument by name; raises when it is null. */
static char *
merchant_text(HeapTupleHeader row, const char *name)
{
	bool		isnull;
	Datum		d = GetAttributeByName(row, name, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the merchant's %s must not be null", name)));
	return TextDatumGetCString(d);
}

/*
 * The merchant from the arguments, and the position of the first argument after it.  Version
 * 0.2's SQL passes an autodebit.merchant row, read by attribute name; 0.1's passed client_id,
 * gateway_url, private_key_file, acquirer_public_key and key_version one by one, and is still
 * served until ALTER EXTENSION autodebit UPDATE, so that a new library never stops payments.
 */
static int
merchant_arg(FunctionCallInfo fcinfo, Merchant *m)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the merchant of an acquirer call must not be null")));
	if (type_is_rowtype(get_fn_expr_argtype(fcinfo->flinfo, 0)))
	{
		HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
		bool		isnull;

		m->client_id = merchant_text(row, "client_id");
		m->gateway_url = merchant_text(row, "gateway_url");
		m->key_file = merchant_text(row, "private_key_file");
		m->acquirer_key = merchant_text(row, "acquirer_public_key");
		m->key_version = DatumGetInt32(GetAttributeByName(row, "key_version", &isnull));
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the merchant's key_version must not be null")));
		return 1;
	}
	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the merchant of an acquirer call must not be null")));
	m->client_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	m->gateway_url = text_to_cstring(PG_GETARG_TEXT_PP(1));
	m->key_file = text_to_cstring(PG_GETARG_TEXT_PP(2));
	m->acquirer_key = text_to_cstring(PG_GETARG_TEXT_PP(3));
	m->key_version = PG_GETARG_INT32(4);
	return 5;
}

/* The arguments of autodebit._exchange after the merchant, by name. */
enum
{
	X_API,
	X_REQUEST_ID,
	X_BODY,
	X_SECRET,
	X_SECRET_AAD,
	X_SEAL_AAD,
	X_META
};

/* Raise unless the argument at position arg (named name) is present. */
static void
require_arg(FunctionCallInfo fcinfo, int arg, const char *function, const char *name)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: %s must not be null", function, name)));
}

/* A text argument, or NULL. */
static char *
text_arg_or_null(FunctionCallInfo fcinfo, int arg)
{
	return PG_ARGISNULL(arg) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

/* SQL: autodebit._exchange(m autodebit.merchant, api, request_id, body, secret, secret_aad,
 *		seal_aad, journal_meta) -> exchange_result */
Datum
autodebit_exchange(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[NUM_COLS];
	bool		nulls[NUM_COLS];
	Exchange	x;
	Merchant	m;
	int			a = merchant_arg(fcinfo, &m);	/* the position of X_API */
	int			api_index;
	char	   *request_id;

	require_arg(fcinfo, a + X_API, "autodebit._exchange", "api");
	require_arg(fcinfo, a + X_BODY, "autodebit._exchange", "body");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "autodebit._exchange must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	api_index = api_index_of(text_to_cstring(PG_GETARG_TEXT_PP(a + X_API)));
	request_id = text_arg_or_null(fcinfo, a + X_REQUEST_ID);

	exchange_prepare(&x, m.client_id, m.gateway_url, m.key_file, m.key_version, api_index,
					 PG_GETARG_JSONB_P(a + X_BODY),
					 PG_ARGISNULL(a + X_SECRET) ? NULL : PG_GETARG_BYTEA_PP(a + X_SECRET),
					 text_arg_or_null(fcinfo, a + X_SECRET_AAD));
	exchange_sign(&x);
	x.request_id = request_id;

	/* Nothing that moves money leaves before it is on disk (README, "Failure semantics"). */
	if (antom_apis[api_index].money)
	{
		JournalEntry e = {m.client_id, antom_apis[api_index].name, request_id ? request_id : "",
			x.template, PG_ARGISNULL(a + X_META) ? NULL : jsonb_arg_text(PG_GETARG_JSONB_P(a + X_META))};

		journal_append(&e, 1);
	}
	transport_post_many(&x.req, 1, 1, 0);
	exchange_wipe(&x);
	exchange_classify(&x, m.acquirer_key, text_arg_or_null(fcinfo, a + X_SEAL_AAD), values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Elements of a one-dimensional array argument (NULL elements allowed). */
static void
array_arg(ArrayType *a, Oid type, Datum **elems, bool **isnull, int *n)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(a, type, typlen, typbyval, typalign, elems, isnull, n);
}

/* The arguments of autodebit._exchange_many after the merchant, by name. */
enum
{
	XM_API,
	XM_REQUEST_IDS,
	XM_BODIES,
	XM_SECRETS,
	XM_SECRET_AADS,
	XM_METAS,
	XM_MAX_IN_FLIGHT,
	XM_RPS,
	XM_COUNT
};

/*
 * SQL: autodebit._exchange_many(m autodebit.merchant, api, request_ids text[], bodies jsonb[],
 *		secrets bytea[], secret_aads text[], metas jsonb[], max_in_flight int, rps int
 *		[, seal_aads text[]]) -> SETOF (i, exchange_result columns)
 * One merchant, one API, many requests: journaled together (one fsync), signed, then sent
 * concurrently through libcurl's multi interface with bounded concurrency and rate.  With
 * seal_aads (applyToken: token refreshes), each answer's tokens are sealed under its AAD.
 */
Datum
autodebit_exchange_many(PG_FUNCTION_ARGS)
{
	static const char *const names[XM_COUNT] = {"api", "request_ids", "bodies", "secrets",
	"secret_aads", "metas", "max_in_flight", "rps"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Merchant	m;
	int			a = merchant_arg(fcinfo, &m);	/* the position of XM_API */
	int			api_index;
	Datum	   *ids, *bodies, *secrets, *aads, *metas, *seals = NULL;
	bool	   *ids_null, *bodies_null, *secrets_null, *aads_null, *metas_null, *seals_null = NULL;
	int			n, n2, n3, n4, n5, n6;
	Exchange   *xs;
	TransportRequest *reqs;

	for (int k = 0; k < XM_COUNT; k++)
		require_arg(fcinfo, a + k, "autodebit._exchange_many", names[k]);
	api_index = api_index_of(text_to_cstring(PG_GETARG_TEXT_PP(a + XM_API)));
	array_arg(PG_GETARG_ARRAYTYPE_P(a + XM_REQUEST_IDS), TEXTOID, &ids, &ids_null, &n);
	array_arg(PG_GETARG_ARRAYTYPE_P(a + XM_BODIES), JSONBOID, &bodies, &bodies_null, &n2);
	array_arg(PG_GETARG_ARRAYTYPE_P(a + XM_SECRETS), BYTEAOID, &secrets, &secrets_null, &n3);
	array_arg(PG_GETARG_ARRAYTYPE_P(a + XM_SECRET_AADS), TEXTOID, &aads, &aads_null, &n4);
	array_arg(PG_GETARG_ARRAYTYPE_P(a + XM_METAS), JSONBOID, &metas, &metas_null, &n5);
	n6 = n;
	if (PG_NARGS() > a + XM_COUNT && !PG_ARGISNULL(a + XM_COUNT))
		array_arg(PG_GETARG_ARRAYTYPE_P(a + XM_COUNT), TEXTOID, &seals, &seals_null, &n6);
	if (n2 != n || n3 != n || n4 != n || n5 != n || n6 != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("autodebit._exchange_many arrays must all have the same length")));
	InitMaterializedSRF(fcinfo, 0);
	if (n == 0)
		PG_RETURN_VOID();

	xs = palloc0(sizeof(Exchange) * n);
	reqs = palloc0(sizeof(TransportRequest) * n);
	for (int i = 0; i < n; i++)
	{
		if (ids_null[i] || bodies_null[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("request ids and bodies must not be null")));
		exchange_prepare(&xs[i], m.client_id, m.gateway_url, m.key_file, m.key_version, api_index,
						 DatumGetJsonbP(bodies[i]),
						 secrets_null[i] ? NULL : DatumGetByteaPP(secrets[i]),
						 aads_null[i] ? NULL : TextDatumGetCString(aads[i]));
		xs[i].request_id = TextDatumGetCString(ids[i]);
	}
	if (antom_apis[api_index].money)
	{
		JournalEntry *entries = palloc(sizeof(JournalEntry) * n);

		for (int i = 0; i < n; i++)
		{
			entries[i].client_id = m.client_id;
			entries[i].api = antom_apis[api_index].name;
			entries[i].request_id = TextDatumGetCString(ids[i]);
			entries[i].body = xs[i].template;
			entries[i].meta = metas_null[i] ? NULL : jsonb_arg_text(DatumGetJsonbP(metas[i]));
		}
		journal_append(entries, n);
	}

	for (int i = 0; i < n; i++)
	{
		reqs[i] = xs[i].req;
		reqs[i].prepare = exchange_sign_request;
		reqs[i].prepare_arg = &xs[i];
	}
	transport_post_many(reqs, n, PG_GETARG_INT32(a + XM_MAX_IN_FLIGHT), PG_GETARG_INT32(a + XM_RPS));

	for (int i = 0; i < n; i++)
	{
		Datum		values[NUM_COLS + 1];
		bool		nulls[NUM_COLS + 1];

		xs[i].req = reqs[i];
		exchange_wipe(&xs[i]);
		values[0] = Int32GetDatum(i + 1);
		nulls[0] = false;
		exchange_classify(&xs[i], m.acquirer_key,
						  seals && !seals_null[i] ? TextDatumGetCString(seals[i]) : NULL,
						  values + 1, nulls + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(autodebit_secret_placeholder);

/* SQL: autodebit._secret_placeholder() -> the text a template holds where the secret goes. */
Datum
autodebit_secret_placeholder(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(SECRET_PLACEHOLDER));
}
