/*
 * vault.c
 *	  Tokens at rest: AES-256-GCM with associated data that binds a sealed
 *	  value to its row, and a key version so data keys can be rotated.
 *
 *	  Sealed layout: 0x01 | key version (2 bytes, big endian) | nonce (12) |
 *	  tag (16) | ciphertext.  Token fingerprints (HMAC-SHA256) for finding an
 *	  agreement by its token, matched across rotations; re-sealing under the
 *	  current key, so an old key file can be retired.  Also: unguessable
 *	  random ids.
 */
#include "autodebit.h"

#include <openssl/hmac.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#define SEAL_FORMAT		1
#define NONCE_LEN		12
#define TAG_LEN			16
#define HEADER_LEN		(1 + 2 + NONCE_LEN + TAG_LEN)

PG_FUNCTION_INFO_V1(autodebit_random_id);

/* Raise the error every vault failure gets. */
static void
vault_error(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("could not %s a sealed token", what),
			 errdetail("The value was altered, belongs to another row, or needs a data key that is missing."),
			 errhint("Check that autodebit.key_directory holds every data-N.key still in use.")));
}

/* Seal len bytes of plain under the current data key, bound to aad. */
bytea *
vault_seal(const char *plain, size_t len, const char *aad)
{
	int			version = autodebit_data_key_version;
	const unsigned char *key = keys_data_key(version);
	bytea	   *out = palloc(VARHDRSZ + HEADER_LEN + len);
	unsigned char *p = (unsigned char *) VARDATA(out);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int			n;
	bool		ok;

	SET_VARSIZE(out, VARHDRSZ + HEADER_LEN + len);
	p[0] = SEAL_FORMAT;
	p[1] = (unsigned char) (version >> 8);
	p[2] = (unsigned char) version;
	if (!pg_strong_random(p + 3, NONCE_LEN))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate a random nonce")));

	ok = ctx != NULL &&
		EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		EVP_EncryptInit_ex(ctx, NULL, NULL, key, p + 3) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *) aad, (int) strlen(aad)) == 1 &&
		EVP_EncryptUpdate(ctx, p + HEADER_LEN, &n, (const unsigned char *) plain, (int) len) == 1 &&
		EVP_EncryptFinal_ex(ctx, p + HEADER_LEN + n, &n) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, p + 3 + NONCE_LEN) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		vault_error("seal");
	return out;
}

/* Open a sealed value bound to aad; returns palloc'd NUL-terminated plaintext. */
char *
vault_open(bytea *sealed, const char *aad, size_t *len)
{
	size_t		total = VARSIZE_ANY_EXHDR(sealed);
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(sealed);
	size_t		clen;
	char	   *plain;
	EVP_CIPHER_CTX *ctx;
	int			n;
	bool		ok;

	if (total < HEADER_LEN || p[0] != SEAL_FORMAT)
		vault_error("open");
	clen = total - HEADER_LEN;
	plain = palloc(clen + 1);
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		EVP_DecryptInit_ex(ctx, NULL, NULL, keys_data_key((p[1] << 8) | p[2]), p + 3) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *) aad, (int) strlen(aad)) == 1 &&
		EVP_DecryptUpdate(ctx, (unsigned char *) plain, &n, p + HEADER_LEN, (int) clen) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *) (p + 3 + NONCE_LEN)) == 1 &&
		EVP_DecryptFinal_ex(ctx, (unsigned char *) plain + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
	{
		explicit_bzero(plain, clen);
		vault_error("open");
	}
	plain[clen] = '\0';
	*len = clen;
	return plain;
}

/* A keyed fingerprint of a token (HMAC-SHA256 under one data key version), for lookups. */
static bytea *
fingerprint_under(const unsigned char *key, const char *plain, size_t len)
{
	bytea	   *out = palloc(VARHDRSZ + 32);
	unsigned int outlen = 32;

	if (HMAC(EVP_sha256(), key, 32, (const unsigned char *) plain, len,
			 (unsigned char *) VARDATA(out), &outlen) == NULL)
		vault_error("fingerprint");
	SET_VARSIZE(out, VARHDRSZ + 32);
	return out;
}

/* The fingerprint stored with a newly sealed token: under the current data key. */
bytea *
vault_fingerprint(const char *plain, size_t len)
{
	return fingerprint_under(keys_data_key(autodebit_data_key_version), plain, len);
}

/*
 * The fingerprints a stored token may carry: under the current data key and every older one
 * still present (a token sealed before a rotation keeps its fingerprint until it is re-sealed).
 * Returns a bytea[] Datum, the current version's first.
 */
Datum
vault_fingerprints(const char *plain, size_t len)
{
	Datum	   *fps = palloc(sizeof(Datum) * autodebit_data_key_version);
	int			n = 0;

	for (int version = autodebit_data_key_version; version >= 1; version--)
	{
		const unsigned char *key = version == autodebit_data_key_version ?
			keys_data_key(version) : keys_data_key_if_present(version);

		if (key)
			fps[n++] = PointerGetDatum(fingerprint_under(key, plain, len));
	}
	return PointerGetDatum(construct_array(fps, n, BYTEAOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(autodebit_reseal);

/*
 * SQL: autodebit._reseal(sealed, aad) -> (sealed, fingerprint): the token sealed again under
 * the current data key, and its fingerprint under that key.  The plaintext stays in C.
 */
Datum
autodebit_reseal(PG_FUNCTION_ARGS)
{
	bytea	   *sealed = PG_GETARG_BYTEA_PP(0);
	char	   *aad = text_to_cstring(PG_GETARG_TEXT_PP(1));
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	size_t		len;
	char	   *plain;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "autodebit._reseal must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	plain = vault_open(sealed, aad, &len);
	values[0] = PointerGetDatum(vault_seal(plain, len, aad));
	values[1] = PointerGetDatum(vault_fingerprint(plain, len));
	explicit_bzero(plain, len);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* SQL: autodebit._random_id(nbytes) -> hex of nbytes strong random bytes. */
Datum
autodebit_random_id(PG_FUNCTION_ARGS)
{
	int32		nbytes = PG_GETARG_INT32(0);
	unsigned char buf[64];
	char		hex[129];

	if (nbytes < 8 || nbytes > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random id length must be between 8 and 64 bytes")));
	if (!pg_strong_random(buf, nbytes))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate random bytes")));
	for (int i = 0; i < nbytes; i++)
		snprintf(hex + 2 * i, 3, "%02x", buf[i]);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
