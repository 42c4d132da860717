/*
 * notification.c
 *	  Opening a notification from the acquirer (notifyPayment, notifyRefund,
 *	  notifyAuthorization): verify its RSA-SHA256 signature over the raw body
 *	  with the acquirer public key, and hand SQL the body without the secrets
 *	  it may carry (accessToken, authCode): a fingerprint of the token, for
 *	  finding its agreement, and the authCode as a separate value that is
 *	  never stored.
 */
#include "autodebit.h"

#include "antsig.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(autodebit_open_notification);

/*
 * SQL: autodebit._open_notification(acquirer_public_key, path, client_id, request_time,
 *		signature, body) -> (verified, body, access_token_fp, auth_code)
 * verified is false for a missing or wrong signature or a body that is not JSON; the other
 * columns are then null.
 */
Datum
autodebit_open_notification(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4] = {0};
	bool		nulls[4] = {false, true, true, true};
	char	   *key_text;
	char	   *path;
	char	   *client_id;
	char	   *rtime;
	char	   *sighdr;
	text	   *body_t;
	char	   *body;
	size_t		len;
	char		sig[ANTSIG_MAX_ENCODED];
	bool		ok;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "autodebit._open_notification must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
		{
			values[0] = BoolGetDatum(false);
			PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
		}
	key_text = text_to_cstring(PG_GETARG_TEXT_PP(0));
	path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	client_id = text_to_cstring(PG_GETARG_TEXT_PP(2));
	rtime = text_to_cstring(PG_GETARG_TEXT_PP(3));
	sighdr = text_to_cstring(PG_GETARG_TEXT_PP(4));
	body_t = PG_GETARG_TEXT_PP(5);
	len = VARSIZE_ANY_EXHDR(body_t);
	body = text_to_cstring(body_t);

	{
		AntSigMessage msg = {"POST", path, client_id, rtime, body, len};

		ok = antsig_parse_header(sighdr, sig, sizeof(sig)) &&
			antsig_verify(keys_acquirer(key_text), &msg, sig) &&
			json_valid(body, len);
	}
	values[0] = BoolGetDatum(ok);
	if (ok)
	{
		Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(body)));
		char	   *token = JsonContainerIsObject(&jb->root) ? jb_string(&jb->root, "accessToken") : NULL;
		char	   *code = JsonContainerIsObject(&jb->root) ? jb_string(&jb->root, "authCode") : NULL;

		if (token)
		{
			values[2] = PointerGetDatum(vault_fingerprint(token, strlen(token)));
			nulls[2] = false;
			explicit_bzero(token, strlen(token));
		}
		if (code)
		{
			values[3] = CStringGetTextDatum(code);
			nulls[3] = false;
		}
		if (JsonContainerIsObject(&jb->root))
		{
			jb = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(jb),
													CStringGetTextDatum("accessToken")));
			jb = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(jb),
													CStringGetTextDatum("authCode")));
		}
		values[1] = JsonbPGetDatum(jb);
		nulls[1] = false;
	}
	explicit_bzero(body, len);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
