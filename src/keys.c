/*
 * keys.c
 *	  RSA keys for signing and verifying.  Merchant private keys are files in
 *	  autodebit.key_directory (never SQL text), loaded once per backend and
 *	  loaded again when the file changes; acquirer public keys are the text
 *	  stored on the merchant, parsed once per distinct text.
 *
 *	  A cached key file is looked at again (one stat) at most once per
 *	  KEY_RECHECK_MS, not on every use: a pay makes no file-system call for
 *	  its keys, and a replaced, removed or opened-up key file is noticed
 *	  within a second.
 */
#include "autodebit.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "antsig.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define KEY_CACHE_SIZE	8
#define KEY_RECHECK_MS	1000
#define MAX_KEY_FILE	(64 * 1024)

/* A loaded private key and the file identity it came from. */
typedef struct PrivateKeyEntry
{
	char		path[MAXPGPATH];
	time_t		mtime;
	off_t		size;
	ino_t		inode;
	TimestampTz checked_at;		/* when the file was last stat'ed */
	EVP_PKEY   *key;
} PrivateKeyEntry;

/* A parsed public key and the text it came from. */
typedef struct PublicKeyEntry
{
	char	   *text;			/* malloc'd copy */
	EVP_PKEY   *key;
} PublicKeyEntry;

static PrivateKeyEntry private_cache[KEY_CACHE_SIZE];
static PublicKeyEntry public_cache[KEY_CACHE_SIZE];
static int	public_next;

/* Whether a cache entry checked at checked_at may be used without looking at its file again. */
static bool
recently_checked(TimestampTz checked_at)
{
	return checked_at != 0 &&
		!TimestampDifferenceExceeds(checked_at, GetCurrentTimestamp(), KEY_RECHECK_MS);
}

/* Full path of a file in the key directory; rejects names that leave it. */
char *
key_path(const char *file_name)
{
	const char *dir = autodebit_key_directory ? autodebit_key_directory : "";

	if (file_name == NULL || file_name[0] == '\0' || strchr(file_name, '/') != NULL ||
		strcmp(file_name, ".") == 0 || strcmp(file_name, "..") == 0 ||
		strlen(file_name) > 255)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key file name \"%s\" is not a plain file name", file_name ? file_name : ""),
				 errdetail("Key files are named relative to autodebit.key_directory, without any directory part."),
				 errhint("Copy the key into autodebit.key_directory and give only its file name.")));
	if (dir[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_AUTODEBIT_CONFIG),
				 errmsg("autodebit.key_directory is not set")));
	if (is_absolute_path(dir))
		return psprintf("%s/%s", dir, file_name);
	return psprintf("%s/%s/%s", DataDir, dir, file_name);
}

/* Read a key file into palloc'd memory after checking it is private to the server. */
char *
keys_read_file(const char *path, const struct stat *st, size_t *len)
{
	char	   *buf;
	int			fd;
	ssize_t		got;

	if (!S_ISREG(st->st_mode) || st->st_size > MAX_KEY_FILE)
		ereport(ERROR,
				(errcode(ERRCODE_AUTODEBIT_CONFIG),
				 errmsg("key file \"%s\" is not a regular file of at most %d bytes",
						last_dir_separator(path) + 1, MAX_KEY_FILE),
				 errdetail_log("The file is \"%s\".", path)));
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		ereport(ERROR,
				(errcode(ERRCODE_AUTODEBIT_CONFIG),
				 errmsg("key file \"%s\" has group or world access", last_dir_separator(path) + 1),
				 errdetail("Permissions should be u=rw (0600) or less."),
				 errdetail_log("Permissions should be u=rw (0600) or less; the file is \"%s\".", path),
				 errhint("Run chmod 600 on the file in autodebit.key_directory.")));
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open key file \"%s\": %m", last_dir_separator(path) + 1),
				 errdetail_log("The file is \"%s\".", path)));
	buf = palloc(st->st_size + 1);
	got = read(fd, buf, st->st_size);
	CloseTransientFile(fd);
	if (got != st->st_size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read key file \"%s\"", last_dir_separator(path) + 1),
				 errdetail_log("The file is \"%s\".", path)));
	buf[got] = '\0';
	*len = (size_t) got;
	return buf;
}

/* The merchant private key in file_name, from the cache unless the file changed. */
EVP_PKEY *
keys_private(const char *file_name)
{
	char	   *path = key_path(file_name);
	struct stat st;
	PrivateKeyEntry *slot = NULL;
	char		err[256];
	char	   *text;
	size_t		len;
	EVP_PKEY   *key;

	for (int i = 0; i < KEY_CACHE_SIZE; i++)
	{
		PrivateKeyEntry *e = &private_cache[i];

		if (e->key && recently_checked(e->checked_at) && strcmp(e->path, path) == 0)
			return e->key;
	}
	if (stat(path, &st) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_AUTODEBIT_CONFIG),
				 errmsg("merchant private key file \"%s\" does not exist", file_name),
				 errdetail("It is not in autodebit.key_directory."),
				 errdetail_log("Looked for \"%s\".", path),
				 errhint("Put the PEM or base64 key file in autodebit.key_directory, readable only by the server.")));
	for (int i = 0; i < KEY_CACHE_SIZE; i++)
	{
		PrivateKeyEntry *e = &private_cache[i];

		if (e->key && strcmp(e->path, path) == 0)
		{
			if (e->mtime == st.st_mtime && e->size == st.st_size && e->inode == st.st_ino &&
				(st.st_mode & (S_IRWXG | S_IRWXO)) == 0)
			{
				e->checked_at = GetCurrentTimestamp();
				return e->key;
			}
			slot = e;			/* the file changed: load it again into this slot */
			break;
		}
		if (slot == NULL && e->key == NULL)
			slot = e;
	}
	if (slot == NULL)
		slot = &private_cache[0];

	text = keys_read_file(path, &st, &len);
	key = antsig_load_private(text, len, err, sizeof(err));
	explicit_bzero(text, len);
	pfree(text);
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_AUTODEBIT_CONFIG),
				 errmsg("could not load merchant private key \"%s\"", file_name),
				 errdetail("%s.", err),
				 errhint("Use an unencrypted RSA key of at least 2048 bits, PEM or bare base64, PKCS#1 or PKCS#8.")));
	if (slot->key)
		EVP_PKEY_free(slot->key);
	strlcpy(slot->path, path, sizeof(slot->path));
	slot->mtime = st.st_mtime;
	slot->size = st.st_size;
	slot->inode = st.st_ino;
	slot->checked_at = GetCurrentTimestamp();
	slot->key = key;
	return key;
}

/* The acquirer public key parsed from its stored text (PEM or bare base64). */
EVP_PKEY *
keys_acquirer(const char *key_text)
{
	char		err[256];
	EVP_PKEY   *key;
	PublicKeyEntry *slot;

	for (int i = 0; i < KEY_CACHE_SIZE; i++)
		if (public_cache[i].key && strcmp(public_cache[i].text, key_text) == 0)
			return public_cache[i].key;

	key = antsig_load_public(key_text, strlen(key_text), err, sizeof(err));
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_AUTODEBIT_CONFIG),
				 errmsg("could not load the acquirer public key"),
				 errdetail("%s.", err),
				 errhint("Give the acquirer's RSA public key as PEM or bare base64 (SubjectPublicKeyInfo).")));
	slot = &public_cache[public_next];
	public_next = (public_next + 1) % KEY_CACHE_SIZE;
	if (slot->key)
	{
		EVP_PKEY_free(slot->key);
		free(slot->text);
	}
	slot->text = strdup(key_text);
	if (slot->text == NULL)
	{
		EVP_PKEY_free(key);
		slot->key = NULL;
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	slot->key = key;
	return key;
}

/* A cached token data key and the file identity it came from. */
typedef struct DataKeyEntry
{
	int			version;
	char		path[MAXPGPATH];
	time_t		mtime;
	ino_t		inode;
	TimestampTz checked_at;		/* when the file was last stat'ed */
	unsigned char key[32];
} DataKeyEntry;

static DataKeyEntry data_cache[KEY_CACHE_SIZE];

/* Decode a data key file: 32 raw bytes, 64 hex digits or 44 base64 characters. */
static bool
decode_data_key(const char *text, size_t len, unsigned char out[32])
{
	unsigned char tmp[48];

	if (len == 32)
	{
		memcpy(out, text, 32);
		return true;
	}
	while (len > 0 && isspace((unsigned char) text[len - 1]))
		len--;
	if (len == 64)
	{
		for (int i = 0; i < 32; i++)
		{
			char		hex[3] = {text[2 * i], text[2 * i + 1], '\0'};
			char	   *end;

			out[i] = (unsigned char) strtol(hex, &end, 16);
			if (*end != '\0' || !isxdigit((unsigned char) hex[0]))
				return false;
		}
		return true;
	}
	if (len == 44 && EVP_DecodeBlock(tmp, (const unsigned char *) text, 44) == 33 &&
		text[43] == '=' && text[42] != '=')
	{
		memcpy(out, tmp, 32);
		explicit_bzero(tmp, sizeof(tmp));
		return true;
	}
	return false;
}

/*
 * What to do about a missing or unreadable data key.  Never "create one" first: after a restore
 * or on a standby, a new key cannot open a single stored token; the old file must come back.
 */
#define DATA_KEY_HINT \
	"If this database was restored or copied from another server, restore the file from the " \
	"backup of that server's key directory: a new key cannot open tokens sealed with the old one. " \
	"Only a new installation creates it: openssl rand -hex 32 > data-N.key; chmod 600 data-N.key " \
	"(in autodebit.key_directory, owned by the server's user)."

/*
 * The 32-byte token data key of a version (file data-N.key), cached per backend.  A missing file
 * raises, or with missing_ok gives NULL.
 */
static const unsigned char *
data_key(int version, bool missing_ok)
{
	char		name[32];
	char	   *path;
	struct stat st;
	DataKeyEntry *slot = NULL;
	char	   *text;
	size_t		len;
	bool		ok;

	snprintf(name, sizeof(name), "data-%d.key", version);
	path = key_path(name);
	for (int i = 0; i < KEY_CACHE_SIZE; i++)
	{
		DataKeyEntry *e = &data_cache[i];

		if (e->version == version && recently_checked(e->checked_at) && strcmp(e->path, path) == 0)
			return e->key;
	}
	if (stat(path, &st) != 0)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_AUTODEBIT_CONFIG),
				 errmsg("token data key file \"%s\" does not exist", name),
				 errdetail("It is not in autodebit.key_directory."),
				 errdetail_log("Looked for \"%s\".", path),
				 errhint("%s", DATA_KEY_HINT)));
	}
	for (int i = 0; i < KEY_CACHE_SIZE; i++)
	{
		DataKeyEntry *e = &data_cache[i];

		if (e->version == version)
		{
			if (e->mtime == st.st_mtime && e->inode == st.st_ino && strcmp(e->path, path) == 0 &&
				(st.st_mode & (S_IRWXG | S_IRWXO)) == 0)
			{
				e->checked_at = GetCurrentTimestamp();
				return e->key;
			}
			slot = e;
			break;
		}
		if (slot == NULL && e->version == 0)
			slot = e;
	}
	if (slot == NULL)
		slot = &data_cache[version % KEY_CACHE_SIZE];

	text = keys_read_file(path, &st, &len);
	ok = decode_data_key(text, len, slot->key);
	explicit_bzero(text, len);
	pfree(text);
	if (!ok)
	{
		slot->version = 0;
		ereport(ERROR,
				(errcode(ERRCODE_AUTODEBIT_CONFIG),
				 errmsg("token data key file \"%s\" is not a 256-bit key", name),
				 errdetail("It must hold 32 raw bytes, 64 hex digits or 44 base64 characters."),
				 errdetail_log("The file is \"%s\".", path),
				 errhint("%s", DATA_KEY_HINT)));
	}
	slot->version = version;
	strlcpy(slot->path, path, sizeof(slot->path));
	slot->mtime = st.st_mtime;
	slot->inode = st.st_ino;
	slot->checked_at = GetCurrentTimestamp();
	return slot->key;
}

/* The data key of a version; raises when its file is missing or not a key. */
const unsigned char *
keys_data_key(int version)
{
	return data_key(version, false);
}

/* The data key of a version, or NULL when its file is not in the key directory. */
const unsigned char *
keys_data_key_if_present(int version)
{
	return data_key(version, true);
}

PG_FUNCTION_INFO_V1(autodebit_check_keys);

/* SQL: autodebit._check_keys(private_key_file, acquirer_public_key): raise unless both load. */
Datum
autodebit_check_keys(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("private_key_file and acquirer_public_key are required")));
	keys_private(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	keys_acquirer(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}
