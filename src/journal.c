/*
 * journal.c
 *	  The send journal: before a money request (pay, refund) goes out, one
 *	  JSON line describing it is appended to $PGDATA/autodebit/journal and
 *	  fsynced.  A file is not undone by ROLLBACK, so a debit whose
 *	  transaction rolled back after sending can still be found and settled
 *	  (DESIGN §4.2): autodebit_reconcile() reads it back with
 *	  autodebit._journal_read() and asks pg_xact_status() about each line's
 *	  transaction.  A line holds no secret: the body is the stored template,
 *	  whose token is a placeholder.
 */
#include "autodebit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/transam.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

#define JOURNAL_DIR		"autodebit"
#define JOURNAL_FILE	"autodebit/journal"

PG_FUNCTION_INFO_V1(autodebit_journal_read);

/* Append one line per outgoing money request, then fsync once; raises if it cannot. */
void
journal_append(const JournalEntry *entries, int n)
{
	StringInfoData lines;
	int			fd;
	const char *now;
	uint64		xid;

	if (!autodebit_journal_enabled || n == 0)
		return;

	/* the full xid lets the reader ask whether this transaction committed */
	now = timestamptz_to_str(GetCurrentTimestamp());
	xid = U64FromFullTransactionId(GetTopFullTransactionId());
	initStringInfo(&lines);
	for (int i = 0; i < n; i++)
	{
		appendStringInfo(&lines, "{\"v\":1,\"at\":\"%s\",\"db\":%u,\"pid\":%d,\"xid\":\"" UINT64_FORMAT "\",\"clientId\":",
						 now, MyDatabaseId, MyProcPid, xid);
		escape_json(&lines, entries[i].client_id);
		appendStringInfoString(&lines, ",\"api\":");
		escape_json(&lines, entries[i].api);
		appendStringInfoString(&lines, ",\"requestId\":");
		escape_json(&lines, entries[i].request_id);
		appendStringInfoString(&lines, ",\"meta\":");
		appendStringInfoString(&lines, entries[i].meta ? entries[i].meta : "null");
		appendStringInfoString(&lines, ",\"body\":");
		appendStringInfoString(&lines, entries[i].body);
		appendStringInfoString(&lines, "}\n");
	}

	if (MakePGDirectory(JOURNAL_DIR) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create journal directory \"%s\": %m", JOURNAL_DIR)));
	fd = OpenTransientFile(JOURNAL_FILE, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the send journal \"%s\": %m", JOURNAL_FILE),
				 errdetail("A money request is never sent unless it is journaled first.")));
	if (write(fd, lines.data, lines.len) != lines.len || pg_fsync(fd) != 0)
	{
		int			save = errno;

		CloseTransientFile(fd);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the send journal \"%s\": %m", JOURNAL_FILE),
				 errdetail("A money request is never sent unless it is journaled first.")));
	}
	CloseTransientFile(fd);
	pfree(lines.data);
}

/* A JSONB member (any type) as a Jsonb datum, or null. */
static Datum
member_jsonb(Jsonb *line, const char *key, bool *isnull)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(&line->root, key, strlen(key), &v) == NULL ||
		v.type == jbvNull)
	{
		*isnull = true;
		return (Datum) 0;
	}
	*isnull = false;
	return JsonbPGetDatum(JsonbValueToJsonb(&v));
}

/* A string member as a text datum, or null. */
static Datum
member_text(Jsonb *line, const char *key, bool *isnull)
{
	char	   *s = jb_string(&line->root, key);

	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * SQL: autodebit._journal_read(from_offset bigint, max_lines int) -> SETOF
 *	(line_start, line_end, at, xid, client_id, api, request_id, meta, body).
 * Complete lines only: a torn last line (a crash mid-write) is left for later.
 */
Datum
autodebit_journal_read(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		offset = PG_GETARG_INT64(0);
	int32		max_lines = PG_GETARG_INT32(1);
	FILE	   *f;
	StringInfoData buf;
	int			c;
	int			n = 0;

	InitMaterializedSRF(fcinfo, 0);
	f = AllocateFile(JOURNAL_FILE, PG_BINARY_R);
	if (f == NULL)
	{
		if (errno == ENOENT)
			PG_RETURN_VOID();	/* nothing was ever sent */
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the send journal \"%s\": %m", JOURNAL_FILE)));
	}
	if (offset < 0 || fseeko(f, (off_t) offset, SEEK_SET) != 0)
	{
		FreeFile(f);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("journal offset " INT64_FORMAT " is not valid", offset)));
	}

	initStringInfo(&buf);
	while (n < max_lines)
	{
		Datum		values[9];
		bool		nulls[9] = {0};
		Jsonb	   *line;
		char	   *xid;
		char	   *at;
		int64		start = offset;

		resetStringInfo(&buf);
		while ((c = fgetc(f)) != EOF && c != '\n')
			appendStringInfoChar(&buf, (char) c);
		if (c == EOF)
			break;				/* no newline yet: incomplete */
		offset += buf.len + 1;
		if (!json_valid(buf.data, buf.len))
		{
			ereport(WARNING,
					(errmsg("skipping a malformed send journal line at offset " INT64_FORMAT, start)));
			continue;
		}
		line = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
		{
			JsonbValue	db;

			/* the journal is the cluster's; each database adopts only its own lines */
			if (getKeyJsonValueFromContainer(&line->root, "db", 2, &db) != NULL &&
				db.type == jbvNumeric &&
				DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(db.val.numeric))) !=
				(int64) MyDatabaseId)
				continue;
		}
		xid = jb_string(&line->root, "xid");
		at = jb_string(&line->root, "at");

		values[0] = Int64GetDatum(start);
		values[1] = Int64GetDatum(offset);
		values[2] = at ? DirectFunctionCall3(timestamptz_in, CStringGetDatum(at),
											 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)) : (Datum) 0;
		nulls[2] = (at == NULL);
		values[3] = xid ? DirectFunctionCall1(xid8in, CStringGetDatum(xid)) : (Datum) 0;
		nulls[3] = (xid == NULL);
		values[4] = member_text(line, "clientId", &nulls[4]);
		values[5] = member_text(line, "api", &nulls[5]);
		values[6] = member_text(line, "requestId", &nulls[6]);
		values[7] = member_jsonb(line, "meta", &nulls[7]);
		values[8] = member_jsonb(line, "body", &nulls[8]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		n++;
	}
	FreeFile(f);
	PG_RETURN_VOID();
}
