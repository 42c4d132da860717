/*
 * antsig.c
 *	  Antom (AMS) message signatures on OpenSSL 3.  See antsig.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "antsig.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

/* Copy OpenSSL's last error (or a fallback) into err. */
static void
set_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();

	if (err == NULL || errlen == 0)
		return;
	if (e != 0)
		snprintf(err, errlen, "%s: %s", what, ERR_reason_error_string(e) ?
				 ERR_reason_error_string(e) : "unknown OpenSSL error");
	else
		snprintf(err, errlen, "%s", what);
	ERR_clear_error();
}

/* Decode bare base64 (whitespace ignored) into a fresh buffer; NULL if not base64. */
static unsigned char *
decode_bare_base64(const char *text, size_t len, size_t *outlen)
{
	unsigned char *clean;
	unsigned char *der;
	size_t		n = 0;
	int			pad = 0;
	int			got;

	clean = OPENSSL_malloc(len + 1);
	if (clean == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (isspace(c))
			continue;
		if (!(isalnum(c) || c == '+' || c == '/' || c == '='))
		{
			OPENSSL_free(clean);
			return NULL;
		}
		clean[n++] = c;
	}
	if (n == 0 || n % 4 != 0)
	{
		OPENSSL_free(clean);
		return NULL;
	}
	if (clean[n - 1] == '=')
		pad++;
	if (clean[n - 2] == '=')
		pad++;
	der = OPENSSL_malloc(n / 4 * 3 + 1);
	if (der == NULL)
	{
		OPENSSL_free(clean);
		return NULL;
	}
	got = EVP_DecodeBlock(der, clean, (int) n);
	OPENSSL_free(clean);
	if (got < 0 || got < pad)
	{
		OPENSSL_free(der);
		return NULL;
	}
	*outlen = (size_t) got - pad;
	return der;
}

/* Decode PEM or bare-base64 DER key text into an RSA EVP_PKEY of the given kind. */
static EVP_PKEY *
load_key(const char *text, size_t len, int selection, char *err, size_t errlen)
{
	EVP_PKEY   *pkey = NULL;
	OSSL_DECODER_CTX *dctx;
	const unsigned char *data;
	size_t		datalen;
	unsigned char *der = NULL;
	const char *what = (selection == EVP_PKEY_KEYPAIR) ? "private key" : "public key";

	if (len == 0)
	{
		set_error(err, errlen, "key text is empty");
		return NULL;
	}
	if (memmem(text, len, "-----BEGIN", 10) != NULL)
	{
		if (memmem(text, len, "ENCRYPTED", 9) != NULL)
		{
			set_error(err, errlen, "encrypted PEM keys are not supported; store the key unencrypted with file permissions 0600");
			return NULL;
		}
		data = (const unsigned char *) text;
		datalen = len;
	}
	else
	{
		der = decode_bare_base64(text, len, &datalen);
		if (der == NULL)
		{
			set_error(err, errlen, "key is neither PEM nor bare base64");
			return NULL;
		}
		data = der;
	}

	/* NULL input type and structure: the decoder recognises PEM/DER, PKCS#1/#8/SPKI. */
	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, "RSA", selection, NULL, NULL);
	if (dctx == NULL || OSSL_DECODER_from_data(dctx, &data, &datalen) != 1 || pkey == NULL)
	{
		char		msg[64];

		snprintf(msg, sizeof(msg), "could not decode RSA %s", what);
		set_error(err, errlen, msg);
		OSSL_DECODER_CTX_free(dctx);
		OPENSSL_free(der);
		return NULL;
	}
	OSSL_DECODER_CTX_free(dctx);
	OPENSSL_free(der);

	if (EVP_PKEY_get_bits(pkey) < 2048)
	{
		set_error(err, errlen, "RSA key is shorter than 2048 bits");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

/* Load an RSA private key: PEM or bare base64 DER, PKCS#1 or PKCS#8. */
EVP_PKEY *
antsig_load_private(const char *text, size_t len, char *err, size_t errlen)
{
	return load_key(text, len, EVP_PKEY_KEYPAIR, err, errlen);
}

/* Load an RSA public key: PEM or bare base64 DER, SubjectPublicKeyInfo or PKCS#1. */
EVP_PKEY *
antsig_load_public(const char *text, size_t len, char *err, size_t errlen)
{
	return load_key(text, len, EVP_PKEY_PUBLIC_KEY, err, errlen);
}

/* Feed the signed content string of msg into a digest-sign or -verify context. */
static int
update_content(EVP_MD_CTX *ctx, const AntSigMessage *msg)
{
	return EVP_DigestUpdate(ctx, msg->method, strlen(msg->method)) == 1 &&
		EVP_DigestUpdate(ctx, " ", 1) == 1 &&
		EVP_DigestUpdate(ctx, msg->path, strlen(msg->path)) == 1 &&
		EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
		EVP_DigestUpdate(ctx, msg->client_id, strlen(msg->client_id)) == 1 &&
		EVP_DigestUpdate(ctx, ".", 1) == 1 &&
		EVP_DigestUpdate(ctx, msg->time, strlen(msg->time)) == 1 &&
		EVP_DigestUpdate(ctx, ".", 1) == 1 &&
		(msg->body_len == 0 ||
		 EVP_DigestUpdate(ctx, msg->body, msg->body_len) == 1);
}

/* Sign a message; writes the URL-encoded base64 signature into out. */
int
antsig_sign(EVP_PKEY *key, const AntSigMessage *msg, char out[ANTSIG_MAX_ENCODED])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[1024];
	unsigned char b64[1400];
	size_t		siglen = sizeof(sig);
	int			b64len;
	char	   *o = out;

	if (ctx == NULL)
		return 0;
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
		!update_content(ctx, msg) ||
		EVP_DigestSignFinal(ctx, NULL, &siglen) != 1 ||
		siglen > sizeof(sig) ||
		EVP_DigestSignFinal(ctx, sig, &siglen) != 1)
	{
		EVP_MD_CTX_free(ctx);
		ERR_clear_error();
		return 0;
	}
	EVP_MD_CTX_free(ctx);

	b64len = EVP_EncodeBlock(b64, sig, (int) siglen);
	for (int i = 0; i < b64len; i++)
	{
		const char *rep = NULL;

		switch (b64[i])
		{
			case '+':
				rep = "%2B";
				break;
			case '/':
				rep = "%2F";
				break;
			case '=':
				rep = "%3D";
				break;
		}
		if (rep)
		{
			memcpy(o, rep, 3);
			o += 3;
		}
		else
			*o++ = (char) b64[i];
	}
	*o = '\0';
	return 1;
}

/* Value of one hex digit, or -1. */
static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Verify a URL-encoded base64 signature over a message: 1 good, 0 not. */
int
antsig_verify(EVP_PKEY *key, const AntSigMessage *msg, const char *encoded)
{
	unsigned char b64[ANTSIG_MAX_ENCODED];
	unsigned char sig[1024];
	size_t		n = 0;
	int			siglen;
	int			pad = 0;
	int			ok;
	EVP_MD_CTX *ctx;

	/* URL-decode %XX only; a raw '+' stays a '+' (base64 alphabet). */
	for (const char *p = encoded; *p; p++)
	{
		if (n >= sizeof(b64) - 1)
			return 0;
		if (*p == '%')
		{
			int			hi = hexval((unsigned char) p[1]);
			int			lo = hi < 0 ? -1 : hexval((unsigned char) p[2]);

			if (hi < 0 || lo < 0)
				return 0;
			b64[n++] = (unsigned char) (hi * 16 + lo);
			p += 2;
		}
		else
			b64[n++] = (unsigned char) *p;
	}
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(sig))
		return 0;
	if (b64[n - 1] == '=')
		pad++;
	if (b64[n - 2] == '=')
		pad++;
	siglen = EVP_DecodeBlock(sig, b64, (int) n);
	if (siglen < 0)
		return 0;
	siglen -= pad;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return 0;
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
		update_content(ctx, msg) &&
		EVP_DigestVerifyFinal(ctx, sig, (size_t) siglen) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 1 : 0;
}

/* Format "algorithm=RSA256,keyVersion=N,signature=S" into out. */
int
antsig_format_header(char *out, size_t outlen, int key_version, const char *encoded)
{
	int			n = snprintf(out, outlen, "algorithm=RSA256,keyVersion=%d,signature=%s",
							 key_version, encoded);

	return n > 0 && (size_t) n < outlen;
}

/* Find the signature= value in a Signature header; 1 found, 0 not. */
int
antsig_parse_header(const char *header, char *out, size_t outlen)
{
	const char *p = header;

	/* key=value pairs separated by ',' with optional spaces; keys case-insensitive */
	while (p && *p)
	{
		const char *end;
		size_t		len;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		end = strchr(p, ',');
		len = end ? (size_t) (end - p) : strlen(p);
		if (len > 10 && strncasecmp(p, "signature=", 10) == 0)
		{
			size_t		vlen = len - 10;

			while (vlen > 0 && (p[10 + vlen - 1] == ' ' || p[10 + vlen - 1] == '\t'))
				vlen--;
			if (vlen == 0 || vlen >= outlen)
				return 0;
			memcpy(out, p + 10, vlen);
			out[vlen] = '\0';
			return 1;
		}
		p = end;
	}
	return 0;
}
