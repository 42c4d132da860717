/*
 * journal.c
 *	  The send journal: before a money request (pay, refund, cancel) goes out,
 *	  one record describing it is written to WAL as a non-transactional
 *	  logical message (prefix "autodebit.journal"), flushed, and -- when
 *	  synchronous replication is in force -- confirmed by the synchronous
 *	  standby.  ROLLBACK does not undo it, a crash replays it, a standby
 *	  receives it with the data, and a base backup restored to any point
 *	  holds exactly the records of that point's history (README, "Failure semantics").
 *
 *	  autodebit_reconcile() reads the records back with the XLogReader (as
 *	  contrib/pg_walinspect does), asks pg_xact_status() about each one's
 *	  transaction, and adopts what a rolled-back or dead transaction sent.
 *	  A record holds no secret: the body is the stored template, whose token
 *	  is a placeholder.  Each names the extension instance (the OID of its
 *	  pg_extension row) that wrote it, so a re-created extension never takes
 *	  an older one's records for its own.
 */
#include "autodebit.h"


#include <openssl/hmac.h>

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "access/xlogrecovery.h"
#include "access/xlogutils.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

#define JOURNAL_PREFIX	"autodebit.journal"
#define MAX_KEY_VERSION	255

PG_FUNCTION_INFO_V1(autodebit_journal_read);

/* The OID of this database's autodebit extension: the instance that writes records. */
static Oid
journal_instance(void)
{
	return get_extension_oid("autodebit", false);
}

/*
 * The record's seal: "|<key version>:<hex HMAC-SHA256 of the JSON>" with that data key (key,
 * 32 bytes).  Anyone may write a logical message with our prefix (pg_logical_emit_message);
 * only the server holding the data key can write one the reader believes.
 */
static void
journal_mac(const char *json, size_t len, int version, const unsigned char *key,
			char *out, size_t outlen)
{
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);
	static const char domain[] = "autodebit.journal\n";
	HMAC_CTX   *ctx = HMAC_CTX_new();
	int			n;

	if (ctx == NULL ||
		!HMAC_Init_ex(ctx, key, 32, EVP_sha256(), NULL) ||
		!HMAC_Update(ctx, (const unsigned char *) domain, sizeof(domain) - 1) ||
		!HMAC_Update(ctx, (const unsigned char *) json, len) ||
		!HMAC_Final(ctx, mac, &maclen))
	{
		HMAC_CTX_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not seal a send journal record")));
	}
	HMAC_CTX_free(ctx);
	n = snprintf(out, outlen, "|%d:", version);
	for (int i = 0; i < 32 && n + 2 < (int) outlen; i++)
		n += snprintf(out + n, outlen - n, "%02x", mac[i]);
}

/* Has the synchronous standby (when one is required) confirmed WAL up to lsn? */
static bool
sync_standby_has(XLogRecPtr lsn)
{
	int			mode;
	bool		ok;

	if (!SyncRepRequested() || SyncRepStandbyNames == NULL || SyncRepStandbyNames[0] == '\0')
		return true;
	/* a non-commit wait waits for at most flush, whatever synchronous_commit says */
	mode = synchronous_commit == SYNCHRONOUS_COMMIT_REMOTE_WRITE ? SYNC_REP_WAIT_WRITE : SYNC_REP_WAIT_FLUSH;
	LWLockAcquire(SyncRepLock, LW_SHARED);
#ifdef SYNC_STANDBY_DEFINED
	ok = !(WalSndCtl->sync_standbys_status & SYNC_STANDBY_DEFINED) || WalSndCtl->lsn[mode] >= lsn;
#else
	ok = !WalSndCtl->sync_standbys_defined || WalSndCtl->lsn[mode] >= lsn;
#endif
	LWLockRelease(SyncRepLock);
	return ok;
}

/*
 * Write one record per outgoing money request, flush them once, and wait for the synchronous
 * standby; raises (so nothing is sent) if any of that cannot be done.
 */
void
journal_append(const JournalEntry *entries, int n)
{
	StringInfoData rec;
	const char *now;
	uint64		xid;
	Oid			instance;
	const unsigned char *key;
	XLogRecPtr	end = InvalidXLogRecPtr;

	if (!autodebit_journal_enabled || n == 0)
		return;
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("a money request cannot be journaled during recovery"),
				 errhint("Send it from the primary.")));

	/* the full xid lets the reader ask whether this transaction committed */
	now = timestamptz_to_str(GetCurrentTimestamp());
	xid = U64FromFullTransactionId(GetTopFullTransactionId());
	instance = journal_instance();
	key = keys_data_key(autodebit_data_key_version);
	initStringInfo(&rec);
	for (int i = 0; i < n; i++)
	{
		resetStringInfo(&rec);
		appendStringInfo(&rec, "{\"v\":2,\"instance\":%u,\"at\":\"%s\",\"xid\":\"" UINT64_FORMAT "\",\"clientId\":",
						 instance, now, xid);
		escape_json(&rec, entries[i].client_id);
		appendStringInfoString(&rec, ",\"api\":");
		escape_json(&rec, entries[i].api);
		appendStringInfoString(&rec, ",\"requestId\":");
		escape_json(&rec, entries[i].request_id);
		appendStringInfoString(&rec, ",\"meta\":");
		appendStringInfoString(&rec, entries[i].meta ? entries[i].meta : "null");
		appendStringInfoString(&rec, ",\"body\":");
		appendStringInfoString(&rec, entries[i].body);
		appendStringInfoChar(&rec, '}');
		{
			char		seal[80];

			journal_mac(rec.data, rec.len, autodebit_data_key_version, key, seal, sizeof(seal));
			appendStringInfoString(&rec, seal);
		}
		end = LogLogicalMessage(JOURNAL_PREFIX, rec.data, rec.len, false);
	}
	pfree(rec.data);

	XLogFlush(end);
	SyncRepWaitForLSN(end, false);
	/* a cancelled wait returns quietly: then the record may not be on the standby */
	if (!sync_standby_has(end))
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("the send journal record did not reach the synchronous standby"),
				 errdetail("Nothing was sent to the acquirer."),
				 errhint("Call it again once the standby is back, or change synchronous_standby_names.")));
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

/* The next WAL record, or NULL at the end of the WAL written so far; raises on a read error. */
static XLogRecord *
next_record(XLogReaderState *reader)
{
	char	   *errormsg = NULL;
	XLogRecord *record = XLogReadRecord(reader, &errormsg);

	if (record == NULL && !((ReadLocalXLogPageNoWaitPrivate *) reader->private_data)->end_of_wal)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read the send journal in WAL at %X/%X%s%s",
						LSN_FORMAT_ARGS(reader->EndRecPtr), errormsg ? ": " : "", errormsg ? errormsg : "")));
	return record;
}

/*
 * The data keys a read has met, by version, copied (keys.c's own cache may reuse a slot): looked
 * up once per read; absent where this server has no such key file (then no record sealed with
 * that version can be ours).
 */
typedef struct KeyCache
{
	bool		looked[MAX_KEY_VERSION + 1];
	bool		present[MAX_KEY_VERSION + 1];
	unsigned char key[MAX_KEY_VERSION + 1][32];
} KeyCache;

/* The data key of a version, or NULL when its file is not here (never raises for that). */
static const unsigned char *
cached_key(KeyCache *cache, int version)
{
	if (!cache->looked[version])
	{
		const unsigned char *key = keys_data_key_if_present(version);

		cache->present[version] = key != NULL;
		if (key)
			memcpy(cache->key[version], key, 32);
		cache->looked[version] = true;
	}
	return cache->present[version] ? cache->key[version] : NULL;
}

/* Is this record's seal ours?  It must end in "|<version>:<64 hex>" matching the JSON before it. */
static bool
journal_sealed(const char *payload, size_t len, KeyCache *keys, size_t *json_len)
{
	const char *bar = NULL;
	char		expect[80];
	int			version;
	const unsigned char *key;

	for (size_t i = len; i > 0; i--)
		if (payload[i - 1] == '|')
		{
			bar = payload + i - 1;
			break;
		}
	if (bar == NULL || sscanf(bar, "|%d:", &version) != 1 || version < 1 || version > MAX_KEY_VERSION ||
		(key = cached_key(keys, version)) == NULL)
		return false;
	*json_len = bar - payload;
	journal_mac(payload, *json_len, version, key, expect, sizeof(expect));
	return strlen(expect) == len - *json_len && memcmp(expect, bar, len - *json_len) == 0;
}

/* One journal record of this database and extension instance, as a row; false if it is not one. */
static bool
record_row(XLogReaderState *reader, Oid instance, KeyCache *keys, Datum *values, bool *nulls,
		   int *forged)
{
	xl_logical_message *msg;
	char	   *payload;
	Jsonb	   *line;
	char	   *s;
	TimestampTz at;
	size_t		json_len;

	if (XLogRecGetRmid(reader) != RM_LOGICALMSG_ID ||
		(XLogRecGetInfo(reader) & ~XLR_INFO_MASK) != XLOG_LOGICAL_MESSAGE)
		return false;
	msg = (xl_logical_message *) XLogRecGetData(reader);
	if (msg->dbId != MyDatabaseId || msg->prefix_size != sizeof(JOURNAL_PREFIX) ||
		strcmp(msg->message, JOURNAL_PREFIX) != 0)
		return false;
	payload = pnstrdup(msg->message + msg->prefix_size, msg->message_size);
	if (!journal_sealed(payload, msg->message_size, keys, &json_len))
	{
		(*forged)++;			/* not written by this server: never believed */
		return false;
	}
	payload[json_len] = '\0';
	if (answer_unparsable(payload, json_len) != NULL)
	{
		ereport(WARNING,
				(errmsg("skipping a malformed send journal record at %X/%X",
						LSN_FORMAT_ARGS(reader->ReadRecPtr))));
		return false;
	}
	line = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(payload)));
	if (!JsonContainerIsObject(&line->root))
		return false;
	{
		JsonbValue	v;

		/* another extension instance's record (the extension was dropped and created again) */
		if (getKeyJsonValueFromContainer(&line->root, "instance", 8, &v) == NULL ||
			v.type != jbvNumeric ||
			DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v.val.numeric))) != (int64) instance)
			return false;
	}
	values[0] = LSNGetDatum(reader->ReadRecPtr);
	values[1] = LSNGetDatum(reader->EndRecPtr);
	s = jb_string(&line->root, "at");
	nulls[2] = (s == NULL || !parse_time(s, &at));
	values[2] = nulls[2] ? (Datum) 0 : TimestampTzGetDatum(at);
	s = jb_string(&line->root, "xid");
	nulls[3] = (s == NULL || strspn(s, "0123456789") != strlen(s) || strlen(s) > 20);
	values[3] = nulls[3] ? (Datum) 0 : FullTransactionIdGetDatum(FullTransactionIdFromU64(strtoull(s, NULL, 10)));
	values[4] = member_text(line, "clientId", &nulls[4]);
	values[5] = member_text(line, "api", &nulls[5]);
	values[6] = member_text(line, "requestId", &nulls[6]);
	values[7] = member_jsonb(line, "meta", &nulls[7]);
	values[8] = member_jsonb(line, "body", &nulls[8]);
	return !nulls[2] && !nulls[3] && !nulls[4] && !nulls[5] && !nulls[6] && !nulls[8];
}

/*
 * SQL: autodebit._journal_read(from_lsn pg_lsn, max_records int, max_bytes bigint) -> SETOF
 *	(lsn, next_lsn, at, xid, client_id, api, request_id, meta, body).
 * This database's and this extension instance's records from from_lsn on, at most max_records
 * of them and at most max_bytes of WAL read; then one last row whose api is NULL and whose
 * next_lsn is where the next read starts.
 */
Datum
autodebit_journal_read(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	XLogRecPtr	from = PG_GETARG_LSN(0);
	int32		max_records = PG_GETARG_INT32(1);
	int64		max_bytes = PG_GETARG_INT64(2);
	XLogRecPtr	flush;
	XLogRecPtr	start;
	XLogRecPtr	next;
	XLogReaderState *reader;
	ReadLocalXLogPageNoWaitPrivate *priv;
	Oid			instance = journal_instance();
	KeyCache   *keys = palloc0(sizeof(KeyCache));
	int			n = 0;
	int			forged = 0;
	Datum		values[9];
	bool		nulls[9];

	InitMaterializedSRF(fcinfo, 0);
	flush = RecoveryInProgress() ? GetXLogReplayRecPtr(NULL) : GetFlushRecPtr(NULL);
	if (from > flush)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("send journal position %X/%X is past the end of WAL %X/%X",
						LSN_FORMAT_ARGS(from), LSN_FORMAT_ARGS(flush)),
				 errdetail("The position belongs to another history (a restored dump, say).")));

	priv = palloc0(sizeof(ReadLocalXLogPageNoWaitPrivate));
	reader = XLogReaderAllocate(wal_segment_size, NULL,
								XL_ROUTINE(.page_read = &read_local_xlog_page_no_wait,
										   .segment_open = &wal_segment_open,
										   .segment_close = &wal_segment_close),
								priv);
	if (reader == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while reading the send journal")));
	next = from;
	start = from < flush ? XLogFindNextRecord(reader, from) : InvalidXLogRecPtr;
	if (!XLogRecPtrIsInvalid(start))
	{
		while (n < max_records && reader->EndRecPtr - start < (XLogRecPtr) max_bytes &&
			   next_record(reader) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			next = reader->EndRecPtr;
			memset(nulls, 0, sizeof(nulls));
			if (record_row(reader, instance, keys, values, nulls, &forged))
			{
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
				n++;
			}
		}
	}
	XLogReaderFree(reader);
	explicit_bzero(keys, sizeof(KeyCache));
	if (forged > 0)
		ereport(WARNING,
				(errmsg("skipped %d send journal records that this server did not seal", forged),
				 errdetail("Some role wrote logical messages with the prefix \"%s\".", JOURNAL_PREFIX),
				 errhint("Revoke EXECUTE on pg_logical_emit_message from roles that need not write WAL messages.")));

	/* where the next read starts */
	memset(nulls, true, sizeof(nulls));
	values[0] = LSNGetDatum(next);
	values[1] = LSNGetDatum(next);
	nulls[0] = nulls[1] = false;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	PG_RETURN_VOID();
}
