/*
 * answer.c
 *	  Whether a verified answer may be believed: its bytes are
 *	  UTF-8, its JSON is shallow enough to parse without raising, it names
 *	  the request we sent, its response-time is fresh, and the times it
 *	  carries parse.  Every check here reports instead of raising: after a
 *	  request went out, an unusable answer makes the outcome UNKNOWN, never
 *	  an error that would roll back the record of what was sent.
 *
 *	  The same checks decide whether a verified notification can be stored.
 *
 *	  Also the SQL helper autodebit._time(text): a time from an outsider,
 *	  or NULL when it does not parse.
 */
#include "autodebit.h"

#include <sys/time.h>

#include "fmgr.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* Deeper than this, an answer is not Antom's (its answers nest four levels). */
#define ANSWER_MAX_DEPTH	32

PG_FUNCTION_INFO_V1(autodebit_time);

/* Is the JSON text at most max_depth arrays and objects deep, with numbers jsonb can hold? */
static bool
json_shape_ok(const char *s, size_t len, int max_depth)
{
	int			depth = 0;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > max_depth)
				return false;
		}
		else if (c == '}' || c == ']')
			depth--;
		else if (c == '-' || (c >= '0' && c <= '9'))
		{
			/* a number jsonb cannot hold (1e1000000) would raise: bound its size */
			size_t		start = i;
			size_t		exp_digits = 0;
			bool		in_exp = false;

			while (i + 1 < len && strchr("0123456789eE+-.", s[i + 1]) != NULL)
			{
				i++;
				if (s[i] == 'e' || s[i] == 'E')
					in_exp = true;
				else if (in_exp && s[i] >= '0' && s[i] <= '9')
					exp_digits++;
			}
			if (i - start + 1 > 64 || exp_digits > 3)
				return false;
		}
	}
	return true;
}

/* Can these bytes be parsed as JSON into jsonb without raising?  NULL if so, else why not. */
const char *
answer_unparsable(char *body, size_t len)
{
	if (!pg_verify_mbstr(PG_UTF8, body, (int) len, true))
		return "the answer is not valid UTF-8";
	if (!json_shape_ok(body, len, ANSWER_MAX_DEPTH))
		return "the answer is nested too deeply or holds a number out of range";
	if (!json_valid(body, len))
		return "the answer is not JSON";
	return NULL;
}

/*
 * Can a verified notification body be stored and read?  NULL if so, else why not: the reason
 * is recorded with the notification and answered to the acquirer as a permanent refusal.
 */
const char *
notification_unreadable(char *body, size_t len)
{
	size_t		i = 0;

	if (!pg_verify_mbstr(PG_UTF8, body, (int) len, true))
		return "the body is not valid UTF-8";
	if (!json_shape_ok(body, len, ANSWER_MAX_DEPTH))
		return "the body is nested too deeply or holds a number out of range";
	if (json_check(body, len) == JSON_UNICODE_CODE_POINT_ZERO)
		return "the body holds \\u0000, which PostgreSQL cannot store";
	if (!json_valid(body, len))
		return "the body is not JSON";
	while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
		i++;
	if (i == len || body[i] != '{')
		return "the body is not a JSON object";
	return NULL;
}

/* Parse a time string without raising; false when it is not a time. */
bool
parse_time(const char *str, int64 *result)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_tm tt;
	fsec_t		fsec;
	int			tz;
	size_t		len = strlen(str);
	bool		digits = len > 0 && len <= 15;

	/* epoch milliseconds, as the Java and Go SDKs send Request-Time */
	for (size_t i = 0; digits && i < len; i++)
		digits = (str[i] >= '0' && str[i] <= '9');
	if (digits)
	{
		*result = (TimestampTz) (strtoll(str, NULL, 10) * 1000 -
								 ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
		return true;
	}
	if (len == 0 || len >= MAXDATELEN ||
		ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0 ||
		DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0 ||
		dtype != DTK_DATE)
		return false;
	return tm2timestamp(&tt, fsec, &tz, result) == 0 && IS_VALID_TIMESTAMP(*result);
}

/*
 * Is this parsed answer for the request we sent, fresh, and are its times times?
 * NULL if so, else why not.  request_id_key names the member that must echo
 * request_id ("paymentRequestId", "refundRequestId"), or is NULL for APIs
 * without one.  An S answer must name its request; an F or U answer that
 * names none is taken on freshness alone (Antom's error answers carry only
 * the result) -- except an F to a pay or refund (decline_names_request), which would let
 * a new attempt be minted: unless it is ORDER_NOT_EXIST (itself only believed
 * after the grace period), it is UNKNOWN and an inquiry, which is bound, decides.
 */
const char *
answer_unbelievable(JsonbContainer *answer, const char *status, const char *code,
					const char *request_id_key, bool decline_names_request, const char *request_id,
					const char *response_time)
{
	static const char *const time_keys[] = {
		"paymentTime", "paymentCreateTime", "cancelTime", "refundTime",
		"accessTokenExpiryTime", "refreshTokenExpiryTime", NULL
	};
	TimestampTz rt;

	if (!parse_time(response_time, &rt))
		return "the answer's response-time is not a time";
	if (autodebit_response_max_age_s > 0)
	{
		int64		age = GetCurrentTimestamp() - rt;

		if (age > (int64) autodebit_response_max_age_s * USECS_PER_SEC ||
			-age > (int64) autodebit_response_max_age_s * USECS_PER_SEC)
			return "the answer's response-time is outside autodebit.response_max_age";
	}
	if (request_id_key && request_id && request_id[0])
	{
		char	   *named = jb_string(answer, request_id_key);

		if (named && strcmp(named, request_id) != 0)
			return "the answer names another request";
		if (named == NULL &&
			(strcmp(status, "S") == 0 ||
			 (decline_names_request && strcmp(status, "F") == 0 && strcmp(code, "ORDER_NOT_EXIST") != 0)))
			return "the answer does not name the request it answers";
	}
	for (int i = 0; time_keys[i]; i++)
	{
		char	   *t = jb_string(answer, time_keys[i]);
		TimestampTz ignored;

		if (t && !parse_time(t, &ignored))
			return psprintf("the answer's %s is not a time", time_keys[i]);
	}
	return NULL;
}

/* SQL: autodebit._time(text) -> timestamptz, NULL when the text is not a time. */
Datum
autodebit_time(PG_FUNCTION_ARGS)
{
	TimestampTz t;
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (!parse_time(s, &t))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(t);
}
