/*
 * journal.c
 *	  The send journal: before a money request (pay, refund) goes out, one
 *	  JSON line describing it is appended to $PGDATA/autodebit/journal and
 *	  fsynced.  A file is not undone by ROLLBACK, so a debit whose
 *	  transaction rolled back after sending can still be found and settled
 *	  (DESIGN §4.2).  The line holds no secret: the body is the stored
 *	  template, whose token is a placeholder.
 */
#include "autodebit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#define JOURNAL_DIR		"autodebit"
#define JOURNAL_FILE	"autodebit/journal"

/* Append one fsynced line for an outgoing money request; raises if it cannot. */
void
journal_append(const char *client_id, const char *api, const char *request_id,
			   const char *body, size_t body_len)
{
	StringInfoData line;
	int			fd;

	if (!autodebit_journal_enabled)
		return;

	initStringInfo(&line);
	appendStringInfo(&line, "{\"v\":1,\"at\":\"%s\",\"pid\":%d,\"xid\":%u,\"clientId\":",
					 timestamptz_to_str(GetCurrentTimestamp()), MyProcPid,
					 GetTopTransactionIdIfAny());
	escape_json(&line, client_id);
	appendStringInfoString(&line, ",\"api\":");
	escape_json(&line, api);
	appendStringInfoString(&line, ",\"requestId\":");
	escape_json(&line, request_id);
	appendStringInfoString(&line, ",\"body\":");
	appendBinaryStringInfo(&line, body, (int) body_len);
	appendStringInfoString(&line, "}\n");

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
	if (write(fd, line.data, line.len) != line.len || pg_fsync(fd) != 0)
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
	pfree(line.data);
}
