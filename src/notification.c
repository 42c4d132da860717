/*
 * notification.c
 *	  Opening a notification from the acquirer (notifyPayment, notifyRefund,
 *	  notifyAuthorization): verify its RSA-SHA256 signature over the raw body
 *	  bytes with the acquirer public key first, then see whether the body can
 *	  be stored, and hand SQL the body with the secrets it may carry
 *	  (accessToken, authCode) taken out: the token's fingerprints, for finding
 *	  its agreement across data key rotations, and the authCode as a separate
 *	  value that is never stored.
 */
#include "autodebit.h"

#include "antsig.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(autodebit_open_notification);

/* The arguments of autodebit._open_notification, by name. */
enum
{
	N_ACQUIRER_KEY,
	N_PATH,
	N_CLIENT_ID,
	N_REQUEST_TIME,
	N_SIGNATURE,
	N_BODY,
	N_COUNT
};

/* The columns of its answer. */
enum
{
	R_VERIFIED,
	R_PROBLEM,
	R_BODY,
	R_ACCESS_TOKEN_FPS,
	R_AUTH_CODE,
	R_COUNT
};

/* The body without one top-level member. */
static Jsonb *
without(Jsonb *jb, const char *key)
{
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(jb),
											  CStringGetTextDatum(key)));
}

/*
 * SQL: autodebit._open_notification(acquirer_public_key, path, client_id, request_time,
 *		signature, body bytea) -> (verified, problem, body, access_token_fps, auth_code)
 * verified is false for a missing or wrong signature.  A verified body that cannot be stored
 * (not UTF-8, not a JSON object, too deep, \u0000) has problem set and the other columns null.
 */
Datum
autodebit_open_notification(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[R_COUNT] = {0};
	bool		nulls[R_COUNT] = {false, true, true, true, true};
	bytea	   *body_b;
	char	   *body;
	size_t		len;
	char		sig[ANTSIG_MAX_ENCODED];
	const char *problem;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "autodebit._open_notification must return a composite type");
	if (tupdesc->natts != R_COUNT || get_fn_expr_argtype(fcinfo->flinfo, N_BODY) != BYTEAOID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the autodebit extension's SQL objects are older than its library"),
				 errhint("Run ALTER EXTENSION autodebit UPDATE.")));
	tupdesc = BlessTupleDesc(tupdesc);
	values[R_VERIFIED] = BoolGetDatum(false);
	/* nothing missing is believed: any absent part means not verified */
	for (int arg = 0; arg < N_COUNT; arg++)
		if (PG_ARGISNULL(arg))
			PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	body_b = PG_GETARG_BYTEA_PP(N_BODY);
	len = VARSIZE_ANY_EXHDR(body_b);
	body = palloc(len + 1);
	memcpy(body, VARDATA_ANY(body_b), len);
	body[len] = '\0';

	{
		AntSigMessage msg = {"POST", text_to_cstring(PG_GETARG_TEXT_PP(N_PATH)),
			text_to_cstring(PG_GETARG_TEXT_PP(N_CLIENT_ID)),
			text_to_cstring(PG_GETARG_TEXT_PP(N_REQUEST_TIME)), body, len};

		if (!antsig_parse_header(text_to_cstring(PG_GETARG_TEXT_PP(N_SIGNATURE)), sig, sizeof(sig)) ||
			!antsig_verify(keys_acquirer(text_to_cstring(PG_GETARG_TEXT_PP(N_ACQUIRER_KEY))), &msg, sig))
		{
			explicit_bzero(body, len);
			PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
		}
	}
	values[R_VERIFIED] = BoolGetDatum(true);
	/* the acquirer signed it: from here on, every answer is a recorded one */
	problem = (strlen(body) != len) ? "the body holds a NUL byte" : notification_unreadable(body, len);
	if (problem)
	{
		values[R_PROBLEM] = CStringGetTextDatum(problem);
		nulls[R_PROBLEM] = false;
	}
	else
	{
		Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(body)));
		char	   *token = jb_string(&jb->root, "accessToken");
		char	   *code = jb_string(&jb->root, "authCode");

		if (token)
		{
			values[R_ACCESS_TOKEN_FPS] = vault_fingerprints(token, strlen(token));
			nulls[R_ACCESS_TOKEN_FPS] = false;
			explicit_bzero(token, strlen(token));
		}
		if (code)
		{
			values[R_AUTH_CODE] = CStringGetTextDatum(code);
			nulls[R_AUTH_CODE] = false;
		}
		/* SQL strips every other secret-looking member, at any depth (autodebit._redact) */
		values[R_BODY] = JsonbPGetDatum(without(without(jb, "accessToken"), "authCode"));
		nulls[R_BODY] = false;
	}
	explicit_bzero(body, len);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
