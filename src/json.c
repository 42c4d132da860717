/*
 * json.c
 *	  Reading JSON that an outsider sent, without raising: whether text
 *	  parses (and why not), and the string or object member of a jsonb
 *	  object.  Used by the exchange, the journal reader, answers and
 *	  notifications, so none of them depends on another for it.
 */
#include "autodebit.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/jsonb.h"

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

/* Why text does not parse as JSON (JSON_SUCCESS if it does), checked without raising. */
int
json_check(char *text, size_t len)
{
#if PG_VERSION_NUM >= 170000
	JsonLexContext *lex = makeJsonLexContextCstringLen(NULL, text, len, GetDatabaseEncoding(), true);
#else
	JsonLexContext *lex = makeJsonLexContextCstringLen(text, (int) len, GetDatabaseEncoding(), true);
#endif

	return (int) pg_parse_json(lex, &nullSemAction);
}

/* Does text parse as JSON?  Checked without raising, so no answer text reaches a log. */
bool
json_valid(char *text, size_t len)
{
	return json_check(text, len) == JSON_SUCCESS;
}
